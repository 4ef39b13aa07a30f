"""``make demo``: the whole loop on the sandbox, shown from the clouds' side.

Starts the sandbox (relaying its start-up steps), runs ``lbprovider run``
against it, and applies per cloud the seed document's LoadBalancer examples
(the plain ``my-service``, the named-``targetPort`` ``nginx-service``, the
multi-port Service, the internal load balancer with the cloud's own
annotation) plus a TCP+UDP Service on one port, a UDP-only one and a
Pod-direct one (``allocateLoadBalancerNodePorts: false``, with the
EndpointSlice a kubelet-less sandbox needs written by hand, as the seed does
for a Service without a selector).  Then it prints one table built from what
each mock cloud holds (its ``describe()``, read through the sandbox), deletes
everything and shows the clouds empty.  ``--keep`` skips the deletion and
leaves the sandbox and the controller running, with the commands to look
around; ``lbprovider sandbox down`` stops both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbprovider.controller.ownership import Ownership
from lbprovider.kube.api import KubeApi, load_api_client
from lbprovider.testing import sandbox
from lbprovider.testing.kubehelpers import Cluster, wait_for

NAMESPACE_PREFIX = "demo-"
POD_IPS = ("10.0.1.200", "10.0.1.201")
"""Pod-direct backends: Alibaba's mock seeds ENIs holding these; AWS and Tencent
accept any address in their VPC (10.0.0.0/16)."""
SELECTOR = {"app.kubernetes.io/name": "MyApp"}
WAIT_SECONDS = 120.0
HEADERS = (
    "Service",
    "class",
    "address",
    "cloud LB id",
    "listeners",
    "backends",
    "health check",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One Service the demo applies, and the EndpointSlice it needs (Pod-direct only)."""

    namespace: str
    manifest: dict[str, Any]
    endpoint_slice: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def key(self) -> str:
        """``namespace/name``, as the clouds' ownership tags name the Service."""
        return f"{self.namespace}/{self.name}"

    @property
    def load_balancer_class(self) -> str:
        return str(self.manifest["spec"]["loadBalancerClass"])


def _service(
    name: str,
    load_balancer_class: str,
    ports: list[dict[str, Any]],
    *,
    selector: Mapping[str, str] | None = SELECTOR,
    annotations: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "loadBalancerClass": load_balancer_class,
        "ports": ports,
        **spec,
    }
    if selector is not None:
        body["selector"] = dict(selector)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": body,
    }


def examples(
    *, provider: str, load_balancer_class: str, internal: Mapping[str, str] | None
) -> list[Example]:
    """The Services the demo applies for one class (names unique within its namespace).

    ``internal`` is the cloud's internal-LB annotation (``MockCloud.internal_annotations()``);
    None for the fake class, which gets only the seed's plain ``my-service``.
    """
    namespace = f"{NAMESPACE_PREFIX}{provider}"
    plain = [{"protocol": "TCP", "port": 80, "targetPort": 9376}]
    found = [
        Example(namespace=namespace, manifest=_service("my-service", load_balancer_class, plain))
    ]
    if internal is None:
        return found
    proxy = {"app.kubernetes.io/name": "proxy"}
    pod_direct = "my-service-pod-direct"
    found += [
        Example(  # the seed's named targetPort (resolved per Pod; the LB targets node ports)
            namespace=namespace,
            manifest=_service(
                "nginx-service",
                load_balancer_class,
                [
                    {
                        "name": "name-of-service-port",
                        "protocol": "TCP",
                        "port": 80,
                        "targetPort": "http-web-svc",
                    }
                ],
                selector=proxy,
            ),
        ),
        Example(
            namespace=namespace,
            manifest=_service(
                "my-service-multiport",
                load_balancer_class,
                [
                    {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376},
                    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377},
                ],
            ),
        ),
        Example(
            namespace=namespace,
            manifest=_service(
                "my-service-internal", load_balancer_class, plain, annotations=internal
            ),
        ),
        Example(  # TCP and UDP on one port (Kubernetes gives both the same nodePort)
            namespace=namespace,
            manifest=_service(
                "dns-tcp-udp",
                load_balancer_class,
                [
                    {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": 5353},
                    {"name": "dns-udp", "protocol": "UDP", "port": 53, "targetPort": 5353},
                ],
            ),
        ),
        Example(
            namespace=namespace,
            manifest=_service(
                "syslog-udp",
                load_balancer_class,
                [{"name": "syslog", "protocol": "UDP", "port": 514, "targetPort": 5514}],
            ),
        ),
        Example(  # no selector: its endpoints are the hand-written slice below
            namespace=namespace,
            manifest=_service(
                pod_direct,
                load_balancer_class,
                plain,
                selector=None,
                allocateLoadBalancerNodePorts=False,
            ),
            endpoint_slice={
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{pod_direct}-1",
                    "labels": {
                        "kubernetes.io/service-name": pod_direct,
                        "endpointslice.kubernetes.io/managed-by": "demo.lbprovider.io",
                    },
                },
                "addressType": "IPv4",
                "ports": [{"name": "", "protocol": "TCP", "port": 9376}],
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in POD_IPS],
            },
        ),
    ]
    return found


