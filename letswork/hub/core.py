"""The hub's rules, without sockets: peers, roles, admission, changes, locks, admin ops.

:class:`HubCore` is the pure(ish) core that :mod:`letswork.hub.server` adapts to WebSockets,
in the same split as the magic-wormhole mailbox server (``server.py`` vs
``server_websocket.py``). It touches the project folder (through :class:`Workspace`) and the
SQLite store, but never a socket or a clock: every method that depends on time takes ``now``
(seconds since the epoch), so tests need no sleeps.

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

import dataclasses
import functools
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

from letswork import __version__
from letswork.hub.collab import HOST_ID, CollabOps, name_key
from letswork.hub.locks import Lock, LockTable, filesystem_is_case_insensitive
from letswork.hub.ratelimit import TokenBucket
from letswork.hub.store import Store
from letswork.hub.store.changes import ChangeRow
from letswork.hub.store.guests import GuestRow
from letswork.hub.workspace import Workspace
from letswork.hub.workspace.diff import apply_edit, create_diff_head, cut_diff, unified_diff
from letswork.hub.workspace.disk import TEMP_PREFIX, sha256_hex
from letswork.hub.workspace.files import check_text
from letswork.hub.workspace.paths import to_relpath
from letswork.hub.workspace.policy import change_sensitivity, git_dir_reason, git_metadata_reason
from letswork.hub.workspace.sharing import ABSENT, GuestVersion, ignore_file_ids
from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, LetsworkError, OpError, op_error
from letswork.shared.limits import HELLO_TIMEOUT_SECONDS, KNOCKS_PER_INVITE_PER_MINUTE, Limits
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.wire import Request

log = logging.getLogger("letswork.hub")

__all__ = [
    "HOST_ID",
    "HubCore",
    "Job",
    "Peer",
    "describe_error",
    "name_key",
    "validate_display_name",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9 ._-]{1,32}$")

#: Longest diff sent back in the reply to a proposal (characters).
REPLY_DIFF_CHARS = 64 * 1024
#: A watcher event this soon after the hub's own write to the same path is the hub's own echo.
OWN_WRITE_WINDOW_SECONDS = 5.0

#: ops whose file work is a search or a walk: long (up to the search deadline), so they get
#: their own worker threads (``Job.search``).
_SEARCH_OPS = frozenset({"search_files", "find_files", "list_files"})

#: ops a guest may call before the host admits it.
_PRE_ADMISSION_OPS = frozenset({"hello", "ping"})

#: A change is re-prepared at most this many times when the hub wrote files while it was being
#: prepared off the loop (its base and diff could be stale); then it fails with ``conflict``.
_PREPARE_TRIES = 3
#: Paths whose last write the hub remembers (HubCore._written); past them it forgets them all
#: and counts every preparation made before as stale.
_MAX_WRITE_STAMPS = 4096
#: Keys of HubCore._written that no path has: any ignore file; every path.
_POLICY = "\0policy"
_EVERY_PATH = "\0every"

EmitFn = Callable[["Peer", str, Mapping[str, Any]], None]
CloseFn = Callable[["Peer", int, str], None]
#: A handler that needs file work is a generator: it yields the work (a callable for a worker
#: thread) and is sent what the work returned (or has what it raised thrown in); what it
#: returns is the result.
Steps = Generator[Callable[[], Any], Any, Mapping[str, Any]]


def validate_display_name(name: str) -> str:
    """Return ``name`` stripped, or raise ``OpError(invalid|name_taken)`` (design section 6)."""
    stripped = name.strip()
    if not _NAME_RE.match(stripped):
        raise op_error(
            ErrorCode.INVALID,
            "display names are 1-32 characters from letters, digits, space, '.', '_' and '-'",
        )
    if name_key(stripped) == HOST_ID:
        raise op_error(ErrorCode.NAME_TAKEN, f"the name {stripped!r} is reserved for the host")
    return stripped


@dataclasses.dataclass(frozen=True)
class Credential:
    """What a handshake's invite id resolved to."""

    kind: str  # "host", "invite" or "resume"
    psk: bytes = dataclasses.field(repr=False)  # never in a log line or a traceback
    role: str
    invite_id: bytes | None = None
    guest_id: str | None = None


@dataclasses.dataclass(eq=False)
class Peer:
    """One authenticated connection."""

    peer_id: str
    credential: Credential
    role: str
    connected_at: float
    bucket: TokenBucket
    source: str = ""
    name: str = ""
    guest_id: str = ""
    state: str = "handshaken"  # -> "admitted" | "awaiting_admission"
    client: str | None = None
    #: Time of the last request other than ``ping`` (presence: online, idle, away).
    last_active: float = 0.0
    #: The capability card this connection published (``publish_card``), if any.
    card: dict[str, Any] | None = None
    #: Messages that waited for this participant go out after the reply to ``hello``.
    deliver_pending: bool = False
    #: Set once the hub is done with this connection (kick, revoke, deny, disconnect); file
    #: work running for it in a worker thread polls it, and no request of it is applied after.
    gone: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    @property
    def closed(self) -> bool:
        return self.gone.is_set()

    def close(self) -> None:
        """Mark the connection gone (thread-safe; idempotent)."""
        self.gone.set()

    @property
    def is_host(self) -> bool:
        return self.role == "host"

    @property
    def admitted(self) -> bool:
        return self.state == "admitted"


class Job:
    """The rest of one request whose file work runs off the event loop.

    :attr:`work` is the next piece: a callable for a worker thread that touches only the disk
    and its own arguments (never the store, the locks or the peers). Run it, then hand what it
    returned to :meth:`resume`, or what it raised to :meth:`fail`, on the loop: each gives the
    result, or this job again with its next piece of work. Both refuse first (``forbidden``)
    when the peer is gone, so nothing of a kicked peer's request is applied after the kick.
    """

    def __init__(self, core: HubCore, peer: Peer, steps: Steps, *, search: bool = False) -> None:
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

    def _advance(self, step: Callable[[], Callable[[], Any]]) -> Mapping[str, Any] | Job:
        try:
            self.core._require_open(self.peer)
        except OpError:
            self._steps.close()
            raise
        try:
            self.work = step()
        except StopIteration as done:
            result: Mapping[str, Any] = done.value
            return result
        return self


def _nothing() -> None:
    return None


