//! The values the store takes and returns.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use liaison_core::{Kind, Tlp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A ledger event to append, in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Event kind, one of [`liaison_core::ledger::kinds`].
    pub kind: &'static str,
    /// Who caused it: a user id, `peer:<node id>` or `node`.
    pub actor: String,
    /// Event details. Never secrets (tokens, keys) nor shared content.
    pub body: serde_json::Value,
}

/// One stored ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// Sequence number, from 0, without gaps.
    pub seq: u64,
    /// When it was appended (RFC 3339, microseconds, UTC).
    pub time: String,
    /// Event kind.
    pub kind: String,
    /// Who caused it.
    pub actor: String,
    /// Event details.
    pub body: serde_json::Value,
    /// The canonical bytes of the [`liaison_core::ledger::Entry`].
    pub entry: Vec<u8>,
    /// `liaison_core::ledger::leaf_hash(&entry)`.
    pub leaf_hash: [u8; 32],
}

impl LedgerRow {
    /// This entry as the coordination functions read it; `None` when its
    /// time does not parse (`ledger verify` names such an entry).
    pub fn fact(&self) -> Option<liaison_core::coordination::Fact> {
        let at = DateTime::parse_from_rfc3339(&self.time)
            .ok()?
            .with_timezone(&Utc);
        Some(liaison_core::coordination::Fact {
            seq: self.seq,
            at,
            kind: self.kind.clone(),
            actor: self.actor.clone(),
            body: self.body.clone(),
        })
    }
}

/// A local user's role (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages peers, agreements, users and keys.
    Admin,
    /// Drafts shares and reads the inbox.
    Analyst,
    /// Approves or rejects shares awaiting approval.
    Approver,
    /// Reads, verifies and exports the ledger.
    Auditor,
}

/// A string that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role: expected one of admin, analyst, approver, auditor")]
pub struct ParseRoleError(pub String);

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Analyst, Role::Approver, Role::Auditor];

    /// The lower-case name, e.g. `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseRoleError;

    /// The lower-case name, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseRoleError(s.to_string()))
    }
}

/// A local API user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id (a UUID string); used as the ledger actor.
    pub id: String,
    /// Unique login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When its token was revoked (it then authenticates nothing).
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A pinned peer node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Local, unique name for the peer.
    pub name: String,
    /// The peer's node id (its Ed25519 public key).
    pub node_id: NodeId,
    /// Organization named on its card.
    pub org: String,
    /// The signed identity card, as pinned (`SignedCard::to_json`).
    pub card_json: String,
    /// QUIC endpoints (`host:port`).
    pub endpoints: Vec<String>,
    /// The age recipient (`age1…`) to encrypt to.
    pub age_recipient: String,
    /// Trust tier (1 = closest).
    pub tier: u8,
    /// When it was pinned.
    pub added_at: DateTime<Utc>,
    /// Last authenticated contact, if any.
    pub last_contact: Option<DateTime<Utc>>,
}

/// A human acknowledgement to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAck {
    /// The bundle acknowledged.
    pub bundle_id: Uuid,
    /// The acknowledging node (this node for one sent, the peer for one received).
    pub peer: NodeId,
    /// Who acknowledged (user name at that node).
    pub by: String,
    /// What they said.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The signed acknowledgement (DSSE JSON).
    pub signed_json: Vec<u8>,
}

/// A stored acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRecord {
    /// The bundle acknowledged.
    pub bundle_id: Uuid,
    /// The acknowledging node.
    pub peer: NodeId,
    /// Who acknowledged.
    pub by: String,
    /// What they said.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The signed acknowledgement (DSSE JSON).
    pub signed_json: Vec<u8>,
    /// Its ledger entry here.
    pub ledger_seq: u64,
}

