//! Outbound shares and their store-and-forward outbox (DESIGN §6).

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::codec::{
    all, count, exists, first, int, now, parse, parse_opt, parse_opt_ts, parse_ts, ts,
};
use super::ledger;
use super::payloads::{put_payload, read_chunk};
use crate::error::{conflict_as, StoreError};
use crate::model::{
    DeliveryRecord, DeliveryState, DueDelivery, Event, NewShare, ShareRecord, StoredReceipt,
};
use crate::store::Result;

const SELECT_SHARE: &str = "SELECT id, created_at, created_by, tlp, kind, manifest_sha256, size,
                                   state, approvals_required, policy, supersedes, not_after,
                                   (SELECT n.id FROM shares n WHERE n.supersedes = shares.id
                                    ORDER BY n.rowid LIMIT 1) AS superseded_by
                            FROM shares";

const SELECT_DELIVERY: &str = "
    SELECT o.id, o.share_id, o.peer, p.name AS peer_name, o.state, o.attempts, o.bytes_sent,
           COALESCE(length(pl.data), length(o.envelope)) AS envelope_size,
           o.next_attempt_at, o.last_error, o.completed_at,
           r.json AS receipt_json, r.accepted, r.reason, r.received_at
    FROM outbox o
    LEFT JOIN payloads pl ON pl.id = o.envelope_payload
    LEFT JOIN peers p ON p.node_id = o.peer
    LEFT JOIN receipts r ON r.delivery_id = o.id";

/// Store a share, its pending outbox rows and its ledger entry.
pub(crate) fn create(conn: &Connection, share: &NewShare, event: &Event) -> Result<()> {
    let at = ts(now());
    let id = share.id.to_string();
    let payload = put_payload(conn, &share.content)?;
    conn.prepare_cached(
        "INSERT INTO shares (id, created_at, created_by, tlp, kind, content, size, manifest,
                             manifest_sha256, dsse, state, approvals_required, policy,
                             supersedes, not_after, content_payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        id,
        at,
        share.created_by,
        share.tlp.to_string(),
        share.kind.to_string(),
        share.content,
        i64::try_from(share.content.len()).unwrap_or(i64::MAX),
        share.manifest,
        share.manifest_sha256,
        share.dsse,
        share.state.as_str(),
        share.approvals_required,
        share.policy.as_ref().map(|p| p.to_string()),
        share.supersedes.map(|s| s.to_string()),
        share.not_after.map(ts),
        payload,
    ])
    .map_err(|e| conflict_as(e, || format!("share {id} already exists")))?;
    if let Some(incident) = share.incident {
        super::incidents::link_share(conn, share.id, incident)?;
    }
    insert_deliveries(conn, &id, &share.deliveries)?;
    ledger::append(conn, event)?;
    Ok(())
}

