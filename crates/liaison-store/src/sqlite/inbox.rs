//! Accepted inbound bundles and refused deliveries.

use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::codec::{all, count, first, int, now, parse, parse_opt, parse_opt_ts, parse_ts, ts};
use super::ledger;
use super::payloads::{put_payload, read_all, read_chunk};
use crate::model::{Event, InboxRecord, NewInbound, NewRejection, RejectionRecord};
use crate::store::Result;

/// The columns of an inbox record (the content is read apart).
const INBOX_COLUMNS: &str = "bundle_id, received_at, sender, sender_org, tlp, kind,
    manifest_sha256, size, receipt_json, exercise, supersedes, not_after,
    (SELECT n.bundle_id FROM inbox n WHERE n.supersedes = inbox.bundle_id
        AND n.sender = inbox.sender ORDER BY n.rowid LIMIT 1) AS superseded_by";

const SELECT_REJECTION: &str = "SELECT id, received_at, envelope_sha256, sender, bundle_id,
                                       reason, detail, receipt_json
                                FROM inbound_rejections";

/// The receipt stored for `bundle_id`, if it was accepted.
pub(crate) fn receipt(conn: &Connection, bundle_id: Uuid) -> Result<Option<Vec<u8>>> {
    first(
        conn,
        "SELECT receipt_json FROM inbox WHERE bundle_id = ?1",
        [bundle_id.to_string()],
        |r| Ok(r.get(0)?),
    )
}

/// Accept a bundle once. `ON CONFLICT DO NOTHING` on the primary key makes
/// the check and the insert one atomic step; on a duplicate the original
/// receipt is returned and nothing (not even a ledger entry) is written.
pub(crate) fn accept(
    conn: &Connection,
    item: &NewInbound,
    receipt_json: &[u8],
    event: &Event,
) -> Result<Vec<u8>> {
    // A redelivery is found before its content is copied.
    if let Some(original) = receipt(conn, item.bundle_id)? {
        return Ok(original);
    }
    let payload = put_payload(conn, &item.content)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO inbox (bundle_id, received_at, sender, sender_org, tlp, kind, manifest,
                                manifest_sha256, dsse, content, size, envelope_sha256,
                                receipt_json, exercise, supersedes, not_after, content_payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (bundle_id) DO NOTHING",
        )?
        .execute(params![
            item.bundle_id.to_string(),
            ts(now()),
            item.sender.to_string(),
            item.sender_org,
            item.tlp.to_string(),
            item.kind.to_string(),
            item.manifest,
            item.manifest_sha256,
            item.dsse,
            item.content,
            i64::try_from(item.content.len()).unwrap_or(i64::MAX),
            item.envelope_sha256,
            receipt_json,
            item.exercise,
            item.supersedes.map(|s| s.to_string()),
            item.not_after.map(ts),
            payload,
        ])?;
    if inserted == 0 {
        return receipt(conn, item.bundle_id)?.ok_or_else(|| {
            crate::StoreError::Db(format!(
                "inbox bundle {} vanished during accept",
                item.bundle_id
            ))
        });
    }
    ledger::append(conn, event)?;
    if let Some(log) = &item.joint {
        super::incidents::merge_joint(conn, &item.sender, log, item.bundle_id)?;
    }
    Ok(receipt_json.to_vec())
}

/// Record a refused delivery, with the ledger entry.
pub(crate) fn reject(conn: &Connection, r: &NewRejection, event: &Event) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO inbound_rejections (received_at, envelope_sha256, sender, bundle_id, reason,
                                         detail, receipt_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        ts(now()),
        r.envelope_sha256,
        r.sender.to_string(),
        r.bundle_id.map(|b| b.to_string()),
        r.reason,
        r.detail,
        r.receipt_json,
    ])?;
    ledger::append(conn, event)?;
    Ok(())
}

/// Up to `limit` refusals, newest first.
pub(crate) fn rejections(conn: &Connection, limit: u32) -> Result<Vec<RejectionRecord>> {
    all(
        conn,
        &format!("{SELECT_REJECTION} ORDER BY id DESC LIMIT ?1"),
        [limit],
        rejection_row,
    )
}

/// Up to `limit` inbox bundles, newest first, with their recalls.
pub(crate) fn list(conn: &Connection, limit: u32) -> Result<Vec<InboxRecord>> {
    let mut out = all(
        conn,
        &format!(
            "SELECT {INBOX_COLUMNS} FROM inbox ORDER BY received_at DESC, rowid DESC LIMIT ?1"
        ),
        [limit],
        inbox_row,
    )?;
    let mut recalled = super::recalls::all_in(conn)?;
    for rec in &mut out {
        rec.recall = recalled.remove(&rec.bundle_id);
    }
    Ok(out)
}