/// An incident to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    /// Its id.
    pub id: Uuid,
    /// A short title.
    pub title: String,
    /// How bad it is (sets the notification deadlines).
    pub severity: liaison_core::incident::Severity,
    /// Whether it is a supply-chain event (IR-4(10)).
    pub supply_chain: bool,
    /// What made it one.
    pub trigger: Option<liaison_core::incident::Trigger>,
    /// An exercise, not a real incident.
    pub exercise: bool,
    /// The implicated peers.
    pub peers: Vec<NodeId>,
    /// The implicated packages or products and versions.
    pub dependencies: Vec<liaison_core::incident::Dependency>,
    /// The user id opening it.
    pub opened_by: String,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Its id.
    pub id: Uuid,
    /// A short title.
    pub title: String,
    /// How bad it is.
    pub severity: liaison_core::incident::Severity,
    /// Whether it is a supply-chain event.
    pub supply_chain: bool,
    /// What made it one.
    pub trigger: Option<liaison_core::incident::Trigger>,
    /// An exercise, not a real incident.
    pub exercise: bool,
    /// The implicated peers.
    pub peers: Vec<NodeId>,
    /// The implicated dependencies.
    pub dependencies: Vec<liaison_core::incident::Dependency>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// The user id that opened it.
    pub opened_by: String,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The `incident.opened` ledger entry.
    pub ledger_seq: u64,
    /// The shares linked to it, in the order they were drafted.
    pub shares: Vec<Uuid>,
    /// The node that opened it, when that is another node (this one takes
    /// part through the joint log it shared); `None`: opened here.
    pub origin: Option<NodeId>,
}

/// An escalation webhook waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    /// Outbox row id.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// The JSON body to POST.
    pub payload: serde_json::Value,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A pinned peer's incident-response roster and contact-path state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The peer's node id.
    pub node_id: NodeId,
    /// Its local name.
    pub name: String,
    /// Its tier (1 critical, 2 important, 3 other).
    pub tier: u8,
    /// When it was pinned (the first interval runs from here).
    pub pinned_at: DateTime<Utc>,
    /// Contacts, escalation path, fallback channel, contract references.
    pub roster: liaison_core::roster::Roster,
    /// Last successful contact-path check.
    pub verified_at: Option<DateTime<Utc>>,
    /// Last check, successful or not.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Whether the last check succeeded (`None`: never checked).
    pub last_check_ok: Option<bool>,
    /// Round trip of the last successful check, in microseconds.
    pub last_rtt_us: Option<u64>,
    /// Why the last check failed.
    pub last_error: Option<String>,
}

/// Bytes a row keeps in a BLOB column: given in memory, or as a file the
/// store copies in chunks (incremental BLOB I/O), so that a large bundle is
/// never held in memory whole on its way into the database.
#[derive(Debug, Clone)]
pub enum Payload {
    /// In memory.
    Bytes(Vec<u8>),
    /// The first `len` bytes of a file, read from its start.
    File(std::sync::Arc<std::fs::File>, u64),
}

impl Payload {
    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File(_, len) => *len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when they are in memory.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Payload::Bytes(b) => Some(b),
            Payload::File(..) => None,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Payload {
        Payload::Bytes(b)
    }
}

/// Bytes compare equal; files only to the same open file.
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match (self, other) {
            (Payload::Bytes(a), Payload::Bytes(b)) => a == b,
            (Payload::File(a, m), Payload::File(b, n)) => std::sync::Arc::ptr_eq(a, b) && m == n,
            _ => false,
        }
    }
}

impl Eq for Payload {}

/// A sealed share to store with its outbox rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    /// The bundle id (also the manifest's `bundle_id`).
    pub id: Uuid,
    /// The drafting user's id.
    pub created_by: String,
    /// The effective TLP label.
    pub tlp: Tlp,
    /// What the content is.
    pub kind: Kind,
    /// The content as shared (after redaction).
    pub content: Payload,
    /// The exact manifest bytes that were signed.
    pub manifest: Vec<u8>,
    /// SHA-256 (hex) of `manifest`.
    pub manifest_sha256: String,
    /// The DSSE envelope over the manifest (JSON).
    pub dsse: Vec<u8>,
    /// One delivery per recipient (none while waiting for approval).
    pub deliveries: Vec<NewDelivery>,
    /// Released, or waiting for approval (then not sealed: `manifest`,
    /// `manifest_sha256` and `dsse` are empty).
    pub state: ShareState,
    /// Distinct approvals the agreements require (0: none).
    pub approvals_required: u32,
    /// The release plan (policy decision and redaction, per recipient) as
    /// JSON; never the removed values.
    pub policy: Option<serde_json::Value>,
    /// The incident this share notifies peers about (linked in the same
    /// transaction; it must exist and be open).
    pub incident: Option<Uuid>,
    /// The share this one revises (a new version of it).
    pub supersedes: Option<Uuid>,
    /// After this, recipients treat the bundle as recalled.
    pub not_after: Option<DateTime<Utc>>,
}

