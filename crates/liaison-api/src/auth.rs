//! Bearer-token authentication. Tokens are 256-bit random strings; the
//! store holds only their SHA-256.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use liaison_store::{token_hash, Role, User};

use crate::{blocking, ApiError, AppState};

/// Resolve the bearer token to a user, or answer 401.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let token = bearer_token(request.headers())
        .ok_or_else(|| unauthorized("missing bearer token (Authorization: Bearer TOKEN)"))?;
    let user = user_for_token(&state, token)
        .await?
        .ok_or_else(|| unauthorized("unknown or revoked token"))?;
    request.extensions_mut().insert(user);
    Ok(next.run(request).await)
}

/// The token of `Authorization: Bearer TOKEN`, if the request has one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The user `token` belongs to; `None` for an unknown or revoked token.
pub(crate) async fn user_for_token(
    state: &AppState,
    token: &str,
) -> Result<Option<User>, ApiError> {
    let hash = token_hash(token);
    let store = state.store.clone();
    blocking(move || Ok(store.user_by_token_hash(&hash)?)).await
}

/// Demand one of `roles` (admin always passes).
pub(crate) fn require_role(user: &User, roles: &[Role]) -> Result<(), ApiError> {
    if user.role == Role::Admin || roles.contains(&user.role) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "role `{}` may not do this (needs one of: {})",
            user.role,
            roles
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Demand exactly `role`, with no admin bypass: release decisions belong
/// to approvers alone (separation of duties, DESIGN §2).
pub(crate) fn require_exact_role(user: &User, role: Role) -> Result<(), ApiError> {
    if user.role == role {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("role `{}` may not do this (only `{role}` may)", user.role),
    ))
}
