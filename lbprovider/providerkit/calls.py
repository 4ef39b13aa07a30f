"""The one way a provider calls its cloud: retries, outcomes, logs and metrics.

Every SDK call goes through :meth:`CloudCaller.call`.  The provider's SDK
wrapper (``api.py``) supplies ``translate``: SDK exception -> the contract's
:class:`~lbprovider.cloud.CloudApiError` (a thin per-cloud subclass), and
:class:`ErrorCodes`: which of the cloud's codes mean throttled, busy,
transient or not found.  Everything else is decided here, once:

- throttling, busy, 5xx and connection errors are retried a bounded number of
  times with jittered exponential waits (a worker is never blocked for long);
- throttling that persists becomes ``RetryAfter`` (the cloud's hint, else
  ``CallPolicy.throttled_retry_after``), and so does a resource that stays
  busy: both are waits, not failures (see the ``Provider`` docstring);
- "not found" is an outcome: :meth:`CloudCaller.call_or_none` answers None;
- every attempt takes a token of the provider's client-side rate limit
  (``CallPolicy.rate_limit``), shared by all its workers;
- each attempt is counted in ``lbprovider_cloud_api_calls_total`` and timed in
  ``lbprovider_cloud_api_call_duration_seconds``; a final failure is one log
  line with code and request id, never a credential.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from lbprovider.cloud import CONNECTION_ERROR, CloudApiError, RetryAfter
from lbprovider.providerkit.metrics import CLOUD_API_CALLS, CLOUD_API_SECONDS
from lbprovider.providerkit.ratelimit import RateLimit, TokenBucket

log = logging.getLogger(__name__)
T = TypeVar("T")

Translate = Callable[[str, BaseException], CloudApiError | None]
"""``translate(action, exc)``: the contract error for an SDK exception, None if not the SDK's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorCodes:
    """How one cloud names the errors the wrapper treats specially."""

    throttling: frozenset[str]
    """Rate limits: retried, then ``RetryAfter``."""
    busy: frozenset[str] = frozenset()
    """The resource is still changing (SLB "configuring", CLB "in operation"):
    retried, then ``RetryAfter``."""
    transient: frozenset[str] = frozenset()
    """Server-side failures answered without a 5xx status (retried, then raised)."""
    not_found: frozenset[str] = frozenset()
    """The object does not exist: an outcome, never retried."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallPolicy:
    """Bounds of the retries inside one call."""

    attempts: int = 3
    """Tries per call, the first included."""
    wait_initial: float = 0.2
    wait_max: float = 2.0
    throttled_retry_after: float = 10.0
    """``RetryAfter`` delay when throttling persists and the cloud gives no hint."""
    busy_retry_after: float = 2.0
    """``RetryAfter`` delay when a resource stays busy."""
    rate_limit: RateLimit | None = None
    """Client-side limit on every attempt of every call of one provider (None: unlimited)."""


class CloudCaller:
    """Calls one cloud's SDK for one provider instance (thread-safe, stateless)."""

    def __init__(
        self,
        *,
        provider: str,
        translate: Translate,
        codes: ErrorCodes,
        policy: CallPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.codes = codes
        self.policy = policy if policy is not None else CallPolicy()
        self._translate = translate
        self._sleep = sleep
        limit = self.policy.rate_limit
        self._bucket = None if limit is None else TokenBucket(limit, clock=clock, sleep=sleep)

    # -- classification -------------------------------------------------------------

    def kind(self, error: CloudApiError) -> str:
        """``throttled``, ``busy``, ``transient``, ``not_found`` or ``error``."""
        if error.code in self.codes.throttling:
            return "throttled"
        if error.code in self.codes.busy:
            return "busy"
        if error.code in self.codes.not_found:
            return "not_found"
        if (
            error.code == CONNECTION_ERROR
            or error.code in self.codes.transient
            or error.status >= 500
        ):
            return "transient"
        return "error"

    def is_not_found(self, error: BaseException) -> bool:
        """True for a :class:`CloudApiError` whose code means "does not exist"."""
        return isinstance(error, CloudApiError) and error.code in self.codes.not_found

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, CloudApiError) and self.kind(error) in (
            "throttled",
            "busy",
            "transient",
        )

    # -- calls ----------------------------------------------------------------------

    def _attempt(self, action: str, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        if self._bucket is not None:
            self._bucket.acquire()
        started = time.monotonic()
        try:
            result = fn(*args, **kwargs)
        except CloudApiError as error:
            self._count(action, self.kind(error), started)
            raise
        except Exception as raw:
            translated = self._translate(action, raw)
            if translated is None:
                raise
            self._count(action, self.kind(translated), started)
            raise translated from None
        self._count(action, "ok", started)
        return result

    def _count(self, action: str, result: str, started: float) -> None:
        CLOUD_API_CALLS.labels(self.provider, action, result).inc()
        CLOUD_API_SECONDS.labels(self.provider, action).observe(time.monotonic() - started)

    def call(self, action: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with bounded retries.

        Raises :class:`RetryAfter` for persistent throttling or a busy
        resource, else the :class:`CloudApiError` of the last attempt.
        """
        try:
            # The first attempt runs bare: tenacity's bookkeeping costs more than a fast
            # call (half of a node round's CPU, measured), and most calls succeed at once.
            return self._attempt(action, fn, args, kwargs)
        except CloudApiError as error:
            if self.policy.attempts <= 1 or not self._retryable(error):
                raise self._final(action, error) from None
            first_failure: CloudApiError | None = error

        def replay_then_attempt() -> T:
            # Tenacity sees the failed first attempt, then waits and retries as configured.
            nonlocal first_failure
            if first_failure is not None:
                failed, first_failure = first_failure, None
                raise failed
            return self._attempt(action, fn, args, kwargs)

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_random_exponential(
                multiplier=self.policy.wait_initial, max=self.policy.wait_max
            ),
            retry=retry_if_exception(self._retryable),
            reraise=True,
            sleep=self._sleep,
            before_sleep=lambda state: log.info(
                "retrying cloud api call",
                extra={
                    "provider": self.provider,
                    "action": action,
                    "attempt": state.attempt_number,
                },
            ),
        )
        try:
            result: T = retrying(replay_then_attempt)
            return result
        except CloudApiError as error:
            raise self._final(action, error) from None

    def _final(self, action: str, error: CloudApiError) -> Exception:
        """What a call raises after its last attempt failed with ``error`` (logged here)."""
        kind = self.kind(error)
        fields = {
            "provider": self.provider,
            "action": action,
            "code": error.code,
            "status": error.status,
            "request_id": error.request_id,
        }
        if kind == "not_found":
            log.debug("cloud api object not found", extra=fields)
            return error
        log.warning("cloud api call failed", extra=fields)
        if kind == "throttled":
            delay = error.retry_after or self.policy.throttled_retry_after
            return RetryAfter(delay, f"{self.provider} {action} throttled ({error.code})")
        if kind == "busy":
            delay = error.retry_after or self.policy.busy_retry_after
            return RetryAfter(delay, f"{self.provider} {action}: resource busy ({error.code})")
        return error

    def call_or_none(
        self, action: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> T | None:
        """Like :meth:`call`, but None when the cloud answers "not found"."""
        try:
            return self.call(action, fn, *args, **kwargs)
        except CloudApiError as error:
            if error.code in self.codes.not_found:
                return None
            raise