/// Where a share stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareState {
    /// Sealed and queued (or delivered).
    Released,
    /// Waiting for release approvals; not sealed yet.
    AwaitingApproval,
    /// An approver rejected it (final; never sealed).
    Rejected,
    /// Approved, but policy refused it at release (e.g. the agreement was
    /// revoked meanwhile); final, never sealed.
    Refused,
}

impl ShareState {
    /// Every state.
    pub const ALL: [ShareState; 4] = [
        ShareState::Released,
        ShareState::AwaitingApproval,
        ShareState::Rejected,
        ShareState::Refused,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareState::Released => "released",
            ShareState::AwaitingApproval => "awaiting_approval",
            ShareState::Rejected => "rejected",
            ShareState::Refused => "refused",
        }
    }
}

impl fmt::Display for ShareState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a share state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a share state: expected released, awaiting_approval, rejected or refused")]
pub struct ParseShareStateError(pub String);

impl FromStr for ShareState {
    type Err = ParseShareStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShareState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| ParseShareStateError(s.to_string()))
    }
}

/// One recipient's encrypted envelope, queued for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The recipient.
    pub peer: NodeId,
    /// The age ciphertext for this recipient only.
    pub envelope: Payload,
    /// SHA-256 (hex) of `envelope`.
    pub envelope_sha256: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet acknowledged; the worker retries it.
    Pending,
    /// The peer returned a verified positive receipt.
    Delivered,
    /// The peer returned a verified negative receipt (final).
    Rejected,
}

/// A string that is not a delivery state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a delivery state: expected one of pending, delivered, rejected")]
pub struct ParseDeliveryStateError(pub String);

impl DeliveryState {
    /// Every state.
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Rejected,
    ];

    /// The snake_case name, e.g. `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Rejected => "rejected",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = ParseDeliveryStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryState::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| ParseDeliveryStateError(s.to_string()))
    }
}

/// A peer's verified, signed receipt for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The signed receipt (DSSE JSON) as received.
    pub json: Vec<u8>,
    /// Whether the peer accepted the bundle.
    pub accepted: bool,
    /// The peer's reason, when rejected.
    pub reason: Option<String>,
    /// When the peer says it received the delivery.
    pub received_at: DateTime<Utc>,
}

/// One delivery of a share, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Outbox row id.
    pub id: i64,
    /// The share delivered.
    pub share_id: Uuid,
    /// The recipient.
    pub peer: NodeId,
    /// The recipient's local name, if it is still pinned.
    pub peer_name: Option<String>,
    /// Where the delivery stands.
    pub state: DeliveryState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Envelope bytes sent to the peer over all attempts (a resumed
    /// transfer sends only what the peer did not hold).
    pub bytes_sent: u64,
    /// Size of the envelope.
    pub envelope_size: u64,
    /// When the worker tries next (meaningful while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the receipt was stored.
    pub completed_at: Option<DateTime<Utc>>,
    /// The receipt, once completed.
    pub receipt: Option<StoredReceipt>,
}

