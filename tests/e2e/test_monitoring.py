"""deploy/monitoring/ asks only for series the controller exports.

The Grafana dashboard and the PrometheusRule are read, every metric name (and
every label a selector matches on) is pulled out of their PromQL, and the
sandbox's ``lbprovider run`` is scraped after it served Services: a panel or
an alert on a series that does not exist would show nothing and never fire.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbprovider.testing.harness import Samples, SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import CLASS_NAMES, FAKE_CLASS

pytestmark = pytest.mark.e2e

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
# Labels Prometheus adds when it scrapes (target labels), not the controller.
TARGET_LABELS = {"job", "instance", "pod", "namespace"}
# The orphan sweep's first run is once the controller settles, at the latest a minute in.
SCRAPE_DEADLINE_SECONDS = 150.0

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w.$:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


@dataclass(frozen=True, slots=True)
class Uses:
    """What PromQL expressions read: metric names, label names matched per metric, and
    label names grouped by (each with the metrics of its expression)."""

    metrics: frozenset[str]
    matched_labels: frozenset[tuple[str, str]]
    grouped_labels: frozenset[tuple[frozenset[str], str]]


def promql_uses(expressions: Iterable[str]) -> Uses:
    """Metric names, matchers and grouping labels of ``expressions``."""
    metrics: set[str] = set()
    labels: set[tuple[str, str]] = set()
    grouped: set[tuple[frozenset[str], str]] = set()
    for expr in expressions:
        for name, matchers in _SELECTOR.findall(expr):
            labels.update((name, label) for label in _MATCHER.findall(_STRING.sub('""', matchers)))
        bare = _RANGE.sub(" ", re.sub(r"\{[^}]*\}", " ", _STRING.sub(" ", expr)))
        clauses = _GROUPING.findall(bare)
        bare = _GROUPING.sub(" ", bare)
        used = frozenset(n for n in _NAME.findall(bare) if n.lower() not in _KEYWORDS)
        metrics.update(used)
        for clause in clauses:
            inside = clause[clause.index("(") + 1 : -1]
            grouped.update((used, label.strip()) for label in inside.split(",") if label.strip())
    return Uses(frozenset(metrics), frozenset(labels), frozenset(grouped))


def dashboard_expressions(dashboard: dict[str, Any]) -> Iterator[str]:
    """Every panel target's ``expr`` and every variable's ``label_values(metric, ...)``."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        found = re.match(r"label_values\(\s*([^,]+),", text)
        if found:
            yield found.group(1)


def rule_expressions(rule_file: dict[str, Any]) -> Iterator[str]:
    for group in rule_file["spec"]["groups"]:
        for rule in group["rules"]:
            yield str(rule["expr"])


def monitoring_uses() -> Uses:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text(encoding="utf-8"))
    rules = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text(encoding="utf-8"))
    return promql_uses([*dashboard_expressions(dashboard), *rule_expressions(rules)])


def missing(uses: Uses, samples: Samples) -> list[str]:
    gaps = [f"no series {name}" for name in sorted(uses.metrics) if name not in samples]
    for name, label in sorted(uses.matched_labels):
        if label in TARGET_LABELS or name not in samples:
            continue
        if not any(label in labels for labels, _ in samples[name]):
            gaps.append(f"{name} has no label {label!r}")
    for names, label in sorted(uses.grouped_labels, key=str):
        if label in TARGET_LABELS or not names <= samples.keys():
            continue
        if not any(label in labels for name in names for labels, _ in samples[name]):
            gaps.append(f"none of {sorted(names)} has the label {label!r} to group by")
    return gaps


def test_the_expressions_are_read_whole() -> None:
    # Guards the extraction itself: a parser that found nothing would pass anything.
    uses = monitoring_uses()
    assert {
        "lbprovider_service_syncs_total",
        "lbprovider_service_sync_duration_seconds_bucket",
        "lbprovider_workqueue_queue_duration_seconds_bucket",
        "lbprovider_cloud_api_calls_total",
        "lbprovider_cloud_api_call_duration_seconds_bucket",
        "lbprovider_orphaned_load_balancers",
        "lbprovider_leader",
        "service_controller_loadbalancer_sync_total",
        "service_controller_nodesync_latency_seconds_bucket",
        "service_controller_update_loadbalancer_host_latency_seconds_bucket",
    } <= uses.metrics
    assert ("lbprovider_cloud_api_calls_total", "result") in uses.matched_labels
    assert (frozenset({"lbprovider_orphaned_load_balancers"}), "class") in uses.grouped_labels
    # Function names, keywords, grouping labels and durations are not metrics.
    assert not uses.metrics & {"sum", "rate", "histogram_quantile", "by", "class", "le", "m"}


def test_every_series_the_dashboard_and_alerts_use_is_exported(
    e2e: SandboxRun, e2e_namespace: str
) -> None:
    classes = [FAKE_CLASS, CLASS_NAMES["alibaba"]]
    for index, load_balancer_class in enumerate(classes):
        e2e.cluster.create_service(
            e2e_namespace,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"web-{index}"},
                "spec": {
                    "type": "LoadBalancer",
                    "loadBalancerClass": load_balancer_class,
                    "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
                },
            },
        )
    for index in range(len(classes)):
        e2e.cluster.wait_ingress(e2e_namespace, f"web-{index}", timeout=60)

    uses = monitoring_uses()
    deadline = time.monotonic() + SCRAPE_DEADLINE_SECONDS
    samples = e2e.scrape()
    while missing(uses, samples) and time.monotonic() < deadline:
        time.sleep(2)
        samples = e2e.scrape()
    assert missing(uses, samples) == []

    # The per-class series carry the classes that were served, and the provider kit's
    # calls name the real provider.
    synced = {labels["class"] for labels, _ in samples["lbprovider_service_syncs_total"]}
    assert set(classes) <= synced
    providers = {labels["provider"] for labels, _ in samples["lbprovider_cloud_api_calls_total"]}
    assert "alibaba" in providers
    assert samples["lbprovider_leader"] == [({}, 1.0)]  # leader election is off: it leads

    for index in range(len(classes)):
        e2e.cluster.api.request(
            "DELETE", f"/api/v1/namespaces/{e2e_namespace}/services/web-{index}"
        )
    for index in range(len(classes)):
        wait_for(
            lambda index=index: e2e.cluster.service(e2e_namespace, f"web-{index}") is None,  # type: ignore[misc]
            timeout=60,
            what=f"web-{index} to be cleaned up",
        )


def test_the_monitoring_kustomization_renders_and_scrapes_the_deployment() -> None:
    kubectl = Path(sys.executable).with_name("kubectl")
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(MONITORING)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
    assert set(docs) == {"ConfigMap", "PodMonitor", "PrometheusRule"}
    dashboard = docs["ConfigMap"]
    assert dashboard["metadata"]["labels"] == {"grafana_dashboard": "1"}
    shipped = json.loads((MONITORING / "dashboard.json").read_text(encoding="utf-8"))
    assert json.loads(dashboard["data"]["dashboard.json"]) == shipped
    # The PodMonitor finds the Deployment's pods and their metrics port by name.
    deployment = yaml.safe_load((MONITORING.parent / "base" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]
    monitor = docs["PodMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ports = {port["name"] for c in pod["spec"]["containers"] for port in c.get("ports", [])}
    assert {endpoint["port"] for endpoint in monitor["podMetricsEndpoints"]} <= ports
