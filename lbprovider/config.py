"""``lbprovider.yaml``: the controller's configuration, validated at start.

Every mistake is reported with the path of the offending key, all of them at
once, so ``lbprovider run --config F --check`` gives an operator the whole list.

    cluster_name: prod-eu-1            # tags cloud objects; unique per cloud account
    default_class: null                # a class name here also serves Services without a class
    workers: 4
    resync_seconds: 36000              # re-ensure every Service this often (0: never)
    health_address: "0.0.0.0:8080"     # /healthz, /readyz and /metrics ("" disables)
    leader_election: {enabled: true, namespace: kube-system, name: lbprovider}
    sweep: {interval_seconds: 3600, delete: false}   # the orphan sweep while leading (0: off)
    classes:
      - name: lbprovider.io/aws-nlb    # a spec.loadBalancerClass value
        provider: aws                  # a registered provider
        settings: {region: eu-west-1}  # the provider's own settings
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.cloud import Provider, ProviderConfigError
from lbprovider.cloud.registry import RegistryError, load
from lbprovider.kube.leader import LeaderElectionSettings

# spec.loadBalancerClass: a label-style name with an optional DNS prefix.
_CLASS_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")
_TOP_LEVEL = {
    "cluster_name",
    "default_class",
    "workers",
    "resync_seconds",
    "health_address",
    "leader_election",
    "classes",
    "sweep",
}
# A full re-ensure reads every load balancer from the cloud, so it is rare by
# default (the AWS Load Balancer Controller's sync period is 10 hours too).
DEFAULT_RESYNC_SECONDS = 36000
# Probes and Prometheus come from outside the pod, so all interfaces by default.
DEFAULT_HEALTH_ADDRESS = "0.0.0.0:8080"
_LEADER_KEYS = {"enabled", "namespace", "name", "lease_duration", "renew_deadline", "retry_period"}
_CLASS_KEYS = {"name", "provider", "settings"}
# The orphan sweep lists every owned load balancer of every class (a handful of reads per
# class), so hourly costs little and still reports a leak the same hour.
DEFAULT_SWEEP_INTERVAL_SECONDS = 3600
_SWEEP_KEYS = {"interval_seconds", "delete"}


class ConfigError(ValueError):
    """The configuration is wrong; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassConfig:
    """One served ``spec.loadBalancerClass`` and the provider behind it."""

    name: str
    provider: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSettings:
    """The periodic orphan sweep the leader runs (``lbprovider sweep`` on a timer)."""

    interval_seconds: int = DEFAULT_SWEEP_INTERVAL_SECONDS
    """Seconds between sweeps; 0 turns the periodic sweep off."""
    delete: bool = False
    """Dangerous: delete the orphans found instead of only reporting them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration."""

    cluster_name: str
    classes: tuple[ClassConfig, ...]
    default_class: str | None = None
    workers: int = 4
    resync_seconds: int = DEFAULT_RESYNC_SECONDS
    health_address: str = DEFAULT_HEALTH_ADDRESS
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)


