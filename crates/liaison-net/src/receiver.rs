//! The receiving side of delivery (DESIGN §6): open each delivered envelope
//! with the pinned keys, decide, store, and answer with a signed receipt.
//!
//! Deliveries are deduplicated by bundle id: a redelivery (the sender crashed
//! before storing our receipt, or its connection broke and it redialled) gets
//! the original receipt back and writes nothing. A refusal is final: it is
//! recorded with its reason and answered with a signed negative receipt. Only
//! a local failure (the store is unavailable) is answered with an `Error`
//! frame, which the sender retries.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use liaison_core::agreement::SignedAgreement;
use liaison_core::content::{self, Inventory, Kind};
use liaison_core::envelope::{self, OpenLimits, Opened};
use liaison_core::forward;
use liaison_core::identity::{NodeId, NodeKeys};
use liaison_core::joint::JointLog;
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::policy::{self, Direction, ShareFacts, Standing};
use liaison_core::receipt::{Outcome, Receipt, RejectReason, SignedReceipt};
use liaison_core::wire::{self, FrameType, PartAck, PartHeader, Ping, Pong, WireErrorBody};
use liaison_store::{
    from_start, ChunkReader, Event, NewInbound, NewRejection, Payload, Store, StoreError,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::directory::PeerDirectory;
use crate::transport::Handler;

/// At most one `peer.refused` ledger entry per remote (or per "unknown")
/// within this window; anyone can trigger refusals at will.
const REFUSAL_LEDGER_INTERVAL: Duration = Duration::from_secs(60);
/// Remotes remembered for refusal rate limiting before the table is reset.
const REFUSAL_TABLE_MAX: usize = 4096;

/// Answers deliveries and pings from pinned peers, backed by the store.
/// Cheap to clone (shared state).
#[derive(Clone)]
pub struct Receiver {
    store: Arc<dyn Store>,
    keys: Arc<NodeKeys>,
    directory: Arc<PeerDirectory>,
    limits: OpenLimits,
    refusals: Arc<Mutex<HashMap<Option<NodeId>, Instant>>>,
    messages: Option<Arc<dyn MessageHandler>>,
    /// Where the content of an envelope received in parts is written while
    /// it is checked (anonymous files: nothing is left after a crash).
    spool: PathBuf,
    /// Envelopes whose last part arrived and that are being opened, so a
    /// sender that asks again meanwhile is told to wait, not served twice.
    completing: Arc<Mutex<HashSet<(NodeId, String)>>>,
}

/// Answers `Message` frames: signed documents for higher layers (agreement
/// proposals, countersignatures, declines, revocations).
pub trait MessageHandler: Send + Sync + 'static {
    /// Handle one message body from an authenticated, pinned `peer`
    /// (blocking: may verify signatures and write the store). `Ok` is the
    /// `MessageAck` body; `Err` becomes an `Error` frame with this code and
    /// message.
    fn handle_message(&self, peer: NodeId, body: &[u8]) -> Result<Vec<u8>, MessageRefusal>;
}

/// Why a message was refused: a stable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRefusal {
    /// Stable code (e.g. `invalid_agreement`).
    pub code: String,
    /// What is wrong.
    pub message: String,
}

