"""Credentials for a test control plane: a fresh CA, the API server's serving pair,
an admin client pair, the ServiceAccount token keys, and the kubeconfigs that
carry them to a client."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lbprovider.testing.controlplane.processes import LOOPBACK

__all__ = ["Pki", "generate_pki", "render_kubeconfig", "write_file"]

_CLUSTER_NAME = "lbprovider-test"


@dataclass(frozen=True, kw_only=True)
class Pki:
    """PEM files for one control plane: a CA, the API server's serving pair, an
    admin client pair (``O=system:masters``) and the ServiceAccount token keys."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path


def generate_pki(
    *, directory: Path, hosts: Sequence[str] = (LOOPBACK, "localhost"), valid_days: int = 7
) -> Pki:
    """Write a fresh PKI into ``directory`` (created if needed; keys are mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    # Back-dated so that a slightly skewed clock in a child process still accepts it.
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=valid_days)

    # P-256 keys for TLS: generated in microseconds, unlike RSA.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbprovider-test-ca")])
    ca_cert = (
        _cert_builder(ca_name, ca_name, ca_key.public_key(), not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        subject: x509.Name, usage: x509.ObjectIdentifier, sans: Sequence[x509.GeneralName]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _cert_builder(subject, ca_cert.subject, key.public_key(), not_before, not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    serving_cert, serving_key = leaf(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans,
    )
    admin_cert, admin_key = leaf(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "lbprovider-test-admin"),
            ]
        ),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        (),
    )
    # ServiceAccount tokens are signed RS256, the algorithm every verifier supports.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
        service_account_public_key=directory / "sa.pub",
    )
    write_file(pki.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_file(pki.serving_cert, serving_cert.public_bytes(serialization.Encoding.PEM))
    write_file(pki.serving_key, _private_pem(serving_key), secret=True)
    write_file(pki.admin_cert, admin_cert.public_bytes(serialization.Encoding.PEM))
    write_file(pki.admin_key, _private_pem(admin_key), secret=True)
    write_file(pki.service_account_key, _private_pem(sa_key), secret=True)
    write_file(
        pki.service_account_public_key,
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return pki


def _cert_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_file(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write ``data`` to ``path``, readable by its owner only when ``secret``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def render_kubeconfig(
    *,
    server: str,
    ca_pem: bytes,
    token: str | None = None,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    user_name: str = "admin",
) -> str:
    """A self-contained kubeconfig (YAML) for one cluster, one user, one current context.

    The user authenticates with either a bearer ``token`` or a client certificate.
    """
    has_cert = client_cert_pem is not None and client_key_pem is not None
    if (token is not None) == has_cert or (client_cert_pem is None) != (client_key_pem is None):
        raise ValueError("pass either token, or both client_cert_pem and client_key_pem")
    user: dict[str, str]
    if token is not None:
        user = {"token": token}
    else:
        assert client_cert_pem is not None and client_key_pem is not None  # checked above
        user = {
            "client-certificate-data": _b64(client_cert_pem),
            "client-key-data": _b64(client_key_pem),
        }
    context = f"{user_name}@{_CLUSTER_NAME}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": _CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": _CLUSTER_NAME, "user": user_name}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
