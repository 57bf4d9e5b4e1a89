//! Outbound shares: validate, sign once, encrypt once per recipient, queue.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::Utc;
use liaison_core::agreement::SignedAgreement;
use liaison_core::content;
use liaison_core::dsse::Envelope;
use liaison_core::envelope::{self, Draft, SealError};
use liaison_core::forward;
use liaison_core::identity::{IdentityCard, SignedCard};
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::manifest::Manifest;
use liaison_core::policy::{Decision, Standing};
use liaison_core::release::{self, Candidate, ReleasePlan, Request};
use liaison_core::{Kind, Tlp};
use liaison_store::{
    AgreementRecord, DeliveryRecord, Event, NewDelivery, NewShare, PeerRecord, Role, ShareRecord,
    ShareState, User,
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::require_role;
use crate::body::Body;
use crate::views::{
    CreateShareRequest, DeliveryView, PreviewView, RecallDeliveryView, RecallView, ReceiptView,
    ShareView,
};
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
    let (share, acks) = blocking(move || Ok((store.share(id)?, store.share_acks(id)?))).await?;
    let mut view = share
        .map(|s| share_view(&s))
        .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
    for d in &mut view.deliveries {
        d.acknowledgement = acks
            .iter()
            .find(|a| a.peer.to_string() == d.peer)
            .map(ack_view);
    }
    Ok(Json(view))
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_request("invalid_id", format!("`{id}` is not a UUID")))
}

