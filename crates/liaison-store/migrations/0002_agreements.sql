-- Sharing agreements (DESIGN §5): every version of every agreement this node
-- proposed or received, with its signatures and where it stands.
CREATE TABLE agreements (
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    peer        TEXT    NOT NULL,   -- the other party's node id
    state       TEXT    NOT NULL,   -- see AgreementState
    document    BLOB    NOT NULL,   -- the signed agreement (DSSE JSON, 1 or 2 signatures)
    sha256      TEXT    NOT NULL,   -- of the signed agreement bytes
    valid_from  TEXT    NOT NULL,
    valid_until TEXT    NOT NULL,
    notice      BLOB,               -- signed decline or revocation, when there is one
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (id, version)
) STRICT;
CREATE INDEX agreements_peer ON agreements (peer, state);
