"""A running hub for one project folder: state directory, store, keys, server, file watcher.

:class:`RunningHub` is what ``letswork start`` runs (and what tests start in-process). It owns
the single-instance lock of the folder, so a second ``start`` in the same folder fails with a
clear error instead of two hubs fighting over one SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TypeVar

from letswork.hub.core import HubCore
from letswork.hub.ops.admin import invite_state, live_invite
from letswork.hub.server import HubServer
from letswork.hub.store import Store
from letswork.hub.workspace.index import IndexFull, TreeIndex
from letswork.local import platforms, statedir
from letswork.local.hubinfo import hub_info, write_hub_info
from letswork.shared.errors import UsageError
from letswork.shared.invite import InviteView
from letswork.shared.limits import Limits

log = logging.getLogger("letswork.hub")

_T = TypeVar("_T")

#: Longest Unix socket path used in place (``sun_path`` is 104 bytes on macOS, 108 on Linux).
_MAX_SOCKET_PATH_BYTES = 100
#: The file watcher is started again after a failure, first after this many seconds ...
WATCH_RESTART_FIRST_DELAY = 0.5
#: ... doubling up to this; a watcher that ran longer than this before failing starts over.
WATCH_RESTART_MAX_DELAY = 30.0
#: A build of the folder's index that takes longer than this gives up: requests walk the
#: folder as without an index (a 100k-entry folder builds in about a second).
INDEX_BUILD_DEADLINE_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class HubConfig:
    """Options of ``letswork start`` that reach the hub."""

    project: Path
    bind: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    behind_tunnel: bool = False
    auto_admit: bool = False
    new: bool = False
    first_role: str = "editor"
    limits: Limits = dataclasses.field(default_factory=Limits)
    watch: bool = True
    #: fsync every commit (survives power loss, not only a crash of the hub process).
    fsync: bool = False
    #: wall clock in seconds since the epoch; tests pass a fake one instead of sleeping.
    clock: Callable[[], float] = time.time


class RunningHub:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent)."""

    def __init__(self, config: HubConfig) -> None:
        if not config.project.is_dir():
            raise UsageError(f"the folder {config.project} does not exist or is not a folder")
        self.config = config
        self.root = config.project.resolve()
        self.state = statedir.project_state(self.root)
        self._lock_file: IO[str] | None = None
        self.store: Store | None = None
        self.core: HubCore | None = None
        self.server: HubServer | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stop_watch = asyncio.Event()
        self.first_invite: str | None = None
        self.stop_requested = asyncio.Event()
        self._socket_dir: Path | None = None
        #: one thread for the folder's index: its build, then the watcher's updates
        self._index_pool: ThreadPoolExecutor | None = None
        self._index_sync: asyncio.Future[None] | None = None
        self._after_listen: asyncio.Task[None] | None = None
        #: set while the folder's index is on (tests and benches wait for it)
        self.index_ready = asyncio.Event()

    def _take_folder_lock(self) -> None:
        platforms.require_host_platform()
        import fcntl  # here, not at the top: the guest side imports no POSIX-only module

        fd = os.open(self.state.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        handle = os.fdopen(fd, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                info = hub_info(self.root) or {}
                where = f" (pid {info.get('pid')}, port {info.get('port')})" if info else ""
                raise UsageError(
                    f"a hub is already running for {self.root}{where}; "
                    "use `letswork stop` there first, or `letswork status`"
                ) from None
            raise
        self._lock_file = handle

    async def start(self) -> None:
        """Open the store, reconcile, listen, write ``hub.json``; raises UsageError."""
        cfg = self.config
        self._take_folder_lock()
        try:
            host_key = statedir.load_or_create_key(self.state.host_key_path)
            store_key = statedir.load_or_create_key(self.state.store_key_path)
            self.store = Store.open(self.state.db_path, store_key, fsync=cfg.fsync)
            if cfg.new:
                self.store.wipe()
            port = cfg.port
            if port == 0 and not cfg.new:
                previous = self.store.get_meta("port")
                port = int(previous) if previous and previous.isdigit() else 0
            now = cfg.clock()
            self.core = HubCore(
                self.root,
                self.store,
                host_secret=host_key,
                public_url="ws://127.0.0.1:0",
                emit=lambda *a: None,
                close=lambda *a: None,
                limits=cfg.limits,
                auto_admit=cfg.auto_admit,
                clock=cfg.clock,
            )
            self.core.on_shutdown = self.stop_requested.set
            # Leftover temp files are found after listening (by the index build, or one walk
            # off the loop): a walk of a 100k-file folder here delayed the join line. Before
            # listening, only those of the writes a killed hub had under way (its journal).
            self.core.workspace.defer_temp_cleanup = True
            self.core.workspace.temp_journal = self.state.dir / "temp-files"
            recovered = self.core.recover(now)
            if any(recovered.values()):
                log.info("recovered state: %s", recovered)
            self.server = HubServer(
                self.core,
                bind=cfg.bind,
                port=port,
                behind_tunnel=cfg.behind_tunnel,
                clock=cfg.clock,
                socket_path=self._socket_path(),
            )
            try:
                await self.server.start()
            except OSError as exc:
                if port != cfg.port and exc.errno == errno.EADDRINUSE:
                    self.server.port = cfg.port  # the remembered port is taken: any port
                    await self.server.start()
                elif exc.errno == errno.EADDRINUSE:
                    raise UsageError(
                        f"port {port} on {cfg.bind} is already in use; pick another with --port"
                    ) from None
                else:
                    raise UsageError(
                        f"cannot listen on {cfg.bind}:{port}: {exc.strerror}"
                    ) from None
            self.store.set_meta("port", str(self.server.port))
            self.set_public_url(cfg.public_url or self.local_url)
            self.first_invite = self._first_invite(now)
            write_hub_info(
                self.state,
                {
                    "pid": os.getpid(),
                    "port": self.server.port,
                    "bind": cfg.bind,
                    "local_url": self.local_url,
                    "host_url": self.host_url,
                    "project": str(self.root),
                    "started_at": now,
                },
            )
            self._index_pool = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="letswork-index"
            )
            if cfg.watch:
                self._watcher = asyncio.create_task(self._watch())
            else:
                self._after_listen = asyncio.create_task(self._cleanup_temp_files())
        except BaseException:
            await self.stop()
            raise

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def local_url(self) -> str:
        host = self.config.bind
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - describing, not binding
            host = "127.0.0.1"
        return f"ws://{host}:{self.port}"

    @property
    def host_url(self) -> str:
        """Where the host's own tools connect: ``ws+unix:<socket path>`` when the hub has its
        Unix socket (POSIX), else :attr:`local_url`. See :mod:`letswork.client.connection`."""
        assert self.server is not None
        if self.server.socket_path is not None:
            return "ws+unix:" + str(self.server.socket_path)
        return self.local_url

    def _socket_path(self) -> Path | None:
        """The host's socket: ``hub.sock`` in the 0700 state folder, or in a fresh private
        (0700) temporary folder when that path is too long for ``sun_path``; None off POSIX."""
        if os.name != "posix":
            return None
        path = self.state.dir / "hub.sock"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH_BYTES:
            return path
        self._socket_dir = Path(tempfile.mkdtemp(prefix="letswork-"))
        return self._socket_dir / "hub.sock"

    def set_public_url(self, url: str) -> None:
        """Use ``url`` in invite codes from now on (the tunnel calls this on each restart)."""
        from letswork.shared.invite import normalize_url

        assert self.core is not None and self.store is not None
        self.core.public_url = normalize_url(url)
        self.store.set_meta("public_url", self.core.public_url)

    def _first_invite(self, now: float) -> str:
        """Reprint the session's first invite while someone new can use it, or mint one.

        A new one is labelled ``first`` only if no invite ever was: after ``revoke first`` a
        restart mints ``first-2`` (then ``first-3``...), so ``revoke first`` stays
        unambiguous.
        """
        assert self.core is not None and self.store is not None
        labels = {row.label for row in self.store.list_invites()}
        for n in range(1, len(labels) + 2):
            label = "first" if n == 1 else f"first-{n}"
            live = live_invite(self.core, now, label=label)
            if live is not None:
                return self.core.invite_code(live.invite_id)
            if label not in labels:
                break
        _, code = self.core.create_invite(self.config.first_role, label, now)
        return code

    def invite_view(self, invite_id: str | None = None) -> InviteView | None:
        """An invite for the host's screens (the dashboard's invite box): with ``invite_id``
        (hex, or a unique prefix of it) that invite whatever its state, so a box can say it
        was used or revoked; without, the newest live one. ``None`` when there is none."""
        assert self.core is not None and self.store is not None
        now = self.config.clock()
        if invite_id is None:
            row = live_invite(self.core, now)
        else:
            rows = [r for r in self.store.list_invites() if r.invite_id.hex().startswith(invite_id)]
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            return None
        return InviteView(
            code=self.core.invite_code(row.invite_id),
            invite_id=row.invite_id.hex(),
            role=row.role,
            label=row.label,
            uses=row.uses,
            max_uses=row.max_uses,
            expires_at=row.expires_at,
            state=invite_state(row, now),
        )

    def current_invite(self) -> str:
        """The first invite's code with the current public URL."""
        assert self.store is not None and self.core is not None
        return self._first_invite(self.config.clock())

    async def _off_loop(self, work: Callable[[], _T]) -> _T:
        """``work`` on the index's thread (one at a time, never on the event loop)."""
        assert self._index_pool is not None
        return await asyncio.get_running_loop().run_in_executor(self._index_pool, work)

    async def _cleanup_temp_files(self) -> None:
        """Remove leftover temp files off the loop, after listening (no index to do it)."""
        assert self.core is not None
        ws = self.core.workspace
        ws.defer_temp_cleanup = False
        try:
            removed = await self._off_loop(ws.cleanup_temp_files)
        except Exception:  # pragma: no cover - a bug must not stop the hub
            log.exception("removing leftover temp files failed")
            return
        if removed:
            log.info("removed %d leftover temp files", removed)

    async def _build_index(self, index: TreeIndex) -> None:
        """Build ``index`` on the index's thread, with a deadline, and turn it on; on a cap,
        the deadline or an error, requests keep walking the folder (logged, never raised).
        The first build also removes leftover temp files (start-up recovery)."""
        assert self.core is not None
        ws = self.core.workspace
        first = ws.defer_temp_cleanup
        deadline = time.monotonic() + INDEX_BUILD_DEADLINE_SECONDS
        stop = self._stop_watch

        def should_stop() -> bool:
            return stop.is_set() or time.monotonic() >= deadline

        started = time.monotonic()
        try:
            await self._off_loop(lambda: index.build(should_stop, remove_temps=first))
        except IndexFull as exc:
            if not stop.is_set():
                log.warning("no file index (%s); requests walk the folder", exc)
        except Exception:
            log.exception("building the file index failed; requests walk the folder")
        else:
            ws.index = index
            self.index_ready.set()
            self._sync_index(index)
            log.info("file index: %d entries in %.2fs", len(index), time.monotonic() - started)
        if first and not stop.is_set():
            ws.defer_temp_cleanup = False
            if not index.ready:
                await self._cleanup_temp_files()  # the build may have stopped half-way
            elif index.temps_removed:
                log.info("removed %d leftover temp files", index.temps_removed)

    def _sync_index(self, index: TreeIndex) -> None:
        """Apply the paths noted in ``index`` on its thread; one sync at a time, and another
        when paths were noted while one ran. Requests sync too before they read it."""
        if self._index_sync is not None and not self._index_sync.done():
            return
        if self._index_pool is None or self._stop_watch.is_set():
            return

        def again(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is None and index._pending:
                self._sync_index(index)

        self._index_sync = asyncio.get_running_loop().run_in_executor(self._index_pool, index.sync)
        self._index_sync.add_done_callback(again)

    async def _watch(self) -> None:
        """Keep the folder's index and tell peers about files changed on disk by someone other
        than the hub.

        Each (re)start of the watcher builds a new index once the watches are in place, so no
        change falls between the build and the watcher; until it is built requests walk the
        folder. Every change reaches the index (bursts are coalesced by :meth:`_sync_index`);
        peers hear of those that watchfiles' default filter passes (not ``__pycache__``,
        ``node_modules``, editors' swap files...), as before the index.

        The watcher is started again when it fails: watchfiles gives up on a whole batch, and
        ends, when one changed path is not UTF-8 (a file name in bytes 0x80-0xFF, from an
        archive or another tool), which would otherwise silence on-disk edits for the rest of
        the session. Restarts back off from :data:`WATCH_RESTART_FIRST_DELAY` to
        :data:`WATCH_RESTART_MAX_DELAY`; edits in that batch and during the pause are not
        announced (guests' ``base_sha256`` still catches a file that changed under them).
        """
        try:
            from watchfiles import Change, DefaultFilter, awatch
        except ImportError:  # pragma: no cover - watchfiles is a dependency
            return
        kinds = {Change.added: "created", Change.modified: "modified", Change.deleted: "deleted"}
        announced = DefaultFilter()
        assert self.core is not None
        core = self.core
        ws = core.workspace
        delay = WATCH_RESTART_FIRST_DELAY
        while not self._stop_watch.is_set():
            started = time.monotonic()
            index = TreeIndex(ws)
            ws.index = None  # changes while no watcher ran are not in any index
            self.index_ready.clear()
            ws.rules.on_change = index.note
            build: asyncio.Task[None] | None = None

            def registered(index: TreeIndex = index) -> None:
                nonlocal build
                build = asyncio.create_task(self._build_index(index))

            try:
                gen = awatch(
                    self.root,
                    stop_event=self._stop_watch,
                    debounce=200,
                    recursive=True,
                    watch_filter=None,
                )
                async for changes in _after_first_step(gen, registered):
                    index.note_abspaths(path for _, path in changes)
                    if ws.index is index:
                        self._sync_index(index)
                    for change, abspath in changes:
                        if announced(change, abspath):
                            core.note_disk_change(
                                abspath, kinds.get(change, "modified"), self.config.clock()
                            )
                return
            except Exception as exc:
                ws.index = None
                self.index_ready.clear()
                if time.monotonic() - started > WATCH_RESTART_MAX_DELAY:
                    delay = WATCH_RESTART_FIRST_DELAY  # it had been working: start over
                while getattr(exc, "exceptions", None):  # the task group's first error
                    exc = exc.exceptions[0]  # type: ignore[attr-defined]
                log.warning(
                    "the file watcher failed (%s); starting it again in %.1fs",
                    str(exc)[:300] or type(exc).__name__,
                    delay,
                )
            finally:
                if build is not None and not build.done():
                    with contextlib.suppress(BaseException):
                        await build  # ends at its deadline, or now if stopping
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop_watch.wait(), delay)
            delay = min(delay * 2, WATCH_RESTART_MAX_DELAY)

    async def stop(self) -> None:
        """Stop serving, release locks, close the store; safe to call more than once."""
        self._stop_watch.set()
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._watcher, timeout=5)
            self._watcher = None
        if self._after_listen is not None:
            self._after_listen.cancel()
            with contextlib.suppress(BaseException):
                await self._after_listen
            self._after_listen = None
        if self._index_pool is not None:
            # Not waited for on the loop: a build under way sees the stop and ends.
            self._index_pool.shutdown(wait=False, cancel_futures=True)
            self._index_pool = None
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._lock_file is not None:  # only the hub holding the lock owns hub.json
            with contextlib.suppress(OSError):
                self.state.hub_info_path.unlink()
            self._lock_file.close()
            self._lock_file = None


async def _after_first_step(
    gen: AsyncIterator[_T], on_first_step: Callable[[], None]
) -> AsyncIterator[_T]:
    """The items of ``gen``, calling ``on_first_step`` once ``gen`` has run up to its first
    pause: watchfiles' ``awatch`` puts its watches in place there (synchronously, in its
    ``RustNotify``) before it waits for changes in a thread."""
    it = gen.__aiter__()
    step: asyncio.Future[_T] = asyncio.ensure_future(it.__anext__())
    try:
        await asyncio.sleep(0)  # one turn of the loop: the task above takes its first step
        on_first_step()
        while True:
            try:
                item = await step
            except StopAsyncIteration:
                return
            yield item
            step = asyncio.ensure_future(it.__anext__())
    finally:
        if not step.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