/// `POST /api/shares`: a JSON [`CreateShareRequest`] with the content
/// inside, or `multipart/form-data` with the request and the raw content
/// as two parts (see [`crate::body`]), which streams to disk: the way for
/// large bundles.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    // Approvers may draft too; they can never approve their own share.
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let request = match share_input(&state, request).await {
        Ok(r) => r,
        // Refused as it streamed in: ledgered like any refused share.
        Err(e) if e.code == "too_large" => {
            let (st, message) = (state.clone(), e.message.clone());
            blocking(move || {
                st.store.append(&Event {
                    kind: kinds::SHARE_REFUSED,
                    actor: user.id.clone(),
                    body: json!({ "reason": "too_large", "detail": message }),
                })?;
                Ok(())
            })
            .await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    create_from(&state, user, request).await
}

/// Store the share `request` of `user` (the web form's way in, too).
pub(crate) async fn create_from(
    state: &AppState,
    user: User,
    request: ShareInput,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let st = state.clone();
    let share = blocking(move || plan_and_queue(&st, &user, request)).await?;
    Ok(created(state, &share))
}

/// The share request of a JSON or multipart body.
pub(crate) async fn share_input(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<ShareInput, ApiError> {
    match crate::body::read_request::<CreateShareRequest>(state, request).await? {
        (req, Some(body)) => ShareInput::parse_with(&req, body),
        (req, None) => ShareInput::parse(&req),
    }
}

/// The answer to a share just stored: 201 with its view, after waking the
/// delivery worker when it was sealed and queued (not held for approval).
pub(crate) fn created(state: &AppState, share: &ShareRecord) -> (StatusCode, Json<ShareView>) {
    if share.state == ShareState::Released {
        state.hooks.share_queued();
    }
    (StatusCode::CREATED, Json(share_view(share)))
}

pub(crate) async fn preview(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    req: Result<Json<CreateShareRequest>, JsonRejection>,
) -> Result<Json<PreviewView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let Json(req) = req?;
    let request = ShareInput::parse(&req)?;
    let st = state.clone();
    blocking(move || {
        let peers = resolve_peers(&st, &request.to)?;
        let info = check_body(&request).map_err(|e| seal_error(&e))?;
        let agreements = standings(&st, &peers)?;
        let plan = plan_for(&st, &request, &peers, &agreements, Some(&info.inventory))?;
        preview_of(&plan, &request.body).map(Json)
    })
    .await
}

/// What a preview shows of `plan` for content `body`.
pub(crate) fn preview_of(plan: &ReleasePlan, body: &Body) -> Result<PreviewView, ApiError> {
    let value = serde_json::to_value(plan).unwrap_or_default();
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    // Spooled content is described, not shown.
    let (content, size, sha256) = match (&plan.redacted, body) {
        (Some(r), _) | (None, Body::Bytes(r)) => (text(r), r.len() as u64, sha256_hex(r)),
        (None, Body::Spooled { len, sha256, .. }) => (None, *len, sha256.clone()),
    };
    Ok(PreviewView {
        decision: value["decision"].clone(),
        recipients: value["recipients"].as_array().cloned().unwrap_or_default(),
        removals: value["removals"].as_array().cloned().unwrap_or_default(),
        content,
        size,
        sha256,
    })
}

/// Validate a share's content, streaming it when it is spooled.
pub(crate) fn check_body(req: &ShareInput) -> Result<content::ContentInfo, SealError> {
    match &req.body {
        Body::Bytes(b) => envelope::check_content(req.kind, req.tlp, b),
        Body::Spooled { .. } => {
            let reader = req
                .body
                .reader()
                .map_err(|e| SealError::Content(content::ContentError::Read(e.to_string())))?;
            envelope::check_content_reader(req.kind, req.tlp, reader)
        }
    }
}

/// A share request, parsed and checked.
pub(crate) struct ShareInput {
    pub incident: Option<Uuid>,
    /// The share this one revises.
    pub supersedes: Option<Uuid>,
    /// The expiry the bundle carries.
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
    pub tlp: Tlp,
    pub kind: Kind,
    pub to: Vec<String>,
    pub individuals: Vec<String>,
    pub body: Body,
}

impl ShareInput {
    /// A JSON request, with its content inside.
    pub(crate) fn parse(req: &CreateShareRequest) -> Result<ShareInput, ApiError> {
        ShareInput::parse_with(req, Body::Bytes(request_content(req)?))
    }

    /// A request whose content is `body`.
    pub(crate) fn parse_with(req: &CreateShareRequest, body: Body) -> Result<ShareInput, ApiError> {
        let tlp: Tlp = req
            .tlp
            .parse()
            .map_err(|e: liaison_core::tlp::ParseTlpError| {
                ApiError::bad_request("invalid_tlp", e.to_string())
            })?;
        let kind = match &req.kind {
            Some(k) => k
                .parse::<Kind>()
                .map_err(|e| ApiError::bad_request("invalid_kind", e.to_string()))?,
            None => content::detect(&body.in_memory("telling the kind of content")?).ok_or_else(
                || {
                    ApiError::bad_request(
                        "invalid_kind",
                        "cannot tell what the content is; set `kind`",
                    )
                },
            )?,
        };
        if req.to.is_empty() {
            return Err(ApiError::bad_request(
                "no_recipients",
                "`to` must name at least one peer",
            ));
        }
        let incident = req
            .incident
            .as_deref()
            .map(|i| {
                Uuid::parse_str(i.trim()).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_incident",
                        format!("`{i}` is not an incident id"),
                    )
                })
            })
            .transpose()?;
        let not_after = req
            .not_after
            .as_deref()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t.trim())
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid_not_after",
                            format!("`{t}` is not an RFC 3339 time (e.g. 2026-12-31T00:00:00Z)"),
                        )
                    })
            })
            .transpose()?;
        if not_after.is_some_and(|t| t <= chrono::Utc::now()) {
            return Err(ApiError::bad_request(
                "invalid_not_after",
                "`not_after` is in the past: the recipients would refuse the bundle",
            ));
        }
        Ok(ShareInput {
            incident,
            supersedes: None,
            not_after,
            tlp,
            kind,
            to: req.to.clone(),
            individuals: req.individuals.clone(),
            body,
        })
    }
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

pub(crate) fn resolve_peers(state: &AppState, to: &[String]) -> Result<Vec<PeerRecord>, ApiError> {
    let mut peers: Vec<PeerRecord> = Vec::with_capacity(to.len());
    for name in to {
        let peer = state.store.peer(name)?.ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_peer",
                format!("no pinned peer named or with node id `{name}`"),
            )
        })?;
        if !peers.iter().any(|p| p.node_id == peer.node_id) {
            peers.push(peer);
        }
    }
    Ok(peers)
}

/// The agreement governing each peer, parsed from the store.
pub(crate) fn standings(
    state: &AppState,
    peers: &[PeerRecord],
) -> Result<Vec<Option<(AgreementRecord, SignedAgreement)>>, ApiError> {
    peers
        .iter()
        .map(|p| {
            let Some(rec) = state.store.agreement_standing(&p.node_id)? else {
                return Ok(None);
            };
            let signed = SignedAgreement::from_stored(&rec.document).map_err(|e| {
                ApiError::internal(format!("stored agreement with {}: {e}", p.name))
            })?;
            Ok(Some((rec, signed)))
        })
        .collect()
}

