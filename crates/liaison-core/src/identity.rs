//! Node identity: keys, node ids, fingerprints and identity cards (DESIGN §3).
//!
//! A node holds two independent keys: an Ed25519 signing key (its identity;
//! the node id is its public key) and an age X25519 identity for decryption.
//! Neither is derived from the other.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use chrono::{DateTime, SecondsFormat, Utc};
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::dsse::{DsseError, Envelope};

/// DSSE payload type of a signed identity card.
pub const CARD_TYPE: &str = "application/vnd.liaison.card+json;v=1";

/// A node id: the node's Ed25519 public key, shown as lowercase base32
/// without padding (52 characters).
///
/// Holds the 32 key bytes, checked to be a valid point when built.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 32]);

/// A string that is not a node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a node id (52 lowercase base32 characters encoding an Ed25519 public key)")]
pub struct ParseNodeIdError(String);

impl NodeId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The Ed25519 key this id names.
    pub fn verifying_key(&self) -> VerifyingKey {
        // Every NodeId was checked to decode when it was built. Were that
        // ever violated, the default (identity) key is refused by
        // `verify_strict` as a weak key, so nothing would verify under it.
        VerifyingKey::from_bytes(&self.0).unwrap_or_default()
    }

    /// A short human fingerprint for comparing out of band, like a Signal
    /// safety number: 160 bits of SHA-256 over the key, in 8 groups of 4.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"liaison fingerprint v1\n")
            .chain_update(self.0)
            .finalize();
        let b32 = BASE32_NOPAD.encode(&digest[..20]).to_ascii_lowercase();
        b32.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }
}

impl From<VerifyingKey> for NodeId {
    fn from(k: VerifyingKey) -> Self {
        NodeId(k.to_bytes())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = ParseNodeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNodeIdError(s.chars().take(80).collect());
        if s.len() != 52 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err());
        }
        let raw = BASE32_NOPAD
            .decode(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| err())?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| err())?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| err())?;
        Ok(NodeId(bytes))
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Problems with key material. Messages never contain key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("cannot generate keys: the system random source failed")]
    Random,
    /// The signing key file is not a PKCS#8 Ed25519 private key.
    #[error("signing key is not a PKCS#8 PEM Ed25519 private key")]
    BadSigningKey,
    /// The age identity file holds no usable X25519 identity.
    #[error("age identity file holds no AGE-SECRET-KEY-1 line that parses")]
    BadAgeIdentity,
}

/// The private keys of a node. `Debug` shows only the node id.
pub struct NodeKeys {
    signing: SigningKey,
    age: age::x25519::Identity,
}

impl fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKeys")
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// Fresh keys from the operating system's random source.
    pub fn generate() -> Result<NodeKeys, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(|_| KeyError::Random)?;
        Ok(NodeKeys {
            signing: SigningKey::from_bytes(&seed),
            age: age::x25519::Identity::generate(),
        })
    }

    /// Load keys from the contents of the two key files.
    pub fn from_files(signing_pem: &str, age_identity: &str) -> Result<NodeKeys, KeyError> {
        let signing =
            SigningKey::from_pkcs8_pem(signing_pem).map_err(|_| KeyError::BadSigningKey)?;
        let age = age_identity
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .and_then(|l| age::x25519::Identity::from_str(l).ok())
            .ok_or(KeyError::BadAgeIdentity)?;
        Ok(NodeKeys { signing, age })
    }

    /// The signing key as PKCS#8 PEM, for a 0600 key file.
    pub fn signing_key_pem(&self) -> Zeroizing<String> {
        self.signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|pem| Zeroizing::new(pem.to_string()))
            .unwrap_or_default()
    }

    /// The signing key as PKCS#8 DER (for the TLS certificate).
    pub fn signing_key_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.signing
            .to_pkcs8_der()
            .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
            .unwrap_or_default()
    }

    /// The age identity in the file format the `age` tool reads (`-i FILE`).
    pub fn age_identity_file(&self, created: DateTime<Utc>) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# created: {}\n# public key: {}\n{}\n",
            created.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.age.to_public(),
            self.age.to_string().expose_secret()
        ))
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        NodeId::from(self.signing.verifying_key())
    }

    /// The Ed25519 signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The age identity used to decrypt envelopes addressed to this node.
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age
    }

    /// The age recipient (`age1…`) peers encrypt to.
    pub fn age_recipient(&self) -> age::x25519::Recipient {
        self.age.to_public()
    }

    /// Sign raw bytes.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// Issue this node's self-signed identity card.
    pub fn issue_card(
        &self,
        org: &str,
        endpoints: Vec<String>,
        created: DateTime<Utc>,
    ) -> SignedCard {
        let card = IdentityCard {
            v: 1,
            org: org.to_string(),
            node_id: self.node_id(),
            age_recipient: self.age_recipient().to_string(),
            endpoints,
            created,
        };
        // Serializing a struct of strings cannot fail.
        let body = serde_json::to_vec(&card).unwrap_or_default();
        let envelope = Envelope::sign(CARD_TYPE, &body, &self.signing, &card.node_id.to_string());
        SignedCard { card, envelope }
    }
}

