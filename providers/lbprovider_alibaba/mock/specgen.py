"""The mock's request contracts (SLB 2014-05-15, ECS 2014-05-26), generated from Alibaba's V2 SDKs.

Source: the request models of the V2 SDKs ``alibabacloud-slb20140515`` and
``alibabacloud-ecs20140526`` (``models/_<action>_request.py``), read from the
pinned wheels (never installed) with :mod:`ast` and :mod:`tokenize`:

- the parameters and their Python types from ``__init__``'s annotations
  (``str``, ``int``, ``bool``, ``float``, ``List[str]``, ``List[main_models.X]``
  for a list of objects whose class ``X`` sits in the same file);
- the wire names from ``to_map()`` (``result['LoadBalancerId'] = self.load_balancer_id``);
- the field documentation from the comment block above each ``self.x = x``.

RPC is a query string: every scalar travels as text (the frontend validates with
``scalars_as_strings``), a list of objects as ``Tag.1.Key`` and a list of
scalars as ``ResourceId.1``; a JSON document passed as one parameter
(``BackendServers``, ``Tags``) is a ``str`` in the models and so a ``string`` here.

Rules exist only in the comments; a few regular phrasings are extracted below,
each with its pattern and an example, and only for the type it can apply to.
Only the actions the mock serves (``responses.PRODUCTS``) are kept.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import zipfile
from collections.abc import Mapping
from pathlib import Path

from lbprovider.mockkit.spec import Action, ApiSpec, Param, fetch_wheel

SLB = {
    "package": "alibabacloud-slb20140515",
    "version": "3.3.31",
    "module": "alibabacloud_slb20140515",
    "sha256": "e6b96616dece8a599bba0cf2c927522e0d93fd12c906fab08d132104c2593cef",
}
ECS = {
    "package": "alibabacloud-ecs20140526",
    "version": "7.11.8",
    "module": "alibabacloud_ecs20140526",
    "sha256": "272f770df4dc29ed240b058552dca7985354abe22c998cf3be753f0ff037800f",
}
SOURCES = (SLB, ECS)
SPEC_FILES = {
    "2014-05-15": ("slb", SLB, "slb-2014-05-15.json"),
    "2014-05-26": ("ecs", ECS, "ecs-2014-05-26.json"),
}

_SCALARS = {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}

# "This parameter is required." (the models' own marker of a required field)
_REQUIRED = "This parameter is required."
# "Valid values: **1** to **5120**." / "Valid values: **1 to 100**" (integers)
_RANGE = re.compile(r"Valid values:\s*\*\*(-?\d+)\*\*\s*to\s*\*\*(-?\d+)\*\*")
_RANGE_JOINED = re.compile(r"Valid values:\s*\*\*(-?\d+) to (-?\d+)\*\*")
# "Valid values of N: **1 to 20**" / "Valid values of N: 1 to 100" (the size of a list; on
# a list of objects the models state it on a member, e.g. Tag.N.Key)
_LIST_N = re.compile(r"Valid values of N:\s*\**\s*1\s*to\s*(\d+)\s*\**")
# "Valid values:" then a bulleted list of bold values ("*   **on**") or, on the same line,
# only bold values joined by "," / "and" / "or" ("Valid values: **ipv4** and **ipv6**.").
_VALID_VALUES = "Valid values:"
_BULLET = re.compile(r"^\*\s+\*\*([A-Za-z0-9_.\-/]+)(?::\*\*|\*\*(?:\s*(?:[:(\uff1a]|$)))")
# "Valid values:" then "*   **-1**: ... unlimited" and "*   **1** to **5120**: ...": ranges and
# single values as bullets (SLB listener Bandwidth).
_RANGE_BULLET = re.compile(r"^\*\s+\*\*(-?\d+)\*\*\s*to\s*\*\*(-?\d+)\*\*", re.M)
_INT_BULLET = re.compile(r"^\*\s+\*\*(-?\d+)\*\*\s*:", re.M)
_INLINE_ENUM = re.compile(
    r"^\s*\*\*([A-Za-z0-9_.\-/]+)\*\*((?:\s*(?:,|and|or|, and|, or)\s*\*\*[A-Za-z0-9_.\-/]+\*\*)+)"
    r"\s*\.?\s*$"
)
_BOLD = re.compile(r"\*\*([A-Za-z0-9_.\-/]+)\*\*")
# "Separate multiple HTTP status codes with commas (,)." (HealthCheckHttpCode): several
# listed values in one string.
_COMMA_SEPARATED = re.compile(r"Separate multiple [^.]* with commas")


def generate(cache: Path) -> dict[str, ApiSpec]:
    """``{file name: spec}`` for each API version the mock serves."""
    from lbprovider_alibaba.mock.responses import PRODUCTS  # noqa: PLC0415 - no cycle at import

    out: dict[str, ApiSpec] = {}
    for version, actions in sorted(PRODUCTS.items()):
        service, source, file_name = SPEC_FILES[version]
        wheel = fetch_wheel(
            package=source["package"],
            version=source["version"],
            cache=cache,
            sha256=source["sha256"],
        )
        with wheel:
            out[file_name] = build_spec(
                wheel,
                module=source["module"],
                service=service,
                version=version,
                served=frozenset(actions),
                source={k: source[k] for k in ("package", "version", "sha256")},
            )
    return out


def build_spec(
    wheel: zipfile.ZipFile,
    *,
    module: str,
    service: str,
    version: str,
    served: frozenset[str],
    source: Mapping[str, str],
) -> ApiSpec:
    """The spec of the ``served`` actions, read from the request models in ``wheel``."""
    index = _model_index(wheel.read(f"{module}/models/__init__.py").decode())
    actions: dict[str, Action] = {}
    files: list[str] = []
    for name in sorted(served):
        class_name = f"{name}Request"
        if class_name not in index:
            raise ValueError(f"{service} {version}: no request model for served action {name}")
        path = f"{module}/models/{index[class_name]}.py"
        files.append(path.split("/", 1)[1])
        classes = _classes(wheel.read(path).decode())
        actions[name] = Action(name=name, params=_params(class_name, classes))
    return ApiSpec(
        service=service,
        version=version,
        source={**source, "file": f"{module}/models/_<action>_request.py"},
        actions=actions,
    )


def _model_index(init_text: str) -> dict[str, str]:
    """``{class name: module}`` from ``models/__init__.py``'s ``from ._x import X`` lines."""
    out: dict[str, str] = {}
    for node in ast.parse(init_text).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                out[alias.name] = node.module
    return out


