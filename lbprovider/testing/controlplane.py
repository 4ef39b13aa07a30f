"""A throwaway Kubernetes control plane for tests, in the spirit of controller-runtime's envtest.

``ControlPlane.start()`` runs a real etcd and kube-apiserver (and, on request, a
kube-controller-manager limited to the controllers tests need) as child
processes bound to free ports on 127.0.0.1, with a freshly generated PKI, and
waits until the API server reports ``/readyz`` ok::

    with ControlPlane.start(with_controller_manager=True) as plane:
        api = plane.api_client()          # admin (system:masters) client
        token = plane.request_token(namespace="ns", service_account="reader")
        plane.write_kubeconfig_for_token(path, token)

Binaries come from ``binaries_dir``, else ``KUBEBUILDER_ASSETS`` (the envtest
convention), else the repository's ``scripts/kube-binaries.sh`` (which builds
them once into a cache) when running from a source checkout.

Every child process is killed on ``stop()``, when ``start()`` fails half way,
at interpreter exit, and (on Linux) when the process that started it dies.
Process output goes to ``<workdir>/logs/<name>.log``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import datetime as dt
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import lbprovider

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "BINARY_NAMES",
    "CONTROLLERS",
    "SERVICE_CLUSTER_IP_RANGE",
    "ControlPlane",
    "ControlPlaneError",
    "KubeBinaries",
    "Pki",
    "find_binaries",
    "free_ports",
    "generate_pki",
    "render_kubeconfig",
    "repo_build_script",
]

#: Service ClusterIPs come from here; it holds the seed document's ``10.0.171.239``.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"

#: The only kube-controller-manager controllers started: real EndpointSlices,
#: owner-reference clean-up, namespace deletion (so test namespaces really go), and
#: each namespace's "default" ServiceAccount, without which admission refuses Pods.
CONTROLLERS = (
    "endpointslice-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
)

BINARY_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager")

_LOOPBACK = "127.0.0.1"
_CLUSTER_NAME = "lbprovider-test"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class ControlPlaneError(RuntimeError):
    """The control plane could not be found, started or reached."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True, kw_only=True)
class KubeBinaries:
    """A directory holding ``etcd``, ``kube-apiserver`` and ``kube-controller-manager``."""

    directory: Path

    @property
    def etcd(self) -> Path:
        return self.directory / "etcd"

    @property
    def apiserver(self) -> Path:
        return self.directory / "kube-apiserver"

    @property
    def controller_manager(self) -> Path:
        return self.directory / "kube-controller-manager"

    def missing(self) -> list[str]:
        """Names of the binaries that are absent or not executable."""
        return [
            name
            for name in BINARY_NAMES
            if not (self.directory / name).is_file()
            or not os.access(self.directory / name, os.X_OK)
        ]


def repo_build_script() -> Path:
    """Where ``scripts/kube-binaries.sh`` sits in a source checkout (absent when installed)."""
    return Path(lbprovider.__file__).resolve().parents[1] / "scripts" / "kube-binaries.sh"