/// An outbound share, as listed (without content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    /// The bundle id.
    pub id: Uuid,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// The drafting user's id.
    pub created_by: String,
    /// The effective TLP label.
    pub tlp: Tlp,
    /// What the content is.
    pub kind: Kind,
    /// SHA-256 (hex) of the signed manifest.
    pub manifest_sha256: String,
    /// Content size in bytes.
    pub size: u64,
    /// Released or waiting for approval.
    pub state: ShareState,
    /// Distinct approvals required (0: none).
    pub approvals_required: u32,
    /// The release plan as JSON, when the share was planned under policy.
    pub policy: Option<serde_json::Value>,
    /// One delivery per recipient, in queue order.
    pub deliveries: Vec<DeliveryRecord>,
    /// The share this one revises.
    pub supersedes: Option<Uuid>,
    /// The share that revises this one, if any.
    pub superseded_by: Option<Uuid>,
    /// The expiry it carries.
    pub not_after: Option<DateTime<Utc>>,
    /// Its recall, per recipient (empty: not recalled).
    pub recalls: Vec<RecallOutRecord>,
}

/// A recall sent to one recipient of a share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallOutRecord {
    /// The recipient.
    pub peer: NodeId,
    /// Why.
    pub reason: String,
    /// The user id that recalled it.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// When the recipient recorded the recall (from its signed receipt).
    pub received_at: Option<DateTime<Utc>>,
    /// What the recipient did: `withheld`, `purged` or `not_received`.
    pub outcome: Option<String>,
    /// The recipient's signed recall receipt (DSSE JSON).
    pub receipt_json: Option<Vec<u8>>,
}

/// A recall to send: the signed recall, queued to every recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecallOut {
    /// The share recalled.
    pub share_id: Uuid,
    /// Why.
    pub reason: String,
    /// The user id recalling it.
    pub requested_by: String,
    /// The signed recall (DSSE JSON).
    pub recall_json: Vec<u8>,
    /// Every recipient.
    pub peers: Vec<NodeId>,
}

/// A recall received from a bundle's originator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecallIn {
    /// The bundle recalled.
    pub bundle_id: Uuid,
    /// Its originator (who signed the recall).
    pub sender: NodeId,
    /// Why.
    pub reason: String,
    /// When the originator recalled it.
    pub recalled_at: DateTime<Utc>,
    /// The signed recall (DSSE JSON).
    pub recall_json: Vec<u8>,
    /// Purge content and manifest instead of keeping a tombstone.
    pub purge: bool,
}

/// A recalled bundle at the recipient: the tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallInRecord {
    /// The bundle.
    pub bundle_id: Uuid,
    /// Its originator.
    pub sender: NodeId,
    /// Why it was recalled.
    pub reason: String,
    /// When the originator recalled it.
    pub recalled_at: DateTime<Utc>,
    /// When this node recorded it.
    pub received_at: DateTime<Utc>,
    /// `withheld`, `purged` or `not_received`.
    pub outcome: String,
}

/// A delivery the worker should attempt now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// Outbox row id.
    pub id: i64,
    /// The share delivered.
    pub share_id: Uuid,
    /// The recipient.
    pub peer: NodeId,
    /// Size of the age ciphertext to send (read with
    /// [`crate::Store::envelope_chunk`], one part at a time).
    pub envelope_size: u64,
    /// SHA-256 (hex) of the envelope.
    pub envelope_sha256: String,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A verified inbound bundle to accept into the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInbound {
    /// The bundle id (deduplication key).
    pub bundle_id: Uuid,
    /// The originating node.
    pub sender: NodeId,
    /// The originating organization.
    pub sender_org: String,
    /// The bundle's TLP label.
    pub tlp: Tlp,
    /// What the content is.
    pub kind: Kind,
    /// The exact signed manifest bytes.
    pub manifest: Vec<u8>,
    /// SHA-256 (hex) of `manifest`.
    pub manifest_sha256: String,
    /// The DSSE envelope over the manifest (JSON).
    pub dsse: Vec<u8>,
    /// The content.
    pub content: Payload,
    /// SHA-256 (hex) of the ciphertext as received.
    pub envelope_sha256: String,
    /// Its signed manifest marks it as part of an exercise.
    pub exercise: bool,
    /// For a bundle of kind `coordination`: the joint log it carries, merged
    /// into the incident's list in the same transaction (the receiver checked
    /// that the sender takes part in the incident).
    pub joint: Option<liaison_core::joint::JointLog>,
    /// The bundle it revises (from the signed manifest).
    pub supersedes: Option<Uuid>,
    /// Its expiry (from the signed manifest).
    pub not_after: Option<DateTime<Utc>>,
}

