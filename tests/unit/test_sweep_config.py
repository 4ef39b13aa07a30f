"""The ``sweep:`` block of ``lbprovider.yaml``: defaults, validation, every mistake named."""

from __future__ import annotations

from typing import Any

import pytest

from lbprovider.config import ConfigError, SweepSettings, parse_config

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "cluster_name": "prod",
    "classes": [{"name": "x.io/fake", "provider": "fake"}],
}


def test_the_sweep_reports_hourly_and_deletes_nothing_by_default() -> None:
    assert parse_config(BASE).sweep == SweepSettings(interval_seconds=3600, delete=False)


def test_the_sweep_can_be_tuned_turned_off_or_made_to_delete() -> None:
    tuned = parse_config({**BASE, "sweep": {"interval_seconds": 600, "delete": True}})
    assert tuned.sweep == SweepSettings(interval_seconds=600, delete=True)
    assert parse_config({**BASE, "sweep": {"interval_seconds": 0}}).sweep.interval_seconds == 0


@pytest.mark.parametrize(
    ("sweep", "problem"),
    [
        ({"interval_seconds": -1}, "sweep.interval_seconds: must be a whole number >= 0 (got -1)"),
        (
            {"interval_seconds": "1h"},
            "sweep.interval_seconds: must be a whole number >= 0 (got '1h')",
        ),
        ({"delete": "yes"}, "sweep.delete: must be true or false (got 'yes')"),
        ({"delete": 1}, "sweep.delete: must be true or false (got 1)"),
        ({"dryrun": True}, "sweep.dryrun: unknown setting (known: delete, interval_seconds)"),
        ([3600], "sweep: must be a mapping with interval_seconds and delete"),
    ],
)
def test_every_sweep_mistake_is_named(sweep: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({**BASE, "sweep": sweep})
    assert error.value.problems == [problem]
