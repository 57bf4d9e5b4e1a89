//! Received bundles and refused deliveries.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use liaison_core::ack::Acknowledgement;
use liaison_core::ledger::kinds;
use liaison_store::{Event, InboxRecord, NewAck, NewMessage, RejectionRecord, Role, User};
use serde::Deserialize;
use serde_json::json;

use crate::auth::require_role;
use crate::shares::{parse_id, Limit};
use crate::views::{AckRequest, AckView, InboxDetail, InboxRecallView, InboxView, RejectionView};
use crate::{blocking, ApiError, AppState};

pub(crate) fn inbox_view(r: &InboxRecord) -> InboxView {
    InboxView {
        supersedes: r.supersedes,
        superseded_by: r.superseded_by,
        not_after: r.not_after,
        expired: r.not_after.is_some_and(|t| t <= Utc::now()),
        recalled: r.recall.as_ref().map(|t| InboxRecallView {
            reason: t.reason.clone(),
            recalled_at: t.recalled_at,
            received_at: t.received_at,
            outcome: t.outcome.clone(),
        }),
        bundle_id: r.bundle_id,
        received_at: r.received_at,
        sender: r.sender.to_string(),
        sender_org: r.sender_org.clone(),
        tlp: r.tlp.to_string(),
        kind: r.kind.to_string(),
        manifest_sha256: r.manifest_sha256.clone(),
        size: r.size,
        exercise: r.exercise,
    }
}

/// `?limit=N&all=true` of `GET /api/inbox`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InboxQuery {
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Also earlier versions, recalled and expired bundles.
    #[serde(default)]
    pub all: bool,
}

fn default_limit() -> u32 {
    100
}

/// `GET /api/inbox`: the current bundles, newest first: the latest version
/// of each, without recalled or expired ones (`all=true`: every bundle).
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Json<Vec<InboxView>>, ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let Query(q) = q?;
    let store = state.store.clone();
    let mut items = blocking(move || Ok(store.inbox(q.limit.min(10_000))?)).await?;
    if !q.all {
        let now = Utc::now();
        items.retain(|r| r.superseded_by.is_none() && !r.is_withdrawn(now));
    }
    Ok(Json(items.iter().map(inbox_view).collect()))
}

/// The earlier versions `rec` revises, newest first (same sender).
fn history(
    store: &dyn liaison_store::Store,
    rec: &InboxRecord,
) -> Result<Vec<InboxView>, ApiError> {
    let mut out = Vec::new();
    let mut next = rec.supersedes;
    while let Some(id) = next {
        if out.len() >= 1000 || id == rec.bundle_id {
            break;
        }
        match store.inbox_record(id)? {
            Some(prev) if prev.sender == rec.sender => {
                next = prev.supersedes;
                out.push(inbox_view(&prev));
            }
            _ => break,
        }
    }
    Ok(out)
}

/// 410 for a bundle whose content is no longer to be used.
pub(crate) fn withdrawn(rec: &InboxRecord) -> Option<ApiError> {
    if let Some(t) = &rec.recall {
        return Some(ApiError::new(
            StatusCode::GONE,
            "recalled",
            format!(
                "bundle {} was recalled by its originator at {}: {}",
                rec.bundle_id,
                t.recalled_at.to_rfc3339(),
                t.reason
            ),
        ));
    }
    match rec.not_after {
        Some(t) if t <= Utc::now() => Some(ApiError::new(
            StatusCode::GONE,
            "expired",
            format!("bundle {} expired at {}", rec.bundle_id, t.to_rfc3339()),
        )),
        _ => None,
    }
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
    let (record, manifest, ack, history) = blocking(move || {
        let rec = store
            .inbox_record(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))?;
        let manifest = store.inbox_manifest(id)?.unwrap_or_default();
        let history = history(store.as_ref(), &rec)?;
        Ok((rec, manifest, store.inbox_ack(id)?, history))
    })
    .await?;
    Ok(Json(InboxDetail {
        item: inbox_view(&record),
        manifest: serde_json::from_slice(&manifest).unwrap_or_default(),
        receipt: serde_json::from_slice(&record.receipt_json).unwrap_or_default(),
        acknowledged: ack.as_ref().map(crate::shares::ack_view),
        history,
    }))
}

/// `POST /api/inbox/{id}/ack`: a person here read the bundle. The signed
/// acknowledgement is queued to the originator (store and forward).
pub(crate) async fn ack(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    req: Result<Json<AckRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<AckView>), ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let id = parse_id(&id)?;
    let req = match req {
        Ok(Json(r)) => r,
        Err(JsonRejection::MissingJsonContentType(_)) => AckRequest::default(),
        Err(e) => return Err(e.into()),
    };
    let st = state.clone();
    let record = blocking(move || {
        let rec = st
            .store
            .inbox_record(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))?;
        let me = st.keys.node_id();
        let a = Acknowledgement {
            v: 1,
            bundle_id: id,
            manifest_sha256: rec.manifest_sha256.clone(),
            originator: rec.sender,
            recipient: me,
            by: user.name.clone(),
            comment: req.comment.trim().to_string(),
            at: Utc::now(),
        };
        let signed = liaison_core::ack::sign(&st.keys, &a);
        let new = NewAck {
            bundle_id: id,
            peer: me,
            by: a.by.clone(),
            comment: a.comment.clone(),
            at: a.at,
            signed_json: signed.clone(),
        };
        let message = NewMessage {
            peer: rec.sender,
            kind: "ack".into(),
            body: signed,
            agreement: None,
        };
        let event = Event {
            kind: kinds::INBOX_ACKNOWLEDGED,
            actor: user.id.clone(),
            body: json!({
                "bundle_id": id,
                "originator": rec.sender.to_string(),
                "by": a.by,
                "comment": a.comment,
            }),
        };
        Ok(st.store.acknowledge_inbox(&new, &message, &event)?)
    })
    .await?;
    state.hooks.messages_queued();
    Ok((StatusCode::CREATED, Json(crate::shares::ack_view(&record))))
}

pub(crate) async fn content(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let record = blocking(move || {
        store
            .inbox_record(id)?
            .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {id}")))
    })
    .await?;
    if let Some(e) = withdrawn(&record) {
        return Err(e);
    }
    // Streamed from the store one chunk at a time: a large bundle is never
    // in memory whole.
    let (store, size) = (state.store.clone(), record.size);
    let body = crate::body::chunked_body(size, move |offset, max| {
        store
            .inbox_content_chunk(id, offset, max)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    let media = record.kind.media_type();
    Ok((
        [
            (header::CONTENT_TYPE, media.to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response())
}
