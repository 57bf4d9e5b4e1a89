//! Received bundles and refused deliveries.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use liaison_store::{InboxRecord, RejectionRecord, Role, User};

use crate::auth::require_role;
use crate::shares::{parse_id, Limit};
use crate::views::{InboxDetail, InboxView, RejectionView};
use crate::{blocking, ApiError, AppState};

fn inbox_view(r: &InboxRecord) -> InboxView {
    InboxView {
        bundle_id: r.bundle_id,
        received_at: r.received_at,
        sender: r.sender.to_string(),
        sender_org: r.sender_org.clone(),
        tlp: r.tlp.to_string(),
        kind: r.kind.to_string(),
        manifest_sha256: r.manifest_sha256.clone(),
        size: r.size,
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<InboxView>>, ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let Query(q) = q?;
    let store = state.store.clone();
    let items = blocking(move || Ok(store.inbox(q.limit.min(10_000))?)).await?;
    Ok(Json(items.iter().map(inbox_view).collect()))
}

fn rejection_view(r: &RejectionRecord) -> RejectionView {
    RejectionView {
        id: r.id,
        received_at: r.received_at,
        sender: r.sender.to_string(),
        bundle_id: r.bundle_id,
        reason: r.reason.clone(),
        detail: r.detail.clone(),
        envelope_sha256: r.envelope_sha256.clone(),
        receipt: serde_json::from_slice(&r.receipt_json).unwrap_or_default(),
    }
}

/// `GET /api/rejections`: inbound deliveries refused with a negative
/// receipt, newest first. They never reached the inbox.
pub(crate) async fn rejections(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<RejectionView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Auditor])?;
    let Query(q) = q?;
    let store = state.store.clone();
    let items = blocking(move || Ok(store.rejections(q.limit.min(10_000))?)).await?;
    Ok(Json(items.iter().map(rejection_view).collect()))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<InboxDetail>, ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let (record, manifest) = blocking(move || {
        let rec = store
            .inbox_item(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))?;
        let manifest = store.inbox_manifest(id)?.unwrap_or_default();
        Ok((rec.0, manifest))
    })
    .await?;
    Ok(Json(InboxDetail {
        item: inbox_view(&record),
        manifest: serde_json::from_slice(&manifest).unwrap_or_default(),
        receipt: serde_json::from_slice(&record.receipt_json).unwrap_or_default(),
    }))
}

pub(crate) async fn content(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let (record, body) = blocking(move || {
        store
            .inbox_item(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))
    })
    .await?;
    let media = record.kind.media_type();
    Ok(([(header::CONTENT_TYPE, media.to_string())], body).into_response())
}
