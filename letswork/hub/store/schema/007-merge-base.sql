-- letswork hub state, schema 7: the base text of a pending change, for a three-way merge at
-- approval (issue 17, part 2; branch h17-merge).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 7. Never edit a released file: add the next number instead.
--
--   change_data.base_z  the text the change was made against, UTF-8, zlib-compressed; NULL
--                       for a change older than schema 7, a create, a move, a base over
--                       MAX_MERGE_BASE_BYTES, and once the change is decided and pruned
--   change_data.edit_z  an edit_file's old_string, new_string and replace_all (zlib'd JSON),
--                       re-applied as an edit when it still matches the current file
-- Both count in changes.data_bytes, so the pending-bytes caps and the usage totals hold them.
ALTER TABLE change_data ADD COLUMN base_z BLOB;
ALTER TABLE change_data ADD COLUMN edit_z BLOB;
