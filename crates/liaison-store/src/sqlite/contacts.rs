//! Peers' incident-response rosters and contact-path check results.

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use liaison_core::ledger::kinds;
use liaison_core::roster::Roster;
use rusqlite::{params, Connection, Row};
use serde_json::json;

use super::codec::{all, corrupt, first, parse, parse_opt_ts, sql_int, ts};
use super::ledger;
use crate::error::StoreError;
use crate::model::{ContactRecord, Event};
use crate::store::Result;

const SELECT: &str = "SELECT p.node_id, p.name, p.tier, p.added_at, c.roster_json, c.verified_at,
                             c.last_check_at, c.last_check_ok, c.last_rtt_us, c.last_error
                      FROM peers p LEFT JOIN peer_contacts c ON c.node_id = p.node_id";

/// Every pinned peer's contact state, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<ContactRecord>> {
    all(conn, &format!("{SELECT} ORDER BY p.name"), [], row)
}

/// One pinned peer's contact state.
pub(crate) fn get(conn: &Connection, node_id: &NodeId) -> Result<Option<ContactRecord>> {
    first(
        conn,
        &format!("{SELECT} WHERE p.node_id = ?1"),
        [node_id.to_string()],
        row,
    )
}

/// Set a peer's tier and roster, with the ledger entry.
pub(crate) fn set_roster(
    conn: &Connection,
    node_id: &NodeId,
    tier: u8,
    roster: &Roster,
    actor: &str,
) -> Result<()> {
    let id = node_id.to_string();
    let name = first(
        conn,
        "SELECT name FROM peers WHERE node_id = ?1",
        [&id],
        |r| Ok(r.get::<_, String>(0)?),
    )?
    .ok_or_else(|| StoreError::NotFound(format!("no pinned peer with node id {id}")))?;
    let json = serde_json::to_string(roster)
        .map_err(|e| StoreError::Db(format!("cannot encode the roster: {e}")))?;
    conn.execute(
        "UPDATE peers SET tier = ?2 WHERE node_id = ?1",
        params![id, tier],
    )?;
    conn.execute(
        "INSERT INTO peer_contacts (node_id, roster_json) VALUES (?1, ?2)
         ON CONFLICT (node_id) DO UPDATE SET roster_json = excluded.roster_json",
        params![id, json],
    )?;
    ledger::append(
        conn,
        &Event {
            kind: kinds::PEER_ROSTER_UPDATED,
            actor: actor.into(),
            body: json!({ "name": name, "node_id": id, "tier": tier, "roster": roster }),
        },
    )?;
    Ok(())
}

/// Record one contact-path check. A success is ledgered every time (it is
/// the evidence that the path works); a failure only when the path was
/// working or never checked, so a peer that stays down does not flood the
/// ledger. Returns whether an entry was appended. A peer no longer pinned
/// is ignored.
pub(crate) fn record_check(
    conn: &Connection,
    node_id: &NodeId,
    at: DateTime<Utc>,
    outcome: &std::result::Result<u64, String>,
) -> Result<bool> {
    let Some(before) = get(conn, node_id)? else {
        return Ok(false);
    };
    let id = node_id.to_string();
    let (ok, rtt, error) = match outcome {
        Ok(rtt_us) => (true, Some(sql_int(*rtt_us)), None),
        Err(e) => (false, None, Some(e.as_str())),
    };
    conn.execute(
        "INSERT INTO peer_contacts (node_id, verified_at, last_check_at, last_check_ok,
                                    last_rtt_us, last_error)
         VALUES (?1, CASE WHEN ?3 THEN ?2 END, ?2, ?3, ?4, ?5)
         ON CONFLICT (node_id) DO UPDATE SET
             verified_at = CASE WHEN excluded.last_check_ok = 1 THEN excluded.last_check_at
                                ELSE peer_contacts.verified_at END,
             last_check_at = excluded.last_check_at,
             last_check_ok = excluded.last_check_ok,
             last_rtt_us = excluded.last_rtt_us,
             last_error = excluded.last_error",
        params![id, ts(at), ok, rtt, error],
    )?;
    let event = match outcome {
        Ok(rtt_us) => Some(Event {
            kind: kinds::PEER_CONTACT_VERIFIED,
            actor: "node".into(),
            body: json!({ "name": before.name, "node_id": id, "rtt_us": rtt_us }),
        }),
        Err(e) if before.last_check_ok != Some(false) => Some(Event {
            kind: kinds::PEER_CONTACT_FAILED,
            actor: "node".into(),
            body: json!({ "name": before.name, "node_id": id, "error": e }),
        }),
        Err(_) => None,
    };
    match event {
        Some(e) => {
            ledger::append(conn, &e)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn row(r: &Row<'_>) -> Result<ContactRecord> {
    let roster = match r.get::<_, Option<String>>("roster_json")? {
        Some(s) => serde_json::from_str(&s).map_err(|_| corrupt("peer roster", &s))?,
        None => Roster::default(),
    };
    let tier: i64 = r.get("tier")?;
    Ok(ContactRecord {
        node_id: parse("peer node id", &r.get::<_, String>("node_id")?)?,
        name: r.get("name")?,
        tier: u8::try_from(tier).map_err(|_| corrupt("peer tier", &tier.to_string()))?,
        pinned_at: super::codec::parse_ts("peer added_at", &r.get::<_, String>("added_at")?)?,
        roster,
        verified_at: parse_opt_ts("contact verified_at", r.get("verified_at")?)?,
        last_check_at: parse_opt_ts("contact last_check_at", r.get("last_check_at")?)?,
        last_check_ok: r.get::<_, Option<bool>>("last_check_ok")?,
        last_rtt_us: r
            .get::<_, Option<i64>>("last_rtt_us")?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        last_error: r.get("last_error")?,
    })
}
