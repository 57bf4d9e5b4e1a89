//! # liaison-api
//!
//! The node's local HTTP API: JSON over HTTP/1.1 on 127.0.0.1 by default,
//! authenticated with bearer tokens (stored hashed). Handlers are thin: they
//! authenticate, call the core and the store, and map errors to a stable
//! JSON shape `{"error": {"code": "...", "message": "..."}}`.
//!
//! The API does not know about QUIC: it tells the daemon what changed
//! through [`NodeHooks`] (a share was queued, the peer set changed).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agreements;
pub mod approvals;
mod auth;
mod body;
mod error;
mod evidence;
mod inbox;
pub mod incidents;
pub mod joint;
pub mod ledger;
pub mod metrics;
pub mod openapi;
mod peers;
mod revisions;
mod shares;
mod stix_export;
mod taxii;
pub mod users;
pub mod views;
pub mod web;

use std::sync::Arc;

use axum::routing::{delete, get, post, put};
use axum::Router;
use liaison_core::identity::{NodeId, NodeKeys, SignedCard};
use liaison_core::roster::ContactSchedule;
use liaison_store::Store;

pub use error::ApiError;

/// What the API needs to tell the running daemon.
pub trait NodeHooks: Send + Sync + 'static {
    /// A share was sealed and its deliveries queued: wake the delivery worker.
    fn share_queued(&self);
    /// A peer was pinned or (with `removed`) unpinned: refresh the pin set
    /// and drop connections of a removed peer. Called on a blocking thread
    /// after the store committed and before the API answers, so it may read
    /// the store; when the caller sees the answer, the change is in force.
    fn peers_changed(&self, removed: Option<NodeId>);
    /// A signed message for a peer was queued (agreement negotiation):
    /// wake the message worker.
    fn messages_queued(&self) {}
    /// Receipt and acknowledgement deadlines of incidents.
    fn deadline_policy(&self) -> liaison_core::incident::DeadlinePolicy {
        liaison_core::incident::DeadlinePolicy::default()
    }
    /// Largest bundle content this node shares (`[limits]`).
    fn max_bundle_bytes(&self) -> u64 {
        48 * 1024 * 1024
    }
    /// Where uploaded content and the envelopes sealed from it are spooled
    /// on their way into the store (anonymous files).
    fn spool_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir()
    }
    /// How often each tier's contact path must be verified.
    fn contact_schedule(&self) -> ContactSchedule {
        ContactSchedule::default()
    }
    /// Check the contact paths to `peers` now and record the results; each
    /// peer's round trip in µs or why it failed. Without a daemon: nothing.
    fn check_contacts(&self, peers: Vec<NodeId>) -> ContactChecks {
        let _ = peers;
        Box::pin(async { Vec::new() })
    }
}

/// What [`NodeHooks::check_contacts`] returns: per peer, its round trip in
/// microseconds or why the check failed.
pub type ContactChecks =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<(NodeId, Result<u64, String>)>> + Send>>;

/// Hooks that do nothing (for an API without a daemon, e.g. tests).
pub struct NoHooks;

impl NodeHooks for NoHooks {
    fn share_queued(&self) {}
    fn peers_changed(&self, _removed: Option<NodeId>) {}
}

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// The node's store.
    pub store: Arc<dyn Store>,
    /// The node's keys (signing and decryption).
    pub keys: Arc<NodeKeys>,
    /// This node's identity card.
    pub card: Arc<SignedCard>,
    /// Hooks into the daemon.
    pub hooks: Arc<dyn NodeHooks>,
}

impl AppState {
    /// This node's organization name.
    pub fn org(&self) -> &str {
        &self.card.card.org
    }
}

/// Largest JSON `POST /api/shares` body: 64 MiB (about 48 MiB of base64
/// content). Larger bundles go as `multipart/form-data`, which streams to
/// disk and is bounded by `[limits] max_bundle_bytes` instead.
pub const MAX_SHARE_REQUEST: usize = 64 * 1024 * 1024;