/// The public facts about a node, as exchanged out of band and pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityCard {
    /// Card format version (1).
    pub v: u32,
    /// Organization name.
    pub org: String,
    /// The node id (Ed25519 public key).
    pub node_id: NodeId,
    /// The age recipient peers encrypt to.
    pub age_recipient: String,
    /// QUIC endpoints (`host:port`).
    pub endpoints: Vec<String>,
    /// When the card was issued.
    pub created: DateTime<Utc>,
}

impl IdentityCard {
    /// The age recipient, parsed.
    pub fn recipient(&self) -> Result<age::x25519::Recipient, CardError> {
        age::x25519::Recipient::from_str(&self.age_recipient)
            .map_err(|_| CardError::BadRecipient(self.age_recipient.chars().take(80).collect()))
    }
}

/// Why an identity card was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// Not a DSSE envelope holding a card.
    #[error("not an identity card: {0}")]
    Malformed(String),
    /// A card version this build does not read.
    #[error("identity card version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    /// The signature does not verify under the key the card names.
    #[error("identity card for `{org}` (node {node_id}) is refused: its signature does not verify under its own key")]
    BadSignature {
        /// The organization the card claims.
        org: String,
        /// The node id the card claims.
        node_id: NodeId,
    },
    /// The age recipient does not parse.
    #[error("identity card has an invalid age recipient `{0}`")]
    BadRecipient(String),
}

/// An identity card with its self-signature, verified when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCard {
    /// The verified card.
    pub card: IdentityCard,
    /// The DSSE envelope as issued (what is exchanged and pinned).
    pub envelope: Envelope,
}

impl SignedCard {
    /// Parse and verify a card file (DSSE JSON). A card whose signature does
    /// not verify under the key it names is refused.
    pub fn from_json(bytes: &[u8]) -> Result<SignedCard, CardError> {
        let envelope =
            Envelope::from_json(bytes).map_err(|e| CardError::Malformed(e.to_string()))?;
        if envelope.payload_type != CARD_TYPE {
            return Err(CardError::Malformed(format!(
                "payload type `{}` is not `{CARD_TYPE}`",
                envelope.payload_type.chars().take(80).collect::<String>()
            )));
        }
        // Self-certifying: read the claimed key, then demand its signature.
        // Trust comes from humans comparing the fingerprint, not from here.
        let claimed = envelope
            .unverified_payload()
            .map_err(|e| CardError::Malformed(e.to_string()))?;
        let version =
            crate::format_version(&claimed).map_err(|e| CardError::Malformed(e.to_string()))?;
        if version != 1 {
            return Err(CardError::UnsupportedVersion(version));
        }
        let card: IdentityCard =
            serde_json::from_slice(&claimed).map_err(|e| CardError::Malformed(e.to_string()))?;
        // `verify` decodes the same payload, so the bytes parsed above are
        // exactly the bytes it checks: no second parse is needed.
        envelope
            .verify(CARD_TYPE, &card.node_id.verifying_key())
            .map_err(|e| match e {
                DsseError::BadSignature => CardError::BadSignature {
                    org: card.org.clone(),
                    node_id: card.node_id,
                },
                other => CardError::Malformed(other.to_string()),
            })?;
        card.recipient()?;
        Ok(SignedCard { card, envelope })
    }

    /// The card file contents (DSSE JSON, pretty-printed for people).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.envelope).unwrap_or_default()
    }

    /// The node id.
    pub fn node_id(&self) -> NodeId {
        self.card.node_id
    }
}

/// The set of pinned nodes whose signatures this node accepts, by node id.
#[derive(Debug, Clone, Default)]
pub struct PinSet {
    cards: BTreeMap<NodeId, IdentityCard>,
}

impl PinSet {
    /// An empty set.
    pub fn new() -> PinSet {
        PinSet::default()
    }

    /// Pin a card (replacing any card with the same node id).
    pub fn pin(&mut self, card: IdentityCard) {
        self.cards.insert(card.node_id, card);
    }