/// Redaction by every recipient's rules, then policy per recipient.
pub(crate) fn plan_for(
    state: &AppState,
    req: &ShareInput,
    peers: &[PeerRecord],
    agreements: &[Option<(AgreementRecord, SignedAgreement)>],
    inventory: Option<&content::Inventory>,
) -> Result<ReleasePlan, ApiError> {
    // Spooled content is planned from its inventory: taken here (one
    // object at a time) when the caller has not validated it already.
    let taken;
    let inventory = match (inventory, &req.body) {
        (Some(i), _) => i,
        (None, Body::Spooled { .. }) => {
            taken = check_body(req).map_err(|e| seal_error(&e))?.inventory;
            &taken
        }
        (None, Body::Bytes(_)) => {
            taken = content::Inventory::default();
            &taken
        }
    };
    let candidates: Vec<Candidate<'_>> = peers
        .iter()
        .zip(agreements)
        .map(|(p, a)| Candidate {
            name: &p.name,
            node_id: p.node_id,
            standing: a.as_ref().map(|(rec, signed)| Standing {
                agreement: &signed.agreement,
                state: rec.state,
            }),
            agreement_sha256: a.as_ref().map(|(rec, _)| rec.sha256.as_str()),
        })
        .collect();
    // Spooled content that an agreement redacts is redacted in memory, up
    // to `body::MAX_IN_MEMORY` (beyond, the planner refuses it).
    let me = state.keys.node_id();
    let held;
    let content = match &req.body {
        Body::Spooled { len, .. }
            if *len <= crate::body::MAX_IN_MEMORY && release::redacts(&me, &candidates) =>
        {
            held = req.body.in_memory("redaction")?;
            release::Drafted::Bytes(&held)
        }
        body => body.drafted(inventory),
    };
    let request = Request {
        kind: req.kind,
        tlp: req.tlp,
        content,
        individuals: &req.individuals,
        approvals: 0,
    };
    release::plan(&me, &request, &candidates, Utc::now())
        .map_err(|e| ApiError::unprocessable("invalid_content", e.to_string()))
}

