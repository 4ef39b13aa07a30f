"""The mock-cloud kit's request contract: validate(), unflatten() and the spec's JSON form,
plus the prose extraction of both spec generators on the published phrasings."""

# ruff: noqa: RUF001 - quotes Tencent's Chinese field docs, full-width punctuation and all

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lbprovider.mockkit.spec import (
    Action,
    ApiSpec,
    Param,
    ViolationKind,
    dump_spec,
    fetch_wheel,
    unflatten,
    validate,
)
from lbprovider_alibaba.mock import specgen as alibaba_specgen
from lbprovider_tencent.mock import specgen as tencent_specgen

pytestmark = pytest.mark.unit

TAG = Param(
    name="Tags[]",
    type="object",
    members={
        "Key": Param(name="Key", type="string", required=True),
        "Value": Param(name="Value", type="string"),
    },
)
SPEC = ApiSpec(
    service="toy",
    version="2024-01-01",
    source={"package": "toy", "version": "1"},
    actions={
        "Create": Action(
            name="Create",
            params={
                "Name": Param(name="Name", type="string", required=True),
                "Mode": Param(name="Mode", type="string", enum=("on", "off")),
                "Codes": Param(name="Codes", type="string", enum=("2xx", "3xx"), separator=","),
                "Size": Param(name="Size", type="integer", minimum=1, maximum=10),
                "Ratio": Param(name="Ratio", type="number"),
                "Force": Param(name="Force", type="boolean"),
                "Ports": Param(
                    name="Ports",
                    type="list",
                    max_items=2,
                    items=Param(name="Ports[]", type="integer", minimum=1, maximum=65535),
                ),
                "Tags": Param(name="Tags", type="list", max_items=3, items=TAG),
                "Check": Param(
                    name="Check",
                    type="object",
                    members={
                        "Port": Param(name="Port", type="integer", required=True),
                        "Inner": Param(
                            name="Inner",
                            type="object",
                            members={"Path": Param(name="Path", type="string")},
                        ),
                    },
                ),
            },
        )
    },
)


def _kinds(params: dict[str, Any], **options: Any) -> list[tuple[ViolationKind, str]]:
    return [(v.kind, v.parameter) for v in validate(SPEC, "Create", params, **options)]


def test_a_valid_request_has_no_violation() -> None:
    params = {
        "Name": "a",
        "Mode": "on",
        "Size": 10,
        "Ratio": 0.5,
        "Force": False,
        "Ports": [1, 65535],
        "Tags": [{"Key": "k"}],
        "Check": {"Port": 80, "Inner": {"Path": "/"}},
    }
    assert _kinds(params) == []


def test_unknown_action_missing_and_unknown_parameters() -> None:
    assert [v.kind for v in validate(SPEC, "Nope", {})] == [ViolationKind.UNKNOWN_ACTION]
    assert _kinds({"Bogus": 1, "Name": None}) == [
        (ViolationKind.UNKNOWN, "Bogus"),
        (ViolationKind.MISSING, "Name"),
    ]


def test_nested_objects_report_dotted_paths() -> None:
    assert _kinds({"Name": "a", "Check": {"Inner": {"Path": 3, "X": 1}}}) == [
        (ViolationKind.MISSING, "Check.Port"),
        (ViolationKind.UNKNOWN, "Check.Inner.X"),
        (ViolationKind.TYPE, "Check.Inner.Path"),
    ]
    assert _kinds({"Name": "a", "Check": "port 80"}) == [(ViolationKind.TYPE, "Check")]


def test_lists_their_items_and_max_items() -> None:
    assert _kinds({"Name": "a", "Ports": [0, 80, 70000]}) == [
        (ViolationKind.TOO_MANY, "Ports"),
        (ViolationKind.RANGE, "Ports.0"),
        (ViolationKind.RANGE, "Ports.2"),
    ]
    tags = [{"Key": "a"}, {"Value": "b"}, {"Key": "c"}, {"Key": "d"}]
    assert _kinds({"Name": "a", "Tags": tags}) == [
        (ViolationKind.TOO_MANY, "Tags"),
        (ViolationKind.MISSING, "Tags.1.Key"),
    ]
    assert _kinds({"Name": "a", "Ports": 80}) == [(ViolationKind.TYPE, "Ports")]
    # RPC paths count from 1, as the wire does (Tag.1.Key).
    assert _kinds({"Name": "a", "Tags": [{"Value": "b"}]}, index_base=1) == [
        (ViolationKind.MISSING, "Tags.1.Key")
    ]


