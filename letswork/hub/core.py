"""The hub's dispatch, without sockets: open peer, rate limit, admission, role, then the
handler table.

:class:`HubCore` is the pure(ish) core that :mod:`letswork.hub.server` adapts to WebSockets,
in the same split as the magic-wormhole mailbox server (``server.py`` vs
``server_websocket.py``). The handlers live in ``letswork.hub.ops.<group>``, one module per op
group of :mod:`letswork.shared.protocol`, each a function ``(ctx, peer, args, now)`` of the hub's
state (:class:`~letswork.hub.state.HubState`, which HubCore is); their tables are assembled in
:data:`HANDLERS`. The core never reads a clock for a rule and never touches a socket: every
method that depends on time takes ``now`` (seconds since the epoch), so tests need no sleeps.

Flow of one request (``docs/architecture.md``)::

    server: frame -> Session.open -> decode_request -> HubCore.handle(peer, req, now)
    core:   rate limit -> admission -> role (design section 6) -> handler -> result dict
            (an OpError becomes an error reply; anything else is logged as ``internal``)

Events produced by a handler are handed to the ``emit`` callback given at construction; the
server queues them per connection.

File work (walks, searches, reads with their hashes, diffs) never runs on the event loop:
:meth:`HubCore.begin` returns a :class:`Job` for such a request, whose :attr:`Job.work` the
server runs in a worker thread while the store, the locks and the peers are touched only by
:meth:`Job.resume` on the loop. A request of a peer that is gone (kicked, revoked, denied,
disconnected) is refused at dispatch and again after each piece of work, and nothing of it is
applied.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator, Mapping
from typing import Any

from letswork.hub import admission, changes, recovery
from letswork.hub.ops import (
    admin,
    commands,
    files,
    locks,
    messages,
    presence,
    session,
    tasks,
    variables,
)
from letswork.hub.ops import changes as change_ops
from letswork.hub.peers import (
    HOST_ID,
    Credential,
    Peer,
    name_key,
    require_open,
    validate_display_name,
)
from letswork.hub.ratelimit import TokenBucket
from letswork.hub.state import Handler, HubState, Steps, dump_result
from letswork.shared import crypto
from letswork.shared.errors import ErrorCode, LetsworkError, OpError, op_error
from letswork.shared.limits import HELLO_TIMEOUT_SECONDS
from letswork.shared.protocol.base import WireModel
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.wire import Request

__all__ = [
    "HANDLERS",
    "HOST_ID",
    "Credential",
    "HubCore",
    "Job",
    "Peer",
    "describe_error",
    "name_key",
    "validate_display_name",
]

#: Every op's handler, assembled from the op groups' tables.
HANDLERS: dict[str, Handler] = {
    **session.HANDLERS,
    **files.HANDLERS,
    **change_ops.HANDLERS,
    **locks.HANDLERS,
    **messages.HANDLERS,
    **tasks.HANDLERS,
    **variables.HANDLERS,
    **presence.HANDLERS,
    **admin.HANDLERS,
    **commands.HANDLERS,
}
_missing = set(OPS) ^ set(HANDLERS)
if _missing:  # pragma: no cover - a catalogue/implementation mismatch is a bug
    raise RuntimeError(f"ops without a handler, or handlers without an op: {sorted(_missing)}")

#: ops a guest may call before the host admits it.
_PRE_ADMISSION_OPS = frozenset({"hello", "ping"})


class Job:
    """The rest of one request whose file work runs off the event loop.

    :attr:`work` is the next piece: a callable for a worker thread that touches only the disk
    and its own arguments (never the store, the locks or the peers; but the store's blobs file,
    ``Store.blobs``, which has its own connection and lock and is for workers only). Run it,
    then hand what it returned to :meth:`resume`, or what it raised to :meth:`fail`, on the
    loop: each gives the result, or this job again with its next piece of work. Both refuse
    first (``forbidden``) when the peer is gone, so nothing of a kicked peer's request is
    applied after the kick.
    """

    def __init__(
        self, core: HubCore, peer: Peer, steps: Steps[WireModel], *, search: bool = False
    ) -> None:
        self.core = core
        self.peer = peer
        self._steps = steps
        self.work: Callable[[], Any] = _nothing
        #: the work is a search or a walk (long): it runs on the search workers
        self.search = search

    def start(self) -> Mapping[str, Any] | Job:
        return self._advance(lambda: next(self._steps))

    def resume(self, value: Any) -> Mapping[str, Any] | Job:
        """Go on with what :attr:`work` returned (on the loop)."""
        return self._advance(lambda: self._steps.send(value))

    def fail(self, exc: BaseException) -> Mapping[str, Any] | Job:
        """Go on with what :attr:`work` raised (on the loop)."""
        return self._advance(lambda: self._steps.throw(exc))

    def close(self) -> None:
        """Drop the rest of the job (its request was cancelled: the peer went while its work
        ran); what it holds for that work is let go now (a large draft's blob)."""
        self._steps.close()

    def _advance(self, step: Callable[[], Callable[[], Any]]) -> Mapping[str, Any] | Job:
        try:
            require_open(self.peer)
        except OpError:
            self._steps.close()
            raise
        try:
            self.work = step()
        except StopIteration as done:
            return dump_result(done.value)
        return self


def _nothing() -> None:
    return None


class HubCore(HubState):
    """The hub's state machine (one instance per running hub): :class:`HubState` with the
    dispatch of requests and the entry points the server and the app call.

    Takes :class:`HubState`'s arguments.
    """

    # ------------------------------------------------------------------ start-up

    def recover(self, now: float) -> dict[str, int]:
        """Crash reconciliation, run once at start: :func:`letswork.hub.recovery.recover`."""
        return recovery.recover(self, now)

    # ------------------------------------------------------------------ authentication

    def is_host_invite_id(self, invite_id: bytes) -> bool:
        """Whether a ClientHello's invite id is the host key's (no store lookup; its MAC is
        still to be checked). The hub exempts these from strangers' failure limits."""
        return secrets.compare_digest(invite_id, self._host_invite_id)

    def lookup_credential(self, invite_id: bytes) -> Credential | None:
        """Resolve a ClientHello's invite id to a credential, or None (unknown or revoked)."""
        if secrets.compare_digest(invite_id, self._host_invite_id):
            return self._host_credential
        row = self.store.get_invite(invite_id)
        if row is not None:
            if row.revoked_at is not None:
                return None
            return Credential(
                kind="invite",
                psk=crypto.derive_psk(row.secret),
                role=row.role,
                invite_id=row.invite_id,
            )
        found = self.store.find_guest_by_resume_id(invite_id)
        if found is not None:
            guest, psk = found
            if guest.state != "admitted":
                return None
            if guest.invite_id is not None:
                parent = self.store.get_invite(guest.invite_id)
                if parent is None or parent.revoked_at is not None:
                    return None
            return Credential(
                kind="resume",
                psk=psk,
                role=guest.role,
                invite_id=guest.invite_id,
                guest_id=guest.guest_id,
            )
        return None

    def new_peer(self, credential: Credential, now: float, *, source: str = "") -> Peer:
        """Register an authenticated connection (before its ``hello``). It is closed with 4408
        unless a ``hello`` of it is accepted within ``HELLO_TIMEOUT_SECONDS``."""
        peer = Peer(
            peer_id=secrets.token_hex(6),
            credential=credential,
            role=credential.role,
            connected_at=now,
            bucket=TokenBucket(self.limits.rate_per_second, self.limits.rate_burst),
            source=source,
            last_active=now,
        )
        self.greeting[peer.peer_id] = peer
        return peer

    # ------------------------------------------------------------------ dispatch

    def handle(self, peer: Peer, request: Request, now: float) -> Mapping[str, Any]:
        """Run one decoded request for ``peer`` to the end on this thread, file work included;
        returns the result or raises LetsworkError.

        For callers without an event loop (tests, tools). The hub's server uses :meth:`begin`,
        which keeps file work off the loop.
        """
        outcome = self.begin(peer, request, now)
        while isinstance(outcome, Job):
            try:
                value = outcome.work()
            except Exception as exc:
                outcome = outcome.fail(exc)
            else:
                outcome = outcome.resume(value)
        return outcome

    def begin(self, peer: Peer, request: Request, now: float) -> Mapping[str, Any] | Job:
        """Start one decoded request for ``peer``: its result, or a :class:`Job` when it needs
        file work (run ``job.work`` in a worker, then ``job.resume`` on the loop).

        Raises:
            LetsworkError: the request is refused (``forbidden`` once the peer is gone, rate
                limit, admission, role) or its handler failed.
        """
        require_open(peer)
        if not peer.bucket.take(now):
            raise op_error(
                ErrorCode.RATE_LIMITED,
                "too many requests; slow down and retry shortly",
                # Never 0.0: a bucket in debt (a change paid by its bytes) can be short of
                # one token by less than a millisecond's refill, and 0 would say "now".
                retry_after=max(round(peer.bucket.retry_after(now), 3), 0.001),
            )
        spec = OPS[request.op]
        if request.op != "ping":
            peer.last_active = now
        if request.op != "hello" and peer.state == "handshaken":
            raise op_error(ErrorCode.INVALID, "the first request must be 'hello'")
        if peer.state == "awaiting_admission" and request.op not in _PRE_ADMISSION_OPS:
            raise op_error(
                ErrorCode.NOT_ADMITTED,
                "the host has not admitted you yet; wait for the 'admitted' event",
            )
        if peer.role not in spec.roles:
            raise op_error(
                ErrorCode.FORBIDDEN,
                f"'{request.op}' is not allowed for the {peer.role} role",
                role=peer.role,
            )
        outcome = HANDLERS[request.op](self, peer, request.args, now)
        if isinstance(outcome, Generator):
            return Job(self, peer, outcome, search=request.op in files.SEARCH_OPS).start()
        return dump_result(outcome)

    def tick(self, now: float) -> None:
        """Periodic housekeeping: expire locks, close connections that never said hello."""
        for lock in self.locks.expire(now):
            self.broadcast_lock_released(lock, "expired")
        for peer in list(self.greeting.values()):
            if now - peer.connected_at >= HELLO_TIMEOUT_SECONDS:
                del self.greeting[peer.peer_id]
                peer.close()
                self._close(peer, crypto.CloseCode.HANDSHAKE_TIMEOUT, "no hello in time")

    def after_reply(self, peer: Peer, now: float) -> bool:
        """What must follow the reply to ``peer``'s request
        (:func:`letswork.hub.ops.messages.after_reply`); True when the session ended.
        Events its identity missed while away go first (``hello``'s replay)."""
        if peer.replay is not None:
            self.replay_events(peer)
        return messages.after_reply(self, peer, now)

    def note_disk_change(self, abspath: str, change: str, now: float) -> None:
        """A file changed on disk (watcher): :func:`letswork.hub.changes.note_disk_change`."""
        changes.note_disk_change(self, abspath, change, now)

    def admit(self, peer: Peer, now: float) -> None:
        """Admit a waiting guest: :func:`letswork.hub.admission.admit_guest`."""
        admission.admit_guest(self, peer, now)

    def create_invite(self, role: str, label: str | None, now: float) -> tuple[bytes, str]:
        """Mint and store a new invite; returns (invite id, written code)."""
        return admin.mint_invite(self, role, label, now)

    def invite_code(self, invite_id: bytes) -> str:
        """The written code of a stored invite, with the hub's current public URL."""
        return admin.invite_code(self, invite_id)

    def shutdown(self, now: float) -> None:
        """Tell everyone the hub is stopping and release every peer's locks."""
        self.stopping = True
        self.runs.stop_all(now)  # every run's process group killed
        for peer in list(self.peers.values()):
            self.send(peer, "hub_stopping", {})
        for peer in list(self.peers.values()):
            self.disconnect(peer, now, "hub stopped")


def describe_error(exc: BaseException) -> LetsworkError:
    """Map any exception from a handler to a LetsworkError safe to send to the peer."""
    if isinstance(exc, LetsworkError):
        return exc
    return LetsworkError("the hub hit an internal error; the host can see it in the hub log")
