//! # liaison-store
//!
//! Persistence for a Liaison node (DESIGN §6–§8): users, pinned peers,
//! outbound shares and their store-and-forward outbox, the inbox of accepted
//! bundles, refused deliveries, and the append-only ledger.
//!
//! Everything goes through the object-safe [`Store`] trait, whose signatures
//! carry only Liaison types, so a PostgreSQL implementation can follow for
//! HA. [`SqliteStore`] is the default implementation.
//!
//! ## The rule: one transaction per state change, with its ledger entry
//!
//! Every method that changes state writes its [`Event`] to the ledger in the
//! *same* transaction, so the ledger never claims something the tables do
//! not hold, nor the reverse, whatever the moment of a crash. Ledger sequence
//! numbers start at 0 and have no gaps; each row keeps the canonical bytes of
//! [`liaison_core::ledger::Entry`] and their RFC 9162 leaf hash.
//!
//! ## Why rusqlite (and not sqlx)
//!
//! - **Synchronous and simple.** One connection behind a mutex is one writer,
//!   which is exactly SQLite's model; there is no pool or async machinery to
//!   reason about. Async callers wrap calls in
//!   `tokio::task::spawn_blocking`, which also keeps disk waits
//!   (`synchronous=FULL` fsyncs) off the reactor.
//! - **Bundled SQLite.** The same, recent SQLite on every platform (STRICT
//!   tables, `RAISE` in triggers), no system library to match.
//! - **Full control** of transactions (`BEGIN IMMEDIATE`, so a writer never
//!   fails half-way on a lock upgrade) and of PRAGMAs (WAL, `synchronous`,
//!   foreign keys, busy timeout).
//! - **No compile-time query machinery**: no database needed at build time,
//!   no offline query cache to keep in sync.
//!
//! ## Storage conventions
//!
//! Timestamps are RFC 3339 UTC text with microseconds, so text order is time
//! order; values read back are truncated to microseconds. Node ids, UUIDs,
//! TLP labels and content kinds are stored in their string forms; a stored
//! value that no longer parses is reported as [`StoreError::Corrupt`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chunks;
mod error;
mod model;
mod sqlite;
mod store;

pub use chunks::{from_start, ChunkReader};
pub use error::StoreError;
pub use model::{
    AckRecord, AgreementRecord, AgreementState, ApprovalDecision, ApprovalRecord, CheckpointRecord,
    ContactRecord, DeliveryRecord, DeliveryState, DueDelivery, Event, InboxRecord, IncidentRecord,
    LedgerRow, MessageRecord, MessageState, Metrics, NewAck, NewDelivery, NewInbound, NewIncident,
    NewMessage, NewRecallIn, NewRecallOut, NewRejection, NewShare, ParseAgreementStateError,
    ParseDeliveryStateError, ParseRoleError, ParseShareStateError, Payload, PeerRecord,
    RecallInRecord, RecallOutRecord, RejectionRecord, Role, ShareRecord, ShareState, StoredReceipt,
    User, WebhookRecord,
};
pub use sqlite::SqliteStore;
pub use store::{Result, Store};

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// A fresh API token: 256 random bits, lowercase hex. Shown once to the
/// person it is for; only its [`token_hash`] is stored.
pub fn new_token() -> std::result::Result<zeroize::Zeroizing<String>, StoreError> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::getrandom(raw.as_mut())
        .map_err(|e| StoreError::Db(format!("the system random source failed: {e}")))?;
    Ok(zeroize::Zeroizing::new(HEXLOWER.encode(raw.as_ref())))
}

/// The value stored for an API bearer token: lowercase hex SHA-256.
///
/// Tokens are 256-bit random strings, so they cannot be guessed or found by
/// brute force from the hash; a fast hash is appropriate (a slow password
/// hash such as Argon2 only helps low-entropy secrets) and keeps every
/// authenticated request cheap.
pub fn token_hash(token: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
