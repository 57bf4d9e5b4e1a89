//! Outbound shares: validate, sign once, encrypt once per recipient, queue.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::Utc;
use liaison_core::content;
use liaison_core::envelope::{self, Draft, SealError};
use liaison_core::identity::{IdentityCard, SignedCard};
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::{Kind, Tlp};
use liaison_store::{
    DeliveryRecord, Event, NewDelivery, NewShare, PeerRecord, Role, ShareRecord, User,
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::require_role;
use crate::views::{CreateShareRequest, DeliveryView, ReceiptView, ShareView};
use crate::{blocking, ApiError, AppState};

/// `?limit=N` for listings.
#[derive(Debug, Deserialize)]
pub(crate) struct Limit {
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<ShareView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let Query(q) = q?;
    let store = state.store.clone();
    let shares = blocking(move || Ok(store.shares(q.limit.min(10_000))?)).await?;
    Ok(Json(shares.iter().map(share_view).collect()))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<ShareView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let id = parse_id(&id)?;
    let store = state.store.clone();
    blocking(move || Ok(store.share(id)?))
        .await?
        .map(|s| Json(share_view(&s)))
        .ok_or_else(|| ApiError::not_found(format!("no share {id}")))
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_request("invalid_id", format!("`{id}` is not a UUID")))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    req: Result<Json<CreateShareRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let Json(req) = req?;
    let tlp: Tlp = req
        .tlp
        .parse()
        .map_err(|e: liaison_core::tlp::ParseTlpError| {
            ApiError::bad_request("invalid_tlp", e.to_string())
        })?;
    let body = request_content(&req)?;
    let kind = match &req.kind {
        Some(k) => k
            .parse::<Kind>()
            .map_err(|e| ApiError::bad_request("invalid_kind", e.to_string()))?,
        None => content::detect(&body).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_kind",
                "cannot tell what the content is; set `kind`",
            )
        })?,
    };
    if req.to.is_empty() {
        return Err(ApiError::bad_request(
            "no_recipients",
            "`to` must name at least one peer",
        ));
    }

    let st = state.clone();
    let share = blocking(move || seal_and_queue(&st, &user, tlp, kind, &req.to, body)).await?;
    state.hooks.share_queued();
    Ok((StatusCode::CREATED, Json(share_view(&share))))
}

fn request_content(req: &CreateShareRequest) -> Result<Vec<u8>, ApiError> {
    match (&req.content, &req.content_base64) {
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ApiError::bad_request("invalid_content", format!("content_base64: {e}"))),
        _ => Err(ApiError::bad_request(
            "invalid_content",
            "give exactly one of `content` and `content_base64`",
        )),
    }
}

/// Resolve recipients, sign, encrypt per recipient and store the share with
/// its outbox rows and ledger entry in one transaction. Refusals are ledgered.
fn seal_and_queue(
    state: &AppState,
    user: &User,
    tlp: Tlp,
    kind: Kind,
    to: &[String],
    body: Vec<u8>,
) -> Result<ShareRecord, ApiError> {
    let store = &state.store;
    let mut peers: Vec<PeerRecord> = Vec::with_capacity(to.len());
    for name in to {
        let peer = store.peer(name)?.ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_peer",
                format!("no pinned peer named or with node id `{name}`"),
            )
        })?;
        if !peers.iter().any(|p| p.node_id == peer.node_id) {
            peers.push(peer);
        }
    }
    let cards = peers
        .iter()
        .map(card_of)
        .collect::<Result<Vec<IdentityCard>, ApiError>>()?;

    let draft = Draft::new(kind, tlp, cards);
    let signed = match envelope::sign(&state.keys, state.org(), &draft, &body, Utc::now()) {
        Ok(s) => s,
        Err(e) => {
            let err = seal_error(&e);
            store.append(&Event {
                kind: kinds::SHARE_REFUSED,
                actor: user.id.clone(),
                body: json!({
                    "reason": err.code,
                    "detail": err.message,
                    "tlp": tlp,
                    "kind": kind,
                    "to": peers.iter().map(|p| p.node_id.to_string()).collect::<Vec<_>>(),
                    "content_sha256": sha256_hex(&body),
                }),
            })?;
            return Err(err);
        }
    };

    let mut deliveries = Vec::with_capacity(peers.len());
    for p in &peers {
        let mut ct = Vec::with_capacity(body.len() + 2048);
        envelope::encrypt_to(&signed, &body, &[p.node_id], &mut ct)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        deliveries.push(NewDelivery {
            peer: p.node_id,
            envelope_sha256: sha256_hex(&ct),
            envelope: ct,
        });
    }
    let m = &signed.manifest;
    let event = Event {
        kind: kinds::SHARE_RELEASED,
        actor: user.id.clone(),
        body: json!({
            "share_id": m.bundle_id,
            "tlp": m.tlp,
            "kind": m.kind,
            "manifest_sha256": signed.manifest_sha256(),
            "content_sha256": m.content.sha256,
            "size": m.content.size,
            "recipients": deliveries.iter().map(|d| json!({
                "node_id": d.peer.to_string(),
                "envelope_sha256": d.envelope_sha256,
            })).collect::<Vec<_>>(),
        }),
    };
    let share = NewShare {
        id: m.bundle_id,
        created_by: user.id.clone(),
        tlp,
        kind,
        manifest_sha256: signed.manifest_sha256(),
        manifest: signed.manifest_bytes.clone(),
        dsse: signed.dsse.to_json(),
        content: body,
        deliveries,
    };
    store.create_share(&share, &event)?;
    store
        .share(share.id)?
        .ok_or_else(|| ApiError::internal("share vanished after commit"))
}

fn card_of(p: &PeerRecord) -> Result<IdentityCard, ApiError> {
    SignedCard::from_json(p.card_json.as_bytes())
        .map(|c| c.card)
        .map_err(|e| {
            ApiError::internal(format!("stored card of {} no longer verifies: {e}", p.name))
        })
}

fn seal_error(e: &SealError) -> ApiError {
    let code = match e {
        SealError::Content(_) => "invalid_content",
        SealError::TlpBelowContent { .. } => "tlp_below_content",
        SealError::NoRecipients => "no_recipients",
        SealError::CommunityNotAllowed(_) => "community_not_allowed",
        SealError::BadRecipient(_) => "invalid_card",
        SealError::OutsideAudience(_) | SealError::Encrypt(_) => {
            return ApiError::internal(e.to_string())
        }
    };
    ApiError::unprocessable(code, e.to_string())
}

pub(crate) fn share_view(s: &ShareRecord) -> ShareView {
    ShareView {
        id: s.id,
        created_at: s.created_at,
        created_by: s.created_by.clone(),
        tlp: s.tlp.to_string(),
        kind: s.kind.to_string(),
        manifest_sha256: s.manifest_sha256.clone(),
        size: s.size,
        deliveries: s.deliveries.iter().map(delivery_view).collect(),
    }
}

fn delivery_view(d: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        peer: d.peer.to_string(),
        peer_name: d.peer_name.clone(),
        state: d.state.to_string(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error.clone(),
        completed_at: d.completed_at,
        receipt: d.receipt.as_ref().map(|r| ReceiptView {
            accepted: r.accepted,
            reason: r.reason.clone(),
            received_at: r.received_at,
            signed: serde_json::from_slice(&r.json).unwrap_or_default(),
        }),
    }
}
