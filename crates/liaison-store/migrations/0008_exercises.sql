-- Received bundles that belong to an exercise (the signed manifest says so):
-- labelled as such and kept out of the real TAXII feeds.
ALTER TABLE inbox ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0;
