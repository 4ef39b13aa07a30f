"""A service controller with fake providers, shared by the controller's integration tests.

One controller serves the whole session (like one deployment serves a
cluster); each test works in its own namespace, so provider calls are told
apart by the Service key.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient

from lbprovider.controller.service_controller import ServiceController
from lbprovider.kube.api import KubeApi
from lbprovider.kube.workqueue import ExponentialBackoff, WorkQueue
from lbprovider.testing.fake_provider import FakeProvider, FakeSettings
from lbprovider.testing.harness import ControllerHarness


@pytest.fixture(scope="session")
def harness(kube_api: ApiClient) -> Iterator[ControllerHarness]:
    """The session's controller, serving an IP class and a hostname class."""
    api = KubeApi(kube_api)
    fake = FakeProvider(FakeSettings(), cluster_name="it")
    fake_hostname = FakeProvider(
        FakeSettings(hostname_suffix="lb.example.com", supports_requested_ip=False),
        cluster_name="it",
    )
    controller = ServiceController.from_api(
        api,
        cluster_name="it",
        providers={
            ControllerHarness.ip_class: fake,
            ControllerHarness.hostname_class: fake_hostname,
        },
        workers=4,
        resync_seconds=0,
        invalid_retry_seconds=2.0,
        # Short delays keep failure tests quick; the schedule's shape is unit-tested.
        queue=WorkQueue(backoff=ExponentialBackoff(base=0.5, maximum=5.0)),
    )
    controller.start()
    yield ControllerHarness(api=api, controller=controller, fake=fake, fake_hostname=fake_hostname)
    controller.stop()
