"""The mock CLB's request contract, generated from Tencent's own machine-readable API description.

Source: the ``tccli`` package (Tencent Cloud's CLI) ships
``tccli/services/clb/v20180317/api.json``: every action's input object with
each member's ``type``, ``member`` (element or object type), ``required`` flag
and ``document`` (the field documentation published on the API pages).  We
read it from the pinned wheel (never installed) and keep only the actions the
mock serves (:attr:`ClbFrontend.served_actions`).

The field types and ``required`` flags are taken as they are.  Ranges, list
sizes and enumerations exist only in the ``document`` prose; a few regular
phrasings are extracted below, each with its pattern and an example, and only
for the type it can apply to (a range for integers, a size for lists, an
enumeration for strings).  Anything else in prose stays prose: it is kept in
``doc`` and, where it matters, coded as a rule in ``models.py``.

``scripts/cloud-specs.py`` runs :func:`generate` and vendors the result as
``spec/clb-2018-03-17.json``.
"""

# ruff: noqa: RUF001, RUF003 - quotes Tencent's Chinese field docs, full-width punctuation and all

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lbprovider.mockkit.spec import Action, ApiSpec, Param, fetch_wheel

PACKAGE = "tccli"
VERSION = "3.1.189.1"
SHA256 = "98ec6fdc56000f0947ae34d601bfb86e49824afe21f6deb03d1b259221bf871c"
API_FILE = "tccli/services/clb/v20180317/api.json"
SOURCES = ({"package": PACKAGE, "version": VERSION, "sha256": SHA256, "file": API_FILE},)
SPEC_FILE = "clb-2018-03-17.json"

_SCALARS = {
    "string": "string",
    "int": "integer",
    "int64": "integer",
    "uint64": "integer",
    "float": "number",
    "bool": "boolean",
}

# -- ranges (integers, or the integer items of a list) -------------------------------------
# "端口范围：1~65535", "可选值：2~60", "取值范围为：2-300", "取值0~3600s",
# "范围为1Mbps-2048Mbps": a keyword, then two integers joined by ~ or -.
_RANGE_DASH = re.compile(
    r"(?:范围|可选值|取值)[为：:\s]{0,3}(-?\d+)\s*[A-Za-z]*\s*[~～\-－]\s*(-?\d+)(?![\d.])"
)
# "取值范围：[0, 100]", "范围[0, 100]": the bracketed form.
_RANGE_BRACKET = re.compile(r"范围[为：:\s]{0,3}\[\s*(-?\d+)\s*[,，]\s*(-?\d+)\s*\]")
# "默认为20，最大值为100" (DescribeLoadBalancers.Limit): an upper bound alone.
_MAXIMUM = re.compile(r"默认为\d+，最大值为(\d+)")

# Where the published text states a value outside its own range: "可选值：30~3600，默认为0，
# 默认不开启" (SessionExpireTime, 0 = off).  One range cannot hold both, so the lower bound
# is widened to the stated extra value instead of refusing what the API documents.
_RANGE_EXTRA_VALUES = {"SessionExpireTime": 0}

# -- list sizes -------------------------------------------------------------------------
_MAX_ITEMS = (
    re.compile(r"数组(?:大小|长度)最大支持(\d+)"),  # "数组大小最大支持20"
    re.compile(r"数量上限为(\d+)个"),  # "ID 数量上限为20个"
    re.compile(r"最大为(\d+)个"),  # "最大为100个"
    re.compile(r"最大支持(\d+)个"),  # "最大支持20个标签键值对"
)
# "每次请求的`Filters`的上限为10，`Filter.Values`的上限为100": a bound per named field.
_NAMED_MAX_ITEMS = re.compile(r"`([A-Za-z][A-Za-z.]*)`的上限为(\d+)")

# -- enumerations (strings) ---------------------------------------------------------------
# "取值 TCP | UDP | HTTP | HTTPS | TCP_SSL | QUIC": upper-case tokens joined by " | ".
_ENUM_PIPES = re.compile(r"((?:[A-Z][A-Z0-9_]*[ \t]*\|[ \t]*)+[A-Z][A-Z0-9_]*)")
# "<p>枚举值：</p><ul><li>POSTPAID_BY_HOUR： 按量计费</li><li>PREPAID： 包年包月</li></ul>"
_ENUM_HTML = re.compile(r"枚举值[：:]\s*(?:</p>)?\s*<ul>(.*?)</ul>", re.S)
_ENUM_HTML_ITEM = re.compile(r"<li>\s*([A-Za-z0-9_.\-/]+)\s*[：:]")
# "可选值：WRR（按权重轮询）、LEAST_CONN（按最小连接数）", "可选值HEAD或GET",
# "可取值：HEX或TEXT": tokens (each maybe explained in full-width brackets) joined by 、 or 或.
_ENUM_LISTED = re.compile(
    r"可[选取]值[：:]?\s*((?:[A-Za-z][A-Za-z0-9_./]*(?:（[^）]*）)?\s*[、或]\s*)+"
    r"[A-Za-z][A-Za-z0-9_./]*)"
)
_ENUM_TOKEN = re.compile(r"([A-Za-z][A-Za-z0-9_./]*)(?:（[^）]*）)?")
# "可取值：IPV4、IPV6、IPv6FullChain，不区分大小写": the API folds case, an exact list would not.
_CASE_INSENSITIVE = "不区分大小写"