def find_binaries(
    *,
    binaries_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    build_script: Path | None = None,
) -> KubeBinaries:
    """Locate the control-plane binaries.

    Order: ``binaries_dir``, then ``$KUBEBUILDER_ASSETS``, then the output of the
    repository's build script (which may take many minutes the first time).
    """
    env = os.environ if environ is None else environ
    if binaries_dir is not None:
        return _checked(KubeBinaries(directory=binaries_dir), origin="binaries_dir")
    assets = env.get("KUBEBUILDER_ASSETS")
    if assets:
        return _checked(KubeBinaries(directory=Path(assets)), origin="KUBEBUILDER_ASSETS")
    script = repo_build_script() if build_script is None else build_script
    if not script.is_file():
        raise ControlPlaneError(
            "no Kubernetes test binaries: set KUBEBUILDER_ASSETS to a directory holding "
            f"{', '.join(BINARY_NAMES)} (or pass binaries_dir)"
        )
    # stderr is inherited so that the (long) first build shows its progress.
    result = subprocess.run(
        ["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False, env=dict(env)
    )
    if result.returncode != 0:
        raise ControlPlaneError(
            f"{script.name} failed with exit status {result.returncode}; "
            "see its output above, or set KUBEBUILDER_ASSETS"
        )
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise ControlPlaneError(f"{script.name} printed no directory")
    return _checked(KubeBinaries(directory=Path(lines[-1])), origin=script.name)


def _checked(binaries: KubeBinaries, *, origin: str) -> KubeBinaries:
    missing = binaries.missing()
    if missing:
        raise ControlPlaneError(
            f"{origin} names {binaries.directory}, which lacks executable {', '.join(missing)}"
        )
    return binaries


# --------------------------------------------------------------------------- pure helpers


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago.

    All sockets stay bound until every port is chosen, so the ports differ; a
    process elsewhere may still grab one before the caller binds it.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((_LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return tuple(ports)


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


# --------------------------------------------------------------------------- PKI


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
    *, directory: Path, hosts: Sequence[str] = (_LOOPBACK, "localhost"), valid_days: int = 7
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
    _write(pki.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(pki.serving_cert, serving_cert.public_bytes(serialization.Encoding.PEM))
    _write(pki.serving_key, _private_pem(serving_key), secret=True)
    _write(pki.admin_cert, admin_cert.public_bytes(serialization.Encoding.PEM))
    _write(pki.admin_key, _private_pem(admin_key), secret=True)
    _write(pki.service_account_key, _private_pem(sa_key), secret=True)
    _write(
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


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


# --------------------------------------------------------------------------- processes


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies.

    This covers what ``atexit`` cannot: the test process being SIGKILLed, or
    pytest-timeout's ``os._exit``.  Linux ties it to the *thread* that forked, so
    start a control plane from a thread that lives as long as the plane.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Resolved here, in the parent: loading a library after fork() can deadlock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


@dataclass(frozen=True, kw_only=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]


def _log_tail(path: Path, *, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- the control plane


class ControlPlane:
    """A running etcd + kube-apiserver (+ kube-controller-manager); see the module docstring.

    Build one with :meth:`start`; stop it with :meth:`stop` or a ``with`` block.
    """

    def __init__(
        self,
        *,
        binaries: KubeBinaries,
        workdir: Path,
        owns_workdir: bool,
        with_controller_manager: bool,
    ) -> None:
        self.binaries = binaries
        self.workdir = workdir
        self.with_controller_manager = with_controller_manager
        self._owns_workdir = owns_workdir
        self._children: list[_Child] = []
        self._stopped = False
        self.etcd_port, self.apiserver_port, self.controller_manager_port, etcd_peer_port = (
            free_ports(4)
        )
        self._etcd_peer_port = etcd_peer_port
        self.pki = generate_pki(directory=workdir / "pki")
        self.kubeconfig_path = workdir / "admin.kubeconfig"

    # -- lifecycle --------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        binaries_dir: Path | None = None,
        with_controller_manager: bool = False,
        workdir: Path | None = None,
        timeout: float = 60.0,
    ) -> Self:
        """Start a control plane and wait until its API server is ready.

        ``workdir`` keeps the PKI, kubeconfig, etcd data and logs; by default a
        temporary directory that :meth:`stop` removes.  On failure everything
        already started is killed and a :class:`ControlPlaneError` carries the
        tail of each process log.
        """
        binaries = find_binaries(binaries_dir=binaries_dir)
        owns_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="lbprovider-controlplane-"))
        else:
            workdir.mkdir(parents=True, exist_ok=True)
        try:
            plane = cls(
                binaries=binaries,
                workdir=workdir,
                owns_workdir=owns_workdir,
                with_controller_manager=with_controller_manager,
            )
        except BaseException:
            if owns_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            raise
        try:
            plane._launch(deadline=time.monotonic() + timeout)
        except ControlPlaneError:
            # The error quotes the logs' tails and names their files: keep those.
            plane._kill_children()
            shutil.rmtree(workdir / "etcd-data", ignore_errors=True)
            raise
        except BaseException:
            # KeyboardInterrupt included: never leave a half-started plane behind.
            plane.stop()
            raise
        return plane

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop every process (SIGTERM, then SIGKILL after ``timeout``). Idempotent."""
        if self._stopped:
            return
        self._kill_children(timeout=timeout)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------

    @property
    def server(self) -> str:
        """The API server's URL, ``https://127.0.0.1:<port>``."""
        return f"https://{_LOOPBACK}:{self.apiserver_port}"

    @property
    def log_paths(self) -> dict[str, Path]:
        """Log file of each started process, by binary name."""
        return {child.name: child.log_path for child in self._children}

    def api_client(self) -> ApiClient:
        """A new admin (``system:masters``) client; close it (or use ``with``) when done."""
        from kubernetes import client  # noqa: PLC0415 - keeps importing this module light

        configuration = client.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = str(self.pki.ca_cert)
        configuration.cert_file = str(self.pki.admin_cert)
        configuration.key_file = str(self.pki.admin_key)
        # The server is loopback: a proxy from the environment must not intercept it.
        configuration.proxy = None
        return client.ApiClient(configuration=configuration)

    def request_token(
        self,
        *,
        namespace: str,
        service_account: str,
        expiration_seconds: int = 3600,
        audiences: Sequence[str] = (),
    ) -> str:
        """Mint a token for an existing ServiceAccount through the TokenRequest API.

        Empty ``audiences`` means the API server's own audience.
        """
        from kubernetes import client  # noqa: PLC0415 - keeps importing this module light

        body = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=list(audiences), expiration_seconds=expiration_seconds
            )
        )
        with self.api_client() as api:
            response = client.CoreV1Api(api).create_namespaced_service_account_token(
                name=service_account, namespace=namespace, body=body
            )
        token = response.status.token if response.status is not None else None
        if not token:
            raise ControlPlaneError(f"TokenRequest for {namespace}/{service_account} gave no token")
        return str(token)

    def write_kubeconfig_for_token(self, path: Path, token: str) -> Path:
        """Write a kubeconfig that authenticates to this API server with ``token``."""
        text = render_kubeconfig(
            server=self.server,
            ca_pem=self.pki.ca_cert.read_bytes(),
            token=token,
            user_name="token-user",
        )
        _write(path, text.encode(), secret=True)
        return path

    # -- internals ----------------------------------------------------------

    def _launch(self, *, deadline: float) -> None:
        _write(
            self.kubeconfig_path,
            render_kubeconfig(
                server=self.server,
                ca_pem=self.pki.ca_cert.read_bytes(),
                client_cert_pem=self.pki.admin_cert.read_bytes(),
                client_key_pem=self.pki.admin_key.read_bytes(),
            ).encode(),
            secret=True,
        )
        (self.workdir / "logs").mkdir(exist_ok=True)
        atexit.register(self.stop)
        preexec = _die_with_parent_hook()

        etcd_url = f"http://{_LOOPBACK}:{self.etcd_port}"
        peer_url = f"http://{_LOOPBACK}:{self._etcd_peer_port}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=lbprovider",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=lbprovider={peer_url}",
                # Throwaway data: durability buys nothing and costs seconds.
                "--unsafe-no-fsync",
            ],
            preexec=preexec,
        )
        self._wait("etcd /health", lambda: _http_ok(_LOOPBACK, self.etcd_port, "/health"), deadline)

        self._spawn("kube-apiserver", self._apiserver_args(etcd_url), preexec=preexec)
        context = self._admin_tls_context()
        self._wait(
            "kube-apiserver /readyz",
            lambda: _https_ok(_LOOPBACK, self.apiserver_port, "/readyz", context),
            deadline,
        )

        if self.with_controller_manager:
            self._spawn(
                "kube-controller-manager",
                self._controller_manager_args(),
                preexec=preexec,
            )
            # Its serving certificate is self-signed; /healthz needs no credentials.
            insecure = ssl.create_default_context()
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE
            self._wait(
                "kube-controller-manager /healthz",
                lambda: _https_ok(_LOOPBACK, self.controller_manager_port, "/healthz", insecure),
                deadline,
            )

    def _apiserver_args(self, etcd_url: str) -> list[str]:
        pki = self.pki
        return [
            str(self.binaries.apiserver),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={_LOOPBACK}",
            f"--advertise-address={_LOOPBACK}",
            # The endpoint reconciler refuses a loopback advertise address; nothing
            # here needs the default/kubernetes Endpoints it would maintain.
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={self.workdir / 'apiserver'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--profiling=false",
        ]

    def _controller_manager_args(self) -> list[str]:
        kubeconfig = str(self.kubeconfig_path)
        return [
            str(self.binaries.controller_manager),
            # No --authentication/authorization-kubeconfig: delegated auth of its own
            # endpoints would look up a request-header CA this API server lacks and
            # log errors; only the always-allowed /healthz is used.
            f"--kubeconfig={kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--bind-address={_LOOPBACK}",
            f"--secure-port={self.controller_manager_port}",
            f"--cert-dir={self.workdir / 'controller-manager'}",
            "--profiling=false",
        ]

    def _admin_tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _spawn(self, name: str, args: list[str], *, preexec: Callable[[], None] | None) -> None:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_file = log_path.open("wb")
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Its own session: a terminal's Ctrl-C reaches only pytest, which
                # then stops the plane in order instead of racing the children.
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 - only prctl(), resolved before the fork
            )
        except BaseException:
            log_file.close()
            raise
        self._children.append(
            _Child(name=name, process=process, log_path=log_path, log_file=log_file)
        )

    def _wait(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        while True:
            for child in self._children:
                code = child.process.poll()
                if code is not None:
                    raise ControlPlaneError(
                        f"{child.name} exited with status {code} while waiting for {what}\n"
                        + self._describe_logs()
                    )
            if check():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what}\n" + self._describe_logs())
            time.sleep(0.1)

    def _describe_logs(self) -> str:
        return "\n".join(
            f"--- {child.log_path} (last lines) ---\n{_log_tail(child.log_path)}"
            for child in self._children
        )

    def _kill_children(self, *, timeout: float = 10.0) -> None:
        self._stopped = True
        atexit.unregister(self.stop)
        # Reverse start order: the API server shuts down cleanly only while etcd is up.
        for child in reversed(self._children):
            process = child.process
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            child.log_file.close()


def _http_ok(host: str, port: int, path: str) -> bool:
    return _probe(http.client.HTTPConnection(host, port, timeout=2), path) is not None


def _https_ok(host: str, port: int, path: str, context: ssl.SSLContext) -> bool:
    body = _probe(http.client.HTTPSConnection(host, port, timeout=2, context=context), path)
    return body == b"ok"


def _probe(connection: http.client.HTTPConnection, path: str) -> bytes | None:
    """The body of a 200 response, else None (also when nothing listens yet)."""
    # http.client, not urllib: urllib would honour an environment proxy.
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return body if response.status == 200 else None
