//! The delivery worker (DESIGN §6): send every pending outbox row to its
//! peer, and mark it done only when the peer's signed receipt verifies and is
//! stored.
//!
//! Store and forward: the outbox row is written with the share, so a crash at
//! any point leaves it pending and it is sent again after restart. The
//! receiver deduplicates by bundle id and returns its original receipt, so a
//! resend never creates a second inbox entry. A failed attempt is retried
//! with capped exponential backoff and jitter; a negative receipt is final.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::receipt::{Outcome, SignedReceipt};
use liaison_core::wire::{self, encode_part, FrameType, PartAck, PartHeader, PART_SIZE};
use liaison_store::{DueDelivery, Event, Store, StoredReceipt};
use serde_json::json;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::directory::PeerDirectory;
use crate::transport::{Endpoint, Handler, NetError};

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Bound on one attempt: dial, handshake, send, receipt.
    pub request_timeout: Duration,
    /// Delay before the first retry; doubled on each failure.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// Deliveries in flight at once, across all peers.
    pub max_in_flight: usize,
    /// When nothing wakes the worker, it still looks at the outbox this
    /// often (a safety net; shares normally wake it at once).
    pub idle_poll: Duration,
    /// Pause after each part of a large envelope (none by default): paces
    /// a bulk transfer on a link it shares with other traffic.
    pub part_interval: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            request_timeout: Duration::from_secs(20),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_in_flight: 64,
            idle_poll: Duration::from_secs(5),
            part_interval: Duration::ZERO,
        }
    }
}

