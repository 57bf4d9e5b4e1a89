use super::*;
use crate::identity::SignedCard;
use chrono::TimeZone;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 0).unwrap()
}

struct Node {
    org: String,
    keys: NodeKeys,
    card: SignedCard,
}

fn node(org: &str) -> Node {
    let keys = NodeKeys::generate().unwrap();
    let card = keys.issue_card(org, vec!["127.0.0.1:1".into()], now());
    Node {
        org: org.into(),
        keys,
        card,
    }
}

fn pins(nodes: &[&Node]) -> PinSet {
    nodes.iter().map(|n| n.card.card.clone()).collect()
}

fn note_draft(tlp: Tlp, to: &[&Node]) -> Draft {
    Draft::new(
        Kind::Note,
        tlp,
        to.iter().map(|n| n.card.card.clone()).collect(),
    )
}

fn seal_note(from: &Node, to: &[&Node], text: &[u8]) -> Sealed {
    seal(
        &from.keys,
        &from.org,
        &note_draft(Tlp::Amber, to),
        text,
        now(),
    )
    .unwrap()
}

/// Decrypt with `by`'s identity and return the raw container plaintext.
fn decrypt_container(ct: &[u8], by: &Node) -> Vec<u8> {
    age::decrypt(by.keys.age_identity(), ct).unwrap()
}

/// Encrypt an arbitrary plaintext to `to`.
fn encrypt_plain(plain: &[u8], to: &Node) -> Vec<u8> {
    age::encrypt(&to.keys.age_recipient(), plain).unwrap()
}

/// Build a container from parts.
fn container(dsse: &[u8], content: &[u8]) -> Vec<u8> {
    let mut c = CONTAINER_MAGIC.to_vec();
    c.extend_from_slice(&(dsse.len() as u32).to_be_bytes());
    c.extend_from_slice(dsse);
    c.extend_from_slice(&(content.len() as u64).to_be_bytes());
    c.extend_from_slice(content);
    c
}

fn limits() -> OpenLimits {
    OpenLimits::default()
}

#[test]
fn round_trip_to_two_recipients() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b, &c], b"hello partners");
    for r in [&b, &c] {
        let (opened, content) = open(&r.keys, &pins(&[&a]), &sealed.ciphertext, &limits()).unwrap();
        assert_eq!(content, b"hello partners");
        assert_eq!(opened.manifest.sender.node_id, a.keys.node_id());
        assert_eq!(opened.manifest.recipients.len(), 2);
        assert_eq!(opened.manifest.tlp, Tlp::Amber);
        assert_eq!(opened.manifest_sha256(), sealed.bundle.manifest_sha256());
        assert_eq!(opened.originator.org, "A");
    }
}

#[test]
fn recipients_are_sorted_and_deduplicated() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let draft = note_draft(Tlp::Green, &[&c, &b, &c]);
    let signed = sign(&a.keys, "A", &draft, b"x", now()).unwrap();
    let ids: Vec<_> = signed
        .manifest
        .recipients
        .iter()
        .map(|r| r.node_id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), 2);
}

#[test]
fn third_party_is_not_a_recipient() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b], b"only for B");
    let err = open(&c.keys, &pins(&[&a]), &sealed.ciphertext, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::NotARecipient), "{err}");
}

#[test]
fn surreptitious_forwarding_is_not_in_audience() {
    // B decrypts A's bundle and re-encrypts the untouched plaintext to C.
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b], b"for B only");
    let forwarded = encrypt_plain(&decrypt_container(&sealed.ciphertext, &b), &c);
    let err = open(&c.keys, &pins(&[&a, &b]), &forwarded, &limits()).unwrap_err();
    match err {
        OpenError::NotInAudience(id) => assert_eq!(id, c.keys.node_id()),
        other => panic!("expected NotInAudience, got {other}"),
    }
}

#[test]
fn unpinned_originator_is_unknown() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b], b"x");
    // B has pinned only C, not A.
    let err = open(&b.keys, &pins(&[&c]), &sealed.ciphertext, &limits()).unwrap_err();
    match err {
        OpenError::UnknownOriginator { claimed } => {
            assert_eq!(claimed, a.keys.node_id().to_string())
        }
        other => panic!("expected UnknownOriginator, got {other}"),
    }
}

