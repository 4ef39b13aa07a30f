"""Finalizer and status patches on Services, safe against concurrent writers.

Finalizers use JSON patches guarded by a ``test`` op so another controller's
finalizer is never lost; status goes to the status subresource as a strategic
merge patch (conditions merge by ``type``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbprovider.kube.api import JSON, KubeApi
from lbprovider.kube.snapshots import ObjectMeta


def _service_path(meta: ObjectMeta) -> str:
    return f"/api/v1/namespaces/{meta.namespace}/services/{meta.name}"


def add_finalizer(api: KubeApi, meta: ObjectMeta, finalizer: str) -> JSON:
    """Add ``finalizer`` unless present; fails with 409/422 if the object moved on."""
    if meta.finalizers:
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/finalizers", "value": list(meta.finalizers)},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ]
    else:
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ]
    return api.request(
        "PATCH", _service_path(meta), body=ops, content_type="application/json-patch+json"
    )


def claim(api: KubeApi, meta: ObjectMeta, finalizer: str, annotations: Mapping[str, str]) -> JSON:
    """Add ``finalizer`` and set ``annotations`` in one request (a strategic merge patch:
    ``metadata.finalizers`` merges as a set, so another controller's finalizer stays)."""
    return api.request(
        "PATCH",
        _service_path(meta),
        body={"metadata": {"finalizers": [finalizer], "annotations": dict(annotations)}},
        content_type="application/strategic-merge-patch+json",
    )


def annotate(api: KubeApi, meta: ObjectMeta, annotations: Mapping[str, str | None]) -> JSON:
    """Set (or, with None, remove) ``annotations``, leaving every other one alone."""
    return api.request(
        "PATCH",
        _service_path(meta),
        body={"metadata": {"annotations": dict(annotations)}},
        content_type="application/merge-patch+json",
    )


def _pointer(key: str) -> str:
    """A JSON-pointer segment (RFC 6901): ``~`` and ``/`` escaped."""
    return key.replace("~", "~0").replace("/", "~1")


def remove_finalizer(
    api: KubeApi, meta: ObjectMeta, finalizer: str, *, annotations: tuple[str, ...] = ()
) -> JSON:
    """Remove ``finalizer`` (and ``annotations``, where present) in one request; the
    ``test`` op fails on a stale index instead of removing another controller's."""
    index = meta.finalizers.index(finalizer)
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]
    for key in annotations:
        if key in meta.annotations:
            ops.append({"op": "remove", "path": f"/metadata/annotations/{_pointer(key)}"})
    return api.request(
        "PATCH", _service_path(meta), body=ops, content_type="application/json-patch+json"
    )


def patch_status(
    api: KubeApi,
    meta: ObjectMeta,
    status: Mapping[str, Any],
    *,
    annotations: Mapping[str, str] | None = None,
) -> JSON:
    """Strategic-merge ``status`` into the Service's status subresource.

    ``annotations`` ride in the same request: the Service registry's status
    strategy resets ``spec`` only, so metadata written here is kept (one write
    where two were; ``tests/integration/test_ownership.py`` would see a change).
    """
    body: dict[str, Any] = {"status": dict(status)}
    if annotations:
        body["metadata"] = {"annotations": dict(annotations)}
    return api.request(
        "PATCH",
        _service_path(meta) + "/status",
        body=body,
        content_type="application/strategic-merge-patch+json",
    )