/// An accepted inbound bundle, as listed (without content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRecord {
    /// The bundle id.
    pub bundle_id: Uuid,
    /// When it was first accepted.
    pub received_at: DateTime<Utc>,
    /// The originating node.
    pub sender: NodeId,
    /// The originating organization.
    pub sender_org: String,
    /// The bundle's TLP label.
    pub tlp: Tlp,
    /// What the content is.
    pub kind: Kind,
    /// SHA-256 (hex) of the signed manifest.
    pub manifest_sha256: String,
    /// Content size in bytes.
    pub size: u64,
    /// The signed receipt returned to the sender.
    pub receipt_json: Vec<u8>,
    /// Part of an exercise (from its signed manifest).
    pub exercise: bool,
    /// The bundle it revises.
    pub supersedes: Option<Uuid>,
    /// A later bundle from the same sender that revises it, if received.
    pub superseded_by: Option<Uuid>,
    /// Its expiry: after it, the bundle is treated as recalled.
    pub not_after: Option<DateTime<Utc>>,
    /// Its recall, when the originator recalled it (the content is gone).
    pub recall: Option<RecallInRecord>,
}

impl InboxRecord {
    /// Whether tools should see it now: not recalled and not expired.
    /// (A superseded bundle is current too: it is an earlier version.)
    pub fn is_withdrawn(&self, now: DateTime<Utc>) -> bool {
        self.recall.is_some() || self.not_after.is_some_and(|t| t <= now)
    }
}

/// A refused inbound delivery to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRejection {
    /// SHA-256 (hex) of the ciphertext as received.
    pub envelope_sha256: String,
    /// The delivering peer.
    pub sender: NodeId,
    /// The bundle id, when the envelope could be opened.
    pub bundle_id: Option<Uuid>,
    /// Machine-readable reason (e.g. `bad_signature`).
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// The signed negative receipt returned.
    pub receipt_json: Vec<u8>,
}

/// A recorded inbound refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionRecord {
    /// Row id.
    pub id: i64,
    /// When it was refused.
    pub received_at: DateTime<Utc>,
    /// SHA-256 (hex) of the ciphertext as received.
    pub envelope_sha256: String,
    /// The delivering peer.
    pub sender: NodeId,
    /// The bundle id, when the envelope could be opened.
    pub bundle_id: Option<Uuid>,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// The signed negative receipt returned.
    pub receipt_json: Vec<u8>,
}

pub use liaison_core::agreement::{AgreementState, ParseAgreementStateError};

/// One version of a sharing agreement, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementRecord {
    /// Agreement id (shared by all its versions).
    pub id: Uuid,
    /// Version; a newer version in force supersedes older ones.
    pub version: u32,
    /// The other party.
    pub peer: NodeId,
    /// Where it stands.
    pub state: AgreementState,
    /// The signed agreement (DSSE JSON with one or two signatures).
    pub document: Vec<u8>,
    /// SHA-256 (hex) of the signed agreement bytes.
    pub sha256: String,
    /// Start of the validity window.
    pub valid_from: DateTime<Utc>,
    /// End of the validity window.
    pub valid_until: DateTime<Utc>,
    /// The signed decline or revocation, when there is one.
    pub notice: Option<Vec<u8>>,
    /// When this node first stored this version.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl AgreementRecord {
    /// The record of a verified signed agreement with `peer`, in `state`.
    pub fn of(
        signed: &liaison_core::agreement::SignedAgreement,
        peer: NodeId,
        state: AgreementState,
        notice: Option<Vec<u8>>,
    ) -> AgreementRecord {
        let now = Utc::now();
        AgreementRecord {
            id: signed.agreement.id,
            version: signed.agreement.version,
            peer,
            state,
            document: signed.to_json(),
            sha256: signed.sha256(),
            valid_from: signed.agreement.valid_from,
            valid_until: signed.agreement.valid_until,
            notice,
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips() {
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>(), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
        }
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn delivery_state_round_trips() {
        for d in DeliveryState::ALL {
            assert_eq!(d.to_string().parse::<DeliveryState>(), Ok(d));
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{d}\""));
        }
        assert!("done".parse::<DeliveryState>().is_err());
    }
}

