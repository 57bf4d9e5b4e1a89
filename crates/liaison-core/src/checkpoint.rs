//! Signed ledger checkpoints: C2SP `tlog-checkpoint` tree heads carried in
//! C2SP `signed-note` notes with Ed25519 signatures (STANDARDS §5.2–5.3,
//! DESIGN §7), sans IO.
//!
//! A checkpoint note looks like this (the origin is also the key name):
//!
//! ```text
//! liaison.node/<node id>
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — liaison.node/<node id> <base64(4-byte key id || 64-byte Ed25519 signature)>
//! ```
//!
//! The signature covers the note text: every line before the blank line,
//! including the last newline. The key id is
//! `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`.
//!
//! Verification follows the signed-note rules: signatures whose key name
//! and key id do not both match the expected key are ignored (witness
//! cosignatures, rotated keys), every signature that does match must verify,
//! and at least one must.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

use crate::identity::{NodeId, NodeKeys};
use crate::merkle::Hash;

/// The signed-note signature type byte of Ed25519 signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;

/// The most signature lines a note may carry; longer notes are refused
/// before any signature is checked. The spec requires accepting at least 16.
pub const MAX_SIGNATURES: usize = 100;

/// What every Liaison node's checkpoint origin starts with.
pub const ORIGIN_PREFIX: &str = "liaison.node/";

/// The line prefix of a signature: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Longest origin echoed back in an error message.
const MAX_ECHO: usize = 120;

/// Why a note or checkpoint was refused. Messages name the problem, never
/// key material; only the expected origin (a public name) is echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// An ASCII control character other than newline (carriage returns
    /// included) appears in the note.
    #[error("note contains an ASCII control character (U+{code:04X}) at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character's code point.
        code: u32,
    },
    /// There is no blank line between the text and the signatures.
    #[error("note has no blank line separating its text from its signatures")]
    MissingBlankLine,
    /// Nothing, or an unterminated line, follows the blank line.
    #[error("note has no newline-terminated signature lines after its blank line")]
    NoSignatures,
    /// A line after the blank line is not `— <key name> <base64>`.
    #[error("signature line {line} is malformed (expected `\u{2014} <key name> <base64 key id and signature>`)")]
    MalformedSignature {
        /// 1-based number of the line among the signature lines.
        line: usize,
    },
    /// The note has more signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A signature naming the expected key (name and key id) does not verify.
    #[error("a signature by `{name}` with its key id does not verify")]
    BadSignature {
        /// The expected key name.
        name: String,
    },
    /// No signature names the expected key; any others were ignored.
    #[error("note carries no signature by the expected key `{name}`")]
    NotSigned {
        /// The expected key name.
        name: String,
    },
    /// The checkpoint text has fewer than three lines or does not end in a
    /// newline.
    #[error("checkpoint text must be at least three newline-terminated lines: origin, tree size, root hash")]
    TooFewLines,
    /// The origin is empty or not a valid key name (no Unicode spaces, no `+`).
    #[error("checkpoint origin is empty or contains a space or `+`")]
    BadOrigin,
    /// The tree size is not ASCII decimal without leading zeros, or does
    /// not fit in 64 bits.
    #[error(
        "checkpoint tree size is not a decimal number without leading zeros that fits in 64 bits"
    )]
    BadSize,
    /// The root hash line is not canonical, padded standard base64.
    #[error("checkpoint root hash is not standard base64")]
    BadRootEncoding,
    /// The root hash does not decode to 32 bytes.
    #[error("checkpoint root hash is {len} bytes, expected 32")]
    BadRootLength {
        /// Decoded length.
        len: usize,
    },
    /// An extension line is empty (or the checkpoint text holds an empty
    /// line).
    #[error("checkpoint extension lines must not be empty")]
    EmptyExtension,
    /// The checkpoint verified but its origin is not the one expected for
    /// the signing node.
    #[error("checkpoint origin `{found}` is not the expected `{expected}`")]
    WrongOrigin {
        /// The origin the node must use.
        expected: String,
        /// The origin the checkpoint names (shortened).
        found: String,
    },
}