#[test]
fn swapped_signature_is_bad_signature() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b], b"x");
    // C signs A's exact manifest bytes; the keyid still says A.
    let mut dsse = sealed.bundle.dsse.clone();
    let forged = Envelope::sign(
        MANIFEST_TYPE,
        &sealed.bundle.manifest_bytes,
        c.keys.signing_key(),
        "x",
    );
    dsse.signatures[0].sig = forged.signatures[0].sig.clone();
    let ct = encrypt_plain(&container(&dsse.to_json(), b"x"), &b);
    let err = open(&b.keys, &pins(&[&a, &c]), &ct, &limits()).unwrap_err();
    match err {
        OpenError::BadSignature(id) => assert_eq!(id, a.keys.node_id()),
        other => panic!("expected BadSignature, got {other}"),
    }
}

#[test]
fn keyid_claiming_another_pinned_node_is_bad_signature() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b], b"x");
    let mut dsse = sealed.bundle.dsse.clone();
    dsse.signatures[0].keyid = Some(c.keys.node_id().to_string());
    let ct = encrypt_plain(&container(&dsse.to_json(), b"x"), &b);
    let err = open(&b.keys, &pins(&[&a, &c]), &ct, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::BadSignature(id) if id == c.keys.node_id()));
}

#[test]
fn manifest_naming_another_sender_is_refused() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let mut manifest = seal_note(&a, &[&b], b"x").bundle.manifest;
    manifest.sender.node_id = c.keys.node_id();
    let bytes = manifest.to_bytes();
    let dsse = Envelope::sign(
        MANIFEST_TYPE,
        &bytes,
        a.keys.signing_key(),
        &a.keys.node_id().to_string(),
    );
    let ct = encrypt_plain(&container(&dsse.to_json(), b"x"), &b);
    let err = open(&b.keys, &pins(&[&a, &c]), &ct, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::SenderMismatch { .. }), "{err}");
}

#[test]
fn unsupported_versions_are_named() {
    let (a, b) = (node("A"), node("B"));
    let sealed = seal_note(&a, &[&b], b"x");
    let p = pins(&[&a]);

    // Container version 2.
    let mut plain = decrypt_container(&sealed.ciphertext, &b);
    plain[7] = b'2';
    let err = open(&b.keys, &p, &encrypt_plain(&plain, &b), &limits()).unwrap_err();
    assert!(
        matches!(err, OpenError::UnsupportedVersion(ref m) if m.contains("container")),
        "{err}"
    );

    // Manifest v = 2, correctly signed.
    let mut value: serde_json::Value =
        serde_json::from_slice(&sealed.bundle.manifest_bytes).unwrap();
    value["v"] = 2.into();
    let bytes = serde_json::to_vec(&value).unwrap();
    let dsse = Envelope::sign(
        MANIFEST_TYPE,
        &bytes,
        a.keys.signing_key(),
        &a.keys.node_id().to_string(),
    );
    let ct = encrypt_plain(&container(&dsse.to_json(), b"x"), &b);
    let err = open(&b.keys, &p, &ct, &limits()).unwrap_err();
    assert!(
        matches!(err, OpenError::UnsupportedVersion(ref m) if m.contains("manifest version 2")),
        "{err}"
    );

    // Payload type v=2.
    let dsse = Envelope::sign(
        "application/vnd.liaison.manifest+json;v=2",
        &sealed.bundle.manifest_bytes,
        a.keys.signing_key(),
        &a.keys.node_id().to_string(),
    );
    let ct = encrypt_plain(&container(&dsse.to_json(), b"x"), &b);
    let err = open(&b.keys, &p, &ct, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::UnsupportedVersion(_)), "{err}");
}

#[test]
fn content_swapped_by_a_co_recipient_is_a_mismatch() {
    // A co-recipient knows the file key and can re-encrypt other content;
    // the signed digest catches it.
    let (a, b) = (node("A"), node("B"));
    let sealed = seal_note(&a, &[&b], b"original");
    let ct = encrypt_plain(&container(&sealed.bundle.dsse.to_json(), b"replaced"), &b);
    let err = open(&b.keys, &pins(&[&a]), &ct, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::ContentMismatch(_)), "{err}");
    let ct = encrypt_plain(
        &container(&sealed.bundle.dsse.to_json(), b"longer content"),
        &b,
    );
    let err = open(&b.keys, &pins(&[&a]), &ct, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::ContentMismatch(_)), "{err}");
}

