//! Release approvals (DESIGN §2): shares whose agreements ask for approval
//! wait, unsealed, until enough distinct approvers approve them. The
//! drafter never counts; a second decision by the same person never
//! counts; one rejection ends the share. When the last approval arrives
//! the share is planned again (agreements may have changed), then sealed
//! with every approval inside the signed manifest.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use liaison_core::envelope::Draft;
use liaison_core::ledger::kinds;
use liaison_core::manifest::Approval;
use liaison_core::policy::Decision;
use liaison_store::{ApprovalDecision, ApprovalRecord, Event, Role, ShareRecord, ShareState, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{require_exact_role, require_role};
use crate::shares::{
    parse_id, plan_for, removal_summary, resolve_peers, seal_and_store, seal_error, share_view,
    standings, Commit, Ledgered, SealFailure, ShareInput,
};
use crate::views::{PreviewView, ShareView};
use crate::{blocking, ApiError, AppState};

/// `POST /api/approvals/{id}/approve` and `/reject`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecisionRequest {
    /// Why (required to reject).
    #[serde(default)]
    pub comment: String,
}

/// One recorded decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalView {
    /// The deciding user's id.
    pub approver: String,
    /// Their name.
    pub approver_name: String,
    /// `approve` or `reject`.
    pub decision: ApprovalDecision,
    /// Their comment.
    pub comment: String,
    /// When.
    pub at: chrono::DateTime<Utc>,
    /// The ledger entry recording it.
    pub ledger_seq: u64,
    /// SHA-256 of that entry (what the manifest carries).
    pub decision_sha256: String,
}

/// A share in the approval queue, or just decided on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalItem {
    /// The share (its `policy` holds the decision, reasons and redaction).
    pub share: ShareView,
    /// Distinct approvals so far.
    pub approvals: u32,
    /// Distinct approvals still needed (0 once released).
    pub still_needed: u32,
    /// Every decision so far.
    pub decisions: Vec<ApprovalView>,
    /// What would be sent now, per recipient (only in `GET …/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewView>,
}

fn decision_view(a: &ApprovalRecord) -> ApprovalView {
    ApprovalView {
        approver: a.approver.clone(),
        approver_name: a.approver_name.clone(),
        decision: a.decision,
        comment: a.comment.clone(),
        at: a.at,
        ledger_seq: a.ledger_seq,
        decision_sha256: a.decision_sha256.clone(),
    }
}

fn approved(decisions: &[ApprovalRecord]) -> Vec<&ApprovalRecord> {
    decisions
        .iter()
        .filter(|a| a.decision == ApprovalDecision::Approve)
        .collect()
}

