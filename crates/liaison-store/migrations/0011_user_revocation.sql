-- Revoked users: their token no longer authenticates (API, TAXII, web
-- sessions, which look the token up on every request). The row stays, so
-- the ledger's actor ids keep their names.
ALTER TABLE users ADD COLUMN revoked_at TEXT;
