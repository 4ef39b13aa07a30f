"""Helpers for tests that drive a real API server: polling and Service read-backs.

Shipped with the package so users testing their own set-ups against the
sandbox get the same tools as our integration and e2e tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lbprovider.kube.api import ApiError, KubeApi

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """What was waited for did not happen in time."""


def wait_for(probe: Callable[[], T | None], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; WaitTimeout names ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(0.1)


def wait_each(
    probes: Mapping[str, Callable[[], T | None]], *, timeout: float, what: str
) -> dict[str, T]:
    """Poll every probe in turn until each returned something truthy; keep each first answer.

    Polling all of them (not one after the other) keeps each answer as early as
    waiting for that one alone would have seen it.
    """
    deadline = time.monotonic() + timeout
    seen: dict[str, T] = {}
    while True:
        for key, probe in probes.items():
            if key not in seen and (value := probe()):
                seen[key] = value
        if len(seen) == len(probes):
            return seen
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(set(probes) - set(seen)))
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what}: {missing}")
        time.sleep(0.1)


@dataclass
class Cluster:
    """Service-centred reads and writes against one API server."""

    api: KubeApi

    def create_service(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create a Service from a manifest dict."""
        return self.api.request("POST", f"/api/v1/namespaces/{namespace}/services", body=manifest)

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Service as the API server has it now (None when gone)."""
        try:
            return self.api.request("GET", f"/api/v1/namespaces/{namespace}/services/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def ingress(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """``status.loadBalancer.ingress`` of the Service (empty when none)."""
        service = self.service(namespace, name) or {}
        return list(((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])

    def wait_ingress(
        self, namespace: str, name: str, *, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Wait for the Service to show an ingress."""
        return wait_for(
            lambda: self.ingress(namespace, name),
            timeout=timeout,
            what=f"ingress on {namespace}/{name}",
        )

    def delete_services(
        self, namespace: str, names: Iterable[str], *, timeout: float = 90.0
    ) -> None:
        """Delete the Services (those still there) and wait until each is gone, which for a
        served one means its controller cleaned up and removed the finalizer."""
        names = list(names)
        for name in names:
            if self.service(namespace, name) is not None:
                self.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/{name}")
        for name in names:
            wait_for(
                lambda name=name: self.service(namespace, name) is None or None,  # type: ignore[misc]
                timeout=timeout,
                what=f"{namespace}/{name} cleaned up and deleted",
            )

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Events recorded on the Service."""
        items = self.api.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/events",
            query={"fieldSelector": f"involvedObject.name={name}"},
        )["items"]
        return list(items)

    def reasons(self, namespace: str, name: str) -> list[str]:
        """Event reasons on the Service."""
        return [event["reason"] for event in self.events(namespace, name)]

    def wait_event(
        self, namespace: str, name: str, reason: str, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The Service's first Event with ``reason``, once written (the controller writes
        Events in the background, once their burst settles)."""
        return wait_for(
            lambda: next((e for e in self.events(namespace, name) if e["reason"] == reason), None),
            timeout=timeout,
            what=f"a {reason} Event on {namespace}/{name}",
        )

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch."""
        return self.api.request(
            "PATCH", path, body=body, content_type="application/merge-patch+json"
        )
