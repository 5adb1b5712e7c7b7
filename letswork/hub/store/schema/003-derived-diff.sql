-- letswork hub state, schema 3: the diff of a new file is not stored twice.
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 3. Never edit a released file: add the next number instead.
-- diff_derived = 1: the change creates a file, and its diff is exactly
-- unified_diff(path, None, content), which the store derives on read; diff holds ''. A 1 MiB
-- proposal of a new file then writes 1 MiB to the WAL instead of 2 (docs/performance.md,
-- item 15). A fresh diff stored later (on conflict) sets it back to 0.
ALTER TABLE change_data
    ADD COLUMN diff_derived INTEGER NOT NULL DEFAULT 0 CHECK (diff_derived IN (0, 1));
