-- letswork hub state, schema 8: the content and diff of a large change live in a second
-- database file (ChangeBlobs, store/blobs.py), written and read off the event loop (issue 15).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 8. Never edit a released file: add the next number instead.
--
--   change_data.blob_key  NULL: content and diff are in this row, as before. Otherwise the
--                         key of the row in the blobs file that holds them; this row then
--                         holds content NULL and diff '', and changes.data_bytes still counts
--                         the bytes held there (the caps of schema 4 are unchanged).
ALTER TABLE change_data ADD COLUMN blob_key TEXT;
CREATE UNIQUE INDEX change_data_by_blob_key ON change_data (blob_key) WHERE blob_key IS NOT NULL;
