"""Call counters: one notion of a read and a write for every mock cloud.

A read is an action whose name starts with one of :data:`READ_PREFIXES`
(``DescribeLoadBalancers``, ``ListTags``...); every other action is a write.
Calls are counted once authenticated, whether they succeed, fail or are
faulted: that is what the cloud would bill and throttle.  Each call is also
counted under the access key that signed it (:func:`access_key_of`), so a test
can tell which of several controller processes made a write, and per
wall-clock second (``per_second``), so a test can measure a client's call
rate where the cloud would.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs

from lbprovider.mockkit.wire import HttpRequest

K = TypeVar("K", str, int)
READ_PREFIXES = ("Describe", "List", "Get", "Query", "Inquiry")
# AWS SigV4 and Tencent TC3 both name the key first in the credential scope.
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def is_read(action: str) -> bool:
    """True for an action that only reads."""
    return action.startswith(READ_PREFIXES)


def access_key_of(request: HttpRequest) -> str:
    """The access key id that signed ``request`` ("" when it names none).

    AWS and Tencent carry it in the ``Authorization`` header's credential
    scope, Alibaba's RPC style in the ``AccessKeyId`` parameter (query or form
    body).  Only the key's id: never a secret.
    """
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            match = _CREDENTIAL.search(value)
            if match:
                return match.group(1)
    for text in (request.query, request.body.decode("utf-8", "replace")):
        found = parse_qs(text).get("AccessKeyId")
        if found:
            return found[0]
    return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCounts:
    """Calls a mock cloud answered since its last reset."""

    reads: int
    writes: int
    rejected: int = 0
    actions: Mapping[str, int] = field(default_factory=dict)
    writes_by_key: Mapping[str, int] = field(default_factory=dict)
    """Writes per signing access key id (:func:`access_key_of`)."""
    reads_by_key: Mapping[str, int] = field(default_factory=dict)
    """Reads per signing access key id."""
    per_second: Mapping[int, int] = field(default_factory=dict)
    """Calls per wall-clock second (``int(time.time())``), for measuring a call rate."""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CallCounts:
        """Parse ``GET /_admin/counters``."""
        return cls(
            reads=int(raw["reads"]),
            writes=int(raw["writes"]),
            rejected=int(raw.get("rejected", 0)),
            actions={str(k): int(v) for k, v in raw.get("actions", {}).items()},
            writes_by_key={str(k): int(v) for k, v in raw.get("writes_by_key", {}).items()},
            reads_by_key={str(k): int(v) for k, v in raw.get("reads_by_key", {}).items()},
            per_second={int(k): int(v) for k, v in raw.get("per_second", {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "reads": self.reads,
            "writes": self.writes,
            "rejected": self.rejected,
            "actions": dict(self.actions),
            "writes_by_key": dict(self.writes_by_key),
            "reads_by_key": dict(self.reads_by_key),
            "per_second": {str(k): v for k, v in self.per_second.items()},
        }

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def __sub__(self, other: CallCounts) -> CallCounts:
        actions = {
            action: count - other.actions.get(action, 0)
            for action, count in self.actions.items()
            if count != other.actions.get(action, 0)
        }
        return CallCounts(
            reads=self.reads - other.reads,
            writes=self.writes - other.writes,
            rejected=self.rejected - other.rejected,
            actions=actions,
            writes_by_key=_difference(self.writes_by_key, other.writes_by_key),
            reads_by_key=_difference(self.reads_by_key, other.reads_by_key),
            per_second=_difference(self.per_second, other.per_second),
        )


def _difference(new: Mapping[K, int], old: Mapping[K, int]) -> dict[K, int]:
    return {key: n - old.get(key, 0) for key, n in new.items() if n != old.get(key, 0)}


class CallCounters:
    """Calls by action and by signing key, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_action: Counter[str] = Counter()
        self._writes_by_key: Counter[str] = Counter()
        self._reads_by_key: Counter[str] = Counter()
        self._per_second: Counter[int] = Counter()
        self._rejected = 0

    def record(self, action: str, *, key: str = "") -> None:
        """One authenticated call of ``action``, signed with access key id ``key``."""
        with self._lock:
            self._by_action[action] += 1
            (self._reads_by_key if is_read(action) else self._writes_by_key)[key] += 1
            self._per_second[int(time.time())] += 1

    def record_rejected(self) -> None:
        """A request refused before it was authenticated (bad signature, unknown key)."""
        with self._lock:
            self._rejected += 1

    def reset(self) -> None:
        with self._lock:
            self._by_action.clear()
            self._writes_by_key.clear()
            self._reads_by_key.clear()
            self._per_second.clear()
            self._rejected = 0

    def counts(self) -> CallCounts:
        """Reads, writes and rejected calls so far, and calls per action."""
        with self._lock:
            actions = dict(sorted(self._by_action.items()))
            writes_by_key = dict(sorted(self._writes_by_key.items()))
            reads_by_key = dict(sorted(self._reads_by_key.items()))
            per_second = dict(sorted(self._per_second.items()))
            rejected = self._rejected
        reads = sum(n for action, n in actions.items() if is_read(action))
        return CallCounts(
            reads=reads,
            writes=sum(actions.values()) - reads,
            rejected=rejected,
            actions=actions,
            writes_by_key=writes_by_key,
            reads_by_key=reads_by_key,
            per_second=per_second,
        )

    def snapshot(self) -> dict[str, Any]:
        """``{"reads", "writes", "rejected", "actions": {action: n}, "writes_by_key": {key: n},
        "reads_by_key": {key: n}}``."""
        return self.counts().to_json()