/// Plan the share; refuse it (ledgered, with every reason), hold it for
/// approval, or sign, encrypt per recipient and store it with its outbox
/// rows and ledger entry in one transaction.
pub(crate) fn plan_and_queue(
    state: &AppState,
    user: &User,
    req: ShareInput,
) -> Result<ShareRecord, ApiError> {
    let store = &state.store;
    let peers = resolve_peers(state, &req.to)?;
    let agreements = standings(state, &peers)?;
    let recipients: Vec<String> = peers.iter().map(|p| p.node_id.to_string()).collect();
    let content_sha256 = req.body.sha256();
    let refuse = |code: &'static str, message: String, details: serde_json::Value| {
        store.append(&Event {
            kind: kinds::SHARE_REFUSED,
            actor: user.id.clone(),
            body: json!({
                "reason": code,
                "detail": message,
                "tlp": req.tlp,
                "kind": req.kind,
                "to": recipients,
                "content_sha256": content_sha256,
                "details": details,
            }),
        })?;
        let err = ApiError::unprocessable(code, message);
        Ok::<_, ApiError>(match details {
            serde_json::Value::Null => err,
            details => err.with_details(details),
        })
    };
    // Too large for this node: refused before anything parses it.
    let max = state.hooks.max_bundle_bytes();
    if req.body.len() > max {
        return Err(refuse(
            "too_large",
            format!(
                "the content is {} bytes; this node shares bundles of up to {max} bytes \
                 ([limits] max_bundle_bytes)",
                req.body.len()
            ),
            serde_json::Value::Null,
        )?
        .with_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    // What is wrong with the content itself comes first, whoever it is for.
    let info = match check_body(&req) {
        Ok(info) => info,
        Err(e) => {
            let err = seal_error(&e);
            return Err(refuse(err.code, err.message, serde_json::Value::Null)?);
        }
    };
    let plan = plan_for(state, &req, &peers, &agreements, Some(&info.inventory))?;
    let removed = removal_summary(&plan);

    let approvals_required = match &plan.decision {
        Decision::Deny { reasons } => {
            let message = format!(
                "refused by policy ({} reason(s)):\n  - {}",
                reasons.len(),
                reasons
                    .iter()
                    .map(|r| r.message.as_str())
                    .collect::<Vec<_>>()
                    .join("\n  - ")
            );
            let details = json!({ "reasons": reasons });
            return Err(refuse("policy_denied", message, details)?);
        }
        Decision::NeedsApproval { approvals } => *approvals,
        Decision::Allow => 0,
    };
    let policy = json!({
        "decision": plan.decision,
        "recipients": plan.recipients,
        "redacted": removed,
        "request": {
            "to": peers.iter().map(|p| p.node_id.to_string()).collect::<Vec<_>>(),
            "individuals": req.individuals,
        },
    });
    let id = Uuid::new_v4();

    if approvals_required > 0 {
        // Not sealed until approved (the approval flow re-plans it then):
        // the original content is kept, no manifest, no outbox rows.
        let event = Event {
            kind: kinds::SHARE_AWAITING_APPROVAL,
            actor: user.id.clone(),
            body: json!({
                "share_id": id,
                "tlp": req.tlp,
                "kind": req.kind,
                "to": recipients,
                "approvals_required": approvals_required,
                "content_sha256": content_sha256,
                "redacted": removed,
            }),
        };
        let share = NewShare {
            id,
            created_by: user.id.clone(),
            tlp: req.tlp,
            kind: req.kind,
            content: req.body.payload(),
            manifest: Vec::new(),
            manifest_sha256: String::new(),
            dsse: Vec::new(),
            deliveries: Vec::new(),
            state: ShareState::AwaitingApproval,
            approvals_required,
            policy: Some(policy),
            incident: req.incident,
            supersedes: req.supersedes,
            not_after: req.not_after,
        };
        store.create_share(&share, &event)?;
        return store
            .share(id)?
            .ok_or_else(|| ApiError::internal("share vanished after commit"));
    }

    let mut draft = Draft::new(req.kind, req.tlp, Vec::new());
    draft.individuals = req.individuals.clone();
    draft.exercise = exercise_of(state, req.incident)?;
    draft.supersedes = req.supersedes;
    draft.not_after = req.not_after;
    draft.agreements = plan
        .recipients
        .iter()
        .filter_map(|r| r.agreement.clone().map(|a| (r.node_id, a)))
        .collect();
    let ledger = Ledgered {
        kind: kinds::SHARE_RELEASED,
        extra: json!({ "decision": plan.decision, "redacted": removed, "incident_id": req.incident }),
        policy,
        incident: req.incident,
    };
    match seal_and_store(
        state,
        user,
        id,
        draft,
        &peers,
        plan.redacted.map_or(req.body, Body::Bytes),
        ledger,
        Commit::Create,
    ) {
        Ok(share) => Ok(share),
        Err(SealFailure::Seal(e)) => {
            let err = seal_error(&e);
            Err(refuse(err.code, err.message, serde_json::Value::Null)?)
        }
        Err(SealFailure::Api(e)) => Err(e),
    }
}

/// How a release is ledgered: its kind, fields added to the standard body
/// and the plan kept with the share.
pub(crate) struct Ledgered {
    pub kind: &'static str,
    pub extra: serde_json::Value,
    pub policy: serde_json::Value,
    /// The incident a new share is linked to (`Commit::Create` only).
    pub incident: Option<Uuid>,
}

/// Whether a release stores a new share or seals one that was approved.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// A new share.
    Create,
    /// A share that waited for approval.
    Approved,
}

pub(crate) enum SealFailure {
    Seal(SealError),
    Api(ApiError),
}

impl From<ApiError> for SealFailure {
    fn from(e: ApiError) -> Self {
        SealFailure::Api(e)
    }
}

impl From<liaison_store::StoreError> for SealFailure {
    fn from(e: liaison_store::StoreError) -> Self {
        SealFailure::Api(e.into())
    }
}

