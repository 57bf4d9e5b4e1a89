//! Recall: the originator takes a bundle back, and each recipient says
//! (signed) that it did.
//!
//! A [`Recall`] is signed by the originator's node and delivered to every
//! recipient as a message, store and forward. The recipient withholds the
//! content from then on (inbox, TAXII), keeps a ledgered tombstone with the
//! content's hash, or purges the content and its manifest too when its
//! agreement says so, and answers with a signed [`RecallReceipt`]. A recall
//! that arrives before the bundle leaves the tombstone first, so the bundle
//! is refused when it comes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dsse::{DsseError, Envelope};
use crate::identity::{NodeId, NodeKeys};

/// DSSE payload type of a recall.
pub const RECALL_TYPE: &str = "application/vnd.liaison.recall+json;v=1";
/// DSSE payload type of a recall receipt.
pub const RECALL_RECEIPT_TYPE: &str = "application/vnd.liaison.recall-receipt+json;v=1";
/// Longest reason, in characters.
pub const MAX_REASON: usize = 2000;

/// The originator recalls one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// Format version (1).
    pub v: u32,
    /// The bundle recalled.
    pub bundle_id: Uuid,
    /// SHA-256 of its signed manifest.
    pub manifest_sha256: String,
    /// The node that sent it (the signer).
    pub originator: NodeId,
    /// Why.
    pub reason: String,
    /// Who recalled it (a user name at the originator).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What the recipient did with the recalled bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallOutcome {
    /// Content withheld; a tombstone with its hash is kept.
    Withheld,
    /// Content and manifest purged (the agreement asks for it); only the
    /// hashes remain, in the ledger.
    Purged,
    /// The bundle had not arrived: it will be refused if it does.
    NotReceived,
}

impl RecallOutcome {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecallOutcome::Withheld => "withheld",
            RecallOutcome::Purged => "purged",
            RecallOutcome::NotReceived => "not_received",
        }
    }
}

/// A recipient's signed answer to a recall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallReceipt {
    /// Format version (1).
    pub v: u32,
    /// The bundle recalled.
    pub bundle_id: Uuid,
    /// SHA-256 of the signed recall it answers.
    pub recall_sha256: String,
    /// The node that recalled it.
    pub originator: NodeId,
    /// The recipient (the signer).
    pub recipient: NodeId,
    /// When the recipient recorded the recall.
    pub received_at: DateTime<Utc>,
    /// What it did.
    pub outcome: RecallOutcome,
}

/// Why a recall or recall receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecallError {
    /// Not the expected document.
    #[error("malformed recall: {0}")]
    Malformed(String),
    /// The signature does not verify under the expected key.
    #[error("recall signature does not verify under the key of {0}")]
    BadSignature(NodeId),
    /// Signed by one node, naming another.
    #[error("recall names {named} but was signed by {signer}")]
    WrongSigner {
        /// The node named.
        named: NodeId,
        /// The node that signed.
        signer: NodeId,
    },
}

fn sign_json<T: Serialize>(keys: &NodeKeys, ty: &str, doc: &T) -> Vec<u8> {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    Envelope::sign(ty, &bytes, keys.signing_key(), &keys.node_id().to_string()).to_json()
}

fn verify_json<T: serde::de::DeserializeOwned>(
    json: &[u8],
    ty: &str,
    signer: &NodeId,
) -> Result<T, RecallError> {
    let env = Envelope::from_json(json).map_err(|e| RecallError::Malformed(e.to_string()))?;
    let bytes = env
        .verify(ty, &signer.verifying_key())
        .map_err(|e| match e {
            DsseError::BadSignature => RecallError::BadSignature(*signer),
            other => RecallError::Malformed(other.to_string()),
        })?;
    serde_json::from_slice(&bytes).map_err(|e| RecallError::Malformed(e.to_string()))
}

impl Recall {
    /// Sign with the originator's key: DSSE JSON.
    pub fn sign(&self, keys: &NodeKeys) -> Vec<u8> {
        sign_json(keys, RECALL_TYPE, self)
    }

    /// Verify DSSE JSON signed by `signer`, naming it as the originator.
    pub fn verify(json: &[u8], signer: &NodeId) -> Result<Recall, RecallError> {
        let r: Recall = verify_json(json, RECALL_TYPE, signer)?;
        if r.v != 1 {
            return Err(RecallError::Malformed(format!("version {}", r.v)));
        }
        if r.originator != *signer {
            return Err(RecallError::WrongSigner {
                named: r.originator,
                signer: *signer,
            });
        }
        if r.reason.trim().is_empty() || r.reason.chars().count() > MAX_REASON {
            return Err(RecallError::Malformed(format!(
                "the reason must be 1 to {MAX_REASON} characters"
            )));
        }
        Ok(r)
    }
}

impl RecallReceipt {
    /// Sign with the recipient's key: DSSE JSON.
    pub fn sign(&self, keys: &NodeKeys) -> Vec<u8> {
        sign_json(keys, RECALL_RECEIPT_TYPE, self)
    }

    /// Verify DSSE JSON signed by `signer`, naming it as the recipient.
    pub fn verify(json: &[u8], signer: &NodeId) -> Result<RecallReceipt, RecallError> {
        let r: RecallReceipt = verify_json(json, RECALL_RECEIPT_TYPE, signer)?;
        if r.v != 1 {
            return Err(RecallError::Malformed(format!("version {}", r.v)));
        }
        if r.recipient != *signer {
            return Err(RecallError::WrongSigner {
                named: r.recipient,
                signer: *signer,
            });
        }
        Ok(r)
    }
}

/// Whether DSSE JSON carries a recall (by payload type).
pub fn is_recall(json: &[u8]) -> bool {
    Envelope::from_json(json).is_ok_and(|e| e.payload_type == RECALL_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::sha256_hex;

    #[test]
    fn recalls_and_receipts_verify_under_their_signers_only() {
        let (a, b) = (NodeKeys::generate().unwrap(), NodeKeys::generate().unwrap());
        let recall = Recall {
            v: 1,
            bundle_id: Uuid::new_v4(),
            manifest_sha256: "ab".repeat(32),
            originator: a.node_id(),
            reason: "wrong customer's IOCs".into(),
            by: "ana".into(),
            at: Utc::now(),
        };
        let json = recall.sign(&a);
        assert!(is_recall(&json));
        assert_eq!(Recall::verify(&json, &a.node_id()).unwrap(), recall);
        assert_eq!(
            Recall::verify(&json, &b.node_id()),
            Err(RecallError::BadSignature(b.node_id()))
        );
        // Bolt cannot recall ACME's bundle, even signing it itself.
        assert!(matches!(
            Recall::verify(&recall.sign(&b), &b.node_id()),
            Err(RecallError::WrongSigner { .. })
        ));
        let mut empty = recall.clone();
        empty.reason = " ".into();
        assert!(Recall::verify(&empty.sign(&a), &a.node_id()).is_err());

        let receipt = RecallReceipt {
            v: 1,
            bundle_id: recall.bundle_id,
            recall_sha256: sha256_hex(&json),
            originator: a.node_id(),
            recipient: b.node_id(),
            received_at: Utc::now(),
            outcome: RecallOutcome::Withheld,
        };
        let signed = receipt.sign(&b);
        assert!(!is_recall(&signed));
        assert_eq!(
            RecallReceipt::verify(&signed, &b.node_id()).unwrap(),
            receipt
        );
        assert!(RecallReceipt::verify(&signed, &a.node_id()).is_err());
        // A recall is not a receipt, whatever its bytes.
        assert!(RecallReceipt::verify(&json, &a.node_id()).is_err());
    }
}
