"""A thin JSON client over the ``kubernetes`` package's connection and auth.

The generated client deserialises every object into heavy models; the
controller only needs a few fields, so it speaks JSON and builds its own
trimmed snapshots.  Auth, TLS and kubeconfig handling stay the library's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

JSON = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, body: str, *, method: str, path: str) -> None:
        reason = body
        with contextlib.suppress(ValueError, AttributeError):
            reason = json.loads(body).get("message", body)
        super().__init__(f"{method} {path}: HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


def load_api_client(kubeconfig: str | None) -> k8s_client.ApiClient:
    """An ApiClient from ``kubeconfig``, or the in-cluster ServiceAccount when None."""
    configuration = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)
    return k8s_client.ApiClient(configuration)


class KubeApi:
    """JSON requests and watch streams against one API server."""

    def __init__(self, api_client: k8s_client.ApiClient, *, timeout: float = 30.0) -> None:
        self.api_client = api_client
        self._timeout = timeout

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = [(key, value) for key, value in (query or {}).items() if value is not None]
        _, url, headers, serialized, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        return self.api_client.call_api(
            method,
            url,
            header_params=headers,
            body=serialized,
            _request_timeout=timeout or self._timeout,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """Send one request; the decoded JSON answer, or ApiError."""
        response = self._send(method, path, query=query, body=body, content_type=content_type)
        data: bytes = response.read()
        if not 200 <= response.status < 300:
            raise ApiError(
                response.status, data.decode("utf-8", "replace"), method=method, path=path
            )
        decoded: JSON = json.loads(data) if data else {}
        return decoded

    def list_all(self, path: str, *, page_size: int = 500) -> tuple[list[JSON], str]:
        """Every object under ``path`` (in pages) and the list's resourceVersion."""
        items: list[JSON] = []
        token: str | None = None
        while True:
            page = self.request("GET", path, query={"limit": page_size, "continue": token})
            items.extend(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return items, page["metadata"].get("resourceVersion", "")

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int,
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[JSON]:
        """Watch events (``{"type", "object"}``) from ``resource_version``, with bookmarks.

        Ends when the server closes the stream after ``timeout_seconds``.
        ``on_open`` receives the open HTTP response, whose ``shutdown()`` lets
        another thread end a watch that is waiting for events.
        """
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        response = self._send("GET", path, query=query, timeout=(10.0, timeout_seconds + 30.0))
        raw = response.response
        if on_open is not None:
            on_open(raw)
        try:
            if response.status != 200:
                raise ApiError(
                    response.status,
                    raw.data.decode("utf-8", "replace"),
                    method="WATCH",
                    path=path,
                )
            buffer = b""
            for chunk in raw.stream(65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            raw.release_conn()

    def close(self) -> None:
        """Release the connection pool."""
        self.api_client.close()
