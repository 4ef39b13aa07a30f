"""What the controller's integration and e2e fixtures hand to tests.

Kept in an importable module (not a ``conftest.py``) so tests can name the
types and mypy can check them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from lbprovider.controller.service_controller import ServiceController
from lbprovider.testing.fake_provider import FakeProvider
from lbprovider.testing.kubehelpers import Cluster
from lbprovider.testing.sandbox import Sandbox


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
