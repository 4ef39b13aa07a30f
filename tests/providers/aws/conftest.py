"""Fixtures for the AWS provider tests: one moto server (the mock cloud) per session.

Requests go through a small counting HTTP proxy in front of moto, so a test can
assert how many write calls really reached the server.  After each test every
load balancer, target group and tagged security group is swept away, and every
lbprovider rule on the seeded node security group (the group itself stays).
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lbprovider.cloud import NodeTarget
from lbprovider_aws import mockcloud
from lbprovider_aws.provider import AwsProvider, create

READ_PREFIXES = ("Describe", "Get", "List")
ELBV2_VERSION = "2015-12-01"
ERROR_BODY = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
    "<Message>injected by the test proxy</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


@dataclass
class RequestLog:
    """Actions (``CreateLoadBalancer``, ...) that reached moto, with their parameters."""

    calls: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[tuple[int, str]] = field(default_factory=list)
    """Errors to answer elbv2 requests with, in order (status, AWS error code)."""

    def fail_next(self, count: int, *, status: int = 400, code: str = "Throttling") -> None:
        with self.lock:
            self.faults.extend([(status, code)] * count)

    def take_fault(self, params: dict[str, list[str]]) -> tuple[int, str] | None:
        if params.get("Version") != [ELBV2_VERSION]:
            return None
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def record(self, body: bytes) -> dict[str, list[str]]:
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = params.get("Action", ["?"])[0]
        with self.lock:
            self.calls.append((action, params))
        return params

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
            self.faults.clear()

    def writes(self) -> list[str]:
        with self.lock:
            return [action for action, _ in self.calls if not action.startswith(READ_PREFIXES)]

    def of(self, action: str) -> list[dict[str, list[str]]]:
        with self.lock:
            return [params for name, params in self.calls if name == action]


def _proxy(upstream: str, log: RequestLog) -> ThreadingHTTPServer:
    target = urllib.parse.urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK stall every response by ~40 ms.
        disable_nagle_algorithm = True

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = log.take_fault(log.record(body))
            if fault is not None:
                data = ERROR_BODY.format(code=fault[1]).encode()
                self.send_response(fault[0])
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(
                target.hostname or "127.0.0.1", target.port, timeout=30
            )
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            conn.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="session")
def cloud() -> Iterator[mockcloud.AwsMockCloud]:
    handle = mockcloud.start(instances=3)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def _proxy_server(cloud: mockcloud.AwsMockCloud) -> Iterator[tuple[str, RequestLog]]:
    log = RequestLog()
    server = _proxy(cloud.endpoint, log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def requests_log(_proxy_server: tuple[str, RequestLog]) -> RequestLog:
    log = _proxy_server[1]
    log.clear()
    return log


def _sweep(cloud: mockcloud.AwsMockCloud) -> None:
    elbv2 = cloud.client("elbv2")
    ec2 = cloud.client("ec2")
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Listeners"
        ]:
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    # Rules go by id: a rule whose source group is already gone cannot be named otherwise.
    rules = ec2.describe_security_group_rules()["SecurityGroupRules"]
    defaults = {
        group["GroupId"]
        for group in ec2.describe_security_groups()["SecurityGroups"]
        if group["GroupName"] == "default"
    }
    ingress: dict[str, list[str]] = {}
    for rule in rules:
        if not rule["IsEgress"] and rule["GroupId"] not in defaults:
            ingress.setdefault(rule["GroupId"], []).append(rule["SecurityGroupRuleId"])
    for group_id, rule_ids in ingress.items():
        ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=rule_ids)
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        # The seeded nodes' group stays.
        if group["GroupName"] != "default" and group["GroupId"] != cloud.node_security_group:
            ec2.delete_security_group(GroupId=group["GroupId"])


@pytest.fixture
def settings(
    cloud: mockcloud.AwsMockCloud, _proxy_server: tuple[str, RequestLog]
) -> Iterator[dict[str, Any]]:
    """Class settings pointing at the counting proxy; the cloud is swept after the test."""
    values = cloud.provider_settings()
    values["endpoint_url"] = _proxy_server[0]
    yield values
    _sweep(cloud)
    assert cloud.resources() == {
        "load_balancers": 0,
        "target_groups": 0,
        "security_groups": 0,
        "node_sg_rules": 0,
    }
    assert (
        cloud.client("ec2").describe_security_groups(GroupIds=[cloud.node_security_group])[
            "SecurityGroups"
        ][0]["IpPermissions"]
        == []
    )


@pytest.fixture
def make_provider(settings: dict[str, Any]) -> Callable[..., AwsProvider]:
    def build(cluster: str = "test-cluster", **overrides: Any) -> AwsProvider:
        return create({**settings, **overrides}, cluster_name=cluster)

    return build


@pytest.fixture
def provider(make_provider: Callable[..., AwsProvider]) -> AwsProvider:
    return make_provider()


@pytest.fixture
def nodes(cloud: mockcloud.AwsMockCloud) -> tuple[NodeTarget, ...]:
    """The seeded instances as nodes, plus one node of another cloud (must be ignored)."""
    ours = tuple(
        NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
        for i in cloud.instances
    )
    return (*ours, NodeTarget(name="zz-other", provider_id="gce://p/z/vm-1", address="10.9.9.9"))
