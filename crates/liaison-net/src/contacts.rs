//! Contact-path checks (NIST SP 800-53 IR-4(10)): the node pings every
//! pinned peer over QUIC on a schedule set by its tier, verifies the signed
//! pong, and records the result (ledgered by the store). A peer whose path
//! was not verified within its tier's interval is flagged by whoever reads
//! the state ([`ContactSchedule::is_stale`]).
//!
//! The schedule lives in the store (last check per peer), so checks resume
//! where they were after a restart.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use liaison_core::identity::NodeId;
use liaison_core::roster::ContactSchedule;
use liaison_core::wire::{FrameType, Ping, Pong};
use liaison_store::Store;
use tokio::sync::watch;

use crate::directory::PeerDirectory;
use crate::receiver::Receiver;
use crate::transport::{Endpoint, NetError};

/// One check's result, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The peer.
    pub peer: NodeId,
    /// Round trip in microseconds, or why the check failed.
    pub outcome: Result<u64, String>,
}

/// What a check needs: the endpoint, the pins and the store.
#[derive(Clone)]
pub(crate) struct Pinger {
    pub store: Arc<dyn Store>,
    pub endpoint: Endpoint<Receiver>,
    pub directory: Arc<PeerDirectory>,
    pub timeout: Duration,
}

impl Pinger {
    /// Send a random nonce, verify the signed pong; the pong and the round
    /// trip. Records the contact (`last_contact`) but not the check.
    pub async fn ping(&self, peer: &NodeId) -> Result<(Pong, Duration), NetError> {
        let card = self
            .directory
            .card(peer)
            .ok_or_else(|| NetError::Refused(format!("{peer} is not pinned")))?;
        let mut raw = [0u8; 16];
        getrandom::getrandom(&mut raw).map_err(|e| NetError::Io(e.to_string()))?;
        let nonce: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let body = serde_json::to_vec(&Ping {
            nonce: nonce.clone(),
        })
        .map_err(|e| NetError::Protocol(e.to_string()))?;
        let started = std::time::Instant::now();
        let (ty, answer) = self
            .endpoint
            .request(&card, FrameType::Ping, &body, self.timeout)
            .await?;
        let rtt = started.elapsed();
        if ty != FrameType::Pong {
            return Err(NetError::Protocol(format!(
                "expected a Pong frame, got {ty:?}"
            )));
        }
        let pong =
            Pong::verify(&answer, peer, &nonce).map_err(|e| NetError::Protocol(e.to_string()))?;
        if let Err(e) = self.store.touch_peer(peer, Utc::now()) {
            tracing::warn!(error = %e, "cannot record contact with a peer");
        }
        Ok((pong, rtt))
    }

    /// Ping `peer` and record the check in the store.
    pub async fn check(&self, peer: NodeId) -> CheckResult {
        let outcome = match self.ping(&peer).await {
            Ok((_, rtt)) => Ok(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX)),
            Err(e) => Err(e.to_string()),
        };
        let store = self.store.clone();
        let recorded = outcome.clone();
        let at = Utc::now();
        let saved =
            tokio::task::spawn_blocking(move || store.record_contact_check(&peer, at, &recorded))
                .await;
        match saved {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(%peer, error = %e, "cannot record a contact check"),
            Err(e) => tracing::error!(%peer, error = %e, "contact check task failed"),
        }
        match &outcome {
            Ok(rtt) => tracing::debug!(%peer, rtt_us = rtt, "contact path verified"),
            Err(e) => tracing::warn!(%peer, error = %e, "contact path check failed"),
        }
        CheckResult { peer, outcome }
    }
}

/// The background checker.
pub(crate) struct ContactChecker {
    pub pinger: Pinger,
    pub schedule: ContactSchedule,
}

impl ContactChecker {
    /// Check every due peer each tick until `shutdown`. The first round
    /// waits one tick, so a node that restarts often does not ping at once.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let tick = self.schedule.tick();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            let store = self.pinger.store.clone();
            let contacts = match tokio::task::spawn_blocking(move || store.contacts()).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "contact checker cannot read the peers");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "contact checker task failed");
                    continue;
                }
            };
            let now = Utc::now();
            let due: Vec<NodeId> = contacts
                .into_iter()
                .filter(|c| self.schedule.check_due(c.tier, c.last_check_at, now))
                .map(|c| c.node_id)
                .collect();
            // Concurrently: one unreachable peer must not delay the others
            // by its timeout.
            let checks = due.into_iter().map(|peer| {
                let pinger = self.pinger.clone();
                tokio::spawn(async move { pinger.check(peer).await })
            });
            for c in checks.collect::<Vec<_>>() {
                let _ = c.await;
            }
        }
    }
}
