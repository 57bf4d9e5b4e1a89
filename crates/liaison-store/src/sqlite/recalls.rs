//! Recalls: sent (one row per recipient, with its signed receipt once
//! back) and received (the tombstone of a recalled bundle).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use liaison_core::identity::NodeId;
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::recall::RecallOutcome;
use rusqlite::{params, Connection, Row};
use serde_json::json;
use uuid::Uuid;

use super::codec::{all, first, now, parse, parse_opt_ts, parse_ts, ts};
use super::ledger;
use super::payloads::sha256_blob;
use crate::error::StoreError;
use crate::model::{
    Event, NewMessage, NewRecallIn, NewRecallOut, RecallInRecord, RecallOutRecord, ShareState,
};
use crate::store::Result;

/// Recall a released share: one row and one queued message per
/// recipient, and the `share.recalled` ledger entry, in one transaction.
pub(crate) fn recall_share(conn: &Connection, r: &NewRecallOut, event: &Event) -> Result<()> {
    let state: Option<String> = first(
        conn,
        "SELECT state FROM shares WHERE id = ?1",
        [r.share_id.to_string()],
        |row| Ok(row.get(0)?),
    )?;
    match state.as_deref() {
        None => return Err(StoreError::NotFound(format!("no share {}", r.share_id))),
        Some(s) if s != ShareState::Released.as_str() => {
            return Err(StoreError::Conflict(format!(
                "share {} is {s}: only a released share can be recalled",
                r.share_id
            )))
        }
        Some(_) => {}
    }
    if !of_share(conn, r.share_id)?.is_empty() {
        return Err(StoreError::Conflict(format!(
            "share {} was already recalled",
            r.share_id
        )));
    }
    let at = ts(now());
    for peer in &r.peers {
        conn.prepare_cached(
            "INSERT INTO recalls_out (share_id, peer, reason, requested_by, requested_at,
                                      recall_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            r.share_id.to_string(),
            peer.to_string(),
            r.reason,
            r.requested_by,
            at,
            r.recall_json,
        ])?;
        super::messages::queue(
            conn,
            &NewMessage {
                peer: *peer,
                kind: "recall".into(),
                body: r.recall_json.clone(),
                agreement: None,
            },
        )?;
    }
    ledger::append(conn, event)?;
    Ok(())
}

/// The recall of a share, per recipient (empty: not recalled).
pub(crate) fn of_share(conn: &Connection, share: Uuid) -> Result<Vec<RecallOutRecord>> {
    all(
        conn,
        "SELECT peer, reason, requested_by, requested_at, received_at, outcome, receipt_json
         FROM recalls_out WHERE share_id = ?1 ORDER BY rowid",
        [share.to_string()],
        |r| {
            Ok(RecallOutRecord {
                peer: parse("recall peer", &r.get::<_, String>("peer")?)?,
                reason: r.get("reason")?,
                requested_by: r.get("requested_by")?,
                requested_at: parse_ts(
                    "recall requested_at",
                    &r.get::<_, String>("requested_at")?,
                )?,
                received_at: parse_opt_ts("recall received_at", r.get("received_at")?)?,
                outcome: r.get("outcome")?,
                receipt_json: r.get("receipt_json")?,
            })
        },
    )
}

/// Store a recipient's signed recall receipt and complete its message,
/// with the `recall.receipt_stored` ledger entry. A second receipt for the
/// same recall changes nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn store_receipt(
    conn: &Connection,
    message_id: i64,
    share: Uuid,
    peer: &NodeId,
    receipt_json: &[u8],
    received_at: DateTime<Utc>,
    outcome: RecallOutcome,
) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE recalls_out SET receipt_json = ?3, received_at = ?4, outcome = ?5
             WHERE share_id = ?1 AND peer = ?2 AND receipt_json IS NULL",
        )?
        .execute(params![
            share.to_string(),
            peer.to_string(),
            receipt_json,
            ts(received_at),
            outcome.as_str(),
        ])?;
    if changed > 0 {
        ledger::append(
            conn,
            &Event {
                kind: kinds::RECALL_RECEIPT_STORED,
                actor: format!("peer:{peer}"),
                body: json!({
                    "share_id": share,
                    "peer": peer.to_string(),
                    "outcome": outcome.as_str(),
                    "received_at": received_at,
                    "receipt_sha256": sha256_hex(receipt_json),
                }),
            },
        )?;
    }
    super::messages::complete(conn, message_id, None)
}

/// The tombstone of a bundle, if it was recalled.
pub(crate) fn of_bundle(conn: &Connection, bundle: Uuid) -> Result<Option<RecallInRecord>> {
    first(
        conn,
        "SELECT bundle_id, sender, reason, recalled_at, received_at, outcome FROM recalls_in
         WHERE bundle_id = ?1",
        [bundle.to_string()],
        in_row,
    )
}

/// Every tombstone, by bundle id.
pub(crate) fn all_in(conn: &Connection) -> Result<HashMap<Uuid, RecallInRecord>> {
    Ok(all(
        conn,
        "SELECT bundle_id, sender, reason, recalled_at, received_at, outcome FROM recalls_in",
        [],
        in_row,
    )?
    .into_iter()
    .map(|r| (r.bundle_id, r))
    .collect())
}

/// The receipt already given for a recall of `bundle`, if any.
pub(crate) fn receipt_in(conn: &Connection, bundle: Uuid) -> Result<Option<Vec<u8>>> {
    first(
        conn,
        "SELECT receipt_json FROM recalls_in WHERE bundle_id = ?1",
        [bundle.to_string()],
        |r| Ok(r.get(0)?),
    )
}

