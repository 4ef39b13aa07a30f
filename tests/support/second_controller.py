"""More ``lbprovider run`` processes against the e2e sandbox, with configs of their own.

The e2e session runs one controller serving the sandbox's classes.  Tests of
bad credentials and of leader hand-over start further controllers that serve
*other* class names on the same mock clouds (the session controller leaves
those Services alone), each with its own cluster name and credentials file.
Also :class:`EventLog`: every Event the API server stores during the session,
kept after its namespace is gone, for the test that greps them for secrets.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.kube.api import KubeApi
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import start_controller

CREDENTIAL_SUFFIX = "-credentials.json"
"""Every credentials file a test writes ends so; the secrets test finds them by it."""


def write_credentials(path: Path, values: Mapping[str, str]) -> Path:
    """A credentials file (JSON, mode 0600) named ``*-credentials.json``."""
    assert path.name.endswith(CREDENTIAL_SUFFIX), path
    path.write_text(json.dumps(dict(values)), encoding="utf-8")
    path.chmod(0o600)
    return path


def class_entry(
    e2e: SandboxRun, cloud: str, *, name: str, credentials_file: Path | None = None
) -> dict[str, Any]:
    """A class on ``cloud``'s sandbox mock, optionally with other credentials."""
    settings = dict(e2e.sandbox.mock_clouds[cloud].provider_settings())
    if credentials_file is not None:
        settings["credentials_file"] = str(credentials_file)
    return {"name": name, "provider": cloud, "settings": settings}


def write_config(
    path: Path,
    *,
    cluster_name: str,
    classes: list[dict[str, Any]],
    leader_election: Mapping[str, Any] | None = None,
) -> Path:
    """An ``lbprovider.yaml`` like the sandbox's (no periodic sweep), for a second controller."""
    config: dict[str, Any] = {
        "cluster_name": cluster_name,
        "workers": 2,
        "resync_seconds": 600,
        "health_address": "127.0.0.1:0",
        # No periodic sweep: its reads would land in other tests' per-mock call counts.
        "sweep": {"interval_seconds": 0, "delete": False},
        "classes": classes,
    }
    if leader_election is not None:
        config["leader_election"] = dict(leader_election)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def controller(e2e: SandboxRun, config: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``lbprovider run --config config`` for the length of the block (SIGTERM, then kill)."""
    process = start_controller(
        config=config, kubeconfig=e2e.sandbox.kubeconfig, log_path=log_path, log_format="json"
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


class Restartable:
    """One controller config on the sandbox, started, stopped and killed as often as a test
    needs (a class switch while it is down, a crash after the k-th write); one log per start."""

    def __init__(self, e2e: SandboxRun, config: Path) -> None:
        self.e2e = e2e
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = start_controller(
            config=self.config,
            kubeconfig=self.e2e.sandbox.kubeconfig,
            log_path=self.config.parent / f"controller-{self.starts}.log",
            log_format="json",
        )

    def stop(self, *, cleanly: bool = False) -> None:
        """SIGTERM; with ``cleanly`` the controller must exit 0 (its orderly stop), else a
        controller that does not stop in 30 s is killed."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise
        assert not cleanly or code == 0, f"the controller did not exit cleanly ({code})"

    def kill(self) -> None:
        """SIGKILL: a crash, nothing orderly."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)


def forget_finalizer(e2e: SandboxRun, namespace: str, name: str) -> None:
    """Delete a Service whose controller cannot clean up (nothing was built in a cloud)."""
    path = f"/api/v1/namespaces/{namespace}/services/{name}"
    if e2e.cluster.service(namespace, name) is None:
        return
    e2e.cluster.patch(path, {"metadata": {"finalizers": None}})
    e2e.cluster.api.request("DELETE", path)
    wait_for(lambda: e2e.cluster.service(namespace, name) is None, what=f"{name} deleted")


def condition(service: Mapping[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The Service's ``status.conditions`` entry of type ``kind``."""
    for entry in ((service or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    return None


@dataclass
class EventLog:
    """Every Event's message stored while it runs, appended to ``path`` (one JSON per line).

    A watch on all namespaces from the moment it starts; the e2e tests delete
    their namespaces (and so their Events) as they finish, so reading the API
    at the end would see almost nothing.
    """

    api: KubeApi
    path: Path
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _response: Any = None

    def start(self) -> EventLog:
        self._thread = threading.Thread(target=self._run, name="event-log", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            while not self._stop.is_set():
                try:
                    items, version = self.api.list_all("/api/v1/events")
                    for item in items:
                        out.write(json.dumps(_entry(item)) + "\n")
                    out.flush()
                    for change in self.api.watch(
                        "/api/v1/events",
                        resource_version=version,
                        timeout_seconds=300,
                        on_open=self._opened,
                    ):
                        if change.get("type") in ("ADDED", "MODIFIED"):
                            out.write(json.dumps(_entry(change["object"])) + "\n")
                            out.flush()
                except Exception:  # the API server going away at the end; retry until stopped
                    self._stop.wait(0.5)

    def _opened(self, response: Any) -> None:
        self._response = response

    def stop(self) -> None:
        self._stop.set()
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _entry(event: Mapping[str, Any]) -> dict[str, Any]:
    involved = event.get("involvedObject") or {}
    return {
        "object": f"{involved.get('namespace', '')}/{involved.get('name', '')}",
        "reason": event.get("reason", ""),
        "message": event.get("message", ""),
    }
