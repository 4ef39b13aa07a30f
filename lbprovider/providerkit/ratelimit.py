"""A client-side token bucket: a provider never calls its cloud faster than configured.

Clouds throttle per account (AWS ELB documents 40 burst / 10 per second for
its Describe calls); staying under the limit on our side is cheaper than
being throttled.  Every attempt of every call takes a token; a caller waits
(outside the lock) until its reserved token is due, so the rate holds across
all workers of a provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lbprovider.providerkit.settings import Field


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """``rate`` calls per second on average, ``burst`` at once."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")


class TokenBucket:
    """Thread-safe token bucket; :meth:`acquire` blocks until a token is due."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(limit.burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take the next token; seconds until it is due (0: now)."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.rate)
            self._updated = now
            self._tokens -= 1.0  # may go negative: a reservation of a future token
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.limit.rate

    def acquire(self) -> float:
        """Wait for a token; the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


def rate_limit_fields(*, qps: float, burst: int, documented: str) -> tuple[Field, Field]:
    """The two settings every provider declares for its client-side limit, with the
    defaults its cloud documents (``documented`` says where, for the reference)."""
    return (
        Field(
            name="rate_limit_qps",
            kind=float,
            default=float(qps),
            minimum=0.1,
            doc=f"Cloud API calls per second, on average, for this class ({documented}).",
        ),
        Field(
            name="rate_limit_burst",
            kind=int,
            default=burst,
            minimum=1,
            doc="Cloud API calls this class may make at once before the rate applies.",
        ),
    )
