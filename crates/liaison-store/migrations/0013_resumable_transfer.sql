-- Large bundles and resumable transfer of their envelopes (DESIGN §6).
--
-- Content and envelopes that stream from files are kept in `payloads`,
-- written and read in chunks (incremental BLOB I/O). Its BLOB is the last
-- column on purpose: SQLite writes a zeroblob placeholder in the last
-- column without allocating it, anywhere else it expands it in memory. A
-- row that refers to a payload keeps an empty BLOB in its own column.
CREATE TABLE payloads (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
) STRICT;
-- Each refers to payloads (id); the store writes both in one transaction.
ALTER TABLE shares ADD COLUMN content_payload INTEGER;
ALTER TABLE outbox ADD COLUMN envelope_payload INTEGER;
ALTER TABLE inbox ADD COLUMN content_payload INTEGER;

-- Resumable transfer. The receiver keeps
-- each part of an envelope as it arrives, one row per part, so a transfer
-- cut halfway resumes from the last stored part; the rows go once the
-- envelope is accepted or refused. The sender counts the bytes it sent
-- per delivery, over all attempts, so resends can be measured.
CREATE TABLE inbound_parts (
    peer            TEXT NOT NULL,
    envelope_sha256 TEXT NOT NULL,
    size            INTEGER NOT NULL,      -- the whole envelope
    offset          INTEGER NOT NULL,      -- where this part starts
    data            BLOB NOT NULL,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (peer, envelope_sha256, offset)
) STRICT;

ALTER TABLE outbox ADD COLUMN bytes_sent INTEGER NOT NULL DEFAULT 0;

-- A sender that lost our receipt asks again by envelope digest.
CREATE INDEX inbox_by_envelope ON inbox (envelope_sha256);
CREATE INDEX rejections_by_envelope ON inbound_rejections (envelope_sha256);
