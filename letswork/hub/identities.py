"""People as identities (issue 16): a guest is its ``guest_id``; its display name is a label,
unique among every identity the hub knows, offline and kicked ones included.

Kicked identities keep their names so that a kicked person cannot walk back in under the same
name with an invite that has uses left; revoking that invite frees them (it cannot bring anyone
back), as does the invite's ring forgetting the identity (``MAX_GUESTS_PER_INVITE``).
"""

from __future__ import annotations

import time

from letswork.hub.peers import Peer, name_key
from letswork.hub.state import HubState
from letswork.hub.store.guests import GuestRow
from letswork.shared.errors import ErrorCode, op_error


def clock_text(at: float) -> str:
    """``14:02 UTC`` (the hub's clock; the same form locks use)."""
    return time.strftime("%H:%M UTC", time.gmtime(at))


def known_guests(ctx: HubState, name: str) -> list[GuestRow]:
    """The stored identities that hold ``name``, oldest first: admitted ones, and kicked ones
    while their invite is not revoked (revoking it frees their names: the invite cannot bring
    them back, and a new invite is the host's choice)."""
    found = ctx.store.guests_named(name_key(name), ("admitted", "kicked"))
    if any(g.state == "kicked" for g in found):
        revoked = ctx.store.revoked_invite_ids()
        found = [g for g in found if g.state == "admitted" or g.invite_id not in revoked]
    return found


def known_guest(ctx: HubState, name: str, *, states: tuple[str, ...] = ("admitted",)) -> GuestRow:
    """The stored identity called ``name`` (online or not).

    Raises ``OpError(not_found)`` when no identity in ``states`` has that name.
    """
    key = name_key(name)
    for peer in ctx.peers.values():
        if not peer.is_host and peer.admitted and name_key(peer.name) == key:
            row = ctx.store.get_guest(peer.guest_id)
            if row is not None and row.state in states:
                return row
    found = ctx.store.guests_named(key, states)
    if not found:
        raise op_error(
            ErrorCode.NOT_FOUND,
            f"no guest is called {name!r} (online or offline); `letswork status` lists them",
            name=name,
        )
    return max(found, key=lambda g: g.admitted_at or g.created_at)


def check_name_free(
    ctx: HubState, name: str, *, exclude: Peer, waiting: bool = True, stranger: bool = False
) -> None:
    """Refuse ``name`` for ``exclude``'s identity when another identity holds it: a connected
    guest (one awaiting admission only when ``waiting``), or a known one that is offline or
    was kicked.

    Raises ``OpError(name_taken)`` whose message says who holds it and what to do; to a
    ``stranger`` (a knock the host has not admitted) only that the name is taken, save that
    the host removed its holder when the knock uses that holder's own invite (it may be the
    same person, who should know why): not when someone was last seen, nor who was removed.
    """
    key = name_key(name)
    for p in ctx.peers.values():
        if (
            p is not exclude
            and not p.is_host
            and p.guest_id != exclude.guest_id
            and (waiting or p.admitted)
            and name_key(p.name) == key
        ):
            raise op_error(
                ErrorCode.NAME_TAKEN,
                f"someone in this session is already called {name!r}; pick another name",
                name=name,
            )
    for g in known_guests(ctx, name):
        if g.guest_id == exclude.guest_id:
            continue
        if g.state == "kicked" and (not stranger or g.invite_id == exclude.credential.invite_id):
            why = f"the host removed {g.name!r} from this session"
        elif stranger:
            why = f"someone in this session is already called {name!r}"
        elif g.last_seen_at is not None:
            since = clock_text(g.last_seen_at)
            why = f"{g.name!r} is someone else in this session (offline since {since})"
        else:
            why = f"{g.name!r} is someone else in this session (offline)"
        raise op_error(
            ErrorCode.NAME_TAKEN,
            f"{why}; names belong to one person each: pick another name",
            name=name,
        )


def rename(ctx: HubState, guest_id: str, old: str, new: str) -> None:
    """Show ``new`` for the identity everywhere: its connections, its locks and every stored
    row that names it (:meth:`Store.rename_identity`)."""
    for p in ctx.peers.values():
        if p.guest_id == guest_id:
            p.name = new
    ctx.locks.rename_holder(guest_id, new)
    ctx.store.rename_identity(guest_id, old, new)
