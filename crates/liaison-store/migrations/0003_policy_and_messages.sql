-- Policy on shares (DESIGN §5): a share is either released (sealed, with
-- outbox rows) or waiting for approval (not sealed yet: no manifest, no
-- outbox rows). `policy` keeps the release plan as JSON: the decision, its
-- reasons and what redaction removed, per recipient (counts and rule names).
ALTER TABLE shares ADD COLUMN state TEXT NOT NULL DEFAULT 'released';
ALTER TABLE shares ADD COLUMN approvals_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE shares ADD COLUMN policy TEXT;

-- Signed messages to peers (agreement proposals, countersignatures,
-- declines, revocations), stored and forwarded like deliveries: written in
-- the same transaction as the change they announce, sent by the worker,
-- retried until the peer answers.
CREATE TABLE messages_out (
    id              INTEGER PRIMARY KEY,
    peer            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    body            BLOB    NOT NULL,   -- DSSE JSON
    agreement_id    TEXT,
    version         INTEGER,
    state           TEXT    NOT NULL DEFAULT 'pending',   -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    completed_at    TEXT
) STRICT;
CREATE INDEX messages_out_due ON messages_out (state, next_attempt_at);
CREATE INDEX messages_out_agreement ON messages_out (agreement_id, version);
