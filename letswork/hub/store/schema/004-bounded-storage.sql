-- letswork hub state, schema 4: everything a peer can make the hub store is bounded
-- (issue 13, item 8; the caps are in letswork/shared/limits.py, the table in docs/security.md).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 4. Never edit a released file: add the next number instead.
--
-- usage holds running totals (rows, bytes) per scope and owner, kept by the triggers below, so
-- that the store checks a cap with one primary-key lookup and prunes with indexed deletes of
-- the oldest rows instead of a COUNT or SUM over a table on every request. owner '*' is the
-- whole scope. Scopes and what they count:
--   messages      per sender_id: rows of messages; bytes of body + refs as stored (UTF-8)
--   audit         per actor_id: rows of audit; bytes of actor + kind + path + detail
--   pending       per author_id: changes in status 'pending'; bytes = their data_bytes
--   decided       per author_id: changes in applied/rejected/conflict; bytes 0 (summaries)
--   decided_data  per author_id: decided changes that still keep content and diff;
--                 bytes = data_bytes
CREATE TABLE usage (
    scope TEXT NOT NULL,
    owner TEXT NOT NULL,
    rows  INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, owner)
) WITHOUT ROWID;

-- Who wrote an audit entry: 'host', a guest_id, or NULL for entries older than schema 4 (and
-- the hub's own). The per-guest ring of the activity log prunes by this.
ALTER TABLE audit ADD COLUMN actor_id TEXT;
CREATE INDEX audit_by_actor_id ON audit (actor_id, id);
-- The oldest entries and messages of guests (the rings of all guests together skip the host's).
CREATE INDEX audit_of_guests ON audit (id) WHERE actor_id IS NOT 'host';
CREATE INDEX messages_of_guests ON messages (id) WHERE sender_id != 'host';

-- data_bytes: bytes of content + diff held in change_data for this change. data_kept = 0: a
-- decided change whose content and diff were pruned (only its summary row remains).
ALTER TABLE changes ADD COLUMN data_bytes INTEGER NOT NULL DEFAULT 0 CHECK (data_bytes >= 0);
ALTER TABLE changes
    ADD COLUMN data_kept INTEGER NOT NULL DEFAULT 1 CHECK (data_kept IN (0, 1));
UPDATE changes SET data_bytes = (
    SELECT COALESCE(length(d.content), 0) + length(CAST(d.diff AS BLOB))
    FROM change_data d WHERE d.change_id = changes.id
) WHERE EXISTS (SELECT 1 FROM change_data d WHERE d.change_id = changes.id);
-- The oldest decided changes, overall, per author, and among those that keep their data.
CREATE INDEX changes_decided ON changes (decided_at) WHERE status IN ('applied', 'rejected', 'conflict');
CREATE INDEX changes_decided_by_author ON changes (author_id, decided_at)
    WHERE status IN ('applied', 'rejected', 'conflict');
CREATE INDEX changes_decided_with_data ON changes (decided_at)
    WHERE status IN ('applied', 'rejected', 'conflict') AND data_kept = 1;

-- The totals of what is already stored.
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'messages', sender_id, COUNT(*),
           SUM(length(CAST(body AS BLOB)) + length(CAST(refs AS BLOB)))
    FROM messages GROUP BY sender_id;
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'messages', '*', COUNT(*),
           COALESCE(SUM(length(CAST(body AS BLOB)) + length(CAST(refs AS BLOB))), 0)
    FROM messages;
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'audit', '', COUNT(*),
           COALESCE(SUM(length(CAST(actor AS BLOB)) + length(CAST(kind AS BLOB))
                        + COALESCE(length(CAST(path AS BLOB)), 0)
                        + length(CAST(detail AS BLOB))), 0)
    FROM audit;
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'audit', '*', rows, bytes FROM usage WHERE scope = 'audit' AND owner = '';
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'pending', o, COUNT(*), COALESCE(SUM(b), 0) FROM (
        SELECT author_id AS o, data_bytes AS b FROM changes WHERE status = 'pending'
        UNION ALL SELECT '*', data_bytes FROM changes WHERE status = 'pending'
    ) WHERE true GROUP BY o;
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'decided', o, COUNT(*), 0 FROM (
        SELECT author_id AS o FROM changes WHERE status IN ('applied', 'rejected', 'conflict')
        UNION ALL SELECT '*' FROM changes WHERE status IN ('applied', 'rejected', 'conflict')
    ) WHERE true GROUP BY o;
INSERT INTO usage (scope, owner, rows, bytes)
    SELECT 'decided_data', o, COUNT(*), COALESCE(SUM(b), 0) FROM (
        SELECT author_id AS o, data_bytes AS b FROM changes WHERE status IN ('applied', 'rejected', 'conflict')
        UNION ALL SELECT '*', data_bytes FROM changes WHERE status IN ('applied', 'rejected', 'conflict')
    ) WHERE true GROUP BY o;

CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages BEGIN
    INSERT INTO usage (scope, owner, rows, bytes) VALUES
        ('messages', NEW.sender_id, 1, length(CAST(NEW.body AS BLOB)) + length(CAST(NEW.refs AS BLOB))),
        ('messages', '*', 1, length(CAST(NEW.body AS BLOB)) + length(CAST(NEW.refs AS BLOB)))
        ON CONFLICT (scope, owner) DO UPDATE
        SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages BEGIN
    UPDATE usage SET rows = rows - 1, bytes = bytes - (length(CAST(OLD.body AS BLOB)) + length(CAST(OLD.refs AS BLOB)))
        WHERE scope = 'messages' AND owner IN (OLD.sender_id, '*');
END;

CREATE TRIGGER audit_usage_insert AFTER INSERT ON audit BEGIN
    INSERT INTO usage (scope, owner, rows, bytes) VALUES
        ('audit', COALESCE(NEW.actor_id, ''), 1, length(CAST(NEW.actor AS BLOB)) + length(CAST(NEW.kind AS BLOB)) + COALESCE(length(CAST(NEW.path AS BLOB)), 0) + length(CAST(NEW.detail AS BLOB))),
        ('audit', '*', 1, length(CAST(NEW.actor AS BLOB)) + length(CAST(NEW.kind AS BLOB)) + COALESCE(length(CAST(NEW.path AS BLOB)), 0) + length(CAST(NEW.detail AS BLOB)))
        ON CONFLICT (scope, owner) DO UPDATE
        SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER audit_usage_delete AFTER DELETE ON audit BEGIN
    UPDATE usage SET rows = rows - 1, bytes = bytes - (length(CAST(OLD.actor AS BLOB)) + length(CAST(OLD.kind AS BLOB)) + COALESCE(length(CAST(OLD.path AS BLOB)), 0) + length(CAST(OLD.detail AS BLOB)))
        WHERE scope = 'audit' AND owner IN (COALESCE(OLD.actor_id, ''), '*');
END;

CREATE TRIGGER changes_usage_insert AFTER INSERT ON changes BEGIN
    INSERT INTO usage (scope, owner, rows, bytes) VALUES
        ('pending', NEW.author_id, (NEW.status = 'pending'), CASE WHEN NEW.status = 'pending' THEN NEW.data_bytes ELSE 0 END),
        ('pending', '*', (NEW.status = 'pending'), CASE WHEN NEW.status = 'pending' THEN NEW.data_bytes ELSE 0 END),
        ('decided', NEW.author_id, (NEW.status IN ('applied', 'rejected', 'conflict')), 0),
        ('decided', '*', (NEW.status IN ('applied', 'rejected', 'conflict')), 0),
        ('decided_data', NEW.author_id, (NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1), CASE WHEN NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1 THEN NEW.data_bytes ELSE 0 END),
        ('decided_data', '*', (NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1), CASE WHEN NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1 THEN NEW.data_bytes ELSE 0 END)
        ON CONFLICT (scope, owner) DO UPDATE
        SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER changes_usage_delete AFTER DELETE ON changes BEGIN
    INSERT INTO usage (scope, owner, rows, bytes) VALUES
        ('pending', OLD.author_id, -(OLD.status = 'pending'), -(CASE WHEN OLD.status = 'pending' THEN OLD.data_bytes ELSE 0 END)),
        ('pending', '*', -(OLD.status = 'pending'), -(CASE WHEN OLD.status = 'pending' THEN OLD.data_bytes ELSE 0 END)),
        ('decided', OLD.author_id, -(OLD.status IN ('applied', 'rejected', 'conflict')), -(0)),
        ('decided', '*', -(OLD.status IN ('applied', 'rejected', 'conflict')), -(0)),
        ('decided_data', OLD.author_id, -(OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1), -(CASE WHEN OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1 THEN OLD.data_bytes ELSE 0 END)),
        ('decided_data', '*', -(OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1), -(CASE WHEN OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1 THEN OLD.data_bytes ELSE 0 END))
        ON CONFLICT (scope, owner) DO UPDATE
        SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER changes_usage_update AFTER UPDATE OF status, data_kept, data_bytes ON changes
BEGIN
    INSERT INTO usage (scope, owner, rows, bytes) VALUES
        ('pending', NEW.author_id,
         (NEW.status = 'pending') - (OLD.status = 'pending'),
         (CASE WHEN NEW.status = 'pending' THEN NEW.data_bytes ELSE 0 END) - (CASE WHEN OLD.status = 'pending' THEN OLD.data_bytes ELSE 0 END)),
        ('pending', '*',
         (NEW.status = 'pending') - (OLD.status = 'pending'),
         (CASE WHEN NEW.status = 'pending' THEN NEW.data_bytes ELSE 0 END) - (CASE WHEN OLD.status = 'pending' THEN OLD.data_bytes ELSE 0 END)),
        ('decided', NEW.author_id,
         (NEW.status IN ('applied', 'rejected', 'conflict')) - (OLD.status IN ('applied', 'rejected', 'conflict')),
         (0) - (0)),
        ('decided', '*',
         (NEW.status IN ('applied', 'rejected', 'conflict')) - (OLD.status IN ('applied', 'rejected', 'conflict')),
         (0) - (0)),
        ('decided_data', NEW.author_id,
         (NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1) - (OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1),
         (CASE WHEN NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1 THEN NEW.data_bytes ELSE 0 END) - (CASE WHEN OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1 THEN OLD.data_bytes ELSE 0 END)),
        ('decided_data', '*',
         (NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1) - (OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1),
         (CASE WHEN NEW.status IN ('applied', 'rejected', 'conflict') AND NEW.data_kept = 1 THEN NEW.data_bytes ELSE 0 END) - (CASE WHEN OLD.status IN ('applied', 'rejected', 'conflict') AND OLD.data_kept = 1 THEN OLD.data_bytes ELSE 0 END))
        ON CONFLICT (scope, owner) DO UPDATE
        SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes;
END;
