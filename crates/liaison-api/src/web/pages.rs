//! One handler per page or form. Each calls the JSON handler of the same
//! action with the logged-in user (so the API's role checks and rules
//! apply unchanged), then renders the answer.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use liaison_core::joint::ItemKind;
use liaison_store::{Role, User};
use minijinja::{context, Value};
use serde::Deserialize;

use super::render::{page, STYLE_CSS};
use super::session::{self, Sessions, LOGIN_COOKIE, SESSION_COOKIE, SESSION_LIFETIME};
use super::{check_csrf, CsrfForm, Viewer, WebError};
use crate::approvals::{self, DecisionRequest};
use crate::shares::{self, Limit};
use crate::views::{CreateShareRequest, InboxView};
use crate::{agreements, blocking, inbox, ledger, peers, ApiError, AppState};

type Page = Result<Response, WebError>;

/// TLP labels offered by the share form, lowest first.
const TLP_CHOICES: &[&str] = &[
    "TLP:CLEAR",
    "TLP:GREEN",
    "TLP:AMBER",
    "TLP:AMBER+STRICT",
    "TLP:RED",
];

/// Largest part of a content preview shown inline (the rest is download).
const INLINE_PREVIEW: usize = 256 * 1024;

/// The navigation links a role may follow (admins pass every role check
/// except approval decisions, as in the API).
pub(super) fn nav_for(role: Role) -> Value {
    let links: &[(&str, &str, &[Role])] = &[
        (
            "/ui/approvals",
            "Approvals",
            &[Role::Approver, Role::Auditor],
        ),
        (
            "/ui/shares",
            "Shares",
            &[Role::Analyst, Role::Approver, Role::Auditor],
        ),
        ("/ui/inbox", "Inbox", &[Role::Analyst]),
        (
            "/ui/incidents",
            "Incidents",
            &[Role::Analyst, Role::Approver, Role::Auditor],
        ),
        (
            "/ui/peers",
            "Peers & agreements",
            &[Role::Analyst, Role::Approver, Role::Auditor],
        ),
        ("/ui/ledger", "Ledger", &[Role::Auditor]),
    ];
    Value::from_serialize(
        links
            .iter()
            .filter(|(_, _, roles)| role == Role::Admin || roles.contains(&role))
            .map(|(href, label, _)| serde_json::json!({"href": href, "label": label}))
            .collect::<Vec<_>>(),
    )
}

fn ok(template: &str, viewer: &Viewer, extra: Value) -> Page {
    Ok(page(
        StatusCode::OK,
        template,
        context! { ..extra, ..viewer.base() },
    ))
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn json_value<T: serde::Serialize>(v: &T) -> Value {
    Value::from_serialize(v)
}

// ---------------------------------------------------------------- login

/// `GET /ui`: each role's first page.
pub(crate) async fn home(viewer: Viewer) -> Response {
    let to = match viewer.user.role {
        Role::Approver => "/ui/approvals",
        Role::Analyst => "/ui/shares",
        Role::Auditor => "/ui/ledger",
        Role::Admin => "/ui/peers",
    };
    see_other(to)
}

/// `GET /ui/style.css`.
pub(crate) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE_CSS,
    )
        .into_response()
}

/// `GET /ui/login`: the token form, with a fresh double-submit CSRF cookie.
pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, None)
}

fn login_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    let nonce = match session::random_hex() {
        Ok(n) => n,
        Err(e) => {
            return WebError::from(ApiError::internal(format!("random: {e}"))).into_response()
        }
    };
    let mut response = page(
        status,
        "login.html",
        context! { login_csrf => nonce.as_str(), error => error, org => state.org() },
    );
    if let Ok(v) =
        session::set_cookie(LOGIN_COOKIE, &nonce, "/ui/login", Duration::from_secs(3600)).parse()
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    login_csrf: String,
}

