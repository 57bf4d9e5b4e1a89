//! Connection setup and the migration runner.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;
use crate::store::Result;

/// Schema migrations, in order: `(user_version after it, SQL)`.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_agreements.sql")),
    (
        3,
        include_str!("../../migrations/0003_policy_and_messages.sql"),
    ),
    (
        4,
        include_str!("../../migrations/0004_approvals_and_checkpoints.sql"),
    ),
    (
        5,
        include_str!("../../migrations/0005_roster_and_contacts.sql"),
    ),
    (
        6,
        include_str!("../../migrations/0006_acknowledgements.sql"),
    ),
    (7, include_str!("../../migrations/0007_incidents.sql")),
    (8, include_str!("../../migrations/0008_exercises.sql")),
    (9, include_str!("../../migrations/0009_joint_items.sql")),
    (
        10,
        include_str!("../../migrations/0010_revisions_and_recalls.sql"),
    ),
    (
        11,
        include_str!("../../migrations/0011_user_revocation.sql"),
    ),
    (12, include_str!("../../migrations/0012_ledger_indexes.sql")),
    (
        13,
        include_str!("../../migrations/0013_resumable_transfer.sql"),
    ),
];

/// How long a writer waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Create the database file readable by its owner only (it holds shared
/// content and token hashes); SQLite gives the `-wal` and `-shm` files the
/// same permissions. An existing file is left as it is.
pub(crate) fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", path.display())))
}

/// Apply the PRAGMAs every connection needs.
pub(crate) fn configure(conn: &Connection, wal: bool) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if wal {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Db(format!(
                "cannot switch the database to WAL mode (it stays in `{mode}` mode)"
            )));
        }
    }
    // FULL: a commit is durable once it returns, even on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Bring the schema up to date, one transaction per migration, recording
/// progress in `PRAGMA user_version`.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > latest {
        return Err(StoreError::Db(format!(
            "database schema version {current} is newer than this build knows ({latest}); \
             upgrade Liaison"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Db(format!("migration {version} failed: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
