"""Entry-point discovery of providers and mock clouds.

Providers register a factory under ``lbprovider.providers``; mock clouds (for
the sandbox and ``lbprovider mock-cloud``) a starter under
``lbprovider.mock_clouds``.  Two distributions claiming one name is an error,
never a silent pick.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

PROVIDER_GROUP = "lbprovider.providers"
MOCK_CLOUD_GROUP = "lbprovider.mock_clouds"


class RegistryError(RuntimeError):
    """A name is unknown, registered twice, or its module cannot be imported."""


def _by_name(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        previous = found.get(entry.name)
        if previous is not None and previous.value != entry.value:
            raise RegistryError(
                f"{group}: {entry.name!r} is registered twice "
                f"({previous.value} and {entry.value}); uninstall one"
            )
        found[entry.name] = entry
    return found


def names(group: str = PROVIDER_GROUP) -> list[str]:
    """Registered names in ``group``, sorted."""
    return sorted(_by_name(group))


def load(name: str, group: str = PROVIDER_GROUP) -> Callable[..., Any]:
    """The callable registered as ``name``; RegistryError says what is available otherwise."""
    registered = _by_name(group)
    entry = registered.get(name)
    if entry is None:
        known = ", ".join(sorted(registered)) or "none"
        raise RegistryError(f"no {group} entry named {name!r} (registered: {known})")
    try:
        loaded: Callable[..., Any] = entry.load()
    except ImportError as exc:
        raise RegistryError(
            f"{group} entry {name!r} cannot be imported ({exc}); "
            f"install its extra, e.g. pip install 'lbprovider[{name}]'"
        ) from exc
    return loaded
