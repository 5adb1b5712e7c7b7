-- letswork hub state, schema 9: a change's revision (q-approve, a follow-up of issue 17).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 9. Never edit a released file: add the next number instead.
--
--   changes.revision  1 when proposed; 1 more at each update_change (the author resubmitting
--                     its conflict under the same id). Shown to people with the change's
--                     proposal_sha256, the digest an approval pins; the digest, not this
--                     number, is what approve_change checks.
ALTER TABLE changes ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
