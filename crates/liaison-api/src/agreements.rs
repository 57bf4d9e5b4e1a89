//! Sharing agreements, this node's side of the negotiation (DESIGN §5):
//! propose, countersign, decline, revoke. Each change is stored with its
//! ledger entry and the signed message for the peer in one transaction;
//! the daemon's message worker delivers the message (store and forward).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use liaison_core::agreement::{
    AgreementFile, AgreementState, Notice, NoticeAction, SignedAgreement,
};
use liaison_core::ledger::kinds;
use liaison_core::manifest::Party;
use liaison_store::{AgreementRecord, Event, MessageRecord, NewMessage, PeerRecord, Role, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::require_role;
use crate::shares::parse_id;
use crate::{blocking, ApiError, AppState};

/// `POST /api/agreements`: propose an agreement to a peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeRequest {
    /// The peer: local name or node id.
    pub peer: String,
    /// The agreement in its TOML form (see `config/agreement.example.toml`),
    /// written from this node's point of view.
    pub toml: String,
}

/// `POST /api/agreements/{id}/decline` and `/revoke`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoticeRequest {
    /// Why, in words (sent to the peer and ledgered).
    #[serde(default)]
    pub reason: String,
}

/// One version of an agreement, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgreementView {
    /// Agreement id.
    pub id: Uuid,
    /// Version.
    pub version: u32,
    /// Title.
    pub title: String,
    /// The other party's node id.
    pub peer: String,
    /// Its local name, if pinned.
    pub peer_name: Option<String>,
    /// State on this node.
    pub state: AgreementState,
    /// Whether it governs exchanges right now (in force and inside its window).
    pub in_force_now: bool,
    /// SHA-256 of the signed agreement bytes.
    pub sha256: String,
    /// Validity window.
    pub valid_from: chrono::DateTime<Utc>,
    /// Validity window.
    pub valid_until: chrono::DateTime<Utc>,
    /// The parties whose signatures it carries (node ids).
    pub signed_by: Vec<String>,
    /// Both directions in plain words.
    pub description: String,
    /// The agreement document.
    pub agreement: serde_json::Value,
    /// The signed document (DSSE JSON).
    pub signed: serde_json::Value,
    /// The signed decline or revocation, if any.
    pub notice: Option<serde_json::Value>,
    /// Messages sent to the peer about this agreement.
    pub messages: Vec<MessageView>,
    /// When this node stored this version.
    pub created_at: chrono::DateTime<Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<Utc>,
}

/// A message sent (or being sent) to the peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageView {
    /// What it is, e.g. `agreement.proposal`.
    pub kind: String,
    /// The version it concerns.
    pub version: Option<u32>,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Failed attempts.
    pub attempts: u32,
    /// The last failure, or the peer's refusal.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: chrono::DateTime<Utc>,
    /// When the peer acknowledged (or refused) it.
    pub completed_at: Option<chrono::DateTime<Utc>>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<AgreementView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let st = state.clone();
    blocking(move || {
        let records = st.store.agreements(10_000)?;
        let peers = st.store.peers()?;
        records
            .iter()
            .map(|r| view(r, &peers, Vec::new()))
            .collect::<Result<Vec<_>, _>>()
            .map(Json)
    })
    .await
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<Vec<AgreementView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let id = parse_id(&id)?;
    let st = state.clone();
    blocking(move || {
        let records: Vec<AgreementRecord> = st
            .store
            .agreements(10_000)?
            .into_iter()
            .filter(|r| r.id == id)
            .collect();
        if records.is_empty() {
            return Err(ApiError::not_found(format!("no agreement {id}")));
        }
        let peers = st.store.peers()?;
        let messages = st.store.agreement_messages(id)?;
        let mut views = records
            .iter()
            .map(|r| {
                let mine = messages
                    .iter()
                    .filter(|m| m.agreement.map(|(_, v)| v) == Some(r.version))
                    .cloned()
                    .collect();
                view(r, &peers, mine)
            })
            .collect::<Result<Vec<_>, _>>()?;
        views.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(Json(views))
    })
    .await
}