/// One pending outbox row per delivery of share `id`, due now.
pub(crate) fn insert_deliveries(
    conn: &Connection,
    id: &str,
    deliveries: &[crate::model::NewDelivery],
) -> Result<()> {
    let at = ts(now());
    let mut insert = conn.prepare_cached(
        "INSERT INTO outbox (share_id, peer, envelope, envelope_sha256, next_attempt_at,
                             envelope_payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for d in deliveries {
        let payload = put_payload(conn, &d.envelope)?;
        insert
            .execute(params![
                id,
                d.peer.to_string(),
                d.envelope,
                d.envelope_sha256,
                at,
                payload
            ])
            .map_err(|e| conflict_as(e, || format!("share {id} lists peer {} twice", d.peer)))?;
    }
    Ok(())
}

/// Shares in `state`, newest first, with deliveries.
pub(crate) fn in_state(
    conn: &Connection,
    state: crate::model::ShareState,
    limit: u32,
) -> Result<Vec<ShareRecord>> {
    let shares = all(
        conn,
        &format!("{SELECT_SHARE} WHERE state = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"),
        params![state.as_str(), limit],
        share_row,
    )?;
    shares
        .into_iter()
        .map(|s| with_deliveries(conn, s))
        .collect()
}

/// Up to `limit` shares, newest first, with deliveries.
pub(crate) fn list(conn: &Connection, limit: u32) -> Result<Vec<ShareRecord>> {
    let shares = all(
        conn,
        &format!("{SELECT_SHARE} ORDER BY created_at DESC, rowid DESC LIMIT ?1"),
        [limit],
        share_row,
    )?;
    shares
        .into_iter()
        .map(|s| with_deliveries(conn, s))
        .collect()
}

/// One share with deliveries.
pub(crate) fn get(conn: &Connection, id: Uuid) -> Result<Option<ShareRecord>> {
    first(
        conn,
        &format!("{SELECT_SHARE} WHERE id = ?1"),
        [id.to_string()],
        share_row,
    )?
    .map(|s| with_deliveries(conn, s))
    .transpose()
}

fn with_deliveries(conn: &Connection, mut share: ShareRecord) -> Result<ShareRecord> {
    share.deliveries = all(
        conn,
        &format!("{SELECT_DELIVERY} WHERE o.share_id = ?1 ORDER BY o.id"),
        [share.id.to_string()],
        delivery_row,
    )?;
    share.recalls = super::recalls::of_share(conn, share.id)?;
    Ok(share)
}

/// Pending deliveries due at `now`, the longest-waiting first.
pub(crate) fn due(conn: &Connection, at: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>> {
    all(
        conn,
        "SELECT o.id, share_id, peer,
                COALESCE(length(pl.data), length(o.envelope)) AS envelope_size,
                envelope_sha256, attempts
         FROM outbox o LEFT JOIN payloads pl ON pl.id = o.envelope_payload
         WHERE state = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, o.id LIMIT ?2",
        params![ts(at), limit],
        due_row,
    )
}

/// When the earliest pending delivery is due.
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let at: Option<String> = conn
        .prepare_cached("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    parse_opt_ts("outbox next_attempt_at", at)
}

/// How many deliveries are pending.
pub(crate) fn pending(conn: &Connection) -> Result<u64> {
    count(
        conn,
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
        [],
    )
}

/// How many deliveries completed with a stored receipt.
pub(crate) fn receipts(conn: &Connection) -> Result<u64> {
    count(conn, "SELECT COUNT(*) FROM receipts", [])
}

/// Record a failed attempt on a still-pending delivery.
pub(crate) fn retry(
    conn: &Connection,
    id: i64,
    error: &str,
    next_attempt_at: DateTime<Utc>,
    event: Option<&Event>,
) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1 AND state = 'pending'",
        )?
        .execute(params![id, error, ts(next_attempt_at)])?;
    if changed == 0 {
        return require_delivery(conn, id);
    }
    if let Some(event) = event {
        ledger::append(conn, event)?;
    }
    Ok(())
}

/// Push every pending delivery to `peer` due before `until` to `until`.
pub(crate) fn defer_peer(conn: &Connection, peer: &NodeId, until: DateTime<Utc>) -> Result<u64> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET next_attempt_at = ?2
             WHERE peer = ?1 AND state = 'pending' AND next_attempt_at < ?2",
        )?
        .execute(params![peer.to_string(), ts(until)])?;
    Ok(changed as u64)
}

/// Complete a still-pending delivery; `false` if it already was.
pub(crate) fn complete(
    conn: &Connection,
    id: i64,
    receipt: &StoredReceipt,
    event: &Event,
) -> Result<bool> {
    let state = match receipt.accepted {
        true => DeliveryState::Delivered,
        false => DeliveryState::Rejected,
    };
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET state = ?2, completed_at = ?3
             WHERE id = ?1 AND state = 'pending'",
        )?
        .execute(params![id, state.as_str(), ts(now())])?;
    if changed == 0 {
        return require_delivery(conn, id).map(|()| false);
    }
    conn.prepare_cached(
        "INSERT INTO receipts (delivery_id, json, accepted, reason, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id,
        receipt.json,
        receipt.accepted,
        receipt.reason,
        ts(receipt.received_at),
    ])
    .map_err(|e| conflict_as(e, || format!("delivery {id} already has a receipt")))?;
    ledger::append(conn, event)?;
    Ok(true)
}

