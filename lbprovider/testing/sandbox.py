"""The sandbox: a real control plane plus every installed mock cloud, on loopback.

``lbprovider sandbox up --dir DIR`` starts it in the background and returns
when everything answers; ``lbprovider sandbox down --dir DIR`` stops it.  It
registers one Node per seeded cloud instance (``spec.providerID`` and
InternalIP matching the mock) and writes

- ``DIR/kubeconfig``: an admin kubeconfig for the API server;
- ``DIR/lbprovider.yaml``: a controller config with one class per cloud
  (``lbprovider.io/fake``, ``lbprovider.io/aws-nlb``, ...), each pointing at
  its mock;
- ``DIR/sandbox.json``: the pid, the endpoints and the classes.

`make demo`, the e2e tests and the benchmarks build on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider import logs
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, RegistryError, load, names
from lbprovider.cloud.sandbox import MockCloud
from lbprovider.kube.api import KubeApi
from lbprovider.testing.controlplane import ControlPlane

log = logging.getLogger(__name__)

CLUSTER_NAME = "sandbox"
FAKE_CLASS = "lbprovider.io/fake"
CLASS_NAMES = {
    "aws": "lbprovider.io/aws-nlb",
    "alibaba": "lbprovider.io/alibaba-slb",
    "tencent": "lbprovider.io/tencent-clb",
}
READY_FILE = "ready"
STATE_FILE = "sandbox.json"


@dataclass(slots=True)
class Sandbox:
    """A running sandbox (in this process)."""

    directory: Path
    control_plane: ControlPlane
    mock_clouds: dict[str, MockCloud] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig."""
        return self.directory / "kubeconfig"

    @property
    def config_path(self) -> Path:
        """The controller configuration."""
        return self.directory / "lbprovider.yaml"

    def classes(self) -> dict[str, str]:
        """``loadBalancerClass`` -> provider name, for every class in the config."""
        served = {FAKE_CLASS: "fake"}
        served.update({CLASS_NAMES[name]: name for name in self.mock_clouds})
        return served

    def controller_config(self) -> dict[str, Any]:
        """The ``lbprovider.yaml`` contents."""
        classes: list[dict[str, Any]] = [{"name": FAKE_CLASS, "provider": "fake", "settings": {}}]
        for name, cloud in sorted(self.mock_clouds.items()):
            classes.append(
                {"name": CLASS_NAMES[name], "provider": name, "settings": cloud.provider_settings()}
            )
        return {
            "cluster_name": CLUSTER_NAME,
            "workers": 4,
            "resync_seconds": 600,
            "health_address": "127.0.0.1:0",
            "classes": classes,
        }

    @classmethod
    def start(
        cls, directory: Path, *, instances: int = 2, clouds: list[str] | None = None
    ) -> Sandbox:
        """Start the control plane and the mock clouds, register Nodes, write the files."""
        directory.mkdir(parents=True, exist_ok=True)
        plane = ControlPlane.start(
            with_controller_manager=True, workdir=directory / "control-plane"
        )
        sandbox = cls(directory=directory, control_plane=plane)
        try:
            shutil.copyfile(plane.kubeconfig_path, sandbox.kubeconfig)
            wanted = names(MOCK_CLOUD_GROUP) if clouds is None else clouds
            for name in wanted:
                try:
                    start_cloud = load(name, MOCK_CLOUD_GROUP)
                    sandbox.mock_clouds[name] = start_cloud(instances=instances)
                except (RegistryError, ImportError) as exc:
                    sandbox.skipped[name] = str(exc)
            sandbox._register_nodes()
            sandbox.config_path.write_text(
                yaml.safe_dump(sandbox.controller_config(), sort_keys=False), encoding="utf-8"
            )
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    def _register_nodes(self) -> None:
        with self.control_plane.api_client() as client:
            api = KubeApi(client)
            for cloud in self.mock_clouds.values():
                for instance in cloud.instances:
                    path = "/api/v1/nodes"
                    api.request(
                        "POST",
                        path,
                        body={
                            "metadata": {
                                "name": instance.node_name,
                                "labels": {"kubernetes.io/hostname": instance.node_name},
                            },
                            "spec": {"providerID": instance.provider_id},
                        },
                    )
                    api.request(
                        "PATCH",
                        f"{path}/{instance.node_name}/status",
                        body={
                            "status": {
                                "addresses": [
                                    {"type": "InternalIP", "address": instance.internal_ip},
                                    {"type": "Hostname", "address": instance.node_name},
                                ],
                                "conditions": [
                                    {
                                        "type": "Ready",
                                        "status": "True",
                                        "reason": "KubeletReady",
                                        "message": "sandbox node",
                                    }
                                ],
                            }
                        },
                        content_type="application/strategic-merge-patch+json",
                    )

    def stop(self) -> None:
        """Stop the mock clouds and the control plane."""
        for name, cloud in self.mock_clouds.items():
            started = time.monotonic()
            with contextlib.suppress(Exception):
                cloud.stop()
            log.info(
                "stopped mock cloud", extra={"cloud": name, "seconds": time.monotonic() - started}
            )
        started = time.monotonic()
        self.control_plane.stop()
        elapsed = round(time.monotonic() - started, 2)
        log.info("stopped control plane", extra={"seconds": elapsed})


