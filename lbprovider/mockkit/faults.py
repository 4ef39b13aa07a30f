"""Injected faults: what a test asks a mock cloud to do wrong, and when.

A :class:`FaultRule` matches actions (all, or a set), fires for the next
``count`` matching calls (or until cleared) with a ``probability``, and then
answers an error ``code`` with ``status``, or drops the connection without an
answer (``kind="drop"``: a timeout or reset as the client sees it), after an
optional ``latency``.  Rules are tried in the order they were added.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

KINDS = ("error", "drop")


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

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> FaultRule:
        """Parse an admin request body; ValueError names the bad field."""
        known = {"code", "status", "message", "actions", "count", "probability", "latency", "kind"}
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
        )
        if rule.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
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
        }

    def matches(self, action: str) -> bool:
        return not self.actions or action in self.actions


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

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - a test's dice, not a secret

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Drop every rule and all latency."""
        with self._lock:
            self._rules.clear()
            self.latency = 0.0
            self.action_latency.clear()

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
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    if rule.count <= 1:
                        del self._rules[index]
                    else:
                        self._rules[index] = replace(rule, count=rule.count - 1)
                return rule
        return None