/// A tree head: which log, how many entries, and the RFC 9162 root over
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, also the signing key's name; for a Liaison node
    /// [`origin_for`] its node id.
    pub origin: String,
    /// Number of ledger entries covered.
    pub size: u64,
    /// The Merkle root over the first `size` entries.
    pub root: Hash,
    /// Optional extra text lines after the root (NOT RECOMMENDED by the
    /// spec: they are signed but not auditable). Each must be non-empty.
    pub extensions: Vec<String>,
}

/// The checkpoint origin (and key name) of a node's ledger:
/// `liaison.node/<node id>`, a schema-less URL without spaces or `+`.
pub fn origin_for(node: &NodeId) -> String {
    format!("{ORIGIN_PREFIX}{node}")
}

/// Whether `name` is a valid signed-note key name: non-empty, no Unicode
/// spaces, no `+` (and no ASCII control characters, which no note holds).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || (c as u32) < 0x20)
}

/// The signed-note verifier key string `<name>+<hex key id>+<base64(0x01 ||
/// public key)>`, as used by Go's `sumdb/note` and other C2SP tools.
pub fn vkey(name: &str, key: &NodeId) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(SIG_TYPE_ED25519);
    typed.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        data_encoding::HEXLOWER.encode(&Checkpoint::key_id(name, key)),
        STANDARD.encode(typed)
    )
}

/// Sign `text` as a signed note with one Ed25519 signature under key name
/// `name`: `text`, a blank line, then the signature line.
///
/// `text` should end in a newline, contain no control characters other than
/// newline, and `name` should satisfy [`is_valid_key_name`]; otherwise the
/// note is one that [`verify_note`] refuses.
pub fn sign_note(text: &str, name: &str, keys: &NodeKeys) -> String {
    let id = Checkpoint::key_id(name, &keys.node_id());
    let signature = keys.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(4 + 64);
    blob.extend_from_slice(&id);
    blob.extend_from_slice(&signature.to_bytes());
    format!("{text}\n{SIG_PREFIX}{name} {}\n", STANDARD.encode(blob))
}

