""":class:`MockAdmin`: the admin routes from Python, the same for every mock cloud.

Tests, the sandbox, the benchmarks and the reliability runs count calls,
inject faults, add latency and move the clock through this one class,
whichever cloud sits behind the endpoint.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from lbprovider.mockkit.counters import CallCounts


class MockAdmin:
    """The admin interface of the mock cloud at ``endpoint`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._timeout = timeout

    def request(self, method: str, route: str, payload: Mapping[str, Any] | None = None) -> Any:
        """One admin call; RuntimeError carries the mock's message on a non-200 answer."""
        data = None if payload is None else json.dumps(dict(payload)).encode()
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL built here
            f"{self.endpoint}/_admin/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as reply:  # noqa: S310
                body = reply.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"mock admin {method} {route}: {error.code} {error.read().decode()}"
            ) from None
        return json.loads(body) if body else None

    def state(self) -> Any:
        return self.request("GET", "state")

    def counters(self) -> CallCounts:
        return CallCounts.from_json(self.request("GET", "counters"))

    def reset(self) -> None:
        """Counters to zero, faults and latency cleared, clock freed (state is kept)."""
        self.request("POST", "reset", {})

    def inject_fault(
        self,
        code: str,
        *,
        status: int = 400,
        actions: Iterable[str] = (),
        count: int | None = 1,
        probability: float = 1.0,
        latency: float = 0.0,
        kind: str = "error",
        message: str = "fault injected by the test",
        after: int = 0,
        scope: str = "all",
    ) -> None:
        """Add a fault rule (:class:`~lbprovider.mockkit.faults.FaultRule` says what each
        field does); ``kind="hang", after=k, scope="writes", count=None`` holds every
        write after the k-th until :meth:`clear_faults`."""
        self.request(
            "POST",
            "faults",
            {
                "code": code,
                "status": status,
                "actions": list(actions),
                "count": count,
                "probability": probability,
                "latency": latency,
                "kind": kind,
                "message": message,
                "after": after,
                "scope": scope,
            },
        )

    def throttle(
        self,
        code: str,
        *,
        status: int = 400,
        burst: int,
        rate: float,
        actions: Iterable[str] = (),
        message: str = "request rate exceeded (mock token bucket)",
    ) -> None:
        """A token bucket of ``burst`` calls at once and ``rate`` per second in front of the
        cloud; a call finding it empty gets ``code``/``status`` (the cloud's throttling)."""
        self.request(
            "POST",
            "faults",
            {
                "code": code,
                "status": status,
                "actions": list(actions),
                "count": None,
                "kind": "throttle",
                "burst": burst,
                "rate": rate,
                "message": message,
            },
        )

    def clear_faults(self) -> None:
        self.request("DELETE", "faults")

    def set_latency(self, seconds: float, *, actions: Iterable[str] = ()) -> None:
        self.request("POST", "latency", {"seconds": seconds, "actions": list(actions)})

    def pin_clock(self, now: float | str) -> None:
        self.request("POST", "clock", {"now": now})

    def advance_clock(self, seconds: float) -> None:
        self.request("POST", "clock", {"advance": seconds})

    def free_clock(self) -> None:
        self.request("POST", "clock", {"now": None})
