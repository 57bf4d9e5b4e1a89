//! Recalls over the message channel (`liaison_core::recall`).
//!
//! At a recipient: a recall signed by the bundle's originator withholds the
//! bundle (tombstone, or purge when the agreement says so) and is answered
//! with a signed recall receipt, carried back in the `MessageAck`. At the
//! originator: the message worker verifies that receipt and stores it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use liaison_core::agreement::SignedAgreement;
use liaison_core::identity::{NodeId, NodeKeys};
use liaison_core::manifest::sha256_hex;
use liaison_core::recall::{Recall, RecallOutcome, RecallReceipt};
use liaison_store::{NewRecallIn, Store, StoreError};

use crate::agreements::{refusal, unavailable};
use crate::receiver::MessageRefusal;

/// Handle a recall from `peer`; the signed receipt is the answer.
pub(crate) fn handle(
    store: &Arc<dyn Store>,
    keys: &NodeKeys,
    peer: NodeId,
    body: &[u8],
) -> Result<Vec<u8>, MessageRefusal> {
    let recall = Recall::verify(body, &peer).map_err(|e| refusal("invalid_recall", e))?;
    // Purge only where this node's agreement with the originator says so.
    let purge = match store.agreement_standing(&peer) {
        Ok(Some(rec)) => SignedAgreement::from_stored(&rec.document)
            .ok()
            .and_then(|s| {
                s.agreement
                    .flow(&peer, &keys.node_id())
                    .map(|t| t.handling.purge_on_recall)
            })
            .unwrap_or(false),
        Ok(None) => false,
        Err(e) => return Err(unavailable(e)),
    };
    let me = keys.node_id();
    let recall_sha256 = sha256_hex(body);
    let sign = |outcome: RecallOutcome, at: DateTime<Utc>| {
        RecallReceipt {
            v: 1,
            bundle_id: recall.bundle_id,
            recall_sha256: recall_sha256.clone(),
            originator: peer,
            recipient: me,
            received_at: at,
            outcome,
        }
        .sign(keys)
    };
    let new = NewRecallIn {
        bundle_id: recall.bundle_id,
        sender: peer,
        reason: recall.reason.clone(),
        recalled_at: recall.at,
        recall_json: body.to_vec(),
        purge,
    };
    match store.recall_inbound(&new, &sign) {
        Ok((outcome, receipt)) => {
            tracing::info!(%peer, bundle = %recall.bundle_id, outcome = outcome.as_str(), "bundle recalled by its originator");
            Ok(receipt)
        }
        Err(StoreError::Conflict(m)) => Err(refusal("not_the_originator", m)),
        Err(e) => Err(unavailable(e)),
    }
}

/// At the originator: the recipient's answer to recall message
/// `message_id`. Verified and stored, or an error saying why not.
pub(crate) fn store_receipt(
    store: &dyn Store,
    message_id: i64,
    peer: NodeId,
    recall_json: &[u8],
    answer: &[u8],
) -> Result<RecallOutcome, String> {
    let receipt = RecallReceipt::verify(answer, &peer).map_err(|e| e.to_string())?;
    let recall = Recall::verify(recall_json, &receipt.originator).map_err(|e| e.to_string())?;
    if receipt.bundle_id != recall.bundle_id || receipt.recall_sha256 != sha256_hex(recall_json) {
        return Err("the recall receipt names another recall".into());
    }
    store
        .store_recall_receipt(
            message_id,
            recall.bundle_id,
            &peer,
            answer,
            receipt.received_at,
            receipt.outcome,
        )
        .map_err(|e| e.to_string())?;
    Ok(receipt.outcome)
}
