//! Pinned peers.

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use liaison_core::ledger::kinds;
use rusqlite::{params, Connection, Row};
use serde_json::json;

use super::codec::{all, corrupt, first, int, parse, parse_opt_ts, parse_ts, ts};
use super::ledger;
use crate::error::{conflict_as, StoreError};
use crate::model::{Event, PeerRecord};
use crate::store::Result;

const SELECT: &str = "SELECT node_id, name, org, card_json, endpoints, age_recipient, tier,
                             added_at, last_contact
                      FROM peers";

/// Pin a peer, with the ledger entry.
pub(crate) fn add(conn: &Connection, peer: &PeerRecord, actor: &str) -> Result<()> {
    let node_id = peer.node_id.to_string();
    refuse_duplicate(conn, &peer.name, &node_id)?;
    let endpoints = serde_json::to_string(&peer.endpoints)
        .map_err(|e| StoreError::Db(format!("cannot encode endpoints: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO peers (node_id, name, org, card_json, endpoints, age_recipient, tier,
                            added_at, last_contact)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        node_id,
        peer.name,
        peer.org,
        peer.card_json,
        endpoints,
        peer.age_recipient,
        peer.tier,
        ts(peer.added_at),
        peer.last_contact.map(ts),
    ])
    .map_err(|e| conflict_as(e, || format!("peer `{}` is already pinned", peer.name)))?;
    ledger::append(
        conn,
        &Event {
            kind: kinds::PEER_ADDED,
            actor: actor.into(),
            body: json!({
                "name": peer.name,
                "node_id": node_id,
                "org": peer.org,
                "tier": peer.tier,
            }),
        },
    )?;
    Ok(())
}

/// A clear conflict when the name or the node id is already pinned.
fn refuse_duplicate(conn: &Connection, name: &str, node_id: &str) -> Result<()> {
    let existing = first(
        conn,
        "SELECT name, node_id FROM peers WHERE name = ?1 OR node_id = ?2
         ORDER BY node_id = ?2 DESC LIMIT 1",
        [name, node_id],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    )?;
    match existing {
        None => Ok(()),
        Some((existing_name, id)) if id == node_id => Err(StoreError::Conflict(format!(
            "node id {node_id} is already pinned as peer `{existing_name}`"
        ))),
        Some(_) => Err(StoreError::Conflict(format!(
            "a peer named `{name}` already exists"
        ))),
    }
}

/// Unpin a peer, with the ledger entry.
pub(crate) fn remove(conn: &Connection, node_id: &NodeId, actor: &str) -> Result<()> {
    let id = node_id.to_string();
    let name = first(
        conn,
        "SELECT name FROM peers WHERE node_id = ?1",
        [&id],
        |r| Ok(r.get::<_, String>(0)?),
    )?
    .ok_or_else(|| StoreError::NotFound(format!("no pinned peer with node id {id}")))?;
    conn.execute("DELETE FROM peers WHERE node_id = ?1", [&id])?;
    ledger::append(
        conn,
        &Event {
            kind: kinds::PEER_REMOVED,
            actor: actor.into(),
            body: json!({ "name": name, "node_id": id }),
        },
    )?;
    Ok(())
}

/// Every peer, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<PeerRecord>> {
    all(conn, &format!("{SELECT} ORDER BY name"), [], row)
}

/// The peer named `name_or_id` or with that node id (the id wins).
pub(crate) fn find(conn: &Connection, name_or_id: &str) -> Result<Option<PeerRecord>> {
    first(
        conn,
        &format!("{SELECT} WHERE name = ?1 OR node_id = ?1 ORDER BY node_id = ?1 DESC LIMIT 1"),
        [name_or_id],
        row,
    )
}

/// Move `last_contact` forward to `at` (never backwards).
pub(crate) fn touch(conn: &Connection, node_id: &NodeId, at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE peers SET last_contact = ?2
         WHERE node_id = ?1 AND (last_contact IS NULL OR last_contact < ?2)",
    )?
    .execute(params![node_id.to_string(), ts(at)])?;
    Ok(())
}

fn row(r: &Row<'_>) -> Result<PeerRecord> {
    let endpoints: String = r.get("endpoints")?;
    Ok(PeerRecord {
        name: r.get("name")?,
        node_id: parse("peer node id", &r.get::<_, String>("node_id")?)?,
        org: r.get("org")?,
        card_json: r.get("card_json")?,
        endpoints: serde_json::from_str(&endpoints)
            .map_err(|_| corrupt("peer endpoints", &endpoints))?,
        age_recipient: r.get("age_recipient")?,
        tier: int("peer tier", r.get("tier")?)?,
        added_at: parse_ts("peer added_at", &r.get::<_, String>("added_at")?)?,
        last_contact: parse_opt_ts("peer last_contact", r.get("last_contact")?)?,
    })
}
