-- Incident-response roster and contact-path checks per pinned peer.
-- One row per peer once it has a roster or was checked; it goes with the peer.
CREATE TABLE peer_contacts (
    node_id        TEXT PRIMARY KEY REFERENCES peers(node_id) ON DELETE CASCADE,
    roster_json    TEXT NOT NULL DEFAULT '{}',
    verified_at    TEXT,              -- last successful signed ping/pong
    last_check_at  TEXT,
    last_check_ok  INTEGER CHECK (last_check_ok IN (0, 1)),
    last_rtt_us    INTEGER CHECK (last_rtt_us >= 0),
    last_error     TEXT
) STRICT;
