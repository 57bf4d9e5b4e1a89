//! Re-sharing a received bundle (DESIGN §4.5, TLP 2.0 rules).
//!
//! Only TLP:CLEAR and TLP:GREEN may ever go beyond the signed audience, and
//! only where the originator's agreement with the forwarder allows it. A
//! forward is a new bundle signed by the forwarder, for its own audience,
//! that carries the originator's signed manifest unchanged
//! (`forwarded_from`) and the originator's content byte for byte, so that the
//! final recipient can verify both signatures. A bare re-encryption of the
//! original would fail the audience check instead (surreptitious
//! forwarding).
//!
//! [`reshare_reasons`] is the forwarder's policy; [`verify_forward`] is what
//! a recipient checks.

use chrono::{DateTime, Utc};

use crate::agreement::AgreementState;
use crate::dsse::{DsseError, Envelope};
use crate::identity::NodeId;
use crate::manifest::{sha256_hex, Forwarded, Manifest, MANIFEST_TYPE};
use crate::policy::{Reason, ReasonCode, Standing};
use crate::tlp::Tlp;

/// Why a forwarded bundle is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    /// The embedded original manifest is not a valid signed manifest.
    #[error("the forwarded original is malformed: {0}")]
    Malformed(String),
    /// The originator's signature does not verify.
    #[error("the originator's signature on the forwarded manifest does not verify")]
    BadSignature,
    /// The forward does not match the original it names.
    #[error("the forward does not match its original: {0}")]
    Mismatch(String),
    /// The original's label does not allow re-sharing.
    #[error("{0} never goes beyond its signed audience: it cannot be re-shared")]
    TlpForbids(Tlp),
    /// A forward of a forward (only the originator's bundle may be re-shared).
    #[error("a re-shared bundle cannot be re-shared again")]
    Chained,
}

/// The provenance to embed when forwarding the bundle whose signed manifest
/// is `original` (as verified on receipt).
pub fn provenance(original: &Manifest, manifest_bytes: &[u8], envelope: &Envelope) -> Forwarded {
    Forwarded {
        bundle_id: original.bundle_id,
        manifest_sha256: sha256_hex(manifest_bytes),
        envelope: envelope.clone(),
    }
}

/// Verify a forwarded bundle's provenance: the originator's signature (its
/// node id is its key, so it need not be pinned here), that the original
/// named the forwarder in its audience, that the content is the original's
/// byte for byte, and that the original's label allowed re-sharing.
/// Returns the original manifest.
pub fn verify_forward(forward: &Manifest) -> Result<Manifest, ForwardError> {
    let Some(from) = &forward.forwarded_from else {
        return Err(ForwardError::Malformed("no `forwarded_from`".into()));
    };
    let claimed = from
        .envelope
        .unverified_payload()
        .map_err(|e| ForwardError::Malformed(e.to_string()))?;
    let claimed: Manifest =
        serde_json::from_slice(&claimed).map_err(|e| ForwardError::Malformed(e.to_string()))?;
    // Only the signature decides; parse again what it covers.
    let bytes = match from
        .envelope
        .verify(MANIFEST_TYPE, &claimed.sender.node_id.verifying_key())
    {
        Ok(bytes) => bytes,
        Err(DsseError::BadSignature) => return Err(ForwardError::BadSignature),
        Err(e) => return Err(ForwardError::Malformed(e.to_string())),
    };
    let original: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| ForwardError::Malformed(e.to_string()))?;
    if original.sender.node_id != claimed.sender.node_id {
        return Err(ForwardError::BadSignature);
    }
    if sha256_hex(&bytes) != from.manifest_sha256 || original.bundle_id != from.bundle_id {
        return Err(ForwardError::Mismatch(
            "`forwarded_from` names another bundle".into(),
        ));
    }
    if original.forwarded_from.is_some() {
        return Err(ForwardError::Chained);
    }
    if original.tlp > Tlp::Green {
        return Err(ForwardError::TlpForbids(original.tlp));
    }
    if !original
        .recipients
        .iter()
        .any(|r| r.node_id == forward.sender.node_id)
    {
        return Err(ForwardError::Mismatch(format!(
            "the forwarder {} was not in the original's audience",
            forward.sender.node_id
        )));
    }
    if original.content != forward.content || original.kind != forward.kind {
        return Err(ForwardError::Mismatch(
            "the content is not the original's, byte for byte".into(),
        ));
    }
    if forward.tlp < original.tlp {
        return Err(ForwardError::Mismatch(format!(
            "the forward is labelled {} but the original {}",
            forward.tlp, original.tlp
        )));
    }
    Ok(original)
}

/// The forwarder's policy: may the bundle `original`, received by `me`
/// from its originator (named `originator` here), be re-shared to `to`?
/// `standing` is the agreement with the originator; its originator → `me`
/// terms decide. Every reason, or none.
pub fn reshare_reasons(
    original: &Manifest,
    me: &NodeId,
    originator: &str,
    standing: Option<Standing<'_>>,
    to: &NodeId,
    to_name: &str,
    now: DateTime<Utc>,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let mut push = |message: String| {
        reasons.push(Reason {
            code: ReasonCode::ReshareNotAllowed,
            message,
        })
    };
    if original.forwarded_from.is_some() {
        push("only the originator's bundle may be re-shared, not a re-share".into());
    }
    if original.tlp > Tlp::Green {
        push(format!(
            "{} never goes beyond its signed audience: it cannot be re-shared",
            original.tlp
        ));
    }
    let in_force =
        standing.filter(|s| s.state == AgreementState::InForce && s.agreement.is_valid_at(now));
    let Some(s) = in_force else {
        push(format!(
            "no agreement with the originator `{originator}` is in force to allow re-sharing"
        ));
        return reasons;
    };
    let v = s.agreement.version;
    match s.agreement.flow(&original.sender.node_id, me) {
        Some(t) if t.reshare.allowed => {
            if original.tlp > t.reshare.max_tlp {
                push(format!(
                    "agreement v{v} with `{originator}` allows re-sharing up to {}, not {}",
                    t.reshare.max_tlp, original.tlp
                ));
            }
            if !t.reshare.to.is_empty() && !t.reshare.to.contains(to) {
                push(format!(
                    "`{to_name}` is not among the nodes agreement v{v} with `{originator}` lets its content be re-shared to"
                ));
            }
        }
        _ => push(format!(
            "agreement v{v} with `{originator}` does not allow re-sharing its content"
        )),
    }
    reasons
}

#[cfg(test)]
mod tests;
