//! The peer side of agreement negotiation (DESIGN §5): what this node does
//! with a signed agreement or notice another node sends it.
//!
//! | message | from | effect here |
//! | --- | --- | --- |
//! | agreement signed by the peer only | the proposer | stored as `proposed_by_peer` |
//! | agreement signed by both | the counterparty | our proposal comes into force |
//! | notice `decline` | the counterparty | our proposal is declined |
//! | notice `revoke` | either party | the version is revoked |
//! | acknowledgement | a recipient of our share | stored as its person's acknowledgement |
//! | recall | the originator of a bundle we hold | withheld (tombstone); answered with a signed recall receipt |
//!
//! Every message is verified (DSSE, both parties' keys are their node ids),
//! must come from the party it claims, and is ledgered with its effect.
//! Repeats (the sender retried after a lost acknowledgement) are
//! acknowledged again and change nothing.

use std::sync::Arc;

use liaison_core::ack;
use liaison_core::agreement::{
    message_type, AgreementState, Notice, NoticeAction, SignedAgreement, AGREEMENT_TYPE,
    NOTICE_TYPE,
};
use liaison_core::identity::{NodeId, NodeKeys};
use liaison_core::ledger::kinds;
use liaison_core::recall;
use liaison_store::{AgreementRecord, Event, NewAck, Store};
use serde_json::json;

use crate::receiver::{MessageHandler, MessageRefusal};

/// Answers agreement messages from pinned peers.
pub struct AgreementDesk {
    store: Arc<dyn Store>,
    me: NodeId,
    /// To sign recall receipts; without keys, recalls are refused.
    keys: Option<Arc<NodeKeys>>,
}

impl AgreementDesk {
    /// A desk for node `me` over `store` (recalls are refused: it cannot
    /// sign their receipts).
    pub fn new(store: Arc<dyn Store>, me: NodeId) -> AgreementDesk {
        AgreementDesk {
            store,
            me,
            keys: None,
        }
    }

    /// A desk for the node holding `keys`, answering recalls too.
    pub fn with_keys(store: Arc<dyn Store>, keys: Arc<NodeKeys>) -> AgreementDesk {
        AgreementDesk {
            store,
            me: keys.node_id(),
            keys: Some(keys),
        }
    }

    fn agreement(&self, peer: NodeId, body: &[u8]) -> Result<&'static str, MessageRefusal> {
        let signed =
            SignedAgreement::from_json(body).map_err(|e| refusal("invalid_agreement", e))?;
        let a = &signed.agreement;
        if !a.is_party(&self.me) {
            return Err(refusal(
                "not_a_party",
                format!(
                    "this node ({}) is not a party to agreement {}",
                    self.me, a.id
                ),
            ));
        }
        if !a.is_party(&peer) || !signed.signed_by.contains(&peer) {
            return Err(refusal(
                "not_signed_by_sender",
                format!(
                    "agreement {} v{} is not signed by the node sending it",
                    a.id, a.version
                ),
            ));
        }
        let existing = self.store.agreement(a.id, a.version).map_err(unavailable)?;
        if signed.is_countersigned() {
            return self.countersigned(peer, &signed, existing);
        }
        // A proposal: signed by the proposer alone.
        if a.proposer().map(|p| p.node_id) != Some(peer) {
            return Err(refusal(
                "not_the_proposer",
                "a proposal must be signed by its proposer (the first party)",
            ));
        }
        if let Some(rec) = existing {
            return if rec.sha256 == signed.sha256() && rec.state == AgreementState::ProposedByPeer {
                Ok("proposed_by_peer")
            } else {
                Err(refusal(
                    "version_exists",
                    format!(
                        "agreement {} v{} already exists here ({}); propose a newer version",
                        a.id, a.version, rec.state
                    ),
                ))
            };
        }
        if let Some(latest) = self.store.latest_agreement(a.id).map_err(unavailable)? {
            if latest.version >= a.version {
                return Err(refusal(
                    "stale_version",
                    format!(
                        "agreement {} is at version {} here; a proposal must be newer than v{}",
                        a.id, latest.version, a.version
                    ),
                ));
            }
        }
        let event = Event {
            kind: kinds::AGREEMENT_RECEIVED,
            actor: format!("peer:{peer}"),
            body: json!({
                "agreement_id": a.id,
                "version": a.version,
                "peer": peer.to_string(),
                "sha256": signed.sha256(),
                "valid_from": a.valid_from,
                "valid_until": a.valid_until,
            }),
        };
        let rec = AgreementRecord::of(&signed, peer, AgreementState::ProposedByPeer, None);
        self.store
            .save_agreement(&rec, &event, None)
            .map_err(unavailable)?;
        tracing::info!(%peer, agreement = %a.id, version = a.version, "agreement proposal received");
        Ok("proposed_by_peer")
    }

    fn countersigned(
        &self,
        peer: NodeId,
        signed: &SignedAgreement,
        existing: Option<AgreementRecord>,
    ) -> Result<&'static str, MessageRefusal> {
        let a = &signed.agreement;
        let Some(rec) = existing else {
            return Err(refusal(
                "unknown_agreement",
                format!("this node never proposed agreement {} v{}", a.id, a.version),
            ));
        };
        if rec.sha256 != signed.sha256() {
            return Err(refusal(
                "different_agreement",
                format!(
                    "the countersigned agreement {} v{} differs from the one proposed here",
                    a.id, a.version
                ),
            ));
        }
        match rec.state {
            AgreementState::InForce => return Ok("in_force"),
            AgreementState::ProposedByUs => {}
            other => {
                return Err(refusal(
                    "not_pending",
                    format!("agreement {} v{} is {other} here", a.id, a.version),
                ))
            }
        }
        let event = Event {
            kind: kinds::AGREEMENT_IN_FORCE,
            actor: format!("peer:{peer}"),
            body: json!({
                "agreement_id": a.id,
                "version": a.version,
                "peer": peer.to_string(),
                "sha256": signed.sha256(),
                "countersigned_by": peer.to_string(),
            }),
        };
        let rec = AgreementRecord::of(signed, peer, AgreementState::InForce, None);
        self.store
            .save_agreement(&rec, &event, None)
            .map_err(unavailable)?;
        tracing::info!(%peer, agreement = %a.id, version = a.version, "agreement countersigned: in force");
        Ok("in_force")
    }

    fn notice(&self, peer: NodeId, body: &[u8]) -> Result<&'static str, MessageRefusal> {
        let notice = Notice::verify(body, &peer).map_err(|e| refusal("invalid_notice", e))?;
        let Some(mut rec) = self
            .store
            .agreement(notice.agreement_id, notice.version)
            .map_err(unavailable)?
        else {
            return Err(refusal(
                "unknown_agreement",
                format!(
                    "no agreement {} v{} here",
                    notice.agreement_id, notice.version
                ),
            ));
        };
        if rec.peer != peer || rec.sha256 != notice.agreement_sha256 {
            return Err(refusal(
                "different_agreement",
                "the notice names an agreement this node holds with another peer or other terms",
            ));
        }
        let (state, kind) = match notice.action {
            NoticeAction::Decline => (AgreementState::Declined, kinds::AGREEMENT_DECLINED),
            NoticeAction::Revoke => (AgreementState::Revoked, kinds::AGREEMENT_REVOKED),
        };
        if rec.state == state {
            return Ok(state.as_str());
        }
        let allowed = match notice.action {
            NoticeAction::Decline => rec.state == AgreementState::ProposedByUs,
            NoticeAction::Revoke => matches!(
                rec.state,
                AgreementState::InForce
                    | AgreementState::ProposedByUs
                    | AgreementState::ProposedByPeer
            ),
        };
        if !allowed {
            return Err(refusal(
                "not_applicable",
                format!(
                    "agreement {} v{} is {} here",
                    notice.agreement_id, notice.version, rec.state
                ),
            ));
        }
        rec.state = state;
        rec.notice = Some(body.to_vec());
        let event = Event {
            kind,
            actor: format!("peer:{peer}"),
            body: json!({
                "agreement_id": notice.agreement_id,
                "version": notice.version,
                "peer": peer.to_string(),
                "sha256": notice.agreement_sha256,
                "by": peer.to_string(),
                "reason": notice.reason,
                "at": notice.at,
            }),
        };
        self.store
            .save_agreement(&rec, &event, None)
            .map_err(unavailable)?;
        tracing::info!(%peer, agreement = %notice.agreement_id, version = notice.version, state = %state, "agreement notice received");
        Ok(state.as_str())
    }
}

