//! `GET /metrics`: the node's operational counts in the Prometheus text
//! exposition format 0.0.4, computed from the store at scrape time (one
//! read transaction, see [`Store::metrics`](liaison_store::Store::metrics)).
//! No token: the API binds to loopback, and the counts carry no content,
//! names or identifiers.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use liaison_store::Metrics;

use crate::{blocking, ApiError, AppState};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let m = blocking(move || Ok(store.metrics()?)).await?;
    let wait = m
        .oldest_awaiting_approval
        .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&m, wait)).into_response())
}

/// The exposition text for `m`, with `approval_wait` (seconds) for the
/// oldest share awaiting approval.
fn render(m: &Metrics, approval_wait: f64) -> String {
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, samples: &[(Option<(&str, &str)>, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (label, value) in samples {
                match label {
                    Some((k, v)) => {
                        let _ = writeln!(out, "{name}{{{k}=\"{v}\"}} {value}");
                    }
                    None => {
                        let _ = writeln!(out, "{name} {value}");
                    }
                }
            }
        };
    let one = |n: u64| vec![(None, n.to_string())];
    family(
        "liaison_deliveries",
        "gauge",
        "Outbound deliveries (one per share and recipient) by state.",
        &m.deliveries
            .iter()
            .map(|(s, n)| (Some(("state", s.as_str())), n.to_string()))
            .collect::<Vec<_>>(),
    );
    family(
        "liaison_delivery_retries_total",
        "counter",
        "Failed delivery attempts (each is retried with backoff).",
        &one(m.delivery_attempts),
    );
    family(
        "liaison_receipts",
        "gauge",
        "Signed receipts stored for completed deliveries, by outcome.",
        &[
            (
                Some(("outcome", "accepted")),
                m.receipts_accepted.to_string(),
            ),
            (
                Some(("outcome", "rejected")),
                m.receipts_rejected.to_string(),
            ),
        ],
    );
    family(
        "liaison_inbox_bundles",
        "gauge",
        "Bundles accepted into the inbox.",
        &one(m.inbox_bundles),
    );
    family(
        "liaison_inbound_rejections",
        "gauge",
        "Inbound deliveries refused with a signed negative receipt.",
        &one(m.inbound_rejections),
    );
    family(
        "liaison_shares",
        "gauge",
        "Outbound shares by state.",
        &m.shares
            .iter()
            .map(|(s, n)| (Some(("state", s.as_str())), n.to_string()))
            .collect::<Vec<_>>(),
    );
    let waiting = m
        .shares
        .iter()
        .find(|(s, _)| *s == liaison_store::ShareState::AwaitingApproval)
        .map_or(0, |(_, n)| *n);
    family(
        "liaison_approvals_waiting",
        "gauge",
        "Shares waiting for release approvals.",
        &one(waiting),
    );
    family(
        "liaison_approval_wait_seconds",
        "gauge",
        "Age in seconds of the oldest share waiting for approval (0 if none).",
        &[(None, format!("{approval_wait:.3}"))],
    );
    family(
        "liaison_ledger_entries",
        "gauge",
        "Entries in the append-only ledger.",
        &one(m.ledger_entries),
    );
    family(
        "liaison_ledger_checkpoint_size",
        "gauge",
        "Tree size of the latest signed ledger checkpoint (0 if none).",
        &one(m.checkpoint_size),
    );
    family(
        "liaison_delivery_bytes_sent_total",
        "counter",
        "Envelope bytes sent to peers, over all attempts (a resumed transfer sends only what the peer does not hold).",
        &one(m.delivery_bytes_sent),
    );
    family(
        "liaison_inbound_part_bytes",
        "gauge",
        "Bytes of large envelopes received in part, kept until the rest arrives.",
        &one(m.inbound_part_bytes),
    );
    family(
        "liaison_messages_pending",
        "gauge",
        "Signed messages to peers (agreement negotiation) not yet acknowledged.",
        &one(m.messages_pending),
    );
    out
}
