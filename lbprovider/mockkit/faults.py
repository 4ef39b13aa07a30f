"""Injected faults: what a test asks a mock cloud to do wrong, and when.

A :class:`FaultRule` matches actions (all, or a set), fires for the next
``count`` matching calls (or until cleared) with a ``probability``, and then
answers an error ``code`` with ``status``, or drops the connection without an
answer (``kind="drop"``: a timeout or reset as the client sees it), after an
optional ``latency``.  Rules are tried in the order they were added.

Two more kinds serve the reliability runs:

- ``kind="hang"``: the call is held, unanswered and not applied, until the
  rules are cleared (or ``latency`` seconds, default :data:`HANG_SECONDS`),
  then dropped.  With ``after=k`` and ``scope="writes"`` a test knows the
  client made exactly k writes before it stopped: the moment to SIGKILL it.
- ``kind="throttle"``: a token bucket (``burst`` calls at once, ``rate`` per
  second, real time) in front of the cloud; a call finding it empty gets the
  rule's ``code``/``status`` (the cloud's throttling answer).  It is checked
  when reached in the rule order and never used up.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lbprovider.mockkit.counters import is_read

KINDS = ("error", "drop", "hang", "throttle")
SCOPES = ("all", "reads", "writes")
HANG_SECONDS = 300.0
"""How long a ``hang`` holds a call when nothing clears the rules."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    """One injected fault."""

    code: str = "InternalError"
    status: int = 400
    message: str = "fault injected by the test"
    actions: frozenset[str] = frozenset()
    """Empty: every action."""
    count: int | None = 1
    """How many matching calls it fires for; None: until cleared."""
    probability: float = 1.0
    latency: float = 0.0
    """Extra seconds before the answer (or the dropped connection)."""
    kind: str = "error"
    after: int = 0
    """Matching calls that pass untouched before the rule starts firing."""
    scope: str = "all"
    """Which calls it matches besides ``actions``: ``all``, ``reads`` or ``writes``."""
    rate: float = 0.0
    """``throttle``: tokens per second."""
    burst: int = 0
    """``throttle``: the bucket's size (calls at once)."""

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> FaultRule:
        """Parse an admin request body; ValueError names the bad field."""
        known = {
            "code",
            "status",
            "message",
            "actions",
            "count",
            "probability",
            "latency",
            "kind",
            "after",
            "scope",
            "rate",
            "burst",
        }
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        actions = payload.get("actions") or ()
        if isinstance(actions, str):
            actions = (actions,)
        rule = cls(
            code=str(payload.get("code", "InternalError")),
            status=int(payload.get("status", 400)),
            message=str(payload.get("message", "fault injected by the test")),
            actions=frozenset(str(a) for a in actions),
            count=None if payload.get("count", 1) is None else int(payload.get("count", 1)),
            probability=float(payload.get("probability", 1.0)),
            latency=float(payload.get("latency", 0.0)),
            kind=str(payload.get("kind", "error")),
            after=int(payload.get("after", 0)),
            scope=str(payload.get("scope", "all")),
            rate=float(payload.get("rate", 0.0)),
            burst=int(payload.get("burst", 0)),
        )
        if rule.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if rule.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        if rule.after < 0:
            raise ValueError("after must be 0 or more")
        if rule.kind == "throttle" and (rule.rate <= 0 or rule.burst < 1):
            raise ValueError("a throttle needs rate > 0 and burst >= 1")
        if not 0.0 <= rule.probability <= 1.0:
            raise ValueError("probability must be from 0 to 1")
        if rule.count is not None and rule.count < 1:
            raise ValueError("count must be at least 1 (or null: until cleared)")
        return rule

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "actions": sorted(self.actions),
            "count": self.count,
            "probability": self.probability,
            "latency": self.latency,
            "kind": self.kind,
            "after": self.after,
            "scope": self.scope,
            "rate": self.rate,
            "burst": self.burst,
        }

    def matches(self, action: str) -> bool:
        if self.scope != "all" and is_read(action) != (self.scope == "reads"):
            return False
        return not self.actions or action in self.actions


class _Bucket:
    """A throttle rule's tokens (real time: throttling is about the client's pace)."""

    def __init__(self, rule: FaultRule) -> None:
        self.rate = rule.rate
        self.burst = float(rule.burst)
        self.tokens = self.burst
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class FaultPlan:
    """The rules in force and the latency every call gets; thread-safe."""

    seed: int | None = None
    latency: float = 0.0
    """Seconds every call waits before it is answered (a slow cloud)."""
    action_latency: dict[str, float] = field(default_factory=dict)
    _rules: list[FaultRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(init=False)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)
    """Per throttle rule (by identity: those rules are never replaced)."""
    _released: threading.Event = field(default_factory=threading.Event)
    """Set when the rules are cleared: every held (``hang``) call lets go."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - a test's dice, not a secret

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)
            if rule.kind == "throttle":
                self._buckets[id(rule)] = _Bucket(rule)

    def clear(self) -> None:
        """Drop every rule and all latency; release every held call."""
        with self._lock:
            self._rules.clear()
            self._buckets.clear()
            self.latency = 0.0
            self.action_latency.clear()
            released, self._released = self._released, threading.Event()
        released.set()

    def hold(self, rule: FaultRule) -> None:
        """Block a ``hang`` call until the rules are cleared or its time is up."""
        with self._lock:
            released = self._released
        released.wait(rule.latency or HANG_SECONDS)

    def set_latency(self, seconds: float, actions: tuple[str, ...] = ()) -> None:
        with self._lock:
            if actions:
                self.action_latency.update(dict.fromkeys(actions, seconds))
            else:
                self.latency = seconds

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def delay_for(self, action: str) -> float:
        with self._lock:
            return self.action_latency.get(action, self.latency)

    def take(self, action: str) -> FaultRule | None:
        """The rule that fires for this call, if any (its count is spent)."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(action):
                    continue
                if rule.kind == "throttle":
                    bucket = self._buckets.get(id(rule))
                    if bucket is None or bucket.take():
                        continue
                    return rule
                if rule.after > 0:
                    self._rules[index] = replace(rule, after=rule.after - 1)
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    if rule.count <= 1:
                        del self._rules[index]
                    else:
                        self._rules[index] = replace(rule, count=rule.count - 1)
                return rule
        return None
