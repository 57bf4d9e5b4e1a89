//! Human acknowledgements, sent and received.

use liaison_core::identity::NodeId;
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::codec::{all, first, int, parse, parse_ts, sql_int, ts};
use super::{ledger, messages};
use crate::error::StoreError;
use crate::model::{AckRecord, Event, NewAck, NewMessage};
use crate::store::Result;

const SELECT: &str =
    "SELECT bundle_id, peer, by_name, comment, at, signed_json, ledger_seq FROM acknowledgements";

fn insert(conn: &Connection, ack: &NewAck, direction: &str, seq: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO acknowledgements (bundle_id, peer, direction, by_name, comment, at,
                                       signed_json, ledger_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            ack.bundle_id.to_string(),
            ack.peer.to_string(),
            direction,
            ack.by,
            ack.comment,
            ts(ack.at),
            ack.signed_json,
            sql_int(seq),
        ],
    )?;
    Ok(())
}

fn find(
    conn: &Connection,
    bundle: Uuid,
    peer: &NodeId,
    direction: &str,
) -> Result<Option<AckRecord>> {
    first(
        conn,
        &format!("{SELECT} WHERE bundle_id = ?1 AND peer = ?2 AND direction = ?3"),
        params![bundle.to_string(), peer.to_string(), direction],
        row,
    )
}

/// This node's person acknowledges a received bundle: the row, the ledger
/// entry and the signed message to the originator, in one transaction.
pub(crate) fn acknowledge_inbox(
    conn: &Connection,
    ack: &NewAck,
    message: &NewMessage,
    event: &Event,
) -> Result<AckRecord> {
    if super::inbox::item(conn, ack.bundle_id)?.is_none() {
        return Err(StoreError::NotFound(format!(
            "no received bundle {}",
            ack.bundle_id
        )));
    }
    if let Some(done) = find(conn, ack.bundle_id, &ack.peer, "sent")? {
        return Err(StoreError::Conflict(format!(
            "bundle {} was already acknowledged by {} at {}",
            ack.bundle_id,
            done.by,
            ts(done.at)
        )));
    }
    let entry = ledger::append(conn, event)?;
    insert(conn, ack, "sent", entry.seq)?;
    messages::queue(conn, message)?;
    find(conn, ack.bundle_id, &ack.peer, "sent")?
        .ok_or_else(|| StoreError::Db("the acknowledgement just stored is missing".into()))
}

/// A recipient's signed acknowledgement of one of our shares. A repeat
/// changes nothing (`Ok(false)`).
pub(crate) fn store_peer_ack(conn: &Connection, ack: &NewAck, event: &Event) -> Result<bool> {
    let delivered: Option<i64> = first(
        conn,
        "SELECT 1 FROM outbox WHERE share_id = ?1 AND peer = ?2",
        params![ack.bundle_id.to_string(), ack.peer.to_string()],
        |r| Ok(r.get(0)?),
    )?;
    if delivered.is_none() {
        return Err(StoreError::NotFound(format!(
            "share {} was not sent to {}",
            ack.bundle_id, ack.peer
        )));
    }
    if find(conn, ack.bundle_id, &ack.peer, "received")?.is_some() {
        return Ok(false);
    }
    let entry = ledger::append(conn, event)?;
    insert(conn, ack, "received", entry.seq)?;
    Ok(true)
}

/// The acknowledgements recipients sent for a share.
pub(crate) fn for_share(conn: &Connection, share: Uuid) -> Result<Vec<AckRecord>> {
    all(
        conn,
        &format!("{SELECT} WHERE bundle_id = ?1 AND direction = 'received' ORDER BY at"),
        [share.to_string()],
        row,
    )
}

/// The acknowledgement this node sent for a received bundle.
pub(crate) fn for_inbox(conn: &Connection, bundle: Uuid) -> Result<Option<AckRecord>> {
    first(
        conn,
        &format!("{SELECT} WHERE bundle_id = ?1 AND direction = 'sent'"),
        [bundle.to_string()],
        row,
    )
}

fn row(r: &Row<'_>) -> Result<AckRecord> {
    Ok(AckRecord {
        bundle_id: parse("ack bundle id", &r.get::<_, String>("bundle_id")?)?,
        peer: parse("ack peer", &r.get::<_, String>("peer")?)?,
        by: r.get("by_name")?,
        comment: r.get("comment")?,
        at: parse_ts("ack at", &r.get::<_, String>("at")?)?,
        signed_json: r.get("signed_json")?,
        ledger_seq: int("ack ledger_seq", r.get("ledger_seq")?)?,
    })
}
