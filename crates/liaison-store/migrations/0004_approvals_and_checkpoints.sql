-- Release approvals (DESIGN §2, §7): one decision per (share, user). A
-- share waiting for approval is released once enough distinct approvers
-- (never its drafter) approved it; one rejection ends it. Each decision's
-- ledger entry is hashed into `decision_sha256`, which travels in the
-- signed manifest so recipients see who approved the release.
CREATE TABLE approvals (
    share_id        TEXT NOT NULL REFERENCES shares (id),
    approver        TEXT NOT NULL,          -- user id
    approver_name   TEXT NOT NULL,
    decision        TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment         TEXT NOT NULL,
    at              TEXT NOT NULL,
    ledger_seq      INTEGER NOT NULL,
    decision_sha256 TEXT NOT NULL,          -- SHA-256 of the decision's ledger entry bytes
    PRIMARY KEY (share_id, approver)
) STRICT;

-- Signed ledger checkpoints (C2SP tlog-checkpoint notes), append-only.
CREATE TABLE checkpoints (
    size       INTEGER PRIMARY KEY CHECK (size >= 0),
    root_hash  BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only: UPDATE refused');
END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only: DELETE refused');
END;
