"""A deduplicating, rate-limited work queue (client-go's workqueue semantics).

- A key waiting in the queue is queued once, however often it is added.
- A key being processed is never handed to a second worker; an add while it
  is processed queues it again for after ``done``.
- ``add_rate_limited`` waits per key: 5 s, 10 s, 20 s ... capped at 300 s,
  until ``forget`` resets it (upstream's service controller numbers).
- ``add_after`` waits a fixed delay (the provider's RetryAfter).

An optional :class:`QueueObserver` hears the depth and how long each key
waited for a worker, as client-go's workqueue metrics provider does; the
queue itself knows no metrics library.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

DEFAULT_BASE_DELAY = 5.0
DEFAULT_MAX_DELAY = 300.0


class ExponentialBackoff:
    """Per-key exponential delays: ``base * 2**failures``, capped at ``maximum``."""

    def __init__(self, *, base: float = DEFAULT_BASE_DELAY, maximum: float = DEFAULT_MAX_DELAY):
        self._base = base
        self._maximum = maximum
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def next_delay(self, key: str) -> float:
        """The delay for this key's next retry; counts one more failure."""
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        # 2**failures overflows float for huge counts; the cap is reached long before.
        return min(self._maximum, self._base * float(2 ** min(failures, 32)))

    def forget(self, key: str) -> None:
        """The key succeeded: start again from the base delay."""
        with self._lock:
            self._failures.pop(key, None)


class QueueObserver(Protocol):
    """Hears what the queue's metrics report; called with the queue's lock held."""

    def depth(self, *, ready: int, delayed: int) -> None:
        """Keys waiting for a worker, and keys waiting out a delay."""

    def waited(self, seconds: float) -> None:
        """A key waited this long between becoming ready and a worker taking it."""


class WorkQueue:
    """Keys to sync, handed to workers one at a time per key."""

    def __init__(
        self,
        *,
        backoff: ExponentialBackoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: QueueObserver | None = None,
    ) -> None:
        self.backoff = backoff if backoff is not None else ExponentialBackoff()
        self._clock = clock
        self._observer = observer
        self._ready_since: dict[str, float] = {}
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: list[tuple[float, int, str]] = []
        self._ready_at: dict[str, float] = {}
        self._sequence = itertools.count()
        self._shutting_down = False
        self._condition = threading.Condition()

    def add(self, key: str) -> None:
        """Queue ``key`` now (a no-op when it is already queued)."""
        with self._condition:
            self._add_locked(key)

    def add_all(self, keys: Iterable[str]) -> None:
        """Queue every key of ``keys`` (a node round's thousand keys): one lock, one report
        and one wake-up per key that became ready, instead of a lock and a wake-up each."""
        with self._condition:
            ready = 0
            for key in keys:
                ready += self._add_locked(key, notify=False)
            if ready:
                self._report_locked()
                self._condition.notify(ready)

    def _add_locked(self, key: str, *, notify: bool = True) -> bool:
        if self._shutting_down or key in self._dirty:
            return False
        self._dirty.add(key)
        if key in self._processing:
            return False
        self._enqueue_locked(key, notify=notify)
        return True

    def _enqueue_locked(self, key: str, *, notify: bool = True) -> None:
        self._queue.append(key)
        self._ready_since[key] = self._clock()
        if notify:
            self._report_locked()
            self._condition.notify()

    def _report_locked(self) -> None:
        if self._observer is not None:
            self._observer.depth(ready=len(self._queue), delayed=len(self._ready_at))

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending time wins."""
        if delay <= 0:
            self.add(key)
            return
        with self._condition:
            if self._shutting_down:
                return
            ready = self._clock() + delay
            if key in self._ready_at and self._ready_at[key] <= ready:
                return
            self._ready_at[key] = ready
            heapq.heappush(self._waiting, (ready, next(self._sequence), key))
            self._report_locked()
            self._condition.notify()

    def add_rate_limited(self, key: str) -> float:
        """Queue ``key`` after its next backoff delay; returns that delay."""
        delay = self.backoff.next_delay(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset ``key``'s backoff after a success."""
        self.backoff.forget(key)

    def _promote_due_locked(self) -> float | None:
        """Move due delayed keys to the queue; seconds until the next one, if any."""
        now = self._clock()
        while self._waiting:
            ready, _, key = self._waiting[0]
            if self._ready_at.get(key) != ready:
                heapq.heappop(self._waiting)  # superseded by an earlier time
                continue
            if ready > now:
                return ready - now
            heapq.heappop(self._waiting)
            del self._ready_at[key]
            self._add_locked(key)
        return None

    def get(self, timeout: float | None = None) -> str | None:
        """The next key to process, or None on shutdown (or after ``timeout``)."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._condition:
            while True:
                wait = self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    since = self._ready_since.pop(key, None)
                    if self._observer is not None:
                        if since is not None:
                            self._observer.waited(max(0.0, self._clock() - since))
                        self._report_locked()
                    return key
                if self._shutting_down:
                    return None
                if deadline is not None:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._condition.wait(wait)

    def done(self, key: str) -> None:
        """The worker finished ``key``; re-queue it if it was added meanwhile."""
        with self._condition:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._enqueue_locked(key)

    def shutdown(self) -> None:
        """Wake every worker; ``get`` returns None from now on."""
        with self._condition:
            self._shutting_down = True
            self._condition.notify_all()

    def idle(self) -> bool:
        """Nothing queued and nothing being processed (keys delayed for later aside)."""
        with self._condition:
            return not self._queue and not self._processing

    def __len__(self) -> int:
        with self._condition:
            return len(self._queue) + len(self._ready_at)
