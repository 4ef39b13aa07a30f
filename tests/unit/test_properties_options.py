"""Property tests: every cloud's annotation parser over arbitrary annotation maps.

Whatever a user writes into a Service's annotations, ``parse_options`` of each
provider returns well-formed options or raises ``InvalidService`` whose reason
names the annotation at fault; never another exception (a crash would stall
the Service's sync with an exponential backoff and a Python traceback as its
Event).  The examples are generated deterministically and bounded, so CI runs
the same cases every time and stays fast.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbprovider.cloud import InvalidService, ServiceRef
from lbprovider_alibaba import options as alibaba
from lbprovider_alibaba.settings import ADDRESS_TYPES
from lbprovider_alibaba.settings import Settings as AlibabaSettings
from lbprovider_aws import options as aws
from lbprovider_tencent import options as tencent

pytestmark = pytest.mark.unit

PROPERTIES = settings(
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

AWS_NAMES = (aws.SCHEME, aws.INTERNAL_LEGACY, aws.SUBNETS)
ALIBABA_NAMES = (alibaba.ADDRESS_TYPE, alibaba.VSWITCH_ID, alibaba.SPEC, alibaba.LOADBALANCER_ID)
TENCENT_NAMES = (tencent.ANNOTATION_INTERNAL_SUBNET, tencent.ANNOTATION_EXISTED_LBID)

# Values a user plausibly writes (and near misses of them), mixed with arbitrary text.
NEAR_MISSES = (
    "",
    " ",
    "true",
    "True",
    "TRUE",
    "false",
    "yes",
    "1",
    "0.0.0.0/0",
    "internal",
    "Internal",
    "internet-facing",
    "internet",
    "intranet",
    "INTRANET",
    "subnet-0a1b2c3d",
    "subnet-0a1b2c3d,subnet-4e5f",
    "subnet-0a1b2c3d, ,subnet-0a1b2c3d",
    " subnet-abc ",
    "subnet-abc\n",
    "subnet-",
    "subnet-ABC",
    "my-subnet-name",
    ",",
    "vsw-abc123",
    "vsw-ABC",
    "lb-abc123",
    "lb-",
    "lb-abc123\nlb-def",
    "slb.s1.small",
    "slb.s3.large.",
    "slb..small",
    "\u0130ntranet",  # lower-cases to two code points
    "\x00",
)
VALUES = st.one_of(st.sampled_from(NEAR_MISSES), st.text(max_size=40))
ID_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-.,/ \t\n", max_size=30)


def annotation_maps(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
    """The provider's own annotations with arbitrary values, plus unrelated ones."""
    own = st.dictionaries(st.sampled_from(names), st.one_of(VALUES, ID_TEXT), max_size=len(names))
    other = st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=3)
    return st.builds(lambda mine, theirs: {**theirs, **mine}, own, other)


def ref_with(annotations: Mapping[str, str]) -> ServiceRef:
    return ServiceRef(
        cluster="prop", namespace="ns", name="svc", uid="uid-1", annotations=annotations
    )


def full(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: compiled.fullmatch(value) is not None


def assert_readable(error: InvalidService, names: tuple[str, ...]) -> None:
    """A reason a user can act on: one line that names the annotation."""
    assert error.reason.strip(), "an empty reason"
    assert "\n" not in error.reason, f"a reason over several lines: {error.reason!r}"
    assert any(name in error.reason for name in names), f"names no annotation: {error.reason}"


@PROPERTIES
@given(annotations=annotation_maps(AWS_NAMES))
def test_aws_annotations_parse_or_name_the_bad_one(annotations: dict[str, str]) -> None:
    try:
        options = aws.parse_options(ref_with(annotations))
    except InvalidService as error:
        assert_readable(error, AWS_NAMES)
        return
    assert options.scheme in (aws.INTERNAL, aws.INTERNET_FACING)
    assert all(map(full(r"subnet-[0-9a-zA-Z]+"), options.subnets)), options.subnets
    assert len(set(options.subnets)) == len(options.subnets)
    if aws.SUBNETS not in annotations:
        assert options.subnets == ()
    legacy = annotations.get(aws.INTERNAL_LEGACY, "").strip().lower()
    if legacy == "true":
        assert options.scheme == aws.INTERNAL
    if aws.SCHEME not in annotations and aws.INTERNAL_LEGACY not in annotations:
        assert options.scheme == aws.INTERNET_FACING


ALIBABA_SETTINGS = st.builds(
    AlibabaSettings,
    region=st.just("cn-hangzhou"),
    vswitch_id=st.one_of(st.none(), st.just("vsw-default1")),
    spec=st.one_of(st.none(), st.just("slb.s1.small")),
    address_type=st.sampled_from(ADDRESS_TYPES),
)


@PROPERTIES
@given(annotations=annotation_maps(ALIBABA_NAMES), class_settings=ALIBABA_SETTINGS)
def test_alibaba_annotations_parse_or_name_the_bad_one(
    annotations: dict[str, str], class_settings: AlibabaSettings
) -> None:
    ref = ref_with(annotations)
    try:
        options = alibaba.parse_options(ref, class_settings)
    except InvalidService as error:
        assert_readable(error, ALIBABA_NAMES)
        return
    assert options.address_type in ADDRESS_TYPES
    assert options.vswitch_id is None or full(r"vsw-[a-z0-9]+")(options.vswitch_id)
    assert options.reuse_id is None or full(r"lb-[a-z0-9]+")(options.reuse_id)
    assert options.spec is None or full(r"slb\.[a-z0-9]+\.[a-z0-9.]+")(options.spec)
    if options.intranet and options.reuse_id is None:
        assert options.vswitch_id is not None, "an intranet SLB without a vSwitch"
    # get/delete read the reused id on their own; they must agree with ensure.
    assert alibaba.reuse_id(ref) == options.reuse_id


@PROPERTIES
@given(annotations=annotation_maps(TENCENT_NAMES))
def test_tencent_annotations_parse_or_name_the_bad_one(annotations: dict[str, str]) -> None:
    ref = ref_with(annotations)
    reused = tencent.reused_lb_id(ref)  # never raises, whatever the annotation holds
    try:
        options = tencent.parse_options(ref)
    except InvalidService as error:
        assert_readable(error, TENCENT_NAMES)
        return
    assert options.internal_subnet is None or full(r"subnet-[0-9a-z]+")(options.internal_subnet)
    assert options.reuse_lb_id is None or full(r"lb-[0-9a-z]+")(options.reuse_lb_id)
    # Deletion spares exactly the CLB that ensure reused.
    assert reused == options.reuse_lb_id
