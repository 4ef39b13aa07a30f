"""The sandbox (control plane + every mock cloud) and ``lbprovider run`` as a real process."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from lbprovider.kube.api import KubeApi, load_api_client
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import Cluster
from lbprovider.testing.pytest_plugin import namespace_name_for
from lbprovider.testing.sandbox import Sandbox, start_controller
from second_controller import EventLog
from secret_scan import EVENTS_FILE, leaks


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxRun]:
    """One sandbox and one controller process for the e2e session."""
    directory = tmp_path_factory.mktemp("sandbox")
    sandbox = Sandbox.start(directory)
    log_path = directory / "controller.log"
    try:
        controller = start_controller(
            config=sandbox.config_path,
            kubeconfig=sandbox.kubeconfig,
            log_path=log_path,
            log_format="json",
        )
        try:
            cluster = Cluster(KubeApi(load_api_client(str(sandbox.kubeconfig))))
            # Every Event of the session, for the secrets check (namespaces go with their tests).
            events = EventLog(cluster.api, directory / EVENTS_FILE).start()
            run = SandboxRun(
                sandbox=sandbox, cluster=cluster, controller=controller, log_path=log_path
            )
            try:
                # Tests read its log and endpoints at once: hand it over serving.
                run.wait_ready()
                yield run
            finally:
                events.stop()
        finally:
            controller.send_signal(signal.SIGTERM)
            try:
                assert controller.wait(30) == 0, "the controller did not exit cleanly on SIGTERM"
            finally:
                if controller.poll() is None:
                    controller.kill()
        # Everything the session wrote, whatever order its tests ran in.
        _, _, found = leaks(run, tmp_path_factory.getbasetemp())
        assert found == [], "secrets in the session's logs or Events"
    finally:
        sandbox.stop()


@pytest.fixture
def e2e_namespace(e2e: SandboxRun, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace for one e2e test; its Services are deleted (and cleaned) afterwards."""
    name = namespace_name_for(request.node.name)
    e2e.cluster.api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    yield name
    e2e.cluster.api.request("DELETE", f"/api/v1/namespaces/{name}")
