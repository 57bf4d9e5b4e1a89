//! The message worker: sends queued signed messages (agreement proposals,
//! countersignatures, declines, revocations) to their peers, store and
//! forward, with the same backoff as deliveries.
//!
//! A message is done when the peer acknowledges it (`MessageAck`). A refusal
//! by the peer (an `Error` frame other than `unavailable`) is final and
//! recorded with the peer's reason; anything else is retried.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use liaison_core::wire::FrameType;
use liaison_store::{MessageRecord, Store};
use tokio::sync::{watch, Notify};

use crate::delivery::{backoff_delay, random_unit, DeliveryConfig};
use crate::directory::PeerDirectory;
use crate::transport::{Endpoint, Handler, NetError};

/// Messages attempted per round; they are rare and small.
const BATCH: u32 = 32;

/// Sends queued messages until told to stop.
pub(crate) struct MessageWorker<H: Handler> {
    pub store: Arc<dyn Store>,
    pub endpoint: Endpoint<H>,
    pub directory: Arc<PeerDirectory>,
    pub wake: Arc<Notify>,
    pub config: DeliveryConfig,
}

impl<H: Handler> MessageWorker<H> {
    /// Run until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "message worker cannot read its queue");
                    self.config.idle_poll
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Attempt every due message once; how long to wait before the next round.
    async fn round(&self) -> Result<Duration, String> {
        let store = self.store.clone();
        let due = tokio::task::spawn_blocking(move || store.due_messages(Utc::now(), BATCH))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for m in due {
            self.attempt(m).await;
        }
        let store = self.store.clone();
        let next = tokio::task::spawn_blocking(move || store.next_message_due_at())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let now = Utc::now();
        Ok(match next {
            Some(at) if at <= now => Duration::from_millis(10),
            Some(at) => (at - now)
                .to_std()
                .unwrap_or_default()
                .min(self.config.idle_poll),
            None => self.config.idle_poll,
        })
    }

    async fn attempt(&self, m: MessageRecord) {
        let outcome = match self.directory.card(&m.peer) {
            None => Err(NetError::Refused("the peer is not pinned".into())),
            Some(card) => {
                self.endpoint
                    .request(
                        &card,
                        FrameType::Message,
                        &m.body,
                        self.config.request_timeout,
                    )
                    .await
            }
        };
        let store = self.store.clone();
        let (id, peer, kind) = (m.id, m.peer, m.kind.clone());
        let result = match outcome {
            // A recall is done when its signed receipt is stored.
            Ok((FrameType::MessageAck, answer)) if kind == "recall" => {
                let recall = m.body.clone();
                tokio::task::spawn_blocking(move || {
                    match crate::recalls::store_receipt(store.as_ref(), id, peer, &recall, &answer) {
                        Ok(outcome) => {
                            tracing::info!(%peer, outcome = outcome.as_str(), "recall receipt stored");
                            Ok(())
                        }
                        Err(e) => {
                            let refusal = format!("invalid_recall_receipt: {e}");
                            tracing::warn!(%peer, %refusal, "the peer's recall receipt is not valid");
                            store.message_completed(id, Some(&refusal))
                        }
                    }
                })
                .await
            }
            Ok((FrameType::MessageAck, _)) => {
                tracing::info!(%peer, kind, "message acknowledged by the peer");
                tokio::task::spawn_blocking(move || store.message_completed(id, None)).await
            }
            Err(NetError::Remote { code, message }) if code != "unavailable" => {
                let refusal = format!("{code}: {message}");
                tracing::warn!(%peer, kind, %refusal, "the peer refused a message (final)");
                tokio::task::spawn_blocking(move || store.message_completed(id, Some(&refusal)))
                    .await
            }
            other => {
                let error = match other {
                    Ok((ty, _)) => format!("the peer answered a {ty:?} frame"),
                    Err(e) => e.to_string(),
                };
                let delay = backoff_delay(
                    m.attempts.saturating_add(1),
                    self.config.backoff_base,
                    self.config.backoff_max,
                    random_unit(),
                );
                let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                tracing::debug!(%peer, kind, %error, next = %at, "message not delivered; will retry");
                tokio::task::spawn_blocking(move || store.message_retry(id, &error, at)).await
            }
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot record a message attempt"),
            Err(e) => tracing::error!(error = %e, "cannot record a message attempt"),
        }
    }
}
