//! The append-only ledger table.

use liaison_core::ledger::{leaf_hash, Entry};
use rusqlite::{params, Connection, Row};

use super::codec::{all, count, int, now, sql_int};
use crate::error::StoreError;
use crate::model::{Event, LedgerRow};
use crate::store::Result;

/// Append `event` as the next entry. Call inside the transaction of the
/// change it records: the write lock held by that transaction makes
/// `MAX(seq) + 1` race-free, and a rollback takes the entry with it, so
/// sequence numbers have no gaps.
pub(crate) fn append(conn: &Connection, event: &Event) -> Result<LedgerRow> {
    let seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger")?
        .query_row([], |r| r.get(0))?;
    let entry = Entry::new(
        int("ledger seq", seq)?,
        now(),
        event.kind,
        &event.actor,
        event.body.clone(),
    );
    let bytes = entry.to_bytes();
    if bytes.is_empty() {
        return Err(encode_error(event));
    }
    let body = serde_json::to_string(&entry.body).map_err(|_| encode_error(event))?;
    let leaf = leaf_hash(&bytes);
    conn.prepare_cached(
        "INSERT INTO ledger (seq, time, kind, actor, body, entry, leaf_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        seq,
        entry.time,
        entry.kind,
        entry.actor,
        body,
        bytes,
        leaf
    ])?;
    Ok(LedgerRow {
        seq: entry.seq,
        time: entry.time,
        kind: entry.kind,
        actor: entry.actor,
        body: entry.body,
        entry: bytes,
        leaf_hash: leaf,
    })
}

/// Up to `limit` rows from `since_seq` on.
pub(crate) fn rows(conn: &Connection, since_seq: u64, limit: u32) -> Result<Vec<LedgerRow>> {
    all(
        conn,
        "SELECT seq, time, kind, actor, body, entry, leaf_hash FROM ledger
         WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        params![sql_int(since_seq), limit],
        row,
    )
}

/// The number of entries. Sequence numbers are gapless from 0, so this is
/// `MAX(seq) + 1`, which SQLite answers from the primary key without a scan.
pub(crate) fn len(conn: &Connection) -> Result<u64> {
    count(conn, "SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger", [])
}

fn encode_error(event: &Event) -> StoreError {
    StoreError::Db(format!("cannot encode a `{}` ledger entry", event.kind))
}

pub(crate) fn row(r: &Row<'_>) -> Result<LedgerRow> {
    let body: String = r.get("body")?;
    let seq: i64 = r.get("seq")?;
    Ok(LedgerRow {
        seq: int("ledger seq", seq)?,
        time: r.get("time")?,
        kind: r.get("kind")?,
        actor: r.get("actor")?,
        body: serde_json::from_str(&body).map_err(|_| {
            StoreError::Corrupt(format!("ledger entry {seq} has a body that is not JSON"))
        })?,
        entry: r.get("entry")?,
        leaf_hash: r.get("leaf_hash")?,
    })
}
