"""The vendored API specs are what ``scripts/cloud-specs.py`` makes from the pinned packages.

The first run downloads the pinned wheels (``pip download --no-deps``) into the
cache (``LBPROVIDER_SPEC_CACHE`` or ``~/.cache/lbprovider/cloud-specs``); later
runs read them from there.  A spec edited by hand, a changed extraction rule or
an action added to a mock without regenerating fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lbprovider.mockkit.spec import load_spec
from lbprovider_alibaba.mock.models import API_VERSION, ECS_API_VERSION
from lbprovider_alibaba.mock.responses import PRODUCTS, SPEC_DIR, SPEC_FILES
from lbprovider_tencent.mock.models import ClbBackend
from lbprovider_tencent.mock.responses import SPEC_PATH, ClbFrontend

pytestmark = pytest.mark.providers

ROOT = Path(__file__).resolve().parents[2]


def test_the_vendored_specs_match_a_fresh_generation() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cloud-specs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_spec_covers_exactly_what_its_mock_serves_and_names_its_source() -> None:
    tencent = load_spec(SPEC_PATH)
    assert set(tencent.actions) == ClbFrontend(ClbBackend()).served_actions
    assert tencent.source["package"] == "tccli"
    for version in (API_VERSION, ECS_API_VERSION):
        spec = load_spec(SPEC_DIR / SPEC_FILES[version])
        assert set(spec.actions) == set(PRODUCTS[version])
        assert spec.source["package"].startswith("alibabacloud-")
        assert spec.version == version