    /// The pinned card for a node id.
    pub fn get(&self, id: &NodeId) -> Option<&IdentityCard> {
        self.cards.get(id)
    }

    /// Whether the set holds `id`.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.cards.contains_key(id)
    }

    /// All pinned cards.
    pub fn iter(&self) -> impl Iterator<Item = &IdentityCard> {
        self.cards.values()
    }
}

impl FromIterator<IdentityCard> for PinSet {
    fn from_iter<T: IntoIterator<Item = IdentityCard>>(iter: T) -> Self {
        let mut set = PinSet::new();
        for card in iter {
            set.pin(card);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn node_id_round_trips_and_is_lowercase_base32() {
        let keys = NodeKeys::generate().unwrap();
        let id = keys.node_id();
        let s = id.to_string();
        assert_eq!(s.len(), 52);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(s.parse::<NodeId>().unwrap(), id);
        assert!(s.to_uppercase().parse::<NodeId>().is_err());
        assert!(s[..51].parse::<NodeId>().is_err());
        let fp = id.fingerprint();
        assert_eq!(fp.len(), 8 * 4 + 7);
        assert_ne!(fp, NodeKeys::generate().unwrap().node_id().fingerprint());
    }

    #[test]
    fn key_files_round_trip() {
        let keys = NodeKeys::generate().unwrap();
        let pem = keys.signing_key_pem();
        let age_file = keys.age_identity_file(t0());
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(age_file.contains("# public key: age1"));
        let back = NodeKeys::from_files(&pem, &age_file).unwrap();
        assert_eq!(back.node_id(), keys.node_id());
        assert_eq!(
            back.age_recipient().to_string(),
            keys.age_recipient().to_string()
        );
        assert!(matches!(
            NodeKeys::from_files("garbage", &age_file),
            Err(KeyError::BadSigningKey)
        ));
        assert!(matches!(
            NodeKeys::from_files(&pem, "# nothing"),
            Err(KeyError::BadAgeIdentity)
        ));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let keys = NodeKeys::generate().unwrap();
        let dbg = format!("{keys:?}");
        assert!(dbg.contains(&keys.node_id().to_string()));
        assert!(!dbg.contains("AGE-SECRET-KEY"));
        let secret_line = keys.age_identity().to_string();
        assert!(!dbg.contains(secret_line.expose_secret()));
    }

    #[test]
    fn card_is_self_signed_and_verified_on_load() {
        let keys = NodeKeys::generate().unwrap();
        let card = keys.issue_card("Org A", vec!["127.0.0.1:7001".into()], t0());
        let loaded = SignedCard::from_json(card.to_json().as_bytes()).unwrap();
        assert_eq!(loaded.card, card.card);
        assert_eq!(loaded.card.org, "Org A");
    }

    #[test]
    fn card_with_altered_content_is_refused() {
        let keys = NodeKeys::generate().unwrap();
        let card = keys.issue_card("Org A", vec![], t0());
        let mut forged = card.card.clone();
        forged.org = "Org Evil".into();
        let mut env = card.envelope.clone();
        env.payload = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            serde_json::to_vec(&forged).unwrap(),
        );
        let err = SignedCard::from_json(&env.to_json()).unwrap_err();
        assert!(matches!(err, CardError::BadSignature { .. }));
        assert!(err.to_string().contains("signature does not verify"));
        assert!(err.to_string().contains("Org Evil"));
    }

    #[test]
    fn card_signed_by_another_key_is_refused() {
        let a = NodeKeys::generate().unwrap();
        let b = NodeKeys::generate().unwrap();
        // A card naming A's key but signed by B.
        let a_card = a.issue_card("Org A", vec![], t0());
        let body = a_card.envelope.unverified_payload().unwrap();
        let env = Envelope::sign(CARD_TYPE, &body, b.signing_key(), "x");
        assert!(matches!(
            SignedCard::from_json(&env.to_json()),
            Err(CardError::BadSignature { .. })
        ));
    }

    #[test]
    fn card_errors_for_garbage_and_versions() {
        assert!(matches!(
            SignedCard::from_json(b"{}"),
            Err(CardError::Malformed(_))
        ));
        let keys = NodeKeys::generate().unwrap();
        let body = br#"{"v":2,"org":"x"}"#;
        let env = Envelope::sign(CARD_TYPE, body, keys.signing_key(), "x");
        assert_eq!(
            SignedCard::from_json(&env.to_json()),
            Err(CardError::UnsupportedVersion(2))
        );
    }
}
