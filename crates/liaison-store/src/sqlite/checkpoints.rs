//! Signed ledger checkpoints, append-only.

use rusqlite::{params, Connection, Row};

use super::codec::{all, first, int, now, parse_ts, sql_int, ts};
use crate::error::{conflict_as, StoreError};
use crate::model::CheckpointRecord;
use crate::store::Result;

const SELECT: &str = "SELECT size, root_hash, note, created_at FROM checkpoints";

/// Store a checkpoint; Conflict if one at that size exists.
pub(crate) fn add(conn: &Connection, c: &CheckpointRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO checkpoints (size, root_hash, note, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![sql_int(c.size), c.root_hash, c.note, ts(now())])
    .map_err(|e| conflict_as(e, || format!("a checkpoint at size {} exists", c.size)))?;
    Ok(())
}

/// Every checkpoint, smallest first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<CheckpointRecord>> {
    all(conn, &format!("{SELECT} ORDER BY size"), [], row)
}

/// The largest checkpoint.
pub(crate) fn latest(conn: &Connection) -> Result<Option<CheckpointRecord>> {
    first(
        conn,
        &format!("{SELECT} ORDER BY size DESC LIMIT 1"),
        [],
        row,
    )
}

/// Up to `limit` leaf hashes from `from` on, in order.
pub(crate) fn leaves(conn: &Connection, from: u64, limit: u32) -> Result<Vec<[u8; 32]>> {
    all(
        conn,
        "SELECT leaf_hash FROM ledger WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        params![sql_int(from), limit],
        |r| {
            let v: Vec<u8> = r.get(0)?;
            v.try_into()
                .map_err(|_| StoreError::Corrupt("a stored leaf hash is not 32 bytes".into()))
        },
    )
}

fn row(r: &Row<'_>) -> Result<CheckpointRecord> {
    let root: Vec<u8> = r.get("root_hash")?;
    Ok(CheckpointRecord {
        size: int("checkpoint size", r.get("size")?)?,
        root_hash: root
            .try_into()
            .map_err(|_| StoreError::Corrupt("a checkpoint root is not 32 bytes".into()))?,
        note: r.get("note")?,
        created_at: parse_ts("checkpoint created_at", &r.get::<_, String>("created_at")?)?,
    })
}
