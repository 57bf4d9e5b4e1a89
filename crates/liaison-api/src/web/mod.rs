//! The web UI under `/ui/`: server-rendered pages for approvers, analysts,
//! admins and auditors, on the API's port with the API's tokens and roles.
//!
//! Every page and form is a thin shell over the JSON handler of the same
//! action: a page calls that handler with the logged-in user, so roles,
//! policy and separation of duties are enforced in exactly one place, and
//! a form posted by hand gets the same refusal as the API call.
//!
//! - [`session`]: login with a token, the session cookie, CSRF tokens.
//! - [`render`]: the embedded templates and the security headers.
//! - [`pages`]: one handler per page or form.

mod pages;
mod render;
pub mod session;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use liaison_store::{token_hash, User};
use minijinja::context;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{auth, ApiError, AppState};
use session::{same_secret, Sessions, SESSION_COOKIE};

/// Largest form post (a pasted or uploaded bundle), as for the JSON API.
const MAX_FORM: usize = crate::MAX_SHARE_REQUEST;

/// The `/ui/` routes.
pub(crate) fn router() -> Router<AppState> {
    let sessions = Arc::new(Sessions::new());
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/style.css", get(pages::style))
        .route("/ui/login", get(pages::login_form).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/approvals", get(pages::approvals))
        .route("/ui/approvals/{id}", get(pages::approval))
        .route("/ui/approvals/{id}/approve", post(pages::approve))
        .route("/ui/approvals/{id}/reject", post(pages::reject))
        .route("/ui/shares", get(pages::shares))
        .route(
            "/ui/shares/new",
            get(pages::share_form)
                .post(pages::share_submit)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM)),
        )
        .route("/ui/shares/{id}", get(pages::share))
        .route("/ui/inbox", get(pages::inbox))
        .route("/ui/inbox/{id}", get(pages::inbox_item))
        .route("/ui/inbox/{id}/content", get(pages::inbox_content))
        .route("/ui/peers", get(pages::peers))
        .route("/ui/incidents", get(pages::incidents))
        .route("/ui/incidents/{id}", get(pages::incident))
        .route("/ui/incidents/{id}/items", post(pages::incident_add_item))
        .route(
            "/ui/incidents/{id}/items/{item}",
            post(pages::incident_revise_item),
        )
        .route("/ui/incidents/{id}/share", post(pages::incident_share))
        .route("/ui/ledger", get(pages::ledger))
        .route("/ui/ledger/verify", post(pages::ledger_verify))
        .route("/ui/{*rest}", get(pages::not_found).post(pages::not_found))
        .layer(axum::middleware::map_response(render::security_headers))
        .layer(Extension(sessions))
}

/// The logged-in person making a request, with their session's CSRF token.
pub(crate) struct Viewer {
    /// The user the session's token belongs to (looked up on every request).
    pub user: User,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// The session id (the cookie value), for logout.
    pub session_id: String,
}

impl Viewer {
    /// The template context every page gets: who is logged in, what they
    /// may reach, and the CSRF token for the logout form.
    fn base(&self) -> minijinja::Value {
        let role = self.user.role.to_string();
        context! {
            me => context! { name => self.user.name.clone(), role => role.clone(), id => self.user.id.clone() },
            csrf => self.csrf.clone(),
            nav => pages::nav_for(self.user.role),
        }
    }
}

/// Why a page could not be shown.
pub(crate) enum WebError {
    /// No (live) session: go to the login page.
    Login,
    /// The action failed: show the error (status, code and message).
    Api(ApiError),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Login => Redirect::to("/ui/login").into_response(),
            WebError::Api(e) => render::page(
                e.status,
                "error.html",
                context! {
                    title => format!("{} {}", e.status.as_u16(), e.status.canonical_reason().unwrap_or("")),
                    code => e.code,
                    message => e.message,
                },
            ),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, WebError> {
        let sessions = parts
            .extensions
            .get::<Arc<Sessions>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("web sessions are not installed"))?;
        let id = session::cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::Login)?;
        let session = sessions.get(id).ok_or(WebError::Login)?;
        let store = state.store.clone();
        let hash = session.token_hash.clone();
        let user = crate::blocking(move || Ok(store.user_by_token_hash(&hash)?)).await?;
        let Some(user) = user else {
            // The token was revoked: the session goes with it.
            sessions.close(id);
            return Err(WebError::Login);
        };
        Ok(Viewer {
            user,
            csrf: session.csrf,
            session_id: id.to_string(),
        })
    }
}

/// A URL-encoded form from a logged-in person whose `csrf` field matches
/// their session. Anything else is refused before the handler runs.
pub(crate) struct CsrfForm<T>(pub Viewer, pub T);

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let req = Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
        let field: CsrfField = if is_form {
            serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField {
                csrf: String::new(),
            })
        } else {
            CsrfField {
                csrf: String::new(),
            }
        };
        check_csrf(&viewer, &field.csrf)?;
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::bad_request("invalid_form", format!("the form: {e}")))?;
        Ok(CsrfForm(viewer, form))
    }
}

/// Refuse a post whose CSRF token is not its session's.
pub(crate) fn check_csrf(viewer: &Viewer, presented: &str) -> Result<(), ApiError> {
    if !presented.is_empty() && same_secret(presented, &viewer.csrf) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "this form has no valid CSRF token (reload the page and try again)",
    ))
}

/// The user behind `token`, if it is a live API token.
pub(crate) async fn login_user(state: &AppState, token: &str) -> Result<Option<User>, ApiError> {
    auth::user_for_token(state, token).await
}

/// SHA-256 of a token as the store keeps it.
pub(crate) fn hash_token(token: &str) -> String {
    token_hash(token)
}