def test_types_enums_and_ranges_of_json_scalars() -> None:
    assert _kinds({"Name": 1, "Mode": "maybe", "Size": 11, "Ratio": "x", "Force": 1}) == [
        (ViolationKind.TYPE, "Name"),
        (ViolationKind.ENUM, "Mode"),
        (ViolationKind.RANGE, "Size"),
        (ViolationKind.TYPE, "Ratio"),
        (ViolationKind.TYPE, "Force"),
    ]
    # A JSON boolean is not an integer.
    assert _kinds({"Name": "a", "Size": True}) == [(ViolationKind.TYPE, "Size")]
    # Several listed values in one string ("http_2xx,http_3xx"), each checked.
    assert _kinds({"Name": "a", "Codes": "2xx,3xx"}) == []
    assert _kinds({"Name": "a", "Codes": "2xx,5xx"}) == [(ViolationKind.ENUM, "Codes")]


def test_strings_as_scalars_for_query_string_apis() -> None:
    text = {"Name": "a", "Size": "10", "Ratio": "0.5", "Force": "true", "Ports": ["80"]}
    assert _kinds(text, scalars_as_strings=True) == []
    assert _kinds({**text, "Force": "True"}, scalars_as_strings=True) == []
    assert _kinds(text) == [
        (ViolationKind.TYPE, "Size"),
        (ViolationKind.TYPE, "Ratio"),
        (ViolationKind.TYPE, "Force"),
        (ViolationKind.TYPE, "Ports.0"),
    ]
    bad = {"Name": "a", "Size": "ten", "Force": "yes", "Ports": ["0"], "Mode": "On"}
    assert _kinds(bad, scalars_as_strings=True) == [
        (ViolationKind.ENUM, "Mode"),
        (ViolationKind.TYPE, "Size"),
        (ViolationKind.TYPE, "Force"),
        (ViolationKind.RANGE, "Ports.0"),
    ]


def test_unflatten_builds_lists_and_objects_from_rpc_names() -> None:
    flat = {
        "Tags.2.Key": "b",
        "Tags.1.Key": "a",
        "Tags.1.Value": "x",
        "Ports.10": "443",
        "Ports.2": "80",
        "Check.Port": "80",
        "Name": "n",
    }
    assert unflatten(flat) == {
        "Tags": [{"Key": "a", "Value": "x"}, {"Key": "b"}],
        "Ports": ["80", "443"],  # by index, not by text
        "Check": {"Port": "80"},
        "Name": "n",
    }
    tree = unflatten(flat)
    assert validate(SPEC, "Create", tree, scalars_as_strings=True) == []


def test_the_json_form_round_trips() -> None:
    text = dump_spec(SPEC)
    assert dump_spec(ApiSpec.from_json(json.loads(text))) == text
    with pytest.raises(ValueError, match="unknown type"):
        Param.from_json("X", {"type": "map"})


# ---- prose extraction, on the phrasings the sources publish ---------------------------------


@pytest.mark.parametrize(
    ("doc", "bounds"),
    [
        ("健康检查的响应超时时间，可选值：2~60，默认值：2，单位：秒。", (2, 60)),
        (
            "默认值：5，IPv4 CLB实例的取值范围为：2-300，IPv6 CLB 实例的取值范围为：5-300。",
            (2, 300),
        ),
        ("后端服务修改后的转发权重，取值范围：[0, 100]，默认为 10。", (0, 100)),
        ("最大出带宽的范围为1Mbps-2048Mbps。 ... 范围为1Mbps-61440Mbps。", (1, 61440)),
        ("返回负载均衡实例的数量，默认为20，最大值为100。", (None, 100)),
        (
            "取值范围：1-实例规格并发连接上限，其中-1表示关闭监听器粒度并发连接数限速。",
            (None, None),
        ),
        ("创建个数不能超过账号所能创建的最大值，默认创建最大值为20。", (None, None)),
    ],
)
def test_tencent_ranges(doc: str, bounds: tuple[int | None, int | None]) -> None:
    assert tencent_specgen._range(doc) == bounds


