//! Signed messages to peers, stored and forwarded (agreement negotiation).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::codec::{all, int, now, parse, parse_opt_ts, parse_ts, ts};
use crate::error::StoreError;
use crate::model::{MessageRecord, MessageState, NewMessage};
use crate::store::Result;

const SELECT: &str = "SELECT id, peer, kind, body, agreement_id, version, state, attempts,
                             next_attempt_at, last_error, created_at, completed_at
                      FROM messages_out";

/// Queue a message, due now (inside the caller's transaction).
pub(crate) fn queue(conn: &Connection, m: &NewMessage) -> Result<()> {
    let at = ts(now());
    let (agreement, version) = match m.agreement {
        Some((id, v)) => (Some(id.to_string()), Some(v)),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT INTO messages_out (peer, kind, body, agreement_id, version, next_attempt_at,
                                   created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        m.peer.to_string(),
        m.kind,
        m.body,
        agreement,
        version,
        at
    ])?;
    Ok(())
}

/// Pending messages due at `at`, oldest first.
pub(crate) fn due(conn: &Connection, at: DateTime<Utc>, limit: u32) -> Result<Vec<MessageRecord>> {
    all(
        conn,
        &format!(
            "{SELECT} WHERE state = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2"
        ),
        params![ts(at), limit],
        row,
    )
}

/// When the earliest pending message is due.
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let at: Option<String> = conn
        .prepare_cached("SELECT MIN(next_attempt_at) FROM messages_out WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    parse_opt_ts("message next_attempt_at", at)
}

/// Record a failed attempt on a pending message.
pub(crate) fn retry(conn: &Connection, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE messages_out SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
         WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, error, ts(next)])?;
    Ok(())
}

/// Complete a pending message: acknowledged (`error` None) or refused.
pub(crate) fn complete(conn: &Connection, id: i64, error: Option<&str>) -> Result<()> {
    let state = match error {
        None => MessageState::Sent,
        Some(_) => MessageState::Failed,
    };
    let changed = conn
        .prepare_cached(
            "UPDATE messages_out SET state = ?2, completed_at = ?3,
                    last_error = COALESCE(?4, last_error)
             WHERE id = ?1 AND state = 'pending'",
        )?
        .execute(params![id, state.as_str(), ts(now()), error])?;
    if changed == 0 {
        let known: bool = conn
            .prepare_cached("SELECT COUNT(*) FROM messages_out WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, i64>(0))?
            > 0;
        if !known {
            return Err(StoreError::NotFound(format!("no message {id}")));
        }
    }
    Ok(())
}

/// Every message about one agreement (all versions), oldest first.
pub(crate) fn for_agreement(conn: &Connection, id: Uuid) -> Result<Vec<MessageRecord>> {
    all(
        conn,
        &format!("{SELECT} WHERE agreement_id = ?1 ORDER BY id"),
        params![id.to_string()],
        row,
    )
}

fn row(r: &Row<'_>) -> Result<MessageRecord> {
    let agreement = match (
        r.get::<_, Option<String>>("agreement_id")?,
        r.get::<_, Option<i64>>("version")?,
    ) {
        (Some(id), Some(v)) => Some((
            parse("message agreement id", &id)?,
            int("message agreement version", v)?,
        )),
        _ => None,
    };
    Ok(MessageRecord {
        id: r.get("id")?,
        peer: parse("message peer", &r.get::<_, String>("peer")?)?,
        kind: r.get("kind")?,
        body: r.get("body")?,
        agreement,
        state: parse("message state", &r.get::<_, String>("state")?)?,
        attempts: int("message attempts", r.get("attempts")?)?,
        next_attempt_at: parse_ts(
            "message next_attempt_at",
            &r.get::<_, String>("next_attempt_at")?,
        )?,
        last_error: r.get("last_error")?,
        created_at: parse_ts("message created_at", &r.get::<_, String>("created_at")?)?,
        completed_at: parse_opt_ts("message completed_at", r.get("completed_at")?)?,
    })
}
