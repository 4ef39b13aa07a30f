"""Every secret of the e2e session's credentials files, looked for in what it wrote.

Used by ``tests/e2e/test_zz_no_secrets_in_logs.py`` (a check of its own, with
Services made to log and to fail) and by the ``e2e`` fixture when its session
ends, so every log and Event of a session is read whatever order the test
files ran in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lbprovider.testing.harness import SandboxRun
from second_controller import CREDENTIAL_SUFFIX

EVENTS_FILE = "events.jsonl"
"""Where the ``e2e`` fixture records the session's Events (namespaces take theirs along)."""
SECRET_FIELDS = {
    "secret_access_key",
    "session_token",
    "access_key_secret",
    "secret_key",
    "accessKeySecret",
    "AccessKeySecret",
}
MIN_SECRET = 12
"""Shorter values are dummies, not secrets: the AWS mock's pair is moto's ``testing``, a
word that is in every log (``lbprovider.testing``); a real leak path is caught by the
long random secrets of the other files."""


def secret_values(e2e: SandboxRun, basetemp: Path) -> dict[str, str]:
    """Every secret of the sandbox's and the tests' credentials files -> where it is from."""
    files = [
        Path(cloud.provider_settings()["credentials_file"])
        for cloud in e2e.sandbox.mock_clouds.values()
    ]
    files += sorted(basetemp.rglob(f"*{CREDENTIAL_SUFFIX}"))
    found: dict[str, str] = {}
    for path in files:
        if not path.exists():
            continue
        content: dict[str, Any] = json.loads(path.read_text())
        for field, value in content.items():
            if field in SECRET_FIELDS and isinstance(value, str) and len(value) >= MIN_SECRET:
                found[value] = f"{path.name}:{field}"
    return found


def leaks(e2e: SandboxRun, basetemp: Path) -> tuple[int, int, list[str]]:
    """(secrets, sources read, "<secret's origin> in <source>" per leak) for every ``*.log``
    under ``basetemp``, the session's recorded Events and the Events in the API now."""
    secrets = secret_values(e2e, basetemp)
    assert len(secrets) >= 2, "no credentials file found: the check would prove nothing"
    logs = sorted(basetemp.rglob("*.log"))
    assert e2e.log_path in logs and e2e.controller_log(), "the controller wrote no log"
    events_path = e2e.sandbox.directory / EVENTS_FILE
    live = e2e.cluster.api.request("GET", "/api/v1/events")["items"]
    texts = {str(path): path.read_text(errors="replace") for path in [*logs, events_path]}
    texts["Events now in the API"] = "\n".join(str(event.get("message")) for event in live)
    found = [
        f"{origin} in {where}"
        for secret, origin in secrets.items()
        for where, text in texts.items()
        if secret in text
    ]
    return len(secrets), len(texts), found
