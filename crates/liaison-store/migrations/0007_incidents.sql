-- Supply-chain incidents (NIST SP 800-53 IR-4(10)), the shares that notify
-- peers about them, and the webhook outbox for escalations. Notification,
-- receipt, acknowledgement and escalation times are read from the ledger.
CREATE TABLE incidents (
    id                TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    severity          TEXT NOT NULL,
    supply_chain      INTEGER NOT NULL CHECK (supply_chain IN (0, 1)),
    trigger_kind      TEXT,
    exercise          INTEGER NOT NULL CHECK (exercise IN (0, 1)),
    peers_json        TEXT NOT NULL,      -- implicated peers' node ids
    dependencies_json TEXT NOT NULL,      -- ["name@version", ...]
    opened_at         TEXT NOT NULL,
    opened_by         TEXT NOT NULL,      -- user id
    closed_at         TEXT,
    ledger_seq        INTEGER NOT NULL
) STRICT;

CREATE TABLE incident_shares (
    share_id    TEXT PRIMARY KEY REFERENCES shares(id),
    incident_id TEXT NOT NULL REFERENCES incidents(id)
) STRICT;
CREATE INDEX incident_shares_by_incident ON incident_shares (incident_id);

-- Escalation webhooks: written with the escalation's ledger entry, sent
-- (JSON POST) with retries until the endpoint answers 2xx.
CREATE TABLE webhooks_out (
    id              INTEGER PRIMARY KEY,
    incident_id     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    completed_at    TEXT
) STRICT;
CREATE INDEX webhooks_out_due ON webhooks_out (state, next_attempt_at);
