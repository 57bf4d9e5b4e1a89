//! Updates and recall of released shares: `POST /api/shares/{id}/revise`
//! (a new version, through policy and approval like any share, to the same
//! recipients and any added) and `POST /api/shares/{id}/recall` (a signed
//! recall to every recipient, store and forward, each answering with a
//! signed receipt).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::recall::{Recall, MAX_REASON};
use liaison_store::{Event, NewRecallOut, Role, ShareState, User};
use serde_json::json;

use crate::auth::require_role;
use crate::shares::{parse_id, plan_and_queue, share_view, ShareInput};
use crate::views::{CreateShareRequest, RecallRequest, ReviseShareRequest, ShareView};
use crate::{blocking, ApiError, AppState};

/// `POST /api/shares/{id}/revise`: JSON with the content inside, or
/// multipart with the content beside the request (as `POST /api/shares`).
pub(crate) async fn revise(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let id = parse_id(&id)?;
    let (req, body) = crate::body::read_request::<ReviseShareRequest>(&state, request).await?;
    let st = state.clone();
    let share = blocking(move || {
        let original = st
            .store
            .share(id)?
            .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
        if original.state != ShareState::Released {
            return Err(ApiError::conflict(format!(
                "share {id} is {}: only a released share can be revised",
                original.state
            )));
        }
        if let Some(next) = original.superseded_by {
            return Err(ApiError::conflict(format!(
                "share {id} was already revised by {next}; revise that one"
            )));
        }
        if !original.recalls.is_empty() {
            return Err(ApiError::conflict(format!(
                "share {id} was recalled; share the new content as a new share"
            )));
        }
        // The same recipients, plus any added (`resolve_peers` counts a
        // peer named twice, by name and by node id, once).
        let to: Vec<String> = original
            .deliveries
            .iter()
            .map(|d| d.peer.to_string())
            .chain(req.to.iter().cloned())
            .collect();
        let create = CreateShareRequest {
            tlp: req.tlp.clone().unwrap_or_else(|| original.tlp.to_string()),
            to,
            kind: Some(
                req.kind
                    .clone()
                    .unwrap_or_else(|| original.kind.to_string()),
            ),
            content: req.content.clone(),
            content_base64: req.content_base64.clone(),
            individuals: req.individuals.clone(),
            incident: st.store.incident_of_share(id)?.map(|i| i.to_string()),
            not_after: req.not_after.clone(),
        };
        let mut input = match body {
            Some(body) => ShareInput::parse_with(&create, body)?,
            None => ShareInput::parse(&create)?,
        };
        input.supersedes = Some(id);
        plan_and_queue(&st, &user, input)
    })
    .await?;
    Ok(crate::shares::created(&state, &share))
}

/// `POST /api/shares/{id}/recall`.
pub(crate) async fn recall(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    req: Result<Json<RecallRequest>, JsonRejection>,
) -> Result<Json<ShareView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let id = parse_id(&id)?;
    let Json(req) = req?;
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ApiError::bad_request(
            "invalid_reason",
            format!(
                "a recall needs a `reason` of 1 to {MAX_REASON} characters: the recipients see it"
            ),
        ));
    }
    let st = state.clone();
    let share = blocking(move || {
        let share = st
            .store
            .share(id)?
            .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
        if share.state != ShareState::Released {
            return Err(ApiError::conflict(format!(
                "share {id} is {}: only a released share can be recalled",
                share.state
            )));
        }
        let recall = Recall {
            v: 1,
            bundle_id: id,
            manifest_sha256: share.manifest_sha256.clone(),
            originator: st.keys.node_id(),
            reason: reason.clone(),
            by: user.name.clone(),
            at: Utc::now(),
        };
        let signed = recall.sign(&st.keys);
        let peers: Vec<_> = share.deliveries.iter().map(|d| d.peer).collect();
        let event = Event {
            kind: kinds::SHARE_RECALLED,
            actor: user.id.clone(),
            body: json!({
                "share_id": id,
                "reason": reason,
                "by": user.name,
                "manifest_sha256": share.manifest_sha256,
                "recipients": peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "recall_sha256": sha256_hex(&signed),
            }),
        };
        st.store.recall_share(
            &NewRecallOut {
                share_id: id,
                reason,
                requested_by: user.id.clone(),
                recall_json: signed,
                peers,
            },
            &event,
        )?;
        st.store
            .share(id)?
            .ok_or_else(|| ApiError::internal("share vanished after its recall"))
    })
    .await?;
    state.hooks.messages_queued();
    Ok(Json(share_view(&share)))
}