class _Model:
    """One model class: its fields in order (attribute, Python type, wire name, comment)."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, ast.expr | None, str, str]] = []


def _classes(source: str) -> dict[str, _Model]:
    tree = ast.parse(source)
    comments = _comments(source)
    out: dict[str, _Model] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        methods = {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
        init, to_map = methods.get("__init__"), methods.get("to_map")
        if init is None or to_map is None:
            continue
        annotations = {
            a.arg: a.annotation for a in init.args.args + init.args.kwonlyargs if a.arg != "self"
        }
        wires = _wire_names(to_map)
        model = _Model()
        for stmt in init.body:
            attr = _self_assign(stmt)
            if attr is None or attr not in wires:
                continue
            doc = _comment_above(comments, stmt.lineno)
            model.fields.append((attr, annotations.get(attr), wires[attr], doc))
        out[node.name] = model
    return out


def _self_assign(stmt: ast.stmt) -> str | None:
    """``x`` of ``self.x = ...``."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(target := stmt.targets[0], ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    ):
        return target.attr
    return None


def _wire_names(to_map: ast.FunctionDef) -> dict[str, str]:
    """``{attribute: wire name}``: each ``if self.x is not None:`` block writes ``result['W']``
    (a list is first set with ``result['W'] = []`` and then filled in ``if self.x ...``)."""
    out: dict[str, str] = {}
    for stmt in to_map.body:
        if not isinstance(stmt, ast.If):
            continue
        attrs = [
            n.attr
            for n in ast.walk(stmt.test)
            if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id == "self"
        ]
        keys = [
            n.slice.value
            for body in stmt.body
            for n in ast.walk(body)
            if isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name)
            and n.value.id == "result"
            and isinstance(n.slice, ast.Constant)
            and isinstance(n.slice.value, str)
        ]
        if len(attrs) == 1 and keys:
            out[attrs[0]] = keys[0]
    return out


