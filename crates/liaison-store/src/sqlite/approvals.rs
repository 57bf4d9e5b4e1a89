//! Release approvals and the release of approved shares.

use liaison_core::manifest::sha256_hex;
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::codec::{all, int, now, parse, parse_ts, ts};
use super::ledger;
use super::payloads::{put_payload, read_all, read_chunk};
use crate::error::StoreError;
use crate::model::{ApprovalDecision, ApprovalRecord, Event, NewShare, ShareState, User};
use crate::store::Result;

/// The state of share `id`, or NotFound.
fn state_of(conn: &Connection, id: Uuid) -> Result<ShareState> {
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM shares WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    match state {
        Some(s) => parse("share state", &s),
        None => Err(StoreError::NotFound(format!("no share {id}"))),
    }
}

fn require_awaiting(conn: &Connection, id: Uuid) -> Result<()> {
    match state_of(conn, id)? {
        ShareState::AwaitingApproval => Ok(()),
        other => Err(StoreError::Conflict(format!(
            "share {id} is {other}, not awaiting approval"
        ))),
    }
}

/// Record one user's decision, with its ledger entry; a rejection ends the
/// share.
pub(crate) fn decide(
    conn: &Connection,
    share_id: Uuid,
    user: &User,
    decision: ApprovalDecision,
    comment: &str,
    event: &Event,
) -> Result<ApprovalRecord> {
    require_awaiting(conn, share_id)?;
    let taken: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM approvals WHERE share_id = ?1 AND approver = ?2")?
        .query_row(params![share_id.to_string(), user.id], |r| r.get(0))?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!(
            "{} already decided on share {share_id}; a second decision does not count",
            user.name
        )));
    }
    let row = ledger::append(conn, event)?;
    let at = now();
    let rec = ApprovalRecord {
        share_id,
        approver: user.id.clone(),
        approver_name: user.name.clone(),
        decision,
        comment: comment.to_string(),
        at,
        ledger_seq: row.seq,
        decision_sha256: sha256_hex(&row.entry),
    };
    conn.prepare_cached(
        "INSERT INTO approvals (share_id, approver, approver_name, decision, comment, at,
                                ledger_seq, decision_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        share_id.to_string(),
        rec.approver,
        rec.approver_name,
        decision.as_str(),
        rec.comment,
        ts(at),
        i64::try_from(rec.ledger_seq).unwrap_or(i64::MAX),
        rec.decision_sha256,
    ])?;
    if decision == ApprovalDecision::Reject {
        set_state(conn, share_id, ShareState::Rejected)?;
    }
    Ok(rec)
}

/// Every decision on a share, in order.
pub(crate) fn list(conn: &Connection, share_id: Uuid) -> Result<Vec<ApprovalRecord>> {
    all(
        conn,
        "SELECT share_id, approver, approver_name, decision, comment, at, ledger_seq,
                decision_sha256
         FROM approvals WHERE share_id = ?1 ORDER BY ledger_seq",
        [share_id.to_string()],
        row,
    )
}

/// Seal an approved share: its manifest, envelope and content as sent,
/// state released, one pending outbox row per delivery, and `event`.
pub(crate) fn release(conn: &Connection, share: &NewShare, event: &Event) -> Result<()> {
    require_awaiting(conn, share.id)?;
    let id = share.id.to_string();
    let payload = put_payload(conn, &share.content)?;
    conn.prepare_cached(
        "UPDATE shares SET content = ?2, size = ?3, manifest = ?4, manifest_sha256 = ?5,
                           dsse = ?6, state = 'released', policy = ?7, content_payload = ?8
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        share.content,
        i64::try_from(share.content.len()).unwrap_or(i64::MAX),
        share.manifest,
        share.manifest_sha256,
        share.dsse,
        share.policy.as_ref().map(|p| p.to_string()),
        payload,
    ])?;
    super::outbox::insert_deliveries(conn, &id, &share.deliveries)?;
    ledger::append(conn, event)?;
    Ok(())
}

/// End a share awaiting approval as refused at release, with `event`.
pub(crate) fn refuse(conn: &Connection, id: Uuid, event: &Event) -> Result<()> {
    require_awaiting(conn, id)?;
    set_state(conn, id, ShareState::Refused)?;
    ledger::append(conn, event)?;
    Ok(())
}

/// The content stored with a share.
pub(crate) fn content(conn: &Connection, id: Uuid) -> Result<Option<Vec<u8>>> {
    share_rowid(conn, id)?
        .map(|rowid| read_all(conn, "shares", "content", rowid))
        .transpose()
}

/// Up to `max` bytes of a share's content from `offset`.
pub(crate) fn content_chunk(
    conn: &Connection,
    id: Uuid,
    offset: u64,
    max: usize,
) -> Result<Vec<u8>> {
    let rowid =
        share_rowid(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("no share {id}")))?;
    read_chunk(conn, "shares", "content", rowid, offset, max)
}

fn share_rowid(conn: &Connection, id: Uuid) -> Result<Option<i64>> {
    super::codec::first(
        conn,
        "SELECT rowid FROM shares WHERE id = ?1",
        [id.to_string()],
        |r| Ok(r.get(0)?),
    )
}

fn set_state(conn: &Connection, id: Uuid, state: ShareState) -> Result<()> {
    conn.prepare_cached("UPDATE shares SET state = ?2 WHERE id = ?1")?
        .execute(params![id.to_string(), state.as_str()])?;
    Ok(())
}

fn row(r: &Row<'_>) -> Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        share_id: parse("approval share id", &r.get::<_, String>("share_id")?)?,
        approver: r.get("approver")?,
        approver_name: r.get("approver_name")?,
        decision: parse("approval decision", &r.get::<_, String>("decision")?)?,
        comment: r.get("comment")?,
        at: parse_ts("approval at", &r.get::<_, String>("at")?)?,
        ledger_seq: int("approval ledger seq", r.get("ledger_seq")?)?,
        decision_sha256: r.get("decision_sha256")?,
    })
}
