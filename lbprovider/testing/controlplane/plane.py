"""The :class:`ControlPlane` itself: wires etcd, kube-apiserver and (on request)
kube-controller-manager together, and gives tests admin clients, tokens and
kubeconfigs for it.  See the package docstring for an example."""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from lbprovider.testing.controlplane.binaries import KubeBinaries, find_binaries
from lbprovider.testing.controlplane.errors import ControlPlaneError
from lbprovider.testing.controlplane.pki import generate_pki, render_kubeconfig, write_file
from lbprovider.testing.controlplane.processes import (
    LOOPBACK,
    ChildProcesses,
    die_with_parent_hook,
    free_ports,
    http_ok,
    https_ok,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["CONTROLLERS", "SERVICE_CLUSTER_IP_RANGE", "ControlPlane"]

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


class ControlPlane:
    """A running etcd + kube-apiserver (+ kube-controller-manager); see the package docstring.

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
        self._processes = ChildProcesses(workdir=workdir)
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
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def log_paths(self) -> dict[str, Path]:
        """Log file of each started process, by binary name."""
        return self._processes.log_paths

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
        write_file(path, text.encode(), secret=True)
        return path

    # -- internals ----------------------------------------------------------

    def _launch(self, *, deadline: float) -> None:
        write_file(
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
        preexec = die_with_parent_hook()

        etcd_url = f"http://{LOOPBACK}:{self.etcd_port}"
        peer_url = f"http://{LOOPBACK}:{self._etcd_peer_port}"
        self._processes.spawn(
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
        self._processes.wait(
            "etcd /health", lambda: http_ok(LOOPBACK, self.etcd_port, "/health"), deadline
        )

        self._processes.spawn("kube-apiserver", self._apiserver_args(etcd_url), preexec=preexec)
        context = self._admin_tls_context()
        self._processes.wait(
            "kube-apiserver /readyz",
            lambda: https_ok(LOOPBACK, self.apiserver_port, "/readyz", context),
            deadline,
        )

        if self.with_controller_manager:
            self._processes.spawn(
                "kube-controller-manager",
                self._controller_manager_args(),
                preexec=preexec,
            )
            # Its serving certificate is self-signed; /healthz needs no credentials.
            insecure = ssl.create_default_context()
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE
            self._processes.wait(
                "kube-controller-manager /healthz",
                lambda: https_ok(LOOPBACK, self.controller_manager_port, "/healthz", insecure),
                deadline,
            )

    def _apiserver_args(self, etcd_url: str) -> list[str]:
        pki = self.pki
        return [
            str(self.binaries.apiserver),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
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
            f"--bind-address={LOOPBACK}",
            f"--secure-port={self.controller_manager_port}",
            f"--cert-dir={self.workdir / 'controller-manager'}",
            "--profiling=false",
        ]

    def _admin_tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _kill_children(self, *, timeout: float = 10.0) -> None:
        self._stopped = True
        atexit.unregister(self.stop)
        self._processes.stop(timeout=timeout)