impl Receiver {
    /// A receiver for the node holding `keys`.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<NodeKeys>,
        directory: Arc<PeerDirectory>,
        limits: OpenLimits,
    ) -> Receiver {
        Receiver {
            store,
            keys,
            directory,
            limits,
            refusals: Arc::new(Mutex::new(HashMap::new())),
            messages: None,
            spool: std::env::temp_dir(),
            completing: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Write the content of envelopes received in parts under `dir`
    /// (default: the system temporary directory).
    pub fn with_spool(mut self, dir: PathBuf) -> Receiver {
        self.spool = dir;
        self
    }

    /// Answer `Message` frames with `handler` (without one they are refused
    /// as unsupported).
    pub fn with_messages(mut self, handler: Arc<dyn MessageHandler>) -> Receiver {
        self.messages = Some(handler);
        self
    }

    /// Handle one delivery from `peer` (blocking: crypto and the store).
    /// Returns the signed receipt JSON, or an error for the sender to retry.
    pub fn deliver(&self, peer: NodeId, ciphertext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.deliver_from(peer, sha256_hex(ciphertext), ciphertext, false)
    }

    /// [`Receiver::deliver`] of an envelope read from `input`, whose SHA-256
    /// is `envelope_sha256`. With `spooled`, the content is written to a
    /// file and checked from there (STIX one object at a time), so memory
    /// stays bounded whatever the size.
    fn deliver_from<R: Read>(
        &self,
        peer: NodeId,
        envelope_sha256: String,
        input: R,
        spooled: bool,
    ) -> Result<Vec<u8>, StoreError> {
        let pins = self.directory.pin_set();
        let opened = if spooled {
            let file = tempfile::tempfile_in(&self.spool).map_err(|e| {
                StoreError::Db(format!(
                    "cannot create a spool file in {}: {e}",
                    self.spool.display()
                ))
            })?;
            let mut sink = BufWriter::new(&file);
            let opened = envelope::open_to(&self.keys, &pins, input, &self.limits, &mut sink)
                .and_then(|o| sink.flush().map(|()| o).map_err(envelope::OpenError::Sink));
            drop(sink);
            opened.map(|o| {
                let size = o.manifest.content.size;
                (o, Payload::File(Arc::new(file), size))
            })
        } else {
            let mut content = Vec::new();
            envelope::open_to(&self.keys, &pins, input, &self.limits, &mut content)
                .map(|o| (o, Payload::Bytes(content)))
        };
        let decision = match opened {
            // The sink is ours: a local failure, for the sender to retry.
            Err(envelope::OpenError::Sink(e)) => {
                return Err(StoreError::Db(format!("cannot spool content: {e}")))
            }
            other => other,
        }
        .map_err(|e| Refusal {
            reason: RejectReason::from(&e),
            detail: e.to_string(),
            opened: None,
        })
        .and_then(|(opened, content)| self.check(peer, opened, content));
        // (The inventory comes from the same parse as validation.)
        let now = Utc::now();
        self.touch(peer, now);
        match decision {
            Ok((opened, content, inventory)) => {
                let m = &opened.manifest;
                // Cheap path for a redelivery: no new receipt to sign.
                if let Some(original) = self.store.inbound_receipt(m.bundle_id)? {
                    tracing::debug!(bundle = %m.bundle_id, %peer, "redelivery: original receipt returned");
                    return Ok(original);
                }
                // Recalled before it arrived: the tombstone refuses it.
                if let Some(t) = self.store.inbound_recall(m.bundle_id)? {
                    let detail = format!(
                        "the originator recalled bundle {} at {}: {}",
                        m.bundle_id,
                        t.recalled_at.to_rfc3339(),
                        t.reason
                    );
                    let refusal = Refusal::of(&opened, RejectReason::Recalled, detail);
                    return self.refuse(peer, refusal, envelope_sha256, now);
                }
                // A revision revises a bundle of the same sender only.
                if let Some(prev) = m.supersedes {
                    if let Some(rec) = self.store.inbox_record(prev)? {
                        if rec.sender != peer {
                            let detail = format!(
                                "the bundle revises {prev}, which {} sent, not {peer}",
                                rec.sender
                            );
                            let refusal = Refusal::of(&opened, RejectReason::PolicyDenied, detail);
                            return self.refuse(peer, refusal, envelope_sha256, now);
                        }
                    }
                }
                let joint = match m.kind {
                    Kind::Coordination => match payload_bytes(&content)
                        .map_err(|e| e.to_string())
                        .and_then(|b| JointLog::from_json(&b).map_err(|e| e.to_string()))
                    {
                        Ok(log) => Some(log),
                        Err(e) => {
                            let refusal = Refusal::of(&opened, RejectReason::InvalidContent, e);
                            return self.refuse(peer, refusal, envelope_sha256, now);
                        }
                    },
                    _ => None,
                };
                if let Some(refusal) = self.policy(peer, &opened, inventory, joint.as_ref())? {
                    return self.refuse(peer, refusal, envelope_sha256, now);
                }
                let manifest_sha256 = opened.manifest_sha256();
                let receipt = SignedReceipt::sign(
                    &self.keys,
                    Receipt {
                        v: 1,
                        bundle_id: Some(m.bundle_id),
                        manifest_sha256: Some(manifest_sha256.clone()),
                        envelope_sha256: envelope_sha256.clone(),
                        sender: peer,
                        recipient: self.keys.node_id(),
                        received_at: now,
                        outcome: Outcome::Accepted,
                    },
                );
                let event = Event {
                    kind: kinds::INBOUND_ACCEPTED,
                    actor: format!("peer:{peer}"),
                    body: json!({
                        "bundle_id": m.bundle_id,
                        "sender": peer.to_string(),
                        "sender_org": m.sender.org,
                        "tlp": m.tlp,
                        "kind": m.kind,
                        "manifest_sha256": manifest_sha256,
                        "envelope_sha256": envelope_sha256,
                        "size": m.content.size,
                        "agreement": m.recipient(&self.keys.node_id()).and_then(|r| r.agreement.clone()),
                        "approvals": m.approvals,
                        "forwarded_from": m.forwarded_from.as_ref().map(|f| json!({
                            "bundle_id": f.bundle_id,
                            "manifest_sha256": f.manifest_sha256,
                        })),
                    }),
                };
                let item = NewInbound {
                    bundle_id: m.bundle_id,
                    sender: peer,
                    sender_org: m.sender.org.clone(),
                    tlp: m.tlp,
                    kind: m.kind,
                    manifest: opened.manifest_bytes.clone(),
                    manifest_sha256,
                    dsse: opened.dsse.to_json(),
                    content,
                    envelope_sha256,
                    exercise: m.exercise,
                    joint,
                    supersedes: m.supersedes,
                    not_after: m.not_after,
                };
                let stored = self
                    .store
                    .accept_inbound(&item, &receipt.to_json(), &event)?;
                tracing::info!(bundle = %m.bundle_id, %peer, tlp = %m.tlp, "bundle accepted");
                Ok(stored)
            }
            Err(refusal) => self.refuse(peer, refusal, envelope_sha256, now),
        }
    }

    /// Inbound policy (DESIGN §4 viii): the bundle against this node's own
    /// copy of the agreement with the sender. `None` when it is allowed.
    fn policy(
        &self,
        peer: NodeId,
        opened: &Opened,
        inventory: Inventory,
        joint: Option<&JointLog>,
    ) -> Result<Option<Refusal>, StoreError> {
        let m = &opened.manifest;
        let me = self.keys.node_id();
        let record = self.store.agreement_standing(&peer)?;
        let signed = match record
            .as_ref()
            .map(|r| SignedAgreement::from_stored(&r.document))
        {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                return Err(StoreError::Corrupt(format!(
                    "stored agreement with {peer} does not parse: {e}"
                )))
            }
            None => None,
        };
        let standing = match (&record, &signed) {
            (Some(r), Some(s)) => Some(Standing {
                agreement: &s.agreement,
                state: r.state,
            }),
            _ => None,
        };
        let mut facts = ShareFacts::with_inventory(m.kind, m.tlp, inventory);
        facts.individuals = m.individuals.clone();
        let mut approvers: Vec<&str> = m.approvals.iter().map(|a| a.approver.as_str()).collect();
        approvers.sort_unstable();
        approvers.dedup();
        facts.approvals = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
        let decision = policy::evaluate(
            &facts,
            &peer,
            &me,
            &m.sender.org,
            standing,
            Direction::Inbound,
            Utc::now(),
        );
        let mut reasons: Vec<String> = decision
            .reasons()
            .iter()
            .map(|r| r.message.clone())
            .collect();
        // The sender must say which agreement it released under, and it
        // must be the one in force here.
        if let (Some(r), Some(s)) = (&record, &signed) {
            let named = m.recipient(&me).and_then(|x| x.agreement.as_ref());
            match named {
                None => reasons.push(format!(
                    "the bundle names no agreement for this node; agreement {} v{} is in force here",
                    s.agreement.id, s.agreement.version
                )),
                Some(a) if a.id != s.agreement.id || a.version != s.agreement.version || a.sha256 != r.sha256 => {
                    reasons.push(format!(
                        "the bundle was released under agreement {} v{}, but this node holds agreement {} v{} ({})",
                        a.id, a.version, s.agreement.id, s.agreement.version, r.state
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(log) = joint {
            reasons.extend(self.joint_standing(peer, log)?);
        }
        if reasons.is_empty() {
            return Ok(None);
        }
        Ok(Some(Refusal::of(
            opened,
            RejectReason::PolicyDenied,
            reasons.join("; "),
        )))
    }

    /// Whether `peer` takes part in the incident of a joint log it sent: an
    /// incident opened here must implicate it; another node's incident is
    /// filed from (and updated by) that node only.
    fn joint_standing(&self, peer: NodeId, log: &JointLog) -> Result<Option<String>, StoreError> {
        let me = self.keys.node_id();
        let id = log.incident.id;
        let why = match self.store.incident(id)? {
            Some(i) => match i.origin {
                None if log.incident.origin != me => Some(format!(
                    "incident {id} was opened here, but the joint log names {} as its origin",
                    log.incident.origin
                )),
                None if !i.peers.contains(&peer) => Some(format!(
                    "incident {id} was opened here and does not implicate {peer}"
                )),
                Some(origin) if origin != peer => Some(format!(
                    "incident {id} was opened by {origin}; only that node shares its joint log here"
                )),
                _ => None,
            },
            None if log.incident.origin != peer => Some(format!(
                "incident {id} is unknown here; its joint log must first come from its origin {}",
                log.incident.origin
            )),
            None => None,
        };
        Ok(why)
    }

    /// Record a refusal and return the signed negative receipt.
    fn refuse(
        &self,
        peer: NodeId,
        refusal: Refusal,
        envelope_sha256: String,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<u8>, StoreError> {
        let (bundle_id, manifest_sha256) = match refusal.opened.clone() {
            Some((id, sha)) => (Some(id), Some(sha)),
            None => (None, None),
        };
        let receipt = SignedReceipt::sign(
            &self.keys,
            Receipt {
                v: 1,
                bundle_id,
                manifest_sha256: manifest_sha256.clone(),
                envelope_sha256: envelope_sha256.clone(),
                sender: peer,
                recipient: self.keys.node_id(),
                received_at: now,
                outcome: Outcome::Rejected {
                    reason: refusal.reason,
                    detail: refusal.detail.clone(),
                },
            },
        );
        let json = receipt.to_json();
        let event = Event {
            kind: kinds::INBOUND_REJECTED,
            actor: format!("peer:{peer}"),
            body: json!({
                "sender": peer.to_string(),
                "bundle_id": bundle_id,
                "manifest_sha256": manifest_sha256,
                "envelope_sha256": envelope_sha256,
                "reason": refusal.reason.code(),
                "detail": refusal.detail,
            }),
        };
        self.store.reject_inbound(
            &NewRejection {
                envelope_sha256,
                sender: peer,
                bundle_id,
                reason: refusal.reason.code().to_string(),
                detail: refusal.detail.clone(),
                receipt_json: json.clone(),
            },
            &event,
        )?;
        tracing::warn!(%peer, reason = refusal.reason.code(), detail = %refusal.detail, "delivery refused");
        Ok(json)
    }

    /// The receiver's checks after the envelope opened: who delivered it,
    /// expiry, and the content itself.
    fn check(
        &self,
        peer: NodeId,
        opened: Opened,
        content: Payload,
    ) -> Result<(Opened, Payload, Inventory), Refusal> {
        let m = &opened.manifest;
        let refuse =
            |reason, detail: String, opened: Opened| Err(Refusal::of(&opened, reason, detail));
        // The delivering peer signed this manifest. A re-share is a new
        // bundle signed by the forwarder, carrying the original inside: a
        // bundle relayed by anyone else is refused.
        if m.sender.node_id != peer {
            let detail = format!(
                "delivered by {peer} but signed by {}; a re-share must be signed by the node that delivers it",
                m.sender.node_id
            );
            return refuse(RejectReason::SenderMismatch, detail, opened);
        }
        if m.forwarded_from.is_some() {
            if let Err(e) = forward::verify_forward(m) {
                return refuse(RejectReason::BadForward, e.to_string(), opened);
            }
        }
        if let Some(not_after) = m.not_after {
            if not_after < Utc::now() {
                let detail = format!("bundle expired at {}", not_after.to_rfc3339());
                return refuse(RejectReason::Expired, detail, opened);
            }
        }
        let checked = match &content {
            Payload::Bytes(b) => content::validate(m.kind, b),
            Payload::File(file, _) => from_start(file)
                .map_err(|e| content::ContentError::Read(e.to_string()))
                .and_then(|f| content::validate_reader(m.kind, BufReader::new(f))),
        };
        match checked {
            Ok(info) => {
                if let Some(inner) = info.max_tlp.filter(|t| *t > m.tlp) {
                    let detail = format!(
                        "bundle labelled {} but the content carries {inner} ({})",
                        m.tlp,
                        info.max_tlp_source.unwrap_or_default()
                    );
                    return refuse(RejectReason::InvalidContent, detail, opened);
                }
                Ok((opened, content, info.inventory))
            }
            Err(e) => refuse(RejectReason::InvalidContent, e.to_string(), opened),
        }
    }

    /// Handle one `Part` of a large envelope from `peer` (blocking): store
    /// it if it continues what is held and answer how much that is; once
    /// the envelope is whole, open it from the stored parts and answer with
    /// the signed receipt, as [`Receiver::deliver`] does.
    pub fn part(&self, peer: NodeId, body: &[u8]) -> Result<(FrameType, Vec<u8>), StoreError> {
        let (h, chunk) = match wire::decode_part(body) {
            Ok(p) => p,
            Err(e) => return Ok(error_frame(e.code(), &e.to_string())),
        };
        let limit = self.max_envelope();
        if h.size > limit {
            let detail = format!(
                "an envelope of {} bytes exceeds this node's limit of {limit} bytes",
                h.size
            );
            let refusal = Refusal {
                reason: RejectReason::TooLarge,
                detail,
                opened: None,
            };
            let receipt = self.refuse(peer, refusal, h.envelope_sha256, Utc::now())?;
            return Ok((FrameType::Receipt, receipt));
        }
        // Answered before (the sender lost our receipt): answer again.
        if let Some(receipt) = self.store.envelope_receipt(&peer, &h.envelope_sha256)? {
            return Ok((FrameType::Receipt, receipt));
        }
        let held = self
            .store
            .part_append(&peer, &h.envelope_sha256, h.size, h.offset, chunk)?;
        if held < h.size {
            return Ok(part_ack(held));
        }
        let key = (peer, h.envelope_sha256.clone());
        if !lock(&self.completing).insert(key.clone()) {
            // Being opened by an earlier request: the sender asks again.
            return Ok(part_ack(held));
        }
        let answer = self.complete_parts(peer, &h);
        lock(&self.completing).remove(&key);
        answer
    }

    /// Open an envelope whose parts are all stored.
    fn complete_parts(
        &self,
        peer: NodeId,
        h: &PartHeader,
    ) -> Result<(FrameType, Vec<u8>), StoreError> {
        // The parts must make up the envelope the sender named: a sender
        // that changed it under the same name starts again.
        let mut hasher = Sha256::new();
        let mut parts = self.parts(peer, &h.envelope_sha256);
        let copied = io::copy(&mut parts, &mut hasher);
        parts.take_error()?;
        copied.map_err(|e| StoreError::Db(format!("reading stored parts: {e}")))?;
        let digest = data_encoding::HEXLOWER.encode(&hasher.finalize());
        if digest != h.envelope_sha256 {
            self.store.parts_remove(&peer, &h.envelope_sha256)?;
            tracing::warn!(%peer, "the parts of an envelope do not match its digest; dropped");
            return Ok(error_frame(
                "envelope_mismatch",
                "the parts received do not hash to the envelope's SHA-256; send it again from the start",
            ));
        }
        let mut parts = self.parts(peer, &h.envelope_sha256);
        let receipt = self.deliver_from(peer, h.envelope_sha256.clone(), &mut parts, true);
        // A store failure while reading is ours: the sender retries.
        parts.take_error()?;
        let receipt = receipt?;
        self.store.parts_remove(&peer, &h.envelope_sha256)?;
        Ok((FrameType::Receipt, receipt))
    }

    /// The stored parts of envelope `sha256` from `peer`, in order.
    fn parts<'a>(
        &'a self,
        peer: NodeId,
        sha256: &'a str,
    ) -> ChunkReader<impl FnMut(u64) -> Result<Vec<u8>, StoreError> + 'a> {
        ChunkReader::new(move |offset| {
            Ok(self
                .store
                .part_read(&peer, sha256, offset)?
                .unwrap_or_default())
        })
    }

    /// The largest envelope this node takes: content, manifest, age header
    /// and age's 16-byte tag per 64 KiB chunk.
    fn max_envelope(&self) -> u64 {
        let l = &self.limits;
        let content = l.max_content_bytes;
        content
            .saturating_add(content / 4096)
            .saturating_add(u64::from(l.max_manifest_bytes))
            .saturating_add(l.max_header_bytes as u64)
            .saturating_add(4096)
    }

    /// Answer a ping with a signed pong.
    pub fn ping(&self, body: &[u8]) -> (FrameType, Vec<u8>) {
        let answer = wire::parse_body::<Ping>(FrameType::Ping, body)
            .and_then(|ping| Pong::sign(&self.keys, &ping, Utc::now()));
        match answer {
            Ok(pong) => (FrameType::Pong, pong),
            Err(e) => error_frame(e.code(), &e.to_string()),
        }
    }

    /// Record contact with `peer` (rate-limited by the directory).
    fn touch(&self, peer: NodeId, now: chrono::DateTime<Utc>) {
        if self.directory.contact_due(&peer) {
            if let Err(e) = self.store.touch_peer(&peer, now) {
                tracing::warn!(%peer, error = %e, "cannot record contact with a peer");
            }
        }
    }

    /// Whether a refusal by this remote should be ledgered now.
    fn refusal_due(&self, peer: Option<NodeId>) -> bool {
        let mut table = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if table.len() >= REFUSAL_TABLE_MAX {
            table.retain(|_, at| now.duration_since(*at) < REFUSAL_LEDGER_INTERVAL);
            if table.len() >= REFUSAL_TABLE_MAX {
                table.clear();
            }
        }
        match table.get(&peer) {
            Some(at) if now.duration_since(*at) < REFUSAL_LEDGER_INTERVAL => false,
            _ => {
                table.insert(peer, now);
                true
            }
        }
    }
}

/// Why a delivery is refused, before it is recorded.
struct Refusal {
    reason: RejectReason,
    detail: String,
    /// Bundle id and manifest digest, when the envelope opened.
    opened: Option<(uuid::Uuid, String)>,
}

impl Refusal {
    /// A refusal of an envelope that opened (its bundle is named).
    fn of(opened: &Opened, reason: RejectReason, detail: String) -> Refusal {
        Refusal {
            reason,
            detail,
            opened: Some((opened.manifest.bundle_id, opened.manifest_sha256())),
        }
    }
}

/// The whole payload in memory (for small documents such as a joint log).
fn payload_bytes(p: &Payload) -> io::Result<std::borrow::Cow<'_, [u8]>> {
    match p {
        Payload::Bytes(b) => Ok(std::borrow::Cow::Borrowed(b)),
        Payload::File(file, len) => {
            let mut out = Vec::with_capacity(usize::try_from(*len).unwrap_or(0).min(1 << 24));
            from_start(file)?.read_to_end(&mut out)?;
            Ok(std::borrow::Cow::Owned(out))
        }
    }
}

fn part_ack(received: u64) -> (FrameType, Vec<u8>) {
    (
        FrameType::PartAck,
        serde_json::to_vec(&PartAck { received }).unwrap_or_default(),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Run `answer` on the blocking pool (crypto and the store). A store that
/// cannot record the `what` now is answered `unavailable`, which the sender
/// retries.
async fn blocking_answer(
    peer: NodeId,
    what: &'static str,
    answer: impl FnOnce() -> Result<(FrameType, Vec<u8>), StoreError> + Send + 'static,
) -> (FrameType, Vec<u8>) {
    match tokio::task::spawn_blocking(answer).await {
        Ok(Ok(frame)) => frame,
        Ok(Err(e)) => {
            tracing::error!(%peer, error = %e, "cannot record a {what}; the sender will retry");
            error_frame(
                "unavailable",
                &format!("the receiving node cannot store the {what} now; retry later"),
            )
        }
        Err(e) => {
            tracing::error!(%peer, error = %e, "{what} task failed");
            error_frame("unavailable", "the receiving node failed; retry later")
        }
    }
}

/// An `Error` frame.
fn error_frame(code: &str, message: &str) -> (FrameType, Vec<u8>) {
    let body = WireErrorBody {
        code: code.to_string(),
        message: message.to_string(),
    };
    (
        FrameType::Error,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

impl Handler for Receiver {
    async fn handle(
        &self,
        peer: NodeId,
        frame_type: FrameType,
        body: Vec<u8>,
    ) -> (FrameType, Vec<u8>) {
        match frame_type {
            FrameType::Deliver => {
                let this = self.clone();
                blocking_answer(peer, "delivery", move || {
                    this.deliver(peer, &body).map(|r| (FrameType::Receipt, r))
                })
                .await
            }
            FrameType::Part => {
                let this = self.clone();
                blocking_answer(peer, "part", move || this.part(peer, &body)).await
            }
            FrameType::Ping => self.ping(&body),
            FrameType::Message if self.messages.is_some() => {
                let Some(handler) = self.messages.clone() else {
                    return error_frame("unsupported", "messages are not supported");
                };
                let answer =
                    tokio::task::spawn_blocking(move || handler.handle_message(peer, &body)).await;
                match answer {
                    Ok(Ok(ack)) => (FrameType::MessageAck, ack),
                    Ok(Err(refusal)) => error_frame(&refusal.code, &refusal.message),
                    Err(e) => {
                        tracing::error!(%peer, error = %e, "message task failed");
                        error_frame("unavailable", "the receiving node failed; retry later")
                    }
                }
            }
            other => error_frame(
                "unsupported",
                &format!("{other:?} requests are not supported by this node yet"),
            ),
        }
    }

    fn on_refused(&self, peer: Option<NodeId>, reason: &str) {
        tracing::warn!(peer = ?peer.map(|p| p.to_string()), reason, "connection refused");
        if !self.refusal_due(peer) {
            return;
        }
        let event = Event {
            kind: kinds::PEER_REFUSED,
            actor: "node".to_string(),
            body: json!({
                "peer": peer.map(|p| p.to_string()),
                "reason": reason,
                "note": "further refusals of this remote within 60 s are not ledgered",
            }),
        };
        let store = self.store.clone();
        // Called from the TLS handshake: never block here.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn_blocking(move || {
                if let Err(e) = store.append(&event) {
                    tracing::error!(error = %e, "cannot ledger a refused connection");
                }
            });
        }
    }
}