/// Sign `body` once as bundle `id` for `peers`, encrypt it once per peer,
/// and store the share with its outbox rows and its ledger entry in one
/// transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal_and_store(
    state: &AppState,
    user: &User,
    id: Uuid,
    mut draft: Draft,
    peers: &[PeerRecord],
    body: Body,
    ledger: Ledgered,
    commit: Commit,
) -> Result<ShareRecord, SealFailure> {
    draft.recipients = peers
        .iter()
        .map(card_of)
        .collect::<Result<Vec<IdentityCard>, ApiError>>()?;
    let signed = match &body {
        Body::Bytes(b) => envelope::sign_as(&state.keys, state.org(), &draft, b, Utc::now(), id),
        // Validated as it was planned (`check_body`), one object at a
        // time; the signature covers its size and digest.
        Body::Spooled { len, sha256, .. } => {
            let digest = liaison_core::manifest::ContentDigest {
                media_type: draft.kind.media_type().to_string(),
                size: *len,
                sha256: sha256.clone(),
            };
            envelope::sign_digest(&state.keys, state.org(), &draft, digest, Utc::now(), id)
        }
    }
    .map_err(SealFailure::Seal)?;
    let mut deliveries = Vec::with_capacity(peers.len());
    for p in peers {
        deliveries.push(seal_for(state, &signed, &body, p)?);
    }
    let m = &signed.manifest;
    let mut event_body = json!({
        "share_id": m.bundle_id,
        "tlp": m.tlp,
        "kind": m.kind,
        "manifest_sha256": signed.manifest_sha256(),
        "content_sha256": m.content.sha256,
        "size": m.content.size,
        "recipients": deliveries.iter().map(|d| json!({
            "node_id": d.peer.to_string(),
            "envelope_sha256": d.envelope_sha256,
            "agreement": m.recipient(&d.peer).and_then(|r| r.agreement.clone()),
        })).collect::<Vec<_>>(),
    });
    if let (Some(b), Some(extra)) = (event_body.as_object_mut(), ledger.extra.as_object()) {
        b.extend(extra.clone());
    }
    let event = Event {
        kind: ledger.kind,
        actor: user.id.clone(),
        body: event_body,
    };
    let share = NewShare {
        id: m.bundle_id,
        created_by: user.id.clone(),
        tlp: m.tlp,
        kind: m.kind,
        manifest_sha256: signed.manifest_sha256(),
        manifest: signed.manifest_bytes.clone(),
        dsse: signed.dsse.to_json(),
        content: body.payload(),
        deliveries,
        state: ShareState::Released,
        approvals_required: 0,
        policy: Some(ledger.policy),
        incident: ledger.incident,
        supersedes: m.supersedes,
        not_after: m.not_after,
    };
    match commit {
        Commit::Create => state.store.create_share(&share, &event)?,
        Commit::Approved => state.store.release_share(&share, &event)?,
    }
    Ok(state
        .store
        .share(share.id)?
        .ok_or_else(|| ApiError::internal("share vanished after commit"))?)
}

/// Encrypt `signed` with content `body` for peer `p`: in memory for content
/// in memory, into a spool file (hashed as it is written) for spooled
/// content.
fn seal_for(
    state: &AppState,
    signed: &envelope::SignedBundle,
    body: &Body,
    p: &PeerRecord,
) -> Result<NewDelivery, ApiError> {
    let failed = |e: String| ApiError::internal(format!("sealing for {}: {e}", p.name));
    match body {
        Body::Bytes(b) => {
            let mut ct = Vec::with_capacity(b.len() + 2048);
            envelope::encrypt_to(signed, b, &[p.node_id], &mut ct)
                .map_err(|e| failed(e.to_string()))?;
            Ok(NewDelivery {
                peer: p.node_id,
                envelope_sha256: sha256_hex(&ct),
                envelope: ct.into(),
            })
        }
        Body::Spooled { .. } => {
            let file = crate::body::spool_file(&state.hooks.spool_dir())?;
            let mut out = crate::body::Hashing::new(std::io::BufWriter::new(&file));
            let reader = body.reader().map_err(|e| failed(e.to_string()))?;
            envelope::encrypt_from(signed, reader, &[p.node_id], &mut out)
                .map_err(|e| failed(e.to_string()))?;
            std::io::Write::flush(&mut out).map_err(|e| failed(e.to_string()))?;
            let (len, sha256) = (out.len, out.digest());
            drop(out);
            Ok(NewDelivery {
                peer: p.node_id,
                envelope_sha256: sha256,
                envelope: liaison_store::Payload::File(std::sync::Arc::new(file), len),
            })
        }
    }
}

/// `POST /api/inbox/{id}/forward`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ForwardRequest {
    /// Recipients: local peer names or node ids.
    pub to: Vec<String>,
}

