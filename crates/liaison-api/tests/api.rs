//! The JSON API on a real SQLite store: authentication, roles, the error
//! shape on every error path, peers, shares and the ledger.

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

const ADMIN: &str = "admin-token-0123456789abcdef0123456789abcdef";
const ANALYST: &str = "analyst-token-0123456789abcdef0123456789abcdef";

struct Api {
    app: Router,
    store: Arc<SqliteStore>,
    keys: Arc<NodeKeys>,
    _dir: tempfile::TempDir,
}

fn api() -> Api {
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

async fn call(
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

fn assert_error_shape(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

fn peer_card(org: &str) -> Value {
    peer(org).1
}

/// A peer's keys and signed card.
fn peer(org: &str) -> (NodeKeys, Value) {
    let keys = NodeKeys::generate().unwrap();
    let card = keys.issue_card(org, vec!["127.0.0.1:9".into()], Utc::now());
    (keys, serde_json::from_str(&card.to_json()).unwrap())
}

/// Store an agreement signed by both this node and `peer` (as negotiation
/// over QUIC would leave it) that lets anything flow both ways.
fn agree_in_store(api: &Api, peer: &NodeKeys, org: &str) {
    let file = AgreementFile::from_toml(
        r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "red"
content = { kinds = ["stix", "csaf", "note", "log"], stix_types = ["*"] }
"#,
    )
    .unwrap();
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

const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/api/node"),
    ("GET", "/api/peers"),
    ("POST", "/api/peers"),
    ("GET", "/api/peers/x"),
    ("DELETE", "/api/peers/x"),
    ("GET", "/api/shares"),
    ("POST", "/api/shares"),
    ("GET", "/api/shares/x"),
    ("GET", "/api/inbox"),
    ("GET", "/api/inbox/x"),
    ("GET", "/api/inbox/x/content"),
    ("GET", "/api/ledger"),
    ("POST", "/api/shares/preview"),
    ("GET", "/api/agreements"),
    ("POST", "/api/agreements"),
    ("GET", "/api/agreements/x"),
    ("GET", "/api/approvals"),
    ("GET", "/api/approvals/x"),
    ("POST", "/api/approvals/x/approve"),
    ("POST", "/api/approvals/x/reject"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/ledger/verify"),
    ("GET", "/api/ledger/checkpoints"),
    ("GET", "/api/ledger/proof/0"),
    ("GET", "/api/ledger/consistency?old=0"),
    ("POST", "/api/inbox/x/forward"),
    ("POST", "/api/agreements/x/sign"),
    ("POST", "/api/agreements/x/decline"),
    ("POST", "/api/agreements/x/revoke"),
];

#[tokio::test]
async fn every_endpoint_needs_a_token() {
    let api = api();
    let (status, v) = call(&api.app, Method::GET, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    for (m, uri) in ENDPOINTS {
        let method: Method = m.parse().unwrap();
        let (status, v) = call(&api.app, method.clone(), uri, None, Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {uri}");
        assert_error_shape(&v, "unauthorized");
        let (status, v) = call(&api.app, method, uri, Some("wrong"), Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {uri}");
        assert_error_shape(&v, "unauthorized");
    }
    let (status, v) = call(&api.app, Method::GET, "/nope", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&v, "not_found");
}

#[tokio::test]
async fn peers_error_paths_and_roles() {
    let api = api();
    let app = &api.app;
    let (s, v) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": {"payload": "x"}})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_shape(&v, "invalid_card");
    let card = peer_card("Bolt");
    let (s, v) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": card, "tier": 7})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error_shape(&v, "invalid_tier");
    let (s, v) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ANALYST),
        Some(json!({"card": card})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_error_shape(&v, "forbidden");
    let (s, v) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": card, "tier": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "Bolt");
    let (s, v) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": card})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error_shape(&v, "conflict");
    let (s, v) = call(app, Method::GET, "/api/peers/Bolt", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tier"], 1);
    let (s, v) = call(app, Method::DELETE, "/api/peers/nobody", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_shape(&v, "not_found");
    let (s, _) = call(app, Method::DELETE, "/api/peers/Bolt", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = call(app, Method::GET, "/api/peers", Some(ADMIN), None).await;
    assert_eq!(v.as_array().unwrap().len(), 0);
    // Malformed JSON bodies get the error shape too.
    let (s, v) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"nocard": 1})),
    )
    .await;
    assert!(s.is_client_error(), "{s}");
    assert_error_shape(&v, "invalid_request");
}

#[tokio::test]
async fn shares_are_sealed_queued_and_refusals_ledgered() {
    let api = api();
    let app = &api.app;
    let (bolt, card) = peer("Bolt");
    let (s, _) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": card})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    agree_in_store(&api, &bolt, "Bolt");
    // Cobalt is pinned but has no agreement: nothing may go to it.
    let (s, _) = call(
        app,
        Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": peer_card("Cobalt")})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let stix = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/stix-indicator-for-c2-ip-address.json"
    ))
    .unwrap();
    let red = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/stix-marked-red.json"
    ))
    .unwrap();

    let cases = [
        (
            json!({"tlp": "purple", "to": ["Bolt"], "content": stix}),
            StatusCode::BAD_REQUEST,
            "invalid_tlp",
        ),
        (
            json!({"tlp": "amber", "to": [], "content": stix}),
            StatusCode::BAD_REQUEST,
            "no_recipients",
        ),
        (
            json!({"tlp": "amber", "to": ["Nobody"], "content": stix}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_peer",
        ),
        (
            json!({"tlp": "amber", "to": ["Bolt"]}),
            StatusCode::BAD_REQUEST,
            "invalid_content",
        ),
        (
            json!({"tlp": "amber", "to": ["Bolt"], "kind": "pdf", "content": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_kind",
        ),
        (
            json!({"tlp": "green", "to": ["Bolt"], "content": red}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tlp_below_content",
        ),
        (
            json!({"tlp": "amber", "to": ["Bolt"], "kind": "stix", "content": "{\"type\":\"bundle\"}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_content",
        ),
        (
            json!({"tlp": "amber", "to": ["Bolt", "Cobalt"], "content": stix}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy_denied",
        ),
    ];
    for (body, status, code) in cases {
        let (s, v) = call(
            app,
            Method::POST,
            "/api/shares",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, status, "{body} -> {v}");
        assert_error_shape(&v, code);
    }

    let (s, v) = call(
        app,
        Method::POST,
        "/api/shares",
        Some(ANALYST),
        Some(json!({"tlp": "amber", "to": ["Bolt"], "content": stix})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["tlp"], "TLP:AMBER");
    assert_eq!(v["kind"], "stix");
    assert_eq!(v["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(v["deliveries"][0]["state"], "pending");
    let id = v["id"].as_str().unwrap().to_string();
    let (s, v) = call(
        app,
        Method::GET,
        &format!("/api/shares/{id}"),
        Some(ANALYST),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["id"], id.as_str());
    assert_eq!(api.store.pending_deliveries().unwrap(), 1);

    let (s, v) = call(
        app,
        Method::GET,
        "/api/shares/not-a-uuid",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error_shape(&v, "invalid_id");
    let (s, v) = call(
        app,
        Method::GET,
        "/api/shares/5d0092c5-5f74-4287-9642-33f4c354e56d",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_shape(&v, "not_found");
    let (s, v) = call(
        app,
        Method::GET,
        "/api/inbox/5d0092c5-5f74-4287-9642-33f4c354e56d",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_shape(&v, "not_found");
    let (s, v) = call(
        app,
        Method::GET,
        "/api/inbox/5d0092c5-5f74-4287-9642-33f4c354e56d/content",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_shape(&v, "not_found");
    let (s, v) = call(app, Method::GET, "/api/inbox", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 0);

    // The ledger holds the refusals (content-level ones) and the release.
    let (s, v) = call(app, Method::GET, "/api/ledger", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_error_shape(&v, "forbidden");
    let (_, v) = call(app, Method::GET, "/api/ledger", Some(ADMIN), None).await;
    let kinds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "share.refused").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "share.released").count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"peer.added"));
}

/// Every endpoint enforces its role on the server: the roles not allowed get
/// 403 with the JSON error shape, whatever the request holds.
#[tokio::test]
async fn every_endpoint_enforces_its_roles() {
    let api = api();
    let mut tokens = std::collections::HashMap::new();
    for role in [Role::Analyst, Role::Approver, Role::Auditor] {
        let token = format!("{role}-matrix-token-0123456789abcdef0123456789abcdef");
        api.store
            .add_user(&format!("{role}-user"), role, &token_hash(&token), "admin")
            .unwrap();
        tokens.insert(role, token);
    }
    let id = "5d0092c5-5f74-4287-9642-33f4c354e56d";
    use Role::*;
    // (method, path, roles allowed besides admin; `None`: admin only;
    // approvals: approvers only, not even admin).
    let table: &[(&str, String, &[Role])] = &[
        ("GET", "/api/peers".into(), &[Analyst, Approver, Auditor]),
        ("POST", "/api/peers".into(), &[]),
        ("DELETE", "/api/peers/x".into(), &[]),
        ("GET", "/api/shares".into(), &[Analyst, Approver, Auditor]),
        ("POST", "/api/shares".into(), &[Analyst, Approver]),
        ("POST", "/api/shares/preview".into(), &[Analyst, Approver]),
        ("GET", "/api/inbox".into(), &[Analyst]),
        ("POST", format!("/api/inbox/{id}/forward"), &[Analyst]),
        ("GET", "/api/ledger".into(), &[Auditor]),
        ("GET", "/api/ledger/verify".into(), &[Auditor]),
        ("GET", "/api/ledger/checkpoints".into(), &[Auditor]),
        ("GET", "/api/ledger/proof/0".into(), &[Auditor]),
        ("GET", "/api/ledger/consistency?old=0".into(), &[Auditor]),
        ("GET", "/api/users".into(), &[Auditor]),
        ("POST", "/api/users".into(), &[]),
        (
            "GET",
            "/api/agreements".into(),
            &[Analyst, Approver, Auditor],
        ),
        ("POST", "/api/agreements".into(), &[]),
        ("POST", format!("/api/agreements/{id}/sign"), &[]),
        ("POST", format!("/api/agreements/{id}/revoke"), &[]),
        ("GET", "/api/approvals".into(), &[Approver, Auditor]),
        ("POST", format!("/api/approvals/{id}/approve"), &[Approver]),
        ("POST", format!("/api/approvals/{id}/reject"), &[Approver]),
    ];
    for (method, path, allowed) in table {
        let m: Method = method.parse().unwrap();
        let body = (*method == "POST").then(|| json!({}));
        for role in [Analyst, Approver, Auditor] {
            let (s, v) = call(
                &api.app,
                m.clone(),
                path,
                Some(&tokens[&role]),
                body.clone(),
            )
            .await;
            if allowed.contains(&role) {
                assert_ne!(s, StatusCode::FORBIDDEN, "{role} on {method} {path}: {v}");
            } else {
                assert_eq!(s, StatusCode::FORBIDDEN, "{role} on {method} {path}: {v}");
                assert_error_shape(&v, "forbidden");
            }
        }
        // Release decisions are for approvers alone: not even an admin.
        let (s, v) = call(&api.app, m.clone(), path, Some(ADMIN), body.clone()).await;
        if path.contains("/approve") || path.contains("/reject") {
            assert_eq!(s, StatusCode::FORBIDDEN, "admin on {path}: {v}");
        } else {
            assert_ne!(s, StatusCode::FORBIDDEN, "admin on {method} {path}: {v}");
        }
    }
}
