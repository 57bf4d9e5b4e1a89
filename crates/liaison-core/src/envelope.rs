//! Sealing and opening bundles: sign a manifest, then encrypt (DESIGN §4).
//!
//! ```text
//! ciphertext = age( container )                  -- one or many X25519 recipients
//! container  = "liaison1"                        -- magic and version, 8 bytes
//!              u32be(len(dsse)) dsse             -- DSSE JSON over the manifest
//!              u64be(len(content)) content       -- the bundle content
//! ```
//!
//! The audience is inside the signature, so a recipient that re-encrypts a
//! bundle to a third party (surreptitious forwarding) is caught: the third
//! party can decrypt, but is not in the signed `recipients` list.
//! The signature covers the content's SHA-256, so the content can stream.

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::content::{self, ContentError, Kind};
use crate::dsse::{DsseError, Envelope};
use crate::identity::{CardError, IdentityCard, NodeId, NodeKeys, PinSet};
use crate::manifest::{
    sha256_hex, AgreementRef, Approval, ContentDigest, Manifest, Party, Recipient, MANIFEST_TYPE,
    MANIFEST_TYPE_PREFIX, MANIFEST_VERSION,
};
use crate::tlp::Tlp;

/// Magic and container version at the start of every plaintext.
pub const CONTAINER_MAGIC: &[u8; 8] = b"liaison1";

/// Bounds applied before and while parsing peer input.
#[derive(Debug, Clone, Copy)]
pub struct OpenLimits {
    /// Largest age header accepted (checked before age parses it).
    pub max_header_bytes: usize,
    /// Most recipient stanzas accepted; age header parsing grows faster
    /// than linearly with stanzas, so this is a cheap DoS guard.
    pub max_stanzas: usize,
    /// Largest DSSE envelope (the manifest is small).
    pub max_manifest_bytes: u32,
    /// Largest content.
    pub max_content_bytes: u64,
}

