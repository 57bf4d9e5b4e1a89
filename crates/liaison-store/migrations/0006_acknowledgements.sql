-- Human acknowledgements of bundles: 'sent' (a person here acknowledged a
-- received bundle) and 'received' (a recipient's person acknowledged ours).
CREATE TABLE acknowledgements (
    bundle_id   TEXT NOT NULL,
    peer        TEXT NOT NULL,     -- the acknowledging node
    direction   TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
    by_name     TEXT NOT NULL,
    comment     TEXT NOT NULL,
    at          TEXT NOT NULL,
    signed_json BLOB NOT NULL,     -- DSSE JSON, signed by the acknowledging node
    ledger_seq  INTEGER NOT NULL,
    PRIMARY KEY (bundle_id, peer, direction)
) STRICT;
