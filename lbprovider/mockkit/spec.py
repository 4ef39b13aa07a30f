"""A cloud's published request contract, machine-readable, and the one validator over it.

The mock clouds check every request against the cloud's own description of its
API, not against a list we copied by hand: the action exists, required
parameters are present, types, enumerations, ranges and list sizes are as
published, and parameters the API does not know are reported (a frontend refuses
them, as Tencent does, or drops them, as Alibaba's RPC gateway does).

A spec is our normalised JSON, *generated* from the cloud's machine-readable
source by ``scripts/cloud-specs.py`` (Tencent: ``tccli``'s ``api.json``;
Alibaba: the field docs of the ``alibabacloud-*`` V2 SDK models) at pinned
package versions, trimmed to the actions the mock serves, and vendored beside
the mock (``providers/lbprovider_<cloud>/mock/spec/*.json``) with its source
recorded in ``"source"``.  A test regenerates it and fails when the vendored
copy drifts.  File shape::

    {"service": "clb", "version": "2018-03-17",
     "source": {"package": "tccli", "version": "3.1.189.1", "file": "..."},
     "actions": {"DeleteLoadBalancer": {"params": {
         "LoadBalancerIds": {"type": "list", "required": true, "max_items": 20,
                             "items": {"type": "string"}, "doc": "..."}}}}}

``type`` is one of ``string``, ``integer``, ``number``, ``boolean``, ``list``
(with ``items``) and ``object`` (with ``members``); ``enum`` (with ``separator``
for a string of several values), ``minimum``, ``maximum`` and ``max_items`` are
optional.  :func:`validate` returns
:class:`Violation` values; each cloud's frontend turns them into its own error
codes (``MissingParameter``, ``UnknownParameter``, ``InvalidParameterValue``...).
:func:`unflatten` turns an RPC query string's ``Tag.1.Key`` names into the tree
:func:`validate` takes.

Stdlib only, like the rest of the kit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

SCALAR_TYPES = ("string", "integer", "number", "boolean")
TYPES = (*SCALAR_TYPES, "list", "object")


@dataclass(frozen=True, kw_only=True)
class Param:
    """One request parameter (or a member of an object parameter)."""

    name: str
    type: str
    required: bool = False
    enum: tuple[str, ...] = ()
    separator: str = ""
    """When set, a string holds several ``enum`` values joined by it ("http_2xx,http_3xx")."""
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    items: Param | None = None
    """The element of a ``list``."""
    members: Mapping[str, Param] = field(default_factory=dict)
    """The fields of an ``object``."""
    doc: str = ""
    """The published field documentation the rules came from."""

    def to_json(self) -> dict[str, Any]:
        """The normalised JSON form (defaults left out, so generated files stay small)."""
        out: dict[str, Any] = {"type": self.type}
        if self.required:
            out["required"] = True
        if self.enum:
            out["enum"] = list(self.enum)
        if self.separator:
            out["separator"] = self.separator
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("max_items", self.max_items),
        ):
            if value is not None:
                out[key] = value
        if self.items is not None:
            out["items"] = self.items.to_json()
        if self.members:
            out["members"] = {name: p.to_json() for name, p in sorted(self.members.items())}
        if self.doc:
            out["doc"] = self.doc
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Param:
        """The inverse of :meth:`to_json`; rejects an unknown ``type``."""
        kind = str(data["type"])
        if kind not in TYPES:
            raise ValueError(f"parameter {name}: unknown type {kind!r}")
        items = data.get("items")
        return cls(
            name=name,
            type=kind,
            required=bool(data.get("required", False)),
            enum=tuple(str(v) for v in data.get("enum", ())),
            separator=str(data.get("separator", "")),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            max_items=data.get("max_items"),
            items=cls.from_json(f"{name}[]", items) if items is not None else None,
            members={k: cls.from_json(k, v) for k, v in data.get("members", {}).items()},
            doc=str(data.get("doc", "")),
        )


@dataclass(frozen=True, kw_only=True)
class Action:
    """One API action and its request parameters."""

    name: str
    params: Mapping[str, Param]


@dataclass(frozen=True, kw_only=True)
class ApiSpec:
    """A cloud service's request contract."""

    service: str
    version: str
    source: Mapping[str, str]
    """Where the contract came from: package, version, file."""
    actions: Mapping[str, Action]

    def to_json(self) -> dict[str, Any]:
        """The vendored file's content."""
        return {
            "service": self.service,
            "version": self.version,
            "source": dict(self.source),
            "actions": {
                name: {"params": {p: v.to_json() for p, v in sorted(a.params.items())}}
                for name, a in sorted(self.actions.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiSpec:
        """Parse a vendored spec."""
        return cls(
            service=str(data["service"]),
            version=str(data["version"]),
            source={str(k): str(v) for k, v in data["source"].items()},
            actions={
                name: Action(
                    name=name,
                    params={p: Param.from_json(p, v) for p, v in body["params"].items()},
                )
                for name, body in data["actions"].items()
            },
        )


def load_spec(path: Path) -> ApiSpec:
    """Read a vendored spec file."""
    return ApiSpec.from_json(json.loads(path.read_text(encoding="utf-8")))


def dump_spec(spec: ApiSpec) -> str:
    """The canonical text of a spec file (stable, so a regenerated file diffs cleanly)."""
    return json.dumps(spec.to_json(), indent=1, ensure_ascii=False, sort_keys=False) + "\n"


class ViolationKind(StrEnum):
    """What a request did against the contract."""

    UNKNOWN_ACTION = "unknown-action"
    MISSING = "missing"
    UNKNOWN = "unknown"
    TYPE = "type"
    ENUM = "enum"
    RANGE = "range"
    TOO_MANY = "too-many"


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One way a request breaks the contract; ``parameter`` is a dotted path
    (``HealthCheck.HttpCode``, ``Targets.3.Port``)."""

    kind: ViolationKind
    parameter: str
    message: str


def validate(
    spec: ApiSpec,
    action: str,
    params: Mapping[str, Any],
    *,
    scalars_as_strings: bool = False,
    index_base: int = 0,
) -> list[Violation]:
    """Every violation of ``spec`` by one request, in a stable order (empty when valid).

    ``params`` is the request's parameters as a tree (objects as dicts, lists as
    lists).  With ``scalars_as_strings`` (RPC query-string APIs, where every
    scalar arrives as text) a scalar is checked by whether its text parses as the
    declared type.  ``index_base`` numbers list items in the reported paths the way
    the wire does (``Tag.1.Key`` on RPC APIs, which count from 1).
    """
    spec_action = spec.actions.get(action)
    if spec_action is None:
        return [
            Violation(
                kind=ViolationKind.UNKNOWN_ACTION,
                parameter="Action",
                message=f"the action {action!r} is not part of {spec.service} {spec.version}",
            )
        ]
    out: list[Violation] = []
    _check_members(spec_action.params, params, "", _Mode(scalars_as_strings, index_base), out)
    return out


@dataclass(frozen=True)
class _Mode:
    """How scalars arrive (JSON values or query-string text) and lists are numbered."""

    as_strings: bool
    index_base: int


def _check_members(
    members: Mapping[str, Param],
    values: Mapping[str, Any],
    prefix: str,
    mode: _Mode,
    out: list[Violation],
) -> None:
    for name in sorted(values):
        if name not in members:
            out.append(
                Violation(
                    kind=ViolationKind.UNKNOWN,
                    parameter=prefix + name,
                    message=f"the parameter {prefix + name} is not recognized",
                )
            )
    for name, param in members.items():
        path = prefix + name
        if name not in values or values[name] is None:
            if param.required:
                out.append(
                    Violation(
                        kind=ViolationKind.MISSING,
                        parameter=path,
                        message=f"the required parameter {path} is missing",
                    )
                )
            continue
        _check_value(param, values[name], path, mode, out)


def _check_value(param: Param, value: Any, path: str, mode: _Mode, out: list[Violation]) -> None:
    if param.type == "object":
        if not isinstance(value, Mapping):
            out.append(_type_error(path, param, value))
            return
        _check_members(param.members, value, path + ".", mode, out)
        return
    if param.type == "list":
        if not isinstance(value, list):
            out.append(_type_error(path, param, value))
            return
        if param.max_items is not None and len(value) > param.max_items:
            out.append(
                Violation(
                    kind=ViolationKind.TOO_MANY,
                    parameter=path,
                    message=f"{path} takes at most {param.max_items} items, got {len(value)}",
                )
            )
        if param.items is not None:
            for index, item in enumerate(value):
                _check_value(param.items, item, f"{path}.{index + mode.index_base}", mode, out)
        return
    scalar = _scalar(param.type, value, mode.as_strings)
    if scalar is _INVALID:
        out.append(_type_error(path, param, value))
        return
    chosen = str(value).split(param.separator) if param.separator else [str(value)]
    if param.enum and any(item not in param.enum for item in chosen):
        out.append(
            Violation(
                kind=ViolationKind.ENUM,
                parameter=path,
                message=f"{path}={value!r} is not one of {', '.join(param.enum)}",
            )
        )
    if isinstance(scalar, int | float) and not isinstance(scalar, bool):
        low, high = param.minimum, param.maximum
        if (low is not None and scalar < low) or (high is not None and scalar > high):
            out.append(
                Violation(
                    kind=ViolationKind.RANGE,
                    parameter=path,
                    message=f"{path}={value!r} is outside {_fmt(low)}..{_fmt(high)}",
                )
            )


def unflatten(params: Mapping[str, str]) -> dict[str, Any]:
    """An RPC query string's flat parameters as the tree :func:`validate` takes.

    ``Tag.1.Key=a&Tag.1.Value=b&ResourceId.1=x`` becomes ``{"Tag": [{"Key": "a",
    "Value": "b"}], "ResourceId": ["x"]}``: a numeric segment is a list index (ordered
    by index; the wire counts from 1), any other segment an object member.  A name
    sent both plain and as a prefix (``A=1&A.1=2``) keeps one of the two, which the
    validator then checks against the declared type.
    """
    root: dict[str | int, Any] = {}
    for key, value in params.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            slot = _segment(part)
            child = node.setdefault(slot, {})
            if not isinstance(child, dict):
                break  # a plain value already holds this prefix
            node = child
        else:
            node.setdefault(_segment(parts[-1]), value)
    return {str(key): _as_lists(value) for key, value in root.items()}


def _segment(part: str) -> str | int:
    return int(part) if part.isdigit() else part


def _as_lists(node: Any) -> Any:
    """Dicts keyed only by indexes become lists in index order."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_as_lists(node[key]) for key in sorted(node)]
    return {str(key): _as_lists(value) for key, value in node.items()}


_INVALID = object()


def _scalar(kind: str, value: Any, as_strings: bool) -> Any:
    """The value as its declared scalar type, or ``_INVALID``."""
    if as_strings and isinstance(value, str):
        try:
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value)
        except ValueError:
            return _INVALID
        if kind == "boolean":
            # Python SDKs render True as "True"; no source says the gateway refuses that.
            return value if value.lower() in ("true", "false") else _INVALID
        return value
    if kind == "string":
        return value if isinstance(value, str) else _INVALID
    if kind == "boolean":
        return value if isinstance(value, bool) else _INVALID
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else _INVALID
    return _INVALID


def _type_error(path: str, param: Param, value: Any) -> Violation:
    return Violation(
        kind=ViolationKind.TYPE,
        parameter=path,
        message=f"{path} must be of type {param.type}, got {type(value).__name__}",
    )


def _fmt(bound: float | None) -> str:
    return "" if bound is None else f"{bound:g}"


def fetch_wheel(*, package: str, version: str, cache: Path, sha256: str = "") -> zipfile.ZipFile:
    """The pinned wheel of ``package`` from the package index, downloaded once into
    ``cache`` (``pip download --no-deps``: the spec data only, never installed).

    With ``sha256`` the file must have that digest (the pin covers the bytes, not only
    the version), else :class:`ValueError`.
    """
    cache.mkdir(parents=True, exist_ok=True)
    normalised = package.replace("-", "_")
    found = sorted(cache.glob(f"{normalised}-{version}-*.whl"))
    if not found:
        subprocess.run(  # noqa: S603 - a fixed pip command; package/version are our pins
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(cache),
                f"{package}=={version}",
            ],
            check=True,
        )
        found = sorted(cache.glob(f"{normalised}-{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip downloaded no wheel of {package}=={version} into {cache}")
    if sha256:
        digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
        if digest != sha256:
            raise ValueError(f"{found[0]}: sha256 {digest}, pinned {sha256}")
    return zipfile.ZipFile(found[0])
