"""Service status from a provider's answer: ingress entries and our condition.

Pure functions: they build the JSON the status subresource takes and say
whether it differs from what the Service already shows, so the controller
patches only real changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lbprovider.cloud import LoadBalancerStatus
from lbprovider.controller.reasons import CONDITION_TYPE

__all__ = ["CONDITION_TYPE", "condition", "ingress_json", "same_ingress"]


def ingress_json(status: LoadBalancerStatus) -> list[dict[str, Any]]:
    """``status.loadBalancer.ingress`` for ``status``."""
    entries = []
    for ingress in status.ingress:
        entry: dict[str, Any] = {}
        if ingress.ip:
            entry["ip"] = ingress.ip
            # The API server defaults ipMode to VIP for IPs; say it so comparisons hold.
            entry["ipMode"] = ingress.ip_mode or "VIP"
        if ingress.hostname:
            entry["hostname"] = ingress.hostname
        if ingress.ports:
            entry["ports"] = [
                {"port": port.port, "protocol": port.protocol.value}
                | ({"error": port.error} if port.error else {})
                for port in ingress.ports
            ]
        entries.append(entry)
    return entries


def same_ingress(current: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> bool:
    """True when the Service already shows ``wanted``."""
    return [dict(entry) for entry in current] == [dict(entry) for entry in wanted]


def condition(
    current: Sequence[Mapping[str, Any]], *, ok: bool, reason: str, message: str
) -> dict[str, Any] | None:
    """Our condition, or None when the Service already shows exactly this.

    ``lastTransitionTime`` moves only when the status flips, as the API
    conventions ask.
    """
    status = "True" if ok else "False"
    existing = next((entry for entry in current if entry.get("type") == CONDITION_TYPE), None)
    if (
        existing is not None
        and existing.get("status") == status
        and existing.get("reason") == reason
        and existing.get("message") == message
    ):
        return None
    if existing is not None and existing.get("status") == status:
        transition = existing.get("lastTransitionTime")
    else:
        transition = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": CONDITION_TYPE,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": transition,
    }