/// Record a recall from the bundle's originator: the bundle and every
/// earlier version of it from the same sender get a tombstone, their content
/// is dropped (and, with `purge`, their manifests too), and each gets an
/// `inbound.recalled` ledger entry. `sign` makes the signed receipt for the
/// outcome found. A recall recorded before returns the receipt given then.
pub(crate) fn recall_inbound(
    conn: &Connection,
    r: &NewRecallIn,
    sign: &dyn Fn(RecallOutcome, DateTime<Utc>) -> Vec<u8>,
) -> Result<(RecallOutcome, Vec<u8>)> {
    if let Some(receipt) = receipt_in(conn, r.bundle_id)? {
        let outcome = of_bundle(conn, r.bundle_id)?
            .and_then(|t| parse_outcome(&t.outcome))
            .unwrap_or(RecallOutcome::Withheld);
        return Ok((outcome, receipt));
    }
    let held: Option<(String, String)> = first(
        conn,
        "SELECT sender, manifest_sha256 FROM inbox WHERE bundle_id = ?1",
        [r.bundle_id.to_string()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if let Some((sender, _)) = &held {
        if *sender != r.sender.to_string() {
            return Err(StoreError::Conflict(format!(
                "bundle {} was sent by {sender}, not by {}",
                r.bundle_id, r.sender
            )));
        }
    }
    let outcome = match (&held, r.purge) {
        (None, _) => RecallOutcome::NotReceived,
        (Some(_), true) => RecallOutcome::Purged,
        (Some(_), false) => RecallOutcome::Withheld,
    };
    let at = now();
    let receipt = sign(outcome, at);
    // The bundle, then the versions it revises (same sender), oldest last.
    let mut chain = vec![r.bundle_id];
    let mut cursor = r.bundle_id;
    while chain.len() < 1000 {
        let prev: Option<Option<String>> = first(
            conn,
            "SELECT supersedes FROM inbox WHERE bundle_id = ?1 AND sender = ?2",
            params![cursor.to_string(), r.sender.to_string()],
            |row| Ok(row.get(0)?),
        )?;
        let Some(Some(prev)) = prev else { break };
        let prev: Uuid = parse("inbox supersedes", &prev)?;
        if chain.contains(&prev) {
            break;
        }
        chain.push(prev);
        cursor = prev;
    }
    for (i, bundle) in chain.iter().enumerate() {
        if i > 0 && of_bundle(conn, *bundle)?.is_some() {
            continue;
        }
        let this_outcome = if i == 0 {
            outcome
        } else if r.purge {
            RecallOutcome::Purged
        } else {
            RecallOutcome::Withheld
        };
        let held: Option<(String, i64)> = first(
            conn,
            "SELECT manifest_sha256, rowid FROM inbox WHERE bundle_id = ?1",
            [bundle.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        // Hashed in chunks: the content may be larger than memory allows.
        let hashes = match held {
            Some((m, rowid)) => Some((m, sha256_blob(conn, "inbox", "content", rowid)?)),
            None => None,
        };
        conn.prepare_cached(
            "INSERT INTO recalls_in (bundle_id, sender, reason, recalled_at, received_at,
                                     outcome, recall_json, receipt_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            bundle.to_string(),
            r.sender.to_string(),
            r.reason,
            ts(r.recalled_at),
            ts(at),
            this_outcome.as_str(),
            r.recall_json,
            receipt,
        ])?;
        let payload: Option<Option<i64>> = first(
            conn,
            "SELECT content_payload FROM inbox WHERE bundle_id = ?1",
            [bundle.to_string()],
            |row| Ok(row.get(0)?),
        )?;
        if r.purge {
            conn.execute(
                "UPDATE inbox SET content = X'', content_payload = NULL, manifest = X'', dsse = X''
                 WHERE bundle_id = ?1",
                [bundle.to_string()],
            )?;
        } else {
            conn.execute(
                "UPDATE inbox SET content = X'', content_payload = NULL WHERE bundle_id = ?1",
                [bundle.to_string()],
            )?;
        }
        if let Some(id) = payload.flatten() {
            conn.execute("DELETE FROM payloads WHERE id = ?1", [id])?;
        }
        let (manifest_sha256, content_sha256) = match hashes {
            Some((m, c)) => (Some(m), c),
            None => (None, None),
        };
        ledger::append(
            conn,
            &Event {
                kind: kinds::INBOUND_RECALLED,
                actor: format!("peer:{}", r.sender),
                body: json!({
                    "bundle_id": bundle,
                    "sender": r.sender.to_string(),
                    "reason": r.reason,
                    "recalled_at": r.recalled_at,
                    "outcome": this_outcome.as_str(),
                    "manifest_sha256": manifest_sha256,
                    "content_sha256": content_sha256,
                    "recall_sha256": sha256_hex(&r.recall_json),
                    "revision_of": (i > 0).then_some(r.bundle_id),
                }),
            },
        )?;
    }
    Ok((outcome, receipt))
}

fn parse_outcome(s: &str) -> Option<RecallOutcome> {
    [
        RecallOutcome::Withheld,
        RecallOutcome::Purged,
        RecallOutcome::NotReceived,
    ]
    .into_iter()
    .find(|o| o.as_str() == s)
}

fn in_row(r: &Row<'_>) -> Result<RecallInRecord> {
    Ok(RecallInRecord {
        bundle_id: parse("recall bundle id", &r.get::<_, String>("bundle_id")?)?,
        sender: parse("recall sender", &r.get::<_, String>("sender")?)?,
        reason: r.get("reason")?,
        recalled_at: parse_ts("recall recalled_at", &r.get::<_, String>("recalled_at")?)?,
        received_at: parse_ts("recall received_at", &r.get::<_, String>("received_at")?)?,
        outcome: r.get("outcome")?,
    })
}