fn item(share: &ShareRecord, decisions: &[ApprovalRecord]) -> ApprovalItem {
    let n = u32::try_from(approved(decisions).len()).unwrap_or(u32::MAX);
    let still = match share.state {
        ShareState::AwaitingApproval => share.approvals_required.saturating_sub(n),
        _ => 0,
    };
    ApprovalItem {
        share: share_view(share),
        approvals: n,
        still_needed: still,
        decisions: decisions.iter().map(decision_view).collect(),
        preview: None,
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<ApprovalItem>>, ApiError> {
    require_role(&user, &[Role::Approver, Role::Auditor])?;
    let store = state.store.clone();
    blocking(move || {
        let waiting = store.shares_in_state(ShareState::AwaitingApproval, 10_000)?;
        waiting
            .iter()
            .map(|s| Ok(item(s, &store.approvals(s.id)?)))
            .collect::<Result<Vec<_>, ApiError>>()
            .map(Json)
    })
    .await
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<ApprovalItem>, ApiError> {
    require_role(&user, &[Role::Approver, Role::Auditor])?;
    let id = parse_id(&id)?;
    let st = state.clone();
    blocking(move || {
        let share = st
            .store
            .share(id)?
            .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
        let decisions = st.store.approvals(id)?;
        let mut out = item(&share, &decisions);
        if share.state == ShareState::AwaitingApproval {
            let input = input_of(&st, &share)?;
            let peers = resolve_peers(&st, &input.to)?;
            let agreements = standings(&st, &peers)?;
            let plan = plan_for(&st, &input, &peers, &agreements, None)?;
            out.preview = Some(crate::shares::preview_of(&plan, &input.body)?);
        }
        Ok(Json(out))
    })
    .await
}

/// The request a waiting share was drafted from.
fn input_of(state: &AppState, share: &ShareRecord) -> Result<ShareInput, ApiError> {
    let strings = |key: &str| -> Vec<String> {
        share
            .policy
            .as_ref()
            .and_then(|p| p["request"][key].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    // A large share is re-planned and sealed from a spool file.
    let body = crate::body::from_store(&state.hooks.spool_dir(), share.size, |offset| {
        state
            .store
            .share_content_chunk(share.id, offset, crate::body::CHUNK)
    })?;
    Ok(ShareInput {
        incident: None,
        supersedes: share.supersedes,
        not_after: share.not_after,
        tlp: share.tlp,
        kind: share.kind,
        to: strings("to"),
        individuals: strings("individuals"),
        body,
    })
}

pub(crate) async fn approve(
    state: State<AppState>,
    user: Extension<User>,
    id: Path<String>,
    req: Result<Json<DecisionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ApprovalItem>), ApiError> {
    let comment = optional(req)?.comment;
    decide(state, user, id, ApprovalDecision::Approve, comment).await
}

pub(crate) async fn reject(
    state: State<AppState>,
    user: Extension<User>,
    id: Path<String>,
    req: Result<Json<DecisionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ApprovalItem>), ApiError> {
    // The role first: nothing about the request is judged for others.
    require_exact_role(&user.0, Role::Approver)?;
    let comment = optional(req)?.comment;
    if comment.trim().is_empty() {
        return Err(ApiError::bad_request(
            "comment_required",
            "a rejection needs a comment saying why",
        ));
    }
    decide(state, user, id, ApprovalDecision::Reject, comment).await
}

fn optional(
    req: Result<Json<DecisionRequest>, JsonRejection>,
) -> Result<DecisionRequest, ApiError> {
    match req {
        Ok(Json(r)) => Ok(r),
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(DecisionRequest::default()),
        Err(e) => Err(e.into()),
    }
}

async fn decide(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    decision: ApprovalDecision,
    comment: String,
) -> Result<(StatusCode, Json<ApprovalItem>), ApiError> {
    require_exact_role(&user, Role::Approver)?;
    let id = parse_id(&id)?;
    let st = state.clone();
    let (out, released) =
        blocking(move || decide_blocking(&st, &user, id, decision, &comment)).await?;
    if released {
        state.hooks.share_queued();
    }
    Ok((StatusCode::OK, Json(out)))
}

fn decide_blocking(
    state: &AppState,
    user: &User,
    id: Uuid,
    decision: ApprovalDecision,
    comment: &str,
) -> Result<(ApprovalItem, bool), ApiError> {
    let store = &state.store;
    let share = store
        .share(id)?
        .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
    if share.state != ShareState::AwaitingApproval {
        return Err(ApiError::conflict(format!(
            "share {id} is {}, not awaiting approval",
            share.state
        )));
    }
    if share.created_by == user.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "self_approval",
            "you drafted this share: its release must be decided by someone else",
        ));
    }
    let before = store.approvals(id)?;
    let count = u32::try_from(approved(&before).len()).unwrap_or(u32::MAX);
    let (kind, now_count) = match decision {
        ApprovalDecision::Approve => (kinds::SHARE_APPROVED, count.saturating_add(1)),
        ApprovalDecision::Reject => (kinds::SHARE_REJECTED, count),
    };
    let event = Event {
        kind,
        actor: user.id.clone(),
        body: json!({
            "share_id": id,
            "approver": user.id,
            "approver_name": user.name,
            "decision": decision.as_str(),
            "comment": comment,
            "approvals": now_count,
            "required": share.approvals_required,
        }),
    };
    store
        .decide_share(id, user, decision, comment, &event)
        .map_err(|e| match e {
            liaison_store::StoreError::Conflict(m) => {
                ApiError::new(StatusCode::CONFLICT, "already_decided", m)
            }
            other => other.into(),
        })?;
    let decisions = store.approvals(id)?;
    let mut released = false;
    if decision == ApprovalDecision::Approve && now_count >= share.approvals_required {
        released = release(state, user, &share, &decisions)?;
    }
    let share = store
        .share(id)?
        .ok_or_else(|| ApiError::internal("share vanished"))?;
    Ok((item(&share, &decisions), released))
}

/// Plan the approved share again and seal it with its approvals, or end it
/// as refused if policy now refuses it. `Ok(true)` when it was sealed.
fn release(
    state: &AppState,
    user: &User,
    share: &ShareRecord,
    decisions: &[ApprovalRecord],
) -> Result<bool, ApiError> {
    let input = input_of(state, share)?;
    let peers = resolve_peers(state, &input.to)?;
    let agreements = standings(state, &peers)?;
    let approvals: Vec<Approval> = approved(decisions)
        .iter()
        .map(|a| Approval {
            approver: a.approver.clone(),
            name: a.approver_name.clone(),
            at: a.at,
            decision_sha256: a.decision_sha256.clone(),
        })
        .collect();
    let mut plan = plan_for(state, &input, &peers, &agreements, None)?;
    // Policy again, now counting the approvals.
    let n = u32::try_from(approvals.len()).unwrap_or(u32::MAX);
    plan.decision = match plan.decision {
        Decision::NeedsApproval { approvals: need } if need <= n => Decision::Allow,
        other => other,
    };
    let refused = |reasons: serde_json::Value, message: String| -> Result<bool, ApiError> {
        state.store.refuse_share(
            share.id,
            &Event {
                kind: kinds::SHARE_REFUSED,
                actor: user.id.clone(),
                body: json!({
                    "share_id": share.id,
                    "reason": "policy_denied",
                    "detail": message,
                    "details": { "reasons": reasons },
                    "stage": "release after approval",
                }),
            },
        )?;
        Ok(false)
    };
    match &plan.decision {
        Decision::Allow => {}
        Decision::Deny { reasons } => {
            let message = reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return refused(serde_json::to_value(reasons).unwrap_or_default(), message);
        }
        // The agreements now ask for more approvals: keep waiting.
        Decision::NeedsApproval { .. } => return Ok(false),
    }
    let removed = removal_summary(&plan);
    let mut draft = Draft::new(input.kind, input.tlp, Vec::new());
    draft.individuals = input.individuals.clone();
    draft.approvals = approvals;
    draft.exercise = crate::shares::exercise_of(state, state.store.incident_of_share(share.id)?)?;
    draft.supersedes = input.supersedes;
    draft.not_after = input.not_after;
    draft.agreements = plan
        .recipients
        .iter()
        .filter_map(|r| r.agreement.clone().map(|a| (r.node_id, a)))
        .collect();
    let mut policy = share.policy.clone().unwrap_or_else(|| json!({}));
    policy["release"] = json!({
        "decision": plan.decision,
        "recipients": plan.recipients,
        "redacted": removed,
    });
    let ledger = Ledgered {
        kind: kinds::SHARE_RELEASED,
        extra: json!({
            "decision": plan.decision,
            "redacted": removed,
            "approvals": draft.approvals,
        }),
        policy,
        incident: None,
    };
    match seal_and_store(
        state,
        user,
        share.id,
        draft,
        &peers,
        plan.redacted.map_or(input.body, crate::body::Body::Bytes),
        ledger,
        Commit::Approved,
    ) {
        Ok(_) => Ok(true),
        Err(SealFailure::Seal(e)) => {
            let err = seal_error(&e);
            refused(
                json!([{"code": err.code, "message": err.message}]),
                err.message,
            )
        }
        Err(SealFailure::Api(e)) => Err(e),
    }
}