/// `POST /ui/login`: check the form's CSRF nonce against its cookie, then
/// the token; open a session. The token is never echoed or logged.
pub(crate) async fn login(
    State(state): State<AppState>,
    Extension(sessions): Extension<std::sync::Arc<Sessions>>,
    headers: HeaderMap,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            Some("the login form was malformed"),
        );
    };
    let cookie = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if form.login_csrf.is_empty() || !session::same_secret(cookie, &form.login_csrf) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("the login form expired or came from elsewhere; try again"),
        );
    }
    let token = zeroize::Zeroizing::new(form.token.trim().to_string());
    let user = match super::login_user(&state, &token).await {
        Ok(u) => u,
        Err(e) => return WebError::from(e).into_response(),
    };
    let Some(user) = user else {
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("unknown or revoked token"),
        );
    };
    let id = match sessions.open(super::hash_token(&token)) {
        Ok(id) => id,
        Err(e) => {
            return WebError::from(ApiError::internal(format!("random: {e}"))).into_response()
        }
    };
    tracing::info!(user = %user.name, role = %user.role, "web login");
    let mut response = see_other("/ui");
    for c in [
        session::set_cookie(SESSION_COOKIE, &id, "/ui", SESSION_LIFETIME),
        session::clear_cookie(LOGIN_COOKIE, "/ui/login"),
    ] {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct Empty {}

/// `POST /ui/logout`.
pub(crate) async fn logout(
    Extension(sessions): Extension<std::sync::Arc<Sessions>>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Response {
    sessions.close(&viewer.session_id);
    let mut response = see_other("/ui/login");
    if let Ok(v) = session::clear_cookie(SESSION_COOKIE, "/ui").parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Anything else under `/ui/`.
pub(crate) async fn not_found() -> Response {
    WebError::Api(ApiError::not_found("no such page")).into_response()
}

// ---------------------------------------------------------------- approvals

async fn user_names(state: &AppState) -> Result<HashMap<String, String>, ApiError> {
    let store = state.store.clone();
    let users: Vec<User> = blocking(move || Ok(store.users()?)).await?;
    Ok(users.into_iter().map(|u| (u.id, u.name)).collect())
}

/// `GET /ui/approvals`: the queue.
pub(crate) async fn approvals(State(state): State<AppState>, viewer: Viewer) -> Page {
    let Json(items) = approvals::list(State(state.clone()), Extension(viewer.user.clone())).await?;
    let names = user_names(&state).await?;
    ok(
        "approvals.html",
        &viewer,
        context! { title => "Approvals", items => json_value(&items), names => names },
    )
}

/// `GET /ui/approvals/{id}`: one share with its preview and the decision form.
pub(crate) async fn approval(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Page {
    approval_page(&state, &viewer, id, None).await
}

async fn approval_page(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    error: Option<ApiError>,
) -> Page {
    let Json(item) = approvals::show(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path(id),
    )
    .await?;
    let names = user_names(state).await?;
    let preview = item.preview.as_ref().map(|p| {
        let content = p.content.as_deref().map(|c| truncate(c, INLINE_PREVIEW));
        context! {
            recipients => json_value(&p.recipients),
            removals => json_value(&p.removals),
            content => content,
            size => p.size,
            sha256 => p.sha256.clone(),
        }
    });
    let own = item.share.created_by == viewer.user.id;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    Ok(page(
        status,
        "approval.html",
        context! {
            title => "Approval",
            item => json_value(&item),
            preview => preview,
            drafter => names.get(&item.share.created_by).cloned().unwrap_or_else(|| item.share.created_by.clone()),
            own => own,
            may_decide => viewer.user.role == Role::Approver,
            error => error.map(|e| context! { code => e.code, message => e.message }),
            ..viewer.base()
        },
    ))
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &s[..end], s.len() - end)
}

#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    comment: String,
}

/// `POST /ui/approvals/{id}/approve`.
pub(crate) async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(viewer, form): CsrfForm<DecisionForm>,
) -> Page {
    decide(state, viewer, id, form, true).await
}

/// `POST /ui/approvals/{id}/reject`.
pub(crate) async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(viewer, form): CsrfForm<DecisionForm>,
) -> Page {
    decide(state, viewer, id, form, false).await
}

