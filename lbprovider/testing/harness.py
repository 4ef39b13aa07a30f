"""What the controller's integration and e2e fixtures hand to tests.

Kept in an importable module (not a ``conftest.py``) so tests can name the
types and mypy can check them.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from lbprovider.controller.service_controller import ServiceController
from lbprovider.testing.fake_provider import FakeProvider
from lbprovider.testing.kubehelpers import Cluster, wait_for
from lbprovider.testing.sandbox import CLASS_NAMES, Sandbox

Samples = dict[str, list[tuple[dict[str, str], float]]]
"""Sample name -> its label sets and values, as ``/metrics`` gave them."""


def readyz(port: int) -> bool:
    """True when a controller's health server on ``port`` answers ``/readyz`` with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:  # not listening yet, or 503 (HTTPError): not ready
        return False


@dataclass
class ControllerHarness(Cluster):
    """An in-process controller serving two fake classes, and the API it serves."""

    controller: ServiceController
    fake: FakeProvider
    """Serves ``ip_class``: IP ingress, honours loadBalancerIP."""
    fake_hostname: FakeProvider
    """Serves ``hostname_class``: hostname ingress, cannot honour loadBalancerIP."""
    ip_class: str = "lbprovider.io/fake"
    hostname_class: str = "example.com/fake-hostname"


@dataclass
class SandboxRun:
    """A running sandbox and ``lbprovider run`` as a separate process against it."""

    sandbox: Sandbox
    cluster: Cluster
    controller: subprocess.Popen[bytes]
    log_path: Path

    def controller_log(self) -> str:
        """What the controller process has logged so far."""
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the controller answers ``/readyz`` (its informers synced); fails at once
        if the process exited."""

        def ready() -> bool:
            if self.controller.poll() is not None:
                raise AssertionError(
                    f"the controller exited ({self.controller.returncode}):\n"
                    + self.controller_log()[-2000:]
                )
            try:
                port = self.metrics_port()
            except (AssertionError, ValueError):
                return False  # its port not logged (whole) yet
            return readyz(port)

        wait_for(ready, timeout=timeout, what="the controller's /readyz")

    def metrics_port(self) -> int:
        """The port the controller serves ``/metrics`` on (it logs it at start)."""
        for line in self.controller_log().splitlines():
            if line.strip().startswith("{"):
                entry = json.loads(line)
                if entry.get("msg") == "serving health and metrics":
                    return int(entry["port"])
        raise AssertionError("the controller never said where it serves /metrics")

    def scrape(self) -> Samples:
        """The controller's ``/metrics``, parsed."""
        url = f"http://127.0.0.1:{self.metrics_port()}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode("utf-8")
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return samples

    def wait_first_sweep(self, timeout: float = 120.0) -> None:
        """Until the controller's first orphan sweep (once its first syncs are done) is over.

        The sweep lists every mock cloud; a test that counts the calls a mock
        answered waits for it first, so the session controller's one sweep is
        not counted as the test's (the next comes an hour later).
        """
        mock_classes = {CLASS_NAMES[name] for name in self.sandbox.mock_clouds}

        def swept() -> bool | None:
            if "serving health and metrics" not in self.controller_log():
                return None  # still starting
            gauge = self.scrape().get("lbprovider_orphaned_load_balancers", [])
            return mock_classes <= {labels.get("class") for labels, _ in gauge} or None

        wait_for(swept, timeout=timeout, what="the controller's first orphan sweep")
