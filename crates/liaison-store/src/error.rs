//! The store's error type.

/// A store failure. Messages name what failed (a share id, a peer name, a
/// column) but never secrets such as token hashes or content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The thing to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was violated, e.g. a peer name or node id already
    /// pinned, or a share id already used.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value fails to parse: the database was altered or damaged.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The database failed (I/O, locking, schema, …).
    #[error("database error: {0}")]
    Db(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            _ if is_unique_violation(&e) => StoreError::Conflict(e.to_string()),
            E::FromSqlConversionFailure(..)
            | E::InvalidColumnType(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
            other => StoreError::Db(other.to_string()),
        }
    }
}

/// Whether `e` is a UNIQUE or PRIMARY KEY constraint violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Map a unique violation to a [`StoreError::Conflict`] with a clear
/// message; any other error as usual.
pub(crate) fn conflict_as(e: rusqlite::Error, message: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(message())
    } else {
        e.into()
    }
}