async fn decide(
    state: AppState,
    viewer: Viewer,
    id: String,
    form: DecisionForm,
    approve: bool,
) -> Page {
    let req = Ok(Json(DecisionRequest {
        comment: form.comment,
    }));
    let args = (
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path(id.clone()),
    );
    let result = if approve {
        approvals::approve(args.0, args.1, args.2, req).await
    } else {
        approvals::reject(args.0, args.1, args.2, req).await
    };
    match result {
        Ok((_, Json(item))) if item.share.state == "awaiting_approval" => {
            Ok(see_other(&format!("/ui/approvals/{}", item.share.id)))
        }
        Ok((_, Json(item))) => Ok(see_other(&format!("/ui/shares/{}", item.share.id))),
        // A role refusal is the same whatever the page would say.
        Err(e) if e.code == "forbidden" => Err(e.into()),
        Err(e) => approval_page(&state, &viewer, id, Some(e)).await,
    }
}

// ---------------------------------------------------------------- shares

/// `GET /ui/shares`.
pub(crate) async fn shares(State(state): State<AppState>, viewer: Viewer) -> Page {
    let Json(items) = shares::list(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Ok(Query(Limit { limit: 500 })),
    )
    .await?;
    let names = user_names(&state).await?;
    ok(
        "shares.html",
        &viewer,
        context! {
            title => "Shares",
            items => json_value(&items),
            names => names,
            may_draft => matches!(viewer.user.role, Role::Analyst | Role::Approver | Role::Admin),
        },
    )
}

/// What the share form holds, to fill it again after a preview or an error.
#[derive(Default, serde::Serialize)]
struct ShareFormState {
    tlp: String,
    kind: String,
    to: Vec<String>,
    individuals: String,
    content: String,
}

async fn peer_names(state: &AppState, user: &User) -> Result<Vec<String>, ApiError> {
    let Json(peers) = peers::list(State(state.clone()), Extension(user.clone())).await?;
    Ok(peers.into_iter().map(|p| p.name).collect())
}

/// `GET /ui/shares/new`.
pub(crate) async fn share_form(State(state): State<AppState>, viewer: Viewer) -> Page {
    // Drafting is for analysts and approvers: say so before the form.
    crate::auth::require_role(&viewer.user, &[Role::Analyst, Role::Approver])?;
    let form = ShareFormState {
        tlp: "TLP:AMBER".into(),
        ..Default::default()
    };
    share_form_page(&state, &viewer, StatusCode::OK, form, None, None).await
}

async fn share_form_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    form: ShareFormState,
    preview: Option<Value>,
    error: Option<ApiError>,
) -> Page {
    let peers = peer_names(state, &viewer.user).await?;
    let reasons = error
        .as_ref()
        .and_then(|e| e.details.as_ref())
        .and_then(|d| d.get("reasons"))
        .cloned();
    Ok(page(
        status,
        "share_new.html",
        context! {
            title => "New share",
            peers => peers,
            tlps => TLP_CHOICES,
            form => json_value(&form),
            preview => preview,
            error => error.map(|e| context! { code => e.code, message => e.message }),
            reasons => reasons.map(|r| json_value(&r)),
            ..viewer.base()
        },
    ))
}

