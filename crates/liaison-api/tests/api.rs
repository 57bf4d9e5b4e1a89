//! The JSON API on a real SQLite store: authentication, roles, the error
//! shape on every error path, peers, shares and the ledger.

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use liaison_store::{token_hash, Role, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;
use common::*;

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
    ("PUT", "/api/peers/x/roster"),
    ("POST", "/api/peers/x/check"),
    ("POST", "/api/contacts/check"),
    ("POST", "/api/inbox/x/ack"),
    ("GET", "/api/incidents"),
    ("POST", "/api/incidents"),
    ("GET", "/api/incidents/x"),
    ("POST", "/api/incidents/x/close"),
    ("GET", "/api/incidents/x/report"),
    ("POST", "/api/incidents/x/items"),
    ("POST", "/api/incidents/x/items/x"),
    ("POST", "/api/incidents/x/share"),
    ("POST", "/api/shares/x/revise"),
    ("POST", "/api/shares/x/recall"),
    ("POST", "/api/users/x/revoke"),
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
        ("PUT", "/api/peers/x/roster".into(), &[]),
        ("POST", "/api/incidents".into(), &[Analyst, Approver]),
        ("POST", format!("/api/inbox/{id}/ack"), &[Analyst]),
        (
            "POST",
            format!("/api/incidents/{id}/items"),
            &[Analyst, Approver],
        ),
        (
            "POST",
            format!("/api/incidents/{id}/items/{id}"),
            &[Analyst, Approver],
        ),
        (
            "POST",
            format!("/api/incidents/{id}/share"),
            &[Analyst, Approver],
        ),
        (
            "GET",
            "/api/incidents".into(),
            &[Analyst, Approver, Auditor],
        ),
        (
            "GET",
            format!("/api/incidents/{id}/report"),
            &[Analyst, Approver, Auditor],
        ),
        (
            "POST",
            "/api/peers/x/check".into(),
            &[Analyst, Approver, Auditor],
        ),
        (
            "POST",
            "/api/contacts/check".into(),
            &[Analyst, Approver, Auditor],
        ),
        ("GET", "/api/shares".into(), &[Analyst, Approver, Auditor]),
        ("POST", "/api/shares".into(), &[Analyst, Approver]),
        ("POST", "/api/shares/preview".into(), &[Analyst, Approver]),
        (
            "POST",
            format!("/api/shares/{id}/revise"),
            &[Analyst, Approver],
        ),
        (
            "POST",
            format!("/api/shares/{id}/recall"),
            &[Analyst, Approver],
        ),
        ("GET", "/api/inbox".into(), &[Analyst]),
        ("POST", format!("/api/inbox/{id}/forward"), &[Analyst]),
        ("GET", "/api/ledger".into(), &[Auditor]),
        ("GET", "/api/ledger/verify".into(), &[Auditor]),
        ("GET", "/api/ledger/checkpoints".into(), &[Auditor]),
        ("GET", "/api/ledger/proof/0".into(), &[Auditor]),
        ("GET", "/api/ledger/consistency?old=0".into(), &[Auditor]),
        ("GET", "/api/users".into(), &[Auditor]),
        ("POST", "/api/users".into(), &[]),
        ("POST", "/api/users/x/revoke".into(), &[]),
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

/// GET without a token: (status, content type, body text).
async fn get_text(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The value of the sample `series` (name with labels) in a Prometheus
/// text exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .parse()
        .unwrap()
}

const METRICS: &[&str] = &[
    "liaison_deliveries",
    "liaison_delivery_retries_total",
    "liaison_receipts",
    "liaison_inbox_bundles",
    "liaison_inbound_rejections",
    "liaison_shares",
    "liaison_approvals_waiting",
    "liaison_approval_wait_seconds",
    "liaison_ledger_entries",
    "liaison_ledger_checkpoint_size",
    "liaison_messages_pending",
    "liaison_delivery_bytes_sent_total",
    "liaison_inbound_part_bytes",
];

#[tokio::test]
async fn metrics_are_prometheus_text_and_follow_the_store() {
    let api = api();
    let app = &api.app;
    let (s, ct, before) = get_text(app, "/metrics").await;
    assert_eq!(s, StatusCode::OK, "{before}");
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    for name in METRICS {
        assert!(
            before.contains(&format!("# HELP {name} ")),
            "{name}:\n{before}"
        );
        assert!(
            before.contains(&format!("# TYPE {name} ")),
            "{name}:\n{before}"
        );
    }
    for state in ["pending", "delivered", "rejected"] {
        let series = format!("liaison_deliveries{{state=\"{state}\"}}");
        assert_eq!(sample(&before, &series), 0.0);
    }
    for outcome in ["accepted", "rejected"] {
        let series = format!("liaison_receipts{{outcome=\"{outcome}\"}}");
        assert_eq!(sample(&before, &series), 0.0);
    }
    assert_eq!(sample(&before, "liaison_shares{state=\"released\"}"), 0.0);
    assert_eq!(sample(&before, "liaison_approvals_waiting"), 0.0);
    assert_eq!(sample(&before, "liaison_approval_wait_seconds"), 0.0);
    assert_eq!(sample(&before, "liaison_delivery_retries_total"), 0.0);
    assert_eq!(sample(&before, "liaison_ledger_checkpoint_size"), 0.0);
    let ledger_before = sample(&before, "liaison_ledger_entries");
    assert!(ledger_before >= 1.0, "node.initialized is ledgered");

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
    let stix = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/stix-indicator-for-c2-ip-address.json"
    ))
    .unwrap();
    let (s, v) = call(
        app,
        Method::POST,
        "/api/shares",
        Some(ANALYST),
        Some(json!({"tlp": "amber", "to": ["Bolt"], "content": stix})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let (s, _, after) = get_text(app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sample(&after, "liaison_shares{state=\"released\"}"), 1.0);
    assert_eq!(sample(&after, "liaison_deliveries{state=\"pending\"}"), 1.0);
    assert!(sample(&after, "liaison_ledger_entries") > ledger_before);
    assert_eq!(sample(&after, "liaison_inbox_bundles"), 0.0);
}

/// Every `(METHOD, PATH)` that `src/lib.rs` routes under `/api`, read from
/// its source: each `.route("PATH", get(..).post(..)...)` call, with every
/// method in the chain (`.layer(...)` and handler paths such as
/// `peers::remove` are not methods). Reading the source, not a second
/// hand-kept list, is what catches drift: a route added to the router
/// without documenting it fails the test below.
fn routed_in_source() -> std::collections::BTreeSet<(String, String)> {
    let src = include_str!("../src/lib.rs");
    let mut out = std::collections::BTreeSet::new();
    let mut rest = src;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        // The whole argument list: up to the matching parenthesis.
        let mut depth = 1usize;
        let mut end = call.len();
        for (i, c) in call.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &call[..end];
        rest = &call[end..];
        let path = args
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("a route without a literal path: {args}"));
        let methods = &args[args.find(',').expect("route(path, handler)") + 1..];
        let bytes = methods.as_bytes();
        for m in ["get", "post", "put", "patch", "delete", "head", "options"] {
            let mut from = 0;
            while let Some(i) = methods[from..].find(&format!("{m}(")) {
                let i = from + i;
                let before = methods[..i].trim_end().as_bytes().last().copied();
                let glued = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
                if !glued && matches!(before, None | Some(b'.') | Some(b'(') | Some(b',')) {
                    out.insert((m.to_uppercase(), path.to_string()));
                }
                from = i + m.len();
            }
        }
    }
    out.into_iter()
        .filter(|(_, p)| p.starts_with("/api"))
        .collect()
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let api = api();
    // Served without a token.
    let (s, ct, text) = get_text(&api.app, "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let methods = ["get", "post", "put", "patch", "delete", "head", "options"];
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            if !methods.contains(&m.as_str()) {
                continue;
            }
            documented.insert((m.to_uppercase(), path.clone()));
            // Public exactly where the router needs no token.
            let public = path == "/api/health" || path == "/api/openapi.json";
            let security = op.get("security").unwrap_or(&doc["security"]);
            assert_eq!(
                security.as_array().unwrap().is_empty(),
                public,
                "security of {m} {path}"
            );
            assert!(op["responses"].is_object(), "{m} {path} has responses");
        }
    }
    let routed = routed_in_source();
    assert!(routed.len() > 30, "the source parser found {routed:?}");
    assert_eq!(
        routed, documented,
        "the router's /api routes (left) and openapi.json's paths x methods (right) differ"
    );
    // And the router really serves every documented operation: no
    // unknown-route 404 and no 405 (which would mean the parser misread a
    // method chain).
    for (m, path) in &documented {
        let uri = path
            .replace("{peer}", "nobody")
            .replace("{id}", "5d0092c5-5f74-4287-9642-33f4c354e56d")
            .replace("{seq}", "0");
        let (s, v) = call(&api.app, m.parse().unwrap(), &uri, Some(ADMIN), None).await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}: {v}");
        assert_ne!(v["error"]["message"], "no such endpoint", "{m} {uri}: {v}");
    }
    let (s, v) = call(
        &api.app,
        Method::GET,
        "/api/undocumented",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["message"], "no such endpoint");
}

