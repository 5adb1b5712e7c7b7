"""The lock table: exclusive per-path locks, pure (the clock is passed in, no I/O).

A lock on a path has one holder (a guest id, or a host connection id) and up to two kinds of
hold, which end independently:

- a *manual* hold (``lock_file``), which expires ``ttl`` seconds after it was taken or last
  refreshed, and ends on ``unlock_file`` or when the holder's session ends;
- *change* holds, one per pending change of that holder on the path (``acquire(...,
  change_id=...)``); they never expire and end only through :meth:`LockTable.release_change`
  (the change was approved or rejected) or :meth:`LockTable.force_release`.

The lock exists while at least one hold does. :class:`Lock` is the public snapshot; its
``change_id`` is the most recent change holding it (``None`` for a manual-only lock), and its
``expires_at`` only matters while ``change_id`` is ``None``.

``now`` and ``expires_at`` are wall-clock seconds (``time.time()``): they are shown to people.
"""

from __future__ import annotations

import dataclasses
import time
import unicodedata
from pathlib import Path

from letswork.local import platforms
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, op_error


@dataclasses.dataclass(frozen=True)
class Lock:
    """A snapshot of one lock.

    Attributes:
        path: the path as the holder wrote it (for display).
        key: the comparison key (:meth:`LockTable.key` of ``path``).
        holder_id: guest id, or the host connection's id.
        holder_name: the holder's display name.
        expires_at: when the manual hold ends; irrelevant while ``change_id`` is set.
        change_id: the latest pending change holding the lock, or ``None``.
    """

    path: str
    key: str
    holder_id: str
    holder_name: str
    expires_at: float
    change_id: str | None


@dataclasses.dataclass
class _Entry:
    path: str
    key: str
    holder_id: str
    holder_name: str
    expires_at: float
    manual: bool
    change_ids: list[str]

    def snapshot(self) -> Lock:
        return Lock(
            path=self.path,
            key=self.key,
            holder_id=self.holder_id,
            holder_name=self.holder_name,
            expires_at=self.expires_at,
            change_id=self.change_ids[-1] if self.change_ids else None,
        )

    def live(self, now: float) -> bool:
        return bool(self.change_ids) or (self.manual and now < self.expires_at)


def _clock_text(expires_at: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(expires_at))