pub(crate) async fn propose(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    req: Result<Json<ProposeRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<AgreementView>), ApiError> {
    require_role(&user, &[])?;
    let Json(req) = req?;
    let file = AgreementFile::from_toml(&req.toml)
        .map_err(|e| ApiError::bad_request("invalid_agreement", e.to_string()))?;
    let st = state.clone();
    let out = blocking(move || {
        let peer = find_peer(&st, &req.peer)?;
        let me = Party {
            org: st.org().to_string(),
            node_id: st.keys.node_id(),
        };
        let them = Party {
            org: peer.org.clone(),
            node_id: peer.node_id,
        };
        // A new version of the agreement already held with this peer,
        // unless the file names another id.
        let standing = st.store.agreement_standing(&peer.node_id)?;
        let id = file
            .id
            .or(standing.as_ref().map(|r| r.id))
            .unwrap_or_else(Uuid::new_v4);
        let latest = st.store.latest_agreement(id)?;
        if let Some(l) = &latest {
            if l.peer != peer.node_id {
                return Err(ApiError::unprocessable(
                    "invalid_agreement",
                    format!("agreement {id} is held with another peer"),
                ));
            }
        }
        let next = latest.as_ref().map_or(1, |l| l.version.saturating_add(1));
        let version = file.version.unwrap_or(next);
        if version < next {
            return Err(ApiError::unprocessable(
                "stale_version",
                format!(
                    "agreement {id} is at version {}; propose version {next} or later",
                    next - 1
                ),
            ));
        }
        let agreement = file
            .to_agreement(id, version, me, them, Utc::now())
            .map_err(|e| ApiError::unprocessable("invalid_agreement", e.to_string()))?;
        let signed = SignedAgreement::propose(&st.keys, agreement)
            .map_err(|e| ApiError::unprocessable("invalid_agreement", e.to_string()))?;
        let rec = AgreementRecord::of(&signed, peer.node_id, AgreementState::ProposedByUs, None);
        let event = Event {
            kind: kinds::AGREEMENT_PROPOSED,
            actor: user.id.clone(),
            body: json!({
                "agreement_id": id,
                "version": version,
                "peer": peer.node_id.to_string(),
                "sha256": signed.sha256(),
                "valid_from": signed.agreement.valid_from,
                "valid_until": signed.agreement.valid_until,
            }),
        };
        let message = NewMessage {
            peer: peer.node_id,
            kind: "agreement.proposal".into(),
            body: signed.to_json(),
            agreement: Some((id, version)),
        };
        st.store.save_agreement(&rec, &event, Some(&message))?;
        let stored = st
            .store
            .agreement(id, version)?
            .ok_or_else(|| ApiError::internal("agreement vanished after commit"))?;
        let peers = st.store.peers()?;
        view(&stored, &peers, st.store.agreement_messages(id)?)
    })
    .await?;
    state.hooks.messages_queued();
    Ok((StatusCode::CREATED, Json(out)))
}

/// What a local decision does to the newest version of an agreement.
#[derive(Clone, Copy)]
enum Decision {
    Sign,
    Decline,
    Revoke,
}

pub(crate) async fn sign(
    state: State<AppState>,
    user: Extension<User>,
    id: Path<String>,
) -> Result<Json<AgreementView>, ApiError> {
    decide(state, user, id, Decision::Sign, String::new()).await
}

pub(crate) async fn decline(
    state: State<AppState>,
    user: Extension<User>,
    id: Path<String>,
    req: Result<Json<NoticeRequest>, JsonRejection>,
) -> Result<Json<AgreementView>, ApiError> {
    let reason = optional_reason(req)?;
    decide(state, user, id, Decision::Decline, reason).await
}

pub(crate) async fn revoke(
    state: State<AppState>,
    user: Extension<User>,
    id: Path<String>,
    req: Result<Json<NoticeRequest>, JsonRejection>,
) -> Result<Json<AgreementView>, ApiError> {
    let reason = optional_reason(req)?;
    decide(state, user, id, Decision::Revoke, reason).await
}

fn optional_reason(req: Result<Json<NoticeRequest>, JsonRejection>) -> Result<String, ApiError> {
    match req {
        Ok(Json(r)) => Ok(r.reason),
        // No body at all is fine: no reason given.
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(String::new()),
        Err(e) => Err(e.into()),
    }
}

