//! Human acknowledgements: a person at the recipient read the bundle.
//!
//! A receipt says the recipient's *node* stored a bundle; an
//! acknowledgement says a *person* there read it (two-way engagement in
//! incident coordination, NIST SP 800-53 IR-4(10)). It is signed by the
//! recipient node's key and travels back to the originator as a signed
//! message, with store-and-forward.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dsse::{DsseError, Envelope};
use crate::identity::{NodeId, NodeKeys};

/// DSSE payload type of an acknowledgement.
pub const ACK_TYPE: &str = "application/vnd.liaison.ack+json;v=1";

/// An acknowledgement of one received bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// Format version (1).
    pub v: u32,
    /// The bundle acknowledged.
    pub bundle_id: Uuid,
    /// SHA-256 of its signed manifest, as received.
    pub manifest_sha256: String,
    /// The node that sent the bundle.
    pub originator: NodeId,
    /// The acknowledging node (the signer).
    pub recipient: NodeId,
    /// Who acknowledged (a user name at the recipient).
    pub by: String,
    /// What they said.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Not an acknowledgement envelope.
    #[error("malformed acknowledgement: {0}")]
    Malformed(String),
    /// The signature does not verify under the sender's key.
    #[error("acknowledgement signature does not verify under the key of {0}")]
    BadSignature(NodeId),
    /// Signed by one node, naming another as the recipient.
    #[error("acknowledgement names recipient {named} but was signed by {signer}")]
    WrongRecipient {
        /// The node named.
        named: NodeId,
        /// The node that signed.
        signer: NodeId,
    },
}

/// Sign `ack` with the recipient node's key: DSSE JSON.
pub fn sign(keys: &NodeKeys, ack: &Acknowledgement) -> Vec<u8> {
    let bytes = serde_json::to_vec(ack).unwrap_or_default();
    Envelope::sign(
        ACK_TYPE,
        &bytes,
        keys.signing_key(),
        &keys.node_id().to_string(),
    )
    .to_json()
}

/// Verify DSSE JSON signed by `signer`, naming it as the recipient.
pub fn verify(json: &[u8], signer: &NodeId) -> Result<Acknowledgement, AckError> {
    let env = Envelope::from_json(json).map_err(|e| AckError::Malformed(e.to_string()))?;
    let bytes = env
        .verify(ACK_TYPE, &signer.verifying_key())
        .map_err(|e| match e {
            DsseError::BadSignature => AckError::BadSignature(*signer),
            other => AckError::Malformed(other.to_string()),
        })?;
    let ack: Acknowledgement =
        serde_json::from_slice(&bytes).map_err(|e| AckError::Malformed(e.to_string()))?;
    if ack.v != 1 {
        return Err(AckError::Malformed(format!("version {}", ack.v)));
    }
    if ack.recipient != *signer {
        return Err(AckError::WrongRecipient {
            named: ack.recipient,
            signer: *signer,
        });
    }
    Ok(ack)
}

/// Whether DSSE JSON carries an acknowledgement (by payload type).
pub fn is_ack(json: &[u8]) -> bool {
    Envelope::from_json(json).is_ok_and(|e| e.payload_type == ACK_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(recipient: &NodeKeys, originator: &NodeKeys) -> Acknowledgement {
        Acknowledgement {
            v: 1,
            bundle_id: Uuid::new_v4(),
            manifest_sha256: "ab".repeat(32),
            originator: originator.node_id(),
            recipient: recipient.node_id(),
            by: "bea".into(),
            comment: "patching now".into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn signed_acknowledgements_verify_under_the_recipient_only() {
        let (b, a, m) = (
            NodeKeys::generate().unwrap(),
            NodeKeys::generate().unwrap(),
            NodeKeys::generate().unwrap(),
        );
        let x = ack(&b, &a);
        let json = sign(&b, &x);
        assert!(is_ack(&json));
        assert_eq!(verify(&json, &b.node_id()).unwrap(), x);
        assert_eq!(
            verify(&json, &m.node_id()),
            Err(AckError::BadSignature(m.node_id()))
        );
        // Signed by Mallory, naming Bolt: refused even under Mallory's key.
        let forged = sign(&m, &x);
        assert!(matches!(
            verify(&forged, &m.node_id()),
            Err(AckError::WrongRecipient { .. })
        ));
    }

    #[test]
    fn tampered_or_foreign_envelopes_are_refused() {
        let (b, a) = (NodeKeys::generate().unwrap(), NodeKeys::generate().unwrap());
        let json = sign(&b, &ack(&b, &a));
        let mut env = Envelope::from_json(&json).unwrap();
        env.payload_type = "application/vnd.liaison.receipt+json;v=1".into();
        assert!(verify(&env.to_json(), &b.node_id()).is_err());
        assert!(!is_ack(&env.to_json()));
        let text = String::from_utf8(json)
            .unwrap()
            .replace("\"payload\":\"", "\"payload\":\"AA");
        assert!(verify(text.as_bytes(), &b.node_id()).is_err());
        assert!(verify(b"{}", &b.node_id()).is_err());
    }
}
