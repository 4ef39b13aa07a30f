"""One schema and one parser for a class's ``settings:`` block, for every provider.

A provider declares its keys once (:class:`Field`: type, required, default,
allowed values, pattern, range, and a line of documentation the configuration
reference is generated from) and gets a validated mapping or a
:class:`~lbprovider.cloud.ProviderConfigError` in one format::

    settings.region: required
    settings.retry_attempts: must be an integer from 0 to 10
    settings: unknown key 'regoin' (known: endpoint, region, ...)

Cross-field rules stay in the provider's ``settings.py``; they raise through
:func:`config_error` so the format stays one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import ProviderConfigError

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def config_error(key: str, problem: str) -> ProviderConfigError:
    """``settings.<key>: <problem>``, the one message format of settings errors."""
    return ProviderConfigError(f"settings.{key}: {problem}" if key else f"settings: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One key of a provider's settings."""

    name: str
    kind: type = str
    """``str``, ``int``, ``float``, ``bool``, or ``list`` (a list of strings)."""
    doc: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    pattern: str | None = None
    """A regular expression every string (or list item) must match in full."""
    minimum: float | None = None
    maximum: float | None = None
    example: str = ""
    """What the value looks like, said in messages (``subnet-...``)."""


@dataclass(frozen=True, slots=True)
class SettingsSchema:
    """The keys of one provider's settings, in documentation order."""

    fields: tuple[Field, ...]

    def __init__(self, fields: Sequence[Field]) -> None:
        object.__setattr__(self, "fields", tuple(fields))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.fields)

    def parse(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validated values for every key (defaults filled in); the first problem raises."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise config_error("", "must be a mapping")
        unknown = sorted(str(key) for key in raw if key not in self.names)
        if unknown:
            listed = ", ".join(repr(key) for key in unknown)
            raise config_error(
                "",
                f"unknown key{'s' if len(unknown) > 1 else ''} {listed} "
                f"(known: {', '.join(sorted(self.names))})",
            )
        return {item.name: self._value(item, raw.get(item.name)) for item in self.fields}

    def _value(self, item: Field, value: Any) -> Any:
        blank = isinstance(value, str) and not value.strip()
        if value is None or blank:
            if item.required:
                raise config_error(item.name, "required")
            if blank:  # a key written down but left empty is a mistake, not "unset"
                raise config_error(item.name, "must not be empty")
            return item.default
        if item.kind is list:
            return self._list(item, value)
        checked = _typed(item, value)
        if isinstance(checked, str):
            checked = checked.strip()
            _match(item, checked)
        if item.choices and checked not in item.choices:
            raise config_error(
                item.name, f"must be one of {', '.join(str(c) for c in item.choices)}"
            )
        if isinstance(checked, int | float) and not isinstance(checked, bool):
            low, high = item.minimum, item.maximum
            if (low is not None and checked < low) or (high is not None and checked > high):
                raise config_error(item.name, f"must be {_range(item)}")
        return checked

    def _list(self, item: Field, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise config_error(item.name, "must be a list of strings")
        items = tuple(v.strip() for v in value)
        for entry in items:
            _match(item, entry)
        return items


def _typed(item: Field, value: Any) -> Any:
    kind = item.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        if kind in (int, float) and item.minimum is not None:
            raise config_error(item.name, f"must be {_range(item)}")
        raise config_error(item.name, f"must be {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def _match(item: Field, value: str) -> None:
    if item.pattern is not None and not re.fullmatch(item.pattern, value):
        like = f" ({item.example})" if item.example else ""
        raise config_error(item.name, f"{value!r} is not valid{like}")


def _range(item: Field) -> str:
    noun = "an integer" if item.kind is int else "a number"
    low, high = item.minimum, item.maximum
    if low is not None and high is not None:
        return f"{noun} from {low:g} to {high:g}"
    if low is not None:
        return f"{noun} >= {low:g}"
    return f"{noun} <= {high:g}"
