//! The storage trait.

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use uuid::Uuid;

use crate::error::StoreError;
use liaison_core::roster::Roster;

use crate::model::{
    AckRecord, AgreementRecord, ApprovalDecision, ApprovalRecord, CheckpointRecord, ContactRecord,
    DueDelivery, Event, InboxRecord, IncidentRecord, LedgerRow, MessageRecord, Metrics, NewAck,
    NewInbound, NewIncident, NewMessage, NewRejection, NewShare, PeerRecord, RejectionRecord, Role,
    ShareRecord, ShareState, StoredReceipt, User, WebhookRecord,
};

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Persistence for one node.
///
/// Methods are synchronous and may block on disk; async callers should use
/// `tokio::task::spawn_blocking`. Every method that changes state commits
/// the change and its ledger entry in one transaction: either both are
/// durable or neither is. Listings are bounded by `limit`.
pub trait Store: Send + Sync {
    /// Record this node's identity and create the user `admin` (role admin)
    /// holding `admin_token_hash`; ledger `node.initialized` with the node id
    /// and org (never the hash). [`StoreError::Conflict`] if the node is
    /// already initialized.
    fn init_node(&self, node_id: &NodeId, org: &str, admin_token_hash: &str) -> Result<User>;

    /// Create a user; ledger `user.added` with the name and role only.
    /// [`StoreError::Conflict`] if the name (or the token) is taken.
    fn add_user(&self, name: &str, role: Role, token_hash: &str, actor: &str) -> Result<User>;

    /// The user holding the token with this hash, if any.
    fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>>;

    /// Every user, oldest first.
    fn users(&self) -> Result<Vec<User>>;

    /// Revoke user `name`'s token (ledger `user.revoked`): it authenticates
    /// nothing from then on. Conflict if already revoked or the last admin.
    fn revoke_user(&self, name: &str, actor: &str) -> Result<User>;

    /// Pin a peer; ledger `peer.added` with name, node id, org and tier.
    /// [`StoreError::Conflict`] if the name or the node id is already pinned.
    fn add_peer(&self, peer: &PeerRecord, actor: &str) -> Result<()>;

    /// Unpin a peer; ledger `peer.removed`. [`StoreError::NotFound`] if it is
    /// not pinned. Its past deliveries stay (with no `peer_name`).
    fn remove_peer(&self, node_id: &NodeId, actor: &str) -> Result<()>;

    /// Every pinned peer, by name.
    fn peers(&self) -> Result<Vec<PeerRecord>>;

    /// The peer whose local name or node id (string form) is `name_or_id`;
    /// a node id match wins.
    fn peer(&self, name_or_id: &str) -> Result<Option<PeerRecord>>;

    /// A person here acknowledges a received bundle: stored, ledgered
    /// (`event`) and `message` (the signed acknowledgement) queued to the
    /// originator, in one transaction. NotFound for an unknown bundle,
    /// Conflict for a second acknowledgement.
    fn acknowledge_inbox(
        &self,
        ack: &NewAck,
        message: &NewMessage,
        event: &Event,
    ) -> Result<AckRecord>;

    /// A recipient's verified acknowledgement of our share `ack.bundle_id`;
    /// ledgered with `event`. NotFound unless the share went to that peer;
    /// `Ok(false)` for a repeat (nothing changes).
    fn store_peer_ack(&self, ack: &NewAck, event: &Event) -> Result<bool>;

    /// The acknowledgements recipients sent for a share.
    fn share_acks(&self, share: Uuid) -> Result<Vec<AckRecord>>;

    /// The acknowledgement this node sent for a received bundle.
    fn inbox_ack(&self, bundle: Uuid) -> Result<Option<AckRecord>>;

    /// Open an incident; ledger `incident.opened` with the whole record.
    fn open_incident(&self, incident: &NewIncident) -> Result<IncidentRecord>;

    /// Every incident, newest first, with its shares.
    fn incidents(&self) -> Result<Vec<IncidentRecord>>;

