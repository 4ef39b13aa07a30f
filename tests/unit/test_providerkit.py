"""The provider kit: one settings format, hidden credentials, the one call wrapper."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from lbprovider.cloud import CONNECTION_ERROR, CloudApiError, ProviderConfigError, RetryAfter
from lbprovider.providerkit import (
    CallPolicy,
    CloudCaller,
    CredentialSpec,
    ErrorCodes,
    Field,
    RateLimit,
    SettingsSchema,
    TokenBucket,
    batched,
    load_credentials,
)

pytestmark = pytest.mark.unit

SCHEMA = SettingsSchema(
    [
        Field(name="region", required=True, pattern=r"[a-z]+-[a-z]+-\d", example="eu-west-1"),
        Field(name="subnets", kind=list, default=(), pattern=r"subnet-[0-9a-f]+"),
        Field(name="attempts", kind=int, default=3, minimum=0, maximum=10),
        Field(name="wait", kind=float, default=1.5, minimum=0),
        Field(name="mode", default="internet", choices=("internet", "intranet")),
        Field(name="protect", kind=bool, default=False),
    ]
)


def test_settings_defaults_and_values() -> None:
    parsed = SCHEMA.parse({"region": " eu-west-1 ", "subnets": ["subnet-0a"], "wait": 2})
    assert parsed == {
        "region": "eu-west-1",
        "subnets": ("subnet-0a",),
        "attempts": 3,
        "wait": 2.0,
        "mode": "internet",
        "protect": False,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "settings.region: required"),
        ({"region": "  "}, "settings.region: required"),
        ({"region": "eu-west-1", "mode": " "}, "settings.mode: must not be empty"),
        ({"region": "nowhere"}, "settings.region: 'nowhere' is not valid (eu-west-1)"),
        ({"region": "eu-west-1", "regoin": 1}, "settings: unknown key 'regoin' (known: "),
        ({"region": "eu-west-1", "attempts": 11}, "settings.attempts: must be an integer from 0"),
        ({"region": "eu-west-1", "attempts": True}, "settings.attempts: must be an integer"),
        ({"region": "eu-west-1", "wait": "x"}, "settings.wait: must be a number >= 0"),
        (
            {"region": "eu-west-1", "mode": "dmz"},
            "settings.mode: must be one of internet, intranet",
        ),
        ({"region": "eu-west-1", "protect": "yes"}, "settings.protect: must be a boolean"),
        ({"region": "eu-west-1", "subnets": "subnet-1"}, "settings.subnets: must be a list"),
        ({"region": "eu-west-1", "subnets": ["sg-1"]}, "settings.subnets: 'sg-1' is not valid"),
    ],
)
def test_settings_errors_have_one_format(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ProviderConfigError) as raised:
        SCHEMA.parse(raw)
    assert str(raised.value).startswith(message)


SPEC = CredentialSpec(
    keys={"key_id": ("key_id", "AccessKeyId"), "secret": ("secret", "AccessKeySecret")},
    env={"key_id": "TEST_KEY_ID", "secret": "TEST_SECRET"},
    required=("key_id", "secret"),
)


@pytest.mark.parametrize(
    "text",
    [
        "key_id: AKIDEXAMPLE\nsecret: s3cr3t-value\n",
        '{"AccessKeyId": "AKIDEXAMPLE", "AccessKeySecret": "s3cr3t-value"}',
        "[default]\nkey_id = AKIDEXAMPLE\nsecret = s3cr3t-value\n",
    ],
)
def test_credentials_from_a_file_never_show_in_repr(tmp_path: Path, text: str) -> None:
    path = tmp_path / "credentials"
    path.write_text(text)
    credentials = load_credentials(SPEC, path=str(path))
    assert credentials is not None
    assert credentials["key_id"] == "AKIDEXAMPLE"
    assert credentials["secret"] == "s3cr3t-value"
    for shown in (repr(credentials), str(credentials), f"{credentials}"):
        assert "AKIDEXAMPLE" not in shown and "s3cr3t-value" not in shown


def test_credentials_from_the_environment_or_none() -> None:
    found = load_credentials(SPEC, path=None, environ={"TEST_KEY_ID": "a", "TEST_SECRET": "b"})
    assert found is not None and found.secrets() == ("a", "b")
    assert load_credentials(SPEC, path=None, environ={}) is None
    with pytest.raises(ProviderConfigError, match=r"^settings.credentials_file: .*TEST_SECRET"):
        load_credentials(SPEC, path=None, environ={"TEST_KEY_ID": "a"})


def test_credentials_file_errors_name_the_file_not_its_content(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match=r"^settings.credentials_file: cannot read"):
        load_credentials(SPEC, path=str(tmp_path / "missing"))
    partial = tmp_path / "partial.yaml"
    partial.write_text("key_id: AKIDEXAMPLE\n")
    with pytest.raises(ProviderConfigError) as raised:
        load_credentials(SPEC, path=str(partial))
    assert "lacks secret" in str(raised.value) and "AKIDEXAMPLE" not in str(raised.value)


def test_batched() -> None:
    assert list(batched(range(5), 2)) == [(0, 1), (2, 3), (4,)]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(batched([1], 0))


class SdkError(Exception):
    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.code, self.status = code, status


def translate(action: str, error: BaseException) -> CloudApiError | None:
    if isinstance(error, SdkError):
        return CloudApiError(
            provider="test", action=action, code=error.code, status=error.status, request_id="r-1"
        )
    if isinstance(error, ConnectionError):
        return CloudApiError(provider="test", action=action, code=CONNECTION_ERROR)
    return None


CODES = ErrorCodes(
    throttling=frozenset({"Throttling"}),
    busy=frozenset({"Busy"}),
    transient=frozenset({"SystemBusy"}),
    not_found=frozenset({"NotFound"}),
)


def caller(attempts: int = 3) -> CloudCaller:
    return CloudCaller(
        provider="test",
        translate=translate,
        codes=CODES,
        policy=CallPolicy(attempts=attempts, throttled_retry_after=7, busy_retry_after=3),
        sleep=lambda _: None,
    )


class Flaky:
    """Raises the given errors in order, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return value