class HubCore(CollabOps):
    """The hub's state machine. One instance per running hub.

    The collaboration ops (messages, tasks, variables, presence, activity log, ``leave``) come
    from :class:`~letswork.hub.collab.CollabOps`.

    Args:
        root: the project folder (resolved).
        store: the opened SQLite store.
        host_secret: the host key (32 bytes) read from the 0600 key file.
        public_url: the ``ws://`` or ``wss://`` URL written into invite codes.
        emit: called with (peer, event name, data) for every event a peer should receive.
        close: called with (peer, close code, reason) to end a peer's connection.
        limits: the limits in force.
        auto_admit: admit guests without asking the host.
    """

    def __init__(
        self,
        root: Path,
        store: Store,
        *,
        host_secret: bytes,
        public_url: str,
        emit: EmitFn,
        close: CloseFn,
        limits: Limits | None = None,
        auto_admit: bool = False,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.store = store
        self.limits = limits or Limits()
        store.limits = self.limits  # its rings and caps (issue 13, item 8)
        self.workspace = Workspace(root, max_file_bytes=self.limits.max_file_bytes)
        # Guests' versions of ignore files outlive the hub (issue 13, item 2).
        self.workspace.rules.set_guest_versions(store.guest_ignore_versions())
        self.locks = LockTable(
            case_insensitive=filesystem_is_case_insensitive(root),
            default_ttl=self.limits.lock_expiry_seconds,
        )
        self.public_url = public_url
        self.auto_admit = auto_admit
        self._emit = emit
        self._close = close
        self._clock = clock
        self._monotonic = monotonic  # search deadlines; read from worker threads too
        #: Bumped by every write the hub makes; ``_written`` holds its value at the last write
        #: to each path (by lock key) and to any ignore file (``_POLICY``). A change prepared
        #: off the loop is prepared again when one of its paths, or the sharing policy, was
        #: written meanwhile; writes to other files leave it be (_written_since).
        self._writes = 0
        self._written: dict[str, int] = {}
        self._host_credential = Credential(
            kind="host", psk=crypto.derive_psk(host_secret), role="host", guest_id=HOST_ID
        )
        self._host_invite_id = crypto.derive_invite_id(host_secret)
        self.peers: dict[str, Peer] = {}
        self._buckets: dict[str, TokenBucket] = {}  # per guest id, kept across reconnects
        #: invite id -> time until which its holders may not knock again (after ``deny``).
        self._deny_until: dict[bytes, float] = {}
        #: invite id -> its budget of hellos that wait for admission (bounded by the invites).
        self._knocks: dict[bytes, TokenBucket] = {}
        #: connections past the handshake whose hello was not accepted yet (see tick).
        self._greeting: dict[str, Peer] = {}
        self._own_writes: dict[str, float] = {}
        #: change id -> the sensitive mark of a pending change whose paths' names do not give it
        #: (it goes through a symlinked sensitive path: Workspace.change_sensitivity)
        self._marks: dict[str, str] = {}
        self.stopping = False
        self.on_shutdown: Callable[[], None] | None = None
        #: sees every broadcast event once (``letswork start --no-ui`` logs them).
        self.observer: Callable[[str, Mapping[str, Any]], None] | None = None
        self._handlers: dict[str, Callable[[Peer, Any, float], Mapping[str, Any] | Steps]] = {
            name[len("op_") :]: getattr(self, name) for name in dir(self) if name.startswith("op_")
        }
        missing = set(OPS) - set(self._handlers)
        if missing:  # pragma: no cover - a catalogue/implementation mismatch is a bug
            raise RuntimeError(f"ops without a handler: {sorted(missing)}")

    # ------------------------------------------------------------------ start-up

    def recover(self, now: float) -> dict[str, int]:
        """Crash reconciliation, run once at start (design section 8).

        Re-takes the lock of every pending change; a change recorded as ``approved`` but not
        ``applied`` is marked applied when the disk already has its result, applied now when the
        disk still has its base, and marked ``conflict`` otherwise. Removes leftover temp files,
        and prunes the store's rings to the caps in force.
        """
        counts = {"pending": 0, "reconciled": 0, "temp_files": self.workspace.cleanup_temp_files()}
        # Rows an older hub wrote at every hello; waiting guests now live in memory only.
        counts["unadmitted_guests"] = self.store.drop_unadmitted_guests()
        self.store.prune()  # a database that grew under larger caps (or before schema 4)
        counts["host_took_back"] = self._drop_stale_guest_versions()
        for row in self.store.list_changes(status="approved"):
            try:
                self._finish_approved(row, now, by=row.decided_by or HOST_ID)
            except OpError as exc:
                # Refused now (git metadata, a full disk, the ignore files' cap): it waits for
                # the host again instead of stopping the hub.
                log.warning("approved change %s not applied at start: %s", row.id, exc.message)
                self.store.set_change_status(row.id, "pending", now=now, by=None)
            counts["reconciled"] += 1
        for row in self.store.list_changes(
            status="pending", include_content=False, include_diff=False
        ):
            self._lock_for_change(row, now)
            self._remember_mark(row, self._sensitivity_on_disk(row))
            counts["pending"] += 1
        return counts

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
        self._greeting[peer.peer_id] = peer
        return peer

    def can_accept_guest(self) -> bool:
        """Whether another guest may be admitted: fewer than ``max_peers`` admitted guests are
        connected (host connections and guests awaiting admission never count)."""
        admitted = sum(1 for p in self.peers.values() if not p.is_host and p.admitted)
        return admitted < self.limits.max_peers

    def _waiting_peers(self, invite_id: bytes | None = None) -> list[Peer]:
        return [
            p
            for p in self.peers.values()
            if p.state == "awaiting_admission"
            and (invite_id is None or p.credential.invite_id == invite_id)
        ]

    def _check_may_knock(self, peer: Peer, now: float) -> None:
        """Refuse an invite's ``hello`` during its deny cooldown or over the waiting caps.

        Raises ``OpError(forbidden)`` (cooldown; ``retry_after`` in seconds),
        ``OpError(rate_limited)`` (over ``KNOCKS_PER_INVITE_PER_MINUTE``; ``retry_after``) or
        ``OpError(quota_exceeded)`` (``MAX_WAITING_PER_INVITE`` / ``MAX_WAITING_TOTAL``). The
        connection is closed (1000) once the error reply is out.
        """
        invite_id = peer.credential.invite_id
        assert invite_id is not None
        until = self._deny_until.get(invite_id)
        if until is not None and until <= now:
            del self._deny_until[invite_id]
        elif until is not None:
            peer.close()
            minutes = max(1, round((until - now) / 60))
            raise op_error(
                ErrorCode.FORBIDDEN,
                "the host turned this invite away; it cannot knock again for about "
                f"{minutes} min (ask the host if that was a mistake)",
                retry_after=round(until - now, 3),
            )
        limits = self.limits
        if self.auto_admit:
            return
        knocks = self._knocks.setdefault(
            invite_id,
            TokenBucket(KNOCKS_PER_INVITE_PER_MINUTE / 60.0, KNOCKS_PER_INVITE_PER_MINUTE),
        )
        if not knocks.take(now):
            peer.close()
            raise op_error(
                ErrorCode.RATE_LIMITED,
                "this invite asked to be admitted too often; wait and retry",
                retry_after=round(knocks.retry_after(now), 3),
            )
        if len(self._waiting_peers(invite_id)) >= limits.max_waiting_per_invite:
            peer.close()
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"{limits.max_waiting_per_invite} guests of this invite are already waiting for "
                "the host to admit them; try again once the host has answered them",
                waiting=limits.max_waiting_per_invite,
            )
        if len(self._waiting_peers()) >= limits.max_waiting_total:
            peer.close()
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"{limits.max_waiting_total} guests are already waiting for the host to admit "
                "them; try again once the host has answered them",
                waiting=limits.max_waiting_total,
            )

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
        self._require_open(peer)
        if not peer.bucket.take(now):
            raise op_error(
                ErrorCode.RATE_LIMITED,
                "too many requests; slow down and retry shortly",
                retry_after=round(peer.bucket.retry_after(now), 3),
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
        outcome = self._handlers[request.op](peer, request.args, now)
        if isinstance(outcome, Generator):
            return Job(self, peer, outcome, search=request.op in _SEARCH_OPS).start()
        return outcome

    @staticmethod
    def _require_open(peer: Peer) -> None:
        """Refuse anything more for a peer that is gone: once kick or revoke has returned, no
        request of that peer is applied, even one already read from its socket."""
        if peer.closed:
            raise op_error(
                ErrorCode.FORBIDDEN, "this connection was closed by the hub; nothing was applied"
            )

    def disconnect(self, peer: Peer, now: float, reason: str = "disconnected") -> None:
        """Forget a connection: release its (non-change) locks and tell the others.

        From here on the peer's requests are refused, and its file work in flight stops.
        """
        peer.close()
        self._greeting.pop(peer.peer_id, None)
        if self.peers.pop(peer.peer_id, None) is None:
            return
        for lock in self.locks.release_all(peer.guest_id if not peer.is_host else peer.peer_id):
            self._broadcast_lock_released(lock, "left")
        if peer.state in ("admitted", "awaiting_admission"):
            self._broadcast(
                "peer_left",
                {"peer_id": peer.peer_id, "name": peer.name, "reason": reason},
                hosts_only=peer.state != "admitted",
            )
        if peer.admitted:  # a waiting guest adds no row (its join was never logged either)
            self._audit(peer, "leave", now, reason=reason)

    def tick(self, now: float) -> None:
        """Periodic housekeeping: expire locks, close connections that never said hello."""
        for lock in self.locks.expire(now):
            self._broadcast_lock_released(lock, "expired")
        for peer in list(self._greeting.values()):
            if now - peer.connected_at >= HELLO_TIMEOUT_SECONDS:
                del self._greeting[peer.peer_id]
                peer.close()
                self._close(peer, crypto.CloseCode.HANDSHAKE_TIMEOUT, "no hello in time")

    # ------------------------------------------------------------------ helpers

    def _holder_id(self, peer: Peer) -> str:
        # Host connections each hold their own locks; a guest's locks follow its identity.
        return peer.peer_id if peer.is_host else peer.guest_id

    def _audit(self, peer: Peer | None, kind: str, now: float, **detail: Any) -> None:
        actor = "host" if peer is None or peer.is_host else peer.name
        actor_id = HOST_ID if peer is None or peer.is_host else (peer.guest_id or None)
        path = detail.pop("path", None)
        self.store.audit(actor, kind, now, path=path, actor_id=actor_id, **detail)

    def _send(self, peer: Peer, name: str, data: Mapping[str, Any]) -> None:
        if not peer.closed:
            self._emit(peer, name, data)

    def _broadcast(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        exclude: Peer | None = None,
        path: str | None = None,
        hosts_only: bool = False,
        redacted: tuple[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Send an event to every admitted peer (guests: only about shared paths).

        ``redacted`` is (guest id, data): guests other than that one get this data instead.
        """
        if self.observer is not None:
            self.observer(name, data)
        shared = True if path is None else self.workspace.rules.is_shared(path)
        for peer in list(self.peers.values()):
            if peer is exclude or not peer.admitted:
                continue
            if not peer.is_host and (hosts_only or not shared):
                continue
            if redacted is not None and not peer.is_host and peer.guest_id != redacted[0]:
                self._send(peer, name, redacted[1])
            else:
                self._send(peer, name, data)

    def _hosts(self) -> Iterable[Peer]:
        return [p for p in self.peers.values() if p.is_host and p.admitted]

    def _lock_info(self, lock: Lock) -> dict[str, Any]:
        return {
            "path": lock.path,
            "holder": lock.holder_name,
            "expires_at": lock.expires_at,
            "change_id": lock.change_id,
        }

    def _broadcast_lock_released(self, lock: Lock, reason: str) -> None:
        self._broadcast(
            "lock_released",
            {"path": lock.path, "holder": lock.holder_name, "reason": reason},
            path=lock.path,
        )

    def _peer_info(self, peer: Peer) -> dict[str, Any]:
        trusted = False
        if not peer.is_host and peer.guest_id:
            row = self.store.get_guest(peer.guest_id)
            trusted = bool(row and row.trusted)
        return {
            "peer_id": peer.peer_id,
            "name": peer.name,
            "role": peer.role,
            "state": "online" if peer.admitted else "awaiting_admission",
            "trusted": peer.is_host or trusted,
            "connected_at": peer.connected_at,
        }

    def _find_peers(self, name: str) -> list[Peer]:
        key = name_key(name)
        return [p for p in self.peers.values() if not p.is_host and name_key(p.name) == key]

    def _guest_by_name(self, name: str) -> GuestRow:
        for peer in self._find_peers(name):
            row = self.store.get_guest(peer.guest_id)
            if row is not None:
                return row
        raise op_error(ErrorCode.NOT_FOUND, f"no connected guest is called {name!r}")

    def _name_in_use(self, name: str, *, exclude: Peer, waiting: bool = True) -> bool:
        """Whether another connected guest is called ``name``; guests awaiting admission
        count only when ``waiting`` (their names never block an admitted guest)."""
        key = name_key(name)
        return any(
            p is not exclude
            and not p.is_host
            and p.guest_id != exclude.guest_id
            and (waiting or p.admitted)
            and name_key(p.name) == key
            for p in self.peers.values()
        )

    def _norm(self, peer: Peer, path: str) -> str:
        """The canonical relative path (checked by safe_join and the sharing rules)."""
        return to_relpath(self.root, self.workspace.resolve(path, is_host=peer.is_host))

    # ------------------------------------------------------------------ session ops

    def op_hello(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        if peer.state != "handshaken":
            raise op_error(ErrorCode.INVALID, "'hello' may only be sent once")
        cred = peer.credential
        if cred.kind == "invite":
            self._check_may_knock(peer, now)
        # Guests awaiting admission do not count against --max-guests; the cap is checked
        # again when the host admits them.
        if (cred.kind == "resume" or self.auto_admit) and cred.kind != "host":
            self._check_session_room()
        peer.client = args.client
        resume_secret: str | None = None
        if cred.kind == "host":
            peer.name = HOST_ID
            peer.guest_id = HOST_ID
            peer.state = "admitted"
        else:
            name = validate_display_name(args.name)
            if cred.kind == "resume":
                assert cred.guest_id is not None
                guest = self.store.get_guest(cred.guest_id)
                if guest is None or guest.state != "admitted":
                    raise op_error(ErrorCode.FORBIDDEN, "this credential is no longer valid")
                peer.guest_id = guest.guest_id
                stored_name = guest.name
            else:
                # Nothing is stored for a guest until it is admitted (_admit writes its row).
                peer.guest_id = secrets.token_hex(8)
            peer.name = name
            # A waiting guest's name never keeps an admitted guest out (it could squat one).
            if self._name_in_use(name, exclude=peer, waiting=cred.kind == "invite"):
                raise op_error(
                    ErrorCode.NAME_TAKEN,
                    f"someone in this session is already called {name!r}; pick another name",
                )
            if cred.kind == "resume":
                if stored_name != name:
                    self.store.set_guest_name(peer.guest_id, name)
                peer.state = "admitted"
            elif self.auto_admit:
                resume_secret = self._admit(peer, now)
            else:
                peer.state = "awaiting_admission"
        if peer.state == "awaiting_admission":
            # One request budget per invite for its waiting connections: opening more of
            # them must not buy more requests. Bounded by the number of invites.
            assert cred.invite_id is not None
            key = "invite:" + cred.invite_id.hex()
            peer.bucket = self._buckets.setdefault(key, peer.bucket)
        elif not peer.is_host:
            # A guest's request budget follows the guest, not the connection: reconnecting
            # must not refill it (each connection used to start with a full burst).
            peer.bucket = self._buckets.setdefault(peer.guest_id, peer.bucket)
        self._greeting.pop(peer.peer_id, None)
        self.peers[peer.peer_id] = peer
        if peer.admitted:  # a waiting guest adds no row anywhere (see admit)
            self._audit(peer, "join", now, role=peer.role, state=peer.state, client=peer.client)
        peer.deliver_pending = peer.admitted  # see after_reply
        if peer.admitted:
            self._broadcast(
                "peer_joined",
                {"peer_id": peer.peer_id, "name": peer.name, "role": peer.role},
                exclude=peer,
            )
        else:
            self._broadcast(
                "awaiting_admission",
                {"peer_id": peer.peer_id, "name": peer.name, "role": peer.role},
                hosts_only=True,
            )
        return {
            "peer_id": peer.peer_id,
            "name": peer.name,
            "role": peer.role,
            "state": peer.state,
            "resume_secret": resume_secret,
            # A folder name that is not UTF-8 cannot be sent: its bytes show as U+FFFD.
            "project": self.root.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "hub_version": __version__,
            "events_seq": 0,
        }

    def _check_session_room(self) -> None:
        if not self.can_accept_guest():
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"the session is full ({self.limits.max_peers} guests); ask the host",
            )

    def _admit(self, peer: Peer, now: float) -> str:
        """Admit a waiting guest: store its row (the first write for this guest) with a fresh
        resume credential; returns the resume secret (hex).

        The invite keeps at most ``max_guests_per_invite`` stored guests: the oldest offline
        ones with no pending change are forgotten (``Store.prune_guests_of_invite``).
        """
        invite_id = peer.credential.invite_id
        assert invite_id is not None
        # Its own request budget from now on: the connection's (auto-admit: it paid for this
        # hello), not the one its invite's waiting guests share.
        limits = self.limits
        own = (
            peer.bucket
            if peer.state == "handshaken"
            else TokenBucket(limits.rate_per_second, limits.rate_burst)
        )
        secret = secrets.token_bytes(32)
        self.store.add_admitted_guest(
            peer.guest_id,
            peer.name,
            peer.role,
            invite_id,
            crypto.derive_invite_id(secret),
            crypto.derive_psk(secret),
            now,
        )
        peer.state = "admitted"
        online = {p.guest_id for p in self.peers.values()} | {peer.guest_id}
        for gone in self.store.prune_guests_of_invite(
            invite_id, keep=limits.max_guests_per_invite, spare=online
        ):
            self._buckets.pop(gone, None)
            self._release_claims(gone, now)  # a forgotten identity's tasks go back to the board
        peer.bucket = self._buckets.setdefault(peer.guest_id, own)
        return secret.hex()

    def op_ping(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        return {"now": now}

    def op_status(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        visible = [p for p in self.peers.values() if p.admitted or peer.is_host or p is peer]
        locks = [
            self._lock_info(lock)
            for lock in self.locks.all(now)
            if peer.is_host or self.workspace.rules.is_shared(lock.path)
        ]
        pending = (
            len(
                self.store.list_changes(status="pending", include_content=False, include_diff=False)
            )
            if peer.is_host
            else self.store.pending_totals(peer.guest_id)[0]
        )
        return {
            "project": self.root.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "you": self._peer_info(peer),
            "peers": [self._peer_info(p) for p in visible],
            "locks": locks,
            "pending": pending,
        }

    def op_set_display_name(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        if peer.is_host:
            raise op_error(ErrorCode.FORBIDDEN, "the host's display name is always 'host'")
        name = validate_display_name(args.name)
        if self._name_in_use(name, exclude=peer):
            raise op_error(ErrorCode.NAME_TAKEN, f"someone is already called {name!r}")
        old = peer.name
        for p in self.peers.values():
            if p.guest_id == peer.guest_id:
                p.name = name
        self.store.set_guest_name(peer.guest_id, name)
        self._audit(peer, "rename", now, old=old, new=name)
        self._broadcast("name_changed", {"peer_id": peer.peer_id, "old": old, "new": name})
        return {"name": name}

    # ------------------------------------------------------------------ file ops

    def _lock_of(self, path: str, now: float) -> dict[str, Any] | None:
        lock = self.locks.holder_of(path, now)
        return self._lock_info(lock) if lock is not None else None

    def _deadline(self, peer: Peer) -> Callable[[], bool]:
        """A ``should_stop`` for file work: true once the peer is gone or the search deadline
        (``limits.search_deadline_seconds`` from now) has passed. Safe to call from a worker."""
        deadline = self._monotonic() + self.limits.search_deadline_seconds
        gone = peer.gone
        clock = self._monotonic
        return lambda: gone.is_set() or clock() >= deadline

    def op_list_files(self, peer: Peer, args: Any, now: float) -> Steps:
        should_stop = self._deadline(peer)
        entries, truncated = yield lambda: self.workspace.list_files(
            args.path,
            recursive=args.recursive,
            depth=args.depth,
            is_host=peer.is_host,
            should_stop=should_stop,
        )
        held = {lock.key: lock for lock in self.locks.all(now)}
        return {
            "entries": [
                {
                    "path": e.path,
                    "kind": e.kind,
                    "size": e.size,
                    "lock": self._lock_info(held[self.locks.key(e.path)])
                    if self.locks.key(e.path) in held
                    else None,
                }
                for e in entries
            ],
            "truncated": truncated,
        }

    def op_read_file(self, peer: Peer, args: Any, now: float) -> Steps:
        ft = yield lambda: self.workspace.read_file(
            args.path, offset=args.offset, limit=args.limit, is_host=peer.is_host
        )
        return dict(vars(ft))  # its fields (asdict deep-copies: ~0.1 ms per read)

    def op_search_files(self, peer: Peer, args: Any, now: float) -> Steps:
        should_stop = self._deadline(peer)
        res = yield lambda: self.workspace.search_files(
            args.pattern,
            path=args.path,
            regex=args.regex,
            glob=args.glob,
            case_sensitive=args.case_sensitive,
            max_results=args.max_results,
            is_host=peer.is_host,
            should_stop=should_stop,
        )
        return {
            "matches": [{"path": m.path, "line": m.line, "text": m.text} for m in res.matches],
            "truncated": res.truncated,
            "files_scanned": res.files_scanned,
            "cut_short": res.cut_short,
        }

    def op_find_files(self, peer: Peer, args: Any, now: float) -> Steps:
        should_stop = self._deadline(peer)
        paths, truncated = yield lambda: self.workspace.find_files(
            args.glob,
            path=args.path,
            max_results=args.max_results,
            is_host=peer.is_host,
            should_stop=should_stop,
        )
        return {"paths": paths, "truncated": truncated}

    # ------------------------------------------------------------------ changes

    def _current(self, peer: Peer, path: str) -> tuple[str, str | None, str | None]:
        """(canonical relative path, current text or None if absent, sha256 or None).

        Every change op goes through here, so locks, diffs and the queue always see the one
        canonical spelling of a path (``./a.py`` and ``a.py/`` are ``a.py``).
        """
        if self.workspace.is_symlink(path):
            raise op_error(
                ErrorCode.INVALID, f"'{path}' is a symlink; letswork never writes through one"
            )
        abspath = self.workspace.resolve(path, is_host=peer.is_host)
        rel = to_relpath(self.root, abspath)
        # Git metadata by name or layout (lstat of a few names per folder, in the worker);
        # checked again right before the change reaches the disk (_apply).
        self.workspace.check_changeable(path)
        if not abspath.exists():
            return rel, None, None
        if not abspath.is_file():
            raise op_error(ErrorCode.NOT_A_FILE, f"'{rel}' is not a regular file")
        text, sha = self.workspace.read_text(rel, is_host=peer.is_host)
        return rel, text, sha

    @staticmethod
    def _check_base(path: str, base: str | None, current: str | None) -> None:
        if base is not None and base != current:
            raise op_error(
                ErrorCode.CONFLICT,
                f"'{path}' changed since you read it (sha256 is now {current or 'absent'}); "
                "read it again and redo your change",
                current_sha256=current,
            )

    def _is_trusted(self, peer: Peer) -> bool:
        if peer.is_host:
            return True
        row = self.store.get_guest(peer.guest_id)
        return bool(row and row.trusted)

    def _change_steps(
        self,
        peer: Peer,
        now: float,
        prepare: Callable[[], _Draft],
        path: str,
        new_path: str | None = None,
    ) -> Steps:
        """Prepare a change off the loop (``prepare``: read, hash, edit, diff, and how
        sensitive ``path`` and ``new_path`` are, as named), then propose it on the loop.
        Prepared again when the hub wrote files meanwhile, so its base, diff and the apply of
        a trusted editor never rest on a stale read."""
        if not self._is_trusted(peer):
            # Before any file work: a guest at its cap costs the hub no read and no diff.
            self._check_pending_room(peer, 0)

        def prepared() -> _Draft:
            draft = prepare()
            sensitive = self.workspace.change_sensitivity(path, new_path)
            return dataclasses.replace(draft, sensitive=sensitive)

        for _ in range(_PREPARE_TRIES):
            writes = self._writes
            draft: _Draft = yield prepared
            if not self._written_since(writes, draft.path, draft.new_path):
                return self._propose(peer, now, draft)
        raise op_error(
            ErrorCode.CONFLICT, "the files kept changing while this change was prepared; retry"
        )

    def _propose(self, peer: Peer, now: float, draft: _Draft) -> Mapping[str, Any]:
        """Common tail of write/edit/delete/move: apply at once or queue a pending change.
        Runs on the loop, with no await before the apply: a kick cannot land in between."""
        self._require_open(peer)
        kind, path, new_path, content = draft.kind, draft.path, draft.new_path, draft.content
        holder = self._holder_id(peer)
        for p in (path, new_path):
            if p is not None:
                self.locks.check_writable(p, holder, now)
        # A change to a sensitive path alters what guests see or runs code on the host: a
        # guest's waits for the host, trusted editor or not (issue 13, item 2).
        sensitive = draft.sensitive or change_sensitivity(path, new_path)
        trusted = self._is_trusted(peer) and (peer.is_host or sensitive is None)
        if not trusted:
            self._check_pending_room(peer, len(content) if content is not None else 0)
        create = draft.create
        row = ChangeRow(
            id=secrets.token_hex(8),  # 64 bits: no collision in any real queue
            author_id=self._holder_id(peer) if peer.is_host else peer.guest_id,
            author_name=peer.name,
            kind=kind,
            path=path,
            new_path=new_path,
            base_sha256=draft.base,
            new_sha256=draft.new_sha,
            content=content,
            diff=draft.diff,
            size=len(content) if content is not None else 0,
            status="pending",
            reason=None,
            created_at=now,
            decided_at=None,
            decided_by=None,
        )
        self._remember_mark(row, sensitive)
        if trusted:
            # Record first ('approved'), then write, then mark 'applied': a crash in between is
            # reconciled on restart by file hashes, like an approval, so no write is unrecorded.
            row = dataclasses.replace(row, status="approved", decided_at=now, decided_by=peer.name)
            with self.store.transaction():  # one commit (one fsync) before touching the disk
                self.store.add_change(row, derive_diff=create)
                self._audit(
                    peer, f"{kind}_applied", now, path=path, change=row.id, new_path=new_path
                )
            try:
                self._apply(row)
            except OpError as exc:
                self.store.set_change_status(
                    row.id, "rejected", now=now, by=peer.name, reason=exc.message
                )
                raise
            row = self.store.set_change_status(row.id, "applied", now=now, by=peer.name)
            self._announce_file(row, by=peer.name)
            reply = {"status": "applied", "change": self._reply_change(row)}
            self._marks.pop(row.id, None)
            return reply
        with self.store.transaction():  # committed before the reply: nothing acknowledged is lost
            self.store.add_change(row, derive_diff=create)
            self._audit(peer, f"{kind}_proposed", now, path=path, change=row.id, new_path=new_path)
        # The submitter learns all of this from the reply; events are for everyone else.
        self._lock_for_change(row, now, author=peer)
        info = self._change_info(row, with_diff=False)
        self._broadcast("change_submitted", {"change": info}, path=path, exclude=peer)
        created = draft.new_text if create else None
        return {"status": "pending", "change": self._reply_change(row, created=created)}

    def _check_pending_room(self, peer: Peer, size: int) -> None:
        """Refuse (``quota_exceeded``) a proposal of ``size`` bytes of content that would take
        the guest's, or all guests', pending changes over their caps. The bytes caps count
        what is stored (content and diff); ``size`` counts only this change's content, so a
        guest may end over its cap by at most one change's diff."""
        count, _ = self.store.pending_totals(peer.guest_id)
        # Bytes as stored (content and diff), not just the content: an edit's diff holds the
        # old text too.
        pending = self.store.usage("pending", peer.guest_id)[1]
        if count >= self.limits.max_pending_per_guest:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"you have {count} pending changes, the limit; wait for the host to decide some",
            )
        if pending + size > self.limits.max_pending_bytes_per_guest:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                "your pending changes would exceed the byte limit; "
                "wait for the host to decide some",
            )
        total, total_bytes = self.store.pending_grand_totals()
        if (
            total >= self.limits.max_pending_total
            or total_bytes + size > self.limits.max_pending_bytes_total
        ):
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"the host has {total} changes from all guests waiting, the session's limit; "
                "wait for the host to decide some",
            )

    def _reply_change(self, row: ChangeRow, *, created: str | None = None) -> dict[str, Any]:
        """The change for the proposer's reply, its diff cut to REPLY_DIFF_CHARS: the full diff
        of a 1 MiB file would double the reply, and ``get_change`` has it whole. ``created``:
        the text of a new file, whose diff (not in ``row``) is built only as far as shown."""
        info = self._change_info(row, with_diff=True)
        if created is not None:
            head, rest = create_diff_head(row.path, created, REPLY_DIFF_CHARS)
        else:
            head, rest = cut_diff(info["diff"] or "", REPLY_DIFF_CHARS)
        if rest:
            head += f"... ({rest} more diff lines; get_change {row.id} shows all)\n"
        info["diff"] = head
        return info

    def _lock_for_change(self, row: ChangeRow, now: float, *, author: Peer | None = None) -> None:
        for p in (row.path, row.new_path):
            if p is None:
                continue
            try:
                lock = self.locks.acquire(p, row.author_id, row.author_name, now, change_id=row.id)
            except OpError:
                continue  # another change already holds it; approval order decides
            self._broadcast("lock_taken", {"lock": self._lock_info(lock)}, path=p, exclude=author)

    def note_disk_change(self, abspath: str, change: str, now: float) -> None:
        """A file changed on disk (watcher): announce it unless the hub itself just wrote it."""
        try:
            rel = to_relpath(self.root, Path(abspath))
        except (OpError, ValueError):
            return
        name = rel.rsplit("/", 1)[-1]
        if git_metadata_reason(rel) is not None or name.startswith(TEMP_PREFIX):
            return
        if git_dir_reason(self.root, rel) is not None:
            return  # inside a bare repository or a worktree's git dir: its refs name branches
        if self.workspace.rules.ignore_file_key(rel) is not None:
            self.workspace.rules.reload()
        written = self._own_writes.pop(rel, None)
        if written is not None and now - written < OWN_WRITE_WINDOW_SECONDS:
            return
        # Written by someone else (the host's editor, a tool): a change read or hashed off
        # the loop meanwhile reads it again (_written_since) instead of writing over it.
        self._writes += 1
        self._note_written(rel)
        self._broadcast("file_changed", {"path": rel, "change": change, "by": None}, path=rel)

    def _note_written(self, path: str) -> None:
        if len(self._written) >= _MAX_WRITE_STAMPS:
            # Forgetting stamps must not make a preparation look fresh: every one made before
            # this write counts as stale instead.
            self._written = {_EVERY_PATH: self._writes - 1}
        self._written[self.locks.key(path)] = self._writes
        if path.rsplit("/", 1)[-1].lower() in (".gitignore", ".letsworkignore"):
            self._written[_POLICY] = self._writes

    def _written_since(self, writes: int, *paths: str | None) -> bool:
        """Whether the hub wrote one of ``paths``, or an ignore file, since ``_writes`` was
        ``writes``: a change read and diffed meanwhile may rest on a stale read."""
        keys = [_EVERY_PATH, _POLICY, *(self.locks.key(p) for p in paths if p is not None)]
        return any(self._written.get(key, 0) > writes for key in keys)

    def _apply(self, row: ChangeRow) -> None:
        """Carry out a change on disk, atomically.

        Raises ``OpError``: ``disk_error`` on OSError, ``forbidden`` when it would touch git
        metadata now (checked again by the workspace), ``quota_exceeded`` over the caps of
        guests' ignore file versions. A guest's change to an ignore file is recorded before
        it reaches the disk; a host's takes the file back once written.
        """
        ws = self.workspace
        now = self._clock()
        ignore_files = self._ignore_files_of(row)
        by_host = row.author_name == HOST_ID
        if ignore_files and not by_host:
            self._record_guest_versions(row, ignore_files, now)
        self._writes += 1
        for p in (row.path, row.new_path):
            if p is not None:
                self._own_writes[p] = now
                self._note_written(p)
        if row.kind in ("write", "edit"):
            assert row.content is not None
            ws.write_atomic(row.path, row.content)
        elif row.kind == "delete":
            ws.delete(row.path)
        elif row.kind == "move":
            assert row.new_path is not None
            ws.move(row.path, row.new_path)
        if by_host:
            rules = ws.rules
            for key in ignore_files:
                if key in rules.guest_versions():
                    self.store.drop_guest_ignore_version(key)
                    rules.drop_guest_version(key)

    def _ignore_files_of(self, row: ChangeRow) -> dict[str, str]:
        """The ignore files ``row`` changes: key -> ``"written"`` (its content),
        ``"removed"`` (a delete, the source of a move) or ``"moved_in"`` (the target of a
        move). Names only: cheap on the loop."""
        rules = self.workspace.rules
        after = [(row.path, "written" if row.kind in ("write", "edit") else "removed")]
        if row.kind == "move" and row.new_path is not None:
            after.append((row.new_path, "moved_in"))
        found: dict[str, str] = {}
        for path, how in after:
            key = rules.record_key(path)  # the key of its record under any spelling
            if key is not None:
                found[key] = how
        return found

    def _ids_after(self, row: ChangeRow, how: str) -> frozenset[str]:
        """How the ignore file ``row`` changes is known once changed (``how``: from
        :meth:`_ignore_files_of`): the ids of its new content (:func:`ignore_file_ids`)."""
        if how == "written":
            assert row.content is not None
            return ignore_file_ids(row.content) | {row.new_sha256 or ABSENT}
        if how == "moved_in":  # the moved file's content, read before the move
            _, ids = self.workspace.rules.disk_state(row.path)
            return ids | {row.base_sha256 or ABSENT}
        return frozenset({ABSENT})

    def _record_guest_versions(
        self, row: ChangeRow, ignore_files: Mapping[str, str], now: float
    ) -> None:
        """Record, before a guest's change ``row`` reaches the disk, that it changes these
        ignore files (from :meth:`_ignore_files_of`), keeping the host's version of each
        (issue 13, item 2).

        The host's version is the file on disk now, unless a guest version recorded earlier is
        still what is on disk: then that record's host version is kept. The version on disk
        now stays a guest version too, so a write that then fails, or a crash before it,
        changes nothing. Reads each ignore file once, and the source of a move onto one.

        Raises:
            OpError: ``quota_exceeded`` over ``max_guest_ignore_files`` or
                ``max_guest_ignore_bytes``, when taking back what the host rewrote since does
                not make room.
        """
        rules = self.workspace.rules
        versions: dict[str, GuestVersion] = {}
        for key, how in ignore_files.items():
            after = self._ids_after(row, how)
            data, ids_now = rules.disk_state(key)
            old = rules.guest_version(key)  # still on disk (or unreadable: assume so)
            if old is not None:
                on_disk = ids_now if not ids_now.isdisjoint(old.guest_shas) else old.guest_shas
                versions[key] = GuestVersion(on_disk | after, old.host_content)
            else:
                versions[key] = GuestVersion(after, data)
        if not self._guest_versions_fit(versions):
            self._drop_stale_guest_versions()
            if not self._guest_versions_fit(versions):
                raise op_error(
                    ErrorCode.QUOTA_EXCEEDED,
                    f"guests' versions of {len(rules.guest_versions())} ignore files are on "
                    "record, the limit; the host takes one back by saving it, or rejects this "
                    "change",
                )
        with self.store.transaction():
            for key, version in versions.items():
                self.store.put_guest_ignore_version(key, version, now)
        for key, version in versions.items():
            rules.put_guest_version(key, version)

    def _guest_versions_fit(self, versions: Mapping[str, GuestVersion]) -> bool:
        merged = {**self.workspace.rules.guest_versions(), **versions}
        size = sum(len(v.host_content or b"") for v in merged.values())
        return (
            len(merged) <= self.limits.max_guest_ignore_files
            and size <= self.limits.max_guest_ignore_bytes
        )

    def _drop_stale_guest_versions(self) -> int:
        """Forget the guest versions no longer on disk (the host wrote those files since);
        returns how many. One ``stat`` per record, and a read where the file changed."""
        rules = self.workspace.rules
        stale = [key for key in rules.guest_versions() if rules.guest_version(key) is None]
        for key in stale:
            self.store.drop_guest_ignore_version(key)
            rules.drop_guest_version(key)
        return len(stale)

    def _announce_file(self, row: ChangeRow, *, by: str) -> None:
        if row.kind == "move":
            assert row.new_path is not None
            self._broadcast(
                "file_changed", {"path": row.path, "change": "deleted", "by": by}, path=row.path
            )
            self._broadcast(
                "file_changed",
                {"path": row.new_path, "change": "created", "by": by},
                path=row.new_path,
            )
            return
        change = (
            "deleted"
            if row.kind == "delete"
            else ("created" if row.base_sha256 is None else "modified")
        )
        self._broadcast(
            "file_changed", {"path": row.path, "change": change, "by": by}, path=row.path
        )

    def _change_info(self, row: ChangeRow, *, with_diff: bool) -> dict[str, Any]:
        sensitive = self._marks.get(row.id) or change_sensitivity(row.path, row.new_path)
        return {
            "id": row.id,
            "author": row.author_name,
            "kind": row.kind,
            "path": row.path,
            "new_path": row.new_path,
            "base_sha256": row.base_sha256,
            "new_sha256": row.new_sha256,
            "status": "pending" if row.status == "approved" else row.status,
            "reason": row.reason,
            "diff": row.diff if with_diff and not row.data_pruned else None,
            "created_at": row.created_at,
            "decided_at": row.decided_at,
            "decided_by": row.decided_by,
            "size": row.size,
            # Optional on the wire: present only for a decided change whose diff was pruned.
            **({"data_pruned": True} if row.data_pruned else {}),
            # Optional on the wire: present only for a change to a sensitive path.
            **({"sensitive": sensitive} if sensitive else {}),
        }

    def op_write_file(self, peer: Peer, args: Any, now: float) -> Steps:
        def prepare() -> _Draft:
            content = args.content.encode("utf-8")
            check_text(content, max_bytes=self.limits.max_file_bytes)
            path, old_text, sha = self._current(peer, args.path)
            self._check_base(path, args.base_sha256, sha)
            return _draft("write", path, None, sha, old_text, args.content)

        return (yield from self._change_steps(peer, now, prepare, args.path))

    def _existing(self, peer: Peer, path: str) -> tuple[str, str, str | None]:
        rel, text, sha = self._current(peer, path)
        if text is None:
            raise op_error(ErrorCode.NOT_FOUND, f"'{rel}' does not exist")
        return rel, text, sha

    def op_edit_file(self, peer: Peer, args: Any, now: float) -> Steps:
        def prepare() -> _Draft:
            path, old_text, sha = self._existing(peer, args.path)
            self._check_base(path, args.base_sha256, sha)
            new_text = apply_edit(
                old_text, args.old_string, args.new_string, replace_all=args.replace_all
            )
            check_text(new_text.encode("utf-8"), max_bytes=self.limits.max_file_bytes)
            return _draft("edit", path, None, sha, old_text, new_text)

        return (yield from self._change_steps(peer, now, prepare, args.path))

    def op_delete_file(self, peer: Peer, args: Any, now: float) -> Steps:
        def prepare() -> _Draft:
            path, old_text, sha = self._existing(peer, args.path)
            self._check_base(path, args.base_sha256, sha)
            return _draft("delete", path, None, sha, old_text, None)

        return (yield from self._change_steps(peer, now, prepare, args.path))

    def op_move_file(self, peer: Peer, args: Any, now: float) -> Steps:
        def prepare() -> _Draft:
            path, _, sha = self._existing(peer, args.path)
            self._check_base(path, args.base_sha256, sha)
            new_path, target_text, _ = self._current(peer, args.new_path)
            target = self.root / new_path
            if target_text is not None or target.exists() or target.is_symlink():
                raise op_error(ErrorCode.EXISTS, f"'{new_path}' already exists")
            return _draft("move", path, new_path, sha, None, None)

        return (yield from self._change_steps(peer, now, prepare, args.path, args.new_path))

    def _visible_change(self, peer: Peer, change_id: str) -> ChangeRow:
        row = self.store.get_change(change_id)
        if row is None or (not peer.is_host and row.author_id != peer.guest_id):
            raise op_error(ErrorCode.NOT_FOUND, f"no change with id {change_id!r}")
        return row

    def op_pending_changes(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        """The queue, oldest first. Diffs are included until half a frame is used; later
        changes come without one (``diff: null``) and ``get_change`` fetches it."""
        # Without diffs (the dashboard's reload after each event) nothing is diffed: a queue
        # of 1 MiB new files rebuilt every diff, 6 ms each, on the loop.
        rows = self.store.list_changes(
            status="pending", include_content=False, include_diff=args.include_diff
        )
        budget = self.limits.max_frame_bytes // 2 if args.include_diff else 0
        changes = []
        for row in rows:
            cost = len(row.diff) + 512
            changes.append(self._change_info(row, with_diff=cost <= budget))
            if cost <= budget:
                budget -= cost
        return {"changes": changes}

    def op_my_changes(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        author = self._holder_id(peer) if peer.is_host else peer.guest_id
        rows = self.store.list_changes(
            status=args.status, author_id=author, include_content=False, include_diff=False
        )
        return {"changes": [self._change_info(r, with_diff=False) for r in rows]}

    def op_get_change(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        return {"change": self._change_info(self._visible_change(peer, args.id), with_diff=True)}

    def _current_sha_for(self, row: ChangeRow) -> str | None:
        return self.workspace.file_sha256(row.path)

    def _decide(
        self,
        row: ChangeRow,
        status: str,
        now: float,
        *,
        by: str,
        reason: str | None = None,
        diff: str | None = None,
    ) -> ChangeRow:
        row = self.store.set_change_status(row.id, status, now=now, by=by, reason=reason, diff=diff)
        while (lock := self.locks.release_change(row.id)) is not None:
            self._broadcast_lock_released(lock, "decided")
        info = self._change_info(row, with_diff=status == "conflict")
        # A conflict's diff holds the proposed text: the author and the host see it, other
        # guests see that the change was decided, never what it said.
        bare = {"change": {**info, "diff": None}}
        self._broadcast(
            "change_decided", {"change": info}, path=row.path, redacted=(row.author_id, bare)
        )
        self._marks.pop(row.id, None)
        return row

    def _remember_mark(self, row: ChangeRow, sensitive: str | None) -> None:
        """Keep ``sensitive`` for the views of ``row`` while it is pending, when the names of
        its paths do not give it (a symlinked sensitive path)."""
        if sensitive is not None and sensitive != change_sensitivity(row.path, row.new_path):
            self._marks[row.id] = sensitive

    def _sensitivity_on_disk(self, row: ChangeRow) -> str | None:
        """:meth:`Workspace.change_sensitivity` of a stored change (file work: at start)."""
        try:
            return self.workspace.change_sensitivity(row.path, row.new_path)
        except OpError:
            return None

    def _finish_approved(
        self,
        row: ChangeRow,
        now: float,
        *,
        by: str,
        current: str | None = None,
        hashed: bool = False,
    ) -> ChangeRow:
        """Second half of approve (also crash reconciliation): apply exactly once.

        ``current`` (with ``hashed``): the file's sha256 (None: absent) as just read off the
        loop by approve; otherwise it is read here (crash reconciliation, before the hub
        serves anyone)."""
        if not hashed:
            current = self._current_sha_for(row)
        done = False
        if row.kind in ("write", "edit"):
            done = current == row.new_sha256
        elif row.kind == "delete":
            done = current is None
        elif row.kind == "move":
            assert row.new_path is not None
            done = current is None and self.workspace.file_sha256(row.new_path) == row.base_sha256
        if not done:
            if current != row.base_sha256:
                return self._conflict(row, now, by=by)
            self._apply(row)
        row = self._decide(row, "applied", now, by=by)
        self._announce_file(row, by=row.author_name)
        return row

    def _conflict(
        self, row: ChangeRow, now: float, *, by: str, diff: str | None = None
    ) -> ChangeRow:
        fresh = diff if diff is not None else self._conflict_diff(row)
        return self._decide(row, "conflict", now, by=by, diff=fresh)

    def _conflict_diff(self, row: ChangeRow) -> str:
        """The diff from the file as it is now to the change's result (file work)."""
        current_text: str | None
        try:
            current_text, _ = self.workspace.read_text(row.path, is_host=True)
        except OpError:
            current_text = None
        new_text = row.content.decode("utf-8") if row.content is not None else None
        return unified_diff(row.path, current_text, new_text, new_path=row.new_path)

    def op_approve_change(self, peer: Peer, args: Any, now: float) -> Steps:
        row = self._visible_change(peer, args.id)
        for _ in range(_PREPARE_TRIES):
            if row.status == "rejected":
                raise op_error(
                    ErrorCode.ALREADY_DECIDED,
                    f"change {row.id} was already rejected",
                    status=row.status,
                )
            if row.status in ("applied", "conflict"):
                return {"change": self._change_info(row, with_diff=True)}
            writes, pending = self._writes, row
            # The file's hash (and a conflict's diff) off the loop; then the change is read
            # again, since another approve or reject may have decided it meanwhile.
            current = yield functools.partial(self._current_sha_for, pending)
            conflict_diff = None
            if row.status == "pending" and current != row.base_sha256:
                conflict_diff = yield functools.partial(self._conflict_diff, pending)
            row = self._visible_change(peer, args.id)
            if not self._written_since(writes, row.path, row.new_path) and (
                row.status == pending.status
            ):
                break
        else:
            raise op_error(
                ErrorCode.CONFLICT, "the files kept changing while this change was checked; retry"
            )
        if row.status == "pending":
            if conflict_diff is not None:
                row = self._conflict(row, now, by=peer.name, diff=conflict_diff)
                self._audit(peer, "change_conflict", now, path=row.path, change=row.id)
                return {"change": self._change_info(row, with_diff=True)}
            # Commit the decision before touching the disk, so a crash in between is
            # reconciled on restart instead of applying twice or losing the approval.
            row = self.store.set_change_status(row.id, "approved", now=now, by=peer.name)
        try:
            row = self._finish_approved(row, now, by=peer.name, current=current, hashed=True)
        except OpError:
            # The disk refused (full, read-only): the change goes back to pending, unchanged.
            self.store.set_change_status(row.id, "pending", now=now, by=None)
            raise
        self._audit(peer, "change_" + row.status, now, path=row.path, change=row.id)
        return {"change": self._change_info(row, with_diff=True)}

    def op_reject_change(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        row = self._visible_change(peer, args.id)
        if row.status == "applied":
            raise op_error(
                ErrorCode.ALREADY_DECIDED, f"change {row.id} was already applied", status=row.status
            )
        if row.status == "rejected":
            return {"change": self._change_info(row, with_diff=False)}
        row = self._decide(row, "rejected", now, by=peer.name, reason=args.reason)
        self._audit(peer, "change_rejected", now, path=row.path, change=row.id, reason=args.reason)
        return {"change": self._change_info(row, with_diff=False)}

    # ------------------------------------------------------------------ locks

    def op_lock_file(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        path = self._norm(peer, args.path)
        lock = self.locks.acquire(path, self._holder_id(peer), peer.name, now, ttl=args.ttl_seconds)
        self._audit(peer, "lock", now, path=path)
        info = self._lock_info(lock)
        self._broadcast("lock_taken", {"lock": info}, path=path)
        return {"lock": info}

    def op_unlock_file(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        lock = self.locks.release(self._norm(peer, args.path), self._holder_id(peer))
        if lock is not None:
            self._audit(peer, "unlock", now, path=lock.path)
            self._broadcast_lock_released(lock, "unlocked")
        return {"released": lock is not None}

    def op_force_unlock(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        lock = self.locks.force_release(self._norm(peer, args.path))
        if lock is not None:
            self._audit(peer, "force_unlock", now, path=lock.path, holder=lock.holder_name)
            self._broadcast_lock_released(lock, "forced")
        return {"released": lock is not None, "holder": lock.holder_name if lock else None}

    # ------------------------------------------------------------------ admin

    def _waiting(self, name: str) -> Peer:
        for peer in self._find_peers(name):
            if peer.state == "awaiting_admission":
                return peer
        raise op_error(ErrorCode.NOT_FOUND, f"no guest called {name!r} is waiting for admission")

    def admit(self, peer: Peer, now: float) -> None:
        """Admit ``peer`` (a waiting guest) and tell everyone.

        Raises ``OpError(quota_exceeded)`` when ``max_peers`` admitted guests are connected and
        ``OpError(name_taken)`` when an admitted guest took its name meanwhile.
        """
        self._check_session_room()
        if self._name_in_use(peer.name, exclude=peer, waiting=False):
            raise op_error(
                ErrorCode.NAME_TAKEN,
                f"an admitted guest is already called {peer.name!r}; deny this one",
            )
        secret = self._admit(peer, now)
        self._audit(peer, "join", now, role=peer.role, state=peer.state, client=peer.client)
        self._send(peer, "admitted", {"name": peer.name, "resume_secret": secret})
        self._broadcast(
            "peer_joined",
            {"peer_id": peer.peer_id, "name": peer.name, "role": peer.role},
            exclude=peer,
        )
        self._deliver_pending(peer, now)

    def op_admit(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        target = self._waiting(args.name)
        self.admit(target, now)
        self._audit(peer, "admit", now, guest=target.name)
        return {"name": target.name}

    def op_deny(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        """Refuse a waiting guest, and with it its invite for ``deny_cooldown_seconds``: every
        other waiting guest of that invite is refused too, and its hellos get ``forbidden``
        until the cooldown ends. Guests the invite already admitted stay. Nothing is stored
        but the host's audit entry."""
        target = self._waiting(args.name)
        invite_id = target.credential.invite_id
        assert invite_id is not None
        self._deny_until[invite_id] = now + self.limits.deny_cooldown_seconds
        self._audit(peer, "deny", now, guest=target.name)
        for other in [target, *(p for p in self._waiting_peers(invite_id) if p is not target)]:
            self._send(other, "denied", {"reason": args.reason})
            self._close(other, crypto.CloseCode.REMOVED, "denied by the host")
            self.disconnect(other, now, "denied")
        return {"name": target.name}

    def _remove_guest(self, target: Peer, now: float, reason: str | None, why: str) -> None:
        self._send(target, "kicked", {"reason": reason})
        self._close(target, crypto.CloseCode.REMOVED, why)
        self.disconnect(target, now, why)

    def op_kick(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        targets = self._find_peers(args.name)
        if not targets:
            raise op_error(ErrorCode.NOT_FOUND, f"no connected guest is called {args.name!r}")
        # A waiting guest can carry an admitted guest's name: the admitted ones are meant.
        targets = [t for t in targets if t.admitted] or targets
        for target in targets:
            if target.admitted:  # a waiting guest has no row
                self.store.set_guest_state(target.guest_id, "kicked")
            self._remove_guest(target, now, args.reason, "kicked by the host")
        for guest_id in dict.fromkeys(t.guest_id for t in targets):
            self._release_claims(guest_id, now)
        self._audit(peer, "kick", now, guest=args.name, reason=args.reason)
        return {"name": targets[0].name}

    def _set_trust(self, peer: Peer, name: str, trusted: bool, now: float) -> Mapping[str, Any]:
        row = self._guest_by_name(name)
        if row.role != "editor":
            raise op_error(ErrorCode.INVALID, f"{name!r} is a viewer; only editors can be trusted")
        self.store.set_trusted(row.guest_id, trusted)
        self._audit(peer, "trust" if trusted else "untrust", now, guest=row.name)
        return {"name": row.name, "trusted": trusted}

    def op_trust(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        return self._set_trust(peer, args.name, True, now)

    def op_untrust(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        return self._set_trust(peer, args.name, False, now)

    def create_invite(self, role: str, label: str | None, now: float) -> tuple[bytes, str]:
        """Mint and store a new invite; returns (invite id, written code)."""
        inv = invite.generate(self.public_url)
        invite_id = crypto.derive_invite_id(inv.secret)
        self.store.add_invite(invite_id, inv.secret, role, label, now)
        return invite_id, inv.format()

    def invite_code(self, invite_id: bytes) -> str:
        """The written code of a stored invite, with the hub's current public URL."""
        row = self.store.get_invite(invite_id)
        if row is None:
            raise op_error(ErrorCode.NOT_FOUND, "no such invite")
        return invite.Invite(secret=row.secret, url=self.public_url).format()

    def op_create_invite(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        invite_id, code = self.create_invite(args.role, args.label, now)
        self._audit(peer, "invite", now, role=args.role, label=args.label)
        return {"invite_id": invite_id.hex(), "code": code, "role": args.role, "label": args.label}

    def op_list_invites(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        return {
            "invites": [
                {
                    "invite_id": r.invite_id.hex(),
                    "role": r.role,
                    "label": r.label,
                    "created_at": r.created_at,
                    "revoked": r.revoked_at is not None,
                    "uses": r.uses,
                }
                for r in self.store.list_invites()
            ]
        }

    def op_revoke_invite(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        rows = self.store.list_invites()
        if args.invite_id is not None:
            matches = [r for r in rows if r.invite_id.hex().startswith(args.invite_id.lower())]
        else:
            matches = [r for r in rows if r.label == args.label]
        if len(matches) != 1:
            raise op_error(
                ErrorCode.NOT_FOUND if not matches else ErrorCode.AMBIGUOUS,
                "no invite matches" if not matches else "more than one invite matches; be precise",
            )
        row = matches[0]
        revoked = self.store.revoke_invite(row.invite_id, now)
        guests = {g.guest_id for g in self.store.revoke_guests_of_invite(row.invite_id)}
        gone: list[str] = []
        for target in list(self.peers.values()):
            if target.credential.invite_id == row.invite_id or target.guest_id in guests:
                gone.append(target.name)
                self._remove_guest(target, now, "the invite was revoked", "invite revoked")
        for guest_id in guests:
            self._release_claims(guest_id, now)
        self._audit(peer, "revoke", now, invite=row.invite_id.hex()[:8], label=row.label)
        return {"invite_id": row.invite_id.hex(), "revoked": revoked, "disconnected": gone}

    def op_shutdown(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        self._audit(peer, "shutdown", now)
        if self.on_shutdown is not None:
            self.on_shutdown()
        return {"stopping": True}

    def shutdown(self, now: float) -> None:
        """Tell everyone the hub is stopping and release every peer's locks."""
        self.stopping = True
        for peer in list(self.peers.values()):
            self._send(peer, "hub_stopping", {})
        for peer in list(self.peers.values()):
            self.disconnect(peer, now, "hub stopped")


@dataclasses.dataclass(frozen=True)
class _Draft:
    """A change as prepared off the loop: what it does, its base and its diff."""

    kind: str
    path: str
    new_path: str | None
    base: str | None
    new_text: str | None
    content: bytes | None
    new_sha: str | None
    diff: str
    #: a new file: its diff is derived from its content by the store
    create: bool
    #: why it alters the sharing policy or runs code on the host (Workspace.change_sensitivity)
    sensitive: str | None = None


def _draft(
    kind: str,
    path: str,
    new_path: str | None,
    base: str | None,
    old_text: str | None,
    new_text: str | None,
) -> _Draft:
    """Hash and diff a change (CPU work, for a worker thread)."""
    content = new_text.encode("utf-8") if new_text is not None else None
    create = kind == "write" and old_text is None and new_path is None and content is not None
    return _Draft(
        kind=kind,
        path=path,
        new_path=new_path,
        base=base,
        new_text=new_text,
        content=content,
        new_sha=sha256_hex(content) if content is not None else None,
        diff="" if create else unified_diff(path, old_text, new_text, new_path=new_path),
        create=create,
    )


def describe_error(exc: BaseException) -> LetsworkError:
    """Map any exception from a handler to a LetsworkError safe to send to the peer."""
    if isinstance(exc, LetsworkError):
        return exc
    return LetsworkError("the hub hit an internal error; the host can see it in the hub log")