/// A signed message to a peer, to store and forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The recipient.
    pub peer: NodeId,
    /// What it is, e.g. `agreement.proposal`.
    pub kind: String,
    /// The signed body (DSSE JSON).
    pub body: Vec<u8>,
    /// The agreement it concerns, if any.
    pub agreement: Option<(Uuid, u32)>,
}

/// Where an outgoing message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Not yet acknowledged by the peer; retried.
    Pending,
    /// The peer acknowledged it.
    Sent,
    /// The peer refused it (final).
    Failed,
}

impl MessageState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
        }
    }
}

impl FromStr for MessageState {
    type Err = ParseDeliveryStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            MessageState::Pending,
            MessageState::Sent,
            MessageState::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| ParseDeliveryStateError(s.to_string()))
    }
}

/// An outgoing message, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Row id.
    pub id: i64,
    /// The recipient.
    pub peer: NodeId,
    /// What it is.
    pub kind: String,
    /// The signed body.
    pub body: Vec<u8>,
    /// The agreement it concerns.
    pub agreement: Option<(Uuid, u32)>,
    /// Where it stands.
    pub state: MessageState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the worker tries next (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure or the peer's refusal.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the peer acknowledged or refused it.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A release decision by one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Approve the release.
    Approve,
    /// Reject it (ends the share).
    Reject,
}

impl ApprovalDecision {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalDecision::Approve => "approve",
            ApprovalDecision::Reject => "reject",
        }
    }
}

impl FromStr for ApprovalDecision {
    type Err = ParseDeliveryStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "approve" => Ok(ApprovalDecision::Approve),
            "reject" => Ok(ApprovalDecision::Reject),
            other => Err(ParseDeliveryStateError(other.to_string())),
        }
    }
}

/// One recorded release decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// The share decided on.
    pub share_id: Uuid,
    /// The deciding user's id.
    pub approver: String,
    /// Their login name.
    pub approver_name: String,
    /// Approve or reject.
    pub decision: ApprovalDecision,
    /// Their comment.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The ledger entry that records it.
    pub ledger_seq: u64,
    /// SHA-256 (hex) of that entry's canonical bytes.
    pub decision_sha256: String,
}

/// A signed ledger checkpoint, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// Tree size it commits to.
    pub size: u64,
    /// RFC 9162 root hash at that size.
    pub root_hash: [u8; 32],
    /// The signed note (C2SP tlog-checkpoint).
    pub note: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Operational counts for the node's `/metrics` endpoint, all read in one
/// transaction (so they agree with each other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Deliveries (outbox rows) per state, in [`DeliveryState::ALL`] order.
    pub deliveries: [(DeliveryState, u64); 3],
    /// Failed delivery attempts so far: the sum of every delivery's
    /// `attempts` (rows are never deleted, so it only grows).
    pub delivery_attempts: u64,
    /// Stored receipts that accepted the delivery.
    pub receipts_accepted: u64,
    /// Stored receipts that rejected it (negative receipts).
    pub receipts_rejected: u64,
    /// Bundles in the inbox.
    pub inbox_bundles: u64,
    /// Inbound deliveries this node refused.
    pub inbound_rejections: u64,
    /// Outbound shares per state, in [`ShareState::ALL`] order.
    pub shares: [(ShareState, u64); 4],
    /// When the oldest share still awaiting approval was created.
    pub oldest_awaiting_approval: Option<DateTime<Utc>>,
    /// Ledger entries (= the next sequence number).
    pub ledger_entries: u64,
    /// Size of the largest signed checkpoint (0 if none).
    pub checkpoint_size: u64,
    /// Signed messages to peers (agreement negotiation) not yet completed.
    pub messages_pending: u64,
    /// Envelope bytes sent to peers over all attempts (it only grows).
    pub delivery_bytes_sent: u64,
    /// Bytes of envelopes held in parts, received halfway.
    pub inbound_part_bytes: u64,
}
