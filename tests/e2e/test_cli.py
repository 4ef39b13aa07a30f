"""The ``lbprovider`` command as a user runs it: sandbox up/down, kubectl, mock-cloud."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def lbprovider(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lbprovider"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sandbox_up_kubectl_and_down(tmp_path: Path) -> None:
    directory = tmp_path / "box"
    up = lbprovider("sandbox", "up", "--dir", str(directory))
    assert up.returncode == 0, up.stderr
    state = json.loads((directory / "sandbox.json").read_text())
    try:
        assert "sandbox up: API server https://127.0.0.1:" in up.stdout
        nodes = subprocess.run(
            [str(BIN / "kubectl"), "get", "nodes", "-o", "name"],
            env={**os.environ, "KUBECONFIG": str(directory / "kubeconfig")},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        assert {"node/aws-node-1", "node/alibaba-node-1", "node/tencent-node-1"} <= set(nodes)
        check = lbprovider("run", "--config", str(directory / "lbprovider.yaml"), "--check")
        assert check.returncode == 0, check.stderr
        assert "lbprovider.io/aws-nlb (aws)" in check.stdout
        again = lbprovider("sandbox", "up", "--dir", str(directory))
        assert again.returncode == 1 and "already runs" in again.stderr
    finally:
        down = lbprovider("sandbox", "down", "--dir", str(directory))
    assert down.returncode == 0 and "sandbox stopped" in down.stdout
    assert not alive(state["pid"])
    assert not (directory / "ready").exists()
    assert "no sandbox runs" in lbprovider("sandbox", "down", "--dir", str(directory)).stdout


def test_mock_cloud_serves_the_real_sdk_until_sigterm() -> None:
    process = subprocess.Popen(
        [str(BIN / "lbprovider"), "mock-cloud", "alibaba", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.match(r"mock alibaba serving on http://(127\.0\.0\.1:\d+)", first)
        assert match, first
        # It answers like Alibaba: an unsigned request from an unknown key is refused.
        url = f"http://{match.group(1)}/?Action=DescribeLoadBalancers&AccessKeyId=nobody"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)  # a loopback mock
        with refused.value as answer:
            body = json.loads(answer.read())
        assert body["Code"].startswith(
            ("InvalidAccessKeyId", "MissingParameter", "IncompleteSignature")
        )
        assert {"RequestId", "Message"} <= set(body)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(30)
        process.stdout.close()  # type: ignore[union-attr]  # opened with PIPE above
    assert exit_code == 0


def test_unknown_mock_cloud_is_a_clear_error() -> None:
    result = lbprovider("mock-cloud", "gcp")
    assert result.returncode == 2
    assert "no lbprovider.mock_clouds entry named 'gcp'" in result.stderr