/// The API router. Everything under `/api` except `/api/health` needs a
/// token; so does the TAXII 2.1 server under `/taxii2/` (bearer or Basic).
pub fn router(state: AppState) -> Router {
    let authed = Router::new()
        .route("/api/node", get(peers::node))
        .route("/api/peers", get(peers::list).post(peers::add))
        .route("/api/peers/{peer}", delete(peers::remove).get(peers::show))
        .route("/api/peers/{peer}/roster", put(peers::set_roster))
        .route("/api/peers/{peer}/check", post(peers::check_one))
        .route("/api/contacts/check", post(peers::check_all))
        .route(
            "/api/shares",
            // Bounded per body type in `shares::share_input`: JSON by
            // MAX_SHARE_REQUEST, multipart content by `[limits]`.
            get(shares::list)
                .post(shares::create)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/api/shares/preview",
            post(shares::preview).layer(axum::extract::DefaultBodyLimit::max(MAX_SHARE_REQUEST)),
        )
        .route("/api/shares/{id}", get(shares::show))
        .route(
            "/api/shares/{id}/revise",
            post(revisions::revise).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/shares/{id}/recall", post(revisions::recall))
        .route("/api/shares/{id}/stix", get(stix_export::share))
        .route(
            "/api/agreements",
            get(agreements::list).post(agreements::propose),
        )
        .route("/api/agreements/{id}", get(agreements::show))
        .route("/api/approvals", get(approvals::list))
        .route("/api/approvals/{id}", get(approvals::show))
        .route("/api/approvals/{id}/approve", post(approvals::approve))
        .route("/api/approvals/{id}/reject", post(approvals::reject))
        .route("/api/users", get(users::list).post(users::add))
        .route("/api/users/{name}/revoke", post(users::revoke))
        .route("/api/agreements/{id}/sign", post(agreements::sign))
        .route("/api/agreements/{id}/decline", post(agreements::decline))
        .route("/api/agreements/{id}/revoke", post(agreements::revoke))
        .route("/api/inbox", get(inbox::list))
        .route("/api/inbox/{id}", get(inbox::show))
        .route("/api/inbox/{id}/content", get(inbox::content))
        .route("/api/inbox/{id}/stix", get(stix_export::inbox))
        .route("/api/inbox/{id}/forward", post(shares::forward))
        .route("/api/inbox/{id}/ack", post(inbox::ack))
        .route("/api/rejections", get(inbox::rejections))
        .route("/api/ledger", get(ledger::entries))
        .route("/api/ledger/verify", get(ledger::verify))
        .route("/api/ledger/checkpoints", get(ledger::checkpoints))
        .route("/api/ledger/proof/{seq}", get(ledger::inclusion))
        .route("/api/ledger/consistency", get(ledger::consistency))
        .route("/api/evidence", get(evidence::export))
        .route("/api/incidents", get(incidents::list).post(incidents::open))
        .route("/api/incidents/{id}", get(incidents::show))
        .route("/api/incidents/{id}/close", post(incidents::close))
        .route("/api/incidents/{id}/report", get(incidents::report))
        .route("/api/incidents/{id}/items", post(joint::add))
        .route("/api/incidents/{id}/items/{item}", post(joint::revise))
        .route("/api/incidents/{id}/share", post(joint::share))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/api/health", get(peers::health))
        .route("/api/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics::metrics))
        .merge(authed)
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(error::json_errors))
        // TAXII 2.1 (read-only, `/taxii2/`): merged after the JSON error
        // layer, since it answers its own error shape and media type.
        .merge(taxii::router(state.clone()))
        // The web UI (`/ui/`): HTML pages and error pages of its own.
        .merge(web::router())
        .with_state(state)
}

/// Run a blocking store call off the async reactor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker task failed: {e}")))?
}