def calls_total(action: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "lbprovider_cloud_api_calls_total",
        {"provider": "test", "action": action, "result": result},
    )
    return value or 0.0


@pytest.mark.parametrize(
    "error",
    [
        SdkError("Throttling"),
        SdkError("Busy"),
        SdkError("SystemBusy"),
        SdkError("X", 503),
        ConnectionError("reset"),
    ],
)
def test_transient_errors_are_retried_and_counted(error: BaseException) -> None:
    flaky = Flaky(error)
    before_ok = calls_total("Retried", "ok")
    assert caller().call("Retried", flaky, "done") == "done"
    assert flaky.calls == 2
    assert calls_total("Retried", "ok") == before_ok + 1


def test_every_retry_waits_and_every_attempt_is_counted() -> None:
    # The first attempt runs outside tenacity (cheaper): the retries after it must still
    # wait, within the policy's bounds, and each attempt must still be counted.
    waits: list[float] = []
    retrying = CloudCaller(
        provider="test",
        translate=translate,
        codes=CODES,
        policy=CallPolicy(attempts=4, wait_initial=0.2, wait_max=2.0),
        sleep=waits.append,
    )
    throttled_before = calls_total("Waited", "throttled")
    flaky = Flaky(*[SdkError("Throttling")] * 3)
    assert retrying.call("Waited", flaky, "done") == "done"
    assert flaky.calls == 4
    assert len(waits) == 3
    assert all(0.0 <= wait <= 2.0 for wait in waits)
    assert calls_total("Waited", "throttled") == throttled_before + 3


def test_persistent_throttling_is_retry_after_not_a_failure() -> None:
    flaky = Flaky(*[SdkError("Throttling")] * 5)
    with pytest.raises(RetryAfter) as raised:
        caller(attempts=3).call("Throttled", flaky, "x")
    assert raised.value.seconds == 7
    assert flaky.calls == 3  # bounded


