//! Incidents, the shares linked to them, and the escalation webhook outbox.

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use liaison_core::incident::{Dependency, Severity, Trigger};
use liaison_core::joint::{self, Item, JointLog};
use liaison_core::ledger::kinds;
use rusqlite::{params, Connection, Row};
use serde_json::{json, Value};
use uuid::Uuid;

use super::codec::{all, corrupt, first, int, now, parse, parse_opt, parse_opt_ts, parse_ts, ts};
use super::ledger;
use crate::error::{conflict_as, StoreError};
use crate::model::{Event, IncidentRecord, LedgerRow, NewIncident, WebhookRecord};
use crate::store::Result;

const SELECT: &str = "SELECT id, title, severity, supply_chain, trigger_kind, exercise, peers_json,
                             dependencies_json, opened_at, opened_by, closed_at, ledger_seq,
                             origin
                      FROM incidents";

/// Open an incident, with its ledger entry (the whole record).
pub(crate) fn open(conn: &Connection, new: &NewIncident) -> Result<IncidentRecord> {
    let at = now();
    let peers: Vec<String> = new.peers.iter().map(|p| p.to_string()).collect();
    let deps: Vec<String> = new.dependencies.iter().map(|d| d.to_string()).collect();
    let body = json!({
        "incident_id": new.id,
        "title": new.title,
        "severity": new.severity,
        "supply_chain": new.supply_chain,
        "trigger": new.trigger,
        "exercise": new.exercise,
        "peers": peers,
        "dependencies": deps,
    });
    let row = ledger::append(
        conn,
        &Event {
            kind: kinds::INCIDENT_OPENED,
            actor: new.opened_by.clone(),
            body,
        },
    )?;
    let encode = |v: &Vec<String>| {
        serde_json::to_string(v).map_err(|e| StoreError::Db(format!("cannot encode: {e}")))
    };
    conn.prepare_cached(
        "INSERT INTO incidents (id, title, severity, supply_chain, trigger_kind, exercise,
                                peers_json, dependencies_json, opened_at, opened_by, ledger_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        new.id.to_string(),
        new.title,
        new.severity.as_str(),
        new.supply_chain,
        new.trigger.map(|t| t.as_str()),
        new.exercise,
        encode(&peers)?,
        encode(&deps)?,
        ts(at),
        new.opened_by,
        super::codec::sql_int(row.seq),
    ])
    .map_err(|e| conflict_as(e, || format!("incident {} already exists", new.id)))?;
    get(conn, new.id)?.ok_or_else(|| StoreError::Db("the incident just opened is missing".into()))
}

/// Every incident, newest first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<IncidentRecord>> {
    let mut out = all(conn, &format!("{SELECT} ORDER BY opened_at DESC"), [], row)?;
    for i in &mut out {
        i.shares = shares_of(conn, i.id)?;
    }
    Ok(out)
}

/// One incident with its shares.
pub(crate) fn get(conn: &Connection, id: Uuid) -> Result<Option<IncidentRecord>> {
    let mut found = first(
        conn,
        &format!("{SELECT} WHERE id = ?1"),
        [id.to_string()],
        row,
    )?;
    if let Some(i) = &mut found {
        i.shares = shares_of(conn, id)?;
    }
    Ok(found)
}

fn shares_of(conn: &Connection, id: Uuid) -> Result<Vec<Uuid>> {
    all(
        conn,
        "SELECT share_id FROM incident_shares WHERE incident_id = ?1 ORDER BY rowid",
        [id.to_string()],
        |r| parse("share id", &r.get::<_, String>(0)?),
    )
}

/// Link a share being created to an open incident (same transaction).
pub(crate) fn link_share(conn: &Connection, share: Uuid, incident: Uuid) -> Result<()> {
    let closed: Option<Option<String>> = first(
        conn,
        "SELECT closed_at FROM incidents WHERE id = ?1",
        [incident.to_string()],
        |r| Ok(r.get::<_, Option<String>>(0)?),
    )?;
    match closed {
        None => return Err(StoreError::NotFound(format!("no incident {incident}"))),
        Some(Some(at)) => {
            return Err(StoreError::Conflict(format!(
                "incident {incident} was closed at {at}; open a new one"
            )))
        }
        Some(None) => {}
    }
    conn.execute(
        "INSERT INTO incident_shares (share_id, incident_id) VALUES (?1, ?2)",
        params![share.to_string(), incident.to_string()],
    )?;
    Ok(())
}

/// The incident a share belongs to, if any.
pub(crate) fn of_share(conn: &Connection, share: Uuid) -> Result<Option<Uuid>> {
    first(
        conn,
        "SELECT incident_id FROM incident_shares WHERE share_id = ?1",
        [share.to_string()],
        |r| parse("incident id", &r.get::<_, String>(0)?),
    )
}

