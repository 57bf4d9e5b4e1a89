//! Signed delivery receipts (DESIGN §6).
//!
//! A receiving node answers every delivery with a receipt it signs: accepted,
//! or rejected with a reason. Negative receipts are final; the sender does
//! not retry them. Receipts name both the manifest (when the envelope could
//! be opened) and the exact ciphertext received, so a sender can match even
//! a rejection of bytes the receiver could not decrypt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dsse::{DsseError, Envelope};
use crate::envelope::OpenError;
use crate::identity::{NodeId, NodeKeys};

/// DSSE payload type of a receipt.
pub const RECEIPT_TYPE: &str = "application/vnd.liaison.receipt+json;v=1";

/// What a receiver states about one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Format version (1).
    pub v: u32,
    /// The bundle, when the envelope could be opened.
    pub bundle_id: Option<Uuid>,
    /// SHA-256 (hex) of the verified manifest bytes, when opened.
    pub manifest_sha256: Option<String>,
    /// SHA-256 (hex) of the ciphertext as received.
    pub envelope_sha256: String,
    /// The node that delivered it (the authenticated QUIC peer).
    pub sender: NodeId,
    /// The node that received it and signs this receipt.
    pub recipient: NodeId,
    /// When the receiver first recorded it.
    pub received_at: DateTime<Utc>,
    /// Accepted or rejected.
    pub outcome: Outcome,
}

/// The receiver's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Stored in the receiver's inbox.
    Accepted,
    /// Refused; final.
    Rejected {
        /// Machine-readable reason.
        reason: RejectReason,
        /// Human-readable detail (never key material).
        detail: String,
    },
}

impl Outcome {
    /// Whether the bundle was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted)
    }
}

/// Why a receiver refused a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not a well-formed envelope.
    Malformed,
    /// A format version the receiver does not read.
    UnsupportedVersion,
    /// The receiver holds no matching age identity.
    NotARecipient,
    /// The ciphertext was altered or truncated.
    Corrupted,
    /// Signed by a node the receiver has not pinned.
    UnknownOriginator,
    /// The signature does not verify.
    BadSignature,
    /// The manifest's sender is not the delivering peer.
    SenderMismatch,
    /// The receiver is not in the signed audience.
    NotInAudience,
    /// Content differs from the signed digest.
    ContentMismatch,
    /// Larger than the receiver accepts.
    TooLarge,
    /// The content failed validation.
    InvalidContent,
    /// The receiver's agreement does not allow it.
    PolicyDenied,
    /// The bundle's `not_after` has passed.
    Expired,
    /// The originator recalled the bundle before it arrived.
    Recalled,
    /// A re-shared bundle whose provenance does not verify or whose label
    /// forbids re-sharing.
    BadForward,
}

impl RejectReason {
    /// The snake_case code, as serialized.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::UnsupportedVersion => "unsupported_version",
            RejectReason::NotARecipient => "not_a_recipient",
            RejectReason::Corrupted => "corrupted",
            RejectReason::UnknownOriginator => "unknown_originator",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::SenderMismatch => "sender_mismatch",
            RejectReason::NotInAudience => "not_in_audience",
            RejectReason::ContentMismatch => "content_mismatch",
            RejectReason::TooLarge => "too_large",
            RejectReason::InvalidContent => "invalid_content",
            RejectReason::PolicyDenied => "policy_denied",
            RejectReason::Expired => "expired",
            RejectReason::Recalled => "recalled",
            RejectReason::BadForward => "bad_forward",
        }
    }
}

impl From<&OpenError> for RejectReason {
    fn from(e: &OpenError) -> Self {
        match e {
            OpenError::Malformed(_) | OpenError::Sink(_) => RejectReason::Malformed,
            OpenError::UnsupportedVersion(_) => RejectReason::UnsupportedVersion,
            OpenError::NotARecipient => RejectReason::NotARecipient,
            OpenError::Corrupted(_) => RejectReason::Corrupted,
            OpenError::UnknownOriginator { .. } => RejectReason::UnknownOriginator,
            OpenError::BadSignature(_) => RejectReason::BadSignature,
            OpenError::SenderMismatch { .. } => RejectReason::SenderMismatch,
            OpenError::NotInAudience(_) => RejectReason::NotInAudience,
            OpenError::ContentMismatch(_) => RejectReason::ContentMismatch,
            OpenError::TooLarge { .. } => RejectReason::TooLarge,
        }
    }
}

/// Why a receipt was not accepted by the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt envelope.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The signature does not verify under the expected node's key.
    #[error("receipt signature does not verify under the key of {0}")]
    BadSignature(NodeId),
    /// Signed by the right key but about something else.
    #[error("receipt does not match the delivery: {0}")]
    Mismatch(String),
}

/// A receipt with its DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    /// The verified receipt.
    pub receipt: Receipt,
    /// The signed bytes of the receipt.
    pub bytes: Vec<u8>,
    /// The DSSE envelope, as stored and shown to auditors.
    pub envelope: Envelope,
}

impl SignedReceipt {
    /// Sign a receipt with the receiving node's key.
    pub fn sign(keys: &NodeKeys, receipt: Receipt) -> SignedReceipt {
        let bytes = serde_json::to_vec(&receipt).unwrap_or_default();
        let envelope = Envelope::sign(
            RECEIPT_TYPE,
            &bytes,
            keys.signing_key(),
            &keys.node_id().to_string(),
        );
        SignedReceipt {
            receipt,
            bytes,
            envelope,
        }
    }

