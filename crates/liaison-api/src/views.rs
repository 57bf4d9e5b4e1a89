//! Request and response bodies of the JSON API, shared with the CLI client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /api/node`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeView {
    /// Organization.
    pub org: String,
    /// Node id.
    pub node_id: String,
    /// Human fingerprint.
    pub fingerprint: String,
    /// The signed identity card (DSSE JSON).
    pub card: serde_json::Value,
}

/// A pinned peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerView {
    /// Local name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Organization on its card.
    pub org: String,
    /// Human fingerprint.
    pub fingerprint: String,
    /// QUIC endpoints.
    pub endpoints: Vec<String>,
    /// Tier (1 critical, 2 important, 3 other).
    pub tier: u8,
    /// When it was pinned.
    pub added_at: DateTime<Utc>,
    /// Last successful exchange.
    pub last_contact: Option<DateTime<Utc>>,
    /// Incident-response roster: contacts, escalation path, fallback, contracts.
    #[serde(default)]
    pub roster: liaison_core::roster::Roster,
    /// The contact path and its checks.
    #[serde(default)]
    pub contact: ContactView,
}

/// A peer's contact-path state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactView {
    /// Last successful check (signed pong verified).
    pub verified_at: Option<DateTime<Utc>>,
    /// Last check, successful or not.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Whether the last check succeeded (`None`: never checked).
    pub last_check_ok: Option<bool>,
    /// Round trip of the last successful check, milliseconds.
    pub last_rtt_ms: Option<f64>,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// How often this peer's tier must be verified, seconds.
    pub interval_s: u64,
    /// Not verified within its tier's interval: flagged.
    pub stale: bool,
}

/// `PUT /api/peers/{peer}/roster`: the whole roster (and optionally the tier).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RosterRequest {
    /// Tier 1, 2 or 3; unchanged when absent.
    #[serde(default)]
    pub tier: Option<u8>,
    /// The roster (replaces the stored one).
    #[serde(default)]
    pub roster: liaison_core::roster::Roster,
}

/// One contact-path check, as `POST /api/peers/{peer}/check` answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckView {
    /// The peer's local name.
    pub peer: String,
    /// Its node id.
    pub node_id: String,
    /// Whether a valid signed pong came back.
    pub ok: bool,
    /// Round trip, milliseconds (when ok).
    pub rtt_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// `POST /api/peers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddPeerRequest {
    /// The peer's signed identity card (the DSSE JSON object).
    pub card: serde_json::Value,
    /// Local name; defaults to the card's organization.
    #[serde(default)]
    pub name: Option<String>,
    /// Tier 1, 2 or 3 (default 3).
    #[serde(default)]
    pub tier: Option<u8>,
}

/// `POST /api/shares`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateShareRequest {
    /// TLP label, e.g. `amber` or `TLP:AMBER+STRICT`.
    pub tlp: String,
    /// Recipients: local peer names or node ids.
    pub to: Vec<String>,
    /// `stix`, `csaf` or `note`; detected when absent.
    #[serde(default)]
    pub kind: Option<String>,
    /// Content as text (JSON documents, notes).
    #[serde(default)]
    pub content: Option<String>,
    /// Content as base64 (anything).
    #[serde(default)]
    pub content_base64: Option<String>,
    /// Named individuals at the recipients the share is for (required for
    /// TLP:RED, and checked against the agreement's `red_individuals`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub individuals: Vec<String>,
    /// The incident this share notifies the recipients about (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// Expiry (RFC 3339): after it, recipients treat the bundle as recalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

/// `POST /api/shares/preview`: what `POST /api/shares` would do with the
/// same request, without doing it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviewView {
    /// The policy decision for the whole share, with every reason.
    pub decision: serde_json::Value,
    /// Per recipient: its decision, what its agreement removes, and the
    /// agreement the release would be made under.
    pub recipients: Vec<serde_json::Value>,
    /// Every removal made to reach the content sent (all recipients' rules).
    pub removals: Vec<serde_json::Value>,
    /// The content that would be sealed, as text (when it is UTF-8 and
    /// held in memory; a large bundle streamed to disk is described by
    /// `size` and `sha256` only).
    pub content: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A stored receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptView {
    /// Accepted by the recipient.
    pub accepted: bool,
    /// Rejection reason code.
    pub reason: Option<String>,
    /// When the sender stored it.
    pub received_at: DateTime<Utc>,
    /// The receipt as signed by the recipient (DSSE JSON).
    pub signed: serde_json::Value,
}

/// One recipient's delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Recipient node id.
    pub peer: String,
    /// Recipient local name (if still pinned).
    pub peer_name: Option<String>,
    /// `pending`, `delivered` or `rejected`.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Size of the envelope for this recipient.
    #[serde(default)]
    pub envelope_size: u64,
    /// Envelope bytes sent over all attempts (a transfer that was cut
    /// resumes where the recipient's stored parts end).
    #[serde(default)]
    pub bytes_sent: u64,
    /// Next attempt (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// Last transport error.
    pub last_error: Option<String>,
    /// When the receipt arrived.
    pub completed_at: Option<DateTime<Utc>>,
    /// The recipient's signed receipt.
    pub receipt: Option<ReceiptView>,
    /// A person there acknowledged it (signed), in `GET /api/shares/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<AckView>,
    /// The recall, once the share was recalled: when this recipient
    /// recorded it, from its signed receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallDeliveryView>,
}

/// A human acknowledgement of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckView {
    /// Who acknowledged (user name at the acknowledging node).
    pub by: String,
    /// What they said.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Its ledger entry on this node.
    pub ledger_seq: u64,
}

