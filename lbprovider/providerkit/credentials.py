"""One credentials loader for every provider: a file (a mounted Secret) or the environment.

A provider says which names it needs and how they may be spelt
(:class:`CredentialSpec`); :func:`load_credentials` reads a YAML/JSON mapping
or an INI file (its ``[default]`` section, else the first), or, without a
file, the provider's environment variables.  The values live in
:class:`Credentials`, whose ``repr`` shows names only; errors name the file
and the missing keys, never a value.
"""

from __future__ import annotations

import configparser
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.providerkit.settings import config_error

SETTING = "credentials_file"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialSpec:
    """What one cloud's credentials are made of."""

    keys: Mapping[str, tuple[str, ...]]
    """Canonical name -> the spellings accepted in a file (the canonical one first)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Canonical name -> the environment variable that may hold it."""
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secret values by canonical name; ``repr`` and ``str`` never show a value."""

    _values: Mapping[str, str] = field(repr=False)

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def get(self, name: str) -> str | None:
        """The value of ``name``, or None when it was not given."""
        return self._values.get(name)

    def secrets(self) -> tuple[str, ...]:
        """Every value, for scrubbing SDK messages that might echo one."""
        return tuple(value for value in self._values.values() if value)

    def __repr__(self) -> str:
        return f"Credentials({', '.join(f'{name}=***' for name in sorted(self._values))})"

    __str__ = __repr__


def _read_mapping(path: str) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise config_error(SETTING, f"cannot read {path} ({error.strerror})") from None
    if text.lstrip().startswith("["):
        parser = configparser.ConfigParser()
        try:
            parser.read_string(text)
        except configparser.Error:
            raise config_error(SETTING, f"{path} is not a valid INI file") from None
        sections = parser.sections()
        section = "default" if "default" in sections else (sections or [""])[0]
        return dict(parser[section]) if section else {}
    try:
        loaded = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise config_error(SETTING, f"{path} is not valid YAML or JSON") from None
    if not isinstance(loaded, Mapping):
        raise config_error(SETTING, f"{path} must hold a mapping")
    return loaded


def _pick(mapping: Mapping[str, Any], spellings: tuple[str, ...]) -> str | None:
    for spelling in spellings:
        value = mapping.get(spelling)
        if value is not None and str(value):
            return str(value)
    return None


def load_credentials(
    spec: CredentialSpec,
    *,
    path: str | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """Credentials from ``path`` or the environment; None when neither gives any.

    A file (or environment) that gives some but not all of ``spec.required``
    raises ``ProviderConfigError`` naming what is missing.
    """
    if path is not None:
        mapping = _read_mapping(path)
        values = {name: _pick(mapping, spellings) for name, spellings in spec.keys.items()}
        source = path
    else:
        env = os.environ if environ is None else environ
        values = {name: env.get(var) or None for name, var in spec.env.items()}
        source = "the environment"
        if not any(values.values()):
            return None
    missing = [name for name in spec.required if not values.get(name)]
    if missing:
        needed = " and ".join(
            spec.env[name] if path is None and name in spec.env else name for name in missing
        )
        raise config_error(SETTING, f"{source} lacks {needed}")
    return Credentials({name: value for name, value in values.items() if value})
