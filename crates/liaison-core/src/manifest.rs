//! The bundle manifest: the small JSON document a sender signs (DESIGN §4).
//!
//! It binds the audience, the label, the agreement, the approvals and the
//! content digest under one signature. Its bytes are produced once and are
//! what is signed, stored, hashed into the ledger and named by receipts; they
//! are never re-serialized.

use chrono::{DateTime, Utc};
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::content::Kind;
use crate::dsse::Envelope;
use crate::identity::NodeId;
use crate::tlp::Tlp;

/// DSSE payload type of a manifest (version 1).
pub const MANIFEST_TYPE: &str = "application/vnd.liaison.manifest+json;v=1";
/// Prefix shared by every manifest payload type, whatever its version.
pub(crate) const MANIFEST_TYPE_PREFIX: &str = "application/vnd.liaison.manifest+json;v=";
/// The manifest format version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// A signed bundle manifest, version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub v: u32,
    /// Unique bundle id; receivers deduplicate on it.
    pub bundle_id: Uuid,
    /// When the sender sealed it.
    pub created: DateTime<Utc>,
    /// After this, recipients treat the bundle as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
    /// What the content is.
    pub kind: Kind,
    /// The effective TLP label.
    pub tlp: Tlp,
    /// The originating organization and node.
    pub sender: Party,
    /// The whole signed audience, sorted by node id; exactly the age
    /// recipients used across all ciphertexts of this bundle.
    pub recipients: Vec<Recipient>,
    /// Named community (TLP:CLEAR and TLP:GREEN only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// Named individuals the bundle is for (TLP:RED goes to them only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub individuals: Vec<String>,
    /// Who approved the release.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// Digest of the content.
    pub content: ContentDigest,
    /// The bundle this one revises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Uuid>,
    /// Set when this bundle forwards another node's bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<Forwarded>,
    /// Part of an exercise, not a real incident: recipients label it so and
    /// keep it out of real feeds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exercise: bool,
}

/// The sender of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Organization name.
    pub org: String,
    /// Node id.
    pub node_id: NodeId,
}

/// One member of the signed audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Organization name.
    pub org: String,
    /// Node id.
    pub node_id: NodeId,
    /// The age recipient the content was encrypted to.
    pub age: String,
    /// The sharing agreement with this recipient the release is made under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<AgreementRef>,
}

/// A reference to the signed agreement in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementRef {
    /// Agreement id.
    pub id: Uuid,
    /// Agreement version.
    pub version: u32,
    /// SHA-256 (hex) of the countersigned agreement bytes.
    pub sha256: String,
}

/// One release approval, carried so recipients see who approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approving user's id on the sender's node.
    pub approver: String,
    /// The approving user's name on the sender's node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// When the approval was given.
    pub at: DateTime<Utc>,
    /// SHA-256 (hex) of the ledgered decision entry.
    pub decision_sha256: String,
}

/// Media type, size and digest of the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentDigest {
    /// Media type, consistent with the manifest's `kind`.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex).
    pub sha256: String,
}

impl ContentDigest {
    /// Digest `content` of the given kind.
    pub fn of(kind: Kind, content: &[u8]) -> ContentDigest {
        ContentDigest {
            media_type: kind.media_type().to_string(),
            size: content.len() as u64,
            sha256: sha256_hex(content),
        }
    }
}

/// The provenance of a forwarded bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forwarded {
    /// The original bundle id.
    pub bundle_id: Uuid,
    /// SHA-256 (hex) of the original manifest bytes.
    pub manifest_sha256: String,
    /// The original DSSE envelope, signature intact.
    pub envelope: Envelope,
}

impl Manifest {
    /// Whether `node` is in the signed audience with exactly this age recipient.
    pub fn addresses(&self, node: &NodeId, age_recipient: &str) -> bool {
        self.recipients
            .iter()
            .any(|r| r.node_id == *node && r.age == age_recipient)
    }

    /// The signed audience entry for `node`, if it is in the audience.
    pub fn recipient(&self, node: &NodeId) -> Option<&Recipient> {
        self.recipients.iter().find(|r| r.node_id == *node)
    }

    /// The exact bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Every field serializes infallibly (strings, numbers, timestamps).
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(&Sha256::digest(bytes))
}
