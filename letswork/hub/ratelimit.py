"""Rate limiting, pure: the clock is passed in as ``now`` (seconds, any monotone clock).

- :class:`TokenBucket` limits each peer's requests (design section 9: 50/s sustained, burst 200).
- :class:`FailureWindow` limits failed handshakes per source and in total over a sliding window
  (5 per source and 60 in all per minute), in memory bounded whatever an attacker sends.
- :class:`InProgress` caps handshakes in progress, per source and in total.

A clock that steps backwards is tolerated: time simply does not advance until it catches up.
"""

from __future__ import annotations

import collections
import math

# Float slack, so that waiting exactly retry_after() seconds is always enough.
_EPSILON = 1e-9


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` tokens per second; starts full.

    The bucket starts counting at the first ``now`` it is given.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError("rate must be a positive number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
        elif now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now

    def take(self, now: float, n: float = 1.0) -> bool:
        """Take ``n`` tokens if there are that many; ``False`` (and take none) otherwise."""
        self._refill(now)
        if self._tokens + _EPSILON >= n:
            self._tokens = max(0.0, self._tokens - n)
            return True
        return False

    def charge(self, now: float, n: float) -> None:
        """Take ``n`` tokens after the work they pay for, into debt if there are fewer (down
        to ``-10 * burst``): work whose cost was known only once done delays what follows."""
        self._refill(now)
        self._tokens = max(-10.0 * self.burst, self._tokens - n)

    def retry_after(self, now: float, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens will be available (0.0 if they are now)."""
        self._refill(now)
        if self._tokens + _EPSILON >= n:
            return 0.0
        return (n - self._tokens) / self.rate

    def tokens(self, now: float) -> float:
        """Tokens available at ``now``."""
        self._refill(now)
        return self._tokens


class FailureWindow:
    """Failures in the last ``window`` seconds, per key (a source address) and in total.

    A failure at time ``t`` counts while ``now < t + window``. Memory is bounded: at most
    ``per_key`` timestamps per key, ``total`` in the global window, and ``max_keys`` keys (the
    key whose latest failure is oldest is forgotten first).
    """

    def __init__(
        self, *, per_key: int, total: int, window: float = 60.0, max_keys: int = 100_000
    ) -> None:
        if per_key < 1 or total < 1 or max_keys < 1:
            raise ValueError("per_key, total and max_keys must be at least 1")
        if not window > 0:
            raise ValueError("window must be positive")
        self.per_key = per_key
        self.total = total
        self.window = float(window)
        self.max_keys = max_keys
        # Ordered by latest failure, oldest first; each deque keeps the newest per_key times.
        self._keys: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._all: collections.deque[float] = collections.deque(maxlen=total)

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        while self._keys:
            key, times = next(iter(self._keys.items()))
            if times and times[-1] > horizon:
                break
            del self._keys[key]

    def _count(self, key: str, now: float) -> int:
        times = self._keys.get(key)
        if times is None:
            return 0
        horizon = now - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._keys[key]
        return len(times)

    def allowed(self, key: str, now: float) -> bool:
        """``False`` if ``key`` or all keys together are at their cap of recent failures."""
        self._prune(now)
        return len(self._all) < self.total and self._count(key, now) < self.per_key

    def record_failure(self, key: str, now: float) -> None:
        """Count one failure of ``key`` at ``now``."""
        self._prune(now)
        self._all.append(now)
        times = self._keys.get(key)
        if times is None:
            while len(self._keys) >= self.max_keys:
                self._keys.popitem(last=False)
            times = collections.deque(maxlen=self.per_key)
            self._keys[key] = times
        else:
            self._keys.move_to_end(key)
        times.append(max(now, times[-1]) if times else now)

    def failures(self, key: str, now: float) -> int:
        """Failures of ``key`` still inside the window at ``now``."""
        self._prune(now)
        return self._count(key, now)


class InProgress:
    """Slots for work in progress (handshakes), at most ``total`` at once and ``per_key`` per key.

    A holder (any hashable, e.g. a connection) takes a global slot with :meth:`enter`, may then
    be charged to a key with :meth:`assign` (the source, once it is known), and gives both back
    with :meth:`leave`, which is idempotent. Memory is bounded by ``total`` holders.
    """

    def __init__(self, *, per_key: int, total: int) -> None:
        if per_key < 1 or total < 1:
            raise ValueError("per_key and total must be at least 1")
        self.per_key = per_key
        self.total = total
        self._holders: dict[object, str | None] = {}
        self._per_key: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self._holders)

    def holders(self) -> list[object]:
        """Every holder of a slot, oldest first."""
        return list(self._holders)

    def count(self, key: str) -> int:
        """Holders charged to ``key``."""
        return self._per_key.get(key, 0)

    def enter(self, holder: object) -> bool:
        """Take a global slot for ``holder``; ``False`` (and none taken) when all are held."""
        if holder in self._holders:
            return True
        if len(self._holders) >= self.total:
            return False
        self._holders[holder] = None
        return True

    def assign(self, holder: object, key: str) -> bool:
        """Charge ``holder`` (which must hold a slot) to ``key``; ``False`` when ``key`` is at
        its cap or ``holder`` holds no slot. A holder is charged to one key at most."""
        if holder not in self._holders:
            return False
        current = self._holders[holder]
        if current == key:
            return True
        if current is not None or self._per_key[key] >= self.per_key:
            return False
        self._holders[holder] = key
        self._per_key[key] += 1
        return True

    def leave(self, holder: object) -> None:
        """Give back ``holder``'s slot and its key's; nothing if it holds none."""
        if holder not in self._holders:
            return
        key = self._holders.pop(holder)
        if key is not None:
            self._per_key[key] -= 1
            if self._per_key[key] <= 0:
                del self._per_key[key]