/// Open a signed note: check its form, and return its text (including the
/// final newline) if at least one signature by the Ed25519 key `key` under
/// key name `name` verifies and every signature that claims that key (same
/// name and key id) verifies. Signatures by other keys are ignored but must
/// be well formed.
pub fn verify_note<'a>(
    note: &'a str,
    name: &str,
    key: &NodeId,
) -> Result<&'a str, CheckpointError> {
    if let Some((offset, c)) = note
        .char_indices()
        .find(|&(_, c)| (c as u32) < 0x20 && c != '\n')
    {
        return Err(CheckpointError::ControlCharacter {
            offset,
            code: c as u32,
        });
    }
    // The text ends at the last blank line; it keeps its final newline.
    let split = note
        .rfind("\n\n")
        .ok_or(CheckpointError::MissingBlankLine)?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    let sigs = sigs
        .strip_suffix('\n')
        .filter(|s| !s.is_empty())
        .ok_or(CheckpointError::NoSignatures)?;

    let want_id = Checkpoint::key_id(name, key);
    let verifying_key = key.verifying_key();
    let mut verified = 0usize;
    for (i, line) in sigs.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(CheckpointError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        let malformed = CheckpointError::MalformedSignature { line: i + 1 };
        let (sig_name, b64) = line
            .strip_prefix(SIG_PREFIX)
            .and_then(|rest| rest.split_once(' '))
            .ok_or_else(|| malformed.clone())?;
        if !is_valid_key_name(sig_name) || b64.is_empty() {
            return Err(malformed);
        }
        let blob = STANDARD.decode(b64).map_err(|_| malformed.clone())?;
        let (id, signature) = match blob.split_first_chunk::<4>() {
            Some((id, signature)) if !signature.is_empty() => (id, signature),
            _ => return Err(malformed),
        };
        if sig_name != name || id != &want_id {
            continue; // another key: ignored (witnesses, rotated keys)
        }
        let good = Signature::from_slice(signature)
            .map(|s| verifying_key.verify_strict(text.as_bytes(), &s).is_ok())
            .unwrap_or(false);
        if !good {
            return Err(CheckpointError::BadSignature {
                name: name.to_string(),
            });
        }
        verified += 1;
    }
    if verified == 0 {
        return Err(CheckpointError::NotSigned {
            name: name.to_string(),
        });
    }
    Ok(text)
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, decimal size, base64 root, any extension
    /// lines, each ending in `\n`.
    pub fn body(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Check that the checkpoint can be written as a note that
    /// [`Checkpoint::verify`] accepts: the origin is a valid key name and
    /// every extension line is non-empty, without newlines or control
    /// characters.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if !is_valid_key_name(&self.origin) {
            return Err(CheckpointError::BadOrigin);
        }
        for line in &self.extensions {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension);
            }
            if let Some((offset, c)) = line.char_indices().find(|&(_, c)| (c as u32) < 0x20) {
                return Err(CheckpointError::ControlCharacter {
                    offset,
                    code: c as u32,
                });
            }
        }
        Ok(())
    }

    /// The full signed note: [`Checkpoint::body`], a blank line and one
    /// Ed25519 signature by `keys` under key name [`Checkpoint::origin`].
    ///
    /// Checkpoints built from untrusted parts should pass
    /// [`Checkpoint::validate`] first; one that does not yields a note that
    /// [`Checkpoint::verify`] refuses.
    pub fn sign(&self, keys: &NodeKeys) -> String {
        sign_note(&self.body(), &self.origin, keys)
    }

    /// Parse checkpoint note text (the part before the blank line, with its
    /// final newline). Does not check any signature.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::TooFewLines)?;
        let mut lines = body.split('\n');
        let (origin, size, root) = match (lines.next(), lines.next(), lines.next()) {
            (Some(o), Some(s), Some(r)) => (o, s, r),
            _ => return Err(CheckpointError::TooFewLines),
        };
        if let Some((offset, c)) = text
            .char_indices()
            .find(|&(_, c)| (c as u32) < 0x20 && c != '\n')
        {
            return Err(CheckpointError::ControlCharacter {
                offset,
                code: c as u32,
            });
        }
        if !is_valid_key_name(origin) {
            return Err(CheckpointError::BadOrigin);
        }
        let size = parse_size(size).ok_or(CheckpointError::BadSize)?;
        let root_bytes = STANDARD
            .decode(root)
            .map_err(|_| CheckpointError::BadRootEncoding)?;
        let root: Hash =
            root_bytes
                .as_slice()
                .try_into()
                .map_err(|_| CheckpointError::BadRootLength {
                    len: root_bytes.len(),
                })?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::EmptyExtension);
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Verify a signed checkpoint note against the node key `signer` and
    /// return the checkpoint.
    ///
    /// The key name must equal the checkpoint's origin. Signatures by other
    /// keys are ignored (C2SP: witnesses, rotation); a signature that claims
    /// this key's name and key id but does not verify refuses the note, and
    /// so does a note without any signature by this key. The origin itself
    /// is not compared with the signer; [`Checkpoint::verify_node`] does.
    pub fn verify(note: &str, signer: &NodeId) -> Result<Checkpoint, CheckpointError> {
        let text = match note.split_once('\n') {
            // The key name is the origin, the checkpoint's first line. The
            // text is parsed from the verified part only.
            Some((origin, _)) => verify_note(note, origin, signer)?,
            None => return Err(CheckpointError::MissingBlankLine),
        };
        let checkpoint = Checkpoint::parse_body(text)?;
        Ok(checkpoint)
    }

    /// [`Checkpoint::verify`], and require the origin to be the node's own,
    /// [`origin_for`]`(node)`.
    pub fn verify_node(note: &str, node: &NodeId) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = Checkpoint::verify(note, node)?;
        let expected = origin_for(node);
        if checkpoint.origin != expected {
            return Err(CheckpointError::WrongOrigin {
                expected,
                found: checkpoint.origin.chars().take(MAX_ECHO).collect(),
            });
        }
        Ok(checkpoint)
    }

    /// The signed-note key id of an Ed25519 key under key name `name`:
    /// `SHA-256(name || 0x0A || 0x01 || public key)[:4]` (big-endian
    /// `uint32` on the wire).
    pub fn key_id(name: &str, key: &NodeId) -> [u8; 4] {
        let digest = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([b'\n', SIG_TYPE_ED25519])
            .chain_update(key.as_bytes())
            .finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

/// ASCII decimal without leading zeros (`0` alone for zero), within u64.
fn parse_size(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = s.len() > 1 && s.starts_with('0');
    if !digits_only || leading_zero {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests;
