use super::*;
use crate::ledger::leaf_hash;
use crate::merkle::{self, EMPTY_ROOT};
use chrono::Utc;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{SigningKey, Verifier, VerifyingKey};
use proptest::prelude::*;

fn keys() -> NodeKeys {
    NodeKeys::generate().unwrap()
}

/// Node keys with a chosen Ed25519 seed (for fixed vectors).
fn keys_from_seed(seed: [u8; 32]) -> NodeKeys {
    let pem = SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let age = keys().age_identity_file(Utc::now());
    NodeKeys::from_files(&pem, &age).unwrap()
}

fn sample_root() -> Hash {
    let leaves: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
    merkle::root(&leaves)
}

fn checkpoint_for(keys: &NodeKeys, size: u64) -> Checkpoint {
    Checkpoint::new(origin_for(&keys.node_id()), size, sample_root())
}

/// The base64 signature blob of the `n`th signature line.
fn sig_blob(note: &str, n: usize) -> Vec<u8> {
    let line = note.split("\n\n").last().unwrap().lines().nth(n).unwrap();
    let b64 = line.rsplit(' ').next().unwrap();
    STANDARD.decode(b64).unwrap()
}

fn with_sig_blob(note: &str, blob: &[u8]) -> String {
    let (text, line) = note.rsplit_once("\n\n").unwrap();
    let (prefix, _) = line.trim_end().rsplit_once(' ').unwrap();
    format!("{text}\n\n{prefix} {}\n", STANDARD.encode(blob))
}

// ---------------------------------------------------------------------------
// Round trip and exact layout.

#[test]
fn sign_verify_round_trip() {
    let k = keys();
    for size in [0, 1, 5, 1_000_000, u64::MAX] {
        let mut cp = checkpoint_for(&k, size);
        if size == 0 {
            cp.root = EMPTY_ROOT;
        }
        let note = cp.sign(&k);
        assert_eq!(Checkpoint::verify(&note, &k.node_id()), Ok(cp.clone()));
        assert_eq!(Checkpoint::verify_node(&note, &k.node_id()), Ok(cp));
    }
}

#[test]
fn extensions_round_trip() {
    let k = keys();
    let mut cp = checkpoint_for(&k, 9);
    cp.extensions = vec!["Timestamp: 1700000000".into(), "ünïcode — ext".into()];
    cp.validate().unwrap();
    let note = cp.sign(&k);
    assert!(note.contains("\nTimestamp: 1700000000\nünïcode — ext\n\n\u{2014} "));
    assert_eq!(Checkpoint::verify(&note, &k.node_id()), Ok(cp));
}

#[test]
fn note_layout_is_exact() {
    let k = keys();
    let id = k.node_id();
    let cp = checkpoint_for(&k, 42);
    let origin = format!("liaison.node/{id}");
    let body = format!("{origin}\n42\n{}\n", STANDARD.encode(sample_root()));
    assert_eq!(cp.body(), body);

    let note = cp.sign(&k);
    let blob = sig_blob(&note, 0);
    assert_eq!(blob.len(), 4 + 64);
    assert_eq!(
        note,
        format!("{body}\n\u{2014} {origin} {}\n", STANDARD.encode(&blob))
    );
    assert_eq!(blob[..4], Checkpoint::key_id(&origin, &id));
    // The signature is plain Ed25519 over the body, checked with dalek
    // directly rather than through this module.
    let sig = ed25519_dalek::Signature::from_slice(&blob[4..]).unwrap();
    VerifyingKey::from_bytes(id.as_bytes())
        .unwrap()
        .verify(body.as_bytes(), &sig)
        .unwrap();
    // Ed25519 is deterministic: signing again gives the same note.
    assert_eq!(cp.sign(&k), note);
}

