"""End to end: bad input never crashes the controller and never blocks it.

On the sandbox, for each cloud: a typo in a class's settings is named by
``lbprovider run --check``; credentials the cloud rejects give one clear
Warning Event, ``LoadBalancerReady=False`` and slow retries (no Event storm);
a quota error surfaces and clears; a reused load balancer that does not exist
is refused without creating one; AWS refuses TCP and UDP on one port with two
nodePorts.  Each time the cloud is left as it was found.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from lbprovider.controller import reasons
from lbprovider.mockkit import MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_each, wait_for
from lbprovider.testing.sandbox import CLASS_NAMES
from second_controller import (
    class_entry,
    condition,
    controller,
    forget_finalizer,
    write_config,
    write_credentials,
)

pytestmark = pytest.mark.e2e

CLOUDS = ["aws", "alibaba", "tencent"]
BIN = Path(sys.executable).parent
OBSERVE_SECONDS = 20.0
"""How long a failing Service is watched for an Event storm."""

SECRET_FIELD = {"aws": "secret_access_key", "alibaba": "access_key_secret", "tencent": "secret_key"}
"""The secret in each mock's credentials file; the key id next to it stays right."""

QUOTA_ERROR = {
    # (code, HTTP status) of "no more load balancers in this account/region"; none is
    # retryable, so whatever the exact code, the controller must surface it as it came.
    "aws": ("TooManyLoadBalancers", 400),  # elbv2 CreateLoadBalancer
    # SLB CreateLoadBalancer's errorCodes (OpenAPI metadata, Slb 2014-05-15): "OverQuota",
    # "The Total is over the quota"; there is no QuotaExceeded.LoadBalancer for SLB.
    "alibaba": ("OverQuota", 400),
    "tencent": ("LimitExceeded", 200),  # CLB's errors are HTTP 200 with an Error body
}

CREDENTIAL_WORDS = re.compile(r"(?i)signature|credential|access ?key|secret|auth")


def service(name: str, load_balancer_class: str, **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "loadBalancerClass": load_balancer_class,
        "selector": {"app.kubernetes.io/name": "MyApp"},
        "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
    }
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations},
        "spec": body,
    }


def warnings(e2e: SandboxRun, namespace: str, name: str) -> list[dict[str, Any]]:
    return [event for event in e2e.cluster.events(namespace, name) if event["type"] == "Warning"]


def wait_warning(e2e: SandboxRun, namespace: str, name: str) -> dict[str, Any]:
    found = wait_for(
        lambda: warnings(e2e, namespace, name), timeout=60, what=f"a Warning Event on {name}"
    )
    return found[0]


def ready_condition(e2e: SandboxRun, namespace: str, name: str) -> dict[str, Any] | None:
    return condition(e2e.cluster.service(namespace, name), reasons.CONDITION_TYPE)


def delete_and_wait(e2e: SandboxRun, namespace: str, name: str) -> None:
    e2e.cluster.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/{name}")
    wait_for(
        lambda: e2e.cluster.service(namespace, name) is None,
        timeout=60,
        what=f"{name} to be cleaned up and deleted",
    )


def admin(e2e: SandboxRun, cloud: str) -> MockAdmin:
    return MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint)


# --- unknown class settings --------------------------------------------------------------


