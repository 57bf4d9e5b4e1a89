//! Node identity and peer pinning.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use liaison_core::identity::SignedCard;
use liaison_store::{PeerRecord, Role, User};
use serde_json::json;

use crate::auth::require_role;
use crate::views::{AddPeerRequest, NodeView, PeerView};
use crate::{blocking, ApiError, AppState};

pub(crate) async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "node_id": state.card.node_id().to_string()}))
}

pub(crate) async fn node(State(state): State<AppState>) -> Json<NodeView> {
    let card = &state.card;
    Json(NodeView {
        org: card.card.org.clone(),
        node_id: card.node_id().to_string(),
        fingerprint: card.node_id().fingerprint(),
        card: serde_json::to_value(&card.envelope).unwrap_or_default(),
    })
}

pub(crate) fn peer_view(p: &PeerRecord) -> PeerView {
    PeerView {
        name: p.name.clone(),
        node_id: p.node_id.to_string(),
        org: p.org.clone(),
        fingerprint: p.node_id.fingerprint(),
        endpoints: p.endpoints.clone(),
        tier: p.tier,
        added_at: p.added_at,
        last_contact: p.last_contact,
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<PeerView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let store = state.store.clone();
    let peers = blocking(move || Ok(store.peers()?)).await?;
    Ok(Json(peers.iter().map(peer_view).collect()))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(peer): Path<String>,
) -> Result<Json<PeerView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let store = state.store.clone();
    let found = blocking(move || Ok(store.peer(&peer)?)).await?;
    found
        .map(|p| Json(peer_view(&p)))
        .ok_or_else(|| ApiError::not_found("no such peer"))
}

pub(crate) async fn add(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    req: Result<Json<AddPeerRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<PeerView>), ApiError> {
    require_role(&user, &[])?;
    let Json(req) = req?;
    let raw = serde_json::to_vec(&req.card)
        .map_err(|e| ApiError::bad_request("invalid_card", e.to_string()))?;
    let signed = SignedCard::from_json(&raw)
        .map_err(|e| ApiError::unprocessable("invalid_card", e.to_string()))?;
    if signed.node_id() == state.card.node_id() {
        return Err(ApiError::unprocessable(
            "invalid_card",
            "that is this node's own card",
        ));
    }
    let tier = req.tier.unwrap_or(3);
    if !(1..=3).contains(&tier) {
        return Err(ApiError::bad_request(
            "invalid_tier",
            format!("tier must be 1, 2 or 3, not {tier}"),
        ));
    }
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| signed.card.org.clone());
    let record = PeerRecord {
        name,
        node_id: signed.node_id(),
        org: signed.card.org.clone(),
        card_json: signed.to_json(),
        endpoints: signed.card.endpoints.clone(),
        age_recipient: signed.card.age_recipient.clone(),
        tier,
        added_at: Utc::now(),
        last_contact: None,
    };
    let store = state.store.clone();
    let (rec, actor, hooks) = (record.clone(), user.id.clone(), state.hooks.clone());
    blocking(move || {
        store.add_peer(&rec, &actor)?;
        hooks.peers_changed(None);
        Ok(())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(peer_view(&record))))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(peer): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_role(&user, &[])?;
    let store = state.store.clone();
    let (actor, hooks) = (user.id.clone(), state.hooks.clone());
    blocking(move || {
        let p = store.peer(&peer)?.ok_or_else(|| {
            ApiError::not_found(format!("no peer named or with node id `{peer}`"))
        })?;
        store.remove_peer(&p.node_id, &actor)?;
        // Before answering: once the caller sees 204, the peer is refused.
        hooks.peers_changed(Some(p.node_id));
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
