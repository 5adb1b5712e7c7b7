-- letswork hub state, schema 5: guests cannot widen what guests see (issue 13, item 2).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 5. Never edit a released file: add the next number instead.
--
-- One row per ignore file (.gitignore at any depth, the root .letsworkignore) whose version on
-- disk a guest's change wrote, deleted or moved, recorded before the change reaches the disk.
-- While the file on disk hashes to one of guest_shas, a path is shared with guests only if the
-- ignore files on disk AND the host's versions of them (host_content) share it; once the host
-- writes the file, the row no longer matches and is dropped. Kept by `letswork start --new`:
-- the files on disk are still the guests' versions. Capped by MAX_GUEST_IGNORE_FILES and
-- MAX_GUEST_IGNORE_BYTES (letswork/shared/limits.py).
--   path          the ignore file's relative path (its folder in lower case on a
--                 case-insensitive filesystem): the SharingRules key
--   guest_shas    one or two space-separated sha256 (hex) of the guest's versions; 'absent'
--                 for "deleted or moved away"
--   host_content  the file as the host last wrote it; NULL: the host had no such file
CREATE TABLE guest_ignore_versions (
    path         TEXT PRIMARY KEY,
    guest_shas   TEXT NOT NULL,
    host_content BLOB,
    recorded_at  REAL NOT NULL
) WITHOUT ROWID;