def sandbox_examples(state: Mapping[str, Any]) -> list[Example]:
    """Every example for every class of a running sandbox (its ``sandbox.json``)."""
    found: list[Example] = []
    for load_balancer_class, provider in sorted(state["classes"].items()):
        internal = state["internal_annotations"].get(provider)
        found += examples(
            provider=provider,
            load_balancer_class=load_balancer_class,
            internal=None if provider == "fake" else dict(internal or {}),
        )
    return found


# --- the table --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One load balancer in the table; multi-valued cells hold one line per value."""

    service: str
    load_balancer_class: str
    address: str
    lb_id: str
    listeners: tuple[str, ...]
    backends: tuple[str, ...]
    health_check: tuple[str, ...]

    def cells(self) -> tuple[tuple[str, ...], ...]:
        return (
            (self.service,),
            (self.load_balancer_class,),
            (self.address or "-",),
            (self.lb_id or "-",),
            self.listeners or ("-",),
            self.backends or ("-",),
            self.health_check or ("-",),
        )


def _lines(value: Any) -> tuple[str, ...]:
    """A describe() value as display lines: strings as they are, lists one per line."""
    if value is None or value in ("", [], {}):
        return ()
    if isinstance(value, str):
        return tuple(value.splitlines())
    if isinstance(value, Mapping):
        return (", ".join(f"{key}={item}" for key, item in value.items()),)
    if isinstance(value, Sequence):
        return tuple(line for item in value for line in _lines(item))
    return (str(value),)


def short_id(lb_id: str) -> str:
    """An AWS ARN shortened to its ``loadbalancer/...`` part; other ids as they are."""
    _, marker, rest = lb_id.partition(":loadbalancer/")
    return f"…/{rest}" if marker else lb_id


def cloud_rows(
    view: Mapping[str, Mapping[str, Any]], classes: Mapping[str, str]
) -> tuple[list[Row], dict[str, str]]:
    """Rows for every load balancer the mock clouds describe, and per-cloud errors."""
    class_of = {provider: name for name, provider in classes.items()}
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for cloud, entry in sorted(view.items()):
        if "error" in entry:
            errors[cloud] = str(entry["error"])
            continue
        for lb in entry.get("load_balancers") or ():
            rows.append(
                Row(
                    service=str(lb.get("service") or "?"),
                    load_balancer_class=class_of.get(cloud, cloud),
                    address=str(lb.get("address") or ""),
                    lb_id=short_id(str(lb.get("lb_id") or "")),
                    listeners=_lines(lb.get("listeners")),
                    backends=_lines(lb.get("backends")),
                    health_check=_lines(lb.get("health_check")),
                )
            )
    return rows, errors