/// `POST /ui/shares/new` (multipart: pasted text or an uploaded file):
/// `action=preview` shows what would be sent; `action=create` drafts it.
pub(crate) async fn share_submit(
    State(state): State<AppState>,
    viewer: Viewer,
    mut multipart: Multipart,
) -> Page {
    let mut csrf = String::new();
    let mut form = ShareFormState::default();
    let mut upload: Option<Vec<u8>> = None;
    let mut action = String::new();
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request("invalid_form", format!("the form: {}", e.body_text()))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let bytes = field.bytes().await.map_err(bad)?;
            if !bytes.is_empty() {
                upload = Some(bytes.to_vec());
            }
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        match name.as_str() {
            "csrf" => csrf = text,
            "tlp" => form.tlp = text,
            "kind" => form.kind = text,
            "to" => form.to.push(text),
            "individuals" => form.individuals = text,
            "content" => form.content = text,
            "action" => action = text,
            _ => {}
        }
    }
    check_csrf(&viewer, &csrf)?;
    if let Some(bytes) = upload {
        // An uploaded file wins over the text box; the preview shows it
        // in the box so that "create" sends exactly what was previewed.
        form.content = String::from_utf8(bytes).map_err(|_| {
            ApiError::bad_request(
                "invalid_content",
                "the uploaded file is not UTF-8 text (STIX and CSAF are JSON)",
            )
        })?;
    }
    let req = CreateShareRequest {
        tlp: form.tlp.clone(),
        to: form.to.clone(),
        kind: Some(form.kind.clone()).filter(|k| !k.is_empty() && k != "auto"),
        content: Some(form.content.clone()),
        content_base64: None,
        individuals: form
            .individuals
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        incident: None,
        not_after: None,
    };
    if action == "create" {
        let created = match shares::ShareInput::parse(&req) {
            Ok(input) => shares::create_from(&state, viewer.user.clone(), input).await,
            Err(e) => Err(e),
        };
        match created {
            Ok((_, Json(share))) => Ok(see_other(&format!("/ui/shares/{}", share.id))),
            Err(e) if e.code == "forbidden" => Err(e.into()),
            Err(e) => share_form_page(&state, &viewer, e.status, form, None, Some(e)).await,
        }
    } else {
        match shares::preview(
            State(state.clone()),
            Extension(viewer.user.clone()),
            Ok(Json(req)),
        )
        .await
        {
            Ok(Json(p)) => {
                let preview = context! {
                    decision => json_value(&p.decision),
                    recipients => json_value(&p.recipients),
                    removals => json_value(&p.removals),
                    content => p.content.as_deref().map(|c| truncate(c, INLINE_PREVIEW)),
                    size => p.size,
                    sha256 => p.sha256,
                };
                share_form_page(&state, &viewer, StatusCode::OK, form, Some(preview), None).await
            }
            Err(e) if e.code == "forbidden" => Err(e.into()),
            Err(e) => share_form_page(&state, &viewer, e.status, form, None, Some(e)).await,
        }
    }
}

/// `GET /ui/shares/{id}`: status, per-recipient delivery and receipts.
pub(crate) async fn share(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Page {
    let Json(share) = shares::show(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path(id),
    )
    .await?;
    let names = user_names(&state).await?;
    ok(
        "share.html",
        &viewer,
        context! {
            title => "Share",
            share => json_value(&share),
            drafter => names.get(&share.created_by).cloned().unwrap_or_else(|| share.created_by.clone()),
        },
    )
}

// ---------------------------------------------------------------- inbox

/// Inbox filters (`GET` form: nothing changes, so no CSRF token).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(crate) struct InboxFilter {
    #[serde(default)]
    tlp: String,
    #[serde(default)]
    peer: String,
    #[serde(default)]
    kind: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    to: String,
}

impl InboxFilter {
    fn day(s: &str, what: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_filter",
                    format!("`{what}` must be a date like 2026-12-01, not `{s}`"),
                )
            })
    }

    fn keep(
        &self,
        item: &InboxView,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> bool {
        let day = item.received_at.date_naive();
        (self.tlp.is_empty() || item.tlp.eq_ignore_ascii_case(&self.tlp))
            && (self.peer.is_empty() || item.sender_org == self.peer)
            && (self.kind.is_empty() || item.kind == self.kind)
            && from.is_none_or(|f| day >= f)
            && to.is_none_or(|t| day <= t)
    }
}

/// `GET /ui/inbox?tlp=&peer=&kind=&from=&to=`.
pub(crate) async fn inbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filter): Query<InboxFilter>,
) -> Page {
    let Json(items) = inbox::list(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Ok(Query(inbox::InboxQuery {
            limit: 10_000,
            all: false,
        })),
    )
    .await?;
    let from = InboxFilter::day(&filter.from, "from")?;
    let to = InboxFilter::day(&filter.to, "to")?;
    let senders: BTreeSet<String> = items.iter().map(|i| i.sender_org.clone()).collect();
    let kinds: BTreeSet<String> = items.iter().map(|i| i.kind.clone()).collect();
    let shown: Vec<&InboxView> = items.iter().filter(|i| filter.keep(i, from, to)).collect();
    ok(
        "inbox.html",
        &viewer,
        context! {
            title => "Inbox",
            items => json_value(&shown),
            total => items.len(),
            filter => json_value(&filter),
            senders => senders,
            kinds => kinds,
            tlps => TLP_CHOICES,
        },
    )
}

