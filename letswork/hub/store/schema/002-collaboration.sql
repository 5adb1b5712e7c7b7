-- letswork hub state, schema 2: the collaboration layer (messages, task board, shared variables).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 2. Never edit a released file: add the next number instead.
-- Identities: 'host' for the host (every host connection), else a guests.guest_id. Display names
-- are copied next to them, as they were when the row was written.
-- Peer-supplied text (bodies, titles, values) is stored exactly as received.

-- A message. to_id NULL is a broadcast. refs is a JSON array of the file references the hub
-- resolved when the message was sent: {path, start_line, end_line, text, sha256, truncated}.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT NOT NULL CHECK (type IN
                ('finding', 'status', 'question', 'handoff', 'task', 'review', 'context', 'chat')),
    sender_id   TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    to_id       TEXT,
    to_name     TEXT,
    body        TEXT NOT NULL,
    refs        TEXT NOT NULL DEFAULT '[]',
    created_at  REAL NOT NULL,
    CHECK ((to_id IS NULL) = (to_name IS NULL))
);
CREATE INDEX messages_by_sender ON messages (sender_id, id);
CREATE INDEX messages_by_recipient ON messages (to_id, id);

-- One row per recipient of a message: a directed message has one, a broadcast one per identity
-- online when it was sent (and one for each later reader). 'sent' rows are delivered, exactly
-- once, when the recipient next connects.
CREATE TABLE message_receipts (
    message_id     INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    recipient_id   TEXT NOT NULL,
    recipient_name TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('sent', 'delivered', 'read')),
    delivered_at   REAL,
    read_at        REAL,
    PRIMARY KEY (message_id, recipient_id)
);
CREATE INDEX receipts_by_recipient ON message_receipts (recipient_id, status, message_id);

-- A task of the board. claimed and in_progress tasks always have an assignee.
CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    priority      TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    status        TEXT NOT NULL
                  CHECK (status IN ('open', 'claimed', 'in_progress', 'blocked', 'done', 'failed')),
    assignee_id   TEXT,
    assignee_name TEXT,
    note          TEXT,
    created_by    TEXT NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    CHECK ((assignee_id IS NULL) = (assignee_name IS NULL)),
    CHECK (status NOT IN ('claimed', 'in_progress') OR assignee_id IS NOT NULL)
);
CREATE INDEX tasks_by_assignee ON tasks (assignee_id, status);

-- task_id depends on depends_on. The hub refuses cycles before writing.
CREATE TABLE task_deps (
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id != depends_on)
);
CREATE INDEX task_deps_by_dependency ON task_deps (depends_on);

-- Shared variables: small key/value pairs every peer can read.
CREATE TABLE vars (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL
);