    /// One incident with its shares.
    fn incident(&self, id: Uuid) -> Result<Option<IncidentRecord>>;

    /// The incident a share was linked to, if any.
    fn incident_of_share(&self, share: Uuid) -> Result<Option<Uuid>>;

    /// Recall a released share: a row and a queued message (the signed
    /// recall) per recipient, and the ledger entry `event`, in one
    /// transaction. Conflict if the share is not released or was recalled.
    fn recall_share(&self, recall: &crate::NewRecallOut, event: &Event) -> Result<()>;

    /// A recipient's signed recall receipt arrived for message `message_id`:
    /// store it (ledger `recall.receipt_stored`) and complete the message.
    fn store_recall_receipt(
        &self,
        message_id: i64,
        share: Uuid,
        peer: &NodeId,
        receipt_json: &[u8],
        received_at: DateTime<Utc>,
        outcome: liaison_core::recall::RecallOutcome,
    ) -> Result<()>;

    /// Record a recall from a bundle's originator: tombstones for it and
    /// the versions it revises, content dropped (and manifests, with
    /// `purge`), ledger `inbound.recalled` each; `sign` makes the receipt
    /// for the outcome. Idempotent: a repeated recall gets the first
    /// receipt. Conflict if the bundle came from another sender.
    fn recall_inbound(
        &self,
        recall: &crate::NewRecallIn,
        sign: &dyn Fn(liaison_core::recall::RecallOutcome, DateTime<Utc>) -> Vec<u8>,
    ) -> Result<(liaison_core::recall::RecallOutcome, Vec<u8>)>;

    /// The tombstone of a received (or announced) bundle, if recalled.
    fn inbound_recall(&self, bundle_id: Uuid) -> Result<Option<crate::RecallInRecord>>;

    /// The joint actions and decisions of an incident, latest revisions.
    fn incident_items(&self, id: Uuid) -> Result<Vec<liaison_core::joint::Item>>;

    /// Record a revision of a joint item made here by `actor` (ledger
    /// `incident.item_updated`). Conflict unless it is newer than the one
    /// held or the incident is closed; not found without the incident.
    fn save_incident_item(
        &self,
        incident: Uuid,
        item: &liaison_core::joint::Item,
        actor: &str,
    ) -> Result<LedgerRow>;

    /// Close an incident; ledger `incident.closed`. Conflict if closed.
    fn close_incident(&self, id: Uuid, actor: &str) -> Result<()>;

    /// The ledger entries of an incident and of its shares, in order.
    fn incident_facts(&self, id: Uuid) -> Result<Vec<LedgerRow>>;

    /// Ledger an escalation (`incident.escalated` with `body`) and, with
    /// `webhook`, queue its POST in the same transaction.
    fn escalate(
        &self,
        incident: Uuid,
        body: &serde_json::Value,
        webhook: bool,
    ) -> Result<LedgerRow>;

