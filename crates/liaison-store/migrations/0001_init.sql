-- Liaison node store, schema version 1.
--
-- Conventions: timestamps are RFC 3339 UTC text with microseconds
-- (`2026-11-22T10:00:00.000000Z`), so text order is time order. Node ids,
-- UUIDs, TLP labels and content kinds are stored in their string forms.
-- Tables are STRICT so a value of the wrong type is refused on write.

-- The node this database belongs to: at most one row.
CREATE TABLE node (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    node_id        TEXT NOT NULL,
    org            TEXT NOT NULL,
    initialized_at TEXT NOT NULL
) STRICT;

-- Local API users. Only the SHA-256 of each bearer token is kept.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'approver', 'auditor')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

-- Pinned peers (identity cards exchanged out of band).
CREATE TABLE peers (
    node_id       TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    org           TEXT NOT NULL,
    card_json     TEXT NOT NULL,
    endpoints     TEXT NOT NULL,          -- JSON array of strings
    age_recipient TEXT NOT NULL,
    tier          INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 255),
    added_at      TEXT NOT NULL,
    last_contact  TEXT
) STRICT;

-- Outbound shares: signed once, kept with their exact manifest bytes.
CREATE TABLE shares (
    id              TEXT PRIMARY KEY,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    tlp             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    content         BLOB NOT NULL,
    size            INTEGER NOT NULL,
    manifest        BLOB NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    dsse            BLOB NOT NULL
) STRICT;
CREATE INDEX shares_created ON shares (created_at);

-- One row per (share, recipient): the store-and-forward queue (DESIGN §6).
-- `peer` is deliberately not a foreign key: removing a peer keeps history.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    share_id        TEXT NOT NULL REFERENCES shares (id),
    peer            TEXT NOT NULL,
    envelope        BLOB NOT NULL,
    envelope_sha256 TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    completed_at    TEXT,
    UNIQUE (share_id, peer),
    CHECK ((state = 'pending') = (completed_at IS NULL))
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';

-- Verified, signed receipts for completed deliveries; at most one each.
CREATE TABLE receipts (
    delivery_id INTEGER PRIMARY KEY REFERENCES outbox (id),
    json        BLOB NOT NULL,
    accepted    INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    reason      TEXT,
    received_at TEXT NOT NULL
) STRICT;

-- Accepted inbound bundles. The primary key makes a duplicate bundle id
-- impossible, whatever the interleaving of deliveries.
CREATE TABLE inbox (
    bundle_id       TEXT PRIMARY KEY,
    received_at     TEXT NOT NULL,
    sender          TEXT NOT NULL,
    sender_org      TEXT NOT NULL,
    tlp             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    manifest        BLOB NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    dsse            BLOB NOT NULL,
    content         BLOB NOT NULL,
    size            INTEGER NOT NULL,
    envelope_sha256 TEXT NOT NULL,
    receipt_json    BLOB NOT NULL
) STRICT;
CREATE INDEX inbox_received ON inbox (received_at);

-- Refused inbound deliveries and the negative receipts sent for them.
CREATE TABLE inbound_rejections (
    id              INTEGER PRIMARY KEY,
    received_at     TEXT NOT NULL,
    envelope_sha256 TEXT NOT NULL,
    sender          TEXT NOT NULL,
    bundle_id       TEXT,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    receipt_json    BLOB NOT NULL
) STRICT;

-- The append-only ledger (DESIGN §7). `entry` holds the canonical bytes of
-- `liaison_core::ledger::Entry`; `leaf_hash` = SHA-256(0x00 || entry).
CREATE TABLE ledger (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 0),
    time      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    body      TEXT NOT NULL,
    entry     BLOB NOT NULL,
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
) STRICT;

-- These triggers guard against bugs (a stray UPDATE or DELETE in our own
-- code), not against an attacker with write access to the file, who can drop
-- them. Tampering is detected by the signed Merkle checkpoints over the
-- leaf hashes (a later issue).
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE refused');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: DELETE refused');
END;
