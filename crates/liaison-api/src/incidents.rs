//! Supply-chain incidents (NIST SP 800-53 IR-4(10), ISO/IEC 27035-4):
//! open one, link shares to it (`incident` in `POST /api/shares`), follow
//! per peer when it was notified, received and acknowledged, the deadlines
//! and escalations, and export the coordination report with a ledger
//! reference on every line.

use std::collections::HashMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use liaison_core::coordination::{self, PeerInfo};
use liaison_core::incident::{self, Dependency, Severity, Trigger};
use liaison_core::report::{self, Report, ReportIncident};
use liaison_store::{IncidentRecord, NewIncident, Role, Store, User};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::require_role;
use crate::shares::parse_id;
use crate::{blocking, ApiError, AppState};

/// `POST /api/incidents`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenIncidentRequest {
    /// A short title.
    pub title: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Whether it is a supply-chain event (default true).
    #[serde(default = "yes")]
    pub supply_chain: bool,
    /// What made it one: `third_party_implicated`,
    /// `upstream_dependency_suspected`, `shared_service_impact` or
    /// `remediation_needs_third_party`.
    #[serde(default)]
    pub trigger: Option<String>,
    /// Implicated peers: local names or node ids.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Implicated packages or products: `name@version` or `name`.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// An exercise, not a real incident.
    #[serde(default)]
    pub exercise: bool,
}

fn yes() -> bool {
    true
}

/// One peer's notification about an incident (one share).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationView {
    /// The share that notified it.
    pub share_id: Uuid,
    /// Its node id.
    pub peer: String,
    /// Its local name.
    pub peer_name: String,
    /// Its tier.
    pub tier: u8,
    /// When the share was sealed and queued for it.
    pub notified_at: DateTime<Utc>,
    /// When its node's signed receipt arrived.
    pub received_at: Option<DateTime<Utc>>,
    /// When a person there acknowledged (signed).
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The receipt deadline.
    pub receipt_due: DateTime<Utc>,
    /// The acknowledgement deadline.
    pub ack_due: DateTime<Utc>,
}

/// One escalation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscalationView {
    /// When it was escalated.
    pub at: DateTime<Utc>,
    /// The share.
    pub share_id: Option<Uuid>,
    /// The peer's local name.
    pub peer: Option<String>,
    /// `receipt` or `ack`.
    pub deadline: String,
    /// When it was due.
    pub due_at: Option<String>,
    /// The `incident.escalated` ledger entry.
    pub ledger_seq: u64,
}

/// An incident as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentView {
    /// Its id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: Severity,
    /// A supply-chain event.
    pub supply_chain: bool,
    /// What made it one.
    pub trigger: Option<Trigger>,
    /// An exercise, not a real incident.
    pub exercise: bool,
    /// Implicated peers (local names).
    pub peers: Vec<String>,
    /// Implicated dependencies.
    pub dependencies: Vec<Dependency>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Who opened it (user name).
    pub opened_by: String,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The `incident.opened` ledger entry.
    pub ledger_seq: u64,
    /// Linked shares.
    pub shares: Vec<Uuid>,
    /// Per peer and share: notified, received, acknowledged, deadlines.
    pub notifications: Vec<NotificationView>,
    /// Deadlines that passed unmet and were escalated.
    pub escalations: Vec<EscalationView>,
    /// The node that opened it (local name), when another node did: this
    /// one takes part through the joint list that node shared.
    pub origin: Option<String>,
    /// Joint actions and decisions, latest revision of each.
    pub items: Vec<liaison_core::joint::Item>,
}

/// `?format=markdown|json` for the report.
#[derive(Debug, Deserialize)]
pub(crate) struct ReportQuery {
    #[serde(default)]
    format: Option<String>,
}

struct Context {
    peers: PeerInfo,
    users: HashMap<String, String>,
}

fn context(store: &dyn Store) -> Result<Context, ApiError> {
    let peers = store
        .contacts()?
        .into_iter()
        .map(|c| (c.node_id.to_string(), (c.name, c.tier)))
        .collect();
    let users = store.users()?.into_iter().map(|u| (u.id, u.name)).collect();
    Ok(Context { peers, users })
}

fn view(
    store: &dyn Store,
    ctx: &Context,
    rec: &IncidentRecord,
    policy: &incident::DeadlinePolicy,
) -> Result<IncidentView, ApiError> {
    let facts: Vec<_> = store
        .incident_facts(rec.id)?
        .iter()
        .filter_map(|r| r.fact())
        .collect();
    let notifications = coordination::notifications(&facts, &ctx.peers)
        .into_iter()
        .map(|n| {
            let d = policy.deadlines(rec.severity, n.tier);
            let after = |s: u64| n.notified_at + chrono::Duration::seconds(s as i64);
            NotificationView {
                receipt_due: after(d.receipt_s),
                ack_due: after(d.ack_s),
                share_id: n.share_id,
                peer: n.peer,
                peer_name: n.peer_name,
                tier: n.tier,
                notified_at: n.notified_at,
                received_at: n.received_at,
                acknowledged_at: n.acknowledged_at,
            }
        })
        .collect();
    let escalations = facts
        .iter()
        .filter(|f| f.kind == liaison_core::ledger::kinds::INCIDENT_ESCALATED)
        .map(|f| EscalationView {
            at: f.at,
            share_id: f
                .body
                .get("share_id")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok()),
            peer: f
                .body
                .get("peer_name")
                .and_then(|v| v.as_str())
                .map(String::from),
            deadline: f
                .body
                .get("deadline")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            due_at: f
                .body
                .get("due_at")
                .and_then(|v| v.as_str())
                .map(String::from),
            ledger_seq: f.seq,
        })
        .collect();
    Ok(IncidentView {
        id: rec.id,
        title: rec.title.clone(),
        severity: rec.severity,
        supply_chain: rec.supply_chain,
        trigger: rec.trigger,
        exercise: rec.exercise,
        peers: rec
            .peers
            .iter()
            .map(|p| peer_name(ctx, &p.to_string()))
            .collect(),
        dependencies: rec.dependencies.clone(),
        opened_at: rec.opened_at,
        opened_by: ctx
            .users
            .get(&rec.opened_by)
            .cloned()
            .unwrap_or_else(|| rec.opened_by.clone()),
        closed_at: rec.closed_at,
        ledger_seq: rec.ledger_seq,
        shares: rec.shares.clone(),
        notifications,
        escalations,
        origin: rec.origin.map(|o| peer_name(ctx, &o.to_string())),
        items: store.incident_items(rec.id)?,
    })
}

