"""Write docs/configuration.md from the code that validates the configuration.

The core keys of ``lbprovider.yaml`` come from ``lbprovider.config`` (their
defaults from its dataclasses, the list of keys from what it accepts); each
provider's ``settings:`` keys come from its ``SettingsSchema``
(``lbprovider_<cloud>.settings.SCHEMA``), found through the
``lbprovider.providers`` entry points, so a new cloud is documented as soon as
it is installed.

    python scripts/config_reference.py            # rewrite docs/configuration.md
    python scripts/config_reference.py --check    # exit 1 if it is out of date

``tests/unit/test_docs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from lbprovider import config
from lbprovider.kube.leader import LeaderElectionSettings
from lbprovider.providerkit.settings import Field, SettingsSchema

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

# What each core key does; the keys must be exactly those lbprovider.config accepts.
CORE_DOCS = {
    "cluster_name": "Required. Tags every cloud object this controller creates; unique per "
    "cloud account (two clusters with one name would adopt each other's load balancers).",
    "default_class": "A class name from `classes` that also serves Services without "
    "`spec.loadBalancerClass`. Leave unset unless this is the cluster's only load-balancer "
    "implementation.",
    "workers": "Services synced at once (each sync holds one worker for its cloud calls).",
    "resync_seconds": "Re-ensure every served Service this often, spread evenly over the "
    "period, to repair drift made in the cloud; reads only when nothing changed. 0: never.",
    "health_address": "`HOST:PORT` of `/healthz`, `/readyz` and `/metrics`; empty disables.",
    "leader_election": "Run only one active replica, elected on a `coordination.k8s.io` Lease.",
    "sweep": "The periodic orphan sweep the leader runs (what `lbprovider sweep` does).",
    "classes": "Required. The `spec.loadBalancerClass` values served, each bound to a "
    "provider and its settings.",
}
LEADER_DOCS = {
    "enabled": "Campaign for the Lease; only the leader runs workers.",
    "namespace": "Namespace of the Lease.",
    "name": "Name of the Lease.",
    "lease_duration": "Seconds a Lease is valid without renewal (more than `renew_deadline`).",
    "renew_deadline": "Seconds the leader keeps trying to renew before it steps down and exits.",
    "retry_period": "Seconds between attempts to take or renew the Lease.",
}
SWEEP_DOCS = {
    "interval_seconds": "Seconds between sweeps (the first once the controller's first syncs "
    "are done, at the latest a minute after taking the lead); 0 turns the periodic sweep off.",
    "delete": "Dangerous: delete the orphans found instead of only reporting them in the log "
    "and in `lbprovider_orphaned_load_balancers`.",
}
CLASS_DOCS = {
    "name": "The `spec.loadBalancerClass` value, e.g. `lbprovider.io/aws-nlb`.",
    "provider": "A registered provider: `aws`, `alibaba`, `tencent` (see below).",
    "settings": "The provider's own settings (below); unknown keys are refused.",
}
_KIND_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list"}


def _core_problems() -> list[str]:
    """Differences between the documented core keys and what lbprovider.config accepts."""
    expected = {
        "top level": (set(CORE_DOCS), config._TOP_LEVEL),
        "leader_election": (set(LEADER_DOCS), config._LEADER_KEYS),
        "sweep": (set(SWEEP_DOCS), config._SWEEP_KEYS),
        "classes[]": (set(CLASS_DOCS), config._CLASS_KEYS),
    }
    return [
        f"{where}: documented {sorted(documented)} but accepted {sorted(accepted)}"
        for where, (documented, accepted) in expected.items()
        if documented != accepted
    ]


def _yaml(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list):
        return f"`[{', '.join(str(item) for item in value)}]`"
    if isinstance(value, str):
        return f'`"{value}"`' if value else '`""`'
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _defaults(cls: type) -> dict[str, Any]:
    """The dataclass's field defaults (fields without one are required)."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            values[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            values[item.name] = item.default_factory()
    return values


def core_section() -> Iterator[str]:
    top = _defaults(config.Config)
    yield "## `lbprovider.yaml`"
    yield ""
    yield "| key | default | meaning |"
    yield "| --- | --- | --- |"
    for key, doc in CORE_DOCS.items():
        if key in ("leader_election", "sweep"):
            default = "see below"
        elif key not in top:
            default = "**required**"
        else:
            default = _yaml(top[key])
        yield f"| `{key}` | {default} | {_cell(doc)} |"
    for title, cls, docs in (
        ("leader_election", LeaderElectionSettings, LEADER_DOCS),
        ("sweep", config.SweepSettings, SWEEP_DOCS),
    ):
        values = _defaults(cls)
        yield ""
        yield f"### `{title}`"
        yield ""
        yield "| key | default | meaning |"
        yield "| --- | --- | --- |"
        for key, doc in docs.items():
            yield f"| `{title}.{key}` | {_yaml(values.get(key))} | {_cell(doc)} |"
    yield ""
    yield "### `classes[]`"
    yield ""
    yield "| key | meaning |"
    yield "| --- | --- |"
    for key, doc in CLASS_DOCS.items():
        yield f"| `{key}` | {_cell(doc)} |"


def _allowed(item: Field) -> str:
    parts: list[str] = []
    if item.choices:
        parts.append(" or ".join(_yaml(choice) for choice in item.choices))
    low, high = item.minimum, item.maximum
    if low is not None and high is not None:
        parts.append(f"{low:g} to {high:g}")
    elif low is not None:
        parts.append(f">= {low:g}")
    elif high is not None:
        parts.append(f"<= {high:g}")
    if item.pattern is not None:
        parts.append(f"`{item.pattern}`")
    if item.example:
        parts.append(f"e.g. {item.example}")
    return "; ".join(parts)


def provider_schemas() -> list[tuple[str, SettingsSchema]]:
    """``(provider name, schema)`` for every installed provider that has one."""
    found: list[tuple[str, SettingsSchema]] = []
    for entry in sorted(entry_points(group="lbprovider.providers"), key=lambda e: e.name):
        package = entry.module.rsplit(".", 1)[0]
        try:
            module = importlib.import_module(f"{package}.settings")
        except ModuleNotFoundError:
            continue  # the sandbox's fake provider: test support, no settings module
        schema = getattr(module, "SCHEMA", None)
        if isinstance(schema, SettingsSchema):
            found.append((entry.name, schema))
    return found


def provider_section(name: str, schema: SettingsSchema) -> Iterator[str]:
    yield f"## `provider: {name}`"
    yield ""
    yield "| key | type | default | allowed | meaning |"
    yield "| --- | --- | --- | --- | --- |"
    for item in schema.fields:
        kind = _KIND_NAMES.get(item.kind, item.kind.__name__)
        if item.kind is list:
            kind = "list of strings"
        default = "**required**" if item.required else _yaml(item.default)
        yield (
            f"| `{item.name}` | {kind} | {default} | {_cell(_allowed(item))} | {_cell(item.doc)} |"
        )


def render() -> str:
    problems = _core_problems()
    if problems:
        raise SystemExit("config_reference: " + "; ".join(problems))
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/config_reference.py from lbprovider/config.py and each",
        "     provider's SettingsSchema; do not edit by hand (a test fails when stale). -->",
        "",
        "`lbprovider run --config lbprovider.yaml --check` validates a file against exactly",
        "these keys and lists every mistake (`settings.region: required`,",
        "`settings: unknown key 'regoin' (known: ...)`), exiting 2 if there is any.",
        "",
        *core_section(),
    ]
    for name, schema in provider_schemas():
        lines += ["", *provider_section(name, schema)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python scripts/config_reference.py")
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
