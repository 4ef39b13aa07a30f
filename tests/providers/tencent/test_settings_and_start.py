"""Settings validation, credentials, and the sandbox entry point (start, resources, stop)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from lbprovider.cloud import (
    CloudError,
    DesiredLoadBalancer,
    Listener,
    NodeTarget,
    Protocol,
    ProviderConfigError,
    RetryAfter,
    ServiceRef,
)
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, load
from lbprovider_tencent.provider import TencentProvider, create
from lbprovider_tencent.settings import load_credentials, parse_settings

pytestmark = pytest.mark.providers


@pytest.fixture
def creds(tmp_path: Path) -> str:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"secret_id": "AKIDx", "secret_key": "k"}))
    return str(path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, r"^settings\.region: required$"),
        ({"region": ""}, r"^settings\.region: required$"),
        ({"region": "ap-guangzhou", "zone": "x"}, r"^settings: unknown key 'zone' \(known: "),
        ({"region": "ap-guangzhou", "vpc_id": 5}, r"^settings\.vpc_id: must be a string$"),
        ({"region": "ap-guangzhou", "scheme": "ftp"}, r"^settings\.scheme: must be one of "),
        (
            {"region": "ap-guangzhou", "task_wait_seconds": "1"},
            r"^settings\.task_wait_seconds: must be a number >= 0$",
        ),
        (
            {"region": "ap-guangzhou", "max_attempts": 0},
            r"^settings\.max_attempts: must be an integer >= 1$",
        ),
        (
            {"region": "ap-guangzhou", "cluster_health_check": "http"},
            r"^settings\.cluster_health_check: must be one of ",
        ),
        (
            {"region": "ap-guangzhou", "kube_proxy_health_port": 0},
            r"^settings\.kube_proxy_health_port: must be an integer ",
        ),
        (
            {"region": "ap-guangzhou", "credentials_file": "/nonexistent/creds"},
            r"^settings\.credentials_file: cannot read /nonexistent/creds",
        ),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        create(settings, cluster_name="c")


def test_credentials_file_must_hold_both_keys(tmp_path: Path) -> None:
    path = tmp_path / "creds.yaml"
    path.write_text("secret_id: AKIDonly\n")
    with pytest.raises(
        ProviderConfigError, match=r"^settings\.credentials_file: .* lacks secret_key"
    ):
        create({"region": "ap-guangzhou", "credentials_file": str(path)}, cluster_name="c")


def test_environment_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY", raising=False)
    with pytest.raises(
        ProviderConfigError, match=r"^settings\.credentials_file: .*TENCENTCLOUD_SECRET_ID"
    ):
        create({"region": "ap-guangzhou"}, cluster_name="c")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "envkey")
    assert isinstance(create({"region": "ap-guangzhou"}, cluster_name="c"), TencentProvider)


def test_secrets_stay_out_of_reprs(creds: str) -> None:
    loaded = load_credentials(parse_settings({"region": "ap-guangzhou", "credentials_file": creds}))
    assert "AKIDx" not in repr(loaded)
    assert loaded["secret_id"] == "AKIDx"


def test_credentials_from_an_ini_file_and_an_sts_token(tmp_path: Path) -> None:
    path = tmp_path / "creds.ini"
    path.write_text("[default]\nsecret_id = AKIDini\nsecret_key = k\ntoken = sts\n")
    loaded = load_credentials(
        parse_settings({"region": "ap-guangzhou", "credentials_file": str(path)})
    )
    assert (loaded["secret_id"], loaded.get("token")) == ("AKIDini", "sts")
    assert "sts" not in repr(loaded)


def test_missing_vpc_id_fails_creation_only(tc: Any, cloud: Any) -> None:
    settings = {k: v for k, v in cloud.provider_settings().items() if k != "vpc_id"}
    provider = create(settings, cluster_name=tc.CLUSTER)
    with pytest.raises(CloudError, match=r"^settings\.vpc_id: required"):
        provider.ensure(tc.desired(cloud, tc.ref()))


def test_registered_start_runs_a_mock_that_the_provider_uses_and_cleans() -> None:
    start = load("tencent", MOCK_CLOUD_GROUP)
    handle = start(port=0, instances=2)
    try:
        assert handle.provider == "tencent"
        assert handle.endpoint.startswith("http://127.0.0.1:")
        assert [i.node_name for i in handle.instances] == ["tencent-node-1", "tencent-node-2"]
        for instance in handle.instances:
            assert instance.provider_id.startswith("qcloud:///ap-guangzhou-3/ins-")
            assert instance.internal_ip.startswith("10.0.1.")
        assert handle.subnet_id.startswith("subnet-")
        settings = handle.provider_settings()
        assert settings["endpoint"] == handle.endpoint.removeprefix("http://")
        credentials_file = Path(settings["credentials_file"])
        provider = load("tencent")(settings, cluster_name="sandbox")
        ref = ServiceRef(cluster="sandbox", namespace="default", name="web", uid="u-1")
        want = DesiredLoadBalancer(
            ref=ref,
            listeners=(Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080),),
            nodes=tuple(
                NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
                for i in handle.instances
            ),
        )
        _until_done(lambda: provider.ensure(want))
        assert handle.resources() == {"load_balancers": 1, "listeners": 1, "targets": 2}
        _until_done(lambda: provider.delete(ref))
        assert handle.resources() == {"load_balancers": 0, "listeners": 0, "targets": 0}
    finally:
        handle.stop()
        handle.stop()  # idempotent
    assert not credentials_file.exists()


def _until_done(call: Any) -> None:
    for _ in range(200):
        try:
            call()
            return
        except RetryAfter:
            time.sleep(0.05)
    raise AssertionError("did not converge")
