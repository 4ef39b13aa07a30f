"""Configuration validation: every mistake named with its path, all at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbprovider.cli import main
from lbprovider.config import ConfigError, build_providers, parse_config

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def root_logging_kept() -> Iterator[None]:
    """``main`` points the root logger at this test's captured stderr: put it back, or
    later tests of this process log to a closed stream ("Logging error")."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_good_config_parses_with_defaults() -> None:
    config = parse_config(
        {"cluster_name": "prod", "classes": [{"name": "example.com/lb", "provider": "fake"}]}
    )
    assert config.workers == 4 and config.resync_seconds == 36000 and config.default_class is None
    assert not config.leader_election.enabled
    assert list(build_providers(config)) == ["example.com/lb"]


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "cluster_name": "bad name!",
                "workers": 0,
                "colour": "blue",
                "default_class": "nope.io/x",
                "classes": [
                    {"name": "Not_A/valid/class", "provider": "fake"},
                    {"name": "example.com/lb", "provider": "fake", "zone": "a"},
                    {"name": "example.com/lb", "provider": "fake"},
                ],
                "leader_election": {"lease_duration": 5, "renew_deadline": 10},
            }
        )
    problems = "\n".join(caught.value.problems)
    for expected in (
        "colour: unknown setting",
        "cluster_name: required",
        "classes[0].name: 'Not_A/valid/class' is not a valid loadBalancerClass",
        "classes[1].zone: unknown setting",
        "classes[2].name: 'example.com/lb' is configured twice",
        "default_class: 'nope.io/x' is not one of the configured classes",
        "workers: must be a whole number >= 1",
        "leader_election.lease_duration: must be greater than renew_deadline",
    ):
        assert expected in problems


def test_unknown_provider_and_bad_settings_are_named() -> None:
    config = parse_config(
        {
            "cluster_name": "c",
            "classes": [
                {"name": "a.io/x", "provider": "gcp"},
                {"name": "b.io/y", "provider": "fake", "settings": {"address_pool": "nope"}},
            ],
        }
    )
    with pytest.raises(ConfigError) as caught:
        build_providers(config)
    assert caught.value.problems[0].startswith(
        "classes[0].provider: no lbprovider.providers entry named 'gcp'"
    )
    assert caught.value.problems[1] == "classes[1].settings: address_pool: 'nope' is not a CIDR"


def test_run_check_prints_problems_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster_name: c\nclasses: []\n")
    assert main(["run", "--config", str(bad), "--check"]) == 2
    assert "classes: required" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text("cluster_name: c\nclasses:\n  - {name: example.com/lb, provider: fake}\n")
    assert main(["run", "--config", str(good), "--check"]) == 0
    assert "configuration OK; serving example.com/lb (fake)" in capsys.readouterr().out
    assert main(["run", "--config", str(tmp_path / "missing.yaml"), "--check"]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_run_with_unusable_kubeconfig_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("cluster_name: c\nclasses:\n  - {name: example.com/lb, provider: fake}\n")
    missing = tmp_path / "no-such-kubeconfig"
    assert main(["run", "--config", str(good), "--kubeconfig", str(missing)]) == 2
    assert f"cannot load Kubernetes credentials from {missing}" in capsys.readouterr().err
