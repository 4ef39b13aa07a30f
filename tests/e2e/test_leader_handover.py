"""End to end: two controller replicas, one leader, a safe hand-over on SIGKILL.

Two ``lbprovider run`` processes share one configuration (leader election on,
short lease settings) except for their cloud credentials: each signs with an
access key of its own that the Alibaba and Tencent mocks accept, so the mocks'
per-key counters say which process wrote.  Exactly one leads (the Lease holder)
and only it writes; SIGKILL of the leader hands the Lease over within the
Lease's bounds; the new leader makes no write for the Services the old one had
built and builds the new ones alone.
"""

from __future__ import annotations

import json
import secrets
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from lbprovider.kube.api import ApiError
from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from second_controller import class_entry, controller, write_config, write_credentials

pytestmark = pytest.mark.e2e

CLOUDS = ("alibaba", "tencent")
"""The mocks that accept several key pairs (the AWS proxy checks one access key)."""
LEASE = {"lease_duration": 4, "renew_deadline": 3, "retry_period": 1}
LEASE_NAMESPACE = "default"
KEY_FIELDS = {
    "alibaba": ("access_key_id", "access_key_secret"),
    "tencent": ("secret_id", "secret_key"),
}
KEY_PREFIX = {"alibaba": "LTAI", "tencent": "AKID"}


def second_key(cloud: str) -> tuple[str, str]:
    """A new (key id, secret) pair in the cloud's own shapes."""
    return KEY_PREFIX[cloud] + secrets.token_hex(12), secrets.token_hex(15)


@pytest.fixture
def replica_keys(e2e: SandboxRun, tmp_path: Path) -> Iterator[dict[str, dict[str, Path]]]:
    """Per replica ("a", "b") and cloud, a credentials file; "b"'s keys are added to the
    mocks for the test (their key stores are plain dicts in this process)."""
    files: dict[str, dict[str, Path]] = {"a": {}, "b": {}}
    added: list[tuple[dict[str, str], str]] = []
    for cloud in CLOUDS:
        mock = e2e.sandbox.mock_clouds[cloud]
        files["a"][cloud] = Path(mock.provider_settings()["credentials_file"])
        store: dict[str, str] = cast(Any, mock).backend.credentials
        key_id, secret = second_key(cloud)
        store[key_id] = secret
        added.append((store, key_id))
        id_field, secret_field = KEY_FIELDS[cloud]
        files["b"][cloud] = write_credentials(
            tmp_path / f"{cloud}-replica-b-credentials.json",
            {id_field: key_id, secret_field: secret},
        )
    try:
        yield files
    finally:
        for store, key_id in added:
            store.pop(key_id, None)


def key_id(path: Path, cloud: str) -> str:
    return str(json.loads(path.read_text())[KEY_FIELDS[cloud][0]])


def counters(e2e: SandboxRun) -> dict[str, CallCounts]:
    return {
        cloud: MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint).counters() for cloud in CLOUDS
    }


def writes(
    now: dict[str, CallCounts], then: dict[str, CallCounts], keys: dict[str, str]
) -> dict[str, int]:
    """Writes per cloud by the replica whose key ids are ``keys``, between two readings."""
    return {
        cloud: now[cloud].writes_by_key.get(keys[cloud], 0)
        - then[cloud].writes_by_key.get(keys[cloud], 0)
        for cloud in CLOUDS
    }


