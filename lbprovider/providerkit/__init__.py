"""What every cloud provider shares, so that each cross-cutting fix is made once.

- :mod:`~lbprovider.providerkit.settings`: one schema + parser for a class's
  ``settings:`` block, one message format (``settings.region: required``).
- :mod:`~lbprovider.providerkit.credentials`: one loader (file or environment),
  secrets hidden from ``repr`` and logs.
- :mod:`~lbprovider.providerkit.calls`: the one call wrapper every SDK call
  goes through: bounded jittered retries, "not found" as an outcome,
  persistent throttling as ``RetryAfter``, a log line and metrics.
- :mod:`~lbprovider.providerkit.ratelimit`: the client-side token bucket.
- :mod:`~lbprovider.providerkit.batching`: ``batched()`` for per-call limits.
- :mod:`~lbprovider.providerkit.healthchecks`: the one health-check design and its
  two class settings.

Providers import this and :mod:`lbprovider.cloud`, never ``kubernetes`` or the
rest of the core (import-linter keeps it so).
"""

from lbprovider.providerkit.batching import batched
from lbprovider.providerkit.calls import CallPolicy, CloudCaller, ErrorCodes
from lbprovider.providerkit.credentials import Credentials, CredentialSpec, load_credentials
from lbprovider.providerkit.ratelimit import RateLimit, TokenBucket, rate_limit_fields
from lbprovider.providerkit.settings import Field, SettingsSchema, config_error

__all__ = [
    "CallPolicy",
    "CloudCaller",
    "CredentialSpec",
    "Credentials",
    "ErrorCodes",
    "Field",
    "RateLimit",
    "SettingsSchema",
    "TokenBucket",
    "batched",
    "config_error",
    "load_credentials",
    "rate_limit_fields",
]