    /// Parse DSSE JSON and verify it was signed by `signer` and names it as
    /// the recipient.
    pub fn verify(json: &[u8], signer: &NodeId) -> Result<SignedReceipt, ReceiptError> {
        let envelope =
            Envelope::from_json(json).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        let bytes = envelope
            .verify(RECEIPT_TYPE, &signer.verifying_key())
            .map_err(|e| match e {
                DsseError::BadSignature => ReceiptError::BadSignature(*signer),
                other => ReceiptError::Malformed(other.to_string()),
            })?;
        let receipt: Receipt =
            serde_json::from_slice(&bytes).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        if receipt.v != 1 {
            return Err(ReceiptError::Malformed(format!(
                "receipt version {}",
                receipt.v
            )));
        }
        if receipt.recipient != *signer {
            return Err(ReceiptError::Mismatch(format!(
                "receipt names recipient {} but was signed by {signer}",
                receipt.recipient
            )));
        }
        Ok(SignedReceipt {
            receipt,
            bytes,
            envelope,
        })
    }

    /// Check that this receipt answers the delivery of `envelope_sha256`
    /// (bundle `bundle_id`) sent by `sender`.
    pub fn check_answers(
        &self,
        sender: &NodeId,
        bundle_id: Uuid,
        envelope_sha256: &str,
    ) -> Result<(), ReceiptError> {
        let r = &self.receipt;
        if r.sender != *sender {
            return Err(ReceiptError::Mismatch(format!(
                "receipt names sender {}, not {sender}",
                r.sender
            )));
        }
        let same_bundle = r.bundle_id == Some(bundle_id);
        let same_bytes = r.envelope_sha256 == envelope_sha256;
        // An accepted receipt must name the bundle; a rejection of bytes the
        // receiver could not open can only name the ciphertext.
        let ok = match r.outcome {
            Outcome::Accepted => same_bundle,
            Outcome::Rejected { .. } => same_bundle || same_bytes,
        };
        if !ok {
            return Err(ReceiptError::Mismatch(format!(
                "receipt is for bundle {:?} / envelope {}, expected bundle {bundle_id}",
                r.bundle_id, r.envelope_sha256
            )));
        }
        Ok(())
    }

    /// The DSSE JSON.
    pub fn to_json(&self) -> Vec<u8> {
        self.envelope.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(sender: &NodeKeys, recipient: &NodeKeys, outcome: Outcome) -> Receipt {
        Receipt {
            v: 1,
            bundle_id: Some(Uuid::from_u128(7)),
            manifest_sha256: Some("ab".repeat(32)),
            envelope_sha256: "cd".repeat(32),
            sender: sender.node_id(),
            recipient: recipient.node_id(),
            received_at: Utc::now(),
            outcome,
        }
    }

    #[test]
    fn sign_verify_and_match() {
        let (a, b) = (NodeKeys::generate().unwrap(), NodeKeys::generate().unwrap());
        let signed = SignedReceipt::sign(&b, receipt(&a, &b, Outcome::Accepted));
        let back = SignedReceipt::verify(&signed.to_json(), &b.node_id()).unwrap();
        assert_eq!(back.receipt, signed.receipt);
        back.check_answers(&a.node_id(), Uuid::from_u128(7), "x")
            .unwrap();
        assert!(back
            .check_answers(&a.node_id(), Uuid::from_u128(8), &"cd".repeat(32))
            .is_err());
        assert!(back
            .check_answers(&b.node_id(), Uuid::from_u128(7), "x")
            .is_err());
    }

    #[test]
    fn rejection_can_match_by_ciphertext_only() {
        let (a, b) = (NodeKeys::generate().unwrap(), NodeKeys::generate().unwrap());
        let mut r = receipt(
            &a,
            &b,
            Outcome::Rejected {
                reason: RejectReason::Corrupted,
                detail: "chunk failed".into(),
            },
        );
        r.bundle_id = None;
        r.manifest_sha256 = None;
        let signed = SignedReceipt::sign(&b, r);
        signed
            .check_answers(&a.node_id(), Uuid::from_u128(99), &"cd".repeat(32))
            .unwrap();
        let json = String::from_utf8(signed.bytes.clone()).unwrap();
        assert!(json.contains(r#""status":"rejected""#), "{json}");
        assert!(json.contains(r#""reason":"corrupted""#), "{json}");
    }

    #[test]
    fn wrong_signer_is_refused() {
        let (a, b, c) = (
            NodeKeys::generate().unwrap(),
            NodeKeys::generate().unwrap(),
            NodeKeys::generate().unwrap(),
        );
        let signed = SignedReceipt::sign(&c, receipt(&a, &b, Outcome::Accepted));
        assert!(matches!(
            SignedReceipt::verify(&signed.to_json(), &b.node_id()),
            Err(ReceiptError::BadSignature(_))
        ));
        // Signed by C but naming B as recipient: refused even under C's key.
        assert!(matches!(
            SignedReceipt::verify(&signed.to_json(), &c.node_id()),
            Err(ReceiptError::Mismatch(_))
        ));
    }
}