def fake_row(example: Example, service: Mapping[str, Any]) -> Row:
    """What the fake class can show: its load balancers live inside the controller
    process, so the row is the Service's record (status, ownership id, ports)."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ", ".join(str(item.get("ip") or item.get("hostname")) for item in ingress)
    ownership = Ownership.from_annotations(service["metadata"].get("annotations") or {})
    listeners = tuple(
        f"{port.get('protocol', 'TCP')}:{port['port']}->{port.get('nodePort', '?')}"
        for port in service["spec"]["ports"]
    )
    return Row(
        service=example.key,
        load_balancer_class=example.load_balancer_class,
        address=address,
        lb_id=ownership.lb_id if ownership else "",
        listeners=listeners,
        backends=tuple(
            f"{instance.node_name}:{port['nodePort']}"
            for instance in sandbox.FAKE_INSTANCES
            for port in service["spec"]["ports"]
            if port.get("nodePort")
        ),
        health_check=(),
    )


def render_table(rows: Sequence[Row]) -> str:
    """A plain-text table, ``|``-separated; a row spans as many lines as its tallest cell."""
    table = [tuple((header,) for header in HEADERS), *(row.cells() for row in rows)]
    widths = [max(len(line) for cells in table for line in cells[n]) for n in range(len(HEADERS))]
    out: list[str] = []
    for index, cells in enumerate(table):
        for line_no in range(max(len(cell) for cell in cells)):
            parts = [
                (cell[line_no] if line_no < len(cell) else "").ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ]
            out.append(" | ".join(parts).rstrip())
        if index == 0:
            out.append("-+-".join("-" * width for width in widths))
    return "\n".join(out)


# --- the run ----------------------------------------------------------------------


def _command(name: str) -> str:
    """How to call one of the venv's commands from the current directory."""
    local = Path(sys.executable).parent / name
    on_path = shutil.which(name)
    if on_path and Path(on_path).resolve() == local.resolve():
        return name
    try:
        return str(local.relative_to(Path.cwd()))
    except ValueError:
        return str(local)


def _apply(cluster: Cluster, found: Sequence[Example]) -> None:
    for namespace in sorted({example.namespace for example in found}):
        cluster.api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    for example in found:
        if example.endpoint_slice is not None:
            cluster.api.request(
                "POST",
                f"/apis/discovery.k8s.io/v1/namespaces/{example.namespace}/endpointslices",
                body=example.endpoint_slice,
            )
        cluster.create_service(example.namespace, example.manifest)


def _ensured(cluster: Cluster, example: Example) -> dict[str, Any] | None:
    """The Service once it shows an address and the controller recorded its cloud id."""
    service = cluster.service(example.namespace, example.name)
    if service is None:
        return None
    ownership = Ownership.from_annotations(service["metadata"].get("annotations") or {})
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return service if ingress and ownership and ownership.lb_id else None


def _delete(cluster: Cluster, found: Sequence[Example]) -> None:
    for example in found:
        cluster.api.request(
            "DELETE", f"/api/v1/namespaces/{example.namespace}/services/{example.name}"
        )
    for example in found:
        wait_for(
            lambda example=example: cluster.service(example.namespace, example.name) is None,  # type: ignore[misc]
            timeout=WAIT_SECONDS,
            what=f"{example.key} to be deleted",
        )
        if example.endpoint_slice is not None:
            slice_name = example.endpoint_slice["metadata"]["name"]
            cluster.api.request(
                "DELETE",
                f"/apis/discovery.k8s.io/v1/namespaces/{example.namespace}"
                f"/endpointslices/{slice_name}",
            )


