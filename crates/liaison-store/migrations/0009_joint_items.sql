-- Joint actions and decisions of incidents (liaison_core::joint), and
-- incidents opened by another node that this one takes part in: `origin`
-- is the opening node's id (NULL when opened here). The incident id is the
-- originator's, on every node.
ALTER TABLE incidents ADD COLUMN origin TEXT;

CREATE TABLE incident_items (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    item_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('action', 'decision')),
    revision    INTEGER NOT NULL,
    item_json   TEXT NOT NULL,        -- the latest revision (joint::Item)
    ledger_seq  INTEGER NOT NULL,     -- the entry that recorded it
    PRIMARY KEY (incident_id, item_id)
) STRICT;