/// Close an incident, with its ledger entry.
pub(crate) fn close(conn: &Connection, id: Uuid, actor: &str) -> Result<()> {
    let n = conn.execute(
        "UPDATE incidents SET closed_at = ?2 WHERE id = ?1 AND closed_at IS NULL",
        params![id.to_string(), ts(now())],
    )?;
    if n == 0 {
        return match get(conn, id)? {
            None => Err(StoreError::NotFound(format!("no incident {id}"))),
            Some(_) => Err(StoreError::Conflict(format!(
                "incident {id} is already closed"
            ))),
        };
    }
    ledger::append(
        conn,
        &Event {
            kind: kinds::INCIDENT_CLOSED,
            actor: actor.into(),
            body: json!({ "incident_id": id }),
        },
    )?;
    Ok(())
}

/// The ledger entries of an incident: its own (`incident_id`) and those of
/// its shares (`share_id`), in ledger order.
pub(crate) fn facts(conn: &Connection, id: Uuid) -> Result<Vec<LedgerRow>> {
    all(
        conn,
        "SELECT seq, time, kind, actor, body, entry, leaf_hash FROM ledger
         WHERE json_extract(body, '$.incident_id') = ?1
            OR json_extract(body, '$.share_id') IN
               (SELECT share_id FROM incident_shares WHERE incident_id = ?1)
         ORDER BY seq",
        [id.to_string()],
        ledger::row,
    )
}

/// Ledger an escalation and, with `webhook`, queue its POST.
pub(crate) fn escalate(
    conn: &Connection,
    incident: Uuid,
    body: &Value,
    webhook: bool,
) -> Result<LedgerRow> {
    let row = ledger::append(
        conn,
        &Event {
            kind: kinds::INCIDENT_ESCALATED,
            actor: "node".into(),
            body: body.clone(),
        },
    )?;
    if webhook {
        let mut payload = body.clone();
        payload["event"] = json!(kinds::INCIDENT_ESCALATED);
        payload["ledger_seq"] = json!(row.seq);
        payload["escalated_at"] = json!(row.time);
        let at = ts(now());
        conn.execute(
            "INSERT INTO webhooks_out (incident_id, payload, created_at, state, next_attempt_at)
             VALUES (?1, ?2, ?3, 'pending', ?3)",
            params![incident.to_string(), payload.to_string(), at],
        )?;
    }
    Ok(row)
}