#[tokio::test]
async fn a_revoked_token_authenticates_nothing_and_the_last_admin_stays() {
    let api = api();
    let (s, v) = call(&api.app, Method::GET, "/api/inbox", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &api.app,
        Method::POST,
        "/api/users/ana/revoke",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["revoked_at"].is_string(), "{v}");
    // The token is dead at once, and the revocation is ledgered.
    let (s, v) = call(&api.app, Method::GET, "/api/inbox", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_error_shape(&v, "unauthorized");
    let ledger = api.store.ledger(0, 100).unwrap();
    let entry = ledger.iter().find(|r| r.kind == "user.revoked").unwrap();
    assert_eq!(entry.body["name"], "ana");
    // Twice, an unknown name, the last admin: refused with the reason.
    let (s, v) = call(
        &api.app,
        Method::POST,
        "/api/users/ana/revoke",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already revoked"));
    let (s, _) = call(
        &api.app,
        Method::POST,
        "/api/users/nobody/revoke",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(
        &api.app,
        Method::POST,
        "/api/users/admin/revoke",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("last admin"));
    // The list still names the user, as revoked.
    let (_, users) = call(&api.app, Method::GET, "/api/users", Some(ADMIN), None).await;
    let ana = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "ana")
        .unwrap();
    assert!(ana["revoked_at"].is_string(), "{users}");
}
