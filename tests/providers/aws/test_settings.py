"""Settings validation, credentials files and annotation parsing (no cloud needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lbprovider.cloud import InvalidService, ProviderConfigError, ServiceRef
from lbprovider.cloud.registry import load
from lbprovider.providerkit import load_credentials
from lbprovider_aws import model, naming, options
from lbprovider_aws.provider import create
from lbprovider_aws.settings import CREDENTIALS, parse_settings

pytestmark = pytest.mark.providers

BASE: dict[str, Any] = {"region": "us-east-1", "subnets": ["subnet-0a1b2c"]}


def test_valid_settings_are_parsed() -> None:
    parsed = parse_settings({**BASE, "endpoint_url": "http://127.0.0.1:5000", "vpc_id": "vpc-0abc"})
    assert parsed.region == "us-east-1"
    assert parsed.subnets == ("subnet-0a1b2c",)
    assert parsed.vpc_id == "vpc-0abc"
    assert parsed.endpoint_url == "http://127.0.0.1:5000"
    assert parsed.credentials_file is None


def test_the_entry_point_is_the_factory() -> None:
    assert load("aws") is create


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({**BASE, "regoin": "us-east-1"}, "^settings: unknown key 'regoin'"),
        ({"subnets": []}, "^settings.region: required$"),
        ({**BASE, "region": 42}, "^settings.region: "),
        ({**BASE, "region": "moon-base"}, "^settings.region: "),
        ({**BASE, "subnets": "subnet-0a1b2c"}, "^settings.subnets: "),
        ({**BASE, "subnets": ["sn-1"]}, "^settings.subnets: "),
        ({**BASE, "vpc_id": "my-vpc"}, "^settings.vpc_id: "),
        ({**BASE, "endpoint_url": "127.0.0.1:5000"}, "^settings.endpoint_url: "),
        ({**BASE, "credentials_file": ""}, "^settings.credentials_file: "),
        ({**BASE, "retry_attempts": -1}, "^settings.retry_attempts: "),
        ({**BASE, "retry_attempts": True}, "^settings.retry_attempts: "),
        ({**BASE, "kube_proxy_health_port": 0}, "^settings.kube_proxy_health_port: "),
        ({**BASE, "cluster_health_check": "udp"}, "^settings.cluster_health_check: "),
        ({**BASE, "node_port_range": "30000"}, "^settings.node_port_range: "),
        ({**BASE, "node_port_range": "32767-30000"}, "^settings.node_port_range: "),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ProviderConfigError, match=named):
        create(settings, cluster_name="c")


def test_empty_cluster_name_is_refused() -> None:
    with pytest.raises(ProviderConfigError, match="cluster_name"):
        create(BASE, cluster_name=" ")


def test_credentials_from_yaml_and_ini(tmp_path: Path) -> None:
    yaml_file = tmp_path / "creds.yaml"
    yaml_file.write_text("access_key_id: AKIDEXAMPLE\nsecret_access_key: s3cr3t-value\n")
    parsed = load_credentials(CREDENTIALS, path=str(yaml_file))
    assert parsed is not None
    assert (parsed["access_key_id"], parsed["secret_access_key"]) == (
        "AKIDEXAMPLE",
        "s3cr3t-value",
    )
    assert "s3cr3t-value" not in repr(parsed)

    ini_file = tmp_path / "credentials"
    ini_file.write_text(
        "[default]\naws_access_key_id = AKIDINI\naws_secret_access_key = ini-secret\n"
        "aws_session_token = tok\n"
    )
    parsed = load_credentials(CREDENTIALS, path=str(ini_file))
    assert parsed is not None
    assert (parsed["access_key_id"], parsed["session_token"]) == ("AKIDINI", "tok")
    # A provider builds with them (no call is made until it is used).
    create({**BASE, "credentials_file": str(ini_file)}, cluster_name="c")


def test_bad_credentials_file_errors_never_echo_the_content(tmp_path: Path) -> None:
    partial = tmp_path / "partial.yaml"
    partial.write_text("secret_access_key: do-not-print-me\n")
    with pytest.raises(
        ProviderConfigError, match=r"^settings\.credentials_file: .* lacks access_key_id$"
    ) as caught:
        create({**BASE, "credentials_file": str(partial)}, cluster_name="c")
    assert "do-not-print-me" not in str(caught.value)
    with pytest.raises(ProviderConfigError, match=r"^settings\.credentials_file: cannot read"):
        create({**BASE, "credentials_file": str(tmp_path / "missing")}, cluster_name="c")


def _ref(values: dict[str, str]) -> ServiceRef:
    return ServiceRef(cluster="c", namespace="ns", name="svc", uid="u", annotations=values)


@pytest.mark.parametrize(
    ("values", "scheme"),
    [
        ({}, "internet-facing"),
        ({options.SCHEME: "internal"}, "internal"),
        ({options.SCHEME: " internet-facing "}, "internet-facing"),
        ({options.INTERNAL_LEGACY: "true"}, "internal"),
        ({options.INTERNAL_LEGACY: "0.0.0.0/0"}, "internal"),
        ({options.INTERNAL_LEGACY: "false"}, "internet-facing"),
        ({options.SCHEME: "internal", options.INTERNAL_LEGACY: "true"}, "internal"),
    ],
)
def test_scheme_annotations(values: dict[str, str], scheme: str) -> None:
    assert options.parse_options(_ref(values)).scheme == scheme


def test_subnet_annotation_is_a_deduplicated_id_list() -> None:
    parsed = options.parse_options(_ref({options.SUBNETS: "subnet-1a, subnet-2b,subnet-1a"}))
    assert parsed.subnets == ("subnet-1a", "subnet-2b")
    with pytest.raises(InvalidService, match=options.SUBNETS):
        options.parse_options(_ref({options.SUBNETS: " , "}))


def test_names_fit_aws_limits_and_differ_per_owner() -> None:
    first, second = _ref({}), ServiceRef(cluster="c", namespace="ns", name="svc", uid="u2")
    assert len(naming.load_balancer_name(first)) == 32
    assert naming.load_balancer_name(first) != naming.load_balancer_name(second)
    longest = naming.target_group_name(first, port=65535, protocol="TCP_UDP", target_type="ip")
    assert len(longest) <= 32
    assert longest.startswith(naming.target_group_prefix(first))


@pytest.mark.parametrize(
    ("provider_id", "instance"),
    [
        ("aws:///us-east-1a/i-0abc123", "i-0abc123"),
        ("aws:///i-0abc123", "i-0abc123"),
        ("aws://us-east-1a/vol-1", None),
        ("gce://p/z/i-1", None),
    ],
)
def test_instance_ids_from_provider_ids(provider_id: str, instance: str | None) -> None:
    assert model.instance_id(provider_id) == instance