/// `GET /ui/inbox/{id}`: the verified originator and approval trail.
pub(crate) async fn inbox_item(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Page {
    let Json(item) = inbox::show(State(state), Extension(viewer.user.clone()), Path(id)).await?;
    ok(
        "inbox_item.html",
        &viewer,
        context! { title => "Received bundle", item => json_value(&item) },
    )
}

/// `GET /ui/inbox/{id}/content`: the content as a download.
pub(crate) async fn inbox_content(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Page {
    let uuid = shares::parse_id(&id)?;
    let mut response = inbox::content(State(state), Extension(viewer.user), Path(id)).await?;
    let disposition = format!("attachment; filename=\"{uuid}.json\"");
    if let Ok(v) = disposition.parse() {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

// ---------------------------------------------------------------- peers

/// `GET /ui/peers`: peers, fingerprints, last contact, agreements in words.
pub(crate) async fn peers(State(state): State<AppState>, viewer: Viewer) -> Page {
    let Json(peers) = peers::list(State(state.clone()), Extension(viewer.user.clone())).await?;
    let Json(agreements) =
        agreements::list(State(state.clone()), Extension(viewer.user.clone())).await?;
    ok(
        "peers.html",
        &viewer,
        context! {
            title => "Peers & agreements",
            peers => json_value(&peers),
            agreements => json_value(&agreements),
            node => context! {
                org => state.org(),
                node_id => state.card.node_id().to_string(),
                fingerprint => state.card.node_id().fingerprint(),
            },
        },
    )
}

// ---------------------------------------------------------------- incidents

/// `GET /ui/incidents`.
pub(crate) async fn incidents(State(state): State<AppState>, viewer: Viewer) -> Page {
    let Json(items) =
        crate::incidents::list(State(state.clone()), Extension(viewer.user.clone())).await?;
    let open_actions: HashMap<String, usize> = items
        .iter()
        .map(|i| {
            let open = i
                .items
                .iter()
                .filter(|it| it.kind == ItemKind::Action && !it.status.is_closed())
                .count();
            (i.id.to_string(), open)
        })
        .collect();
    ok(
        "incidents.html",
        &viewer,
        context! {
            title => "Incidents",
            items => json_value(&items),
            open_actions => open_actions,
        },
    )
}

/// `GET /ui/incidents/{id}`: notifications, deadlines, escalations and the
/// joint list, with forms to add, revise and share it.
pub(crate) async fn incident(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Page {
    incident_page(&state, &viewer, id, None).await
}

async fn incident_page(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    error: Option<ApiError>,
) -> Page {
    let Json(i) = crate::incidents::show(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path(id),
    )
    .await?;
    let may_edit = matches!(
        viewer.user.role,
        Role::Analyst | Role::Approver | Role::Admin
    );
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    Ok(page(
        status,
        "incident.html",
        context! {
            title => i.title.clone(),
            i => json_value(&i),
            may_edit => may_edit,
            error => error.map(|e| context! { code => e.code, message => e.message }),
            ..viewer.base()
        },
    ))
}

/// The form of `POST /ui/incidents/{id}/items`.
#[derive(Debug, Deserialize)]
pub(crate) struct ItemForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    due: String,
}

fn blank_none(s: String) -> Option<String> {
    Some(s).filter(|s| !s.trim().is_empty())
}

/// After a form: back to the incident, or the page with the error.
async fn after_item_form<T>(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    result: Result<T, ApiError>,
) -> Page {
    match result {
        Ok(_) => Ok(see_other(&format!("/ui/incidents/{id}"))),
        Err(e) if e.code == "forbidden" || e.code == "not_found" => Err(e.into()),
        Err(e) => incident_page(state, viewer, id, Some(e)).await,
    }
}

/// `POST /ui/incidents/{id}/items`.
pub(crate) async fn incident_add_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(viewer, form): CsrfForm<ItemForm>,
) -> Page {
    let req = crate::joint::NewItemRequest {
        kind: form.kind,
        text: form.text,
        owner: blank_none(form.owner),
        due: blank_none(form.due),
    };
    let result = crate::joint::add(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path(id.clone()),
        Ok(Json(req)),
    )
    .await;
    after_item_form(&state, &viewer, id, result).await
}

/// The form of `POST /ui/incidents/{id}/items/{item}`.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    status: String,
}

/// `POST /ui/incidents/{id}/items/{item}`: a new status.
pub(crate) async fn incident_revise_item(
    State(state): State<AppState>,
    Path((id, item)): Path<(String, String)>,
    CsrfForm(viewer, form): CsrfForm<StatusForm>,
) -> Page {
    let req = crate::joint::ReviseItemRequest {
        status: blank_none(form.status),
        ..Default::default()
    };
    let result = crate::joint::revise(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path((id.clone(), item)),
        Ok(Json(req)),
    )
    .await;
    after_item_form(&state, &viewer, id, result).await
}

/// The form of `POST /ui/incidents/{id}/share`.
#[derive(Debug, Deserialize)]
pub(crate) struct ShareListForm {
    #[serde(default)]
    tlp: String,
}

/// `POST /ui/incidents/{id}/share`: share the joint list; shows the share.
pub(crate) async fn incident_share(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(viewer, form): CsrfForm<ShareListForm>,
) -> Page {
    let req = crate::joint::ShareJointRequest {
        tlp: blank_none(form.tlp).unwrap_or_else(|| "amber".into()),
    };
    let result = crate::joint::share(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Path(id.clone()),
        Ok(Json(req)),
    )
    .await;
    match result {
        Ok((_, Json(share))) => Ok(see_other(&format!("/ui/shares/{}", share.id))),
        Err(e) if e.code == "forbidden" || e.code == "not_found" => Err(e.into()),
        Err(e) => incident_page(&state, &viewer, id, Some(e)).await,
    }
}

// ---------------------------------------------------------------- ledger

/// How many of the newest entries the ledger page shows.
const LEDGER_PAGE: u64 = 200;

/// `GET /ui/ledger`.
pub(crate) async fn ledger(State(state): State<AppState>, viewer: Viewer) -> Page {
    ledger_page(&state, &viewer, None).await
}

/// `POST /ui/ledger/verify`: verify the whole ledger now.
pub(crate) async fn ledger_verify(
    State(state): State<AppState>,
    CsrfForm(viewer, _): CsrfForm<Empty>,
) -> Page {
    let Json(report) = ledger::verify(State(state.clone()), Extension(viewer.user.clone())).await?;
    ledger_page(&state, &viewer, Some(json_value(&report))).await
}

async fn ledger_page(state: &AppState, viewer: &Viewer, verified: Option<Value>) -> Page {
    // The role check comes with the entries call; the length is harmless.
    let store = state.store.clone();
    let len = blocking(move || Ok(store.ledger_len()?)).await?;
    let since = len.saturating_sub(LEDGER_PAGE);
    let Json(mut entries) = ledger::entries(
        State(state.clone()),
        Extension(viewer.user.clone()),
        Ok(Query(ledger::LedgerQuery {
            since,
            limit: LEDGER_PAGE as u32,
        })),
    )
    .await?;
    entries.reverse();
    let Json(mut checkpoints) =
        ledger::checkpoints(State(state.clone()), Extension(viewer.user.clone())).await?;
    checkpoints.reverse();
    checkpoints.truncate(20);
    ok(
        "ledger.html",
        viewer,
        context! {
            title => "Ledger",
            entries => json_value(&entries),
            checkpoints => json_value(&checkpoints),
            total => len,
            verified => verified,
        },
    )
}