def _resources_line(view: Mapping[str, Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{cloud}: " + ", ".join(f"{key}={count}" for key, count in entry["resources"].items())
        for cloud, entry in sorted(view.items())
    )


def _clouds_empty(state: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    view = sandbox.inspect(state)
    if all(
        "resources" in entry and not any(entry["resources"].values()) for entry in view.values()
    ):
        return view
    return None


def _print_keep_hints(directory: Path, found: Sequence[Example], controller_pid: int) -> None:
    kubectl, lbprovider = _command("kubectl"), _command("lbprovider")
    kubeconfig, config = directory / "kubeconfig", directory / "lbprovider.yaml"
    pod_direct = next((e for e in found if e.endpoint_slice is not None), found[0])
    print(
        f"==> left running (--keep): the sandbox in {directory} and the controller "
        f"(pid {controller_pid}, log {directory / 'controller.log'}); look around:"
    )
    print(f"    {kubectl} --kubeconfig {kubeconfig} get services -A -o wide")
    print(
        f"    {kubectl} --kubeconfig {kubeconfig} describe service "
        f"-n {pod_direct.namespace} {pod_direct.name}"
    )
    print(f"    {lbprovider} plan --config {config} --kubeconfig {kubeconfig}")
    print(f"    {lbprovider} plan --config {config} --kubeconfig {kubeconfig} {pod_direct.key}")
    print(
        f"    (plan, a process of its own, cannot see {sandbox.FAKE_CLASS}'s in-memory cloud: "
        "it plans to create its load balancer)"
    )
    print("==> and stop everything with:")
    print(f"    {lbprovider} sandbox down --dir {directory}")


def _ensure_all(cluster: Cluster, found: Sequence[Example]) -> dict[str, dict[str, Any]]:
    """Apply the examples; each Service once the controller built its load balancer."""
    started = time.monotonic()
    print(f"==> applying {len(found)} Services (the seed's examples, per cloud)", flush=True)
    _apply(cluster, found)
    pending = {example.key: example for example in found}
    services: dict[str, dict[str, Any]] = {}
    deadline = started + WAIT_SECONDS
    while pending:
        for key, example in list(pending.items()):
            service = _ensured(cluster, example)
            if service is not None:
                services[key] = service
                del pending[key]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(
                f"no load balancer after {WAIT_SECONDS:.0f}s for {', '.join(sorted(pending))}"
            )
        time.sleep(0.2 if pending else 0)
    print(f"    every Service has its load balancer ({time.monotonic() - started:.1f}s)")
    return services


def _show(
    state: Mapping[str, Any], found: Sequence[Example], services: Mapping[str, dict[str, Any]]
) -> None:
    """Print the clouds' table; RuntimeError when an example has no address or id in it."""
    rows, errors = cloud_rows(sandbox.inspect(state), state["classes"])
    rows += [
        fake_row(example, services[example.key])
        for example in found
        if example.load_balancer_class == sandbox.FAKE_CLASS
    ]
    rows.sort(key=lambda row: (row.load_balancer_class, row.service))
    print("==> the load balancers, as the clouds hold them")
    print(render_table(rows))
    print(
        f"    ({sandbox.FAKE_CLASS} keeps its load balancers inside the controller: "
        "its row is the Service's record)"
    )
    for cloud, error in sorted(errors.items()):
        print(f"    {cloud}: describe() failed: {error}")
    shown = {row.service for row in rows if row.address and row.lb_id}
    missing = [example.key for example in found if example.key not in shown]
    if missing:
        raise RuntimeError(f"no address or cloud LB id in the table for {', '.join(missing)}")


def _clean(cluster: Cluster, state: Mapping[str, Any], found: Sequence[Example]) -> None:
    """Delete the examples; TimeoutError unless every mock cloud ends up empty."""
    print("==> deleting them; each Service's finalizer holds it until its cloud is clean")
    started = time.monotonic()
    _delete(cluster, found)
    empty = wait_for(lambda: _clouds_empty(state), timeout=30, what="the mock clouds to be empty")
    print(f"    all deleted ({time.monotonic() - started:.1f}s); the clouds hold nothing:")
    print(f"    {_resources_line(empty)}")


def run(directory: Path, *, keep: bool = False) -> int:
    """The demo; non-zero when any step did not do what it should."""
    print("==> starting the sandbox (control plane + mock clouds)", flush=True)
    try:
        state = sandbox.up(directory, progress=lambda line: print(f"    {line}", flush=True))
    except (RuntimeError, TimeoutError) as exc:  # one already runs there, or it failed to start
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    controller: subprocess.Popen[bytes] | None = None
    kept = False
    try:
        print(f"==> lbprovider run --config {directory / 'lbprovider.yaml'}", flush=True)
        controller = sandbox.start_controller(
            config=state["config"],
            kubeconfig=state["kubeconfig"],
            log_path=directory / "controller.log",
            detach=keep,
        )
        cluster = Cluster(KubeApi(load_api_client(state["kubeconfig"])))
        found = sandbox_examples(state)
        services = _ensure_all(cluster, found)
        _show(state, found, services)
        if keep:
            sandbox.record_controller(directory, controller.pid)
            kept = True
            _print_keep_hints(directory, found, controller.pid)
            return 0
        _clean(cluster, state, found)
        print("==> demo OK")
        return 0
    except Exception as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        if controller is not None:
            tail = (directory / "controller.log").read_text(errors="replace")[-4000:]
            print(f"--- controller log (tail) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        if not kept:
            started = time.monotonic()
            if controller is not None:
                controller.send_signal(signal.SIGTERM)
                try:
                    controller.wait(30)
                except subprocess.TimeoutExpired:
                    controller.kill()
            sandbox.down(directory)
            print(f"==> controller and sandbox stopped ({time.monotonic() - started:.1f}s)")


def main(argv: list[str] | None = None) -> int:
    """``python -m lbprovider.testing.demo [--dir DIR] [--keep]``."""
    parser = argparse.ArgumentParser(prog="lbprovider-demo")
    parser.add_argument("--dir", type=Path, default=Path(".sandbox"))
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the sandbox, the controller and the Services running",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    started = time.monotonic()
    code = run(args.dir, keep=args.keep)
    print(f"(demo took {time.monotonic() - started:.0f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