    /// Escalation webhooks due by `at`.
    fn due_webhooks(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<WebhookRecord>>;

    /// Record a webhook attempt: `Ok` sent; `Err` retried at `retry_at`,
    /// or given up without one.
    fn webhook_result(
        &self,
        id: i64,
        outcome: &std::result::Result<(), String>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()>;

    /// Every pinned peer's roster and contact-path state, by name.
    fn contacts(&self) -> Result<Vec<ContactRecord>>;

    /// One pinned peer's roster and contact-path state.
    fn contact(&self, node_id: &NodeId) -> Result<Option<ContactRecord>>;

    /// Set a pinned peer's tier and roster; ledger `peer.roster_updated`.
    /// [`StoreError::NotFound`] if it is not pinned.
    fn set_roster(&self, node_id: &NodeId, tier: u8, roster: &Roster, actor: &str) -> Result<()>;

    /// Record a contact-path check (`Ok(round trip in µs)` or why it
    /// failed); ledger `peer.contact_verified` on success and
    /// `peer.contact_failed` when a working (or unchecked) path fails.
    /// Returns whether a ledger entry was appended.
    fn record_contact_check(
        &self,
        node_id: &NodeId,
        at: DateTime<Utc>,
        outcome: &std::result::Result<u64, String>,
    ) -> Result<bool>;

    /// Record an authenticated contact with a peer (no ledger entry). Never
    /// moves `last_contact` backwards; a peer no longer pinned is ignored.
    fn touch_peer(&self, node_id: &NodeId, at: DateTime<Utc>) -> Result<()>;

    /// Append one ledger event in its own transaction (e.g. a refusal that
    /// changes nothing else).
    fn append(&self, event: &Event) -> Result<LedgerRow>;

    /// Up to `limit` ledger rows with `seq >= since_seq`, in order.
    fn ledger(&self, since_seq: u64, limit: u32) -> Result<Vec<LedgerRow>>;

    /// The number of ledger entries (= the next sequence number).
    fn ledger_len(&self) -> Result<u64>;

    /// Store a sealed share, one pending outbox row per delivery (attempts 0,
    /// due now) and `event`, in one transaction. [`StoreError::Conflict`] if
    /// the share id exists or a peer appears twice; nothing is written then.
    fn create_share(&self, share: &NewShare, event: &Event) -> Result<()>;

    /// Up to `limit` shares, newest first, with their deliveries.
    fn shares(&self, limit: u32) -> Result<Vec<ShareRecord>>;

    /// Up to `limit` shares in `state`, newest first.
    fn shares_in_state(&self, state: ShareState, limit: u32) -> Result<Vec<ShareRecord>>;

    /// The content stored with a share: as drafted while it awaits
    /// approval, as sent once released.
    fn share_content(&self, id: Uuid) -> Result<Option<Vec<u8>>>;

    /// Up to `max` bytes of share `id`'s content from `offset` (fewer at
    /// its end), to read a large one in parts.
    fn share_content_chunk(&self, id: Uuid, offset: u64, max: usize) -> Result<Vec<u8>>;

    /// Record `user`'s decision on a share awaiting approval with `event`,
    /// in one transaction; the SHA-256 of the event's ledger entry is kept
    /// as `decision_sha256`. A rejection ends the share (`rejected`).
    /// [`StoreError::Conflict`] if the user already decided on it (a second
    /// decision never counts) or it is not awaiting approval;
    /// [`StoreError::NotFound`] if there is no such share.
    fn decide_share(
        &self,
        share_id: Uuid,
        user: &User,
        decision: ApprovalDecision,
        comment: &str,
        event: &Event,
    ) -> Result<ApprovalRecord>;

    /// Every decision on a share, in order.
    fn approvals(&self, share_id: Uuid) -> Result<Vec<ApprovalRecord>>;

    /// Seal an approved share (`share.id` awaiting approval): its manifest,
    /// envelope and content as sent, state released, its outbox rows and
    /// `event`, in one transaction.
    fn release_share(&self, share: &NewShare, event: &Event) -> Result<()>;

    /// End a share awaiting approval as `refused` (policy refused it at
    /// release), with `event`.
    fn refuse_share(&self, id: Uuid, event: &Event) -> Result<()>;

    /// Store a signed ledger checkpoint (no ledger entry: it is about the
    /// ledger). [`StoreError::Conflict`] if one at that size exists.
    fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<()>;

    /// Every checkpoint, smallest first.
    fn checkpoints(&self) -> Result<Vec<CheckpointRecord>>;

    /// The largest checkpoint, if any.
    fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>>;

    /// Up to `limit` stored leaf hashes from sequence number `from` on.
    fn leaf_hashes(&self, from: u64, limit: u32) -> Result<Vec<[u8; 32]>>;

    /// One share with its deliveries.
    fn share(&self, id: Uuid) -> Result<Option<ShareRecord>>;

    /// Up to `limit` pending deliveries due at `now`, the longest-waiting
    /// first.
    fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>>;

    /// When the earliest pending delivery is due, if any is pending.
    fn next_due_at(&self) -> Result<Option<DateTime<Utc>>>;

    /// How many deliveries are pending.
    fn pending_deliveries(&self) -> Result<u64>;

    /// Record a failed attempt: `attempts += 1`, `last_error`, the next
    /// attempt time, and `event` if given, in one transaction. A delivery
    /// completed meanwhile is left alone (and `event` not written);
    /// [`StoreError::NotFound`] if there is no such delivery.
    fn delivery_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        event: Option<&Event>,
    ) -> Result<()>;

    /// Postpone every pending delivery to `peer` that is due before `until`
    /// to `until` (no ledger entry: nothing changes but the schedule).
    /// Used when a peer is unreachable, so its backlog does not take every
    /// delivery slot from reachable peers. Returns how many were postponed.
    fn defer_deliveries(&self, peer: &NodeId, until: DateTime<Utc>) -> Result<u64>;

    /// Complete a pending delivery with its verified receipt: state
    /// delivered (accepted) or rejected, the receipt, `completed_at` and
    /// `event`, in one transaction; returns `true`. If it was already
    /// completed, changes nothing and returns `false` (idempotent).
    /// [`StoreError::NotFound`] if there is no such delivery.
    fn delivery_completed(&self, id: i64, receipt: &StoredReceipt, event: &Event) -> Result<bool>;

    /// Up to `max` bytes of delivery `id`'s envelope from `offset` (fewer
    /// at its end): deliveries are sent one part at a time.
    fn envelope_chunk(&self, id: i64, offset: u64, max: usize) -> Result<Vec<u8>>;

    /// Add `bytes` to what was sent of delivery `id`, over all attempts.
    fn delivery_sent(&self, id: i64, bytes: u64) -> Result<()>;

    /// Receiving a large envelope: store the part of envelope `sha256` (of
    /// `size` bytes) from `peer` that starts at `offset`, if it continues
    /// what is held, in its own transaction. Returns the bytes held after:
    /// always a gapless prefix of the envelope, so a cut transfer resumes
    /// there. The caller checks that the part lies inside `size`.
    fn part_append(
        &self,
        peer: &NodeId,
        sha256: &str,
        size: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<u64>;

    /// How many bytes of envelope `sha256` from `peer` are held.
    fn part_held(&self, peer: &NodeId, sha256: &str) -> Result<u64>;

    /// The stored part of envelope `sha256` from `peer` starting at `offset`.
    fn part_read(&self, peer: &NodeId, sha256: &str, offset: u64) -> Result<Option<Vec<u8>>>;

    /// Drop the parts of envelope `sha256` from `peer` (it was answered).
    fn parts_remove(&self, peer: &NodeId, sha256: &str) -> Result<()>;

    /// The receipt this node returned to `peer` for envelope `sha256`, if
    /// it accepted or refused it: a sender that lost it asks again.
    fn envelope_receipt(&self, peer: &NodeId, sha256: &str) -> Result<Option<Vec<u8>>>;

    /// The receipt returned when `bundle_id` was accepted, if it was.
    fn inbound_receipt(&self, bundle_id: Uuid) -> Result<Option<Vec<u8>>>;

    /// Accept a verified bundle into the inbox with `receipt_json` and
    /// `event`, in one transaction, and return `receipt_json`. If the bundle
    /// id is already in the inbox, write nothing and return the *original*
    /// receipt (redelivery after a crash).
    fn accept_inbound(
        &self,
        item: &NewInbound,
        receipt_json: &[u8],
        event: &Event,
    ) -> Result<Vec<u8>>;

    /// Record a refused inbound delivery and `event`, in one transaction.
    fn reject_inbound(&self, rejection: &NewRejection, event: &Event) -> Result<()>;

    /// Up to `limit` recorded refusals, newest first.
    fn rejections(&self, limit: u32) -> Result<Vec<RejectionRecord>>;

    /// Up to `limit` inbox bundles, newest first (without content).
    fn inbox(&self, limit: u32) -> Result<Vec<InboxRecord>>;

    /// One inbox bundle and its content.
    fn inbox_item(&self, bundle_id: Uuid) -> Result<Option<(InboxRecord, Vec<u8>)>>;

    /// Up to `max` bytes of inbox bundle `bundle_id`'s content from
    /// `offset` (fewer at its end), to stream it out.
    fn inbox_content_chunk(&self, bundle_id: Uuid, offset: u64, max: usize) -> Result<Vec<u8>>;

    /// One inbox bundle without its content (which may be large).
    fn inbox_record(&self, bundle_id: Uuid) -> Result<Option<InboxRecord>>;

    /// The exact signed manifest bytes of an inbox bundle.
    fn inbox_manifest(&self, bundle_id: Uuid) -> Result<Option<Vec<u8>>>;

    /// The exact signed manifest bytes and the DSSE envelope (JSON) of an
    /// inbox bundle, as received (what a re-share carries).
    fn inbox_signed(&self, bundle_id: Uuid) -> Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// The exact signed manifest bytes and the DSSE envelope (JSON) of an
    /// outbound share, as sealed and sent (both empty while it awaits
    /// approval, or if it never was sealed). For evidence exports.
    fn share_signed(&self, id: Uuid) -> Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// How many bundles the inbox holds.
    fn inbox_len(&self) -> Result<u64>;

    /// How many deliveries completed with a stored receipt.
    fn receipts_count(&self) -> Result<u64>;

    /// Every count `/metrics` reports (deliveries, receipts, inbox, shares,
    /// approvals, ledger, messages), read in one transaction.
    fn metrics(&self) -> Result<Metrics>;

    /// Store one version of an agreement (insert, or update its state,
    /// document and notice) with `event` and, if given, a signed `message`
    /// to the peer queued for delivery, in one transaction. A version
    /// stored as in force supersedes older versions of the same agreement.
    /// `created_at`/`updated_at` in `record` are ignored (the store sets them).
    fn save_agreement(
        &self,
        record: &AgreementRecord,
        event: &Event,
        message: Option<&NewMessage>,
    ) -> Result<()>;

    /// Up to `limit` pending messages due at `now`, oldest first.
    fn due_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<MessageRecord>>;

    /// When the earliest pending message is due, if any is pending.
    fn next_message_due_at(&self) -> Result<Option<DateTime<Utc>>>;

    /// Record a failed attempt to send a message (no ledger entry: the
    /// change it announces is ledgered already).
    fn message_retry(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()>;

    /// Complete a pending message: acknowledged by the peer (`refusal`
    /// None) or refused by it (final). A completed message is left alone.
    fn message_completed(&self, id: i64, refusal: Option<&str>) -> Result<()>;

    /// Every message about agreement `id` (all versions), oldest first.
    fn agreement_messages(&self, id: Uuid) -> Result<Vec<MessageRecord>>;

    /// One version of an agreement.
    fn agreement(&self, id: Uuid, version: u32) -> Result<Option<AgreementRecord>>;

    /// The newest version of an agreement.
    fn latest_agreement(&self, id: Uuid) -> Result<Option<AgreementRecord>>;

    /// Up to `limit` agreement versions, most recently changed first.
    fn agreements(&self, limit: u32) -> Result<Vec<AgreementRecord>>;

    /// The agreement governing exchanges with `peer`: the most recently
    /// changed version in force, else the most recently changed version in
    /// any state (so policy can say "revoked" rather than "none").
    fn agreement_standing(&self, peer: &NodeId) -> Result<Option<AgreementRecord>>;

    /// Every version of every agreement with `peer`, newest version first.
    fn agreements_with(&self, peer: &NodeId) -> Result<Vec<AgreementRecord>>;
}