def generate(cache: Path) -> dict[str, ApiSpec]:
    """``{file name: spec}`` from the pinned ``tccli`` wheel in ``cache``."""
    from lbprovider_tencent.mock.models import API_VERSION, ClbBackend  # noqa: PLC0415
    from lbprovider_tencent.mock.responses import ClbFrontend  # noqa: PLC0415 - no cycle at import

    with fetch_wheel(package=PACKAGE, version=VERSION, cache=cache, sha256=SHA256) as wheel:
        api = json.loads(wheel.read(API_FILE))
    served = ClbFrontend(ClbBackend()).served_actions
    return {SPEC_FILE: build_spec(api, served=served, api_version=API_VERSION)}


def build_spec(api: Mapping[str, Any], *, served: frozenset[str], api_version: str) -> ApiSpec:
    """The spec of the ``served`` actions of one ``api.json`` document."""
    objects: Mapping[str, Any] = api["objects"]
    missing = sorted(served - set(api["actions"]))
    if missing:
        raise ValueError(f"actions served by the mock but absent from {API_FILE}: {missing}")
    actions = {}
    for name in sorted(served):
        request = objects[api["actions"][name]["input"]]
        actions[name] = Action(name=name, params=_members(request["members"], objects))
    return ApiSpec(
        service="clb",
        version=api_version,
        source={"package": PACKAGE, "version": VERSION, "sha256": SHA256, "file": API_FILE},
        actions=actions,
    )


def _members(members: list[Mapping[str, Any]], objects: Mapping[str, Any]) -> dict[str, Param]:
    return {m["name"]: _param(m, objects) for m in members}


def _param(member: Mapping[str, Any], objects: Mapping[str, Any]) -> Param:
    name = str(member["name"])
    kind = str(member["type"])
    element = str(member.get("member", ""))
    doc = str(member.get("document", "")).strip()
    required = bool(member.get("required", False))
    if kind == "list":
        items = _element(name, element, objects, doc)
        max_items, item_bounds = _list_sizes(name, doc)
        if item_bounds and items.type == "object":
            items = _with_member_sizes(items, item_bounds)
        return Param(
            name=name, type="list", required=required, max_items=max_items, items=items, doc=doc
        )
    if kind == "object":
        return Param(
            name=name,
            type="object",
            required=required,
            members=_members(objects[element]["members"], objects),
            doc=doc,
        )
    return _scalar(name, kind if kind != "int" else element or "int", doc, required=required)


def _element(name: str, element: str, objects: Mapping[str, Any], doc: str) -> Param:
    """The item of a list: an object by name, or a scalar (which inherits the list's range)."""
    if element in objects:
        return Param(
            name=f"{name}[]",
            type="object",
            members=_members(objects[element]["members"], objects),
        )
    return _scalar(f"{name}[]", element, doc, required=False, keep_doc=False)


def _scalar(name: str, kind: str, doc: str, *, required: bool, keep_doc: bool = True) -> Param:
    if kind not in _SCALARS:
        raise ValueError(f"{name}: unknown api.json type {kind!r}")
    ptype = _SCALARS[kind]
    minimum: float | None = 0 if kind == "uint64" else None  # the wire type is unsigned
    maximum: float | None = None
    enum: tuple[str, ...] = ()
    if ptype == "integer":
        low, high = _range(doc)
        if low is not None:
            minimum = low if minimum is None else max(minimum, low)
        maximum = high
        extra = _RANGE_EXTRA_VALUES.get(name)
        if extra is not None and minimum is not None:
            minimum = min(minimum, extra)
    elif ptype == "string":
        enum = _enum(doc)
    return Param(
        name=name,
        type=ptype,
        required=required,
        enum=enum,
        minimum=minimum,
        maximum=maximum,
        doc=doc if keep_doc else "",
    )


def _range(doc: str) -> tuple[int | None, int | None]:
    """The envelope of every range the text states (IPv4 2-300 and IPv6 5-300: 2..300)."""
    pairs = [(int(a), int(b)) for a, b in _RANGE_DASH.findall(doc)]
    pairs += [(int(a), int(b)) for a, b in _RANGE_BRACKET.findall(doc)]
    pairs = [(a, b) for a, b in pairs if a <= b]
    if pairs:
        return min(a for a, _ in pairs), max(b for _, b in pairs)
    found = _MAXIMUM.search(doc)
    return (None, int(found.group(1))) if found else (None, None)


def _list_sizes(name: str, doc: str) -> tuple[int | None, dict[str, int]]:
    """``(max items of this list, {member: max items})`` from the list's text."""
    sizes = [int(m.group(1)) for pattern in _MAX_ITEMS if (m := pattern.search(doc))]
    members: dict[str, int] = {}
    singular = name[:-1] if name.endswith("s") else name
    for field_name, bound in _NAMED_MAX_ITEMS.findall(doc):
        head, _, tail = field_name.partition(".")
        if not tail and head == name:
            sizes.append(int(bound))
        elif tail and head in (name, singular):  # "`Filter.Values`" inside "Filters"
            members[tail] = int(bound)
    return (min(sizes) if sizes else None), members


def _with_member_sizes(item: Param, bounds: Mapping[str, int]) -> Param:
    members = dict(item.members)
    for member, bound in bounds.items():
        current = members.get(member)
        if current is not None and current.type == "list":
            members[member] = Param(
                name=current.name,
                type="list",
                required=current.required,
                max_items=bound,
                items=current.items,
                doc=current.doc,
            )
    return Param(name=item.name, type="object", members=members, doc=item.doc)


def _enum(doc: str) -> tuple[str, ...]:
    if _CASE_INSENSITIVE in doc:
        return ()
    if found := _ENUM_HTML.search(doc):
        return tuple(_ENUM_HTML_ITEM.findall(found.group(1)))
    if found := _ENUM_PIPES.search(doc):
        return tuple(token.strip() for token in found.group(1).split("|"))
    if found := _ENUM_LISTED.search(doc):
        return tuple(_ENUM_TOKEN.findall(found.group(1)))
    return ()