#[test]
fn garbage_and_trailing_bytes_are_malformed() {
    let (a, b) = (node("A"), node("B"));
    let p = pins(&[&a]);
    for junk in [
        &b""[..],
        b"hello",
        b"age-encryption.org/v1\n",
        b"-----BEGIN AGE ENCRYPTED FILE-----\n",
    ] {
        let err = open(&b.keys, &p, junk, &limits()).unwrap_err();
        assert!(matches!(err, OpenError::Malformed(_)), "{err}");
    }
    let sealed = seal_note(&a, &[&b], b"x");
    let mut plain = decrypt_container(&sealed.ciphertext, &b);
    plain.push(0);
    let err = open(&b.keys, &p, &encrypt_plain(&plain, &b), &limits()).unwrap_err();
    assert!(
        matches!(err, OpenError::Malformed(ref m) if m.contains("trailing")),
        "{err}"
    );
    let not_container = encrypt_plain(b"just some text", &b);
    let err = open(&b.keys, &p, &not_container, &limits()).unwrap_err();
    assert!(matches!(err, OpenError::Malformed(_)), "{err}");
}

#[test]
fn header_limits_apply_before_age_parses() {
    let (a, b) = (node("A"), node("B"));
    let mut fake = b"age-encryption.org/v1\n".to_vec();
    for _ in 0..300 {
        fake.extend_from_slice(b"-> X25519 AAAA\nAAAA\n");
    }
    fake.extend_from_slice(b"--- AAAA\n");
    let err = open(&b.keys, &pins(&[&a]), &fake, &limits()).unwrap_err();
    assert!(
        matches!(err, OpenError::Malformed(ref m) if m.contains("stanzas")),
        "{err}"
    );
    let small = OpenLimits {
        max_header_bytes: 64,
        ..OpenLimits::default()
    };
    let sealed = seal_note(&a, &[&b], b"x");
    let err = open(&b.keys, &pins(&[&a]), &sealed.ciphertext, &small).unwrap_err();
    assert!(
        matches!(err, OpenError::Malformed(ref m) if m.contains("exceeds")),
        "{err}"
    );
}

#[test]
fn content_limit_is_enforced() {
    let (a, b) = (node("A"), node("B"));
    let sealed = seal_note(&a, &[&b], &[b'x'; 1000]);
    let tight = OpenLimits {
        max_content_bytes: 999,
        ..OpenLimits::default()
    };
    let err = open(&b.keys, &pins(&[&a]), &sealed.ciphertext, &tight).unwrap_err();
    assert!(matches!(
        err,
        OpenError::TooLarge {
            size: 1000,
            limit: 999
        }
    ));
}

#[test]
fn every_single_byte_flip_is_caught() {
    let (a, b) = (node("A"), node("B"));
    let sealed = seal_note(&a, &[&b], b"short IOC note");
    let ct = &sealed.ciphertext;
    let header_len = ct.windows(4).position(|w| w == b"--- ").unwrap();
    let header_end = header_len + ct[header_len..].iter().position(|&x| x == b'\n').unwrap() + 1;
    let p = pins(&[&a]);
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        let err = open(&b.keys, &p, &bad, &limits()).expect_err("flip must fail");
        if i < header_end {
            assert!(
                matches!(
                    err,
                    OpenError::Malformed(_)
                        | OpenError::UnsupportedVersion(_)
                        | OpenError::NotARecipient
                        | OpenError::Corrupted(_)
                ),
                "byte {i} (header): {err}"
            );
        } else {
            assert!(
                matches!(err, OpenError::Corrupted(_)),
                "byte {i} (payload): {err}"
            );
        }
    }
}

#[test]
fn stix_marked_red_cannot_be_sealed_green() {
    let (a, b) = (node("A"), node("B"));
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [{
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-11-01T00:00:00.000Z",
            "modified": "2026-11-01T00:00:00.000Z",
            "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z",
            "object_marking_refs": [Tlp::Red.stix_marking_id()]
        }]
    });
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let draft = Draft::new(Kind::Stix, Tlp::Green, vec![b.card.card.clone()]);
    let err = seal(&a.keys, "A", &draft, &bytes, now()).unwrap_err();
    match &err {
        SealError::TlpBelowContent {
            bundle,
            content,
            source_hint,
        } => {
            assert_eq!((*bundle, *content), (Tlp::Green, Tlp::Red));
            assert!(source_hint.contains("indicator--8e2e2d2b"), "{source_hint}");
        }
        other => panic!("expected TlpBelowContent, got {other}"),
    }
    // Labelled RED (or AMBER+STRICT → no: RED is required) it seals.
    let draft = Draft::new(Kind::Stix, Tlp::Red, vec![b.card.card.clone()]);
    let sealed = seal(&a.keys, "A", &draft, &bytes, now()).unwrap();
    let (opened, content) = open(&b.keys, &pins(&[&a]), &sealed.ciphertext, &limits()).unwrap();
    assert_eq!(opened.manifest.kind, Kind::Stix);
    assert_eq!(content, bytes);
}

