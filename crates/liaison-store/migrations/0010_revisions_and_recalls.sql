-- Revisions, expiry and recalls. A revised share names the share it
-- supersedes; both sides keep the signed manifest's `supersedes` and
-- `not_after`. A recall is one row per recipient at the originator (with
-- the recipient's signed receipt once back) and one tombstone per bundle at
-- the recipient (also for a bundle that has not arrived yet, which is then
-- refused when it does).
ALTER TABLE shares ADD COLUMN supersedes TEXT;
ALTER TABLE shares ADD COLUMN not_after TEXT;
ALTER TABLE inbox ADD COLUMN supersedes TEXT;
ALTER TABLE inbox ADD COLUMN not_after TEXT;
CREATE INDEX inbox_by_supersedes ON inbox (supersedes) WHERE supersedes IS NOT NULL;
-- `superseded_by` of every listed share is a lookup by `supersedes`.
CREATE INDEX shares_by_supersedes ON shares (supersedes) WHERE supersedes IS NOT NULL;

CREATE TABLE recalls_out (
    share_id     TEXT NOT NULL REFERENCES shares(id),
    peer         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    requested_by TEXT NOT NULL,           -- user id
    requested_at TEXT NOT NULL,
    recall_json  BLOB NOT NULL,           -- the signed recall
    receipt_json BLOB,                    -- the recipient's signed receipt
    received_at  TEXT,                    -- when the recipient recorded it
    outcome      TEXT,                    -- withheld | purged | not_received
    PRIMARY KEY (share_id, peer)
) STRICT;

CREATE TABLE recalls_in (
    bundle_id      TEXT PRIMARY KEY,
    sender         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    recalled_at    TEXT NOT NULL,         -- when the originator recalled it
    received_at    TEXT NOT NULL,         -- when this node recorded it
    outcome        TEXT NOT NULL,
    recall_json    BLOB NOT NULL,
    receipt_json   BLOB NOT NULL
) STRICT;
