//! Evidence exports (DESIGN §7), for auditors: `GET /api/evidence` returns
//! one tar archive, signed by the node, with the ledger entries in scope,
//! every checkpoint, the proofs, and per release the signed manifest, the
//! envelope hashes, the approvals, the agreements and the recipients'
//! signed receipts ([`liaison_core::evidence`]). `liaison evidence verify`
//! checks it offline against the node id alone.
//!
//! Only entries covered by the latest signed checkpoint can be proven, so
//! newer entries are left out (the index counts them). The node verifies
//! its own archive before handing it out: records that no longer verify
//! (a tampered store) are reported, not exported.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, NaiveDate, Utc};
use liaison_core::audit::StoredCheckpoint;
use liaison_core::evidence::{
    self, AgreementInput, ApprovalEvidence, Decision, Export, RecipientInput, ReleaseInput, Scope,
};
use liaison_core::ledger::kinds;
use liaison_core::manifest::Manifest;
use liaison_store::{ApprovalDecision, LedgerRow, Role, ShareState, Store, User};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::require_role;
use crate::shares::parse_id;
use crate::{blocking, ApiError, AppState};

/// Rows read per query while scanning the ledger.
const PAGE: u32 = 10_000;

/// The ledger kinds that record a release (the time it was sent).
const RELEASE_KINDS: [&str; 2] = [kinds::SHARE_RELEASED, kinds::SHARE_FORWARDED];

#[derive(Debug, Deserialize)]
pub(crate) struct EvidenceQuery {
    /// One share id.
    share: Option<String>,
    /// RFC 3339 time, or a date (`YYYY-MM-DD`, from 00:00 UTC).
    since: Option<String>,
}

/// `GET /api/evidence?share=ID` or `?since=DATE` (or neither: everything).
pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<Query<EvidenceQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_role(&user, &[Role::Auditor])?;
    let Query(q) = q?;
    let scope = parse_scope(&q)?;
    let st = state.clone();
    let archive = blocking(move || build(&st, scope)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"evidence.tar\"",
            ),
        ],
        archive,
    )
        .into_response())
}

fn parse_scope(q: &EvidenceQuery) -> Result<Scope, ApiError> {
    if q.share.is_some() && q.since.is_some() {
        return Err(ApiError::bad_request(
            "invalid_scope",
            "give `share` or `since`, not both",
        ));
    }
    let share = q.share.as_deref().map(parse_id).transpose()?;
    let since = q.since.as_deref().map(parse_since).transpose()?;
    Ok(Scope { share, since })
}

/// An RFC 3339 time, or a date meaning its first instant in UTC.
pub(crate) fn parse_since(s: &str) -> Result<DateTime<Utc>, ApiError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_since",
                format!("`{s}` is neither an RFC 3339 time nor a date (YYYY-MM-DD)"),
            )
        })
}

