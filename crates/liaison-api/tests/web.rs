//! The web UI (`/ui/`) in process, on a real SQLite store: login and the
//! session cookie, roles on every page and form (also when a form is
//! posted by hand), CSRF on every post, the approval flow and its clear
//! refusals. The browser test in `tests/web_ui.rs` drives real Chromium.

mod common;

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::*;
use liaison_store::{token_hash, Role, ShareState, Store};
use serde_json::json;
use tower::ServiceExt;

const APPROVER: &str = "approver-token-0123456789abcdef0123456789abcdef";
const AUDITOR: &str = "auditor-token-0123456789abcdef0123456789abcdef";
const SECOND_APPROVER: &str = "approver2-token-0123456789abcdef0123456789abcdef";

/// ACME → Bolt: AMBER needs one approval; internal addresses are removed.
const APPROVAL_AGREEMENT: &str = r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
approval = { from_tlp = "amber", approvers = 1 }
[outbound.redact]
internal_cidrs = ["10.0.0.0/8"]
"#;

const BUNDLE: &str = include_str!("../../../tests/data/stix-internal-and-external-ip.json");

/// A cookie-keeping client of the in-process router.
struct Browser {
    app: Router,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Browser {
    fn new(app: &Router) -> Browser {
        Browser {
            app: app.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: axum::http::request::Builder, body: Body) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header(header::COOKIE, cookie)
        };
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = to_bytes(resp.into_body(), 16 << 20).await.unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let boundary = "----liaisontestboundary";
        let mut body = String::new();
        for (k, v) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        self.send(
            Request::post(path).header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            ),
            Body::from(body),
        )
        .await
    }

    /// Log in with `token` through the login form; panics unless it works.
    async fn login(app: &Router, token: &str) -> Browser {
        let mut b = Browser::new(app);
        let form = b.get("/ui/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let nonce = hidden(&form.body, "login_csrf");
        let done = b
            .post_form("/ui/login", &[("token", token), ("login_csrf", &nonce)])
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert!(b.cookies.contains_key("liaison_session"));
        b
    }

    /// The CSRF token of this session (from any page's logout form).
    async fn csrf(&mut self) -> String {
        let page = self.get("/ui/peers").await;
        hidden(&page.body, "csrf")
    }
}

/// The value of hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden `{name}` in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

