"""``make demo`` as a user runs it: the clouds' table, the clean-up, ``--keep`` then ``down``.

The demo module runs as its own process (what ``make demo`` runs) against its
own sandbox; the table is read back from its output, the way a user reads it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lbprovider.kube.api import KubeApi, load_api_client
from lbprovider.testing.kubehelpers import Cluster

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
CLOUD_CLASSES = {
    "aws": "lbprovider.io/aws-nlb",
    "alibaba": "lbprovider.io/alibaba-slb",
    "tencent": "lbprovider.io/tencent-clb",
}
CLOUD_EXAMPLES = (
    "my-service",
    "nginx-service",
    "my-service-multiport",
    "my-service-internal",
    "dns-tcp-udp",
    "syslog-udp",
    "my-service-pod-direct",
)
EXPECTED = {f"demo-{cloud}/{name}" for cloud in CLOUD_CLASSES for name in CLOUD_EXAMPLES} | {
    "demo-fake/my-service"
}

VPC = ipaddress.ip_network("10.0.0.0/16")
"""Every mock cloud's VPC: internal load balancers get an address in it."""

Table = dict[str, dict[str, list[str]]]


def run_demo(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lbprovider.testing.demo", "--dir", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )


def read_table(stdout: str) -> Table:
    """Service -> column -> the cell's lines, from the demo's ``|``-separated table."""
    lines = stdout.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Service ") and " | " in line)
    # "listeners (protocol:port->backend port)" is "listeners" here
    headers = [cell.strip().split(" (")[0] for cell in lines[start].split(" | ")]
    rows: Table = {}
    current: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if " | " not in line:
            break
        cells = [cell.strip() for cell in line.split(" | ")]
        if cells[0]:
            current = rows[cells[0]] = {header: [] for header in headers}
        for header, cell in zip(headers, cells, strict=False):
            if cell:
                current[header].append(cell)
    return rows


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rpartition(")")[2].split()[0] == "Z")


def test_demo_shows_every_example_from_the_clouds_then_leaves_them_empty(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    result = run_demo(directory)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "control plane up" in result.stdout and "8 nodes registered" in result.stdout
    table = read_table(result.stdout)
    assert set(table) == EXPECTED, result.stdout
    for service, row in table.items():
        assert row["address"] != ["-"] and row["address"], service
        assert row["cloud LB id"] != ["-"] and row["cloud LB id"], service
    for cloud, load_balancer_class in CLOUD_CLASSES.items():
        rows = {name: table[f"demo-{cloud}/{name}"] for name in CLOUD_EXAMPLES}
        assert all(row["class"] == [load_balancer_class] for row in rows.values()), cloud
        assert all(row["backends"] != ["-"] for row in rows.values()), cloud
        backends = " ".join(rows["my-service-pod-direct"]["backends"])
        assert "10.0.1.200" in backends and "10.0.1.201" in backends, cloud
        mixed = " ".join(rows["dns-tcp-udp"]["listeners"])
        assert "TCP" in mixed and "UDP" in mixed, cloud
        assert "UDP" in " ".join(rows["syslog-udp"]["listeners"]), cloud
        assert len(rows["my-service-multiport"]["listeners"]) == 2, cloud
        if cloud != "aws":  # an NLB reports a DNS name, not an address
            internal = ipaddress.ip_address(rows["my-service-internal"]["address"][0])
            public = ipaddress.ip_address(rows["my-service"]["address"][0])
            assert internal in VPC and public not in VPC, (cloud, internal, public)
    counts = result.stdout.split("the clouds hold nothing:", 1)[1].splitlines()[1]
    for cloud in CLOUD_CLASSES:
        assert f"{cloud}: " in counts, counts
    assert re.findall(r"=(\d+)", counts) and set(re.findall(r"=(\d+)", counts)) == {"0"}, counts
    assert not (directory / "ready").exists()


def test_keep_leaves_sandbox_controller_and_services_until_sandbox_down(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    result = run_demo(directory, "--keep")
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert set(read_table(result.stdout)) == EXPECTED
        assert f"plan --config {directory / 'lbprovider.yaml'} --kubeconfig " in result.stdout
        assert f"sandbox down --dir {directory}" in result.stdout
        state = json.loads((directory / "sandbox.json").read_text())
        controller_pid = int((directory / "controller.pid").read_text())
        assert alive(state["pid"]) and alive(controller_pid)
        cluster = Cluster(KubeApi(load_api_client(str(directory / "kubeconfig"))))
        assert cluster.ingress("demo-tencent", "dns-tcp-udp")
    finally:
        down = subprocess.run(
            [str(BIN / "lbprovider"), "sandbox", "down", "--dir", str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert down.returncode == 0 and "sandbox stopped" in down.stdout, down.stderr
    assert not alive(state["pid"])
    assert not alive(controller_pid)
    assert not (directory / "controller.pid").exists()
    assert not (directory / "ready").exists()
