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

Modules, one job each (as in controller-runtime's envtest): ``binaries`` finds
the executables, ``pki`` writes certificates, keys and kubeconfigs,
``processes`` starts, probes and stops child processes, and ``plane`` wires
them into :class:`ControlPlane`; ``errors`` holds the one error they share.
Import from this package: the names below are its public API.
"""

from __future__ import annotations

from lbprovider.testing.controlplane.binaries import (
    BINARY_NAMES,
    KubeBinaries,
    find_binaries,
    repo_build_script,
)
from lbprovider.testing.controlplane.errors import ControlPlaneError
from lbprovider.testing.controlplane.pki import Pki, generate_pki, render_kubeconfig
from lbprovider.testing.controlplane.plane import (
    CONTROLLERS,
    SERVICE_CLUSTER_IP_RANGE,
    ControlPlane,
)
from lbprovider.testing.controlplane.processes import free_ports

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
