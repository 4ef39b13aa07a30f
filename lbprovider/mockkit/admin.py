"""The admin routes every mock cloud answers (test-only, unsigned, not the cloud's API).

======  ======================  ==============================================================
GET     /_admin/state           the cloud's state (its frontend's ``snapshot()``)
GET     /_admin/counters        ``{"reads", "writes", "rejected", "actions": {action: n},
                                "writes_by_key": {access key id: n}, "reads_by_key": {...},
                                "per_second": {epoch second: n}}``
POST    /_admin/reset           counters to zero, faults and latency cleared, clock freed,
                                the cloud's test-only records forgotten (its state kept)
GET     /_admin/faults          the rules in force
POST    /_admin/faults          add a rule: ``{"code", "status", "actions", "count",
                                "probability", "latency", "kind": "error"|"drop"|"hang"|
                                "throttle", "after", "scope": "all"|"reads"|"writes",
                                "rate", "burst"}``
DELETE  /_admin/faults          clear every rule (held ``hang`` calls are dropped)
POST    /_admin/latency         ``{"seconds": 0.05, "actions": [...]}`` (no actions: every call)
POST    /_admin/clock           ``{"now": 1795683400 | "2026-11-26T08:56:40Z" | null}`` pins or
                                frees the clock; ``{"advance": 30}`` moves it forward
======  ======================  ==============================================================

A cloud adds its own routes through ``CloudFrontend.admin_routes()``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lbprovider.mockkit.faults import FaultRule
from lbprovider.mockkit.wire import ADMIN_PREFIX, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from lbprovider.mockkit.server import MockServer

log = logging.getLogger(__name__)


def _json(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )


def _instant(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    stamp = datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return stamp.timestamp()


def _clock(mock: MockServer, payload: dict[str, Any]) -> dict[str, Any]:
    if "advance" in payload:
        mock.clock.advance(float(payload["advance"]))
    elif "now" in payload:
        if payload["now"] is None:
            mock.clock.free()
        else:
            mock.clock.pin(_instant(payload["now"]))
    else:
        raise ValueError("give 'now' (epoch seconds, ISO time or null) or 'advance' (seconds)")
    return {"now": mock.clock.now()}


def handle_admin(mock: MockServer, request: HttpRequest) -> HttpResponse:
    """Answer one ``/_admin/...`` request."""
    name = request.path[len(ADMIN_PREFIX) :].strip("/")
    try:
        payload = json.loads(request.body) if request.body else {}
    except ValueError:
        return _json(400, {"error": "body is not JSON"})
    if not isinstance(payload, dict):
        return _json(400, {"error": "body must be a JSON object"})
    route = (request.method, name)
    try:
        if route == ("GET", "state"):
            return _json(200, mock.frontend.snapshot())
        if route == ("GET", "counters"):
            return _json(200, mock.counters.snapshot())
        if route == ("POST", "reset"):
            mock.counters.reset()
            mock.faults.clear()
            mock.clock.free()
            mock.frontend.reset()
            return _json(200, {})
        if route == ("GET", "faults"):
            return _json(200, {"faults": [rule.to_json() for rule in mock.faults.rules()]})
        if route == ("POST", "faults"):
            mock.faults.add(FaultRule.from_json(payload))
            return _json(200, {})
        if route == ("DELETE", "faults"):
            mock.faults.clear()
            return _json(200, {})
        if route == ("POST", "latency"):
            actions = tuple(str(a) for a in payload.get("actions") or ())
            mock.faults.set_latency(float(payload.get("seconds", 0.0)), actions)
            return _json(200, {})
        if route == ("POST", "clock"):
            return _json(200, _clock(mock, payload))
        extra = mock.frontend.admin_routes().get(route)
        if extra is not None:
            return _json(200, extra(payload))
    except (KeyError, TypeError, ValueError) as error:
        return _json(400, {"error": str(error)})
    except Exception as error:  # an answer, not a dropped connection the test cannot read
        log.exception("mock cloud admin route failed", extra={"route": f"{route[0]} {name}"})
        return _json(500, {"error": f"{type(error).__name__}: {error}"})
    return _json(404, {"error": f"no admin route {request.method} /_admin/{name}"})
