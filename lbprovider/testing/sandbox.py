"""The sandbox: a real control plane plus every installed mock cloud, on loopback.

``lbprovider sandbox up --dir DIR`` starts it in the background and returns
when everything answers; ``lbprovider sandbox down --dir DIR`` stops it.  It
registers one Node per seeded cloud instance (``spec.providerID`` and
InternalIP matching the mock) and writes

- ``DIR/kubeconfig``: an admin kubeconfig for the API server;
- ``DIR/lbprovider.yaml``: a controller config with one class per cloud
  (``lbprovider.io/fake``, ``lbprovider.io/aws-nlb``, ...), each pointing at
  its mock;
- ``DIR/sandbox.json``: the pid, the endpoints and the classes, and the
  ``inspect`` endpoint: ``GET /clouds`` answers every mock cloud's
  ``describe()`` and ``resources()`` (the handles live in the background
  process; :func:`inspect` reads them from any process);
- ``DIR/progress.log``: one line per start-up step, which :func:`up` relays.

`make demo`, the e2e tests and the benchmarks build on it.  A controller a
user leaves running against the sandbox (``make demo ARGS=--keep``) records
its pid in ``DIR/controller.pid``; :func:`down` stops it first.
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
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from lbprovider import logs
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, RegistryError, load, names
from lbprovider.cloud.sandbox import MockCloud, SandboxInstance
from lbprovider.kube.api import KubeApi
from lbprovider.testing.controlplane import ControlPlane
from lbprovider.testing.fake_provider import PROVIDER_ID_PREFIX as FAKE_PROVIDER_ID_PREFIX

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
PROGRESS_FILE = "progress.log"
CONTROLLER_PID_FILE = "controller.pid"
INSPECT_PATH = "/clouds"

Progress = Callable[[str], None]


FAKE_INSTANCES = tuple(
    SandboxInstance(
        node_name=f"fake-node-{index}",
        provider_id=f"{FAKE_PROVIDER_ID_PREFIX}sandbox/fake-node-{index}",
        internal_ip=f"10.255.0.{index}",
    )
    for index in (1, 2)
)
"""The fake class's Nodes: its cloud lives in the controller, so the sandbox makes them up."""


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

    def inspect(self) -> dict[str, dict[str, Any]]:
        """Per mock cloud: ``load_balancers`` (its ``describe()``) and ``resources``.

        A cloud whose ``describe()`` fails gets an ``error`` instead, so one
        broken mock does not hide what the others hold.
        """
        view: dict[str, dict[str, Any]] = {}
        for name, cloud in sorted(self.mock_clouds.items()):
            entry: dict[str, Any] = {}
            try:
                entry["resources"] = cloud.resources()
                entry["load_balancers"] = cloud.describe()
            except Exception as exc:  # reported to the reader, per cloud
                entry["error"] = f"{type(exc).__name__}: {exc}"
            view[name] = entry
        return view

    @classmethod
    def start(
        cls,
        directory: Path,
        *,
        instances: int = 2,
        clouds: list[str] | None = None,
        progress: Progress | None = None,
    ) -> Sandbox:
        """Start the control plane and the mock clouds, register Nodes, write the files.

        ``progress`` hears one line per finished step.
        """
        report = progress or (lambda line: None)
        directory.mkdir(parents=True, exist_ok=True)
        # Every start is a fresh cluster: an old run's etcd data would hold its Nodes.
        shutil.rmtree(directory / "control-plane" / "etcd-data", ignore_errors=True)
        wanted = names(MOCK_CLOUD_GROUP) if clouds is None else clouds
        started = time.monotonic()

        def start_plane() -> ControlPlane:
            plane = ControlPlane.start(
                with_controller_manager=True, workdir=directory / "control-plane"
            )
            report(
                "control plane up (etcd, kube-apiserver, kube-controller-manager) "
                f"in {time.monotonic() - started:.1f}s"
            )
            return plane

        def start_cloud(name: str) -> MockCloud:
            cloud: MockCloud = load(name, MOCK_CLOUD_GROUP)(instances=instances)
            report(f"mock cloud {name} up on {cloud.endpoint} in {time.monotonic() - started:.1f}s")
            return cloud

        # The mock clouds start in threads while the control plane boots (moto alone takes
        # seconds); the control plane stays on this thread: its processes die with the thread
        # that spawned them (PR_SET_PDEATHSIG follows the thread, not the process).
        pool = ThreadPoolExecutor(max(len(wanted), 1), thread_name_prefix="sandbox-cloud")
        cloud_futures = {name: pool.submit(start_cloud, name) for name in wanted}
        pool.shutdown(wait=False)
        plane_error: BaseException | None = None
        try:
            plane = start_plane()
        except BaseException as exc:
            plane_error = exc
        mock_clouds: dict[str, MockCloud] = {}
        skipped: dict[str, str] = {}
        failure: BaseException | None = None
        for name, future in cloud_futures.items():
            try:
                mock_clouds[name] = future.result()
            except (RegistryError, ImportError) as exc:
                skipped[name] = str(exc)
                report(f"mock cloud {name} not started: {exc}")
            except BaseException as exc:  # stop what did start, then raise the first failure
                failure = failure or exc
        if plane_error is not None:
            for cloud in mock_clouds.values():
                with contextlib.suppress(Exception):
                    cloud.stop()
            raise plane_error
        sandbox = cls(
            directory=directory, control_plane=plane, mock_clouds=mock_clouds, skipped=skipped
        )
        try:
            if failure is not None:
                raise failure
            shutil.copyfile(plane.kubeconfig_path, sandbox.kubeconfig)
            sandbox._register_nodes()
            report(f"{len(sandbox.instances())} nodes registered")
            sandbox.config_path.write_text(
                yaml.safe_dump(sandbox.controller_config(), sort_keys=False), encoding="utf-8"
            )
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    def instances(self) -> tuple[SandboxInstance, ...]:
        """Every node the sandbox registers: each mock cloud's instances, and the fake
        cloud's (the fake provider targets only ``fake://`` nodes, as each cloud's
        provider targets only its own)."""
        return (*(i for c in self.mock_clouds.values() for i in c.instances), *FAKE_INSTANCES)

    def _register_nodes(self) -> None:
        with self.control_plane.api_client() as client:
            api = KubeApi(client)
            for instance in self.instances():
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
    *,
    config: str | Path,
    kubeconfig: str | Path,
    log_path: Path,
    log_format: str = "plain",
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """``lbprovider run`` against a sandbox, as its own process, logging to ``log_path``.

    ``detach`` puts it in its own session, so it outlives the command that
    started it (``make demo ARGS=--keep``) until :func:`down` stops it.
    """
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
            start_new_session=detach,
        )