/// Pending webhooks due by `at`.
pub(crate) fn due_webhooks(
    conn: &Connection,
    at: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<WebhookRecord>> {
    all(
        conn,
        "SELECT id, incident_id, payload, attempts FROM webhooks_out
         WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
        params![ts(at), limit],
        |r| {
            let payload: String = r.get("payload")?;
            Ok(WebhookRecord {
                id: r.get("id")?,
                incident_id: parse("incident id", &r.get::<_, String>("incident_id")?)?,
                payload: serde_json::from_str(&payload)
                    .map_err(|_| corrupt("webhook payload", &payload))?,
                attempts: int("webhook attempts", r.get("attempts")?)?,
            })
        },
    )
}

/// Record a webhook attempt: sent, retried at `retry_at`, or given up.
pub(crate) fn webhook_result(
    conn: &Connection,
    id: i64,
    outcome: &std::result::Result<(), String>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let at = ts(now());
    match (outcome, retry_at) {
        (Ok(()), _) => conn.execute(
            "UPDATE webhooks_out SET state = 'sent', completed_at = ?2, attempts = attempts + 1,
                                     last_error = NULL WHERE id = ?1",
            params![id, at],
        )?,
        (Err(e), Some(next)) => conn.execute(
            "UPDATE webhooks_out SET attempts = attempts + 1, last_error = ?2,
                                     next_attempt_at = ?3 WHERE id = ?1",
            params![id, e, ts(next)],
        )?,
        (Err(e), None) => conn.execute(
            "UPDATE webhooks_out SET state = 'failed', attempts = attempts + 1, last_error = ?2,
                                     completed_at = ?3 WHERE id = ?1",
            params![id, e, at],
        )?,
    };
    Ok(())
}

fn row(r: &Row<'_>) -> Result<IncidentRecord> {
    let strings = |what: &str, col: &str| -> Result<Vec<String>> {
        let s: String = r.get(col)?;
        serde_json::from_str(&s).map_err(|_| corrupt(what, &s))
    };
    let severity: String = r.get("severity")?;
    let trigger: Option<String> = r.get("trigger_kind")?;
    Ok(IncidentRecord {
        id: parse("incident id", &r.get::<_, String>("id")?)?,
        title: r.get("title")?,
        severity: parse::<Severity>("incident severity", &severity)?,
        supply_chain: r.get("supply_chain")?,
        trigger: parse_opt::<Trigger>("incident trigger", trigger)?,
        exercise: r.get("exercise")?,
        peers: strings("incident peers", "peers_json")?
            .iter()
            .map(|p| parse("incident peer", p))
            .collect::<Result<_>>()?,
        dependencies: strings("incident dependencies", "dependencies_json")?
            .iter()
            .map(|d| parse::<Dependency>("incident dependency", d))
            .collect::<Result<_>>()?,
        opened_at: parse_ts("incident opened_at", &r.get::<_, String>("opened_at")?)?,
        opened_by: r.get("opened_by")?,
        closed_at: parse_opt_ts("incident closed_at", r.get("closed_at")?)?,
        ledger_seq: int("incident ledger_seq", r.get("ledger_seq")?)?,
        shares: Vec::new(),
        origin: parse_opt("incident origin", r.get("origin")?)?,
    })
}

/// The joint items of an incident, latest revision of each, in the order
/// they were first recorded.
pub(crate) fn items(conn: &Connection, incident: Uuid) -> Result<Vec<Item>> {
    all(
        conn,
        "SELECT item_json FROM incident_items WHERE incident_id = ?1 ORDER BY rowid",
        [incident.to_string()],
        |r| {
            let s: String = r.get(0)?;
            serde_json::from_str(&s).map_err(|_| corrupt("incident item", &s))
        },
    )
}

/// Record a new revision of a joint item made here by `actor`, with its
/// ledger entry. Conflict unless it is newer than the one held.
pub(crate) fn save_item(
    conn: &Connection,
    incident: Uuid,
    item: &Item,
    actor: &str,
) -> Result<LedgerRow> {
    match get(conn, incident)? {
        None => return Err(StoreError::NotFound(format!("no incident {incident}"))),
        Some(i) if i.closed_at.is_some() => {
            return Err(StoreError::Conflict(format!(
                "incident {incident} is closed"
            )))
        }
        Some(_) => {}
    }
    let held = items(conn, incident)?;
    if joint::merge(&held, std::slice::from_ref(item)).is_empty() {
        return Err(StoreError::Conflict(format!(
            "item {} already has revision {} or newer",
            item.id, item.revision
        )));
    }
    put_item(conn, incident, item, actor, None)
}

fn put_item(
    conn: &Connection,
    incident: Uuid,
    item: &Item,
    actor: &str,
    bundle: Option<Uuid>,
) -> Result<LedgerRow> {
    let row = ledger::append(
        conn,
        &Event {
            kind: kinds::INCIDENT_ITEM_UPDATED,
            actor: actor.into(),
            body: json!({
                "incident_id": incident,
                "item": item,
                "bundle_id": bundle,
            }),
        },
    )?;
    let text = serde_json::to_string(item)
        .map_err(|e| StoreError::Db(format!("cannot encode an item: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO incident_items (incident_id, item_id, kind, revision, item_json, ledger_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (incident_id, item_id) DO UPDATE SET
             revision = excluded.revision, item_json = excluded.item_json,
             ledger_seq = excluded.ledger_seq",
    )?
    .execute(params![
        incident.to_string(),
        item.id.to_string(),
        item.kind.as_str(),
        item.revision,
        text,
        super::codec::sql_int(row.seq),
    ])?;
    Ok(row)
}

/// Merge a joint log received from `sender` in bundle `bundle` (inside the
/// transaction that accepts it): the incident is filed under its id (and
/// opened here as another node's incident the first time), and every
/// newer revision is recorded with its own ledger entry.
pub(crate) fn merge_joint(
    conn: &Connection,
    sender: &NodeId,
    log: &JointLog,
    bundle: Uuid,
) -> Result<usize> {
    let id = log.incident.id;
    let actor = format!("peer:{sender}");
    if get(conn, id)?.is_none() {
        let inc = &log.incident;
        let row = ledger::append(
            conn,
            &Event {
                kind: kinds::INCIDENT_JOINED,
                actor: actor.clone(),
                body: json!({
                    "incident_id": id,
                    "origin": inc.origin.to_string(),
                    "title": inc.title,
                    "severity": inc.severity,
                    "supply_chain": inc.supply_chain,
                    "trigger": inc.trigger,
                    "exercise": inc.exercise,
                    "bundle_id": bundle,
                }),
            },
        )?;
        conn.prepare_cached(
            "INSERT INTO incidents (id, title, severity, supply_chain, trigger_kind, exercise,
                                    peers_json, dependencies_json, opened_at, opened_by,
                                    ledger_seq, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            id.to_string(),
            inc.title,
            inc.severity.as_str(),
            inc.supply_chain,
            inc.trigger.map(|t| t.as_str()),
            inc.exercise,
            json!([inc.origin.to_string()]).to_string(),
            ts(now()),
            actor,
            super::codec::sql_int(row.seq),
            inc.origin.to_string(),
        ])?;
    }
    let held = items(conn, id)?;
    let changes: Vec<Item> = joint::merge(&held, &log.items)
        .into_iter()
        .cloned()
        .collect();
    for item in &changes {
        put_item(conn, id, item, &actor, Some(bundle))?;
    }
    Ok(changes.len())
}