impl Default for OpenLimits {
    fn default() -> Self {
        OpenLimits {
            max_header_bytes: 64 * 1024,
            max_stanzas: 256,
            max_manifest_bytes: 1024 * 1024,
            max_content_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// What a sender states about a bundle before it is signed.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Content kind.
    pub kind: Kind,
    /// Bundle label; may not be lower than any label inside the content.
    pub tlp: Tlp,
    /// The signed audience (pinned cards).
    pub recipients: Vec<IdentityCard>,
    /// Named community, CLEAR and GREEN only.
    pub community: Option<String>,
    /// Expiry.
    pub not_after: Option<DateTime<Utc>>,
    /// The agreement in force with each recipient, by node id.
    pub agreements: std::collections::BTreeMap<NodeId, AgreementRef>,
    /// Named individuals (TLP:RED).
    pub individuals: Vec<String>,
    /// Release approvals.
    pub approvals: Vec<Approval>,
    /// The bundle this one revises.
    pub supersedes: Option<Uuid>,
    /// The original this bundle re-shares (see [`crate::forward`]).
    pub forwarded_from: Option<crate::manifest::Forwarded>,
    /// Part of an exercise.
    pub exercise: bool,
}

impl Draft {
    /// A draft with only the required fields.
    pub fn new(kind: Kind, tlp: Tlp, recipients: Vec<IdentityCard>) -> Draft {
        Draft {
            kind,
            tlp,
            recipients,
            community: None,
            not_after: None,
            agreements: Default::default(),
            individuals: Vec::new(),
            approvals: Vec::new(),
            supersedes: None,
            exercise: false,
            forwarded_from: None,
        }
    }
}

/// Why a bundle could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The content failed validation.
    #[error("content refused: {0}")]
    Content(#[from] ContentError),
    /// The bundle label is lower than a label inside the content.
    #[error("bundle labelled {bundle} but the content carries {content} ({source_hint}): the bundle label may not be lower than the content's")]
    TlpBelowContent {
        /// Label requested for the bundle.
        bundle: Tlp,
        /// Highest label in the content.
        content: Tlp,
        /// Where in the content it was found.
        source_hint: String,
    },
    /// No recipients.
    #[error("a bundle needs at least one recipient")]
    NoRecipients,
    /// Community set on a label that does not allow one.
    #[error("a community audience is only allowed for TLP:CLEAR and TLP:GREEN, not {0}")]
    CommunityNotAllowed(Tlp),
    /// A recipient card has an unusable age recipient.
    #[error("recipient card refused: {0}")]
    BadRecipient(#[from] CardError),
    /// Asked to encrypt for a node outside the signed audience.
    #[error("node {0} is not in the signed audience of this bundle")]
    OutsideAudience(NodeId),
    /// age or the output failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// Why an envelope could not be opened. Messages never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Not a well-formed age file, container, DSSE envelope or manifest.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// A format version this build does not read.
    #[error("unsupported version: {0}")]
    UnsupportedVersion(String),
    /// Decryption failed: no stanza opens with this node's identity.
    #[error("decryption failed: this node is not a recipient of the envelope (no age stanza opens with its identity)")]
    NotARecipient,
    /// Decryption failed: the ciphertext was altered or truncated.
    #[error("decryption failed: the ciphertext was altered or truncated ({0})")]
    Corrupted(String),
    /// Signed by a key that is not pinned.
    #[error("unknown originator: the envelope is signed by {claimed}, which is not a pinned node")]
    UnknownOriginator {
        /// The key id the signature claims (unauthenticated).
        claimed: String,
    },
    /// The signature does not verify under the pinned key.
    #[error("bad signature: the manifest signature does not verify under the pinned key of {0}")]
    BadSignature(NodeId),
    /// The manifest names a different sender than the key that signed it.
    #[error("sender mismatch: the manifest names node {claimed} but was signed by {signer}")]
    SenderMismatch {
        /// Sender named in the manifest.
        claimed: NodeId,
        /// Node whose key signed.
        signer: NodeId,
    },
    /// This node decrypted the bundle but is not in the signed audience:
    /// someone re-encrypted it (surreptitious forwarding).
    #[error("not in audience: node {0} is not among the signed recipients (possible surreptitious forwarding)")]
    NotInAudience(NodeId),
    /// Content size or digest differ from the signed manifest.
    #[error("content mismatch: {0}")]
    ContentMismatch(String),
    /// The caller's sink refused the content (a local I/O failure).
    #[error("could not write the opened content: {0}")]
    Sink(io::Error),
    /// Content larger than allowed.
    #[error("content of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Declared size.
        size: u64,
        /// Limit.
        limit: u64,
    },
}

/// A signed manifest, ready to be encrypted for its recipients.
#[derive(Debug, Clone)]
pub struct SignedBundle {
    /// The manifest.
    pub manifest: Manifest,
    /// Its exact signed bytes.
    pub manifest_bytes: Vec<u8>,
    /// The DSSE envelope over those bytes.
    pub dsse: Envelope,
}

impl SignedBundle {
    /// SHA-256 (hex) of the manifest bytes: what ledgers and receipts name.
    pub fn manifest_sha256(&self) -> String {
        sha256_hex(&self.manifest_bytes)
    }
}

/// Validate `content` of `kind` for a bundle labelled `tlp`: the content
/// must be valid, and no label inside it may be higher than `tlp`.
pub fn check_content(
    kind: Kind,
    tlp: Tlp,
    content: &[u8],
) -> Result<content::ContentInfo, SealError> {
    check_label(tlp, content::validate(kind, content)?)
}

/// [`check_content`] on content read from `reader` (STIX is checked one
/// object at a time: memory stays bounded whatever the size).
pub fn check_content_reader<R: Read>(
    kind: Kind,
    tlp: Tlp,
    reader: R,
) -> Result<content::ContentInfo, SealError> {
    let info = content::validate_reader(kind, reader)?;
    check_label(tlp, info)
}

fn check_label(tlp: Tlp, info: content::ContentInfo) -> Result<content::ContentInfo, SealError> {
    if let Some(inner) = info.max_tlp {
        if inner > tlp {
            return Err(SealError::TlpBelowContent {
                bundle: tlp,
                content: inner,
                source_hint: info.max_tlp_source.unwrap_or_default(),
            });
        }
    }
    Ok(info)
}

/// Validate `content`, build and sign the manifest (with a fresh bundle id).
pub fn sign(
    keys: &NodeKeys,
    sender_org: &str,
    draft: &Draft,
    content: &[u8],
    now: DateTime<Utc>,
) -> Result<SignedBundle, SealError> {
    sign_as(keys, sender_org, draft, content, now, Uuid::new_v4())
}

/// [`sign`] with a given bundle id (a share planned before it is sealed).
pub fn sign_as(
    keys: &NodeKeys,
    sender_org: &str,
    draft: &Draft,
    content: &[u8],
    now: DateTime<Utc>,
    bundle_id: Uuid,
) -> Result<SignedBundle, SealError> {
    check_content(draft.kind, draft.tlp, content)?;
    sign_digest(
        keys,
        sender_org,
        draft,
        ContentDigest::of(draft.kind, content),
        now,
        bundle_id,
    )
}

/// Sign the manifest of content already checked ([`check_content_reader`])
/// and digested: the signature covers the content's size and SHA-256, so
/// content that streams from disk is never held in memory to be signed.
pub fn sign_digest(
    keys: &NodeKeys,
    sender_org: &str,
    draft: &Draft,
    digest: ContentDigest,
    now: DateTime<Utc>,
    bundle_id: Uuid,
) -> Result<SignedBundle, SealError> {
    if digest.media_type != draft.kind.media_type() {
        return Err(SealError::Encrypt(format!(
            "digest of `{}` content for a `{}` bundle",
            digest.media_type, draft.kind
        )));
    }
    if draft.recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    if draft.community.is_some() && draft.tlp > Tlp::Green {
        return Err(SealError::CommunityNotAllowed(draft.tlp));
    }
    let mut recipients = Vec::with_capacity(draft.recipients.len());
    for card in &draft.recipients {
        card.recipient()?;
        recipients.push(Recipient {
            org: card.org.clone(),
            node_id: card.node_id,
            age: card.age_recipient.clone(),
            agreement: draft.agreements.get(&card.node_id).cloned(),
        });
    }
    recipients.sort_by_key(|r| r.node_id);
    recipients.dedup_by(|a, b| a.node_id == b.node_id);

    let manifest = Manifest {
        v: MANIFEST_VERSION,
        bundle_id,
        created: now,
        not_after: draft.not_after,
        kind: draft.kind,
        tlp: draft.tlp,
        sender: Party {
            org: sender_org.to_string(),
            node_id: keys.node_id(),
        },
        recipients,
        community: draft.community.clone(),
        individuals: draft.individuals.clone(),
        approvals: draft.approvals.clone(),
        content: digest,
        supersedes: draft.supersedes,
        exercise: draft.exercise,
        forwarded_from: draft.forwarded_from.clone(),
    };
    let manifest_bytes = manifest.to_bytes();
    let dsse = Envelope::sign(
        MANIFEST_TYPE,
        &manifest_bytes,
        keys.signing_key(),
        &keys.node_id().to_string(),
    );
    Ok(SignedBundle {
        manifest,
        manifest_bytes,
        dsse,
    })
}

/// Encrypt a signed bundle for some of its recipients, writing the age file
/// to `out`. Every node in `to` must be in the signed audience.
pub fn encrypt_to<W: Write>(
    bundle: &SignedBundle,
    content: &[u8],
    to: &[NodeId],
    out: W,
) -> Result<(), SealError> {
    encrypt_from(bundle, content, to, out)
}

/// [`encrypt_to`] with the content read from `content`, in chunks: it must
/// yield exactly the signed size and digest, or nothing is finished.
pub fn encrypt_from<R: Read, W: Write>(
    bundle: &SignedBundle,
    mut content: R,
    to: &[NodeId],
    out: W,
) -> Result<(), SealError> {
    let mut recipients: Vec<age::x25519::Recipient> = Vec::with_capacity(to.len());
    for id in to {
        let r = bundle
            .manifest
            .recipients
            .iter()
            .find(|r| r.node_id == *id)
            .ok_or(SealError::OutsideAudience(*id))?;
        let parsed = r
            .age
            .parse::<age::x25519::Recipient>()
            .map_err(|e| SealError::Encrypt(e.to_string()))?;
        recipients.push(parsed);
    }
    if recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let io_err = |e: io::Error| SealError::Encrypt(e.to_string());
    let mut w = encryptor.wrap_output(out).map_err(io_err)?;
    let dsse = bundle.dsse.to_json();
    w.write_all(CONTAINER_MAGIC).map_err(io_err)?;
    w.write_all(&(dsse.len() as u32).to_be_bytes())
        .map_err(io_err)?;
    w.write_all(&dsse).map_err(io_err)?;
    let size = bundle.manifest.content.size;
    w.write_all(&size.to_be_bytes()).map_err(io_err)?;
    let digest = copy_hashing(&mut content, &mut w, size).map_err(|e| match e {
        OpenError::Sink(e) => io_err(e),
        other => SealError::Encrypt(format!("reading the content: {other}")),
    })?;
    let mut extra = [0u8; 1];
    if content.read(&mut extra).map_err(io_err)? != 0 {
        return Err(SealError::Encrypt(
            "the content is longer than the signed size".into(),
        ));
    }
    if digest != bundle.manifest.content.sha256 {
        return Err(SealError::Encrypt(
            "the content differs from the signed digest".into(),
        ));
    }
    w.finish().map_err(io_err)?;
    Ok(())
}

/// A sealed bundle: signed manifest plus one ciphertext for every recipient.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The signed manifest.
    pub bundle: SignedBundle,
    /// The age file.
    pub ciphertext: Vec<u8>,
}

/// Sign and encrypt in one step, to every recipient in one age file (the
/// offline `liaison seal`). Nodes instead call [`sign`] once and
/// [`encrypt_to`] once per recipient, so each peer gets only its own stanza.
pub fn seal(
    keys: &NodeKeys,
    sender_org: &str,
    draft: &Draft,
    content: &[u8],
    now: DateTime<Utc>,
) -> Result<Sealed, SealError> {
    let bundle = sign(keys, sender_org, draft, content, now)?;
    let to: Vec<NodeId> = bundle
        .manifest
        .recipients
        .iter()
        .map(|r| r.node_id)
        .collect();
    let mut ciphertext = Vec::with_capacity(content.len() + 1024);
    encrypt_to(&bundle, content, &to, &mut ciphertext)?;
    Ok(Sealed { bundle, ciphertext })
}

/// A verified manifest from an opened envelope.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The verified manifest.
    pub manifest: Manifest,
    /// Its exact signed bytes.
    pub manifest_bytes: Vec<u8>,
    /// The DSSE envelope as received.
    pub dsse: Envelope,
    /// The pinned card of the node that signed.
    pub originator: IdentityCard,
}

