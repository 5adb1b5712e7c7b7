-- letswork hub state, schema 1.
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 1. Files in this directory are named NNN-name.sql; each later file is an
-- upgrade from the previous number. Never edit a released file: add the next number instead.
-- Files must not contain BEGIN/COMMIT (the loader wraps them).
--
-- Columns named "sealed" hold nonce(12) || AES-256-GCM(store.key, plaintext,
-- aad = "letswork-store/1" 0x00 table 0x00 column 0x00 row-key); nothing secret is stored in clear.
-- Times are seconds since the Unix epoch (REAL), taken from the clock the caller passes in.

-- An invite code the host handed out. The secret is kept (sealed) so that the host can print
-- the invite again; the invite id is HKDF(secret) and is what a handshake names.
CREATE TABLE invites (
    invite_id   BLOB PRIMARY KEY CHECK (typeof(invite_id) = 'blob' AND length(invite_id) = 16),
    secret      BLOB NOT NULL,                                   -- sealed
    role        TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    label       TEXT,
    created_at  REAL NOT NULL,
    revoked_at  REAL,                                            -- NULL while usable
    uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0)
);

-- A guest who authenticated with an invite. Once admitted, the guest holds a resume credential:
-- resume_id is public (sent in the handshake); resume_psk is HKDF(resume secret), sealed. The
-- resume secret itself is never stored. Denying or kicking a guest clears both.
CREATE TABLE guests (
    guest_id    TEXT PRIMARY KEY,                                -- random hex
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    invite_id   BLOB REFERENCES invites (invite_id) ON DELETE SET NULL,
    state       TEXT NOT NULL
                CHECK (state IN ('awaiting_admission', 'admitted', 'denied', 'kicked')),
    trusted     INTEGER NOT NULL DEFAULT 0 CHECK (trusted IN (0, 1)),
    resume_id   BLOB UNIQUE,
    resume_psk  BLOB,                                            -- sealed
    created_at  REAL NOT NULL,
    admitted_at REAL,
    CHECK ((resume_id IS NULL) = (resume_psk IS NULL))
);
CREATE INDEX guests_by_invite ON guests (invite_id);

-- A proposed (or directly applied) change to one file. 'approved' means decided but not yet
-- recorded as applied: on restart such rows are reconciled by comparing file hashes.
-- The large values (content, diff) live in change_data, so that a status update rewrites a
-- small row instead of a megabyte, and columns like size and status are read without walking
-- a blob's overflow pages.
CREATE TABLE changes (
    id          TEXT PRIMARY KEY,
    author_id   TEXT NOT NULL,                                   -- 'host' or a guest_id
    author_name TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('write', 'edit', 'delete', 'move')),
    path        TEXT NOT NULL,
    new_path    TEXT,                                            -- move only
    base_sha256 TEXT,
    new_sha256  TEXT,
    size        INTEGER NOT NULL CHECK (size >= 0),
    status      TEXT NOT NULL
                CHECK (status IN ('pending', 'approved', 'applied', 'rejected', 'conflict')),
    reason      TEXT,
    created_at  REAL NOT NULL,
    decided_at  REAL,
    decided_by  TEXT
);
CREATE INDEX changes_by_status ON changes (status, created_at);
CREATE INDEX changes_by_author ON changes (author_id, status, size);

-- One row per change: diff is the unified diff shown to the host (replaced by a fresh one on
-- conflict); content is the full new file for write/edit, NULL for delete/move. content comes
-- last so that reading diff does not walk content's overflow pages.
CREATE TABLE change_data (
    change_id   TEXT PRIMARY KEY REFERENCES changes (id) ON DELETE CASCADE,
    diff        TEXT NOT NULL,
    content     BLOB
);

-- Append-only audit log. detail is a JSON object.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    actor   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    path    TEXT,
    detail  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_actor ON audit (actor);
CREATE INDEX audit_by_kind ON audit (kind);
CREATE INDEX audit_by_at ON audit (at);

-- Small settings of the session (public_url, auto_admit, ...).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