@pytest.mark.parametrize(
    ("doc", "values"),
    [
        ("<p>监听器协议： TCP | UDP | HTTP | HTTPS | TCP_SSL | QUIC。</p>", 6),
        ("默认值：HEAD，可选值HEAD或GET。", ("HEAD", "GET")),
        (
            "可选值：WRR（按权重轮询）、LEAST_CONN（按最小连接数）<br>默认为 WRR。",
            ("WRR", "LEAST_CONN"),
        ),
        (
            "<p>枚举值：</p><ul><li>POSTPAID_BY_HOUR： 按量计费</li>"
            "<li>PREPAID： 包年包月</li></ul>",
            2,
        ),
        ("IP版本，可取值：IPV4、IPV6、IPv6FullChain，不区分大小写，默认值 IPV4。", ()),
        ("负载均衡实例的网络类型：<br>OPEN：公网属性， INTERNAL：内网属性。", ()),
    ],
)
def test_tencent_enums(doc: str, values: tuple[str, ...] | int) -> None:
    found = tencent_specgen._enum(doc)
    assert (len(found) if isinstance(values, int) else found) == values


def test_tencent_list_sizes() -> None:
    assert tencent_specgen._list_sizes("LoadBalancerIds", "ID 数组，数组大小最大支持20。") == (
        20,
        {},
    )
    doc = "每次请求的`Filters`的上限为10，`Filter.Values`的上限为100。"
    assert tencent_specgen._list_sizes("Filters", doc) == (10, {"Values": 100})


@pytest.mark.parametrize(
    ("doc", "values"),
    [
        ("The IP version. Valid values: **ipv4** and **ipv6**.", ("ipv4", "ipv6")),
        ("Valid values:\n\n*   **on**\n*   **off**", ("on", "off")),
        (
            "Valid values:\n\n*   **internet:** public\n*   **intranet:** private",
            ("internet", "intranet"),
        ),
        (
            "Valid values:\n\n*   **paybytraffic** (default)\n\n    >  a note\n\n"
            "*   **paybybandwidth**",
            ("paybytraffic", "paybybandwidth"),
        ),
        ("Valid values:\n\n**PayOnDemand**: pay-as-you-go.", ()),
        ("Valid values:\n\n- Primary: primary NIC.\n- Secondary: secondary ENI.", ()),
    ],
)
def test_alibaba_enums(doc: str, values: tuple[str, ...]) -> None:
    assert alibaba_specgen._enum(doc) == values


def test_alibaba_comma_separated_values() -> None:
    doc = (
        "The HTTP status code. Separate multiple HTTP status codes with commas (,).\n\n"
        "Valid values: **http_2xx**, **http_3xx**, **http_4xx**, and **http_5xx**."
    )
    param = alibaba_specgen._scalar("HealthCheckHttpCode", "str", doc)
    assert (param.enum, param.separator) == (("http_2xx", "http_3xx", "http_4xx", "http_5xx"), ",")


def test_alibaba_ranges_take_the_envelope_of_what_is_listed() -> None:
    bandwidth = "Valid values:\n\n*   **-1**: unlimited.\n*   **1** to **5120**: per listener."
    assert alibaba_specgen._scalar("B", "int", bandwidth).minimum == -1
    assert alibaba_specgen._scalar("B", "int", bandwidth).maximum == 5120
    joined = alibaba_specgen._scalar("P", "int", "Valid values: **0 to 3600**")
    assert (joined.minimum, joined.maximum) == (0, 3600)
    # "Valid values: 10 to 500" (not bold) is clamped by ECS, not refused: left alone.
    clamped = alibaba_specgen._scalar("M", "int", "Valid values: 10 to 500.")
    assert (clamped.minimum, clamped.maximum) == (None, None)


def test_a_cached_wheel_must_have_the_pinned_digest(tmp_path: Path) -> None:
    wheel = tmp_path / "toy_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("toy/api.json", "{}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with fetch_wheel(package="toy-pkg", version="1.0", cache=tmp_path, sha256=digest) as opened:
        assert opened.read("toy/api.json") == b"{}"
    with pytest.raises(ValueError, match="pinned"):
        fetch_wheel(package="toy-pkg", version="1.0", cache=tmp_path, sha256="0" * 64)