impl MessageHandler for AgreementDesk {
    fn handle_message(&self, peer: NodeId, body: &[u8]) -> Result<Vec<u8>, MessageRefusal> {
        if ack::is_ack(body) {
            return self.acknowledgement(peer, body);
        }
        if recall::is_recall(body) {
            return match &self.keys {
                Some(keys) => crate::recalls::handle(&self.store, keys, peer, body),
                None => Err(refusal(
                    "unsupported_message",
                    "this node does not take recalls",
                )),
            };
        }
        let state = match message_type(body) {
            Some(AGREEMENT_TYPE) => self.agreement(peer, body)?,
            Some(NOTICE_TYPE) => self.notice(peer, body)?,
            _ => {
                return Err(refusal(
                    "unsupported_message",
                    "not a signed agreement or agreement notice",
                ))
            }
        };
        Ok(json!({ "state": state }).to_string().into_bytes())
    }
}

impl AgreementDesk {
    /// A recipient's person acknowledged one of our shares.
    fn acknowledgement(&self, peer: NodeId, body: &[u8]) -> Result<Vec<u8>, MessageRefusal> {
        let a = ack::verify(body, &peer).map_err(|e| refusal("invalid_ack", e))?;
        if a.originator != self.me {
            return Err(refusal(
                "not_the_originator",
                format!("bundle {} was not sent by this node", a.bundle_id),
            ));
        }
        let record = NewAck {
            bundle_id: a.bundle_id,
            peer,
            by: a.by.clone(),
            comment: a.comment.clone(),
            at: a.at,
            signed_json: body.to_vec(),
        };
        let event = Event {
            kind: kinds::SHARE_ACKNOWLEDGED,
            actor: format!("peer:{peer}"),
            body: json!({
                "share_id": a.bundle_id,
                "peer": peer.to_string(),
                "by": a.by,
                "comment": a.comment,
                "acknowledged_at": a.at,
                "manifest_sha256": a.manifest_sha256,
            }),
        };
        match self.store.store_peer_ack(&record, &event) {
            Ok(_) => Ok(json!({ "state": "acknowledged" }).to_string().into_bytes()),
            Err(liaison_store::StoreError::NotFound(m)) => Err(refusal("unknown_bundle", m)),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// A refusal of a message: its code and what is wrong.
pub(crate) fn refusal(code: &str, message: impl ToString) -> MessageRefusal {
    MessageRefusal {
        code: code.to_string(),
        message: message.to_string(),
    }
}

/// A local store failure: the sender retries later.
pub(crate) fn unavailable(e: liaison_store::StoreError) -> MessageRefusal {
    tracing::error!(error = %e, "cannot record a peer's message");
    refusal(
        "unavailable",
        "the receiving node cannot store it now; retry later",
    )
}