impl Opened {
    /// SHA-256 (hex) of the manifest bytes.
    pub fn manifest_sha256(&self) -> String {
        sha256_hex(&self.manifest_bytes)
    }
}

/// Open an envelope held in memory: decrypt, verify, check audience and
/// content. Returns the verified manifest and the content.
pub fn open(
    keys: &NodeKeys,
    pins: &PinSet,
    ciphertext: &[u8],
    limits: &OpenLimits,
) -> Result<(Opened, Vec<u8>), OpenError> {
    let mut content = Vec::new();
    let opened = open_to(keys, pins, ciphertext, limits, &mut content)?;
    Ok((opened, content))
}

/// Open an envelope from a reader, streaming the content into `sink`.
///
/// The content is written before its digest is known to match: on `Err`,
/// the caller must discard whatever `sink` received.
pub fn open_to<R: Read, W: Write>(
    keys: &NodeKeys,
    pins: &PinSet,
    input: R,
    limits: &OpenLimits,
    mut sink: W,
) -> Result<Opened, OpenError> {
    let mut input = BufReader::new(input);
    let header = precheck_age_header(&mut input, limits)?;
    let decryptor = age::Decryptor::new_buffered(Cursor::new(header).chain(input))
        .map_err(map_decrypt_error)?;
    let mut plain = decryptor
        .decrypt(std::iter::once(keys.age_identity() as &dyn age::Identity))
        .map_err(map_decrypt_error)?;

    // (container) magic and version
    let mut magic = [0u8; 8];
    read_exact(&mut plain, &mut magic, "container magic")?;
    if &magic != CONTAINER_MAGIC {
        return Err(if magic.starts_with(b"liaison") {
            OpenError::UnsupportedVersion(format!(
                "container version `{}` (this build reads `1`)",
                magic[7].escape_ascii()
            ))
        } else {
            OpenError::Malformed("plaintext is not a Liaison container".into())
        });
    }
    let mut len4 = [0u8; 4];
    read_exact(&mut plain, &mut len4, "DSSE length")?;
    let dsse_len = u32::from_be_bytes(len4);
    if dsse_len > limits.max_manifest_bytes {
        return Err(OpenError::Malformed(format!(
            "DSSE envelope of {dsse_len} bytes exceeds {} bytes",
            limits.max_manifest_bytes
        )));
    }
    let mut dsse_bytes = vec![0u8; dsse_len as usize];
    read_exact(&mut plain, &mut dsse_bytes, "DSSE envelope")?;

    // (iii) verify with the pinned key before parsing the manifest.
    let dsse = Envelope::from_json(&dsse_bytes).map_err(|e| OpenError::Malformed(e.to_string()))?;
    let (originator, manifest_bytes) = verify_manifest(&dsse, pins)?;

    // (iv) parse only verified bytes.
    let manifest = parse_manifest(&manifest_bytes)?;
    // (v) the manifest's sender is the key that signed.
    if manifest.sender.node_id != originator.node_id {
        return Err(OpenError::SenderMismatch {
            claimed: manifest.sender.node_id,
            signer: originator.node_id,
        });
    }
    // (vi) this node is in the signed audience.
    let me = keys.node_id();
    if !manifest.addresses(&me, &keys.age_recipient().to_string()) {
        return Err(OpenError::NotInAudience(me));
    }
    if Kind::from_media_type(&manifest.content.media_type) != Some(manifest.kind) {
        return Err(OpenError::Malformed(format!(
            "media type `{}` does not match kind `{}`",
            manifest.content.media_type, manifest.kind
        )));
    }

    // (vii) content size and digest.
    let mut len8 = [0u8; 8];
    read_exact(&mut plain, &mut len8, "content length")?;
    let size = u64::from_be_bytes(len8);
    if size != manifest.content.size {
        return Err(OpenError::ContentMismatch(format!(
            "container holds {size} bytes, manifest signs {} bytes",
            manifest.content.size
        )));
    }
    if size > limits.max_content_bytes {
        return Err(OpenError::TooLarge {
            size,
            limit: limits.max_content_bytes,
        });
    }
    let digest = copy_hashing(&mut plain, &mut sink, size)?;
    if digest != manifest.content.sha256 {
        return Err(OpenError::ContentMismatch(
            "content SHA-256 differs from the signed manifest".into(),
        ));
    }
    let mut extra = [0u8; 1];
    match plain.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => {
            return Err(OpenError::Malformed(
                "trailing bytes after the content".into(),
            ))
        }
        Err(e) => return Err(map_stream_error(e, "end of stream")),
    }
    Ok(Opened {
        manifest,
        manifest_bytes,
        dsse,
        originator: originator.clone(),
    })
}

