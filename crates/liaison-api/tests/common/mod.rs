//! Helpers shared by the API and web UI tests: an in-process router on a
//! real SQLite store, peers and agreements stored as negotiation would
//! leave them.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use liaison_api::{router, AppState, NoHooks};
use liaison_core::agreement::{AgreementFile, AgreementState, SignedAgreement};
use liaison_core::identity::NodeKeys;
use liaison_core::manifest::Party;
use liaison_store::{token_hash, AgreementRecord, Role, SqliteStore, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-0123456789abcdef0123456789abcdef";
pub const ANALYST: &str = "analyst-token-0123456789abcdef0123456789abcdef";

pub struct Api {
    pub app: Router,
    pub store: Arc<SqliteStore>,
    pub keys: Arc<NodeKeys>,
    _dir: tempfile::TempDir,
}

pub fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("liaison.db")).unwrap());
    let keys = NodeKeys::generate().unwrap();
    let card = keys.issue_card("ACME", vec!["127.0.0.1:1".into()], Utc::now());
    store
        .init_node(&keys.node_id(), "ACME", &token_hash(ADMIN))
        .unwrap();
    store
        .add_user("ana", Role::Analyst, &token_hash(ANALYST), "admin")
        .unwrap();
    let keys = Arc::new(keys);
    let state = AppState {
        store: store.clone(),
        keys: keys.clone(),
        card: Arc::new(card),
        hooks: Arc::new(NoHooks),
    };
    Api {
        app: router(state),
        store,
        keys,
        _dir: dir,
    }
}

impl Api {
    /// The node's home (its database is `liaison.db` there).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

pub fn assert_error_shape(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

pub fn peer_card(org: &str) -> Value {
    peer(org).1
}

/// A peer's keys and signed card.
pub fn peer(org: &str) -> (NodeKeys, Value) {
    let keys = NodeKeys::generate().unwrap();
    let card = keys.issue_card(org, vec!["127.0.0.1:9".into()], Utc::now());
    (keys, serde_json::from_str(&card.to_json()).unwrap())
}

/// Store an agreement signed by both this node and `peer` (as negotiation
/// over QUIC would leave it) that lets anything flow both ways.
pub fn agree_in_store(api: &Api, peer: &NodeKeys, org: &str) {
    agree_in_store_with(api, peer, org, OPEN_AGREEMENT)
}

/// An agreement that lets anything flow from this node, without approval.
pub const OPEN_AGREEMENT: &str = r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "red"
content = { kinds = ["stix", "csaf", "note", "log"], stix_types = ["*"] }
"#;

/// Store an agreement from `toml` (this node's point of view) signed by
/// both this node and `peer`.
pub fn agree_in_store_with(api: &Api, peer: &NodeKeys, org: &str, toml: &str) {
    let file = AgreementFile::from_toml(toml).unwrap();
    let me = Party {
        org: "ACME".into(),
        node_id: api.keys.node_id(),
    };
    let them = Party {
        org: org.into(),
        node_id: peer.node_id(),
    };
    let agreement = file
        .to_agreement(uuid::Uuid::new_v4(), 1, me, them, Utc::now())
        .unwrap();
    let signed = SignedAgreement::propose(&api.keys, agreement)
        .unwrap()
        .countersign(peer)
        .unwrap();
    let rec = AgreementRecord::of(&signed, peer.node_id(), AgreementState::InForce, None);
    let event = liaison_store::Event {
        kind: "agreement.in_force",
        actor: "test".into(),
        body: json!({}),
    };
    api.store.save_agreement(&rec, &event, None).unwrap();
}