/// Re-share a received CLEAR/GREEN bundle, unchanged and with the
/// originator's signature inside, where the originator's agreement allows
/// it and the agreement with each new recipient allows it too.
pub(crate) async fn forward(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    req: Result<Json<ForwardRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    require_role(&user, &[Role::Analyst])?;
    let bundle_id = parse_id(&id)?;
    let Json(req) = req?;
    if req.to.is_empty() {
        return Err(ApiError::bad_request(
            "no_recipients",
            "`to` must name at least one peer",
        ));
    }
    let st = state.clone();
    let share = blocking(move || forward_blocking(&st, &user, bundle_id, &req.to)).await?;
    Ok(created(&state, &share))
}

fn forward_blocking(
    state: &AppState,
    user: &User,
    bundle_id: Uuid,
    to: &[String],
) -> Result<ShareRecord, ApiError> {
    let store = &state.store;
    let item = store
        .inbox_record(bundle_id)?
        .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {bundle_id}")))?;
    if let Some(e) = crate::inbox::withdrawn(&item) {
        return Err(e);
    }
    // The originator's content, byte for byte (spooled when large).
    let content = crate::body::from_store(&state.hooks.spool_dir(), item.size, |offset| {
        store.inbox_content_chunk(bundle_id, offset, crate::body::CHUNK)
    })?;
    let (manifest_bytes, dsse) = store
        .inbox_signed(bundle_id)?
        .ok_or_else(|| ApiError::not_found(format!("no inbox bundle {bundle_id}")))?;
    let original: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ApiError::internal(format!("stored manifest of {bundle_id}: {e}")))?;
    let envelope = Envelope::from_json(&dsse)
        .map_err(|e| ApiError::internal(format!("stored envelope of {bundle_id}: {e}")))?;
    let peers = resolve_peers(state, to)?;
    let me = state.keys.node_id();
    let now = Utc::now();

    // The originator's agreement decides whether it may go further at all…
    let origin = store.agreement_standing(&item.sender)?;
    let origin_signed = origin
        .as_ref()
        .map(|r| SignedAgreement::from_stored(&r.document))
        .transpose()
        .map_err(|e| ApiError::internal(format!("stored agreement: {e}")))?;
    let origin_standing = match (&origin, &origin_signed) {
        (Some(r), Some(s)) => Some(Standing {
            agreement: &s.agreement,
            state: r.state,
        }),
        _ => None,
    };
    let mut reasons = Vec::new();
    for p in &peers {
        reasons.extend(forward::reshare_reasons(
            &original,
            &me,
            &item.sender_org,
            origin_standing,
            &p.node_id,
            &p.name,
            now,
        ));
    }
    // …and each new recipient's agreement with this node, on the content
    // unchanged: the originator's signature covers it, so nothing can be
    // redacted on the way.
    let agreements = standings(state, &peers)?;
    let request = ShareInput {
        supersedes: None,
        not_after: None,
        incident: None,
        tlp: original.tlp,
        kind: original.kind,
        to: to.to_vec(),
        individuals: Vec::new(),
        body: content,
    };
    let plan = plan_for(state, &request, &peers, &agreements, None)?;
    reasons.extend(plan.decision.reasons().iter().cloned());
    if matches!(plan.decision, Decision::NeedsApproval { .. }) {
        reasons.push(liaison_core::policy::Reason {
            code: liaison_core::policy::ReasonCode::ReshareNotAllowed,
            message: "a re-share that needs release approval is not supported yet".into(),
        });
    }
    if plan.redacted.is_some() {
        reasons.push(liaison_core::policy::Reason {
            code: liaison_core::policy::ReasonCode::ReshareNotAllowed,
            message: "a recipient's agreement would redact the content, but a re-share keeps the originator's signed content byte for byte".into(),
        });
    }
    if !reasons.is_empty() {
        let message = format!(
            "re-share refused ({} reason(s)):\n  - {}",
            reasons.len(),
            reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("\n  - ")
        );
        let details = json!({ "reasons": reasons });
        store.append(&Event {
            kind: kinds::SHARE_REFUSED,
            actor: user.id.clone(),
            body: json!({
                "reason": "reshare_denied",
                "detail": message,
                "forwarded_from": bundle_id,
                "to": peers.iter().map(|p| p.node_id.to_string()).collect::<Vec<_>>(),
                "details": details,
            }),
        })?;
        return Err(ApiError::unprocessable("reshare_denied", message).with_details(details));
    }

    let mut draft = Draft::new(original.kind, original.tlp, Vec::new());
    draft.agreements = plan
        .recipients
        .iter()
        .filter_map(|r| r.agreement.clone().map(|a| (r.node_id, a)))
        .collect();
    draft.forwarded_from = Some(forward::provenance(&original, &manifest_bytes, &envelope));
    let ledger = Ledgered {
        kind: kinds::SHARE_FORWARDED,
        extra: json!({
            "decision": plan.decision,
            "forwarded_from": {
                "bundle_id": original.bundle_id,
                "originator": original.sender.node_id.to_string(),
                "manifest_sha256": sha256_hex(&manifest_bytes),
            },
        }),
        policy: json!({ "decision": plan.decision, "recipients": plan.recipients }),
        incident: None,
    };
    match seal_and_store(
        state,
        user,
        Uuid::new_v4(),
        draft,
        &peers,
        request.body,
        ledger,
        Commit::Create,
    ) {
        Ok(share) => Ok(share),
        Err(SealFailure::Seal(e)) => Err(seal_error(&e)),
        Err(SealFailure::Api(e)) => Err(e),
    }
}

