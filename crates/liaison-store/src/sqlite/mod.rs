//! The SQLite implementation of [`Store`].

mod acks;
mod agreements;
mod approvals;
mod checkpoints;
mod codec;
mod contacts;
mod evidence;
mod inbox;
mod incidents;
mod ledger;
mod messages;
mod metrics;
mod outbox;
mod parts;
mod payloads;
mod peers;
mod recalls;
mod schema;
mod users;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use uuid::Uuid;

use liaison_core::roster::Roster;

use crate::model::{
    AckRecord, AgreementRecord, ApprovalDecision, ApprovalRecord, CheckpointRecord, ContactRecord,
    DueDelivery, Event, InboxRecord, IncidentRecord, LedgerRow, MessageRecord, Metrics, NewAck,
    NewInbound, NewIncident, NewMessage, NewRejection, NewShare, PeerRecord, RejectionRecord, Role,
    ShareRecord, ShareState, StoredReceipt, User, WebhookRecord,
};
use crate::store::{Result, Store};

/// The default store: one SQLite database file (`HOME/liaison.db`).
///
/// Holds a single connection behind a mutex, so there is one writer and
/// calls are serialized; that matches SQLite's own model and keeps every
/// transaction simple. The connection runs in WAL mode with
/// `synchronous=FULL` (a returned commit survives power loss),
/// `foreign_keys=ON` and a 5 s busy timeout (another process, such as an
/// offline CLI command, may hold the file briefly). Write transactions
/// start with `BEGIN IMMEDIATE`, so they take the write lock up front and
/// never fail half-way on a lock upgrade.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (creating if needed, owner-only) the database at `path`, apply
    /// the PRAGMAs and run pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref();
        schema::create_private(path)?;
        let conn = Connection::open(path)?;
        SqliteStore::setup(conn, true)
    }

    /// A private in-memory database (no WAL, gone when dropped), for tests.
    pub fn open_in_memory() -> Result<SqliteStore> {
        SqliteStore::setup(Connection::open_in_memory()?, false)
    }

    fn setup(mut conn: Connection, wal: bool) -> Result<SqliteStore> {
        schema::configure(&conn, wal)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A panic while it was held cannot leave a transaction
    /// open (dropping a `Transaction` rolls it back), so a poisoned lock is
    /// safe to take over.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on the connection, outside any explicit transaction.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.lock())
    }

    /// Run several reads in one (deferred) transaction: they all see the
    /// same snapshot, even if another process writes in between.
    fn snapshot<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction: committed if `f`
    /// succeeds, rolled back (nothing written) if it fails.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn init_node(&self, node_id: &NodeId, org: &str, admin_token_hash: &str) -> Result<User> {
        self.write(|tx| users::init_node(tx, node_id, org, admin_token_hash))
    }

    fn add_user(&self, name: &str, role: Role, token_hash: &str, actor: &str) -> Result<User> {
        self.write(|tx| users::add(tx, name, role, token_hash, actor))
    }

    fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>> {
        self.read(|c| users::by_token_hash(c, token_hash))
    }

    fn users(&self) -> Result<Vec<User>> {
        self.read(users::list)
    }

    fn revoke_user(&self, name: &str, actor: &str) -> Result<User> {
        self.write(|tx| users::revoke(tx, name, actor))
    }

    fn add_peer(&self, peer: &PeerRecord, actor: &str) -> Result<()> {
        self.write(|tx| peers::add(tx, peer, actor))
    }

    fn remove_peer(&self, node_id: &NodeId, actor: &str) -> Result<()> {
        self.write(|tx| peers::remove(tx, node_id, actor))
    }

    fn peers(&self) -> Result<Vec<PeerRecord>> {
        self.read(peers::list)
    }

    fn peer(&self, name_or_id: &str) -> Result<Option<PeerRecord>> {
        self.read(|c| peers::find(c, name_or_id))
    }

    fn acknowledge_inbox(
        &self,
        ack: &NewAck,
        message: &NewMessage,
        event: &Event,
    ) -> Result<AckRecord> {
        self.write(|tx| acks::acknowledge_inbox(tx, ack, message, event))
    }

    fn store_peer_ack(&self, ack: &NewAck, event: &Event) -> Result<bool> {
        self.write(|tx| acks::store_peer_ack(tx, ack, event))
    }

    fn share_acks(&self, share: Uuid) -> Result<Vec<AckRecord>> {
        self.read(|c| acks::for_share(c, share))
    }

    fn inbox_ack(&self, bundle: Uuid) -> Result<Option<AckRecord>> {
        self.read(|c| acks::for_inbox(c, bundle))
    }

    fn open_incident(&self, incident: &NewIncident) -> Result<IncidentRecord> {
        self.write(|tx| incidents::open(tx, incident))
    }

    fn incidents(&self) -> Result<Vec<IncidentRecord>> {
        self.read(incidents::list)
    }

    fn incident(&self, id: Uuid) -> Result<Option<IncidentRecord>> {
        self.read(|c| incidents::get(c, id))
    }

    fn incident_of_share(&self, share: Uuid) -> Result<Option<Uuid>> {
        self.read(|c| incidents::of_share(c, share))
    }

    fn recall_share(&self, recall: &crate::NewRecallOut, event: &Event) -> Result<()> {
        self.write(|tx| recalls::recall_share(tx, recall, event))
    }

    fn store_recall_receipt(
        &self,
        message_id: i64,
        share: Uuid,
        peer: &NodeId,
        receipt_json: &[u8],
        received_at: DateTime<Utc>,
        outcome: liaison_core::recall::RecallOutcome,
    ) -> Result<()> {
        self.write(|tx| {
            recalls::store_receipt(
                tx,
                message_id,
                share,
                peer,
                receipt_json,
                received_at,
                outcome,
            )
        })
    }

    fn recall_inbound(
        &self,
        recall: &crate::NewRecallIn,
        sign: &dyn Fn(liaison_core::recall::RecallOutcome, DateTime<Utc>) -> Vec<u8>,
    ) -> Result<(liaison_core::recall::RecallOutcome, Vec<u8>)> {
        self.write(|tx| recalls::recall_inbound(tx, recall, sign))
    }

    fn inbound_recall(&self, bundle_id: Uuid) -> Result<Option<crate::RecallInRecord>> {
        self.read(|c| recalls::of_bundle(c, bundle_id))
    }

    fn incident_items(&self, id: Uuid) -> Result<Vec<liaison_core::joint::Item>> {
        self.read(|c| incidents::items(c, id))
    }

    fn save_incident_item(
        &self,
        incident: Uuid,
        item: &liaison_core::joint::Item,
        actor: &str,
    ) -> Result<LedgerRow> {
        self.write(|tx| incidents::save_item(tx, incident, item, actor))
    }

    fn close_incident(&self, id: Uuid, actor: &str) -> Result<()> {
        self.write(|tx| incidents::close(tx, id, actor))
    }

    fn incident_facts(&self, id: Uuid) -> Result<Vec<LedgerRow>> {
        self.read(|c| incidents::facts(c, id))
    }

    fn escalate(
        &self,
        incident: Uuid,
        body: &serde_json::Value,
        webhook: bool,
    ) -> Result<LedgerRow> {
        self.write(|tx| incidents::escalate(tx, incident, body, webhook))
    }

    fn due_webhooks(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<WebhookRecord>> {
        self.read(|c| incidents::due_webhooks(c, at, limit))
    }

    fn webhook_result(
        &self,
        id: i64,
        outcome: &std::result::Result<(), String>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.write(|tx| incidents::webhook_result(tx, id, outcome, retry_at))
    }

    fn contacts(&self) -> Result<Vec<ContactRecord>> {
        self.read(contacts::list)
    }

    fn contact(&self, node_id: &NodeId) -> Result<Option<ContactRecord>> {
        self.read(|c| contacts::get(c, node_id))
    }

    fn set_roster(&self, node_id: &NodeId, tier: u8, roster: &Roster, actor: &str) -> Result<()> {
        self.write(|tx| contacts::set_roster(tx, node_id, tier, roster, actor))
    }

    fn record_contact_check(
        &self,
        node_id: &NodeId,
        at: DateTime<Utc>,
        outcome: &std::result::Result<u64, String>,
    ) -> Result<bool> {
        self.write(|tx| contacts::record_check(tx, node_id, at, outcome))
    }

    fn touch_peer(&self, node_id: &NodeId, at: DateTime<Utc>) -> Result<()> {
        self.read(|c| peers::touch(c, node_id, at))
    }

    fn append(&self, event: &Event) -> Result<LedgerRow> {
        self.write(|tx| ledger::append(tx, event))
    }

    fn ledger(&self, since_seq: u64, limit: u32) -> Result<Vec<LedgerRow>> {
        self.read(|c| ledger::rows(c, since_seq, limit))
    }

    fn ledger_len(&self) -> Result<u64> {
        self.read(ledger::len)
    }

    fn create_share(&self, share: &NewShare, event: &Event) -> Result<()> {
        self.write(|tx| outbox::create(tx, share, event))
    }

    fn shares(&self, limit: u32) -> Result<Vec<ShareRecord>> {
        self.snapshot(|tx| outbox::list(tx, limit))
    }

    fn shares_in_state(&self, state: ShareState, limit: u32) -> Result<Vec<ShareRecord>> {
        self.snapshot(|tx| outbox::in_state(tx, state, limit))
    }

    fn share_content(&self, id: Uuid) -> Result<Option<Vec<u8>>> {
        self.read(|c| approvals::content(c, id))
    }

    fn share_content_chunk(&self, id: Uuid, offset: u64, max: usize) -> Result<Vec<u8>> {
        self.read(|c| approvals::content_chunk(c, id, offset, max))
    }

    fn decide_share(
        &self,
        share_id: Uuid,
        user: &User,
        decision: ApprovalDecision,
        comment: &str,
        event: &Event,
    ) -> Result<ApprovalRecord> {
        self.write(|tx| approvals::decide(tx, share_id, user, decision, comment, event))
    }

    fn approvals(&self, share_id: Uuid) -> Result<Vec<ApprovalRecord>> {
        self.read(|c| approvals::list(c, share_id))
    }

    fn release_share(&self, share: &NewShare, event: &Event) -> Result<()> {
        self.write(|tx| approvals::release(tx, share, event))
    }

    fn refuse_share(&self, id: Uuid, event: &Event) -> Result<()> {
        self.write(|tx| approvals::refuse(tx, id, event))
    }

    fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<()> {
        self.write(|tx| checkpoints::add(tx, checkpoint))
    }

    fn checkpoints(&self) -> Result<Vec<CheckpointRecord>> {
        self.read(checkpoints::list)
    }

    fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>> {
        self.read(checkpoints::latest)
    }

    fn leaf_hashes(&self, from: u64, limit: u32) -> Result<Vec<[u8; 32]>> {
        self.read(|c| checkpoints::leaves(c, from, limit))
    }

    fn share(&self, id: Uuid) -> Result<Option<ShareRecord>> {
        self.snapshot(|tx| outbox::get(tx, id))
    }

    fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>> {
        self.read(|c| outbox::due(c, now, limit))
    }

    fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(outbox::next_due_at)
    }

    fn pending_deliveries(&self) -> Result<u64> {
        self.read(outbox::pending)
    }

    fn delivery_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        event: Option<&Event>,
    ) -> Result<()> {
        self.write(|tx| outbox::retry(tx, id, error, next_attempt_at, event))
    }

    fn save_agreement(
        &self,
        record: &AgreementRecord,
        event: &Event,
        message: Option<&NewMessage>,
    ) -> Result<()> {
        self.write(|tx| agreements::save(tx, record, event, message))
    }

    fn due_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<MessageRecord>> {
        self.read(|c| messages::due(c, now, limit))
    }

    fn next_message_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(messages::next_due_at)
    }

    fn message_retry(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
        self.write(|tx| messages::retry(tx, id, error, next_attempt_at))
    }

    fn message_completed(&self, id: i64, refusal: Option<&str>) -> Result<()> {
        self.write(|tx| messages::complete(tx, id, refusal))
    }

    fn agreement_messages(&self, id: Uuid) -> Result<Vec<MessageRecord>> {
        self.read(|c| messages::for_agreement(c, id))
    }

    fn agreement(&self, id: Uuid, version: u32) -> Result<Option<AgreementRecord>> {
        self.read(|c| agreements::get(c, id, version))
    }

    fn latest_agreement(&self, id: Uuid) -> Result<Option<AgreementRecord>> {
        self.read(|c| agreements::latest(c, id))
    }

    fn agreements(&self, limit: u32) -> Result<Vec<AgreementRecord>> {
        self.read(|c| agreements::list(c, limit))
    }

    fn agreement_standing(&self, peer: &NodeId) -> Result<Option<AgreementRecord>> {
        self.read(|c| agreements::standing(c, &peer.to_string()))
    }

    fn agreements_with(&self, peer: &NodeId) -> Result<Vec<AgreementRecord>> {
        self.read(|c| agreements::with_peer(c, &peer.to_string()))
    }

    fn defer_deliveries(&self, peer: &NodeId, until: DateTime<Utc>) -> Result<u64> {
        self.write(|tx| outbox::defer_peer(tx, peer, until))
    }

    fn delivery_completed(&self, id: i64, receipt: &StoredReceipt, event: &Event) -> Result<bool> {
        self.write(|tx| outbox::complete(tx, id, receipt, event))
    }

    fn envelope_chunk(&self, id: i64, offset: u64, max: usize) -> Result<Vec<u8>> {
        self.read(|c| outbox::envelope_chunk(c, id, offset, max))
    }

    fn delivery_sent(&self, id: i64, bytes: u64) -> Result<()> {
        self.write(|tx| outbox::add_sent(tx, id, bytes))
    }

    fn part_append(
        &self,
        peer: &NodeId,
        sha256: &str,
        size: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<u64> {
        self.write(|tx| parts::append(tx, peer, sha256, size, offset, data))
    }

    fn part_held(&self, peer: &NodeId, sha256: &str) -> Result<u64> {
        self.read(|c| parts::held(c, peer, sha256))
    }

    fn part_read(&self, peer: &NodeId, sha256: &str, offset: u64) -> Result<Option<Vec<u8>>> {
        self.read(|c| parts::read(c, peer, sha256, offset))
    }

    fn parts_remove(&self, peer: &NodeId, sha256: &str) -> Result<()> {
        self.write(|tx| parts::remove(tx, peer, sha256))
    }

    fn envelope_receipt(&self, peer: &NodeId, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.read(|c| parts::receipt(c, peer, sha256))
    }

    fn inbox_content_chunk(&self, bundle_id: Uuid, offset: u64, max: usize) -> Result<Vec<u8>> {
        self.read(|c| inbox::content_chunk(c, bundle_id, offset, max))
    }

    fn inbound_receipt(&self, bundle_id: Uuid) -> Result<Option<Vec<u8>>> {
        self.read(|c| inbox::receipt(c, bundle_id))
    }

    fn accept_inbound(
        &self,
        item: &NewInbound,
        receipt_json: &[u8],
        event: &Event,
    ) -> Result<Vec<u8>> {
        self.write(|tx| inbox::accept(tx, item, receipt_json, event))
    }

    fn reject_inbound(&self, rejection: &NewRejection, event: &Event) -> Result<()> {
        self.write(|tx| inbox::reject(tx, rejection, event))
    }

    fn rejections(&self, limit: u32) -> Result<Vec<RejectionRecord>> {
        self.read(|c| inbox::rejections(c, limit))
    }

    fn inbox(&self, limit: u32) -> Result<Vec<InboxRecord>> {
        self.read(|c| inbox::list(c, limit))
    }

    fn inbox_item(&self, bundle_id: Uuid) -> Result<Option<(InboxRecord, Vec<u8>)>> {
        self.read(|c| inbox::item(c, bundle_id))
    }

    fn inbox_record(&self, bundle_id: Uuid) -> Result<Option<InboxRecord>> {
        self.read(|c| inbox::record(c, bundle_id))
    }

    fn inbox_manifest(&self, bundle_id: Uuid) -> Result<Option<Vec<u8>>> {
        self.read(|c| inbox::manifest(c, bundle_id))
    }

    fn inbox_signed(&self, bundle_id: Uuid) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.read(|c| inbox::signed(c, bundle_id))
    }

    fn share_signed(&self, id: Uuid) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.read(|c| evidence::share_signed(c, id))
    }

    fn inbox_len(&self) -> Result<u64> {
        self.read(inbox::len)
    }

    fn receipts_count(&self) -> Result<u64> {
        self.read(outbox::receipts)
    }

    fn metrics(&self) -> Result<Metrics> {
        self.snapshot(|tx| metrics::collect(tx))
    }
}