class LockTable:
    """Exclusive locks keyed by path (case-folded on case-insensitive filesystems)."""

    def __init__(
        self,
        *,
        case_insensitive: bool,
        default_ttl: float = limits.LOCK_EXPIRY_SECONDS,
        max_per_holder: int = limits.MAX_LOCKS_PER_HOLDER,
    ) -> None:
        if default_ttl <= 0:
            raise ValueError("default_ttl must be positive")
        self.case_insensitive = case_insensitive
        self.default_ttl = default_ttl
        #: live manual locks one holder may have (change holds are bounded by the queue)
        self.max_per_holder = max_per_holder
        self._entries: dict[str, _Entry] = {}

    def key(self, path: str) -> str:
        """The comparison key of ``path``.

        On a case-insensitive filesystem: the Unicode caseless form (NFD, casefold, NFC), so
        ``Readme.md`` and ``README.MD`` (and composed/decomposed accents) share one lock.
        """
        if not self.case_insensitive:
            return path
        return unicodedata.normalize("NFC", unicodedata.normalize("NFD", path).casefold())

    # -- taking ---------------------------------------------------------------------------------

    def _live_entry(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not entry.live(now):
            del self._entries[key]
            return None
        return entry

    def acquire(
        self,
        path: str,
        holder_id: str,
        holder_name: str,
        now: float,
        *,
        ttl: float | None = None,
        change_id: str | None = None,
    ) -> Lock:
        """Take or refresh the lock on ``path``.

        Without ``change_id`` this is a manual hold lasting ``ttl`` (default ``default_ttl``)
        seconds; taking it again refreshes it. With ``change_id`` it adds a change hold, which
        never expires. The same holder may hold a path for several changes at once.

        Raises:
            OpError: ``locked`` if another holder has a live lock on the path; ``data`` has
                ``holder``, ``expires_at`` (``None`` for a change lock) and ``change_id``.
            ValueError: ``ttl`` is not positive.
        """
        duration = self.default_ttl if ttl is None else ttl
        if duration <= 0:
            raise ValueError("ttl must be positive")
        key = self.key(path)
        entry = self._live_entry(key, now)
        if entry is not None and entry.holder_id != holder_id:
            raise self._locked_error(path, entry)
        if entry is None:
            if change_id is None:
                self._check_room(holder_id, now)
            entry = _Entry(path, key, holder_id, holder_name, now + duration, False, [])
            self._entries[key] = entry
        entry.holder_name = holder_name
        if change_id is None:
            entry.manual = True
            entry.expires_at = now + duration
        else:
            if change_id not in entry.change_ids:
                entry.change_ids.append(change_id)
            if not entry.manual:
                entry.expires_at = now + duration
        return entry.snapshot()

    def _check_room(self, holder_id: str, now: float) -> None:
        """Raises: OpError ``quota_exceeded`` when ``holder_id`` has ``max_per_holder`` live
        manual locks (a guest's outlive its connection: without a cap, one guest could lock
        paths at its request rate for a day and leave them behind)."""
        held = sum(
            1
            for e in self._entries.values()
            if e.holder_id == holder_id and e.manual and e.live(now)
        )
        if held >= self.max_per_holder:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"you hold {held} locks, the limit; unlock some (unlock_file) first",
                limit=self.max_per_holder,
            )

    @staticmethod
    def _locked_error(path: str, entry: _Entry) -> OpError:
        if entry.change_ids:
            change = entry.change_ids[-1]
            return op_error(
                ErrorCode.LOCKED,
                f"'{path}' is locked by {entry.holder_name}'s pending change {change} until the "
                "host approves or rejects it",
                holder=entry.holder_name,
                expires_at=None,
                change_id=change,
            )
        return op_error(
            ErrorCode.LOCKED,
            f"'{path}' is locked by {entry.holder_name} until {_clock_text(entry.expires_at)}; "
            "ask them to unlock it, or wait for the lock to expire",
            holder=entry.holder_name,
            expires_at=entry.expires_at,
            change_id=None,
        )

    # -- releasing ------------------------------------------------------------------------------

    def release(self, path: str, holder_id: str, *, now: float | None = None) -> Lock | None:
        """Release the caller's own manual lock on ``path``.

        Returns the released lock, or ``None`` if the path is not locked. With ``now``, a lock
        whose time is up counts as not locked even before :meth:`expire` has removed it.

        Raises:
            OpError: ``locked`` if someone else holds it, or if the caller's own pending change
                holds it (that hold ends when the host decides the change).
        """
        key = self.key(path)
        entry = self._entries.get(key) if now is None else self._live_entry(key, now)
        if entry is None:
            return None
        if entry.holder_id != holder_id:
            raise op_error(
                ErrorCode.LOCKED,
                f"'{entry.path}' is locked by {entry.holder_name}, not by you; only they or the "
                "host (force_unlock) can release it",
                holder=entry.holder_name,
            )
        if entry.change_ids:
            change = entry.change_ids[-1]
            entry.manual = False
            raise op_error(
                ErrorCode.LOCKED,
                f"'{entry.path}' is held by your pending change {change}; the lock is released "
                "when the host approves or rejects it",
                holder=entry.holder_name,
                change_id=change,
            )
        del self._entries[key]
        return entry.snapshot()

    def rename_holder(self, holder_id: str, name: str) -> int:
        """Show ``name`` as the holder of every lock ``holder_id`` holds; returns how many."""
        entries = [e for e in self._entries.values() if e.holder_id == holder_id]
        for entry in entries:
            entry.holder_name = name
        return len(entries)

    def force_release(self, path: str) -> Lock | None:
        """Remove the lock on ``path`` whoever holds it, change holds included (host only)."""
        entry = self._entries.pop(self.key(path), None)
        return None if entry is None else entry.snapshot()

    def release_all(self, holder_id: str, *, keep_change_locks: bool = True) -> list[Lock]:
        """End every hold of ``holder_id`` (session ended, kicked); returns the locks removed.

        With ``keep_change_locks`` (the default) holds of pending changes stay, so a path with
        a pending change stays locked even after its author leaves.
        """
        released: list[Lock] = []
        for key, entry in list(self._entries.items()):
            if entry.holder_id != holder_id:
                continue
            entry.manual = False
            if keep_change_locks and entry.change_ids:
                continue
            del self._entries[key]
            released.append(entry.snapshot())
        return released

    def release_change(self, change_id: str) -> Lock | None:
        """Drop one change's hold; returns the next lock this freed, or ``None`` when done.

        A move holds two paths, so call this until it returns ``None``
        (or use :meth:`release_change_locks`). A path still held by the holder's manual lock or
        another pending change stays locked and is not returned.
        """
        for key, entry in list(self._entries.items()):
            if change_id not in entry.change_ids:
                continue
            entry.change_ids.remove(change_id)
            if entry.change_ids or entry.manual:
                continue
            del self._entries[key]
            return entry.snapshot()
        return None

    def release_change_locks(self, change_id: str) -> list[Lock]:
        """Drop every hold of one change; returns the locks this freed."""
        released: list[Lock] = []
        while (lock := self.release_change(change_id)) is not None:
            released.append(lock)
        return released

    def expire(self, now: float) -> list[Lock]:
        """End manual holds whose time is up; returns the locks removed as a result."""
        expired: list[Lock] = []
        for key, entry in list(self._entries.items()):
            if entry.manual and now >= entry.expires_at:
                entry.manual = False
            if not entry.manual and not entry.change_ids:
                del self._entries[key]
                expired.append(entry.snapshot())
        return expired

    # -- queries --------------------------------------------------------------------------------

    def holder_of(self, path: str, now: float) -> Lock | None:
        """The live lock on ``path``, or ``None`` (expired locks are ignored)."""
        entry = self._entries.get(self.key(path))
        if entry is None or not entry.live(now):
            return None
        return entry.snapshot()

    def check_writable(self, path: str, holder_id: str, now: float) -> None:
        """Raise ``OpError(locked)`` if someone other than ``holder_id`` holds ``path``."""
        entry = self._entries.get(self.key(path))
        if entry is not None and entry.live(now) and entry.holder_id != holder_id:
            raise self._locked_error(path, entry)

    def all(self, now: float) -> list[Lock]:
        """Every live lock, sorted by path."""
        live = [entry.snapshot() for entry in self._entries.values() if entry.live(now)]
        return sorted(live, key=lambda lock: lock.path)


def filesystem_is_case_insensitive(root: Path) -> bool:
    """Whether names in the directory ``root`` are compared case-insensitively: the one probe
    the sharing rules use too, :func:`letswork.local.platforms.folds_case`."""
    return platforms.folds_case(root)
