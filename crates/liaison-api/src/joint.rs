//! Joint actions and decisions of an incident (`liaison_core::joint`):
//! record and revise them here, and share the list with the incident's
//! peers as a bundle of kind `coordination`, under the agreements and
//! approvals of any share. What peers share back is merged on receipt.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{NaiveDate, Utc};
use liaison_core::content::Kind;
use liaison_core::joint::{self, IncidentRef, Item, ItemKind, JointLog, Status};
use liaison_core::tlp::Tlp;
use liaison_store::{IncidentRecord, Role, User};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::require_role;
use crate::shares::{parse_id, ShareInput};
use crate::views::ShareView;
use crate::{blocking, ApiError, AppState};

/// `POST /api/incidents/{id}/items`: a new action or decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewItemRequest {
    /// `action` or `decision`.
    pub kind: String,
    /// What is to be done, or what was decided.
    pub text: String,
    /// The organization that owns the action (default: this one).
    #[serde(default)]
    pub owner: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub due: Option<String>,
}

/// `POST /api/incidents/{id}/items/{item}`: a revision; absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReviseItemRequest {
    /// New text.
    #[serde(default)]
    pub text: Option<String>,
    /// New owner organization.
    #[serde(default)]
    pub owner: Option<String>,
    /// New due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub due: Option<String>,
    /// New status: `open`, `in_progress`, `done`, `cancelled` (actions),
    /// `recorded`, `withdrawn` (decisions).
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /api/incidents/{id}/share`: share the joint list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareJointRequest {
    /// TLP label of the bundle (default `amber`).
    #[serde(default = "amber")]
    pub tlp: String,
}

impl Default for ShareJointRequest {
    fn default() -> Self {
        ShareJointRequest { tlp: amber() }
    }
}

fn amber() -> String {
    "amber".into()
}

fn bad(code: &'static str, message: impl ToString) -> ApiError {
    ApiError::bad_request(code, message.to_string())
}

fn due(s: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| bad("invalid_due", format!("`{s}` is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

fn author(state: &AppState, user: &User) -> String {
    format!("{}: {}", state.org(), user.name)
}

/// The incident's joint log as this node would share it.
pub(crate) fn log_of(
    rec: &IncidentRecord,
    me: liaison_core::identity::NodeId,
    items: Vec<Item>,
) -> JointLog {
    JointLog {
        v: 1,
        incident: IncidentRef {
            id: rec.id,
            origin: rec.origin.unwrap_or(me),
            title: rec.title.clone(),
            severity: rec.severity,
            supply_chain: rec.supply_chain,
            trigger: rec.trigger,
            exercise: rec.exercise,
        },
        items,
    }
}

/// `POST /api/incidents/{id}/items`.
pub(crate) async fn add(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    req: Result<Json<NewItemRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let id = parse_id(&id)?;
    let Json(req) = req?;
    let kind = match req.kind.trim() {
        "action" => ItemKind::Action,
        "decision" => ItemKind::Decision,
        other => {
            return Err(bad(
                "invalid_item",
                format!("`{other}` is not an item kind: expected action or decision"),
            ))
        }
    };
    let item = Item {
        id: Uuid::new_v4(),
        kind,
        text: req.text.trim().to_string(),
        owner: req
            .owner
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| state.org().to_string()),
        due: due(req.due.as_deref())?,
        status: match kind {
            ItemKind::Action => Status::Open,
            ItemKind::Decision => Status::Recorded,
        },
        revision: 1,
        updated_at: Utc::now(),
        updated_by: author(&state, &user),
    };
    joint::check_item(&item).map_err(|e| bad("invalid_item", e))?;
    let st = state.clone();
    let saved = item.clone();
    blocking(move || Ok(st.store.save_incident_item(id, &saved, &user.id)?)).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// `POST /api/incidents/{id}/items/{item}`.
pub(crate) async fn revise(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path((id, item_id)): Path<(String, String)>,
    req: Result<Json<ReviseItemRequest>, JsonRejection>,
) -> Result<Json<Item>, ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let id = parse_id(&id)?;
    let item_id = parse_id(&item_id)?;
    let Json(req) = req?;
    let status = req
        .status
        .as_deref()
        .map(|s| s.parse::<Status>().map_err(|e| bad("invalid_status", e)))
        .transpose()?;
    let due = due(req.due.as_deref())?;
    let by = author(&state, &user);
    let st = state.clone();
    blocking(move || {
        let held = st.store.incident_items(id)?;
        let current = held
            .iter()
            .find(|i| i.id == item_id)
            .ok_or_else(|| ApiError::not_found(format!("no item {item_id} in incident {id}")))?;
        let next = joint::revise(
            current,
            req.text.map(|t| t.trim().to_string()),
            req.owner.map(|o| o.trim().to_string()),
            due,
            status,
            by,
            Utc::now(),
        )
        .map_err(|e| bad("invalid_item", e))?;
        st.store.save_incident_item(id, &next, &user.id)?;
        Ok(Json(next))
    })
    .await
}

/// `POST /api/incidents/{id}/share`: a share of kind `coordination` with
/// the whole list, to the incident's peers (to its originator, for another
/// node's incident), linked to the incident. Policy, approval and delivery
/// are those of any share.
pub(crate) async fn share(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    req: Result<Json<ShareJointRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ShareView>), ApiError> {
    require_role(&user, &[Role::Analyst, Role::Approver])?;
    let id = parse_id(&id)?;
    let req = match req {
        Ok(Json(r)) => r,
        Err(JsonRejection::MissingJsonContentType(_)) => ShareJointRequest::default(),
        Err(e) => return Err(e.into()),
    };
    let tlp: Tlp = req
        .tlp
        .parse()
        .map_err(|e: liaison_core::tlp::ParseTlpError| bad("invalid_tlp", e))?;
    let st = state.clone();
    let share = blocking(move || {
        let rec = st
            .store
            .incident(id)?
            .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
        let items = st.store.incident_items(id)?;
        if items.is_empty() {
            return Err(ApiError::unprocessable(
                "nothing_to_share",
                format!("incident {id} has no actions or decisions yet"),
            ));
        }
        let to: Vec<String> = match rec.origin {
            Some(origin) => vec![origin.to_string()],
            None => rec.peers.iter().map(|p| p.to_string()).collect(),
        };
        if to.is_empty() {
            return Err(ApiError::unprocessable(
                "no_recipients",
                format!("incident {id} implicates no peers"),
            ));
        }
        let body = log_of(&rec, st.keys.node_id(), items).to_json();
        crate::shares::plan_and_queue(
            &st,
            &user,
            ShareInput {
                incident: Some(id),
                supersedes: None,
                not_after: None,
                tlp,
                kind: Kind::Coordination,
                to,
                individuals: Vec::new(),
                body: crate::body::Body::Bytes(body),
            },
        )
    })
    .await?;
    Ok(crate::shares::created(&state, &share))
}
