"""The hub's state and the helpers every op group shares: :class:`HubState`.

Handlers (``letswork.hub.ops.<group>``) are functions ``(ctx, peer, args, now) -> result`` that
take a :class:`HubState` as ``ctx``: the peers, the store, the workspace, the locks, the limits
and the ``emit``/``close`` callbacks, plus the few helpers several groups use (events, audit,
names, paths, write stamps). Like the rest of the hub it never reads a clock of its own for a
rule (``now`` is an argument) and never touches a socket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from letswork.hub.eventlog import EventLogs
from letswork.hub.locks import Lock, LockTable, filesystem_is_case_insensitive
from letswork.hub.peers import HOST_ID, Credential, Peer, Person, name_key, participant
from letswork.hub.ratelimit import TokenBucket
from letswork.hub.runs import Run, RunTable, run_info
from letswork.hub.store import Store
from letswork.hub.workspace import Workspace
from letswork.hub.workspace.paths import to_relpath
from letswork.shared import crypto
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.limits import Limits
from letswork.shared.protocol.base import LockInfo, WireModel
from letswork.shared.protocol.session import PeerInfo

#: (peer, event name, data, seq): ``seq`` is the event's number in the peer's identity's log.
EmitFn = Callable[[Peer, str, Mapping[str, Any], int], None]
CloseFn = Callable[[Peer, int, str], None]
#: A handler that needs file work is a generator: it yields the work (a callable for a worker
#: thread) and is sent what the work returned (or has what it raised thrown in); what it
#: returns is the result, the op's result model.
_Result = TypeVar("_Result", bound=WireModel, covariant=True)
Steps = Generator[Callable[[], Any], Any, _Result]
#: One op's handler: (hub state, peer, the op's args model, now) -> its result, or the steps
#: that give it.
Handler = Callable[["HubState", Peer, Any, float], "WireModel | Steps[WireModel]"]

#: Paths whose last write the hub remembers (HubState.written); past them it forgets them all
#: and counts every preparation made before as stale.
_MAX_WRITE_STAMPS = 4096
#: Keys of HubState.written that no path has: any ignore file; every path.
POLICY = "\0policy"
_EVERY_PATH = "\0every"


def dump(model: WireModel) -> dict[str, Any]:
    """``model`` as the hub sends it: the fields that were set, ``None`` included, in the
    model's order (event data, which the server checks against its model again; a reply's
    result goes through :func:`dump_result`)."""
    return model.model_dump(mode="json", exclude_unset=True)


def _json_bytes(data: Mapping[str, Any]) -> int:
    # ASCII-escaped: at least its UTF-8 size, so the log's byte cap holds.
    return len(json.dumps(data, separators=(",", ":")))


def dump_result(model: WireModel) -> dict[str, Any]:
    """``model`` as a reply carries it: the fields that were set, less every optional one (at
    any depth) that holds its default, ``null`` included (docs/protocol.md: senders leave such
    fields out; absent means the default). So a field added to a result with a default, such
    as ``SearchFilesResult.cut_short``, reaches the wire only when it says something, and a
    client whose model predates it (models refuse unknown fields) still takes the reply."""
    return model.model_dump(mode="json", exclude_unset=True, exclude_defaults=True)


def json_size(model: WireModel) -> int:
    """Bytes of ``dump(model)`` as compact UTF-8 JSON (listings stop at ``MAX_LISTING_BYTES``;
    a reply leaves out the fields that hold their default, :func:`dump_result`, so this counts
    at least what it carries).

    Serialised by pydantic-core in one call: the same bytes as ``json.dumps(dump(model),
    ensure_ascii=False, separators=(",", ":"))`` for every item the hub lists (strings are
    UTF-8 without surrogates; its timestamps, from its clock, are 0 or between 1e-4 and 1e16,
    where both write a float alike), at a tenth of the cost on the event loop (26 -> 2 us for
    a task; ``tests/hub/test_listing_size.py``).
    """
    return len(model.__pydantic_serializer__.to_json(model, exclude_unset=True))


class HubState:
    """What the hub knows, and the helpers every op group uses. One instance per running hub
    (:class:`letswork.hub.core.HubCore` is one, with dispatch on top).

    Args:
        root: the project folder (resolved).
        store: the opened SQLite store.
        host_secret: the host key (32 bytes) read from the 0600 key file.
        public_url: the ``ws://`` or ``wss://`` URL written into invite codes.
        emit: called with (peer, event name, data, seq) for every event a peer should
            receive (``seq``: its number in the identity's event log, hub/eventlog.py).
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
        self.workspace.max_text_bytes = max(
            self.limits.max_text_file_bytes, self.limits.max_file_bytes
        )
        # Guests' versions of ignore files outlive the hub (issue 13, item 2).
        self.workspace.rules.set_guest_versions(store.guest_ignore_versions())
        self.locks = LockTable(
            case_insensitive=filesystem_is_case_insensitive(root),
            default_ttl=self.limits.lock_expiry_seconds,
            max_per_holder=self.limits.max_locks_per_holder,
        )
        self.public_url = public_url
        self.auto_admit = auto_admit
        self._emit = emit
        self._close = close
        self._clock = clock
        self._monotonic = monotonic  # search deadlines; read from worker threads too
        #: Bumped by every write the hub makes; ``written`` holds its value at the last write
        #: to each path (by lock key) and to any ignore file (``POLICY``). A change prepared
        #: off the loop is prepared again when one of its paths, or the sharing policy, was
        #: written meanwhile; writes to other files leave it be (written_since).
        self.writes = 0
        self.written: dict[str, int] = {}
        self._host_credential = Credential(
            kind="host", psk=crypto.derive_psk(host_secret), role="host", guest_id=HOST_ID
        )
        self._host_invite_id = crypto.derive_invite_id(host_secret)
        self.peers: dict[str, Peer] = {}
        #: per identity, the broadcasts it was sent, numbered (a reconnect replays them)
        self.events = EventLogs(self.limits)
        self.buckets: dict[str, TokenBucket] = {}  # per guest id, kept across reconnects
        #: guest id -> its budget of renames (bounded by the known identities)
        self.renames: dict[str, TokenBucket] = {}
        #: invite id -> time until which its holders may not knock again (after ``deny``).
        self.deny_until: dict[bytes, float] = {}
        #: invite id -> its budget of hellos that wait for admission (bounded by the invites).
        self.knocks: dict[bytes, TokenBucket] = {}
        #: connections past the handshake whose hello was not accepted yet (see tick).
        self.greeting: dict[str, Peer] = {}
        self.own_writes: dict[str, float] = {}
        #: change id -> the sensitive mark of a pending change whose paths' names do not give it
        #: (it goes through a symlinked sensitive path: Workspace.change_sensitivity)
        self.marks: dict[str, str] = {}
        #: runs of the host's commands (issue 17): hub/runs.py
        self.runs = RunTable(root, clock, self._run_changed)
        #: ids of approved changes whose file a worker is writing now (approve_change, a
        #: trusted large change in propose): no other decision on them until it is done
        self.applying: set[str] = set()
        #: lock key -> how many workers are writing that path now (the changes in
        #: ``applying``): a change prepared meanwhile may have read it before the write landed
        self.being_written: dict[str, int] = {}
        self.stopping = False
        self.on_shutdown: Callable[[], None] | None = None
        #: sees every broadcast event once (``letswork start --no-ui`` logs them).
        self.observer: Callable[[str, Mapping[str, Any]], None] | None = None

    def waiting_peers(self, invite_id: bytes | None = None) -> list[Peer]:
        return [
            p
            for p in self.peers.values()
            if p.state == "awaiting_admission"
            and (invite_id is None or p.credential.invite_id == invite_id)
        ]

    def can_accept_guest(self) -> bool:
        """Whether another guest may be admitted: fewer than ``max_peers`` admitted guests are
        connected (host connections and guests awaiting admission never count)."""
        admitted = sum(1 for p in self.peers.values() if not p.is_host and p.admitted)
        return admitted < self.limits.max_peers

    def disconnect(self, peer: Peer, now: float, reason: str = "disconnected") -> None:
        """Forget a connection and tell the others. A host connection's locks end with it; a
        guest's belong to the guest and stay until they expire, across a disconnect (see
        :meth:`release_guest_locks` for the ends that are sooner: leave, kick, revoke).

        From here on the peer's requests are refused, and its file work in flight stops.
        """
        peer.close()
        self.greeting.pop(peer.peer_id, None)
        if self.peers.pop(peer.peer_id, None) is None:
            return
        if peer.is_host:
            for lock in self.locks.release_all(peer.peer_id):
                self.broadcast_lock_released(lock, "left")
        if peer.state in ("admitted", "awaiting_admission"):
            self.broadcast(
                "peer_left",
                {"peer_id": peer.peer_id, "name": peer.name, "reason": reason},
                hosts_only=peer.state != "admitted",
                exclude=peer,
            )
        if peer.admitted:  # a waiting guest adds no row (its join was never logged either)
            self.audit(peer, "leave", now, reason=reason)
            if not peer.is_host and not self.connections(peer.guest_id):
                self.store.set_guest_seen(peer.guest_id, now)  # "offline since"

    def release_guest_locks(self, guest_id: str) -> int:
        """Release the (non-change) locks of a guest that left the session for good (leave,
        kick, revoke, a forgotten identity); returns how many. Its runs end too, their
        process groups killed."""
        self.runs.end_guest(guest_id, self._clock(), "its guest left the session")
        released = self.locks.release_all(guest_id)
        for lock in released:
            self.broadcast_lock_released(lock, "left")
        return len(released)

    def _run_changed(self, run: Run) -> None:
        """A run changed state or printed more: ``run_updated`` to everyone; its end in the
        audit log."""
        change = "ended" if run.final else "output"
        self.broadcast("run_updated", {"run": dump(run_info(run)), "change": change})
        if run.final:
            self.store.audit(
                run.by,
                "run_ended",
                run.ended_at or self._clock(),
                actor_id=run.guest_id,
                run=run.id,
                command=run.command.name,
                state=run.state,
                exit_code=run.exit_code,
                output_bytes=run.output_bytes,
            )

    def audit(self, peer: Peer | None, kind: str, now: float, **detail: Any) -> None:
        actor = "host" if peer is None or peer.is_host else peer.name
        actor_id = HOST_ID if peer is None or peer.is_host else (peer.guest_id or None)
        path = detail.pop("path", None)
        self.store.audit(actor, kind, now, path=path, actor_id=actor_id, **detail)

    def send(self, peer: Peer, name: str, data: Mapping[str, Any]) -> None:
        """Send one connection an event of its own (not logged: it carries the number of its
        identity's last logged event)."""
        if not peer.closed:
            self._emit(peer, name, data, self.events.last_seq(participant(peer)))

    def broadcast(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        exclude: Peer | None = None,
        path: str | None = None,
        hosts_only: bool = False,
        redacted: tuple[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Send an event to every admitted peer (guests: only about shared paths), and log it
        for every identity it is for, connected or not (hub/eventlog.py).

        ``redacted`` is (guest id, data): guests other than that one get this data instead.
        ``exclude`` is a connection the event is about: it is not sent the event, and its
        identity logs it only when another of its connections is sent it.
        """
        if self.observer is not None:
            self.observer(name, data)
        shared = True if path is None else self.workspace.rules.is_shared(path)
        online: dict[str, list[Peer]] = {}
        for peer in self.peers.values():
            if peer.admitted and not peer.closed:
                online.setdefault(participant(peer), []).append(peer)
        sizes: dict[int, int] = {}
        for ident in {*online, *self.events.idents()}:
            if ident != HOST_ID and (hosts_only or not shared):
                continue
            body = data
            if redacted is not None and ident != HOST_ID and ident != redacted[0]:
                body = redacted[1]
            targets = [p for p in online.get(ident, ()) if p is not exclude]
            if not targets and (ident in online or (exclude and participant(exclude) == ident)):
                continue  # about its only connection: not for its own log
            seq = 0
            log = self.events.get(ident)
            if log is not None:
                size = sizes.get(id(body))
                if size is None:
                    size = sizes[id(body)] = _json_bytes(body)
                seq = log.record(name, body, size)
            for peer in targets:
                self._emit(peer, name, body, seq)

    def open_event_log(self, peer: Peer, after: tuple[str, int] | None, now: float = 0.0) -> None:
        """Open the event log of ``peer``'s identity as it is admitted, and note what of it
        to replay after the reply to ``hello`` (``after``: the client's cursor, (token, last
        seq it saw); a token of another log replays nothing). A guest's replay stays within
        its log's replay budget (REPLAY_BYTES_PER_SECOND): the older events past it are lost."""
        ident = participant(peer)
        online = {participant(p) for p in self.peers.values() if p.admitted and p is not peer}
        known = self.events.get(ident)
        log = self.events.open(ident, online)
        peer.events_log = log.token
        if after is None:
            return
        token, seen = after
        if token == log.token:
            peer.replay = log.since(seen) if peer.is_host else log.replayable(seen, now)
        elif known is None and token.startswith(self.events.epoch + "."):
            # This hub numbered events for the client and has since dropped its log.
            peer.replay = (-1, [])

    def replay_events(self, peer: Peer) -> None:
        """Send ``peer`` what its identity was sent while it was away (see open_event_log),
        once: ``events_missed`` first when some are past the log's bounds."""
        replay, peer.replay = peer.replay, None
        if replay is None or peer.closed:
            return
        lost, entries = replay
        if lost:
            first = entries[0].seq if entries else self.events.last_seq(participant(peer))
            data = {"lost": lost if lost > 0 else None}
            self._emit(peer, "events_missed", data, max(first - 1, 0))
        for entry in entries:
            self._emit(peer, entry.name, entry.data, entry.seq)

    def lock_info(self, lock: Lock) -> LockInfo:
        return LockInfo(
            path=lock.path,
            holder=lock.holder_name,
            expires_at=lock.expires_at,
            change_id=lock.change_id,
        )

    def broadcast_lock_released(self, lock: Lock, reason: str) -> None:
        self.broadcast(
            "lock_released",
            {"path": lock.path, "holder": lock.holder_name, "reason": reason},
            path=lock.path,
        )

    def peer_info(self, peer: Peer) -> PeerInfo:
        trusted = False
        if not peer.is_host and peer.guest_id:
            row = self.store.get_guest(peer.guest_id)
            trusted = bool(row and row.trusted)
        return PeerInfo.model_validate(
            {
                "peer_id": peer.peer_id,
                "name": peer.name,
                "role": peer.role,
                "state": "online" if peer.admitted else "awaiting_admission",
                "trusted": peer.is_host or trusted,
                "connected_at": peer.connected_at,
            }
        )

    def find_peers(self, name: str) -> list[Peer]:
        key = name_key(name)
        return [p for p in self.peers.values() if not p.is_host and name_key(p.name) == key]

    def norm(self, peer: Peer, path: str) -> str:
        """The canonical relative path (checked by safe_join and the sharing rules)."""
        return to_relpath(self.root, self.workspace.resolve(path, is_host=peer.is_host))

    def deadline(self, peer: Peer) -> Callable[[], bool]:
        """A ``should_stop`` for file work: true once the peer is gone or the search deadline
        (``limits.search_deadline_seconds`` from now) has passed. Safe to call from a worker."""
        deadline = self._monotonic() + self.limits.search_deadline_seconds
        gone = peer.gone
        clock = self._monotonic
        return lambda: gone.is_set() or clock() >= deadline

    def is_trusted(self, peer: Peer) -> bool:
        if peer.is_host:
            return True
        row = self.store.get_guest(peer.guest_id)
        return bool(row and row.trusted)

    def connections(self, ident: str) -> list[Peer]:
        """The admitted connections of one participant."""
        return [p for p in self.peers.values() if p.admitted and participant(p) == ident]

    def resolve_person(self, name: str) -> Person:
        """The participant called ``name``: the host, a connected guest, or an admitted guest
        that is offline (the most recently admitted one, if several had that name)."""
        key = name_key(name)
        if key == HOST_ID:
            return Person(HOST_ID, HOST_ID, "host")
        for peer in self.peers.values():
            if peer.admitted and not peer.is_host and name_key(peer.name) == key:
                return Person(peer.guest_id, peer.name, peer.role)
        known = self.store.guests_named(key, ("admitted",))
        if known:
            guest = max(known, key=lambda g: g.admitted_at or g.created_at)
            return Person(guest.guest_id, guest.name, guest.role)
        raise op_error(
            ErrorCode.NOT_FOUND,
            f"no one called {name!r} is in this session; list_peers shows who is",
            name=name,
        )

    def joined_at(self, peer: Peer) -> float:
        """When this participant first joined (0 for the host): broadcasts from before are not
        shown to it."""
        if peer.is_host:
            return 0.0
        row = self.store.get_guest(peer.guest_id)
        return row.created_at if row is not None else 0.0

    def check_session_room(self) -> None:
        if not self.can_accept_guest():
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"the session is full ({self.limits.max_peers} guests); ask the host",
            )

    def note_written(self, path: str) -> None:
        if len(self.written) >= _MAX_WRITE_STAMPS:
            # Forgetting stamps must not make a preparation look fresh: every one made before
            # this write counts as stale instead.
            self.written = {_EVERY_PATH: self.writes - 1}
        self.written[self.locks.key(path)] = self.writes
        if path.rsplit("/", 1)[-1].lower() in (".gitignore", ".letsworkignore"):
            self.written[POLICY] = self.writes

    def written_since(self, writes: int, *paths: str | None) -> bool:
        """Whether the hub wrote one of ``paths``, or an ignore file, since ``_writes`` was
        ``writes``: a change read and diffed meanwhile may rest on a stale read."""
        keys = [_EVERY_PATH, POLICY, *(self.locks.key(p) for p in paths if p is not None)]
        if any(key in self.being_written for key in keys):
            return True  # read while a worker writes it: the read may predate the write
        return any(self.written.get(key, 0) > writes for key in keys)