def test_a_cloud_hint_wins_over_the_bounded_delay() -> None:
    hinted = CloudApiError(provider="test", action="A", code="Throttling", retry_after=42)
    with pytest.raises(RetryAfter) as raised:
        caller(attempts=1).call("Hinted", Flaky(hinted), "x")
    assert raised.value.seconds == 42


def test_a_busy_resource_is_retry_after() -> None:
    with pytest.raises(RetryAfter) as raised:
        caller(attempts=2).call("Busy", Flaky(*[SdkError("Busy")] * 2), "x")
    assert raised.value.seconds == 3


def test_errors_are_not_retried_and_keep_their_code(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(SdkError("InvalidParameter"))
    with caplog.at_level(logging.WARNING), pytest.raises(CloudApiError) as raised:
        caller().call("Broken", flaky, "x")
    assert flaky.calls == 1
    error = raised.value
    assert (error.provider, error.action, error.code, error.request_id) == (
        "test",
        "Broken",
        "InvalidParameter",
        "r-1",
    )
    # The request id is logged, not put in the message (Events and conditions stay stable).
    assert str(error) == "test Broken failed: InvalidParameter"
    assert any(record.message == "cloud api call failed" for record in caplog.records)


def test_not_found_is_an_outcome() -> None:
    flaky = Flaky(SdkError("NotFound"))
    assert caller().call_or_none("Lookup", flaky, "x") is None
    assert flaky.calls == 1
    with pytest.raises(CloudApiError) as raised:
        caller().call("Lookup", Flaky(SdkError("NotFound")), "x")
    assert caller().is_not_found(raised.value)


def test_foreign_exceptions_pass_through_untouched() -> None:
    with pytest.raises(KeyError):
        caller().call("Bug", Flaky(KeyError("bug")), "x")


class FakeTime:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    time_ = FakeTime()
    bucket = TokenBucket(RateLimit(rate=10, burst=40), clock=time_.clock, sleep=time_.sleep)
    stamps = []
    for _ in range(140):
        bucket.acquire()
        stamps.append(time_.now)
    assert stamps[39] == 0.0  # the burst at once
    assert stamps[-1] == pytest.approx(10.0)  # then 100 more at 10 per second
    # Never more than burst + rate * t calls within any window starting at 0.
    for index, stamp in enumerate(stamps):
        assert index + 1 <= 40 + 10 * stamp + 1e-9


def test_the_call_wrapper_takes_a_token_per_attempt() -> None:
    time_ = FakeTime()
    limited = CloudCaller(
        provider="test",
        translate=translate,
        codes=CODES,
        policy=CallPolicy(
            attempts=3, wait_initial=0, wait_max=0, rate_limit=RateLimit(rate=2, burst=1)
        ),
        sleep=time_.sleep,
    )
    limited._bucket = TokenBucket(  # the same limit on the fake clock
        RateLimit(rate=2, burst=1), clock=time_.clock, sleep=time_.sleep
    )
    flaky = Flaky(SdkError("Throttling"), SdkError("Throttling"))
    assert limited.call("Limited", flaky, "ok") == "ok"
    assert flaky.calls == 3
    assert time_.now == pytest.approx(1.0)  # three attempts: one now, two at 2 per second


@pytest.mark.parametrize(
    ("provider", "settings", "default"),
    [
        ("aws", {"region": "us-east-1"}, RateLimit(rate=10, burst=40)),
        ("alibaba", {"region": "cn-hangzhou"}, RateLimit(rate=10, burst=20)),
        ("tencent", {"region": "ap-guangzhou"}, RateLimit(rate=20, burst=20)),
    ],
)
def test_every_provider_declares_its_clouds_rate_limit(
    provider: str, settings: dict[str, object], default: RateLimit
) -> None:
    parse = importlib.import_module(f"lbprovider_{provider}.settings").parse_settings
    assert parse(settings).rate_limit == default
    tuned = parse({**settings, "rate_limit_qps": 2.5, "rate_limit_burst": 5})
    assert tuned.rate_limit == RateLimit(rate=2.5, burst=5)
    with pytest.raises(ProviderConfigError, match=r"^settings\.rate_limit_burst: "):
        parse({**settings, "rate_limit_burst": 0})
