//! Incident deadlines and escalation (NIST SP 800-53 IR-4(10)).
//!
//! For every open incident the worker reads its ledger entries (and those
//! of its shares), works out per peer when it was notified, when its node's
//! receipt came and when a person acknowledged, and escalates each deadline
//! that passed unmet: one `incident.escalated` ledger entry, and a JSON POST
//! to the configured webhook, queued in the same transaction and retried
//! until the endpoint answers 2xx. What was escalated is read back from the
//! ledger, so a restart neither forgets a deadline nor escalates it twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use liaison_core::coordination::{self, Fact, PeerInfo};
use liaison_core::incident::{self, DeadlinePolicy};
use liaison_store::{LedgerRow, Store, StoreError};
use serde_json::json;
use tokio::sync::watch;

/// Settings of incident deadlines and escalation.
#[derive(Debug, Clone)]
pub struct EscalationConfig {
    /// Receipt and acknowledgement deadlines per severity and tier.
    pub deadlines: DeadlinePolicy,
    /// Where escalations are POSTed (JSON), if anywhere.
    pub webhook: Option<String>,
    /// How often deadlines are looked at.
    pub tick: Duration,
    /// Give up on a webhook after this many failed attempts.
    pub webhook_attempts: u32,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            deadlines: DeadlinePolicy::default(),
            webhook: None,
            tick: Duration::from_secs(5),
            webhook_attempts: 20,
        }
    }
}

/// Turn stored ledger rows into the facts the coordination functions read.
pub fn facts(rows: &[LedgerRow]) -> Vec<Fact> {
    rows.iter().filter_map(LedgerRow::fact).collect()
}

/// Name and tier of every pinned peer, by node id.
pub fn peer_info(store: &dyn Store) -> Result<PeerInfo, StoreError> {
    Ok(store
        .contacts()?
        .into_iter()
        .map(|c| (c.node_id.to_string(), (c.name, c.tier)))
        .collect())
}

pub(crate) struct EscalationWorker {
    pub store: Arc<dyn Store>,
    pub config: EscalationConfig,
}

impl EscalationWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        loop {
            let t = this.clone();
            match tokio::task::spawn_blocking(move || t.escalate_due(Utc::now())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::warn!(escalations = n, "incident deadlines passed: escalated")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "cannot check incident deadlines"),
                Err(e) => tracing::error!(error = %e, "escalation task failed"),
            }
            if this.config.webhook.is_some() {
                let t = this.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || t.send_webhooks()).await {
                    tracing::error!(error = %e, "webhook task failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(this.config.tick) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Escalate every deadline due at `now` not yet escalated; how many.
    fn escalate_due(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let open: Vec<_> = self
            .store
            .incidents()?
            .into_iter()
            .filter(|i| i.closed_at.is_none())
            .collect();
        if open.is_empty() {
            return Ok(0);
        }
        let peers = peer_info(self.store.as_ref())?;
        let rosters: HashMap<String, _> = self
            .store
            .contacts()?
            .into_iter()
            .map(|c| (c.node_id.to_string(), c.roster))
            .collect();
        let mut count = 0;
        for inc in open {
            let facts = facts(&self.store.incident_facts(inc.id)?);
            let notes = coordination::notifications(&facts, &peers);
            let already = coordination::escalated(&facts);
            for o in incident::escalations_due(
                inc.severity,
                &notes,
                &self.config.deadlines,
                &already,
                now,
            ) {
                let roster = rosters.get(&o.peer);
                let body = json!({
                    "incident_id": inc.id,
                    "title": inc.title,
                    "severity": inc.severity,
                    "exercise": inc.exercise,
                    "share_id": o.share_id,
                    "peer": o.peer,
                    "peer_name": o.peer_name,
                    "deadline": o.kind,
                    "due_at": o.due_at,
                    "security_contact": roster.map(|r| r.security_contact.clone()),
                    "escalation_path": roster.map(|r| r.escalation_path.clone()),
                    "fallback_channel": roster.map(|r| r.fallback_channel.clone()),
                });
                self.store
                    .escalate(inc.id, &body, self.config.webhook.is_some())?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// POST every due webhook; retry failures with capped backoff.
    fn send_webhooks(&self) {
        let Some(url) = self.config.webhook.as_deref() else {
            return;
        };
        let due = match self.store.due_webhooks(Utc::now(), 16) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the webhook outbox");
                return;
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        for w in due {
            let outcome = match agent
                .post(url)
                .header("Content-Type", "application/json")
                .header("User-Agent", "liaison-escalation/1")
                .send(w.payload.to_string().as_bytes())
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("the webhook answered HTTP {}", r.status().as_u16())),
                Err(e) => Err(format!("the webhook is unreachable: {e}")),
            };
            let retry_at = match &outcome {
                Ok(()) => None,
                Err(_) if w.attempts + 1 >= self.config.webhook_attempts => None,
                Err(_) => {
                    let secs = 1u64 << w.attempts.min(6);
                    Some(Utc::now() + chrono::Duration::seconds(secs as i64))
                }
            };
            if let Err(e) = &outcome {
                tracing::warn!(incident = %w.incident_id, attempt = w.attempts + 1, error = %e, "escalation webhook failed");
            }
            if let Err(e) = self.store.webhook_result(w.id, &outcome, retry_at) {
                tracing::error!(error = %e, "cannot record a webhook attempt");
            }
        }
    }
}
