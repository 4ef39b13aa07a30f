"""The operator docs keep up with the code: configuration, annotations, Event reasons, alerts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import lbprovider_alibaba.options
import lbprovider_aws.options
import lbprovider_tencent.options
from lbprovider.controller import reasons
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_ANNOTATION = re.compile(r"^[a-z0-9.-]+\.[a-z]+/[a-z0-9-]+$")


def annotations_of(module: ModuleType) -> set[str]:
    """Every annotation name an options module defines."""
    return {
        value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and _ANNOTATION.match(value)
    }


def test_the_configuration_reference_is_generated_from_the_current_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "module", [lbprovider_aws.options, lbprovider_alibaba.options, lbprovider_tencent.options]
)
def test_every_annotation_a_provider_reads_is_documented(module: ModuleType) -> None:
    names = annotations_of(module)
    assert names, f"found no annotation names in {module.__name__}"
    text = (DOCS / "annotations.md").read_text(encoding="utf-8")
    # Alibaba's table abbreviates its common prefix as "…-".
    prefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
    undocumented = [
        name
        for name in sorted(names)
        if f"`{name}`" not in text and f"`…-{name.removeprefix(prefix)}`" not in text
    ]
    assert undocumented == []


def test_the_ownership_annotation_is_documented_for_users_and_upgrades() -> None:
    for page in ("annotations.md", "upgrading.md"):
        assert OWNERSHIP_ANNOTATION in (DOCS / page).read_text(encoding="utf-8"), page


def test_every_event_and_condition_reason_has_troubleshooting_advice() -> None:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    values = {
        value for name, value in vars(reasons).items() if name.isupper() and isinstance(value, str)
    }
    assert len(values) >= 10
    assert [value for value in sorted(values) if value not in text] == []
    warnings = {
        reasons.SYNC_LOAD_BALANCER_FAILED,
        reasons.UPDATE_LOAD_BALANCER_FAILED,
        reasons.UNAVAILABLE_LOAD_BALANCER,
        reasons.UNSUPPORTED_CONFIGURATION,
    }
    headings = set(re.findall(r"^### (\S+)$", text, flags=re.MULTILINE))
    assert warnings <= headings


def test_every_alert_has_troubleshooting_advice() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheusrule.yaml").read_text())
    alerts = [rule["alert"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    assert alerts
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    assert [alert for alert in alerts if f"`{alert}`" not in text] == []


def test_the_readme_links_every_operator_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("annotations", "configuration", "troubleshooting", "upgrading"):
        assert f"(docs/{page}.md)" in readme, page
        assert (DOCS / f"{page}.md").is_file()