fn peer_name(ctx: &Context, node_id: &str) -> String {
    ctx.peers
        .get(node_id)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| node_id.to_string())
}

/// The coordination report of incident `id`.
pub fn report_for(store: &dyn Store, id: Uuid, now: DateTime<Utc>) -> Result<Report, ApiError> {
    let rec = store
        .incident(id)?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    let ctx = context(store)?;
    let facts: Vec<_> = store
        .incident_facts(id)?
        .iter()
        .filter_map(|r| r.fact())
        .collect();
    let events = coordination::events(&facts, &ctx.peers, &ctx.users);
    let incident = ReportIncident {
        id: rec.id,
        title: rec.title.clone(),
        severity: rec.severity,
        supply_chain: rec.supply_chain,
        trigger: rec.trigger,
        exercise: rec.exercise,
        opened_at: rec.opened_at,
        opened_by: ctx
            .users
            .get(&rec.opened_by)
            .cloned()
            .unwrap_or_else(|| rec.opened_by.clone()),
        closed_at: rec.closed_at,
        peers: rec
            .peers
            .iter()
            .map(|p| peer_name(&ctx, &p.to_string()))
            .collect(),
        dependencies: rec.dependencies.clone(),
    };
    Ok(report::build(incident, events, now))
}

/// `POST /api/incidents`.
pub(crate) async fn open(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    req: Result<Json<OpenIncidentRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let Json(req) = req?;
    if req.title.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_incident",
            "`title` must not be empty",
        ));
    }
    let severity: Severity = req
        .severity
        .parse()
        .map_err(|e: incident::ParseSeverityError| {
            ApiError::bad_request("invalid_severity", e.to_string())
        })?;
    let trigger = req
        .trigger
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.parse::<Trigger>()
                .map_err(|e| ApiError::bad_request("invalid_trigger", e.to_string()))
        })
        .transpose()?;
    let dependencies = req
        .dependencies
        .iter()
        .map(|d| {
            d.parse::<Dependency>()
                .map_err(|e| ApiError::bad_request("invalid_dependency", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = state.hooks.deadline_policy();
    let st = state.clone();
    let out = blocking(move || {
        let peers = crate::shares::resolve_peers(&st, &req.peers)?;
        let rec = st.store.open_incident(&NewIncident {
            id: Uuid::new_v4(),
            title: req.title.trim().to_string(),
            severity,
            supply_chain: req.supply_chain,
            trigger,
            exercise: req.exercise,
            peers: peers.iter().map(|p| p.node_id).collect(),
            dependencies,
            opened_by: user.id.clone(),
        })?;
        let ctx = context(st.store.as_ref())?;
        view(st.store.as_ref(), &ctx, &rec, &policy)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /api/incidents`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let policy = state.hooks.deadline_policy();
    let store = state.store.clone();
    blocking(move || {
        let ctx = context(store.as_ref())?;
        store
            .incidents()?
            .iter()
            .map(|r| view(store.as_ref(), &ctx, r, &policy))
            .collect::<Result<Vec<_>, _>>()
            .map(Json)
    })
    .await
}

/// `GET /api/incidents/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let id = parse_id(&id)?;
    let policy = state.hooks.deadline_policy();
    let store = state.store.clone();
    blocking(move || {
        let rec = store
            .incident(id)?
            .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
        let ctx = context(store.as_ref())?;
        view(store.as_ref(), &ctx, &rec, &policy).map(Json)
    })
    .await
}

/// `POST /api/incidents/{id}/close`.
pub(crate) async fn close(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let uuid = parse_id(&id)?;
    let store = state.store.clone();
    let actor = user.id.clone();
    blocking(move || Ok(store.close_incident(uuid, &actor)?)).await?;
    show(State(state), Extension(user), Path(id)).await
}

/// `GET /api/incidents/{id}/report?format=markdown|json` (default json).
pub(crate) async fn report(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver, Role::Auditor])?;
    let id = parse_id(&id)?;
    let Query(q) = q?;
    let store = state.store.clone();
    let report = blocking(move || report_for(store.as_ref(), id, Utc::now())).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("markdown") | Some("md") => Ok((
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            report.to_markdown(),
        )
            .into_response()),
        Some(other) => Err(ApiError::bad_request(
            "invalid_format",
            format!("format `{other}`: expected json or markdown"),
        )),
    }
}