/// `POST /api/inbox/{id}/ack`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AckRequest {
    /// What to tell the originator.
    #[serde(default)]
    pub comment: String,
}

/// An outbound share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareView {
    /// Share id (the bundle id).
    pub id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Drafting user id.
    pub created_by: String,
    /// TLP label.
    pub tlp: String,
    /// Content kind.
    pub kind: String,
    /// SHA-256 of the signed manifest (empty while awaiting approval).
    pub manifest_sha256: String,
    /// Content size in bytes.
    pub size: u64,
    /// `released` or `awaiting_approval`.
    pub state: String,
    /// Distinct approvals the agreements require (0: none).
    pub approvals_required: u32,
    /// The release plan: policy decision and redaction per recipient.
    pub policy: Option<serde_json::Value>,
    /// Per-recipient delivery state and receipts.
    pub deliveries: Vec<DeliveryView>,
    /// The share this one revises (an earlier version).
    #[serde(default)]
    pub supersedes: Option<Uuid>,
    /// The share that revises this one.
    #[serde(default)]
    pub superseded_by: Option<Uuid>,
    /// Expiry carried by the bundle.
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
    /// The recall, once recalled; per recipient in `deliveries[].recall`.
    #[serde(default)]
    pub recall: Option<RecallView>,
}

/// A recall of a share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecallView {
    /// Why.
    pub reason: String,
    /// Who recalled it (user id).
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// What one recipient did with a recall.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecallDeliveryView {
    /// When the recipient recorded it (from its signed receipt); `None`
    /// while the recall is on its way.
    pub received_at: Option<DateTime<Utc>>,
    /// `withheld`, `purged` or `not_received`.
    pub outcome: Option<String>,
    /// The recipient's signed recall receipt (DSSE JSON).
    pub receipt: Option<serde_json::Value>,
}

/// `POST /api/shares/{id}/revise`: a new version of a released share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReviseShareRequest {
    /// TLP label (default: the share's).
    #[serde(default)]
    pub tlp: Option<String>,
    /// Content kind (default: the share's).
    #[serde(default)]
    pub kind: Option<String>,
    /// The new content as text.
    #[serde(default)]
    pub content: Option<String>,
    /// The new content as base64.
    #[serde(default)]
    pub content_base64: Option<String>,
    /// Recipients added to those of the share.
    #[serde(default)]
    pub to: Vec<String>,
    /// Named individuals (TLP:RED).
    #[serde(default)]
    pub individuals: Vec<String>,
    /// Expiry (RFC 3339).
    #[serde(default)]
    pub not_after: Option<String>,
}

/// `POST /api/shares/{id}/recall`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecallRequest {
    /// Why (required; the recipients see it).
    #[serde(default)]
    pub reason: String,
}

/// A received bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxView {
    /// Bundle id.
    pub bundle_id: Uuid,
    /// When it was accepted.
    pub received_at: DateTime<Utc>,
    /// Originator node id (verified).
    pub sender: String,
    /// Originator organization (verified).
    pub sender_org: String,
    /// TLP label.
    pub tlp: String,
    /// Content kind.
    pub kind: String,
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: String,
    /// Content size in bytes.
    pub size: u64,
    /// Part of an exercise (its signed manifest says so), not real.
    #[serde(default)]
    pub exercise: bool,
    /// The bundle it revises (an earlier version from the same sender).
    #[serde(default)]
    pub supersedes: Option<Uuid>,
    /// The later version that revises it, once received.
    #[serde(default)]
    pub superseded_by: Option<Uuid>,
    /// Its expiry.
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
    /// Past its expiry: treated as recalled.
    #[serde(default)]
    pub expired: bool,
    /// Recalled by its originator: the content is gone.
    #[serde(default)]
    pub recalled: Option<InboxRecallView>,
}

/// A recall received for an inbox bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxRecallView {
    /// The originator's reason.
    pub reason: String,
    /// When the originator recalled it.
    pub recalled_at: DateTime<Utc>,
    /// When this node recorded it.
    pub received_at: DateTime<Utc>,
    /// `withheld`, `purged` or `not_received`.
    pub outcome: String,
}

/// `GET /api/inbox/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxDetail {
    /// Summary.
    #[serde(flatten)]
    pub item: InboxView,
    /// The verified manifest.
    pub manifest: serde_json::Value,
    /// The receipt this node signed (DSSE JSON).
    pub receipt: serde_json::Value,
    /// This node's acknowledgement of it, once a person here gave it.
    #[serde(default)]
    pub acknowledged: Option<AckView>,
    /// The earlier versions it revises, newest first.
    #[serde(default)]
    pub history: Vec<InboxView>,
}

/// One ledger entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerView {
    /// Sequence number.
    pub seq: u64,
    /// Time.
    pub time: String,
    /// Event kind.
    pub kind: String,
    /// Actor.
    pub actor: String,
    /// Details.
    pub body: serde_json::Value,
    /// RFC 9162 leaf hash (hex).
    pub leaf_hash: String,
}

/// An inbound delivery this node refused (it never reached the inbox).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectionView {
    /// Row id.
    pub id: i64,
    /// When it was refused.
    pub received_at: DateTime<Utc>,
    /// The delivering peer's node id.
    pub sender: String,
    /// The bundle id, when the envelope could be opened.
    pub bundle_id: Option<Uuid>,
    /// Machine-readable reason (e.g. `bad_signature`, `corrupted`).
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// SHA-256 (hex) of the ciphertext as received.
    pub envelope_sha256: String,
    /// The signed negative receipt returned to the sender (DSSE JSON).
    pub receipt: serde_json::Value,
}