/// `Ok` if delivery `id` exists, else `NotFound`.
fn require_delivery(conn: &Connection, id: i64) -> Result<()> {
    match exists(conn, "SELECT 1 FROM outbox WHERE id = ?1", [id])? {
        true => Ok(()),
        false => Err(StoreError::NotFound(format!("no delivery {id}"))),
    }
}

fn share_row(r: &Row<'_>) -> Result<ShareRecord> {
    Ok(ShareRecord {
        id: parse("share id", &r.get::<_, String>("id")?)?,
        created_at: parse_ts("share created_at", &r.get::<_, String>("created_at")?)?,
        created_by: r.get("created_by")?,
        tlp: parse("share tlp", &r.get::<_, String>("tlp")?)?,
        kind: parse("share kind", &r.get::<_, String>("kind")?)?,
        manifest_sha256: r.get("manifest_sha256")?,
        size: int("share size", r.get("size")?)?,
        state: parse("share state", &r.get::<_, String>("state")?)?,
        approvals_required: int("share approvals_required", r.get("approvals_required")?)?,
        policy: match r.get::<_, Option<String>>("policy")? {
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|_| StoreError::Corrupt("stored share policy is not JSON".into()))?,
            ),
            None => None,
        },
        deliveries: Vec::new(),
        supersedes: parse_opt("share supersedes", r.get("supersedes")?)?,
        superseded_by: parse_opt("share superseded_by", r.get("superseded_by")?)?,
        not_after: parse_opt_ts("share not_after", r.get("not_after")?)?,
        recalls: Vec::new(),
    })
}

fn delivery_row(r: &Row<'_>) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.get("id")?,
        share_id: parse("delivery share id", &r.get::<_, String>("share_id")?)?,
        peer: parse("delivery peer", &r.get::<_, String>("peer")?)?,
        peer_name: r.get("peer_name")?,
        state: parse("delivery state", &r.get::<_, String>("state")?)?,
        attempts: int("delivery attempts", r.get("attempts")?)?,
        bytes_sent: int("delivery bytes_sent", r.get("bytes_sent")?)?,
        envelope_size: int("delivery envelope size", r.get("envelope_size")?)?,
        next_attempt_at: parse_ts(
            "delivery next_attempt_at",
            &r.get::<_, String>("next_attempt_at")?,
        )?,
        last_error: r.get("last_error")?,
        completed_at: parse_opt_ts("delivery completed_at", r.get("completed_at")?)?,
        receipt: receipt_row(r)?,
    })
}

/// The receipt columns of a delivery row (all NULL when there is none).
fn receipt_row(r: &Row<'_>) -> Result<Option<StoredReceipt>> {
    let Some(json) = r.get::<_, Option<Vec<u8>>>("receipt_json")? else {
        return Ok(None);
    };
    Ok(Some(StoredReceipt {
        json,
        accepted: r.get("accepted")?,
        reason: r.get("reason")?,
        received_at: parse_ts("receipt received_at", &r.get::<_, String>("received_at")?)?,
    }))
}

fn due_row(r: &Row<'_>) -> Result<DueDelivery> {
    Ok(DueDelivery {
        id: r.get("id")?,
        share_id: parse("delivery share id", &r.get::<_, String>("share_id")?)?,
        peer: parse("delivery peer", &r.get::<_, String>("peer")?)?,
        envelope_size: int("delivery envelope size", r.get("envelope_size")?)?,
        envelope_sha256: r.get("envelope_sha256")?,
        attempts: int("delivery attempts", r.get("attempts")?)?,
    })
}

/// Up to `max` bytes of delivery `id`'s envelope, from `offset`.
pub(crate) fn envelope_chunk(
    conn: &Connection,
    id: i64,
    offset: u64,
    max: usize,
) -> Result<Vec<u8>> {
    require_delivery(conn, id)?;
    read_chunk(conn, "outbox", "envelope", id, offset, max)
}

/// Add `bytes` to what was sent of delivery `id` (over all attempts).
pub(crate) fn add_sent(conn: &Connection, id: i64, bytes: u64) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET bytes_sent = bytes_sent + ?2 WHERE id = ?1")?
        .execute(params![id, i64::try_from(bytes).unwrap_or(i64::MAX)])?;
    Ok(())
}
