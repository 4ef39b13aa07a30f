"""The control plane's pure helpers: ports, kubeconfig rendering, PKI, binary lookup, names."""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lbprovider.testing.controlplane import (
    BINARY_NAMES,
    ControlPlaneError,
    find_binaries,
    free_ports,
    generate_pki,
    render_kubeconfig,
    repo_build_script,
)
from lbprovider.testing.pytest_plugin import namespace_name_for

pytestmark = pytest.mark.unit

CA_PEM = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"


def test_free_ports_are_distinct_and_bindable_on_loopback() -> None:
    ports = free_ports(4)

    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_token_kubeconfig_has_one_cluster_user_and_current_context() -> None:
    text = render_kubeconfig(
        server="https://127.0.0.1:6443", ca_pem=CA_PEM, token="abc", user_name="reader"
    )

    config = yaml.safe_load(text)
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    (context,) = config["contexts"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == CA_PEM
    assert user == {"name": "reader", "user": {"token": "abc"}}
    assert context["context"] == {"cluster": cluster["name"], "user": "reader"}
    assert config["current-context"] == context["name"]


def test_client_certificate_kubeconfig_embeds_the_pair() -> None:
    text = render_kubeconfig(
        server="https://127.0.0.1:1",
        ca_pem=CA_PEM,
        client_cert_pem=b"cert",
        client_key_pem=b"key",
    )

    (user,) = yaml.safe_load(text)["users"]
    assert base64.b64decode(user["user"]["client-certificate-data"]) == b"cert"
    assert base64.b64decode(user["user"]["client-key-data"]) == b"key"


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"token": "t", "client_cert_pem": b"c", "client_key_pem": b"k"},
        {"client_cert_pem": b"c"},
        {"token": "t", "client_key_pem": b"k"},
    ],
)
def test_kubeconfig_needs_exactly_one_kind_of_credential(credentials: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="either token"):
        render_kubeconfig(server="https://127.0.0.1:1", ca_pem=CA_PEM, **credentials)  # type: ignore[arg-type]


def test_pki_serving_cert_covers_loopback_and_admin_is_system_masters(tmp_path: Path) -> None:
    pki = generate_pki(directory=tmp_path / "pki")

    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    serving.verify_directly_issued_by(ca)
    admin.verify_directly_issued_by(ca)
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    organizations = admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in organizations] == ["system:masters"]
    for key in (pki.serving_key, pki.admin_key, pki.service_account_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"BEGIN PUBLIC KEY" in pki.service_account_public_key.read_bytes()


def _fake_binaries(directory: Path) -> Path:
    directory.mkdir()
    for name in BINARY_NAMES:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return directory


def test_binaries_dir_wins_over_kubebuilder_assets(tmp_path: Path) -> None:
    explicit = _fake_binaries(tmp_path / "explicit")
    assets = _fake_binaries(tmp_path / "assets")

    found = find_binaries(binaries_dir=explicit, environ={"KUBEBUILDER_ASSETS": str(assets)})

    assert found.directory == explicit
    assert found.apiserver == explicit / "kube-apiserver"


def test_kubebuilder_assets_is_used_before_the_build_script(tmp_path: Path) -> None:
    assets = _fake_binaries(tmp_path / "assets")

    found = find_binaries(
        environ={"KUBEBUILDER_ASSETS": str(assets)}, build_script=tmp_path / "never-run.sh"
    )

    assert found.directory == assets


def test_incomplete_directory_names_what_is_missing(tmp_path: Path) -> None:
    assets = _fake_binaries(tmp_path / "assets")
    (assets / "etcd").unlink()

    with pytest.raises(ControlPlaneError, match=r"KUBEBUILDER_ASSETS .* lacks executable etcd"):
        find_binaries(environ={"KUBEBUILDER_ASSETS": str(assets)})


def test_without_assets_or_script_the_error_says_set_kubebuilder_assets(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneError, match="set KUBEBUILDER_ASSETS"):
        find_binaries(environ={}, build_script=tmp_path / "absent.sh")


def test_the_build_script_is_found_in_a_source_checkout() -> None:
    assert repo_build_script().name == "kube-binaries.sh"
    assert repo_build_script().is_file()


@pytest.mark.parametrize(
    "test_name",
    [
        "test_x",
        "test_service[LoadBalancer-TCP/UDP]",
        "test_" + "very_long_name_" * 10,
        "___",
    ],
)
def test_namespace_names_are_dns_labels(test_name: str) -> None:
    name = namespace_name_for(test_name)

    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name != namespace_name_for(test_name)  # a random suffix keeps reruns apart


def test_namespace_name_keeps_the_test_name_readable() -> None:
    assert namespace_name_for("test_Service[TCP]", suffix="abc123") == "t-test-service-tcp-abc123"