def holder(e2e: SandboxRun, name: str) -> str:
    """The Lease's holder identity ("" when none)."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{name}"
    try:
        lease = e2e.cluster.api.request("GET", path)
    except ApiError as exc:
        if exc.status == 404:
            return ""
        raise
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def service(name: str, load_balancer_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
        },
    }


def test_one_leader_writes_and_sigkill_hands_over_within_the_lease(
    e2e: SandboxRun,
    e2e_namespace: str,
    replica_keys: dict[str, dict[str, Path]],
    tmp_path: Path,
) -> None:
    lease_name = f"lbprovider-handover-{uuid.uuid4().hex[:6]}"
    classes = {cloud: f"lbprovider.io/handover-{cloud}" for cloud in CLOUDS}
    configs = {
        replica: write_config(
            tmp_path / f"replica-{replica}.yaml",
            cluster_name="handover",
            classes=[
                class_entry(e2e, cloud, name=classes[cloud], credentials_file=files[cloud])
                for cloud in CLOUDS
            ],
            leader_election={
                "enabled": True,
                "namespace": LEASE_NAMESPACE,
                "name": lease_name,
                **LEASE,
            },
        )
        for replica, files in replica_keys.items()
    }
    keys = {
        replica: {cloud: key_id(files[cloud], cloud) for cloud in CLOUDS}
        for replica, files in replica_keys.items()
    }
    before = {cloud: e2e.sandbox.mock_clouds[cloud].resources() for cloud in CLOUDS}

    with controller(e2e, configs["a"], tmp_path / "replica-a.log") as replica_a:
        leader_a = wait_for(lambda: holder(e2e, lease_name), timeout=60, what="a leader")
        with controller(e2e, configs["b"], tmp_path / "replica-b.log") as replica_b:
            wait_for(
                lambda: "campaigning for leadership" in (tmp_path / "replica-b.log").read_text(),
                timeout=60,
                what="replica b to campaign",
            )
            time.sleep(2 * LEASE["retry_period"] + 1)  # b has tried for the Lease by now
            assert holder(e2e, lease_name) == leader_a, "the standby took the Lease"

            # Phase 1: a leads; only a writes.
            start = counters(e2e)
            for cloud in CLOUDS:
                e2e.cluster.create_service(e2e_namespace, service(f"first-{cloud}", classes[cloud]))
            for cloud in CLOUDS:
                e2e.cluster.wait_ingress(e2e_namespace, f"first-{cloud}", timeout=90)
            built_by_a = counters(e2e)
            assert all(n > 0 for n in writes(built_by_a, start, keys["a"]).values())
            assert writes(built_by_a, start, keys["b"]) == dict.fromkeys(CLOUDS, 0)
            assert holder(e2e, lease_name) == leader_a

            # Phase 2: SIGKILL the leader; b takes the Lease once it has expired.
            replica_a.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            replica_a.wait(10)
            leader_b = wait_for(
                lambda: (found := holder(e2e, lease_name)) not in ("", leader_a) and found,
                timeout=30,
                what="replica b to take the Lease",
            )
            handover = time.monotonic() - killed
            assert replica_b.poll() is None
            # b's first syncs of the Services a built: digests match, so no write at all.
            time.sleep(5)
            taken_over = counters(e2e)
            assert writes(taken_over, built_by_a, keys["b"]) == dict.fromkeys(CLOUDS, 0)
            assert writes(taken_over, built_by_a, keys["a"]) == dict.fromkeys(CLOUDS, 0)

            # Phase 3: b leads; new Services are built by b alone.
            for cloud in CLOUDS:
                e2e.cluster.create_service(
                    e2e_namespace, service(f"second-{cloud}", classes[cloud])
                )
            for cloud in CLOUDS:
                e2e.cluster.wait_ingress(e2e_namespace, f"second-{cloud}", timeout=90)
            built_by_b = counters(e2e)
            assert all(n > 0 for n in writes(built_by_b, taken_over, keys["b"]).values())
            assert writes(built_by_b, taken_over, keys["a"]) == dict.fromkeys(CLOUDS, 0)
            assert holder(e2e, lease_name) == leader_b

            for cloud in CLOUDS:
                for name in (f"first-{cloud}", f"second-{cloud}"):
                    e2e.cluster.api.request(
                        "DELETE", f"/api/v1/namespaces/{e2e_namespace}/services/{name}"
                    )
            for cloud in CLOUDS:
                for name in (f"first-{cloud}", f"second-{cloud}"):
                    wait_for(
                        lambda name=name: e2e.cluster.service(e2e_namespace, name) is None,  # type: ignore[misc]
                        timeout=90,
                        what=f"{name} cleaned up by the new leader",
                    )
    e2e.cluster.api.request(
        "DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{lease_name}"
    )
    print(
        f"\nleader hand-over after SIGKILL: {handover:.1f}s "
        f"(lease_duration {LEASE['lease_duration']}s, retry_period {LEASE['retry_period']}s)"
    )
    # The standby may take an expired Lease only: not before lease_duration after the old
    # leader's last renewal (at most retry_period before the kill), and then within about
    # one retry period of its own (plus scheduling slack on a shared machine).
    assert LEASE["lease_duration"] - LEASE["retry_period"] - 0.5 <= handover
    assert handover <= LEASE["lease_duration"] + 2 * LEASE["retry_period"] + 2
    for cloud in CLOUDS:
        assert e2e.sandbox.mock_clouds[cloud].resources() == before[cloud], cloud