async fn decide(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    decision: Decision,
    reason: String,
) -> Result<Json<AgreementView>, ApiError> {
    require_role(&user, &[])?;
    let id = parse_id(&id)?;
    let st = state.clone();
    let out = blocking(move || {
        let versions: Vec<AgreementRecord> = st
            .store
            .agreements(10_000)?
            .into_iter()
            .filter(|r| r.id == id)
            .collect();
        let target = match decision {
            Decision::Sign | Decision::Decline => versions
                .iter()
                .filter(|r| r.state == AgreementState::ProposedByPeer)
                .max_by_key(|r| r.version),
            Decision::Revoke => versions
                .iter()
                .filter(|r| {
                    matches!(
                        r.state,
                        AgreementState::InForce
                            | AgreementState::ProposedByUs
                            | AgreementState::ProposedByPeer
                    )
                })
                .max_by_key(|r| (r.state == AgreementState::InForce, r.version)),
        };
        let Some(rec) = target.cloned() else {
            let what = match decision {
                Decision::Sign | Decision::Decline => {
                    "a proposal from the peer waiting for a decision"
                }
                Decision::Revoke => "a version in force or being negotiated",
            };
            return Err(if versions.is_empty() {
                ApiError::not_found(format!("no agreement {id}"))
            } else {
                ApiError::conflict(format!("agreement {id} has no {what}"))
            });
        };
        let signed = SignedAgreement::from_stored(&rec.document)
            .map_err(|e| ApiError::internal(format!("stored agreement {id}: {e}")))?;
        let (new, event, message) = match decision {
            Decision::Sign => {
                let both = signed
                    .countersign(&st.keys)
                    .map_err(|e| ApiError::unprocessable("invalid_agreement", e.to_string()))?;
                let new = AgreementRecord::of(&both, rec.peer, AgreementState::InForce, None);
                let event = Event {
                    kind: kinds::AGREEMENT_IN_FORCE,
                    actor: user.id.clone(),
                    body: json!({
                        "agreement_id": id,
                        "version": rec.version,
                        "peer": rec.peer.to_string(),
                        "sha256": both.sha256(),
                        "countersigned_by": st.keys.node_id().to_string(),
                    }),
                };
                let message = NewMessage {
                    peer: rec.peer,
                    kind: "agreement.countersigned".into(),
                    body: both.to_json(),
                    agreement: Some((id, rec.version)),
                };
                (new, event, message)
            }
            Decision::Decline | Decision::Revoke => {
                let (action, state, kind, what) = match decision {
                    Decision::Decline => (
                        NoticeAction::Decline,
                        AgreementState::Declined,
                        kinds::AGREEMENT_DECLINED,
                        "agreement.decline",
                    ),
                    _ => (
                        NoticeAction::Revoke,
                        AgreementState::Revoked,
                        kinds::AGREEMENT_REVOKED,
                        "agreement.revoke",
                    ),
                };
                let notice = Notice {
                    v: 1,
                    agreement_id: id,
                    version: rec.version,
                    agreement_sha256: rec.sha256.clone(),
                    action,
                    reason: reason.clone(),
                    at: Utc::now(),
                    by: st.keys.node_id(),
                };
                let body = Notice::sign(&st.keys, &notice);
                let mut new = rec.clone();
                new.state = state;
                new.notice = Some(body.clone());
                let event = Event {
                    kind,
                    actor: user.id.clone(),
                    body: json!({
                        "agreement_id": id,
                        "version": rec.version,
                        "peer": rec.peer.to_string(),
                        "sha256": rec.sha256,
                        "by": st.keys.node_id().to_string(),
                        "reason": reason,
                    }),
                };
                let message = NewMessage {
                    peer: rec.peer,
                    kind: what.into(),
                    body,
                    agreement: Some((id, rec.version)),
                };
                (new, event, message)
            }
        };
        st.store.save_agreement(&new, &event, Some(&message))?;
        let stored = st
            .store
            .agreement(id, rec.version)?
            .ok_or_else(|| ApiError::internal("agreement vanished after commit"))?;
        let peers = st.store.peers()?;
        let messages = st
            .store
            .agreement_messages(id)?
            .into_iter()
            .filter(|m| m.agreement.map(|(_, v)| v) == Some(rec.version))
            .collect();
        view(&stored, &peers, messages)
    })
    .await?;
    state.hooks.messages_queued();
    Ok(Json(out))
}

fn find_peer(st: &AppState, name: &str) -> Result<PeerRecord, ApiError> {
    st.store.peer(name)?.ok_or_else(|| {
        ApiError::unprocessable(
            "unknown_peer",
            format!("no pinned peer named or with node id `{name}`"),
        )
    })
}

fn view(
    r: &AgreementRecord,
    peers: &[PeerRecord],
    messages: Vec<MessageRecord>,
) -> Result<AgreementView, ApiError> {
    let signed = SignedAgreement::from_stored(&r.document)
        .map_err(|e| ApiError::internal(format!("stored agreement {}: {e}", r.id)))?;
    let a = &signed.agreement;
    Ok(AgreementView {
        id: r.id,
        version: r.version,
        title: a.title.clone(),
        peer: r.peer.to_string(),
        peer_name: peers
            .iter()
            .find(|p| p.node_id == r.peer)
            .map(|p| p.name.clone()),
        state: r.state,
        in_force_now: r.state == AgreementState::InForce && a.is_valid_at(Utc::now()),
        sha256: r.sha256.clone(),
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        signed_by: signed.signed_by.iter().map(|n| n.to_string()).collect(),
        description: a.describe(),
        agreement: serde_json::to_value(a).unwrap_or_default(),
        signed: serde_json::from_slice(&r.document).unwrap_or_default(),
        notice: r
            .notice
            .as_ref()
            .and_then(|n| serde_json::from_slice(n).ok()),
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                kind: m.kind,
                version: m.agreement.map(|(_, v)| v),
                state: m.state.as_str().to_string(),
                attempts: m.attempts,
                last_error: m.last_error,
                created_at: m.created_at,
                completed_at: m.completed_at,
            })
            .collect(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}
