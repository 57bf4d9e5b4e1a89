//! Large bytes kept in the database: content and envelopes that stream
//! from files go into `payloads` in chunks (incremental BLOB I/O) and are
//! read back in chunks, so a large bundle is never in memory whole here.
//! Small ones stay in their own row. [`locate`] says where a row's bytes
//! are.

use rusqlite::Connection;

use super::codec::first;
use crate::error::StoreError;
use crate::store::Result;

/// A payload column's value: the bytes, or an empty BLOB when they are
/// in `payloads` ([`put_payload`]).
impl rusqlite::ToSql for crate::model::Payload {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            crate::model::Payload::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            crate::model::Payload::File(..) => ToSqlOutput::Borrowed(ValueRef::Blob(&[])),
        })
    }
}

/// Chunk size for incremental BLOB I/O.
const BLOB_CHUNK: usize = 256 * 1024;

/// Store a file payload in `payloads`, copied in chunks into a zeroblob
/// (never expanded in memory: it is the row's last column), and return its
/// id; `None` for bytes, which stay in the row itself.
pub(crate) fn put_payload(
    conn: &Connection,
    payload: &crate::model::Payload,
) -> Result<Option<i64>> {
    use std::io::Read;
    let crate::model::Payload::File(file, len) = payload else {
        return Ok(None);
    };
    let io = |e: std::io::Error| StoreError::Db(format!("reading a payload to store: {e}"));
    conn.prepare_cached("INSERT INTO payloads (data) VALUES (?1)")?
        .execute([rusqlite::blob::ZeroBlob(*len)])?;
    let id = conn.last_insert_rowid();
    let mut file = crate::chunks::from_start(file).map_err(io)?;
    let mut blob = conn.blob_open(rusqlite::MAIN_DB, "payloads", "data", id, false)?;
    let mut buf = vec![0u8; BLOB_CHUNK];
    let mut at = 0u64;
    while at < *len {
        let want = usize::try_from(*len - at).map_or(buf.len(), |l| l.min(buf.len()));
        file.read_exact(&mut buf[..want]).map_err(io)?;
        blob.write_at(&buf[..want], to_usize(at)?)?;
        at += want as u64;
    }
    Ok(Some(id))
}

/// Where the bytes of `table.column` of row `rowid` are: in `payloads`
/// when the row refers to one, else in the row.
pub(crate) fn locate(
    conn: &Connection,
    table: &'static str,
    column: &'static str,
    rowid: i64,
) -> Result<(&'static str, &'static str, i64)> {
    let payload_column = match (table, column) {
        ("shares", "content") | ("inbox", "content") => "content_payload",
        ("outbox", "envelope") => "envelope_payload",
        _ => return Ok((table, column, rowid)),
    };
    let payload: Option<Option<i64>> = first(
        conn,
        &format!("SELECT {payload_column} FROM {table} WHERE rowid = ?1"),
        [rowid],
        |r| Ok(r.get(0)?),
    )?;
    Ok(match payload.flatten() {
        Some(id) => ("payloads", "data", id),
        None => (table, column, rowid),
    })
}

/// Up to `max` bytes of the BLOB at `table.column` of row `rowid`, from
/// `offset` (fewer at its end).
pub(crate) fn read_chunk(
    conn: &Connection,
    table: &'static str,
    column: &'static str,
    rowid: i64,
    offset: u64,
    max: usize,
) -> Result<Vec<u8>> {
    let (table, column, rowid) = locate(conn, table, column, rowid)?;
    let blob = conn.blob_open(rusqlite::MAIN_DB, table, column, rowid, true)?;
    let len = blob.len() as u64;
    if offset > len {
        return Err(StoreError::NotFound(format!(
            "offset {offset} is past the end of a {len}-byte {table} {column}"
        )));
    }
    let n = usize::try_from(len - offset).map_or(max, |l| l.min(max));
    let mut buf = vec![0u8; n];
    blob.read_at_exact(&mut buf, to_usize(offset)?)?;
    Ok(buf)
}

fn to_usize(n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| StoreError::Db(format!("offset {n} does not fit this platform")))
}

/// SHA-256 (hex) of the BLOB at `table.column` of row `rowid`, read in
/// chunks (`None` when the row has none).
pub(crate) fn sha256_blob(
    conn: &Connection,
    table: &'static str,
    column: &'static str,
    rowid: i64,
) -> Result<Option<String>> {
    use sha2::{Digest, Sha256};
    let (table, column, rowid) = locate(conn, table, column, rowid)?;
    let blob = match conn.blob_open(rusqlite::MAIN_DB, table, column, rowid, true) {
        Ok(b) => b,
        // NULL (or not a BLOB): nothing to hash.
        Err(rusqlite::Error::SqliteFailure(..)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BLOB_CHUNK];
    let mut at = 0usize;
    while at < blob.len() {
        let n = (blob.len() - at).min(buf.len());
        blob.read_at_exact(&mut buf[..n], at)?;
        hasher.update(&buf[..n]);
        at += n;
    }
    Ok(Some(data_encoding::HEXLOWER.encode(&hasher.finalize())))
}

/// The whole bytes of `table.column` of row `rowid` (in the row or in
/// `payloads`), for callers that need them in memory.
pub(crate) fn read_all(
    conn: &Connection,
    table: &'static str,
    column: &'static str,
    rowid: i64,
) -> Result<Vec<u8>> {
    let (table, column, rowid) = locate(conn, table, column, rowid)?;
    let bytes: Option<Vec<u8>> = first(
        conn,
        &format!("SELECT {column} FROM {table} WHERE rowid = ?1"),
        [rowid],
        |r| Ok(r.get(0)?),
    )?;
    bytes.ok_or_else(|| StoreError::NotFound(format!("no {table} row {rowid}")))
}