def _comments(source: str) -> dict[int, str]:
    """``{line: comment text}`` of every whole-line ``#`` comment."""
    out: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.line.strip().startswith("#"):
            out[token.start[0]] = token.string[1:].removeprefix(" ")
    return out


def _comment_above(comments: Mapping[int, str], line: int) -> str:
    """The comment block directly above ``line`` (blank ``#`` lines kept as paragraph breaks)."""
    lines: list[str] = []
    current = line - 1
    while current in comments:
        lines.append(comments[current].rstrip())
        current -= 1
    return "\n".join(reversed(lines)).strip()


def _params(class_name: str, classes: Mapping[str, _Model]) -> dict[str, Param]:
    return {
        wire: _param(wire, annotation, doc, classes)
        for _, annotation, wire, doc in classes[class_name].fields
    }


def _param(
    name: str, annotation: ast.expr | None, doc: str, classes: Mapping[str, _Model]
) -> Param:
    required = _REQUIRED in doc
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "List":
        element = annotation.slice
        found = _LIST_N.search(doc)
        sizes = [int(found.group(1))] if found else []
        if isinstance(element, ast.Name) and element.id in _SCALARS:
            items = _scalar(f"{name}[]", element.id, "")
        else:
            element_class = ast.unparse(element).removeprefix("main_models.")
            if element_class not in classes:
                raise ValueError(f"{name}: element class {element_class} not in the model file")
            members = _params(element_class, classes)
            items = Param(name=f"{name}[]", type="object", members=members)
            if not sizes:  # "Valid values of N" on a member bounds the list (Tag.N.Key)
                sizes = [int(m.group(1)) for p in members.values() if (m := _LIST_N.search(p.doc))]
        return Param(
            name=name,
            type="list",
            required=required,
            max_items=min(sizes) if sizes else None,
            items=items,
            doc=doc,
        )
    kind = ast.unparse(annotation) if annotation is not None else "str"
    if kind not in _SCALARS:
        raise ValueError(f"{name}: unsupported model type {kind}")
    param = _scalar(name, kind, doc)
    return Param(
        name=param.name,
        type=param.type,
        required=required,
        enum=param.enum,
        separator=param.separator,
        minimum=param.minimum,
        maximum=param.maximum,
        doc=doc,
    )


def _scalar(name: str, kind: str, doc: str) -> Param:
    ptype = _SCALARS[kind]
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] = ()
    if ptype == "integer":
        # The envelope of what the text allows: every range plus any single value listed
        # beside one (Bandwidth: -1 or 1 to 5120 -> -1..5120; one range cannot say "not 0").
        found = _RANGE.findall(doc) + _RANGE_JOINED.findall(doc)
        if _VALID_VALUES in doc:
            found += _RANGE_BULLET.findall(doc)
        ranges = [(int(a), int(b)) for a, b in found]
        if ranges:
            singles = [int(v) for v in _INT_BULLET.findall(doc)] if _VALID_VALUES in doc else []
            minimum = min([a for a, _ in ranges] + singles)
            maximum = max([b for _, b in ranges] + singles)
    elif ptype == "string":
        enum = _enum(doc)
    separator = "," if enum and _COMMA_SEPARATED.search(doc) else ""
    return Param(
        name=name,
        type=ptype,
        enum=enum,
        separator=separator,
        minimum=minimum,
        maximum=maximum,
        doc=doc,
    )


def _enum(doc: str) -> tuple[str, ...]:
    """The values listed right after "Valid values:" (bulleted or inline, bold only)."""
    start = doc.find(_VALID_VALUES)
    if start < 0 or doc.find(_VALID_VALUES, start + 1) >= 0:
        return ()  # none, or several lists (conditional values): left to prose
    rest = doc[start + len(_VALID_VALUES) :]
    first_line, _, following = rest.partition("\n")
    if first_line.strip():
        inline = _INLINE_ENUM.match(first_line)
        return tuple(_BOLD.findall(first_line)) if inline else ()
    values: list[str] = []
    for line in following.split("\n"):
        text = line.strip()
        if not text or line[:1].isspace():
            continue  # blank lines between bullets, indented notes under a bullet
        bullet = _BULLET.match(text)
        if bullet:
            values.append(bullet.group(1))
        elif text.startswith("*"):
            return ()  # a bullet that is not a plain bold value: not a closed list
        else:
            break  # the paragraph after the list
    return tuple(values)
