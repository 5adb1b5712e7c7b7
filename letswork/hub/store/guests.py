"""Invites, and the guests admitted with them (resume credentials sealed)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable
from typing import Any

from letswork.hub.store.base import _guarded
from letswork.hub.store.changes import ChangeTables
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.limits import MAX_LIVE_INVITES

__all__ = ["GUEST_STATES", "ROLES", "GuestRow", "GuestTables", "InviteRow"]

ROLES = ("editor", "viewer")
GUEST_STATES = ("awaiting_admission", "admitted", "denied", "kicked")


@dataclasses.dataclass(frozen=True)
class InviteRow:
    invite_id: bytes
    secret: bytes = dataclasses.field(repr=False)
    role: str
    label: str | None
    created_at: float
    revoked_at: float | None
    uses: int
    #: admissions it allows (``None``: no limit); ``uses`` counts those made
    max_uses: int | None = None
    #: after it nobody new may knock (``None``: never)
    expires_at: float | None = None
    #: a guest it admitted was kicked: it no longer auto-admits
    kicked: bool = False

    def uses_left(self) -> int | None:
        """Admissions still allowed (``None``: no limit)."""
        return None if self.max_uses is None else max(0, self.max_uses - self.uses)

    def live(self, now: float) -> bool:
        """Whether someone new may still knock with it: not revoked, not expired, uses left."""
        return (
            self.revoked_at is None
            and (self.expires_at is None or now < self.expires_at)
            and self.uses_left() != 0
        )


@dataclasses.dataclass(frozen=True)
class GuestRow:
    guest_id: str
    name: str
    role: str
    invite_id: bytes | None
    state: str
    trusted: bool
    resume_id: bytes | None
    created_at: float
    admitted_at: float | None
    #: when its last connection ended (``None``: not since schema 6)
    last_seen_at: float | None = None


_INVITE_COLS = (
    "invite_id, secret, role, label, created_at, revoked_at, uses, max_uses, expires_at, kicked"
)
_GUEST_COLS = (
    "guest_id, name, role, invite_id, state, trusted, resume_id, created_at, admitted_at,"
    " last_seen_at"
)


#: The SQL of :func:`letswork.hub.peers.name_key` for the stored names (their alphabet is
#: [A-Za-z0-9 ._-], so lower() is the case fold; then the look-alikes are folded in the same
#: order); ``guests_by_name_key`` indexes it, spelled the same.
_NAME_KEY = (
    "replace(replace(replace(replace(replace(replace("
    "lower(replace(replace(replace(replace(name, ' ', ''), '.', ''), '_', ''), '-', '')),"
    " 'i', 'l'), '1', 'l'), '0', 'o'), '5', 's'), 'rn', 'm'), 'vv', 'w')"
)

# Queries over the fixed column lists above (no user input is ever formatted into SQL).
_SQL_GET_INVITE = f"SELECT {_INVITE_COLS} FROM invites WHERE invite_id = ?"  # noqa: S608
_SQL_GET_GUEST = f"SELECT {_GUEST_COLS} FROM guests WHERE guest_id = ?"  # noqa: S608
_SQL_GUEST_BY_RESUME = f"SELECT {_GUEST_COLS}, resume_psk FROM guests WHERE resume_id = ?"  # noqa: S608
_SQL_LIST_INVITES = f"SELECT {_INVITE_COLS} FROM invites ORDER BY created_at, rowid"  # noqa: S608
_SQL_LIST_GUESTS = f"SELECT {_GUEST_COLS} FROM guests ORDER BY created_at, rowid"  # noqa: S608
_SQL_LIST_GUESTS_IN_STATE = (
    f"SELECT {_GUEST_COLS} FROM guests WHERE state = ? ORDER BY created_at, rowid"  # noqa: S608
)
_SQL_GUESTS_OF_INVITE = (
    f"SELECT {_GUEST_COLS} FROM guests WHERE invite_id = ? ORDER BY created_at, rowid"  # noqa: S608
)


def _guest_row(row: tuple[Any, ...]) -> GuestRow:
    (guest_id, name, role, invite_id, state, trusted, resume_id, created_at, admitted_at, seen) = (
        row
    )
    return GuestRow(
        guest_id=guest_id,
        name=name,
        role=role,
        invite_id=invite_id,
        state=state,
        trusted=bool(trusted),
        resume_id=resume_id,
        created_at=created_at,
        admitted_at=admitted_at,
        last_seen_at=seen,
    )


class GuestTables(ChangeTables):
    """Invites and guests (a guest with a pending change is never forgotten: it needs
    :class:`ChangeTables`)."""

    # -- invites -------------------------------------------------------------------------------

    def _invite_row(self, row: tuple[Any, ...]) -> InviteRow:
        (
            invite_id,
            sealed,
            role,
            label,
            created_at,
            revoked_at,
            uses,
            max_uses,
            expires_at,
            kicked,
        ) = row
        return InviteRow(
            invite_id=invite_id,
            secret=self._unseal("invites", "secret", invite_id, sealed),
            role=role,
            label=label,
            created_at=created_at,
            revoked_at=revoked_at,
            uses=uses,
            max_uses=max_uses,
            expires_at=expires_at,
            kicked=bool(kicked),
        )

    @_guarded
    def add_invite(
        self,
        invite_id: bytes,
        secret: bytes,
        role: str,
        label: str | None,
        now: float,
        *,
        max_uses: int | None = None,
        expires_at: float | None = None,
    ) -> InviteRow:
        """Store a new invite: ``max_uses`` admissions (``None``: no limit), knocks until
        ``expires_at`` (seconds since the epoch; ``None``: never).

        Raises ``OpError(quota_exceeded)`` when ``MAX_LIVE_INVITES`` invites are live already.
        """
        if len([r for r in self.list_invites() if r.live(now)]) >= MAX_LIVE_INVITES:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"{MAX_LIVE_INVITES} invites are live already; revoke some first "
                "(`letswork invites`, `letswork revoke`)",
            )
        sealed = self._seal("invites", "secret", invite_id, secret)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO invites (invite_id, secret, role, label, created_at, uses,"
                " max_uses, expires_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (invite_id, sealed, role, label, now, max_uses, expires_at),
            )
        return InviteRow(invite_id, secret, role, label, now, None, 0, max_uses, expires_at)

    @_guarded
    def mark_invite_kicked(self, invite_id: bytes, *, revoke_at: float | None = None) -> None:
        """Stop the invite auto-admitting (a guest of it was kicked); with ``revoke_at``,
        revoke it too (unless it already is)."""
        with self.transaction():
            self._conn.execute(
                "UPDATE invites SET kicked = 1, revoked_at = COALESCE(revoked_at, ?)"
                " WHERE invite_id = ?",
                (revoke_at, invite_id),
            )

    @_guarded
    def get_invite(self, invite_id: bytes) -> InviteRow | None:
        row = self._conn.execute(
            _SQL_GET_INVITE,
            (invite_id,),
        ).fetchone()
        return None if row is None else self._invite_row(row)

    @_guarded
    def list_invites(self) -> list[InviteRow]:
        """Every invite, revoked ones included, oldest first."""
        rows = self._conn.execute(_SQL_LIST_INVITES).fetchall()
        return [self._invite_row(row) for row in rows]

    @_guarded
    def revoked_invite_ids(self) -> set[bytes]:
        """The ids of the revoked invites (no secret is unsealed)."""
        rows = self._conn.execute("SELECT invite_id FROM invites WHERE revoked_at IS NOT NULL")
        return {row[0] for row in rows}

    @_guarded
    def revoke_invite(self, invite_id: bytes, now: float) -> bool:
        """Mark an invite revoked; ``False`` if it is unknown or already revoked."""
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE invites SET revoked_at = ? WHERE invite_id = ? AND revoked_at IS NULL",
                (now, invite_id),
            )
        return cur.rowcount == 1

    @_guarded
    def count_invite_use(self, invite_id: bytes) -> None:
        """Add one to the invite's ``uses``. Raises ``OpError(not_found)`` for an unknown id."""
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE invite_id = ?", (invite_id,)
            )
        if cur.rowcount != 1:
            raise op_error(ErrorCode.NOT_FOUND, "no such invite")

    # -- guests --------------------------------------------------------------------------------

    def _require_guest(self, guest_id: str) -> GuestRow:
        row = self.get_guest(guest_id)
        if row is None:
            raise op_error(ErrorCode.NOT_FOUND, f"no guest {guest_id}", guest_id=guest_id)
        return row

    def _update_guest(self, guest_id: str, sql: str, params: tuple[Any, ...]) -> None:
        with self.transaction():
            cur = self._conn.execute(sql, (*params, guest_id))
        if cur.rowcount != 1:
            raise op_error(ErrorCode.NOT_FOUND, f"no guest {guest_id}", guest_id=guest_id)

    @_guarded
    def add_guest(self, name: str, role: str, invite_id: bytes, now: float) -> GuestRow:
        """A new guest in state ``awaiting_admission`` with a fresh random hex ``guest_id``.

        The hub no longer calls this (a waiting guest is kept in memory; ``add_admitted_guest``
        writes the row at admission); it stays for the store's own tests and old states.
        """
        guest_id = secrets.token_hex(8)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO guests (guest_id, name, role, invite_id, state, trusted, created_at)"
                " VALUES (?, ?, ?, ?, 'awaiting_admission', 0, ?)",
                (guest_id, name, role, invite_id, now),
            )
        return GuestRow(
            guest_id, name, role, invite_id, "awaiting_admission", False, None, now, None
        )

    @_guarded
    def add_admitted_guest(
        self,
        guest_id: str,
        name: str,
        role: str,
        invite_id: bytes,
        resume_id: bytes,
        resume_psk: bytes,
        now: float,
    ) -> GuestRow:
        """Store a guest the host has just admitted, with its resume credential, in one
        transaction, and count the use of its invite. Nothing is stored for a guest before
        this (a waiting guest lives in the hub's memory only).

        Raises ``OpError(not_found)`` when the invite is gone and ``OpError(quota_exceeded)``
        when it has no use left (``max_uses``).
        """
        sealed = self._seal("guests", "resume_psk", guest_id.encode(), resume_psk)
        with self.transaction():
            # The check and the count in one statement: two admissions racing for the last
            # use cannot both pass.
            cur = self._conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE invite_id = ?"
                " AND (max_uses IS NULL OR uses < max_uses)",
                (invite_id,),
            )
            if cur.rowcount != 1:
                if self.get_invite(invite_id) is None:
                    raise op_error(ErrorCode.NOT_FOUND, "no such invite")
                raise op_error(
                    ErrorCode.QUOTA_EXCEEDED,
                    "this invite has admitted as many people as it allows; ask the host for "
                    "a new one",
                )
            self._conn.execute(
                "INSERT INTO guests (guest_id, name, role, invite_id, state, trusted, resume_id,"
                " resume_psk, created_at, admitted_at)"
                " VALUES (?, ?, ?, ?, 'admitted', 0, ?, ?, ?, ?)",
                (guest_id, name, role, invite_id, resume_id, sealed, now, now),
            )
        return self._require_guest(guest_id)

    @_guarded
    def prune_guests_of_invite(
        self, invite_id: bytes, *, keep: int, spare: Iterable[str] = ()
    ) -> list[str]:
        """Forget the oldest guests of an invite beyond ``keep`` rows; returns their ids.

        Guests in ``spare`` (connected now) and guests with a pending change are never
        forgotten, so the invite may keep more than ``keep`` rows while they last. Kicked
        guests go first, then the oldest by ``admitted_at``.
        """
        spared = set(spare)
        with self.transaction():
            rows = self._conn.execute(
                "SELECT guest_id FROM guests WHERE invite_id = ?"
                " ORDER BY state = 'admitted', COALESCE(admitted_at, created_at), rowid",
                (invite_id,),
            ).fetchall()
            excess = len(rows) - keep
            gone: list[str] = []
            for (guest_id,) in rows:
                if len(gone) >= excess:
                    break
                if guest_id in spared or self.pending_totals(guest_id)[0]:
                    continue
                self._conn.execute("DELETE FROM guests WHERE guest_id = ?", (guest_id,))
                gone.append(guest_id)
        return gone

    @_guarded
    def drop_unadmitted_guests(self) -> int:
        """Delete guests that were never admitted (rows an older hub wrote at ``hello``);
        returns how many. Run at start-up."""
        with self.transaction():
            cur = self._conn.execute(
                "DELETE FROM guests WHERE state IN ('awaiting_admission', 'denied')"
            )
        return cur.rowcount

    @_guarded
    def get_guest(self, guest_id: str) -> GuestRow | None:
        row = self._conn.execute(
            _SQL_GET_GUEST,
            (guest_id,),
        ).fetchone()
        return None if row is None else _guest_row(row)

    @_guarded
    def list_guests(self, *, state: str | None = None) -> list[GuestRow]:
        """Every guest (or those in ``state``), oldest first."""
        if state is None:
            rows = self._conn.execute(_SQL_LIST_GUESTS).fetchall()
        else:
            rows = self._conn.execute(
                _SQL_LIST_GUESTS_IN_STATE,
                (state,),
            ).fetchall()
        return [_guest_row(row) for row in rows]

    @_guarded
    def guests_named(self, key: str, states: Iterable[str]) -> list[GuestRow]:
        """The guests in ``states`` whose name has the comparison ``key``
        (:func:`letswork.hub.peers.name_key`), oldest first; one index lookup."""
        wanted = list(states)
        marks = ", ".join("?" for _ in wanted)
        rows = self._conn.execute(
            f"SELECT {_GUEST_COLS} FROM guests WHERE {_NAME_KEY} = ?"  # noqa: S608
            f" AND state IN ({marks}) ORDER BY created_at, rowid",
            (key, *wanted),
        ).fetchall()
        return [_guest_row(row) for row in rows]

    @_guarded
    def offline_guests(self, online: Iterable[str], limit: int) -> list[GuestRow]:
        """Up to ``limit`` admitted guests not in ``online``, the most recently seen first."""
        skip = set(online)
        rows = self._conn.execute(
            f"SELECT {_GUEST_COLS} FROM guests WHERE state = 'admitted'"  # noqa: S608
            " ORDER BY COALESCE(last_seen_at, admitted_at, created_at) DESC, rowid DESC"
            " LIMIT ?",
            (limit + len(skip),),
        ).fetchall()
        return [g for g in map(_guest_row, rows) if g.guest_id not in skip][:limit]

    @_guarded
    def find_guest_by_resume_id(self, resume_id: bytes) -> tuple[GuestRow, bytes] | None:
        """The guest holding this resume credential, and its resume PSK (unsealed)."""
        row = self._conn.execute(
            _SQL_GUEST_BY_RESUME,
            (resume_id,),
        ).fetchone()
        if row is None:
            return None
        guest = _guest_row(row[:-1])
        psk = self._unseal("guests", "resume_psk", guest.guest_id.encode(), row[-1])
        return guest, psk

    @_guarded
    def admit_guest(
        self, guest_id: str, resume_id: bytes, resume_psk: bytes, now: float
    ) -> GuestRow:
        """State ``admitted``, with the resume credential (id public, PSK sealed)."""
        sealed = self._seal("guests", "resume_psk", guest_id.encode(), resume_psk)
        self._update_guest(
            guest_id,
            "UPDATE guests SET state = 'admitted', resume_id = ?, resume_psk = ?, admitted_at = ?"
            " WHERE guest_id = ?",
            (resume_id, sealed, now),
        )
        return self._require_guest(guest_id)

    @_guarded
    def set_guest_state(self, guest_id: str, state: str) -> None:
        """Set the state; ``denied`` and ``kicked`` also drop the resume credential."""
        if state in ("denied", "kicked"):
            sql = "UPDATE guests SET state = ?, resume_id = NULL, resume_psk = NULL"
        else:
            sql = "UPDATE guests SET state = ?"
        self._update_guest(guest_id, sql + " WHERE guest_id = ?", (state,))

    @_guarded
    def set_guest_name(self, guest_id: str, name: str) -> None:
        self._update_guest(guest_id, "UPDATE guests SET name = ? WHERE guest_id = ?", (name,))

    @_guarded
    def set_guest_seen(self, guest_id: str, now: float) -> None:
        """Record that the identity's last connection ended at ``now`` (unknown id: nothing)."""
        with self.transaction():
            self._conn.execute(
                "UPDATE guests SET last_seen_at = ? WHERE guest_id = ?", (now, guest_id)
            )

    @_guarded
    def rename_identity(self, guest_id: str, old: str, new: str) -> None:
        """Call the identity ``new`` everywhere its name is stored: its row, its changes,
        messages, receipts and tasks (by id), and the task creators and variable writers
        stored by name only (``old``, on rows written since the identity was admitted: names
        are unique among known identities, but a freed name had an earlier holder). The
        activity log keeps what was written; :meth:`audit_log` shows current names."""
        with self.transaction():
            c = self._conn
            c.execute("UPDATE guests SET name = ? WHERE guest_id = ?", (new, guest_id))
            c.execute("UPDATE changes SET author_name = ? WHERE author_id = ?", (new, guest_id))
            c.execute("UPDATE messages SET sender_name = ? WHERE sender_id = ?", (new, guest_id))
            c.execute("UPDATE messages SET to_name = ? WHERE to_id = ?", (new, guest_id))
            c.execute(
                "UPDATE message_receipts SET recipient_name = ? WHERE recipient_id = ?",
                (new, guest_id),
            )
            c.execute("UPDATE tasks SET assignee_name = ? WHERE assignee_id = ?", (new, guest_id))
            # By name only: just the rows written since this identity was admitted. Older rows
            # under ``old`` are an earlier holder's, whose name was freed (kicked and its invite
            # revoked, or forgotten by its invite's ring) before this identity took it.
            row = c.execute(
                "SELECT COALESCE(admitted_at, created_at) FROM guests WHERE guest_id = ?",
                (guest_id,),
            ).fetchone()
            since = row[0] if row is not None else 0.0
            c.execute(
                "UPDATE tasks SET created_by = ? WHERE created_by = ? AND created_at >= ?",
                (new, old, since),
            )
            c.execute(
                "UPDATE vars SET updated_by = ? WHERE updated_by = ? AND updated_at >= ?",
                (new, old, since),
            )

    @_guarded
    def set_trusted(self, guest_id: str, trusted: bool) -> None:
        self._update_guest(
            guest_id, "UPDATE guests SET trusted = ? WHERE guest_id = ?", (int(trusted),)
        )

    @_guarded
    def guests_of_invite(self, invite_id: bytes) -> list[GuestRow]:
        rows = self._conn.execute(
            _SQL_GUESTS_OF_INVITE,
            (invite_id,),
        ).fetchall()
        return [_guest_row(row) for row in rows]

    @_guarded
    def revoke_guests_of_invite(self, invite_id: bytes) -> list[GuestRow]:
        """Kick every admitted or waiting guest of the invite, dropping resume credentials.

        Returns the guests that changed (already denied or kicked ones are left as they are).
        """
        with self.transaction():
            ids = [
                row[0]
                for row in self._conn.execute(
                    "SELECT guest_id FROM guests WHERE invite_id = ?"
                    " AND state IN ('awaiting_admission', 'admitted') ORDER BY created_at, rowid",
                    (invite_id,),
                )
            ]
            self._conn.executemany(
                "UPDATE guests SET state = 'kicked', resume_id = NULL, resume_psk = NULL"
                " WHERE guest_id = ?",
                [(guest_id,) for guest_id in ids],
            )
        return [self._require_guest(guest_id) for guest_id in ids]