/// The delay before the next attempt after `failures` failed ones (>= 1):
/// `base * 2^(failures-1)`, capped at `max`, then scaled by `jitter` in
/// `[0, 1)` into `[delay/2, delay)` ("equal jitter": peers that failed
/// together do not retry in lockstep, and no retry comes sooner than half
/// the nominal delay).
pub fn backoff_delay(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let nominal = base.saturating_mul(1u32 << exp).min(max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    nominal.mul_f64(0.5 + 0.5 * jitter)
}

/// A uniform value in `[0, 1)` from the system random source (0.5 if it
/// fails: jitter is a courtesy, not a security property).
pub(crate) fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::getrandom(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// Sends pending deliveries until told to stop.
pub struct DeliveryWorker<H: Handler> {
    ctx: Arc<Ctx<H>>,
}

struct Ctx<H: Handler> {
    store: Arc<dyn Store>,
    endpoint: Endpoint<H>,
    directory: Arc<PeerDirectory>,
    wake: Arc<Notify>,
    config: DeliveryConfig,
    node_id: NodeId,
    /// Outbox rows being attempted right now, so a row is never sent twice
    /// at once.
    in_flight: Mutex<HashSet<i64>>,
}

impl<H: Handler> DeliveryWorker<H> {
    /// A worker sending through `endpoint`. `wake` is notified when a share
    /// is queued (and by the worker itself when an attempt ends).
    pub fn new(
        store: Arc<dyn Store>,
        endpoint: Endpoint<H>,
        directory: Arc<PeerDirectory>,
        wake: Arc<Notify>,
        config: DeliveryConfig,
    ) -> DeliveryWorker<H> {
        let node_id = endpoint.node_id();
        DeliveryWorker {
            ctx: Arc::new(Ctx {
                store,
                endpoint,
                directory,
                wake,
                config,
                node_id,
                in_flight: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Run until `shutdown` turns true, then stop starting attempts and wait
    /// for those in flight (each bounded by `request_timeout`). Whatever did
    /// not complete stays pending in the outbox.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let ctx = self.ctx;
        let permits = Arc::new(Semaphore::new(ctx.config.max_in_flight.max(1)));
        let mut tasks = JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let wait = match ctx.clone().start_due(&permits, &mut tasks).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "delivery worker cannot read the outbox");
                    ctx.config.idle_poll
                }
            };
            tokio::select! {
                _ = ctx.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        let n = tasks.len();
        if n > 0 {
            tracing::info!(
                in_flight = n,
                "delivery worker: finishing attempts in flight"
            );
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!("delivery worker stopped");
    }
}

impl<H: Handler> Ctx<H> {
    /// Start attempts for due rows while permits last; return how long to
    /// wait before looking again (wake-ups may come sooner).
    async fn start_due(
        self: Arc<Self>,
        permits: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
    ) -> Result<Duration, String> {
        let free = permits.available_permits();
        if free == 0 {
            // An attempt ending notifies `wake`.
            return Ok(self.config.idle_poll);
        }
        let busy = self.busy();
        let limit = u32::try_from(free + busy).unwrap_or(u32::MAX);
        let store = self.store.clone();
        let (due, next) = tokio::task::spawn_blocking(move || {
            let due = store.due_deliveries(Utc::now(), limit)?;
            let next = store.next_due_at()?;
            Ok::<_, liaison_store::StoreError>((due, next))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;

        for d in due {
            if !self.claim(d.id) {
                continue;
            }
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                self.release(d.id);
                break;
            };
            let ctx = self.clone();
            tasks.spawn(async move {
                let id = d.id;
                ctx.attempt(d).await;
                ctx.release(id);
                drop(permit);
                ctx.wake.notify_one();
            });
        }
        let now = Utc::now();
        Ok(match next {
            // Due now but already in flight (or out of permits): the end of
            // an attempt wakes us.
            Some(at) if at <= now => self.config.idle_poll,
            Some(at) => (at - now)
                .to_std()
                .unwrap_or_default()
                .min(self.config.idle_poll),
            None => self.config.idle_poll,
        })
    }

    fn busy(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn claim(&self, id: i64) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id)
    }

    fn release(&self, id: i64) {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// One attempt at one delivery; the outcome is stored either way.
    async fn attempt(self: &Arc<Self>, d: DueDelivery) {
        let Some(card) = self.directory.card(&d.peer) else {
            // Unpinned since the share was queued: never dial it. The row
            // stays pending (nothing is lost) and is looked at again rarely.
            let at = Utc::now() + chrono_duration(self.config.backoff_max);
            self.retry(&d, "the peer is not pinned".into(), at).await;
            return;
        };
        let mut sent = 0u64;
        let answer = self.send(&card, &d, &mut sent).await;
        if sent > 0 {
            let (store, id) = (self.store.clone(), d.id);
            let counted = tokio::task::spawn_blocking(move || store.delivery_sent(id, sent)).await;
            if let Err(e) = counted
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                tracing::warn!(error = %e, "cannot count the bytes sent of a delivery");
            }
        }
        let receipt = match answer {
            Ok((FrameType::Receipt, body)) => body,
            Ok((other, _)) => {
                let err = format!("the peer answered a {other:?} frame instead of a receipt");
                return self.retry_later(&d, err, false).await;
            }
            // The peer answered: its problem is with this delivery only.
            Err(e @ (NetError::Remote { .. } | NetError::Protocol(_))) => {
                return self.retry_later(&d, e.to_string(), false).await
            }
            // The peer is unreachable or refuses us: hold its whole backlog.
            Err(e) => return self.retry_later(&d, e.to_string(), true).await,
        };
        let ctx = self.clone();
        let d2 = d.clone();
        let stored = tokio::task::spawn_blocking(move || ctx.complete(&d2, receipt)).await;
        match stored {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.retry_later(&d, e, false).await,
            Err(e) => {
                self.retry_later(&d, format!("task failed: {e}"), false)
                    .await
            }
        }
    }

    /// Send `d`'s envelope and return the peer's answer, counting the
    /// envelope bytes put on the wire in `sent`. An envelope up to one part
    /// goes in one `Deliver` frame; a larger one in `Part` frames, starting
    /// where the peer says it holds the envelope up to, so a transfer cut
    /// halfway resumes instead of starting over.
    async fn send(
        &self,
        card: &liaison_core::identity::IdentityCard,
        d: &DueDelivery,
        sent: &mut u64,
    ) -> Result<(FrameType, Vec<u8>), NetError> {
        let timeout = self.config.request_timeout;
        if d.envelope_size <= u64::from(PART_SIZE) {
            let envelope = self.chunk(d, 0).await?;
            *sent += envelope.len() as u64;
            return self
                .endpoint
                .request(card, FrameType::Deliver, &envelope, timeout)
                .await;
        }
        let header = |offset| PartHeader {
            envelope_sha256: d.envelope_sha256.clone(),
            size: d.envelope_size,
            offset,
        };
        // How much does the peer hold already?
        let mut answer = self
            .endpoint
            .request(
                card,
                FrameType::Part,
                &encode_part(&header(0), &[]),
                timeout,
            )
            .await?;
        let mut waits = 0u32;
        loop {
            let held = match &answer {
                (FrameType::PartAck, body) => {
                    wire::parse_body::<PartAck>(FrameType::PartAck, body)
                        .map_err(|e| NetError::Protocol(e.to_string()))?
                        .received
                }
                _ => return Ok(answer),
            };
            if held > d.envelope_size {
                return Err(NetError::Protocol(format!(
                    "the peer holds {held} bytes of a {}-byte envelope",
                    d.envelope_size
                )));
            }
            let body = if held == d.envelope_size {
                // Whole, and being opened by an earlier request of ours:
                // ask again shortly for the receipt.
                waits += 1;
                if waits > 240 {
                    return Err(NetError::Timeout);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                encode_part(&header(held), &[])
            } else {
                let chunk = self.chunk(d, held).await?;
                *sent += chunk.len() as u64;
                encode_part(&header(held), &chunk)
            };
            // The last part is answered once the envelope is opened and
            // checked, which takes longer than storing a part.
            let last = held + u64::from(PART_SIZE) >= d.envelope_size;
            let wait = if last { timeout * 6 } else { timeout };
            answer = self
                .endpoint
                .request(card, FrameType::Part, &body, wait)
                .await?;
            if !self.config.part_interval.is_zero() {
                tokio::time::sleep(self.config.part_interval).await;
            }
        }
    }

    /// One part of `d`'s envelope from `offset`, read from the store.
    async fn chunk(&self, d: &DueDelivery, offset: u64) -> Result<Vec<u8>, NetError> {
        let (store, id) = (self.store.clone(), d.id);
        let max = PART_SIZE as usize;
        tokio::task::spawn_blocking(move || store.envelope_chunk(id, offset, max))
            .await
            .map_err(|e| NetError::Protocol(format!("task failed: {e}")))?
            .map_err(|e| NetError::Protocol(format!("cannot read the envelope to send: {e}")))
    }

    /// Verify the receipt and store it with the delivery's completion.
    fn complete(&self, d: &DueDelivery, json: Vec<u8>) -> Result<(), String> {
        let signed = SignedReceipt::verify(&json, &d.peer)
            .and_then(|s| {
                s.check_answers(&self.node_id, d.share_id, &d.envelope_sha256)?;
                Ok(s)
            })
            .map_err(|e| format!("receipt refused: {e}"))?;
        let r = &signed.receipt;
        let (accepted, reason, detail) = match &r.outcome {
            Outcome::Accepted => (true, None, None),
            Outcome::Rejected { reason, detail } => {
                (false, Some(reason.code().to_string()), Some(detail.clone()))
            }
        };
        let event = Event {
            kind: kinds::RECEIPT_STORED,
            actor: format!("peer:{}", d.peer),
            body: json!({
                "share_id": d.share_id,
                "peer": d.peer.to_string(),
                "accepted": accepted,
                "reason": reason,
                "detail": detail,
                "envelope_sha256": d.envelope_sha256,
                "manifest_sha256": r.manifest_sha256,
                "receipt_sha256": sha256_hex(&json),
                "received_at": r.received_at,
            }),
        };
        let stored = StoredReceipt {
            json,
            accepted,
            reason: reason.clone(),
            received_at: r.received_at,
        };
        let fresh = self
            .store
            .delivery_completed(d.id, &stored, &event)
            .map_err(|e| format!("cannot store the receipt: {e}"))?;
        if self.directory.contact_due(&d.peer) {
            if let Err(e) = self.store.touch_peer(&d.peer, Utc::now()) {
                tracing::warn!(peer = %d.peer, error = %e, "cannot record contact with a peer");
            }
        }
        if fresh {
            if accepted {
                tracing::info!(share = %d.share_id, peer = %d.peer, "delivered: receipt verified and stored");
            } else {
                tracing::warn!(share = %d.share_id, peer = %d.peer, reason = ?reason, "the peer refused the bundle (final)");
            }
        }
        Ok(())
    }

    /// Schedule the next attempt after backoff. With `whole_peer`, also
    /// postpone the peer's other pending deliveries to the same time: while
    /// a peer is down, its backlog must not take every slot from the peers
    /// that are up, nor cost one timeout per row.
    async fn retry_later(&self, d: &DueDelivery, error: String, whole_peer: bool) {
        let delay = backoff_delay(
            d.attempts.saturating_add(1),
            self.config.backoff_base,
            self.config.backoff_max,
            random_unit(),
        );
        let at = Utc::now() + chrono_duration(delay);
        self.retry(d, error, at).await;
        if whole_peer {
            let (store, peer) = (self.store.clone(), d.peer);
            let deferred =
                tokio::task::spawn_blocking(move || store.defer_deliveries(&peer, at)).await;
            match deferred {
                Ok(Ok(n)) if n > 0 => {
                    tracing::debug!(%peer, deliveries = n, next = %at, "peer unreachable: backlog postponed")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "cannot postpone deliveries"),
                Err(e) => tracing::error!(error = %e, "cannot postpone deliveries"),
            }
        }
    }

    async fn retry(&self, d: &DueDelivery, error: String, at: DateTime<Utc>) {
        let failures = d.attempts.saturating_add(1);
        tracing::debug!(share = %d.share_id, peer = %d.peer, failures, %error, next = %at, "delivery failed; will retry");
        // The ledger records the first failure and every tenth: enough to
        // prove the node kept trying, without one entry per attempt.
        let event = (failures == 1 || failures % 10 == 0).then(|| Event {
            kind: kinds::DELIVERY_RETRY,
            actor: "node".to_string(),
            body: json!({
                "share_id": d.share_id,
                "peer": d.peer.to_string(),
                "failures": failures,
                "error": error,
                "next_attempt_at": at,
            }),
        });
        let store = self.store.clone();
        let id = d.id;
        let done = tokio::task::spawn_blocking(move || {
            store.delivery_retry(id, &error, at, event.as_ref())
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot record a failed delivery attempt"),
            Err(e) => tracing::error!(error = %e, "cannot record a failed delivery attempt"),
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_half() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let near_one = backoff_delay(1, base, max, 0.999_999);
        assert!(near_one < base && near_one > Duration::from_millis(999));
        assert_eq!(backoff_delay(1, base, max, 0.0), Duration::from_millis(500));
        assert_eq!(backoff_delay(2, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(4, base, max, 0.0), Duration::from_secs(4));
        // Capped: 2^9 s > 60 s.
        assert_eq!(backoff_delay(10, base, max, 0.0), Duration::from_secs(30));
        assert!(backoff_delay(10, base, max, 0.999) < max);
        assert!(backoff_delay(10, base, max, 0.999) > Duration::from_secs(59));
        // Huge attempt counts and bad jitter do not overflow or panic.
        assert_eq!(backoff_delay(u32::MAX, base, max, f64::NAN), max / 2);
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