/// One inbox bundle and its content.
pub(crate) fn item(conn: &Connection, bundle_id: Uuid) -> Result<Option<(InboxRecord, Vec<u8>)>> {
    let sql = format!("SELECT {INBOX_COLUMNS}, rowid FROM inbox WHERE bundle_id = ?1");
    let found = first(conn, &sql, [bundle_id.to_string()], |r| {
        Ok((inbox_row(r)?, r.get::<_, i64>("rowid")?))
    })?;
    found
        .map(|(rec, rowid)| {
            let content = read_all(conn, "inbox", "content", rowid)?;
            Ok((with_recall(conn, rec)?, content))
        })
        .transpose()
}

/// Up to `max` bytes of a bundle's content from `offset`.
pub(crate) fn content_chunk(
    conn: &Connection,
    bundle_id: Uuid,
    offset: u64,
    max: usize,
) -> Result<Vec<u8>> {
    let rowid: Option<i64> = first(
        conn,
        "SELECT rowid FROM inbox WHERE bundle_id = ?1",
        [bundle_id.to_string()],
        |r| Ok(r.get(0)?),
    )?;
    let rowid =
        rowid.ok_or_else(|| crate::StoreError::NotFound(format!("no inbox bundle {bundle_id}")))?;
    read_chunk(conn, "inbox", "content", rowid, offset, max)
}

/// One inbox bundle, without its content.
pub(crate) fn record(conn: &Connection, bundle_id: Uuid) -> Result<Option<InboxRecord>> {
    let sql = format!("SELECT {INBOX_COLUMNS} FROM inbox WHERE bundle_id = ?1");
    first(conn, &sql, [bundle_id.to_string()], inbox_row)?
        .map(|rec| with_recall(conn, rec))
        .transpose()
}

fn with_recall(conn: &Connection, mut rec: InboxRecord) -> Result<InboxRecord> {
    rec.recall = super::recalls::of_bundle(conn, rec.bundle_id)?;
    Ok(rec)
}

/// The signed manifest bytes of an inbox bundle.
pub(crate) fn manifest(conn: &Connection, bundle_id: Uuid) -> Result<Option<Vec<u8>>> {
    first(
        conn,
        "SELECT manifest FROM inbox WHERE bundle_id = ?1",
        [bundle_id.to_string()],
        |r| Ok(r.get(0)?),
    )
}

/// The signed manifest bytes and DSSE envelope of an inbox bundle.
pub(crate) fn signed(conn: &Connection, bundle_id: Uuid) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    first(
        conn,
        "SELECT manifest, dsse FROM inbox WHERE bundle_id = ?1",
        [bundle_id.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// How many bundles the inbox holds.
pub(crate) fn len(conn: &Connection) -> Result<u64> {
    count(conn, "SELECT COUNT(*) FROM inbox", [])
}

fn inbox_row(r: &Row<'_>) -> Result<InboxRecord> {
    Ok(InboxRecord {
        bundle_id: parse("inbox bundle id", &r.get::<_, String>("bundle_id")?)?,
        received_at: parse_ts("inbox received_at", &r.get::<_, String>("received_at")?)?,
        sender: parse("inbox sender", &r.get::<_, String>("sender")?)?,
        sender_org: r.get("sender_org")?,
        tlp: parse("inbox tlp", &r.get::<_, String>("tlp")?)?,
        kind: parse("inbox kind", &r.get::<_, String>("kind")?)?,
        manifest_sha256: r.get("manifest_sha256")?,
        size: int("inbox size", r.get("size")?)?,
        receipt_json: r.get("receipt_json")?,
        exercise: r.get("exercise")?,
        supersedes: parse_opt("inbox supersedes", r.get("supersedes")?)?,
        superseded_by: parse_opt("inbox superseded_by", r.get("superseded_by")?)?,
        not_after: parse_opt_ts("inbox not_after", r.get("not_after")?)?,
        recall: None,
    })
}

fn rejection_row(r: &Row<'_>) -> Result<RejectionRecord> {
    Ok(RejectionRecord {
        id: r.get("id")?,
        received_at: parse_ts("rejection received_at", &r.get::<_, String>("received_at")?)?,
        envelope_sha256: r.get("envelope_sha256")?,
        sender: parse("rejection sender", &r.get::<_, String>("sender")?)?,
        bundle_id: parse_opt("rejection bundle id", r.get("bundle_id")?)?,
        reason: r.get("reason")?,
        detail: r.get("detail")?,
        receipt_json: r.get("receipt_json")?,
    })
}