fn share_of(row: &LedgerRow) -> Option<Uuid> {
    row.body
        .get("share_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
}

fn agreement_of(row: &LedgerRow) -> Option<Uuid> {
    row.body
        .get("agreement_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
}

/// Every ledger row below `size`, in order, through `f`.
fn scan(
    store: &dyn Store,
    size: u64,
    mut f: impl FnMut(LedgerRow) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let mut next = 0u64;
    while next < size {
        let rows = store.ledger(next, PAGE)?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            break;
        };
        for row in rows {
            if row.seq >= size {
                return Ok(());
            }
            f(row)?;
        }
        next = last.saturating_add(1);
    }
    Ok(())
}

/// Whether a row is in the scope asked for (before the releases' closure).
fn in_scope(scope: &Scope, row: &LedgerRow) -> bool {
    match (scope.share, scope.since) {
        (Some(id), _) => share_of(row) == Some(id),
        (None, Some(since)) => DateTime::parse_from_rfc3339(&row.time)
            .map(|t| t.with_timezone(&Utc) >= since)
            .unwrap_or(false),
        (None, None) => true,
    }
}

fn build(state: &AppState, scope: Scope) -> Result<Vec<u8>, ApiError> {
    let store = state.store.as_ref();
    let node = state.keys.node_id();
    let checkpoints: Vec<StoredCheckpoint> = store
        .checkpoints()?
        .into_iter()
        .map(|c| StoredCheckpoint {
            size: c.size,
            root: c.root_hash,
            note: c.note,
        })
        .collect();
    let size = checkpoints.iter().map(|c| c.size).max().ok_or_else(|| {
        ApiError::unprocessable(
            "no_checkpoint",
            "no ledger checkpoint has been signed yet, so nothing can be proven: wait for the first one (`[ledger]` in the config sets how often)",
        )
    })?;
    let ledger_len = store.ledger_len()?;

    // Which releases are in scope.
    let mut released: BTreeSet<Uuid> = BTreeSet::new();
    match scope.share {
        Some(id) => {
            let share = store
                .share(id)?
                .ok_or_else(|| ApiError::not_found(format!("no share {id}")))?;
            if share.state == ShareState::Released {
                released.insert(id);
            }
        }
        None => scan(store, size, |row| {
            if RELEASE_KINDS.contains(&row.kind.as_str()) && in_scope(&scope, &row) {
                released.extend(share_of(&row));
            }
            Ok(())
        })?,
    }

    // What each release names.
    let mut signed: BTreeMap<Uuid, (Manifest, Vec<u8>)> = BTreeMap::new();
    let mut agreement_ids: BTreeSet<Uuid> = BTreeSet::new();
    let mut agreement_refs: BTreeSet<(Uuid, u32)> = BTreeSet::new();
    for &id in &released {
        let (manifest_bytes, dsse) = store
            .share_signed(id)?
            .filter(|(m, _)| !m.is_empty())
            .ok_or_else(|| ApiError::internal(format!("released share {id} has no manifest")))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| ApiError::internal(format!("stored manifest of {id}: {e}")))?;
        for r in &manifest.recipients {
            if let Some(a) = &r.agreement {
                agreement_ids.insert(a.id);
                agreement_refs.insert((a.id, a.version));
            }
        }
        signed.insert(id, (manifest, dsse));
    }

    // The entries: those in scope, plus every entry naming an exported
    // release (drafting, approvals, receipts) or one of its agreements.
    let mut entries = Vec::new();
    let mut release_entries: BTreeMap<Uuid, serde_json::Value> = BTreeMap::new();
    scan(store, size, |row| {
        let share = share_of(&row);
        let wanted = in_scope(&scope, &row)
            || share.is_some_and(|s| released.contains(&s))
            || agreement_of(&row).is_some_and(|a| agreement_ids.contains(&a));
        if wanted {
            if let (Some(s), true) = (share, RELEASE_KINDS.contains(&row.kind.as_str())) {
                release_entries.insert(s, row.body.clone());
            }
            entries.push((row.seq, row.entry));
        }
        Ok(())
    })?;

    let mut releases = Vec::new();
    for (id, (_, dsse)) in signed {
        let Some(body) = release_entries.get(&id) else {
            return Err(ApiError::unprocessable(
                "not_in_checkpoint",
                format!(
                    "the release of share {id} is not yet covered by a signed checkpoint (size {size}): try again after the next one"
                ),
            ));
        };
        let envelope_of = |peer: &str| {
            body.get("recipients")
                .and_then(|v| v.as_array())
                .and_then(|a| {
                    a.iter()
                        .find(|r| r.get("node_id").and_then(|v| v.as_str()) == Some(peer))
                })
                .and_then(|r| r.get("envelope_sha256"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let share = store
            .share(id)?
            .ok_or_else(|| ApiError::internal(format!("share {id} vanished")))?;
        let recipients = share
            .deliveries
            .iter()
            .map(|d| {
                let envelope_sha256 = envelope_of(&d.peer.to_string()).ok_or_else(|| {
                    ApiError::internal(format!(
                        "the release entry of share {id} names no envelope for {}",
                        d.peer
                    ))
                })?;
                Ok(RecipientInput {
                    node_id: d.peer,
                    envelope_sha256,
                    receipt: d.receipt.as_ref().map(|r| r.json.clone()),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let approvals = store
            .approvals(id)?
            .into_iter()
            .map(|a| ApprovalEvidence {
                approver: a.approver,
                name: a.approver_name,
                decision: match a.decision {
                    ApprovalDecision::Approve => Decision::Approve,
                    ApprovalDecision::Reject => Decision::Reject,
                },
                comment: a.comment,
                at: a.at,
                ledger_seq: a.ledger_seq,
                decision_sha256: a.decision_sha256,
            })
            .collect();
        releases.push(ReleaseInput {
            share_id: id,
            manifest_dsse: dsse,
            recipients,
            approvals,
        });
    }

    let mut agreements = Vec::new();
    for (id, version) in agreement_refs {
        let record = store.agreement(id, version)?.ok_or_else(|| {
            ApiError::internal(format!(
                "agreement {id} v{version} is named by a release but not stored"
            ))
        })?;
        agreements.push(AgreementInput {
            id,
            version,
            document: record.document,
        });
    }

    let export = Export {
        org: state.org().to_string(),
        created: Utc::now(),
        scope,
        checkpoints,
        leaves: crate::ledger::leaves_upto(store, size)?,
        entries,
        releases,
        agreements,
        not_covered: ledger_len.saturating_sub(size),
    };
    let invalid = |e: evidence::EvidenceError| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "evidence_invalid",
            format!(
                "the node's own records do not make verifiable evidence ({e}): run `liaison ledger verify`"
            ),
        )
    };
    let archive = evidence::build(&state.keys, &export).map_err(invalid)?;
    evidence::verify(&archive, &node).map_err(invalid)?;
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_a_date() {
        assert_eq!(
            parse_since("2026-12-01").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-12-01T10:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T08:00:00+00:00"
        );
        assert_eq!(parse_since("yesterday").unwrap_err().code, "invalid_since");
    }
}
