//! Local users and their roles (DESIGN §2). Admins create users; each gets a
//! token shown once, stored as its SHA-256 only.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use liaison_store::{new_token, token_hash, Role, User};
use serde::{Deserialize, Serialize};

use crate::auth::require_role;
use crate::{blocking, ApiError, AppState};

/// `POST /api/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddUserRequest {
    /// Unique login name.
    pub name: String,
    /// `analyst`, `approver`, `admin` or `auditor`.
    pub role: String,
}

/// A user, as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    /// Stable id (the ledger actor).
    pub id: String,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The bearer token, only in the answer that created the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When its token was revoked.
    #[serde(default)]
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn view(u: &User, token: Option<String>) -> UserView {
    UserView {
        id: u.id.clone(),
        name: u.name.clone(),
        role: u.role,
        created_at: u.created_at,
        token,
        revoked_at: u.revoked_at,
    }
}

pub(crate) async fn add(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    req: Result<Json<AddUserRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    require_role(&user, &[])?;
    let Json(req) = req?;
    let role: Role = req
        .role
        .parse()
        .map_err(|e: liaison_store::ParseRoleError| {
            ApiError::bad_request("invalid_role", e.to_string())
        })?;
    let name = req.name.trim().to_string();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !valid {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a user name is 1 to 64 letters, digits, `-`, `_`, `.` or `@`",
        ));
    }
    let store = state.store.clone();
    let created = blocking(move || {
        let token = new_token().map_err(|e| ApiError::internal(e.to_string()))?;
        let u = store.add_user(&name, role, &token_hash(&token), &user.id)?;
        Ok(view(&u, Some(token.to_string())))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let store = state.store.clone();
    let users = blocking(move || Ok(store.users()?)).await?;
    Ok(Json(users.iter().map(|u| view(u, None)).collect()))
}

/// `POST /api/users/{name}/revoke` (admin): the user's token authenticates
/// nothing from now on, including web sessions opened with it.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Json<UserView>, ApiError> {
    require_role(&user, &[])?;
    let store = state.store.clone();
    let revoked = blocking(move || Ok(store.revoke_user(name.trim(), &user.id)?)).await?;
    Ok(Json(view(&revoked, None)))
}
