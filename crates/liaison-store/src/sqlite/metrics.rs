//! The counts behind the node's `/metrics` endpoint.

use rusqlite::Connection;

use super::codec::{count, int, parse_ts};
use super::ledger;
use crate::model::{DeliveryState, Metrics, ShareState};
use crate::store::Result;

/// Every count, read on `conn` (the caller holds one read transaction).
pub(crate) fn collect(conn: &Connection) -> Result<Metrics> {
    let mut deliveries = DeliveryState::ALL.map(|s| (s, 0u64));
    let mut delivery_attempts = 0u64;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT state, COUNT(*), COALESCE(SUM(attempts), 0) FROM outbox GROUP BY state",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let state: String = r.get(0)?;
            let n: u64 = int("outbox count", r.get(1)?)?;
            delivery_attempts += int::<u64>("outbox attempts", r.get(2)?)?;
            if let Some(slot) = deliveries.iter_mut().find(|(s, _)| s.as_str() == state) {
                slot.1 = n;
            }
        }
    }
    let receipts_accepted = count(conn, "SELECT COUNT(*) FROM receipts WHERE accepted = 1", [])?;
    let receipts_rejected = count(conn, "SELECT COUNT(*) FROM receipts WHERE accepted = 0", [])?;
    let mut shares = ShareState::ALL.map(|s| (s, 0u64));
    {
        let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM shares GROUP BY state")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let state: String = r.get(0)?;
            let n: u64 = int("share count", r.get(1)?)?;
            if let Some(slot) = shares.iter_mut().find(|(s, _)| s.as_str() == state) {
                slot.1 = n;
            }
        }
    }
    let oldest: Option<String> = conn
        .prepare_cached("SELECT MIN(created_at) FROM shares WHERE state = 'awaiting_approval'")?
        .query_row([], |r| r.get(0))?;
    let oldest_awaiting_approval = oldest
        .map(|t| parse_ts("share created_at", &t))
        .transpose()?;
    Ok(Metrics {
        deliveries,
        delivery_attempts,
        receipts_accepted,
        receipts_rejected,
        inbox_bundles: count(conn, "SELECT COUNT(*) FROM inbox", [])?,
        inbound_rejections: count(conn, "SELECT COUNT(*) FROM inbound_rejections", [])?,
        shares,
        oldest_awaiting_approval,
        ledger_entries: ledger::len(conn)?,
        checkpoint_size: count(conn, "SELECT COALESCE(MAX(size), 0) FROM checkpoints", [])?,
        delivery_bytes_sent: count(conn, "SELECT COALESCE(SUM(bytes_sent), 0) FROM outbox", [])?,
        inbound_part_bytes: count(
            conn,
            "SELECT COALESCE(SUM(length(data)), 0) FROM inbound_parts",
            [],
        )?,
        messages_pending: count(
            conn,
            "SELECT COUNT(*) FROM messages_out WHERE state = 'pending'",
            [],
        )?,
    })
}

#[cfg(test)]
mod tests {
    use crate::{SqliteStore, Store};

    #[test]
    fn an_empty_store_counts_zero() {
        let store = SqliteStore::open_in_memory().unwrap();
        let m = store.metrics().unwrap();
        assert!(m.deliveries.iter().all(|(_, n)| *n == 0));
        assert!(m.shares.iter().all(|(_, n)| *n == 0));
        assert_eq!(m.delivery_attempts, 0);
        assert_eq!(m.oldest_awaiting_approval, None);
        assert_eq!(m.ledger_entries, 0);
        assert_eq!(m.checkpoint_size, 0);
        assert_eq!(m.messages_pending, 0);
    }
}
