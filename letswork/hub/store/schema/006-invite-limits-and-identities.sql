-- letswork hub state, schema 6: invites with a use limit and an expiry, and people as
-- identities (issue 16).
--
-- Applied by letswork/hub/store.py inside one transaction, which then sets
-- PRAGMA user_version = 6. Never edit a released file: add the next number instead.
--
--   invites.max_uses    admissions the invite allows (each a new identity); NULL: no limit
--                       (invites older than schema 6, and the first invite of `start`)
--   invites.expires_at  after it nobody new may knock with the invite; NULL: never. Resume
--                       credentials of the guests it admitted keep working after either.
--   invites.kicked      1 once the host kicked a guest it admitted: it no longer auto-admits
--                       (the host decides every further knock), so a kicked person cannot
--                       walk back in with it even under --auto-admit.
--   guests.last_seen_at when the identity's last connection ended (list_peers: "offline
--                       since"); NULL: never seen since schema 6.
ALTER TABLE invites ADD COLUMN max_uses INTEGER CHECK (max_uses IS NULL OR max_uses >= 1);
ALTER TABLE invites ADD COLUMN expires_at REAL;
ALTER TABLE invites ADD COLUMN kicked INTEGER NOT NULL DEFAULT 0 CHECK (kicked IN (0, 1));
ALTER TABLE guests ADD COLUMN last_seen_at REAL;
-- A guest kicked before this schema: her invite stops auto-admitting too, so the kick keeps
-- her out after the upgrade as it does after a kick made now.
UPDATE invites SET kicked = 1
    WHERE invite_id IN (SELECT invite_id FROM guests WHERE state = 'kicked');
-- A name's comparison key (letswork.hub.peers.name_key: case-folded, without spaces and ._-;
-- names hold only [A-Za-z0-9 ._-], so lower() is the case fold; then look-alikes folded:
-- i, 1 -> l; 0 -> o; 5 -> s; rn -> m; vv -> w): a new name is checked against every known
-- identity with one index lookup, not a walk of the table.
CREATE INDEX guests_by_name_key ON guests (
    replace(replace(replace(replace(replace(replace(
    lower(replace(replace(replace(replace(name, ' ', ''), '.', ''), '_', ''), '-', '')),
    'i', 'l'), '1', 'l'), '0', 'o'), '5', 's'), 'rn', 'm'), 'vv', 'w')
);
-- The offline people list_peers shows, most recently seen first.
CREATE INDEX guests_by_last_seen ON guests (state, COALESCE(last_seen_at, admitted_at, created_at));