/// An API with a pinned peer Bolt under [`APPROVAL_AGREEMENT`], and users
/// for every role; returns the id of an AMBER share Ana drafted.
async fn setup() -> (Api, String) {
    let api = api();
    api.store
        .add_user("lena", Role::Approver, &token_hash(APPROVER), "admin")
        .unwrap();
    api.store
        .add_user(
            "otto",
            Role::Approver,
            &token_hash(SECOND_APPROVER),
            "admin",
        )
        .unwrap();
    api.store
        .add_user("audrey", Role::Auditor, &token_hash(AUDITOR), "admin")
        .unwrap();
    let (bolt, card) = peer("Bolt");
    let (s, v) = call(
        &api.app,
        axum::http::Method::POST,
        "/api/peers",
        Some(ADMIN),
        Some(json!({"card": card, "name": "bolt"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    agree_in_store_with(&api, &bolt, "Bolt", APPROVAL_AGREEMENT);
    let (s, share) = call(
        &api.app,
        axum::http::Method::POST,
        "/api/shares",
        Some(ANALYST),
        Some(json!({"tlp": "amber", "to": ["bolt"], "content": BUNDLE})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    assert_eq!(share["state"], "awaiting_approval");
    let id = share["id"].as_str().unwrap().to_string();
    (api, id)
}

fn state_of(api: &Api, id: &str) -> ShareState {
    api.store.share(id.parse().unwrap()).unwrap().unwrap().state
}

#[tokio::test]
async fn login_sets_a_strict_http_only_session_and_refuses_bad_tokens() {
    let (api, _) = setup().await;
    let mut b = Browser::new(&api.app);
    // Every page sends a stranger to the login page.
    let p = b.get("/ui/approvals").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/ui/login");

    let form = b.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<label for=\"token\">"), "{}", form.body);
    let csp = form.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let nonce = hidden(&form.body, "login_csrf");

    // A wrong token: refused, and not echoed back.
    let wrong = "wrong-token-that-must-not-be-echoed-0123456789";
    let p = b
        .post_form("/ui/login", &[("token", wrong), ("login_csrf", &nonce)])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("unknown or revoked token"), "{}", p.body);
    assert!(!p.body.contains(wrong));

    // A login form without its cookie (posted from elsewhere): refused.
    let mut stranger = Browser::new(&api.app);
    let p = stranger
        .post_form("/ui/login", &[("token", APPROVER), ("login_csrf", &nonce)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(!stranger.cookies.contains_key("liaison_session"));

    // The right token: a session cookie, HttpOnly and SameSite=Strict.
    let form = b.get("/ui/login").await;
    let nonce = hidden(&form.body, "login_csrf");
    let p = b
        .post_form("/ui/login", &[("token", APPROVER), ("login_csrf", &nonce)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let set: Vec<&str> = p
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("liaison_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(!session.contains(APPROVER), "the cookie is not the token");
    let home = b.get("/ui").await;
    assert_eq!(home.location(), "/ui/approvals");
    let queue = b.get("/ui/approvals").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("lena"), "{}", queue.body);

    // Logging out ends the session on the server too.
    let old = b.cookies["liaison_session"].clone();
    let csrf = hidden(&queue.body, "csrf");
    let p = b.post_form("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let mut replay = Browser::new(&api.app);
    replay.cookies.insert("liaison_session".into(), old);
    assert_eq!(
        replay.get("/ui/approvals").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn every_page_enforces_its_roles() {
    let (api, id) = setup().await;
    use Role::*;
    // (page, roles allowed besides admin)
    let pages: Vec<(String, &[Role])> = vec![
        ("/ui/approvals".into(), &[Approver, Auditor]),
        (format!("/ui/approvals/{id}"), &[Approver, Auditor]),
        ("/ui/shares".into(), &[Analyst, Approver, Auditor]),
        ("/ui/shares/new".into(), &[Analyst, Approver]),
        (format!("/ui/shares/{id}"), &[Analyst, Approver, Auditor]),
        ("/ui/inbox".into(), &[Analyst]),
        ("/ui/peers".into(), &[Analyst, Approver, Auditor]),
        ("/ui/incidents".into(), &[Analyst, Approver, Auditor]),
        ("/ui/ledger".into(), &[Auditor]),
    ];
    let tokens = [
        (Analyst, ANALYST),
        (Approver, APPROVER),
        (Auditor, AUDITOR),
        (Admin, ADMIN),
    ];
    for (role, token) in tokens {
        let mut b = Browser::login(&api.app, token).await;
        for (path, allowed) in &pages {
            let p = b.get(path).await;
            if role == Admin || allowed.contains(&role) {
                assert_eq!(p.status, StatusCode::OK, "{role} on {path}: {}", p.body);
            } else {
                assert_eq!(p.status, StatusCode::FORBIDDEN, "{role} on {path}");
                assert!(p.body.contains("may not do this"), "{}", p.body);
            }
        }
        // The navigation offers only what the role may open.
        let nav = b.get("/ui/peers").await.body;
        assert_eq!(
            nav.contains(">Ledger</a>"),
            matches!(role, Auditor | Admin),
            "{role}"
        );
        assert_eq!(
            nav.contains(">Inbox</a>"),
            matches!(role, Analyst | Admin),
            "{role}"
        );
    }
}

#[tokio::test]
async fn only_an_approver_can_approve_even_by_posting_the_form_directly() {
    let (api, id) = setup().await;
    let approve = format!("/ui/approvals/{id}/approve");
    let reject = format!("/ui/approvals/{id}/reject");
    for token in [ANALYST, AUDITOR, ADMIN] {
        let mut b = Browser::login(&api.app, token).await;
        let csrf = b.csrf().await;
        for path in [&approve, &reject] {
            let p = b
                .post_form(path, &[("csrf", &csrf), ("comment", "looks fine")])
                .await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.body);
            assert!(p.body.contains("only `approver` may"), "{}", p.body);
        }
        // The page offers no decision form to them either.
        let page = b.get(&format!("/ui/approvals/{id}")).await;
        assert!(!page.body.contains(&approve), "{}", page.body);
    }
    assert_eq!(state_of(&api, &id), ShareState::AwaitingApproval);
    assert!(api.store.approvals(id.parse().unwrap()).unwrap().is_empty());
}

#[tokio::test]
async fn posts_without_the_session_csrf_token_are_refused() {
    let (api, id) = setup().await;
    let mut lena = Browser::login(&api.app, APPROVER).await;
    let mut otto = Browser::login(&api.app, SECOND_APPROVER).await;
    let ottos_csrf = otto.csrf().await;
    let approve = format!("/ui/approvals/{id}/approve");
    // Every form: no token, an empty one, another session's one.
    let forms = [
        approve.clone(),
        format!("/ui/approvals/{id}/reject"),
        "/ui/ledger/verify".into(),
        "/ui/logout".into(),
    ];
    for path in &forms {
        for fields in [
            vec![("comment", "x")],
            vec![("csrf", ""), ("comment", "x")],
            vec![("csrf", ottos_csrf.as_str()), ("comment", "x")],
        ] {
            let p = lena.post_form(path, &fields).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path} {fields:?}");
            assert!(p.body.contains("CSRF"), "{}", p.body);
        }
    }
    // The same without form encoding (e.g. a JSON post) is refused too.
    let p = lena
        .send(
            Request::post(approve.as_str()).header(header::CONTENT_TYPE, "application/json"),
            Body::from(json!({"comment": "x"}).to_string()),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // The share form is multipart: the same rule.
    let p = lena
        .post_multipart(
            "/ui/shares/new",
            &[
                ("tlp", "TLP:AMBER"),
                ("to", "bolt"),
                ("content", BUNDLE),
                ("action", "create"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert_eq!(api.store.shares(100).unwrap().len(), 1, "nothing drafted");
    // Still logged in, nothing decided.
    assert_eq!(lena.get("/ui/approvals").await.status, StatusCode::OK);
    assert_eq!(state_of(&api, &id), ShareState::AwaitingApproval);
    assert!(api.store.approvals(id.parse().unwrap()).unwrap().is_empty());
}

#[tokio::test]
async fn the_approver_sees_the_redaction_preview_and_releases_the_share() {
    let (api, id) = setup().await;
    let mut lena = Browser::login(&api.app, APPROVER).await;
    let queue = lena.get("/ui/approvals").await;
    assert!(queue.body.contains(&format!("/ui/approvals/{id}")));
    assert!(queue.body.contains("tlp-amber"), "{}", queue.body);
    assert!(queue.body.contains("ana"), "the drafter is named");
    let page = lena.get(&format!("/ui/approvals/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    // What is sent, and what is removed (the internal 10.20.30.40).
    assert!(body.contains("198.51.100.7"), "{body}");
    assert!(!body.contains("10.20.30.40"), "{body}");
    assert!(body.contains("internal_cidrs"), "{body}");
    assert!(body.contains("1 still needed"), "{body}");
    assert!(body.contains("needs 1 approval"), "{body}");
    // A rejection needs a comment: the page says so and nothing changes.
    let csrf = hidden(body, "csrf");
    let p = lena
        .post_form(
            &format!("/ui/approvals/{id}/reject"),
            &[("csrf", &csrf), ("comment", " ")],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("needs a comment"), "{}", p.body);
    assert_eq!(state_of(&api, &id), ShareState::AwaitingApproval);
    // Approve: released, and the browser lands on the share's status.
    let p = lena
        .post_form(
            &format!("/ui/approvals/{id}/approve"),
            &[("csrf", &csrf), ("comment", "IOCs checked")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), format!("/ui/shares/{id}"));
    assert_eq!(state_of(&api, &id), ShareState::Released);
    let status = lena.get(&format!("/ui/shares/{id}")).await;
    assert!(status.body.contains("released"), "{}", status.body);
    assert!(status.body.contains("bolt"), "{}", status.body);
}

#[tokio::test]
async fn an_approver_cannot_approve_their_own_draft_and_is_told_why() {
    let (api, _) = setup().await;
    let mut lena = Browser::login(&api.app, APPROVER).await;
    // Lena drafts through the share form: preview first, then create.
    let csrf = lena.csrf().await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("tlp", "TLP:AMBER"),
        ("to", "bolt"),
        ("kind", "auto"),
        ("content", BUNDLE),
    ];
    let mut preview = fields.to_vec();
    preview.push(("action", "preview"));
    let p = lena.post_multipart("/ui/shares/new", &preview).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("needs 1 approval"), "{}", p.body);
    assert!(p.body.contains("id=\"create\""), "{}", p.body);
    let mut create = fields.to_vec();
    create.push(("action", "create"));
    let p = lena.post_multipart("/ui/shares/new", &create).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let own = p.location().trim_start_matches("/ui/shares/").to_string();
    let page = lena.get(&format!("/ui/approvals/{own}")).await;
    assert!(
        page.body.contains("You drafted this share"),
        "{}",
        page.body
    );
    let p = lena
        .post_form(
            &format!("/ui/approvals/{own}/approve"),
            &[("csrf", &csrf), ("comment", "mine")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        p.body
            .contains("its release must be decided by someone else"),
        "{}",
        p.body
    );
    assert_eq!(state_of(&api, &own), ShareState::AwaitingApproval);
}

#[tokio::test]
async fn a_denied_share_form_lists_every_policy_reason() {
    let (api, _) = setup().await;
    let mut ana = Browser::login(&api.app, ANALYST).await;
    let csrf = ana.csrf().await;
    // RED is above the agreement's AMBER: refused, with the reason shown.
    let p = ana
        .post_multipart(
            "/ui/shares/new",
            &[
                ("csrf", &csrf),
                ("tlp", "TLP:RED"),
                ("to", "bolt"),
                ("individuals", "kim@bolt.example"),
                ("content", BUNDLE),
                ("action", "create"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("policy_denied"), "{}", p.body);
    assert!(p.body.contains("tlp_above_max"), "{}", p.body);
    // The form keeps what was typed.
    assert!(p.body.contains("kim@bolt.example"), "{}", p.body);
    assert_eq!(api.store.shares(100).unwrap().len(), 1);
}

#[tokio::test]
async fn the_auditor_verifies_the_ledger_from_the_page() {
    let (api, _) = setup().await;
    let mut audrey = Browser::login(&api.app, AUDITOR).await;
    let page = audrey.get("/ui/ledger").await;
    assert!(
        page.body.contains("share.awaiting_approval"),
        "{}",
        page.body
    );
    let csrf = hidden(&page.body, "csrf");
    let p = audrey
        .post_form("/ui/ledger/verify", &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Verified:"), "{}", p.body);
    // Tamper with one stored entry: the button says where.
    let n = api.store.ledger_len().unwrap();
    let conn = rusqlite::Connection::open(api.dir().join("liaison.db")).unwrap();
    conn.execute_batch("DROP TRIGGER ledger_no_update").unwrap();
    conn.execute(
        "UPDATE ledger SET actor = 'mallory' WHERE seq = ?1",
        [n as i64 - 1],
    )
    .unwrap();
    let p = audrey
        .post_form("/ui/ledger/verify", &[("csrf", &csrf)])
        .await;
    assert!(p.body.contains("Verification failed"), "{}", p.body);
}

#[tokio::test]
async fn the_peers_page_flags_an_unverified_contact_path_and_shows_the_roster() {
    let (api, _) = setup().await;
    let bolt = api.store.peer("bolt").unwrap().unwrap();
    let roster = liaison_core::roster::Roster {
        security_contact: "Bolt SOC +1 555 0100".into(),
        escalation_path: vec!["SOC lead".into(), "CISO".into()],
        ..Default::default()
    };
    api.store
        .set_roster(&bolt.node_id, 1, &roster, "admin")
        .unwrap();
    // Verified two hours ago: older than tier 1's hour.
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    api.store
        .record_contact_check(&bolt.node_id, long_ago, &Ok(850))
        .unwrap();
    let mut admin = Browser::login(&api.app, ADMIN).await;
    let page = admin.get("/ui/peers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("UNVERIFIED"), "{}", page.body);
    assert!(page.body.contains("Bolt SOC +1 555 0100"), "{}", page.body);
    assert!(page.body.contains("SOC lead → CISO"), "{}", page.body);
    // A fresh verification clears the flag.
    api.store
        .record_contact_check(&bolt.node_id, chrono::Utc::now(), &Ok(900))
        .unwrap();
    let page = admin.get("/ui/peers").await;
    assert!(!page.body.contains("UNVERIFIED"), "{}", page.body);
    assert!(page.body.contains("0.9 ms"), "{}", page.body);
}

#[tokio::test]
async fn the_incident_page_shows_the_joint_list_and_its_forms_change_and_share_it() {
    let (api, _) = setup().await;
    // The agreement with Bolt allows STIX only: the joint list may not go.
    let (s, inc) = call(
        &api.app,
        axum::http::Method::POST,
        "/api/incidents",
        Some(ANALYST),
        Some(
            json!({"title": "Compromised CI runner", "severity": "high", "peers": ["bolt"],
                    "trigger": "shared_service_impact", "exercise": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    let id = inc["id"].as_str().unwrap().to_string();

    let mut ana = Browser::login(&api.app, ANALYST).await;
    let list = ana.get("/ui/incidents").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Compromised CI runner"), "{}", list.body);
    assert!(list.body.contains("EXERCISE"), "{}", list.body);
    let csrf = ana.csrf().await;
    // Add an action from the form; a bad date is named on the page.
    let bad = ana
        .post_form(
            &format!("/ui/incidents/{id}/items"),
            &[
                ("csrf", &csrf),
                ("kind", "action"),
                ("text", "Rebuild the runner"),
                ("due", "5 Dec"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("is not a date"), "{}", bad.body);
    let added = ana
        .post_form(
            &format!("/ui/incidents/{id}/items"),
            &[
                ("csrf", &csrf),
                ("kind", "action"),
                ("text", "Rebuild the runner"),
                ("owner", "Bolt"),
                ("due", "2026-12-05"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = ana.get(&format!("/ui/incidents/{id}")).await;
    assert!(page.body.contains("Rebuild the runner"), "{}", page.body);
    assert!(page.body.contains("2026-12-05"), "{}", page.body);
    // Mark it done from its status form.
    let item = api.store.incident_items(id.parse().unwrap()).unwrap()[0].id;
    let done = ana
        .post_form(
            &format!("/ui/incidents/{id}/items/{item}"),
            &[("csrf", &csrf), ("status", "done")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let items = api.store.incident_items(id.parse().unwrap()).unwrap();
    assert_eq!(
        (items[0].status, items[0].revision),
        (liaison_core::joint::Status::Done, 2)
    );
    // Sharing it is refused by the agreement, with the reason on the page.
    let shared = ana
        .post_form(
            &format!("/ui/incidents/{id}/share"),
            &[("csrf", &csrf), ("tlp", "amber")],
        )
        .await;
    assert_eq!(
        shared.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        shared.body
    );
    assert!(shared.body.contains("coordination"), "{}", shared.body);
    // Without the CSRF token, nothing changes.
    let forged = ana
        .post_form(
            &format!("/ui/incidents/{id}/items/{item}"),
            &[("status", "open")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        api.store.incident_items(id.parse().unwrap()).unwrap()[0].revision,
        2
    );
    // An auditor sees the page but no forms.
    let mut audrey = Browser::login(&api.app, AUDITOR).await;
    let page = audrey.get(&format!("/ui/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Rebuild the runner"));
    assert!(!page.body.contains("Share the list"), "{}", page.body);
}

#[tokio::test]
async fn revoking_a_token_ends_its_web_session() {
    let (api, _) = setup().await;
    let mut audrey = Browser::login(&api.app, AUDITOR).await;
    assert_eq!(audrey.get("/ui/ledger").await.status, StatusCode::OK);
    api.store.revoke_user("audrey", "admin").unwrap();
    let page = audrey.get("/ui/ledger").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        page.location().starts_with("/ui/login"),
        "{}",
        page.location()
    );
    // Logging in again with the revoked token is refused.
    let mut again = Browser::new(&api.app);
    let form = again.get("/ui/login").await;
    let nonce = hidden(&form.body, "login_csrf");
    let refused = again
        .post_form("/ui/login", &[("token", AUDITOR), ("login_csrf", &nonce)])
        .await;
    assert_ne!(refused.status, StatusCode::SEE_OTHER, "{}", refused.body);
}