def _int(
    raw: Mapping[str, Any], key: str, default: int, problems: list[str], where: str, *, minimum: int
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{where}{key}: must be a whole number >= {minimum} (got {value!r})")
        return default
    return value


def parse_config(raw: Any) -> Config:
    """Validate the decoded YAML; ConfigError lists every problem."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ConfigError(["the configuration must be a mapping of settings"])
    for key in sorted(set(raw) - _TOP_LEVEL):
        problems.append(f"{key}: unknown setting (known: {', '.join(sorted(_TOP_LEVEL))})")
    cluster_name = raw.get("cluster_name")
    if not isinstance(cluster_name, str) or not _CLUSTER_NAME.match(cluster_name):
        problems.append(
            "cluster_name: required; letters, digits, '-', '_' and '.', at most 63 characters"
        )
    classes: list[ClassConfig] = []
    raw_classes = raw.get("classes")
    if not isinstance(raw_classes, list) or not raw_classes:
        problems.append("classes: required; a list of {name, provider, settings}")
        raw_classes = []
    seen: set[str] = set()
    for index, entry in enumerate(raw_classes):
        where = f"classes[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be a mapping with name, provider and settings")
            continue
        for key in sorted(set(entry) - _CLASS_KEYS):
            problems.append(f"{where}.{key}: unknown setting (known: name, provider, settings)")
        name = entry.get("name")
        if not isinstance(name, str) or not _CLASS_NAME.match(name):
            problems.append(
                f"{where}.name: {name!r} is not a valid loadBalancerClass "
                "(e.g. 'example.com/internal-vip')"
            )
            continue
        if name in seen:
            problems.append(f"{where}.name: {name!r} is configured twice")
        seen.add(name)
        provider = entry.get("provider")
        if not isinstance(provider, str) or not provider:
            problems.append(f"{where}.provider: required (e.g. aws, alibaba, tencent)")
            continue
        settings = entry.get("settings") or {}
        if not isinstance(settings, Mapping):
            problems.append(f"{where}.settings: must be a mapping")
            continue
        classes.append(ClassConfig(name=name, provider=provider, settings=dict(settings)))
    default_class = raw.get("default_class")
    if default_class is not None and default_class not in seen:
        problems.append(f"default_class: {default_class!r} is not one of the configured classes")
    workers = _int(raw, "workers", 4, problems, "", minimum=1)
    resync = _int(raw, "resync_seconds", DEFAULT_RESYNC_SECONDS, problems, "", minimum=0)
    health_address = raw.get("health_address", DEFAULT_HEALTH_ADDRESS)
    if not isinstance(health_address, str) or (health_address and ":" not in health_address):
        problems.append("health_address: must be 'HOST:PORT' or '' to disable")
    leader = _leader_election(raw.get("leader_election") or {}, problems)
    sweep = _sweep(raw.get("sweep") or {}, problems)
    if problems:
        raise ConfigError(problems)
    return Config(
        cluster_name=str(cluster_name),
        classes=tuple(classes),
        default_class=default_class,
        workers=workers,
        resync_seconds=resync,
        health_address=str(health_address),
        leader_election=leader,
        sweep=sweep,
    )


def _sweep(raw: Any, problems: list[str]) -> SweepSettings:
    if not isinstance(raw, Mapping):
        problems.append("sweep: must be a mapping with interval_seconds and delete")
        return SweepSettings()
    for key in sorted(set(raw) - _SWEEP_KEYS):
        problems.append(f"sweep.{key}: unknown setting (known: delete, interval_seconds)")
    interval = _int(
        raw, "interval_seconds", DEFAULT_SWEEP_INTERVAL_SECONDS, problems, "sweep.", minimum=0
    )
    delete = raw.get("delete", False)
    if not isinstance(delete, bool):
        # "yes"/"1" are not accepted: turning deletion on must be unmistakable.
        problems.append(f"sweep.delete: must be true or false (got {delete!r})")
        delete = False
    return SweepSettings(interval_seconds=interval, delete=delete)


def _leader_election(raw: Any, problems: list[str]) -> LeaderElectionSettings:
    if not isinstance(raw, Mapping):
        problems.append("leader_election: must be a mapping")
        return LeaderElectionSettings()
    for key in sorted(set(raw) - _LEADER_KEYS):
        problems.append(f"leader_election.{key}: unknown setting")
    where = "leader_election."
    settings = LeaderElectionSettings(
        enabled=bool(raw.get("enabled", False)),
        namespace=str(raw.get("namespace", "kube-system")),
        name=str(raw.get("name", "lbprovider")),
        lease_duration=_int(raw, "lease_duration", 15, problems, where, minimum=2),
        renew_deadline=_int(raw, "renew_deadline", 10, problems, where, minimum=2),
        retry_period=_int(raw, "retry_period", 2, problems, where, minimum=1),
    )
    if settings.lease_duration <= settings.renew_deadline:
        problems.append(f"{where}lease_duration: must be greater than renew_deadline")
    return settings


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({exc})"]) from None
    return parse_config(raw)


def build_providers(config: Config) -> dict[str, Provider]:
    """One provider per class, each validating its own settings; ConfigError lists failures."""
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    for index, entry in enumerate(config.classes):
        try:
            factory = load(entry.provider)
            providers[entry.name] = factory(entry.settings, cluster_name=config.cluster_name)
        except RegistryError as exc:
            problems.append(f"classes[{index}].provider: {exc}")
        except ProviderConfigError as exc:
            problems.append(f"classes[{index}].settings: {exc}")
    if problems:
        raise ConfigError(problems)
    return providers
