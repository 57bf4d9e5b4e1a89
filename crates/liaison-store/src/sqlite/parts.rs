//! Parts of large envelopes being received (resumable transfer, DESIGN §6).
//!
//! A part is stored only if it continues what is held, in one transaction
//! with nothing else, so what is held is always a gapless prefix of the
//! envelope: after a crash or a cut connection the sender is told how much
//! that is and continues from there.

use liaison_core::identity::NodeId;
use rusqlite::{params, Connection};

use super::codec::{first, int, now, ts};
use crate::store::Result;

/// Partial envelopes kept per peer; starting one more drops the oldest.
const MAX_PARTIAL_PER_PEER: i64 = 4;

/// A partial envelope no part has reached for this long is dropped when
/// any transfer starts: its sender gave up (the share was recalled, the
/// peer unpinned) or will start it again, and the node should not keep up
/// to 4 × `max_bundle_bytes` per peer for ever.
const PARTIAL_KEPT_DAYS: i64 = 7;

/// Bytes of envelope `sha` from `peer` held, and the size it was begun with.
fn held_with_size(conn: &Connection, peer: &NodeId, sha: &str) -> Result<Option<(u64, u64)>> {
    let row: Option<(Option<i64>, i64)> = first(
        conn,
        "SELECT MAX(size), COALESCE(SUM(length(data)), 0) FROM inbound_parts
         WHERE peer = ?1 AND envelope_sha256 = ?2",
        params![peer.to_string(), sha],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match row {
        Some((Some(size), held)) => Ok(Some((
            int("part size", size)?,
            int("part bytes held", held)?,
        ))),
        _ => Ok(None),
    }
}

/// Bytes of envelope `sha` from `peer` held (0 when none).
pub(crate) fn held(conn: &Connection, peer: &NodeId, sha: &str) -> Result<u64> {
    Ok(held_with_size(conn, peer, sha)?.map_or(0, |(_, h)| h))
}

/// Store `data` as the part of envelope `sha` (of `size` bytes) from `peer`
/// starting at `offset`, if it starts where what is held ends; return the
/// bytes held after. A part that does not fit is ignored (the answer tells
/// the sender where to continue). The caller checked `offset + len <= size`.
pub(crate) fn append(
    conn: &Connection,
    peer: &NodeId,
    sha: &str,
    size: u64,
    offset: u64,
    data: &[u8],
) -> Result<u64> {
    let peer_s = peer.to_string();
    let mut held = match held_with_size(conn, peer, sha)? {
        Some((s, h)) if s == size => h,
        Some(_) => {
            // Same digest, another size: not the same envelope; start over.
            remove(conn, peer, sha)?;
            0
        }
        None => 0,
    };
    if held == 0 && offset == 0 && !data.is_empty() {
        // A new transfer: bound how many a peer leaves half done.
        conn.prepare_cached(
            "DELETE FROM inbound_parts WHERE peer = ?1 AND envelope_sha256 IN (
                SELECT envelope_sha256 FROM inbound_parts WHERE peer = ?1
                GROUP BY envelope_sha256 ORDER BY MIN(received_at) DESC
                LIMIT -1 OFFSET ?2)",
        )?
        .execute(params![peer_s, MAX_PARTIAL_PER_PEER - 1])?;
        let stale = now() - chrono::Duration::days(PARTIAL_KEPT_DAYS);
        conn.prepare_cached(
            "DELETE FROM inbound_parts WHERE (peer, envelope_sha256) IN (
                SELECT peer, envelope_sha256 FROM inbound_parts
                GROUP BY peer, envelope_sha256 HAVING MAX(received_at) < ?1)",
        )?
        .execute(params![ts(stale)])?;
    }
    if offset == held && !data.is_empty() {
        conn.prepare_cached(
            "INSERT INTO inbound_parts (peer, envelope_sha256, size, offset, data, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            peer_s,
            sha,
            i64::try_from(size).unwrap_or(i64::MAX),
            i64::try_from(offset).unwrap_or(i64::MAX),
            data,
            ts(now()),
        ])?;
        held += data.len() as u64;
    }
    Ok(held)
}

/// The part of envelope `sha` from `peer` that starts at `offset`.
pub(crate) fn read(
    conn: &Connection,
    peer: &NodeId,
    sha: &str,
    offset: u64,
) -> Result<Option<Vec<u8>>> {
    first(
        conn,
        "SELECT data FROM inbound_parts
         WHERE peer = ?1 AND envelope_sha256 = ?2 AND offset = ?3",
        params![
            peer.to_string(),
            sha,
            i64::try_from(offset).unwrap_or(i64::MAX)
        ],
        |r| Ok(r.get(0)?),
    )
}

/// Drop the parts of envelope `sha` from `peer`.
pub(crate) fn remove(conn: &Connection, peer: &NodeId, sha: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM inbound_parts WHERE peer = ?1 AND envelope_sha256 = ?2")?
        .execute(params![peer.to_string(), sha])?;
    Ok(())
}

/// The receipt this node gave `peer` for envelope `sha`, accepted or refused.
pub(crate) fn receipt(conn: &Connection, peer: &NodeId, sha: &str) -> Result<Option<Vec<u8>>> {
    first(
        conn,
        "SELECT receipt_json FROM inbox WHERE envelope_sha256 = ?1 AND sender = ?2
         UNION ALL
         SELECT receipt_json FROM inbound_rejections WHERE envelope_sha256 = ?1 AND sender = ?2
         LIMIT 1",
        params![sha, peer.to_string()],
        |r| Ok(r.get(0)?),
    )
}
