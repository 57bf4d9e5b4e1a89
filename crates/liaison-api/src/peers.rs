//! Node identity and peer pinning.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use liaison_core::identity::SignedCard;
use liaison_core::roster::ContactSchedule;
use liaison_store::{ContactRecord, PeerRecord, Role, User};
use serde_json::json;

use crate::auth::require_role;
use crate::views::{AddPeerRequest, CheckView, ContactView, NodeView, PeerView, RosterRequest};
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
        roster: Default::default(),
        contact: Default::default(),
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<PeerView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let store = state.store.clone();
    let (peers, contacts) = blocking(move || Ok((store.peers()?, store.contacts()?))).await?;
    let schedule = state.hooks.contact_schedule();
    Ok(Json(
        peers
            .iter()
            .map(|p| {
                let c = contacts.iter().find(|c| c.node_id == p.node_id);
                with_contact(peer_view(p), c, &schedule)
            })
            .collect(),
    ))
}

/// A peer view with its roster and contact-path state.
fn with_contact(
    mut view: PeerView,
    contact: Option<&ContactRecord>,
    schedule: &ContactSchedule,
) -> PeerView {
    let now = Utc::now();
    let interval_s = schedule.interval(view.tier).as_secs();
    let Some(c) = contact else {
        view.contact.interval_s = interval_s;
        view.contact.stale = schedule.is_stale(view.tier, None, view.added_at, now);
        return view;
    };
    view.roster = c.roster.clone();
    view.contact = ContactView {
        verified_at: c.verified_at,
        last_check_at: c.last_check_at,
        last_check_ok: c.last_check_ok,
        last_rtt_ms: c.last_rtt_us.map(|us| us as f64 / 1000.0),
        last_error: c.last_error.clone(),
        interval_s,
        stale: schedule.is_stale(c.tier, c.verified_at, c.pinned_at, now),
    };
    view
}

async fn contact_of(state: &AppState, p: &PeerRecord) -> Result<PeerView, ApiError> {
    let store = state.store.clone();
    let id = p.node_id;
    let c = blocking(move || Ok(store.contact(&id)?)).await?;
    Ok(with_contact(
        peer_view(p),
        c.as_ref(),
        &state.hooks.contact_schedule(),
    ))
}

async fn find_peer(state: &AppState, peer: String) -> Result<PeerRecord, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        store
            .peer(&peer)?
            .ok_or_else(|| ApiError::not_found(format!("no peer named or with node id `{peer}`")))
    })
    .await
}

/// `PUT /api/peers/{peer}/roster` (admin): tier and roster, ledgered.
pub(crate) async fn set_roster(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(peer): Path<String>,
    req: Result<Json<RosterRequest>, JsonRejection>,
) -> Result<Json<PeerView>, ApiError> {
    require_role(&user, &[])?;
    let Json(req) = req?;
    let p = find_peer(&state, peer).await?;
    let tier = req.tier.unwrap_or(p.tier);
    if !(1..=3).contains(&tier) {
        return Err(ApiError::bad_request(
            "invalid_tier",
            format!("tier must be 1, 2 or 3, not {tier}"),
        ));
    }
    let store = state.store.clone();
    let (id, actor) = (p.node_id, user.id.clone());
    blocking(move || Ok(store.set_roster(&id, tier, &req.roster, &actor)?)).await?;
    let p = find_peer(&state, p.node_id.to_string()).await?;
    Ok(Json(contact_of(&state, &p).await?))
}

fn check_view(p: &PeerRecord, outcome: &Result<u64, String>) -> CheckView {
    CheckView {
        peer: p.name.clone(),
        node_id: p.node_id.to_string(),
        ok: outcome.is_ok(),
        rtt_ms: outcome.as_ref().ok().map(|us| *us as f64 / 1000.0),
        error: outcome.as_ref().err().cloned(),
    }
}

async fn run_checks(state: &AppState, peers: Vec<PeerRecord>) -> Result<Vec<CheckView>, ApiError> {
    let results = state
        .hooks
        .check_contacts(peers.iter().map(|p| p.node_id).collect())
        .await;
    if results.len() != peers.len() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_network",
            "this API runs without a node: contact paths cannot be checked",
        ));
    }
    Ok(peers
        .iter()
        .map(|p| {
            let outcome = results
                .iter()
                .find(|(id, _)| *id == p.node_id)
                .map(|(_, o)| o.clone())
                .unwrap_or_else(|| Err("not checked".into()));
            check_view(p, &outcome)
        })
        .collect())
}

/// `POST /api/peers/{peer}/check`: ping it now (signed pong), recorded.
pub(crate) async fn check_one(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(peer): Path<String>,
) -> Result<Json<CheckView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let p = find_peer(&state, peer).await?;
    let mut out = run_checks(&state, vec![p]).await?;
    out.pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("a check returned nothing"))
}

/// `POST /api/contacts/check`: ping every pinned peer now.
pub(crate) async fn check_all(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<CheckView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let store = state.store.clone();
    let peers = blocking(move || Ok(store.peers()?)).await?;
    Ok(Json(run_checks(&state, peers).await?))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(peer): Path<String>,
) -> Result<Json<PeerView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let store = state.store.clone();
    let found = blocking(move || Ok(store.peer(&peer)?))
        .await?
        .ok_or_else(|| ApiError::not_found("no such peer"))?;
    Ok(Json(contact_of(&state, &found).await?))
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
