-- An incident's story is read from the ledger by its id and its shares'
-- ids (incidents::facts); without these, every read scans the whole ledger.
CREATE INDEX ledger_by_incident ON ledger (json_extract(body, '$.incident_id'));
CREATE INDEX ledger_by_share ON ledger (json_extract(body, '$.share_id'));