/// What redaction removed, for the ledger: rule names, actions, targets
/// and counts, never the values nor the object ids.
pub(crate) fn removal_summary(plan: &ReleasePlan) -> serde_json::Value {
    plan.removals
        .iter()
        .map(|r| {
            json!({
                "rule": r.rule,
                "action": r.action,
                "target": r.target,
                "count": r.count,
            })
        })
        .collect()
}

fn card_of(p: &PeerRecord) -> Result<IdentityCard, ApiError> {
    SignedCard::from_json(p.card_json.as_bytes())
        .map(|c| c.card)
        .map_err(|e| {
            ApiError::internal(format!("stored card of {} no longer verifies: {e}", p.name))
        })
}

pub(crate) fn seal_error(e: &SealError) -> ApiError {
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
        state: s.state.to_string(),
        approvals_required: s.approvals_required,
        policy: s.policy.clone(),
        deliveries: s
            .deliveries
            .iter()
            .map(|d| {
                let mut v = delivery_view(d);
                v.recall =
                    s.recalls
                        .iter()
                        .find(|r| r.peer == d.peer)
                        .map(|r| RecallDeliveryView {
                            received_at: r.received_at,
                            outcome: r.outcome.clone(),
                            receipt: r
                                .receipt_json
                                .as_ref()
                                .and_then(|j| serde_json::from_slice(j).ok()),
                        });
                v
            })
            .collect(),
        supersedes: s.supersedes,
        superseded_by: s.superseded_by,
        not_after: s.not_after,
        recall: s.recalls.first().map(|r| RecallView {
            reason: r.reason.clone(),
            requested_by: r.requested_by.clone(),
            requested_at: r.requested_at,
        }),
    }
}

fn delivery_view(d: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        peer: d.peer.to_string(),
        peer_name: d.peer_name.clone(),
        state: d.state.to_string(),
        attempts: d.attempts,
        envelope_size: d.envelope_size,
        bytes_sent: d.bytes_sent,
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error.clone(),
        completed_at: d.completed_at,
        receipt: d.receipt.as_ref().map(|r| ReceiptView {
            accepted: r.accepted,
            reason: r.reason.clone(),
            received_at: r.received_at,
            signed: serde_json::from_slice(&r.json).unwrap_or_default(),
        }),
        acknowledgement: None,
        recall: None,
    }
}

/// Whether a share linked to `incident` belongs to an exercise (a missing
/// incident is refused when the share is stored).
pub(crate) fn exercise_of(state: &AppState, incident: Option<Uuid>) -> Result<bool, ApiError> {
    let Some(id) = incident else { return Ok(false) };
    Ok(state.store.incident(id)?.is_some_and(|i| i.exercise))
}

/// An acknowledgement as the API shows it.
pub(crate) fn ack_view(a: &liaison_store::AckRecord) -> crate::views::AckView {
    crate::views::AckView {
        by: a.by.clone(),
        comment: a.comment.clone(),
        at: a.at,
        ledger_seq: a.ledger_seq,
    }
}
