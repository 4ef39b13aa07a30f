"""Finding the control-plane binaries: an explicit directory, ``KUBEBUILDER_ASSETS``
(the envtest convention), or the repository's ``scripts/kube-binaries.sh``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import lbprovider
from lbprovider.testing.controlplane.errors import ControlPlaneError

__all__ = ["BINARY_NAMES", "KubeBinaries", "find_binaries", "repo_build_script"]

BINARY_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager")


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