#[test]
fn draft_rules() {
    let (a, b) = (node("A"), node("B"));
    let err = seal(&a.keys, "A", &note_draft(Tlp::Amber, &[]), b"x", now()).unwrap_err();
    assert!(matches!(err, SealError::NoRecipients));
    let mut d = note_draft(Tlp::Amber, &[&b]);
    d.community = Some("energy-isac".into());
    assert!(matches!(
        seal(&a.keys, "A", &d, b"x", now()),
        Err(SealError::CommunityNotAllowed(Tlp::Amber))
    ));
    d.tlp = Tlp::Green;
    assert!(seal(&a.keys, "A", &d, b"x", now()).is_ok());
    let signed = sign(&a.keys, "A", &note_draft(Tlp::Red, &[&b]), b"x", now()).unwrap();
    let outsider = node("C").keys.node_id();
    assert!(matches!(
        encrypt_to(&signed, b"x", &[outsider], Vec::new()),
        Err(SealError::OutsideAudience(id)) if id == outsider
    ));
}

#[test]
fn per_recipient_ciphertexts_open_only_for_their_recipient() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let signed = sign(
        &a.keys,
        "A",
        &note_draft(Tlp::Amber, &[&b, &c]),
        b"x",
        now(),
    )
    .unwrap();
    let mut for_b = Vec::new();
    encrypt_to(&signed, b"x", &[b.keys.node_id()], &mut for_b).unwrap();
    assert!(open(&b.keys, &pins(&[&a]), &for_b, &limits()).is_ok());
    assert!(matches!(
        open(&c.keys, &pins(&[&a]), &for_b, &limits()),
        Err(OpenError::NotARecipient)
    ));
}

#[test]
fn errors_never_print_secrets() {
    let (a, b, c) = (node("A"), node("B"), node("C"));
    let sealed = seal_note(&a, &[&b], b"x");
    let err = open(&c.keys, &pins(&[&a]), &sealed.ciphertext, &limits()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("AGE-SECRET-KEY"));
    assert!(!text.contains(&*c.keys.signing_key_pem()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trip_random_payloads(
        payload in proptest::collection::vec(any::<u8>(), 0..4096),
        n in 1usize..=20,
        pick in any::<prop::sample::Index>(),
    ) {
        // Notes must be UTF-8; carry arbitrary bytes as lowercase hex text.
        let text = data_encoding::HEXLOWER.encode(&payload);
        let a = node("A");
        let recipients: Vec<Node> = (0..n).map(|i| node(&format!("R{i}"))).collect();
        let refs: Vec<&Node> = recipients.iter().collect();
        let sealed = seal_note(&a, &refs, text.as_bytes());
        let r = &recipients[pick.index(n)];
        let (opened, content) = open(&r.keys, &pins(&[&a]), &sealed.ciphertext, &limits()).unwrap();
        prop_assert_eq!(content, text.as_bytes());
        prop_assert_eq!(opened.manifest.recipients.len(), n);
    }

    #[test]
    fn random_byte_flip_fails(
        payload in proptest::collection::vec(any::<u8>(), 1..2048),
        n in 1usize..=4,
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let text = data_encoding::HEXLOWER.encode(&payload);
        let a = node("A");
        let recipients: Vec<Node> = (0..n).map(|i| node(&format!("R{i}"))).collect();
        let refs: Vec<&Node> = recipients.iter().collect();
        let sealed = seal_note(&a, &refs, text.as_bytes());
        let mut bad = sealed.ciphertext.clone();
        let i = at.index(bad.len());
        bad[i] ^= 1 << bit;
        let err = open(&recipients[0].keys, &pins(&[&a]), &bad, &limits()).unwrap_err();
        prop_assert!(matches!(
            err,
            OpenError::Malformed(_) | OpenError::UnsupportedVersion(_) | OpenError::NotARecipient | OpenError::Corrupted(_)
        ), "{}", err);
    }
}
