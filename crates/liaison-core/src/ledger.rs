//! Ledger entries and their RFC 9162 leaf hashes (DESIGN §7).
//!
//! An entry's canonical bytes are compact JSON with sorted keys; the store
//! keeps those exact bytes, and the leaf hash is `SHA-256(0x00 || bytes)`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Event kinds written to the ledger.
pub mod kinds {
    /// The node home was created.
    pub const NODE_INITIALIZED: &str = "node.initialized";
    /// A peer's identity card was pinned.
    pub const PEER_ADDED: &str = "peer.added";
    /// A peer was unpinned.
    pub const PEER_REMOVED: &str = "peer.removed";
    /// A connection from an unpinned node was refused.
    pub const PEER_REFUSED: &str = "peer.refused";
    /// An incident was opened (body: the whole incident record).
    pub const INCIDENT_OPENED: &str = "incident.opened";
    /// A notification deadline of an incident passed unmet and was escalated.
    pub const INCIDENT_ESCALATED: &str = "incident.escalated";
    /// An incident was closed.
    pub const INCIDENT_CLOSED: &str = "incident.closed";
    /// A joint action or decision of an incident got a new revision, made
    /// here or merged from a peer's joint log (body: the whole item).
    pub const INCIDENT_ITEM_UPDATED: &str = "incident.item_updated";
    /// Another node's incident was filed here, from the first joint log it
    /// shared.
    pub const INCIDENT_JOINED: &str = "incident.joined";
    /// A share was recalled: a signed recall queued to every recipient
    /// (body: share id, reason, who, recipients, the recall's SHA-256).
    pub const SHARE_RECALLED: &str = "share.recalled";
    /// A recipient's signed receipt of a recall arrived (body: share id,
    /// peer, outcome, when the recipient recorded it).
    pub const RECALL_RECEIPT_STORED: &str = "recall.receipt_stored";
    /// The originator recalled a received bundle: its content is withheld
    /// (or purged) and only its hashes remain (the tombstone).
    pub const INBOUND_RECALLED: &str = "inbound.recalled";
    /// A recipient's signed acknowledgement (a person read it) arrived.
    pub const SHARE_ACKNOWLEDGED: &str = "share.acknowledged";
    /// A person at this node acknowledged a received bundle.
    pub const INBOX_ACKNOWLEDGED: &str = "inbox.acknowledged";
    /// A peer's tier or incident-response roster changed.
    pub const PEER_ROSTER_UPDATED: &str = "peer.roster_updated";
    /// A contact-path check got a valid signed pong (body: round trip).
    pub const PEER_CONTACT_VERIFIED: &str = "peer.contact_verified";
    /// A contact-path check failed after the path had worked (or was
    /// never checked); repeated failures are not ledgered again.
    pub const PEER_CONTACT_FAILED: &str = "peer.contact_failed";
    /// A share was sealed and queued for delivery; its body names the
    /// agreement per recipient, the policy decision and what redaction
    /// removed (rule names and counts, never values).
    pub const SHARE_RELEASED: &str = "share.released";
    /// A received CLEAR/GREEN bundle was re-shared (a new bundle carrying
    /// the originator's signed manifest), sealed and queued.
    pub const SHARE_FORWARDED: &str = "share.forwarded";
    /// A share was refused before sealing.
    pub const SHARE_REFUSED: &str = "share.refused";
    /// A delivery attempt failed and will be retried.
    pub const DELIVERY_RETRY: &str = "delivery.retry";
    /// A peer's signed receipt was verified and stored.
    pub const RECEIPT_STORED: &str = "receipt.stored";
    /// An inbound bundle was accepted into the inbox.
    pub const INBOUND_ACCEPTED: &str = "inbound.accepted";
    /// An inbound delivery was refused with a negative receipt.
    pub const INBOUND_REJECTED: &str = "inbound.rejected";
    /// A local user or token was created.
    pub const USER_ADDED: &str = "user.added";
    /// A user's token was revoked (body: user id, name, role).
    pub const USER_REVOKED: &str = "user.revoked";
    /// This node signed and sent an agreement proposal.
    pub const AGREEMENT_PROPOSED: &str = "agreement.proposed";
    /// A peer's signed agreement proposal arrived.
    pub const AGREEMENT_RECEIVED: &str = "agreement.received";
    /// An agreement was countersigned and is in force (validity window aside).
    pub const AGREEMENT_IN_FORCE: &str = "agreement.in_force";
    /// An agreement proposal was declined (by either side).
    pub const AGREEMENT_DECLINED: &str = "agreement.declined";
    /// An agreement was revoked (by either side).
    pub const AGREEMENT_REVOKED: &str = "agreement.revoked";
    /// An approver approved the release of a share (not its drafter).
    pub const SHARE_APPROVED: &str = "share.approved";
    /// An approver rejected the release of a share (final).
    pub const SHARE_REJECTED: &str = "share.rejected";
    /// A share passed policy but waits for release approvals (not sealed).
    pub const SHARE_AWAITING_APPROVAL: &str = "share.awaiting_approval";
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Sequence number, from 0, without gaps.
    pub seq: u64,
    /// When it was appended (RFC 3339, microseconds, UTC).
    pub time: String,
    /// Event kind (see [`kinds`]).
    pub kind: String,
    /// Who caused it: a user id, `peer:<node id>` or `node`.
    pub actor: String,
    /// Event details.
    pub body: serde_json::Value,
}

impl Entry {
    /// Build an entry.
    pub fn new(
        seq: u64,
        time: DateTime<Utc>,
        kind: &str,
        actor: &str,
        body: serde_json::Value,
    ) -> Entry {
        Entry {
            seq,
            time: time.to_rfc3339_opts(SecondsFormat::Micros, true),
            kind: kind.to_string(),
            actor: actor.to_string(),
            body,
        }
    }

    /// The canonical bytes: compact JSON, keys sorted (serde_json's map is
    /// ordered), so the same entry always encodes the same way.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).unwrap_or_default();
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Parse canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// RFC 9162 leaf hash: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry_bytes: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(entry_bytes)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn canonical_bytes_are_stable_and_sorted() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let e = Entry::new(
            3,
            t,
            kinds::PEER_ADDED,
            "admin",
            serde_json::json!({"z": 1, "a": 2}),
        );
        let bytes = e.to_bytes();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"actor":"admin","body":{"a":2,"z":1},"kind":"peer.added","seq":3,"time":"2026-11-22T10:00:00.000000Z"}"#
        );
        assert_eq!(Entry::from_bytes(&bytes).unwrap(), e);
    }

    #[test]
    fn leaf_hash_has_domain_separation() {
        // SHA-256(0x00) for the empty entry, per RFC 9162.
        assert_eq!(
            data_encoding::HEXLOWER.encode(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_ne!(leaf_hash(b"a"), <[u8; 32]>::from(Sha256::digest(b"a")));
    }
}
