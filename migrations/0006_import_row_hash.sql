-- Import ledger (issue 13): a hash of each imported Django row, so a later run can tell which
-- rows changed in Django after they were imported (reported, not overwritten).
ALTER TABLE import_source_ids ADD COLUMN source_hash TEXT;