#[test]
fn origin_for_is_a_valid_key_name() {
    let id = keys().node_id();
    let origin = origin_for(&id);
    assert!(origin.starts_with(ORIGIN_PREFIX));
    assert_eq!(origin.strip_prefix(ORIGIN_PREFIX).unwrap().parse(), Ok(id));
    assert!(is_valid_key_name(&origin));
    assert!(!origin.contains(['+', ' ']));
    assert!(origin.is_ascii());
}

#[test]
fn key_names() {
    for good in ["example.com/log42", "a", "ünïcode.example/ok", "x/y-z_1"] {
        assert!(is_valid_key_name(good), "{good}");
    }
    for bad in [
        "",
        "a b",
        "a+b",
        "a\tb",
        "a\nb",
        "a\u{a0}b",
        "a\u{2003}b",
        "a\u{1}b",
        "a\rb",
    ] {
        assert!(!is_valid_key_name(bad), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------
// Published vectors.

/// The C2SP signed-note verifier key example and its note.
const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

fn spec_key() -> NodeId {
    let typed = STANDARD
        .decode("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
        .unwrap();
    assert_eq!(typed.len(), 33);
    assert_eq!(typed[0], SIG_TYPE_ED25519);
    let pk: [u8; 32] = typed[1..].try_into().unwrap();
    NodeId::from(VerifyingKey::from_bytes(&pk).unwrap())
}

#[test]
fn c2sp_spec_key_id_and_vkey() {
    let key = spec_key();
    assert_eq!(
        Checkpoint::key_id("example.com/foo", &key),
        [0x53, 0x0d, 0x90, 0x3a]
    );
    assert_eq!(vkey("example.com/foo", &key), SPEC_VKEY);
    // The key id depends on the name.
    assert_ne!(
        Checkpoint::key_id("example.com/bar", &key),
        [0x53, 0x0d, 0x90, 0x3a]
    );
}

#[test]
fn c2sp_spec_note_verifies() {
    // Cross-checked with Python `cryptography` (STANDARDS §5.2).
    let key = spec_key();
    assert_eq!(
        verify_note(SPEC_NOTE, "example.com/foo", &key),
        Ok("This is an example message.\n")
    );
    let altered = SPEC_NOTE.replace("example message", "exbmple message");
    assert!(matches!(
        verify_note(&altered, "example.com/foo", &key),
        Err(CheckpointError::BadSignature { .. })
    ));
    let other_key = keys().node_id();
    assert!(matches!(
        verify_note(SPEC_NOTE, "example.com/foo", &other_key),
        Err(CheckpointError::NotSigned { .. })
    ));
    assert!(matches!(
        verify_note(SPEC_NOTE, "example.com/bar", &key),
        Err(CheckpointError::NotSigned { .. })
    ));
    // Non-canonical base64 (trailing bits) is malformed, not ignored.
    let noncanonical = SPEC_NOTE.replace("yaQM=", "yaQN=");
    assert!(matches!(
        verify_note(&noncanonical, "example.com/foo", &key),
        Err(CheckpointError::MalformedSignature { line: 1 })
    ));
}

#[test]
fn go_sumdb_note_example_is_reproduced_byte_for_byte() {
    // golang.org/x/mod/sumdb/note documentation: skey
    // PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz.
    // The note below was re-derived with Python `cryptography`.
    let typed = STANDARD
        .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
        .unwrap();
    assert_eq!(typed[0], SIG_TYPE_ED25519);
    let k = keys_from_seed(typed[1..].try_into().unwrap());
    assert_eq!(
        vkey("PeterNeumann", &k.node_id()),
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    );
    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n";
    let want = format!(
        "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    assert_eq!(sign_note(text, "PeterNeumann", &k), want);
    assert_eq!(verify_note(&want, "PeterNeumann", &k.node_id()), Ok(text));
}

#[test]
fn c2sp_checkpoint_example_parses() {
    // The tlog-checkpoint spec's example text (its signature is by a key
    // we do not have, so only the body is checked).
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse_body(text).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(cp.extensions, Vec::<String>::new());
    assert_eq!(cp.body(), text);
    let note = format!("{text}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n");
    // Not signed by some other key: its signature is ignored, so refused.
    assert!(matches!(
        Checkpoint::verify(&note, &keys().node_id()),
        Err(CheckpointError::NotSigned { .. })
    ));
}

// ---------------------------------------------------------------------------
// Tampering.

#[test]
fn changed_size_root_or_origin_is_refused() {
    let k = keys();
    let id = k.node_id();
    let cp = checkpoint_for(&k, 42);
    let note = cp.sign(&k);

    let size = note.replacen("\n42\n", "\n43\n", 1);
    assert!(matches!(
        Checkpoint::verify(&size, &id),
        Err(CheckpointError::BadSignature { .. })
    ));

    let root = note.replacen(
        &STANDARD.encode(sample_root()),
        &STANDARD.encode(EMPTY_ROOT),
        1,
    );
    assert!(matches!(
        Checkpoint::verify(&root, &id),
        Err(CheckpointError::BadSignature { .. })
    ));

    // Another origin in the text only: the signature's name no longer
    // matches the origin, so no signature by the expected key remains.
    let origin = note.replacen("liaison.node/", "liaison.nodf/", 1);
    assert!(matches!(
        Checkpoint::verify(&origin, &id),
        Err(CheckpointError::NotSigned { .. })
    ));
    // In text and signature line: the key id binds the name.
    let both = note.replace("liaison.node/", "liaison.nodf/");
    assert!(matches!(
        Checkpoint::verify(&both, &id),
        Err(CheckpointError::NotSigned { .. })
    ));

    // Another extension line appended to the text.
    let ext = note.replacen("=\n\n", "=\nextra\n\n", 1);
    assert!(matches!(
        Checkpoint::verify(&ext, &id),
        Err(CheckpointError::BadSignature { .. })
    ));
}

#[test]
fn origin_other_than_the_nodes_is_caught_by_verify_node() {
    let k = keys();
    let cp = Checkpoint::new("example.com/other-log", 3, sample_root());
    let note = cp.sign(&k);
    assert_eq!(Checkpoint::verify(&note, &k.node_id()), Ok(cp));
    assert_eq!(
        Checkpoint::verify_node(&note, &k.node_id()),
        Err(CheckpointError::WrongOrigin {
            expected: origin_for(&k.node_id()),
            found: "example.com/other-log".into()
        })
    );
    // A node's checkpoint named for another node.
    let other = keys().node_id();
    let note = Checkpoint::new(origin_for(&other), 3, sample_root()).sign(&k);
    assert!(matches!(
        Checkpoint::verify_node(&note, &k.node_id()),
        Err(CheckpointError::WrongOrigin { .. })
    ));
    assert!(matches!(
        Checkpoint::verify_node(&note, &other),
        Err(CheckpointError::NotSigned { .. })
    ));
}

#[test]
fn flipped_signature_bytes_are_refused() {
    let k = keys();
    let id = k.node_id();
    let note = checkpoint_for(&k, 7).sign(&k);
    let blob = sig_blob(&note, 0);
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        let err = Checkpoint::verify(&with_sig_blob(&note, &bad), &id).unwrap_err();
        if i < 4 {
            // A different key id: another key's signature, ignored.
            assert!(matches!(err, CheckpointError::NotSigned { .. }), "byte {i}");
        } else {
            assert!(
                matches!(err, CheckpointError::BadSignature { .. }),
                "byte {i}"
            );
        }
    }
    // Truncated or extended signature under the right key id.
    for len in [5, 67, 69] {
        let mut bad = blob.clone();
        bad.resize(len, 0);
        assert!(matches!(
            Checkpoint::verify(&with_sig_blob(&note, &bad), &id),
            Err(CheckpointError::BadSignature { .. })
        ));
    }
    // Key id alone (no signature bytes) is malformed.
    assert!(matches!(
        Checkpoint::verify(&with_sig_blob(&note, &blob[..4]), &id),
        Err(CheckpointError::MalformedSignature { line: 1 })
    ));
}

#[test]
fn wrong_signer_is_refused() {
    let k = keys();
    let note = checkpoint_for(&k, 7).sign(&k);
    let stranger = keys();
    assert!(matches!(
        Checkpoint::verify(&note, &stranger.node_id()),
        Err(CheckpointError::NotSigned { .. })
    ));
    // A stranger's signature claiming the victim's name and key id.
    let cp = checkpoint_for(&k, 7);
    let forged = stranger.sign(cp.body().as_bytes());
    let mut blob = Checkpoint::key_id(&cp.origin, &k.node_id()).to_vec();
    blob.extend_from_slice(&forged.to_bytes());
    assert!(matches!(
        Checkpoint::verify(&with_sig_blob(&note, &blob), &k.node_id()),
        Err(CheckpointError::BadSignature { .. })
    ));
}

#[test]
fn control_characters_are_refused() {
    let k = keys();
    let note = checkpoint_for(&k, 42).sign(&k);
    for c in ['\r', '\t', '\0', '\u{1b}', '\u{1f}', '\u{b}', '\u{c}'] {
        // Before the first newline, inside the size line, before the blank
        // line, and inside the signature line.
        for at in [
            note.find('\n').unwrap(),
            note.find("\n42").unwrap() + 2,
            note.find("\n\n").unwrap(),
            note.len() - 1,
        ] {
            let mut bad = note.clone();
            bad.insert(at, c);
            assert!(
                matches!(
                    Checkpoint::verify(&bad, &k.node_id()),
                    Err(CheckpointError::ControlCharacter { .. })
                ),
                "{c:?} at {at}"
            );
        }
    }
    // CRLF line endings throughout.
    let crlf = note.replace('\n', "\r\n");
    assert!(matches!(
        Checkpoint::verify(&crlf, &k.node_id()),
        Err(CheckpointError::ControlCharacter { offset, code: 0x0d }) if offset == note.find('\n').unwrap()
    ));
    // A checkpoint with a control character in an extension does not validate.
    let mut cp = checkpoint_for(&k, 1);
    cp.extensions = vec!["a\u{7}b".into()];
    assert!(matches!(
        cp.validate(),
        Err(CheckpointError::ControlCharacter { offset: 1, code: 7 })
    ));
    assert!(Checkpoint::verify(&cp.sign(&k), &k.node_id()).is_err());
}

#[test]
fn structure_of_the_note_is_enforced() {
    let k = keys();
    let id = k.node_id();
    let note = checkpoint_for(&k, 42).sign(&k);

    let no_blank = note.replacen("=\n\n", "=\n", 1);
    assert_eq!(
        Checkpoint::verify(&no_blank, &id),
        Err(CheckpointError::MissingBlankLine)
    );
    assert_eq!(
        Checkpoint::verify("", &id),
        Err(CheckpointError::MissingBlankLine)
    );
    assert_eq!(
        Checkpoint::verify("just text", &id),
        Err(CheckpointError::MissingBlankLine)
    );
    // No final newline after the signature, or nothing after the blank line.
    assert_eq!(
        Checkpoint::verify(note.trim_end_matches('\n'), &id),
        Err(CheckpointError::NoSignatures)
    );
    let text_only = format!("{}\n", checkpoint_for(&k, 42).body());
    assert_eq!(
        Checkpoint::verify(&text_only, &id),
        Err(CheckpointError::NoSignatures)
    );
    // A trailing blank line makes the signatures part of the text.
    assert_eq!(
        Checkpoint::verify(&format!("{note}\n"), &id),
        Err(CheckpointError::NoSignatures)
    );
    // Junk after the signature line, hyphen instead of em dash, no space.
    for bad in [
        format!("{note}junk\n"),
        note.replacen('\u{2014}', "-", 1),
        note.replacen("\u{2014} ", "\u{2014}", 1),
        note.replacen(" ", "  ", 1),
        format!("{note}\u{2014} name\n"),
        format!("{note}\u{2014} name \n"),
        format!("{note}\u{2014} name!!!!\n"),
        format!("{note}\u{2014}  AAAAAAAA\n"),
        format!("{note}\u{2014} a+b AAAAAAAA\n"),
        format!("{note}\u{2014} name AAAAAAAA extra\n"),
        format!("{note}\u{2014} name AAAA\n"), // 3 bytes: no room for an id
        format!("{note}\u{2014} name AAAAAA==\n"), // 4 bytes: id, no signature
        format!("{note}\u{2014} name AAAAAAA\n"), // unpadded
    ] {
        assert!(
            matches!(
                Checkpoint::verify(&bad, &id),
                Err(CheckpointError::MalformedSignature { .. })
            ),
            "{bad:?}"
        );
    }
}

/// Sign arbitrary text as if it were a checkpoint, to test the parser
/// behind a valid signature.
fn signed_text(k: &NodeKeys, origin: &str, rest: &str) -> String {
    sign_note(&format!("{origin}\n{rest}"), origin, k)
}

#[test]
fn size_line_is_strict_decimal() {
    let k = keys();
    let origin = origin_for(&k.node_id());
    let root = STANDARD.encode(sample_root());
    for bad in [
        "042",
        "00",
        "+42",
        "-1",
        " 42",
        "42 ",
        "",
        "4_2",
        "0x2a",
        "١٢",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let note = signed_text(&k, &origin, &format!("{bad}\n{root}\n"));
        assert_eq!(
            Checkpoint::verify(&note, &k.node_id()),
            Err(CheckpointError::BadSize),
            "{bad:?}"
        );
    }
    for (good, n) in [("0", 0), ("7", 7), ("18446744073709551615", u64::MAX)] {
        let note = signed_text(&k, &origin, &format!("{good}\n{root}\n"));
        assert_eq!(Checkpoint::verify(&note, &k.node_id()).unwrap().size, n);
    }
}

#[test]
fn root_line_is_32_bytes_of_standard_base64() {
    let k = keys();
    let origin = origin_for(&k.node_id());
    let good = STANDARD.encode(sample_root());
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode([0xfb; 32]);
    for bad in [
        good.trim_end_matches('=').to_string(), // unpadded
        format!("{good}="),
        format!(" {good}"),
        good.replacen(|c: char| c.is_ascii_alphanumeric(), "!", 1),
        url_safe,
        format!("{}{}", &good[..42], "B="), // non-canonical trailing bits
    ] {
        let note = signed_text(&k, &origin, &format!("1\n{bad}\n"));
        assert_eq!(
            Checkpoint::verify(&note, &k.node_id()),
            Err(CheckpointError::BadRootEncoding),
            "{bad:?}"
        );
    }
    for len in [0usize, 20, 31, 33, 64] {
        let note = signed_text(
            &k,
            &origin,
            &format!("1\n{}\n", STANDARD.encode(vec![7u8; len])),
        );
        assert_eq!(
            Checkpoint::verify(&note, &k.node_id()),
            Err(CheckpointError::BadRootLength { len }),
            "{len}"
        );
    }
}

#[test]
fn lines_and_origin_are_checked() {
    let k = keys();
    let origin = origin_for(&k.node_id());
    let root = STANDARD.encode(sample_root());
    // Too few lines.
    for rest in ["", "1\n"] {
        let note = signed_text(&k, &origin, rest);
        assert_eq!(
            Checkpoint::verify(&note, &k.node_id()),
            Err(CheckpointError::TooFewLines),
            "{rest:?}"
        );
    }
    // An empty line inside the text (the last blank line is the separator).
    let note = signed_text(&k, &origin, &format!("1\n{root}\n\next\n"));
    assert_eq!(
        Checkpoint::verify(&note, &k.node_id()),
        Err(CheckpointError::EmptyExtension)
    );
    // parse_body directly.
    assert_eq!(
        Checkpoint::parse_body(&format!("{origin}\n1\n{root}")),
        Err(CheckpointError::TooFewLines)
    );
    assert_eq!(
        Checkpoint::parse_body(&format!("\n1\n{root}\n")),
        Err(CheckpointError::BadOrigin)
    );
    assert_eq!(
        Checkpoint::parse_body(&format!("a b\n1\n{root}\n")),
        Err(CheckpointError::BadOrigin)
    );
    assert_eq!(
        Checkpoint::parse_body(&format!("a+b\n1\n{root}\n")),
        Err(CheckpointError::BadOrigin)
    );
    assert!(matches!(
        Checkpoint::parse_body(&format!("a\r\n1\n{root}\n")),
        Err(CheckpointError::ControlCharacter { .. })
    ));
    // Origins that are not key names cannot be signed usefully.
    for bad in ["", "with space", "with+plus"] {
        let cp = Checkpoint::new(bad, 1, sample_root());
        assert_eq!(cp.validate(), Err(CheckpointError::BadOrigin));
        assert!(Checkpoint::verify(&cp.sign(&k), &k.node_id()).is_err());
    }
    let mut cp = checkpoint_for(&k, 1);
    cp.extensions = vec![String::new()];
    assert_eq!(cp.validate(), Err(CheckpointError::EmptyExtension));
    cp.extensions = vec!["two\nlines".into()];
    assert!(cp.validate().is_err());
}

// ---------------------------------------------------------------------------
// Other signatures.

#[test]
fn unrelated_signatures_are_ignored() {
    let k = keys();
    let id = k.node_id();
    let cp = checkpoint_for(&k, 42);
    let note = cp.sign(&k);
    let body = cp.body();

    // A witness cosigning under its own name, before or after ours.
    let witness = keys();
    let witness_line = sign_note(&body, "witness.example/w1", &witness)
        .rsplit_once("\n\n")
        .unwrap()
        .1
        .to_string();
    let after = format!("{note}{witness_line}");
    assert_eq!(Checkpoint::verify(&after, &id), Ok(cp.clone()));
    let (text, ours) = note.rsplit_once("\n\n").unwrap();
    let before = format!("{text}\n\n{witness_line}{ours}");
    assert_eq!(Checkpoint::verify(&before, &id), Ok(cp.clone()));

    // Another key under the same name (a rotated key): different key id.
    let rotated = sign_note(&body, &cp.origin, &witness)
        .rsplit_once("\n\n")
        .unwrap()
        .1
        .to_string();
    assert_eq!(
        Checkpoint::verify(&format!("{note}{rotated}"), &id),
        Ok(cp.clone())
    );
    // Our key id under another name.
    let mut blob = Checkpoint::key_id(&cp.origin, &id).to_vec();
    blob.extend_from_slice(&[0u8; 64]);
    let same_id = format!("\u{2014} other.example/x {}\n", STANDARD.encode(&blob));
    assert_eq!(
        Checkpoint::verify(&format!("{note}{same_id}"), &id),
        Ok(cp.clone())
    );
    // Garbage signature bytes from an unknown key are still ignored.
    let junk = "\u{2014} junk.example AAAAAAAA\n";
    assert_eq!(
        Checkpoint::verify(&format!("{note}{junk}"), &id),
        Ok(cp.clone())
    );
    // The same valid signature twice is fine.
    assert_eq!(
        Checkpoint::verify(&format!("{note}{ours}"), &id),
        Ok(cp.clone())
    );

    // Only unknown signatures: refused.
    let only_witness = format!("{text}\n\n{witness_line}");
    assert_eq!(
        Checkpoint::verify(&only_witness, &id),
        Err(CheckpointError::NotSigned {
            name: cp.origin.clone()
        })
    );
    let only_rotated = format!("{text}\n\n{rotated}");
    assert!(matches!(
        Checkpoint::verify(&only_rotated, &id),
        Err(CheckpointError::NotSigned { .. })
    ));
}

#[test]
fn a_bad_signature_claiming_our_key_is_refused_even_beside_a_good_one() {
    let k = keys();
    let id = k.node_id();
    let cp = checkpoint_for(&k, 42);
    let note = cp.sign(&k);
    let (text, ours) = note.rsplit_once("\n\n").unwrap();
    let mut blob = sig_blob(&note, 0);
    blob[40] ^= 0x80;
    let bad_line = format!("\u{2014} {} {}\n", cp.origin, STANDARD.encode(&blob));
    let after = format!("{note}{bad_line}");
    let before = format!("{text}\n\n{bad_line}{ours}");
    for n in [after, before] {
        assert_eq!(
            Checkpoint::verify(&n, &id),
            Err(CheckpointError::BadSignature {
                name: cp.origin.clone()
            })
        );
    }
    // Our signature over a different body (a replayed line) is bad too.
    let other_line = checkpoint_for(&k, 43)
        .sign(&k)
        .rsplit_once("\n\n")
        .unwrap()
        .1
        .to_string();
    assert!(matches!(
        Checkpoint::verify(&format!("{note}{other_line}"), &id),
        Err(CheckpointError::BadSignature { .. })
    ));
}

#[test]
fn signature_count_is_bounded() {
    let k = keys();
    let id = k.node_id();
    let note = checkpoint_for(&k, 1).sign(&k);
    let junk = |i: usize| format!("\u{2014} junk{i}.example AAAAAAAA\n");
    // 16 signatures (the spec's minimum) are accepted, and up to the limit.
    let sixteen: String = std::iter::once(note.clone())
        .chain((0..15).map(junk))
        .collect();
    assert!(Checkpoint::verify(&sixteen, &id).is_ok());
    let at_limit: String = std::iter::once(note.clone())
        .chain((0..MAX_SIGNATURES - 1).map(junk))
        .collect();
    assert!(Checkpoint::verify(&at_limit, &id).is_ok());
    let over: String = std::iter::once(note)
        .chain((0..MAX_SIGNATURES).map(junk))
        .collect();
    assert_eq!(
        Checkpoint::verify(&over, &id),
        Err(CheckpointError::TooManySignatures {
            max: MAX_SIGNATURES
        })
    );
}

#[test]
fn errors_read_well() {
    assert_eq!(
        CheckpointError::ControlCharacter {
            offset: 3,
            code: 13
        }
        .to_string(),
        "note contains an ASCII control character (U+000D) at byte 3"
    );
    assert_eq!(
        CheckpointError::BadRootLength { len: 31 }.to_string(),
        "checkpoint root hash is 31 bytes, expected 32"
    );
}

// ---------------------------------------------------------------------------
// Random checkpoints and random damage.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_round_trip_and_mutations(
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        ext in proptest::collection::vec("[!-~]{1,20}", 0..3),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let k = keys();
        let cp = Checkpoint {
            origin: origin_for(&k.node_id()),
            size,
            root,
            extensions: ext,
        };
        prop_assert_eq!(cp.validate(), Ok(()));
        let note = cp.sign(&k);
        prop_assert_eq!(Checkpoint::verify(&note, &k.node_id()), Ok(cp.clone()));

        // Any single-byte change either breaks the note or leaves it
        // meaning exactly the same checkpoint (it never does, but that is
        // the property that matters).
        let mut bytes = note.clone().into_bytes();
        let i = pos.index(bytes.len());
        if bytes[i] != byte {
            bytes[i] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                if let Ok(got) = Checkpoint::verify(&changed, &k.node_id()) {
                    prop_assert_eq!(got, cp);
                }
            }
        }
    }
}
