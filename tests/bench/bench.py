"""``make bench``: B1-B5 of issue 12 on the sandbox, printed as one table.

A real control plane and every mock cloud (``lbprovider.testing.sandbox``),
and ``lbprovider run`` as a process of its own serving the fake class and one
class per cloud, so its RSS is its own and a restart is a real one.  Figures
come from where an operator would read them: cloud calls from the mocks'
counters (``lbprovider.mockkit.MockAdmin``) and, for the fake provider whose
cloud lives in the controller, from the controller's ``/metrics``
(``lbprovider_cloud_api_calls_total``, ``lbprovider_provider_calls_total``);
Service writes from ``metadata.resourceVersion`` (any write moves it); times
from the driver's own watch.

Scaled to stay within about 15 minutes on 2 shared cores; every scaled row
says so.  ``BENCH_SCALE=0.1`` runs a tenth of everything (a quick check).
The call-count bounds are asserted as counts in ``tests/integration`` and
``tests/e2e/test_call_counts.py``; this script only measures.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.kube.api import KubeApi, load_api_client
from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider.testing.harness import readyz
from lbprovider.testing.sandbox import CLASS_NAMES, FAKE_CLASS, Sandbox, start_controller

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
CLOUDS = ("aws", "alibaba", "tencent")
NAMESPACE = "bench"
WORKERS = 4
RATE = 20.0  # Services created per second (B1)
LATENCY = 0.05  # seconds per cloud call (B5)
B5_CLOUD = "alibaba"
CLOUD_SERVICES = 50
B5_QPS, B5_BURST = 60.0, 10
# B5 twice: under a client-side limit below what the workers could make (it binds),
# and under one above it (4 workers at 50 ms make at most 80 calls/s: latency binds).
B5_OPEN_CLASS, B5_OPEN_QPS = "bench.lbprovider.io/alibaba-open", 200.0
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
FAKE_READS = frozenset({"DescribeLoadBalancers"})
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\}\s+([0-9.e+-]+)$")


def scaled(n: int) -> int:
    return max(1, math.ceil(n * SCALE))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    measure: str
    fake: str = "-"
    aws: str = "-"
    alibaba: str = "-"
    tencent: str = "-"
    goal: str = ""


@dataclass
class Controller:
    """``lbprovider run`` as a process, with its health port."""

    config: Path
    kubeconfig: Path
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; seconds until ``/readyz`` answers 200."""
        started = time.monotonic()
        self.process = start_controller(
            config=self.config, kubeconfig=self.kubeconfig, log_path=self.log_path
        )
        while not readyz(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"controller exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        out = []
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
                out.append((match.group(1), labels, float(match.group(3))))
        return out

    def fake_calls(self) -> CallCounts:
        """The fake cloud's calls (the provider kit's counter for provider "fake")."""
        actions: dict[str, int] = {}
        for name, labels, value in self.samples():
            if name == "lbprovider_cloud_api_calls_total" and labels.get("provider") == "fake":
                actions[labels["action"]] = actions.get(labels["action"], 0) + int(value)
        reads = sum(n for action, n in actions.items() if action in FAKE_READS)
        return CallCounts(reads=reads, writes=sum(actions.values()) - reads, actions=actions)

    def provider_calls(self, load_balancer_class: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, labels, value in self.samples():
            if (
                name == "lbprovider_provider_calls_total"
                and labels.get("load_balancer_class") == load_balancer_class
            ):
                out[labels["method"]] = out.get(labels["method"], 0) + int(value)
        return out

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class IngressWatch:
    """When each Service of the namespace first showed an ingress (a watch, not polls)."""

    api: KubeApi
    seen: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _response: Any = None

    def start(self) -> IngressWatch:
        threading.Thread(target=self._run, daemon=True, name="ingress-watch").start()
        return self

    def _note(self, service: dict[str, Any]) -> None:
        name = service["metadata"]["name"]
        self.versions[name] = service["metadata"]["resourceVersion"]
        if name not in self.seen and ((service.get("status") or {}).get("loadBalancer") or {}).get(
            "ingress"
        ):
            self.seen[name] = time.monotonic()

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/services"
        while not self._stop.is_set():
            try:
                items, version = self.api.list_all(path)
                for item in items:
                    self._note(item)
                for change in self.api.watch(
                    path, resource_version=version, timeout_seconds=300, on_open=self._opened
                ):
                    if change.get("type") in ("ADDED", "MODIFIED"):
                        self._note(change["object"])
            except Exception:  # the API server going away at the end; retry
                self._stop.wait(0.5)

    def _opened(self, response: Any) -> None:
        self._response = response

    def stop(self) -> None:
        self._stop.set()
        if self._response is not None:
            with contextlib.suppress(Exception):  # best effort at shutdown
                self._response.shutdown()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service(name: str, load_balancer_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "selector": {"app": name},
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
    }


def cluster_ip(name: str) -> dict[str, Any]:
    """A Service the controller caches but does not serve (most of a cluster's Services).

    Not a LoadBalancer: the node-port range (2,768 ports) would run out first.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def fake_node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"providerID": f"fake://{name}"}}


def parallel(fn: Callable[[Any], Any], items: Iterable[Any], threads: int = 8) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, items))


def paced(fn: Callable[[Any], Any], items: list[Any], rate: float) -> dict[Any, float]:
    """Call ``fn(item)`` at ``rate`` per second (threads absorb slow calls); start times."""
    started: dict[Any, float] = {}
    begin = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        for index, item in enumerate(items):
            delay = begin + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            started[item] = time.monotonic()
            pool.submit(fn, item)
    return started


def wait(probe: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll ``probe`` every 0.1 s; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Bench:
    """The sandbox, the controller and the driver; one method per scenario."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        log("sandbox up")
        self.sandbox = Sandbox.start(workdir / "sandbox", clouds=list(CLOUDS))
        self.api = KubeApi(load_api_client(str(self.sandbox.kubeconfig)))
        self.api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
        self.admins = {c: MockAdmin(self.sandbox.mock_clouds[c].endpoint) for c in CLOUDS}
        self.classes = {"fake": FAKE_CLASS, **{c: CLASS_NAMES[c] for c in CLOUDS}}
        config = self.sandbox.controller_config()
        config["workers"] = WORKERS
        config["resync_seconds"] = 36000  # the documented default
        config["health_address"] = f"127.0.0.1:{free_port()}"
        for entry in config["classes"]:
            if entry["name"] == FAKE_CLASS:
                entry["settings"] = {"address_pool": "10.128.0.0/12"}
            if entry["name"] == CLASS_NAMES[B5_CLOUD]:
                entry["settings"] = {
                    **entry["settings"],
                    "rate_limit_qps": B5_QPS,
                    "rate_limit_burst": B5_BURST,
                }
                limited = entry
        # The same cloud once more as a class of its own, with a limit that never binds.
        config["classes"].append(
            {
                **limited,
                "name": B5_OPEN_CLASS,
                "settings": {**limited["settings"], "rate_limit_qps": B5_OPEN_QPS},
            }
        )
        path = workdir / "lbprovider.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.controller = Controller(
            config=path,
            kubeconfig=self.sandbox.kubeconfig,
            log_path=workdir / "controller.log",
            port=int(config["health_address"].rsplit(":", 1)[1]),
        )
        self.watch = IngressWatch(self.api).start()
        self.rows: list[Row] = []
        self.names: dict[str, list[str]] = {}
        self.fake_nodes: list[str] = []

    # --- helpers ------------------------------------------------------------------

    def counts(self) -> dict[str, CallCounts]:
        counts = {cloud: admin.counters() for cloud, admin in self.admins.items()}
        counts["fake"] = self.controller.fake_calls()
        return counts

    def since(self, before: dict[str, CallCounts]) -> dict[str, CallCounts]:
        now = self.counts()
        return {key: now[key] - before[key] for key in now}

    def quiet(self, seconds: float = 3.0, timeout: float = 900.0) -> float:
        """Wait until no cloud call and no Service write for ``seconds``; the last change."""
        deadline = time.monotonic() + timeout
        last = self.counts(), dict(self.watch.versions)
        changed = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.counts(), dict(self.watch.versions)
            if now != last:
                last, changed = now, time.monotonic()
            elif time.monotonic() - changed >= seconds:
                return changed
        raise TimeoutError("the controller did not go quiet")

    def add_fake_nodes(self, count: int) -> None:
        start = len(self.fake_nodes)
        names = [f"fake-node-{index:05d}" for index in range(start, start + count)]
        parallel(
            lambda name: self.api.request("POST", "/api/v1/nodes", body=fake_node(name)), names
        )
        self.fake_nodes += names

    def delete_fake_nodes(self, count: int) -> None:
        gone, self.fake_nodes = self.fake_nodes[-count:], self.fake_nodes[:-count]
        parallel(lambda name: self.api.request("DELETE", f"/api/v1/nodes/{name}"), gone)

    def create(self, names: list[str], load_balancer_class: str, rate: float) -> dict[str, float]:
        return paced(
            lambda name: self.api.request(
                "POST",
                f"/api/v1/namespaces/{NAMESPACE}/services",
                body=service(name, load_balancer_class),
            ),
            names,
            rate,
        )

    # --- scenarios ----------------------------------------------------------------

    def b1(self) -> None:
        nodes = scaled(2000)
        log(f"B1: {nodes} fake nodes")
        self.add_fake_nodes(nodes)
        first_ready = self.controller.start()
        log(f"controller ready in {first_ready:.1f}s")
        # Clouds: 50 each (their mocks' per-call work, not a cloud limit, bounds the run).
        sizes = {
            "fake": [scaled(100), scaled(1000)],
            **{c: [scaled(CLOUD_SERVICES)] for c in CLOUDS},
        }
        results: dict[str, list[str]] = {}
        for target in ("fake", *CLOUDS):
            for n in sizes[target]:
                prefix = f"{target}-{n}"
                names = [f"{prefix}-{index:05d}" for index in range(n)]
                log(f"B1: {n} {target} Services at {RATE:.0f}/s")
                before = self.counts()
                started = self.create(names, self.classes[target], RATE)
                wait(
                    lambda names=names: all(name in self.watch.seen for name in names),  # type: ignore[misc]
                    timeout=300,
                    what=f"ingress on {n} {target} Services",
                )
                self.quiet()
                cost = self.since(before)[target]
                waits = [self.watch.seen[name] - started[name] for name in names]
                results.setdefault(target, []).append(
                    f"N={n}: p50 {pct(waits, 0.5):.1f}s p99 {pct(waits, 0.99):.1f}s, "
                    f"{cost.total / n:.1f} calls/Svc ({cost.writes / n:.1f} writes)"
                )
                self.names.setdefault(target, []).extend(names)
        self.rows.append(
            Row(
                "B1 create",
                f"time to ingress, cloud calls per Service ({RATE:.0f} Services/s; fake: "
                f"{nodes} Nodes registered; clouds: {scaled(CLOUD_SERVICES)} of the issue's 1,000)",
                **{k: "; ".join(v) for k, v in results.items()},
            )
        )

    def b2(self) -> None:
        window = 20.0
        served = sum(len(v) for v in self.names.values())
        log(f"B2: {window:.0f}s steady with {served} in-sync Services")
        self.quiet()
        before, versions = self.counts(), dict(self.watch.versions)
        time.sleep(window)
        cost = self.since(before)
        written = sum(1 for n, v in self.watch.versions.items() if versions.get(n) != v)
        cells = {k: f"{c.writes} writes ({c.reads} reads)" for k, c in cost.items()}
        self.rows.append(
            Row(
                "B2 steady",
                f"{window:.0f}s idle, {served} Services: cloud writes; Services written: {written}",
                goal="0 writes",
                **cells,
            )
        )
        log("B2: restart (SIGTERM, a new process)")
        before_mocks = {c: a.counters() for c, a in self.admins.items()}
        self.controller.stop()
        versions = dict(self.watch.versions)
        ready = self.controller.start()
        ready_at = time.monotonic()
        settled = max(0.0, self.quiet() - ready_at)
        cost = {c: a.counters() - before_mocks[c] for c, a in self.admins.items()}
        fake = self.controller.fake_calls()  # a new process: its counters start at 0
        provider = sum(
            sum(self.controller.provider_calls(cls).values()) for cls in self.classes.values()
        )
        written = sum(1 for n, v in self.watch.versions.items() if versions.get(n) != v)
        cells = {k: f"{c.total} calls" for k, c in cost.items()}
        cells["fake"] = f"{fake.total} calls"
        self.rows.append(
            Row(
                "B2 restart",
                f"{served} Services: cloud calls after SIGTERM + start; "
                f"/readyz after {ready:.1f}s, "
                f"work done {settled:.1f}s later; provider calls {provider}; "
                f"Services written {written}",
                goal="0 calls",
                **cells,
            )
        )

    def b3(self) -> None:
        keep = scaled(100)
        log(f"B3: down to {keep} fake nodes")
        self.delete_fake_nodes(len(self.fake_nodes) - keep)
        self.quiet()
        fake_lbs = len(self.names["fake"])
        cloud_nodes = {c: self.sandbox.mock_clouds[c].instances[0].node_name for c in CLOUDS}
        results: dict[str, list[str]] = {k: [] for k in ("fake", *CLOUDS)}

        def step(what: str, change: Callable[[], None]) -> None:
            before = self.counts()
            calls_before = {k: self.controller.provider_calls(c) for k, c in self.classes.items()}
            started = time.monotonic()
            change()
            last = self.quiet()
            cost = self.since(before)
            for key, cls in self.classes.items():
                after = self.controller.provider_calls(cls)
                updates = after.get("update_backends", 0) - calls_before[key].get(
                    "update_backends", 0
                )
                others = sum(after.values()) - sum(calls_before[key].values()) - updates
                lbs = fake_lbs if key == "fake" else len(self.names[key])
                took = max(0.0, last - started) if cost[key].total or updates else 0.0
                results[key].append(
                    f"{what}: {updates / lbs:.2f} updates/LB (+{others} other), "
                    f"{cost[key].writes / lbs:.2f} writes/LB, {cost[key].reads / lbs:.1f} "
                    f"reads/LB, {took:.1f}s"
                )

        def label(value: str | None) -> None:
            for name in (self.fake_nodes[0], *cloud_nodes.values()):
                self.api.request(
                    "PATCH",
                    f"/api/v1/nodes/{name}",
                    body={"metadata": {"labels": {EXCLUDE_LABEL: value}}},
                    content_type="application/merge-patch+json",
                )

        def flap() -> None:
            for status in ("False", "True"):
                for name in (self.fake_nodes[1], *cloud_nodes.values()):
                    self.api.request(
                        "PATCH",
                        f"/api/v1/nodes/{name}/status",
                        body={"status": {"conditions": [{"type": "Ready", "status": status}]}},
                        content_type="application/strategic-merge-patch+json",
                    )

        log("B3: add a node")
        step("add", lambda: self.add_fake_nodes(1))
        log("B3: exclude a node (per cloud)")
        step("exclude", lambda: label("true"))
        log("B3: readiness flap")
        step("flap", flap)
        label(None)
        self.quiet()
        self.rows.append(
            Row(
                "B3 node churn",
                f"fake: {fake_lbs} LBs on {keep + 1} Nodes (add a fake node; exclude one); "
                "clouds: their Services, a node of theirs excluded; a readiness flap",
                goal="1 update/LB; flap 0",
                **{k: "; ".join(v) for k, v in results.items()},
            )
        )

    def b4(self) -> None:
        services = scaled(10000)
        have = sum(len(v) for v in self.names.values())
        rss_before = self.controller.rss_mib()
        # To the 5,000 Nodes, every one a backend of every fake load balancer: each
        # added Node starts a node round for the fake class (the queue merges the rounds
        # that overlap); the other clouds' load balancers are not touched.
        extra = scaled(5000) - len(self.fake_nodes) - len(self.sandbox.instances())
        updates_before = self.controller.provider_calls(self.classes["fake"])
        started = time.monotonic()
        if extra > 0:
            log(f"B4: {extra} more fake nodes")
            self.add_fake_nodes(extra)
        settled = self.quiet(timeout=1800) - started
        updates = self.controller.provider_calls(self.classes["fake"]).get(
            "update_backends", 0
        ) - updates_before.get("update_backends", 0)
        log(f"B4: to {services} Services (the rest ClusterIP)")
        others = [f"other-{index:05d}" for index in range(max(0, services - have))]
        parallel(
            lambda name: self.api.request(
                "POST", f"/api/v1/namespaces/{NAMESPACE}/services", body=cluster_ip(name)
            ),
            others,
        )
        self.quiet(timeout=1800)
        rss = self.controller.rss_mib()
        # Heartbeats: Node status patches, as kubelets send them, as fast as 8 threads go.
        beats = scaled(3000)
        cpu, started = self.controller.cpu_seconds(), time.monotonic()
        parallel(
            lambda index: self.api.request(
                "PATCH",
                f"/api/v1/nodes/{self.fake_nodes[index % len(self.fake_nodes)]}/status",
                body={
                    "status": {
                        "conditions": [
                            {"type": "Ready", "status": "True", "reason": f"beat-{index}"}
                        ]
                    }
                },
                content_type="application/strategic-merge-patch+json",
            ),
            range(beats),
        )
        elapsed = time.monotonic() - started
        self.quiet()
        used = self.controller.cpu_seconds() - cpu
        node_count = len(self.fake_nodes) + len(self.sandbox.instances())
        self.rows.append(
            Row(
                "B4 memory",
                f"controller RSS with {services} Services and {node_count} Nodes "
                f"cached (RSS before: {rss_before:.0f} MiB; {extra} Nodes added in "
                f"{settled:.0f}s with {updates} fake backend updates); {beats} Node heartbeats in "
                f"{elapsed:.1f}s: {beats / elapsed:.0f} events/s sent, controller CPU "
                f"{used:.1f}s = {beats / max(used, 0.01):.0f} events per CPU-second",
                fake=f"{rss:.0f} MiB",
                goal="<= 200 MiB",
            )
        )

    def b5(self) -> None:
        # The open class first: the limited run's figures are then not the first calls
        # of a cold process.
        self._b5_run(B5_OPEN_CLASS, B5_OPEN_QPS, "latency-open", "latency binds")
        self._b5_run(self.classes[B5_CLOUD], B5_QPS, "latency", "the rate limit binds")

    def _b5_run(self, load_balancer_class: str, qps: float, prefix: str, binds: str) -> None:
        n = scaled(200)
        admin = self.admins[B5_CLOUD]
        log(f"B5: {n} {B5_CLOUD} Services of {load_balancer_class}, {LATENCY * 1000:.0f} ms/call")
        self.quiet()
        admin.set_latency(LATENCY)
        try:
            names = [f"{prefix}-{index:05d}" for index in range(n)]
            before = admin.counters()
            started = time.monotonic()
            self.create(names, load_balancer_class, 1000.0)
            done = wait(
                lambda: all(name in self.watch.seen for name in names),
                timeout=1800,
                what="ingress on the latency-bound Services",
            )
            took = done - started
            self.quiet()
            cost = admin.counters() - before
        finally:
            admin.set_latency(0.0)
        per_lb = cost.total / n
        floor = n * per_lb * LATENCY / WORKERS
        # The client-side limit is a floor too when it is below workers / latency.
        limited = n * per_lb / qps
        peak = max(cost.per_second.values(), default=0)
        cell = (
            f"{took:.1f}s vs floor {floor:.1f}s ({took / floor:.2f}x; rate-limit floor "
            f"{limited:.1f}s, {took / max(floor, limited):.2f}x); {per_lb:.1f} calls/LB; "
            f"peak {peak} calls/s (limit {qps:.0f}/s, burst {B5_BURST})"
        )
        self.rows.append(
            Row(
                "B5 latency",
                f"{n} Services, {LATENCY * 1000:.0f} ms per call, {WORKERS} workers, {binds}: "
                "time vs N x calls/LB x latency / workers",
                goal="<= 1.3x the binding floor; peak <= qps + burst",
                **{B5_CLOUD: cell},
            )
        )
        self.names.setdefault(B5_CLOUD, []).extend(names)

    def close(self) -> None:
        self.watch.stop()
        self.controller.stop()
        self.sandbox.stop()


def table(rows: list[Row]) -> str:
    headers = ["scenario", "measure", "fake", "aws", "alibaba", "tencent", "goal"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [row.scenario, row.measure, row.fake, row.aws, row.alibaba, row.tencent, row.goal]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    # SIGTERM (make interrupted, a CI timeout) runs the cleanup below like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="lbprovider-bench-"))
    log(f"workdir {workdir} (scale {SCALE}); {os.cpu_count()} cores")
    started = time.monotonic()
    bench = Bench(workdir)
    try:
        # B2 restarts the process, and the fake provider's cloud lives in it: B3 goes
        # first; B4 before B3, which leaves 100 Nodes; B2's restart lists B4's Services.
        only = os.environ.get("BENCH_ONLY", "b1,b4,b3,b2,b5").split(",")
        if "b1" not in only:  # B1 starts the controller once its Nodes are in
            bench.controller.start()
        for scenario in (bench.b1, bench.b4, bench.b3, bench.b2, bench.b5):
            if scenario.__name__ not in only:
                continue
            done = len(bench.rows)
            try:
                scenario()
                for row in bench.rows[done:]:  # as it comes, in case a later row hangs
                    log(
                        f"{row.scenario}: {row.measure} | {row.fake} | {row.aws} | "
                        f"{row.alibaba} | {row.tencent}"
                    )
            except Exception as exc:  # a failed row is reported, the rest runs
                log(f"{scenario.__name__} failed: {exc}")
                bench.rows.append(Row(scenario.__name__.upper(), f"FAILED: {exc}"))
    finally:
        bench.close()
    order = ["B1", "B2", "B3", "B4", "B5"]
    print(table(sorted(bench.rows, key=lambda row: order.index(row.scenario[:2]))))
    print(
        f"(bench took {time.monotonic() - started:.0f}s; controller log: {workdir}/controller.log)"
    )
    return 0 if all("FAILED" not in row.measure for row in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
