//! Sharing agreements, every version, with their signatures and state.

use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::codec::{all, first, int, now, parse, parse_ts, ts};
use super::ledger;
use crate::model::{AgreementRecord, AgreementState, Event, NewMessage};
use crate::store::Result;

const SELECT: &str = "SELECT id, version, peer, state, document, sha256, valid_from, valid_until,
                             notice, created_at, updated_at
                      FROM agreements";

/// Insert or update one version, with its ledger entry. A version coming
/// into force supersedes the older versions of the same agreement that were
/// in force or still being negotiated.
pub(crate) fn save(
    conn: &Connection,
    rec: &AgreementRecord,
    event: &Event,
    message: Option<&NewMessage>,
) -> Result<()> {
    let at = ts(now());
    conn.prepare_cached(
        "INSERT INTO agreements (id, version, peer, state, document, sha256, valid_from,
                                 valid_until, notice, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT (id, version) DO UPDATE SET
             state = excluded.state, document = excluded.document, sha256 = excluded.sha256,
             notice = excluded.notice, updated_at = excluded.updated_at",
    )?
    .execute(params![
        rec.id.to_string(),
        rec.version,
        rec.peer.to_string(),
        rec.state.as_str(),
        rec.document,
        rec.sha256,
        ts(rec.valid_from),
        ts(rec.valid_until),
        rec.notice,
        at,
    ])?;
    if rec.state == AgreementState::InForce {
        conn.prepare_cached(
            "UPDATE agreements SET state = 'superseded', updated_at = ?3
             WHERE id = ?1 AND version < ?2
               AND state IN ('in_force', 'proposed_by_us', 'proposed_by_peer')",
        )?
        .execute(params![rec.id.to_string(), rec.version, at])?;
    }
    if let Some(m) = message {
        super::messages::queue(conn, m)?;
    }
    ledger::append(conn, event)?;
    Ok(())
}

/// One version.
pub(crate) fn get(conn: &Connection, id: Uuid, version: u32) -> Result<Option<AgreementRecord>> {
    first(
        conn,
        &format!("{SELECT} WHERE id = ?1 AND version = ?2"),
        params![id.to_string(), version],
        row,
    )
}

/// The newest version of `id`.
pub(crate) fn latest(conn: &Connection, id: Uuid) -> Result<Option<AgreementRecord>> {
    first(
        conn,
        &format!("{SELECT} WHERE id = ?1 ORDER BY version DESC LIMIT 1"),
        params![id.to_string()],
        row,
    )
}

/// Up to `limit` agreements (every version), most recently changed first.
pub(crate) fn list(conn: &Connection, limit: u32) -> Result<Vec<AgreementRecord>> {
    all(
        conn,
        &format!("{SELECT} ORDER BY updated_at DESC, id, version DESC LIMIT ?1"),
        params![limit],
        row,
    )
}

/// Every version of every agreement with `peer`, newest version first.
pub(crate) fn with_peer(conn: &Connection, peer: &str) -> Result<Vec<AgreementRecord>> {
    all(
        conn,
        &format!("{SELECT} WHERE peer = ?1 ORDER BY version DESC, updated_at DESC"),
        params![peer],
        row,
    )
}

fn row(r: &Row<'_>) -> Result<AgreementRecord> {
    Ok(AgreementRecord {
        id: parse("agreement id", &r.get::<_, String>("id")?)?,
        version: int("agreement version", r.get("version")?)?,
        peer: parse("agreement peer", &r.get::<_, String>("peer")?)?,
        state: parse("agreement state", &r.get::<_, String>("state")?)?,
        document: r.get("document")?,
        sha256: r.get("sha256")?,
        valid_from: parse_ts("agreement valid_from", &r.get::<_, String>("valid_from")?)?,
        valid_until: parse_ts("agreement valid_until", &r.get::<_, String>("valid_until")?)?,
        notice: r.get("notice")?,
        created_at: parse_ts("agreement created_at", &r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts("agreement updated_at", &r.get::<_, String>("updated_at")?)?,
    })
}

/// The agreement that governs exchanges with `peer`: the most recently
/// changed one in force, else the most recently changed in any state.
pub(crate) fn standing(conn: &Connection, peer: &str) -> Result<Option<AgreementRecord>> {
    first(
        conn,
        &format!(
            "{SELECT} WHERE peer = ?1
             ORDER BY (state = 'in_force') DESC, updated_at DESC, version DESC LIMIT 1"
        ),
        params![peer],
        row,
    )
}
