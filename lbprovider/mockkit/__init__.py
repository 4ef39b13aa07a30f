"""The one mock-cloud core, moto-style: what every mock cloud shares.

- :mod:`~lbprovider.mockkit.server`: the HTTP server on 127.0.0.1 and the
  request pipeline (authenticate, count, faults, latency, dispatch, render);
- :mod:`~lbprovider.mockkit.admin`: the shared test-only admin routes
  (``/_admin/state``, ``counters``, ``reset``, ``faults``, ``latency``, ``clock``);
- :mod:`~lbprovider.mockkit.counters`: one notion of a read and a write;
- :mod:`~lbprovider.mockkit.faults`: injected errors, dropped connections and
  latency per action, by count or probability;
- :mod:`~lbprovider.mockkit.clock`: one injectable clock (signatures, async tasks);
- :mod:`~lbprovider.mockkit.errors`: the base API error of every mock;
- :mod:`~lbprovider.mockkit.client`: :class:`MockAdmin`, the Python side of the
  admin routes, the same for every cloud.

Per cloud only ``models.py`` (state and rules), ``responses.py`` (parameter
parsing), ``exceptions.py`` (one class per error code) and ``auth.py``
(signatures) remain, plus a :class:`~lbprovider.mockkit.server.CloudFrontend`
that ties them to the server.  Stdlib only.
"""

from lbprovider.mockkit.client import MockAdmin
from lbprovider.mockkit.clock import MockClock
from lbprovider.mockkit.counters import CallCounters, CallCounts, access_key_of, is_read
from lbprovider.mockkit.errors import MockApiError
from lbprovider.mockkit.faults import FaultPlan, FaultRule
from lbprovider.mockkit.server import CloudFrontend, MockServer
from lbprovider.mockkit.wire import HttpRequest, HttpResponse

__all__ = [
    "CallCounters",
    "CallCounts",
    "CloudFrontend",
    "FaultPlan",
    "FaultRule",
    "HttpRequest",
    "HttpResponse",
    "MockAdmin",
    "MockApiError",
    "MockClock",
    "MockServer",
    "access_key_of",
    "is_read",
]