@pytest.mark.parametrize("cloud", CLOUDS)
def test_check_names_an_unknown_class_setting(e2e: SandboxRun, cloud: str, tmp_path: Path) -> None:
    config = yaml.safe_load(e2e.sandbox.config_path.read_text())
    index, entry = next(
        (index, item) for index, item in enumerate(config["classes"]) if item["provider"] == cloud
    )
    entry["settings"]["regoin"] = "eu-west-1"
    path = tmp_path / "lbprovider.yaml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(
        [str(BIN / "lbprovider"), "run", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 2, check
    lines = [line for line in (check.stdout + check.stderr).splitlines() if "regoin" in line]
    assert lines, f"no line names the key:\n{check.stdout}{check.stderr}"
    assert f"classes[{index}].settings" in lines[0] and "unknown key" in lines[0], lines


# --- credentials the cloud rejects ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BadKeys:
    """One cloud's own controller, serving its own class with a secret the cloud rejects."""

    cloud: str
    load_balancer_class: str
    service: str
    config: Path
    log: Path
    resources_before: dict[str, int]
    rejected_before: int


@dataclass(frozen=True, kw_only=True)
class Rejections:
    """What one cloud's failing Service showed ``OBSERVE_SECONDS`` after its first Warning."""

    first: dict[str, Any]
    events: list[dict[str, Any]]
    rejected: int
    state: dict[str, Any] | None
    alive: bool

    @property
    def attempts(self) -> int:
        return sum(event.get("count") or 1 for event in self.events)


def prepare_bad_keys(e2e: SandboxRun, cloud: str, directory: Path) -> BadKeys:
    """Wrong credentials and a config of its own (cluster name, class, log) for ``cloud``."""
    mock = e2e.sandbox.mock_clouds[cloud]
    good = json.loads(Path(mock.provider_settings()["credentials_file"]).read_text())
    # Long and random: the secrets check of the session greps for it too.
    wrong = {**good, SECRET_FIELD[cloud]: "wrong" + secrets.token_hex(16)}
    credentials = write_credentials(directory / f"{cloud}-wrong-credentials.json", wrong)
    load_balancer_class = f"lbprovider.io/badkeys-{cloud}"
    config = write_config(
        directory / f"{cloud}-lbprovider.yaml",
        cluster_name=f"badkeys-{cloud}",
        classes=[class_entry(e2e, cloud, name=load_balancer_class, credentials_file=credentials)],
    )
    return BadKeys(
        cloud=cloud,
        load_balancer_class=load_balancer_class,
        service=f"badkeys-{cloud}",
        config=config,
        log=directory / f"{cloud}-controller.log",
        resources_before=mock.resources(),
        # Before its controller starts, so whatever it calls on start-up counts too.
        rejected_before=admin(e2e, cloud).counters().rejected,
    )


T = TypeVar("T")


def first_warning(
    e2e: SandboxRun, namespace: str, name: str
) -> tuple[dict[str, Any], float] | None:
    """The Service's first Warning Event and when it was seen, or None yet."""
    found = warnings(e2e, namespace, name)
    return (found[0], time.monotonic()) if found else None


def observe_rejections(
    e2e: SandboxRun,
    namespace: str,
    runs: list[BadKeys],
    processes: Mapping[str, subprocess.Popen[bytes]],
) -> dict[str, Rejections]:
    """Each cloud's Service, read back ``OBSERVE_SECONDS`` after its own first Warning."""
    firsts = wait_each(
        {run.cloud: functools.partial(first_warning, e2e, namespace, run.service) for run in runs},
        timeout=60,
        what="a Warning Event",
    )
    observed: dict[str, Rejections] = {}
    # The windows overlap: one wait in all, each cloud still watched for OBSERVE_SECONDS.
    for run in sorted(runs, key=lambda run: firsts[run.cloud][1]):
        first, seen_at = firsts[run.cloud]
        time.sleep(max(0.0, seen_at + OBSERVE_SECONDS - time.monotonic()))
        observed[run.cloud] = Rejections(
            first=first,
            events=warnings(e2e, namespace, run.service),
            rejected=admin(e2e, run.cloud).counters().rejected - run.rejected_before,
            state=ready_condition(e2e, namespace, run.service),
            alive=processes[run.cloud].poll() is None,
        )
    return observed


def check_rejections(e2e: SandboxRun, run: BadKeys, seen: Rejections) -> None:
    cloud = run.cloud
    assert seen.alive, f"{cloud}: the controller died on rejected credentials"
    assert seen.first["reason"] == reasons.SYNC_LOAD_BALANCER_FAILED, (cloud, seen.first)
    assert CREDENTIAL_WORDS.search(seen.first["message"]), (cloud, seen.first["message"])
    # Repeats only count up.
    assert len(seen.events) == 1, (cloud, [event["message"] for event in seen.events])
    # Backoff from 5 s doubling: about three attempts in 20 s, not one per second.
    assert 1 <= seen.attempts <= 5, (cloud, seen.attempts)
    # No retry storm inside one attempt either.
    assert seen.rejected <= seen.attempts * 4, (cloud, seen.rejected)
    assert seen.state is not None and seen.state["status"] == "False", (cloud, seen.state)
    assert seen.state["reason"] == reasons.CONDITION_SYNC_FAILED, (cloud, seen.state)
    assert e2e.sandbox.mock_clouds[cloud].resources() == run.resources_before, cloud


def test_rejected_credentials_give_one_warning_and_slow_retries(
    e2e: SandboxRun, e2e_namespace: str, tmp_path: Path
) -> None:
    # Every cloud at once, each with a controller of its own: their windows overlap.
    runs = [prepare_bad_keys(e2e, cloud, tmp_path) for cloud in CLOUDS]
    try:
        with contextlib.ExitStack() as stack:
            processes = {
                run.cloud: stack.enter_context(controller(e2e, run.config, run.log)) for run in runs
            }
            for run in runs:
                e2e.cluster.create_service(
                    e2e_namespace, service(run.service, run.load_balancer_class)
                )
            observed = observe_rejections(e2e, e2e_namespace, runs, processes)
    finally:
        # Their controllers cannot clean up (and built nothing): let the Services go.
        for run in runs:
            forget_finalizer(e2e, e2e_namespace, run.service)
    for run in runs:
        seen = observed[run.cloud]
        print(
            f"\n{run.cloud}: rejected credentials over {OBSERVE_SECONDS:.0f}s: "
            f"{len(seen.events)} Warning Event(s), {seen.attempts} attempt(s), "
            f"{seen.rejected} call(s) rejected"
        )
    for run in runs:
        check_rejections(e2e, run, observed[run.cloud])


# --- quota exceeded ----------------------------------------------------------------------


@pytest.mark.parametrize("cloud", CLOUDS)
def test_quota_exceeded_is_reported_and_clears(
    e2e: SandboxRun, e2e_namespace: str, cloud: str
) -> None:
    code, status = QUOTA_ERROR[cloud]
    mock = e2e.sandbox.mock_clouds[cloud]
    before = mock.resources()
    admin(e2e, cloud).inject_fault(
        code,
        status=status,
        actions=["CreateLoadBalancer"],
        count=None,
        message="The number of load balancers exceeds the quota of this account.",
    )
    try:
        e2e.cluster.create_service(e2e_namespace, service("quota", CLASS_NAMES[cloud]))
        warning = wait_warning(e2e, e2e_namespace, "quota")
        assert warning["reason"] == reasons.SYNC_LOAD_BALANCER_FAILED
        assert code in warning["message"], warning["message"]
        state = ready_condition(e2e, e2e_namespace, "quota")
        assert state is not None and state["status"] == "False", state
        assert e2e.cluster.ingress(e2e_namespace, "quota") == []
    finally:
        admin(e2e, cloud).clear_faults()
    # Raised quota: the next retry builds it (backoff is at most 20 s by now).
    e2e.cluster.wait_ingress(e2e_namespace, "quota", timeout=90)
    delete_and_wait(e2e, e2e_namespace, "quota")
    assert mock.resources() == before


# --- a reused load balancer that does not exist -----------------------------------------

REUSE_ANNOTATION = {
    "alibaba": ("service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id", "lb-doesnotexist0"),
    "tencent": ("service.kubernetes.io/tke-existed-lbid", "lb-doesnotexist0"),
}


@pytest.mark.parametrize("cloud", sorted(REUSE_ANNOTATION))
def test_reusing_a_load_balancer_that_does_not_exist(
    e2e: SandboxRun, e2e_namespace: str, cloud: str
) -> None:
    annotation, lb_id = REUSE_ANNOTATION[cloud]
    mock = e2e.sandbox.mock_clouds[cloud]
    before = mock.resources()
    e2e.cluster.create_service(
        e2e_namespace, service("reuse", CLASS_NAMES[cloud], annotations={annotation: lb_id})
    )
    warning = wait_warning(e2e, e2e_namespace, "reuse")
    assert warning["reason"] == reasons.SYNC_LOAD_BALANCER_FAILED
    assert lb_id in warning["message"], warning["message"]
    state = ready_condition(e2e, e2e_namespace, "reuse")
    assert state is not None and state["status"] == "False", state
    assert mock.resources() == before, "a load balancer was created instead of the reused one"
    delete_and_wait(e2e, e2e_namespace, "reuse")  # nothing to spare, nothing to delete
    assert mock.resources() == before


# --- AWS: TCP and UDP on one port with two nodePorts ------------------------------------


def test_aws_refuses_tcp_and_udp_on_one_port_with_two_node_ports(
    e2e: SandboxRun, e2e_namespace: str
) -> None:
    mock = e2e.sandbox.mock_clouds["aws"]
    before = mock.resources()
    dns = [
        {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": 53},
        {"name": "dns-udp", "protocol": "UDP", "port": 53, "targetPort": 53},
    ]
    # Kubernetes gives both the same nodePort only when created as a LoadBalancer; an
    # existing Service changed to one gets two.
    manifest = service("dns", CLASS_NAMES["aws"], type="ClusterIP", ports=dns)
    del manifest["spec"]["loadBalancerClass"]  # only a LoadBalancer may name one
    e2e.cluster.create_service(e2e_namespace, manifest)
    path = f"/api/v1/namespaces/{e2e_namespace}/services/dns"
    changed = e2e.cluster.patch(
        path, {"spec": {"type": "LoadBalancer", "loadBalancerClass": CLASS_NAMES["aws"]}}
    )
    node_ports = {port["nodePort"] for port in changed["spec"]["ports"]}
    assert len(node_ports) == 2, changed["spec"]["ports"]  # the case under test
    warning = wait_warning(e2e, e2e_namespace, "dns")
    assert warning["reason"] == reasons.SYNC_LOAD_BALANCER_FAILED
    assert "different nodePorts" in warning["message"], warning["message"]
    state = ready_condition(e2e, e2e_namespace, "dns")
    assert state is not None and state["reason"] == reasons.CONDITION_INVALID_SERVICE, state
    assert mock.resources() == before
    delete_and_wait(e2e, e2e_namespace, "dns")
