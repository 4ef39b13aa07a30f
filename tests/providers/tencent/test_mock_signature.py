"""The mock CLB's TC3-HMAC-SHA256 check: the captured SDK request, edits, keys, clock skew."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from lbprovider.mockkit import MockClock
from lbprovider_tencent.mock import ClbBackend, TencentMockCloud, serve

pytestmark = pytest.mark.providers

# One request captured from the real SDK (a copy of shared/testdata's vectors).
VECTORS = Path(__file__).resolve().parents[1] / "data" / "signature-vectors.json"


def _vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())["tencent"]
    return data


@pytest.fixture
def vector_server() -> Iterator[TencentMockCloud]:
    """A mock holding the vector's credentials, VPC and subnet, clock pinned to its capture."""
    vector = _vector()
    timestamp = int(vector["request"]["headers"]["X-TC-Timestamp"])
    clock = MockClock()
    clock.pin(timestamp)
    backend = ClbBackend(
        vpc_id="vpc-1",
        subnet_id="subnet-1",
        credentials={vector["secret_id"]: vector["secret_key"]},
        clock=clock,
    )
    mock = serve(backend)
    try:
        yield mock
    finally:
        mock.stop()


def _send_raw(mock: TencentMockCloud, headers: dict[str, str], body: bytes) -> Any:
    """Send exactly these headers and body (no Host or Accept-Encoding added)."""
    conn = http.client.HTTPConnection(mock.server.host, mock.server.port, timeout=5)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        return json.loads(response.read())["Response"]
    finally:
        conn.close()


def test_captured_sdk_request_is_accepted_byte_for_byte(vector_server: TencentMockCloud) -> None:
    request = _vector()["request"]
    answer = _send_raw(vector_server, request["headers"], request["body"].encode())
    assert "Error" not in answer, answer
    lb_id = answer["LoadBalancerIds"][0]
    state = vector_server.backend.snapshot()["load_balancers"]
    assert [(lb["id"], lb["type"], lb["subnet_id"]) for lb in state] == [
        (lb_id, "INTERNAL", "subnet-1")
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", '{"LoadBalancerType": "OPEN", "VpcId": "vpc-1", "SubnetId": "subnet-1"}'),
        ("Host", "127.0.0.1:1"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-TC-Timestamp", "1795683401"),
    ],
)
def test_edited_copy_is_rejected(vector_server: TencentMockCloud, field: str, value: str) -> None:
    request = _vector()["request"]
    headers = dict(request["headers"])
    body = request["body"]
    if field == "body":
        body = value
        headers["Content-Length"] = str(len(body))
    else:
        headers[field] = value
    answer = _send_raw(vector_server, headers, body.encode())
    assert answer["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert vector_server.backend.snapshot()["load_balancers"] == []


def test_unpinned_clock_rejects_the_old_capture_as_expired() -> None:
    vector = _vector()
    backend = ClbBackend(
        vpc_id="vpc-1",
        subnet_id="subnet-1",
        credentials={vector["secret_id"]: vector["secret_key"]},
    )
    mock = serve(backend)
    try:
        request = vector["request"]
        answer = _send_raw(mock, request["headers"], request["body"].encode())
    finally:
        mock.stop()
    assert answer["Error"]["Code"] == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize(
    ("skew", "accepted"), [(299, True), (-299, True), (301, False), (-301, False)]
)
def test_timestamp_skew_window(tc: Any, cloud: Any, skew: int, accepted: bool) -> None:
    secret_id, secret_key = tc.secrets(cloud)
    now = 1_800_000_000
    cloud.admin.pin_clock(now)
    body = b"{}"
    headers = tc.tc3_headers(
        secret_id=secret_id,
        secret_key=secret_key,
        action="DescribeLoadBalancers",
        body=body,
        host=cloud.address,
        timestamp=now + skew,
    )
    answer = _send_raw(cloud, headers, body)
    if accepted:
        assert answer["TotalCount"] == 0
    else:
        assert answer["Error"]["Code"] == "AuthFailure.SignatureExpire"


def test_credential_scope_date_must_match_timestamp(tc: Any, cloud: Any) -> None:
    secret_id, secret_key = tc.secrets(cloud)
    now = 1_800_000_000  # 2027-01-15 08:00 UTC
    cloud.admin.pin_clock(now)
    body = b"{}"
    headers = tc.tc3_headers(
        secret_id=secret_id,
        secret_key=secret_key,
        action="DescribeLoadBalancers",
        body=body,
        host=cloud.address,
        timestamp=now,
        date="2027-01-14",
    )
    answer = _send_raw(cloud, headers, body)
    assert answer["Error"]["Code"] == "AuthFailure.SignatureFailure"


def test_sdk_with_wrong_key_raises_signature_failure(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud, secret_key="not-the-key")
    with pytest.raises(TencentCloudSDKException) as caught:
        tc.sdk_call(client, "DescribeLoadBalancers", {})
    assert caught.value.code == "AuthFailure.SignatureFailure"
    counters = cloud.admin.counters()
    assert counters.reads == 0  # rejected before any work
    assert counters.rejected == 1


def test_sdk_with_unknown_secret_id_raises_secret_id_not_found(tc: Any, cloud: Any) -> None:
    client = tc.sdk_client(cloud, secret_id="AKIDunknown")
    with pytest.raises(TencentCloudSDKException) as caught:
        tc.sdk_call(client, "DescribeLoadBalancers", {})
    assert caught.value.code == "AuthFailure.SecretIdNotFound"


def test_sdk_with_right_key_is_accepted(tc: Any, cloud: Any) -> None:
    response = tc.sdk_call(tc.sdk_client(cloud), "DescribeLoadBalancers", {})
    assert response.TotalCount == 0
    assert response.RequestId


def test_missing_authorization_is_rejected(cloud: Any) -> None:
    answer = _send_raw(
        cloud,
        {
            "Host": cloud.address,
            "Content-Type": "application/json",
            "X-TC-Action": "DescribeLoadBalancers",
            "X-TC-Timestamp": "1",
            "Content-Length": "2",
        },
        b"{}",
    )
    assert answer["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