def inspect(state: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    """:meth:`Sandbox.inspect` of the sandbox ``state`` (from :func:`up`) describes."""
    url = f"{state['inspect']}{INSPECT_PATH}"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # loopback http
        view: dict[str, dict[str, Any]] = json.loads(response.read())
    return view


# --- the background process behind `lbprovider sandbox up` ------------------------


class _InspectHandler(BaseHTTPRequestHandler):
    """``GET /clouds``: what every mock cloud holds, as JSON."""

    sandbox: Sandbox

    def do_GET(self) -> None:
        if self.path != INSPECT_PATH:
            self.send_error(404)
            return
        body = json.dumps(self.sandbox.inspect()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox log keeps our own lines."""


def _inspect_server(sandbox: Sandbox) -> ThreadingHTTPServer:
    handler = type("InspectHandler", (_InspectHandler,), {"sandbox": sandbox})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="sandbox-inspect", daemon=True).start()
    return server


def _serve(directory: Path) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def progress(line: str) -> None:
        with (directory / PROGRESS_FILE).open("a", encoding="utf-8") as file:
            file.write(line + "\n")

    sandbox = Sandbox.start(directory, progress=progress)
    inspect_server = _inspect_server(sandbox)
    try:
        host, port = inspect_server.server_address[:2]
        state = {
            "pid": os.getpid(),
            "inspect": f"http://{host!s}:{port}",
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
        inspect_server.shutdown()
        inspect_server.server_close()
        sandbox.stop()
    return 0


def up(
    directory: Path, *, timeout: float = 300.0, progress: Progress | None = None
) -> dict[str, Any]:
    """Start the sandbox in the background; its state once everything answers.

    ``progress`` hears each start-up step as the background process finishes it.
    """
    directory = directory.resolve()
    if (directory / READY_FILE).exists():
        raise RuntimeError(
            f"a sandbox already runs in {directory}; run `lbprovider sandbox down` first"
        )
    directory.mkdir(parents=True, exist_ok=True)
    progress_path = directory / PROGRESS_FILE
    progress_path.unlink(missing_ok=True)
    relayed = 0

    def relay() -> None:
        nonlocal relayed
        if progress is None or not progress_path.exists():
            return
        # The last piece has no newline yet (or is empty): it is read next time.
        complete = progress_path.read_text(encoding="utf-8").split("\n")[:-1]
        for line in complete[relayed:]:
            progress(line)
        relayed = max(relayed, len(complete))

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
        relay()
        if (directory / READY_FILE).exists():
            relay()
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


def record_controller(directory: Path, pid: int) -> None:
    """Note a controller left running against the sandbox, for :func:`down` to stop."""
    (directory.resolve() / CONTROLLER_PID_FILE).write_text(f"{pid}\n", encoding="utf-8")


def _stop_controller(directory: Path, *, timeout: float) -> None:
    """SIGTERM the recorded controller (only if that pid still runs ``lbprovider``)."""
    pid_path = directory / CONTROLLER_PID_FILE
    if not pid_path.exists():
        return
    pid = int(pid_path.read_text(encoding="utf-8"))
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        command = b""
    if b"lbprovider.cli" in command:  # a reused pid is someone else's process
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _exited(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _exited(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pid_path.unlink(missing_ok=True)


def down(directory: Path, *, timeout: float = 60.0) -> bool:
    """Stop the sandbox running in ``directory`` (and a recorded controller first);
    False when no sandbox was running."""
    _stop_controller(directory.resolve(), timeout=30.0)
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