/// Pick the pinned key the signature names and verify under it.
fn verify_manifest<'p>(
    dsse: &Envelope,
    pins: &'p PinSet,
) -> Result<(&'p IdentityCard, Vec<u8>), OpenError> {
    if dsse.payload_type != MANIFEST_TYPE {
        return Err(match dsse.payload_type.strip_prefix(MANIFEST_TYPE_PREFIX) {
            Some(v) => OpenError::UnsupportedVersion(format!(
                "manifest type version `{}` (this build reads `{MANIFEST_VERSION}`)",
                v.chars().take(16).collect::<String>()
            )),
            None => OpenError::Malformed(format!(
                "payload type `{}` is not a Liaison manifest",
                dsse.payload_type.chars().take(80).collect::<String>()
            )),
        });
    }
    // keyid is an unauthenticated hint: it only selects which pinned key to
    // try and words the error. Acceptance rests on verify_strict alone.
    let claimed: Vec<&str> = dsse.key_ids().collect();
    let candidates: Vec<&IdentityCard> = if claimed.is_empty() {
        pins.iter().collect()
    } else {
        claimed
            .iter()
            .filter_map(|k| k.parse::<NodeId>().ok())
            .filter_map(|id| pins.get(&id))
            .collect()
    };
    if candidates.is_empty() {
        return Err(OpenError::UnknownOriginator {
            claimed: claimed
                .first()
                .map(|s| s.chars().take(60).collect())
                .unwrap_or_else(|| "no key id".into()),
        });
    }
    let mut last = None;
    for card in candidates {
        match dsse.verify(MANIFEST_TYPE, &card.node_id.verifying_key()) {
            Ok(bytes) => return Ok((card, bytes)),
            Err(DsseError::BadSignature) => last = Some(card.node_id),
            Err(e) => return Err(OpenError::Malformed(e.to_string())),
        }
    }
    match last {
        Some(id) => Err(OpenError::BadSignature(id)),
        None => Err(OpenError::Malformed("no usable signature".into())),
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, OpenError> {
    let v =
        crate::format_version(bytes).map_err(|e| OpenError::Malformed(format!("manifest: {e}")))?;
    if v != MANIFEST_VERSION {
        return Err(OpenError::UnsupportedVersion(format!(
            "manifest version {v} (this build reads {MANIFEST_VERSION})"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| OpenError::Malformed(format!("manifest: {e}")))
}

/// Read the age header line by line, bounding its size and stanza count
/// before age parses it. Returns the header bytes to replay into age.
fn precheck_age_header<R: BufRead>(r: &mut R, limits: &OpenLimits) -> Result<Vec<u8>, OpenError> {
    let mut header = Vec::with_capacity(512);
    let mut stanzas = 0usize;
    loop {
        let room = limits.max_header_bytes.saturating_sub(header.len());
        let before = header.len();
        let n = r
            .by_ref()
            .take(room as u64)
            .read_until(b'\n', &mut header)
            .map_err(|e| OpenError::Malformed(format!("reading age header: {e}")))?;
        let line = &header[before..];
        if n == 0 || !line.ends_with(b"\n") {
            return Err(OpenError::Malformed(
                if header.len() >= limits.max_header_bytes {
                    format!("age header exceeds {} bytes", limits.max_header_bytes)
                } else {
                    "age header is truncated".into()
                },
            ));
        }
        if before == 0 && !line.starts_with(b"age-encryption.org/") {
            return Err(OpenError::Malformed("not a binary age file".into()));
        }
        if line.starts_with(b"-> ") {
            stanzas += 1;
            if stanzas > limits.max_stanzas {
                return Err(OpenError::Malformed(format!(
                    "age header has more than {} recipient stanzas",
                    limits.max_stanzas
                )));
            }
        }
        if line.starts_with(b"--- ") {
            return Ok(header);
        }
    }
}

fn map_decrypt_error(e: age::DecryptError) -> OpenError {
    use age::DecryptError as E;
    match e {
        E::NoMatchingKeys => OpenError::NotARecipient,
        E::InvalidHeader => OpenError::Malformed("age header is invalid".into()),
        E::UnknownFormat => OpenError::UnsupportedVersion("unknown age format".into()),
        E::ExcessiveWork { .. } => {
            OpenError::Malformed("passphrase-encrypted age files are not accepted".into())
        }
        E::InvalidMac => OpenError::Corrupted("age header MAC does not verify".into()),
        E::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            OpenError::Malformed("age file is truncated".into())
        }
        other => OpenError::Corrupted(other.to_string()),
    }
}

fn map_stream_error(e: io::Error, what: &str) -> OpenError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        OpenError::Malformed(format!("container is truncated in the {what}"))
    } else {
        OpenError::Corrupted(format!("payload chunk failed to authenticate ({what})"))
    }
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<(), OpenError> {
    r.read_exact(buf).map_err(|e| map_stream_error(e, what))
}

/// Copy exactly `size` bytes, hashing as they pass; return the hex digest.
fn copy_hashing<R: Read, W: Write>(r: &mut R, w: &mut W, size: u64) -> Result<String, OpenError> {
    let mut hasher = Sha256::new();
    let mut left = size;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let chunk = &mut buf[..want];
        read_exact(r, chunk, "content")?;
        hasher.update(&chunk[..]);
        w.write_all(chunk).map_err(OpenError::Sink)?;
        left -= want as u64;
    }
    Ok(data_encoding::HEXLOWER.encode(&hasher.finalize()))
}

#[cfg(test)]
mod tests;