def start_controller(
    *, config: str | Path, kubeconfig: str | Path, log_path: Path, log_format: str = "plain"
) -> subprocess.Popen[bytes]:
    """``lbprovider run`` against a sandbox, as its own process, logging to ``log_path``."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lbprovider.cli",
                "run",
                "--config",
                str(config),
                "--kubeconfig",
                str(kubeconfig),
                "--log-format",
                log_format,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


# --- the background process behind `lbprovider sandbox up` ------------------------


def _serve(directory: Path) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sandbox = Sandbox.start(directory)
    try:
        state = {
            "pid": os.getpid(),
            "server": sandbox.control_plane.server,
            "kubeconfig": str(sandbox.kubeconfig),
            "config": str(sandbox.config_path),
            "classes": sandbox.classes(),
            "mock_clouds": {name: cloud.endpoint for name, cloud in sandbox.mock_clouds.items()},
            "internal_annotations": {
                name: cloud.internal_annotations() for name, cloud in sandbox.mock_clouds.items()
            },
            "skipped": sandbox.skipped,
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        (directory / READY_FILE).write_text("ok\n", encoding="utf-8")
        stop.wait()
    finally:
        (directory / READY_FILE).unlink(missing_ok=True)
        sandbox.stop()
    return 0


def up(directory: Path, *, timeout: float = 300.0) -> dict[str, Any]:
    """Start the sandbox in the background; its state once everything answers."""
    directory = directory.resolve()
    if (directory / READY_FILE).exists():
        raise RuntimeError(
            f"a sandbox already runs in {directory}; run `lbprovider sandbox down` first"
        )
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "sandbox.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "lbprovider.testing.sandbox", "serve", "--dir", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, like a daemon
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (directory / READY_FILE).exists():
            state: dict[str, Any] = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
            return state
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"the sandbox failed to start:\n{tail}")
        time.sleep(0.2)
    process.terminate()
    raise TimeoutError(f"the sandbox did not start in {timeout:.0f}s; see {log_path}")


def _exited(pid: int) -> bool:
    """True once ``pid`` is gone; reaps it when it is our own child (``make demo``)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True  # a zombie still answers kill(pid, 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def down(directory: Path, *, timeout: float = 60.0) -> bool:
    """Stop the sandbox running in ``directory``; False when none was running."""
    state_path = directory.resolve() / STATE_FILE
    if not state_path.exists():
        return False
    pid = int(json.loads(state_path.read_text(encoding="utf-8"))["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state_path.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(pid):
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    state_path.unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m lbprovider.testing.sandbox serve --dir DIR`` (used by ``up``)."""
    parser = argparse.ArgumentParser(prog="lbprovider-sandbox")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logs.configure(log_format="plain")
    # moto's server logs every request; the sandbox log should show our own lines.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return _serve(args.dir)


if __name__ == "__main__":
    sys.exit(main())
