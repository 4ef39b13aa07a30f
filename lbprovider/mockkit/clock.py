"""One injectable clock for a mock cloud.

Signature expiry checks and asynchronous tasks read :meth:`MockClock.now`, so
a test pins the clock to a captured request's time, or advances it to finish
a task, instead of sleeping.
"""

from __future__ import annotations

import threading
import time


class MockClock:
    """Real time, shifted by an offset, or pinned to a fixed instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pinned: float | None = None
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch as the mock cloud sees them."""
        with self._lock:
            if self._pinned is not None:
                return self._pinned
            return time.time() + self._offset

    def pin(self, at: float) -> None:
        """Stop the clock at ``at`` (epoch seconds)."""
        with self._lock:
            self._pinned = float(at)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (pinned or not)."""
        with self._lock:
            if self._pinned is not None:
                self._pinned += seconds
            else:
                self._offset += seconds

    def free(self) -> None:
        """Back to real time."""
        with self._lock:
            self._pinned = None
            self._offset = 0.0
