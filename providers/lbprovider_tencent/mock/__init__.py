"""A wire-level mock of Tencent Cloud CLB (API 2018-03-17), moto-style.

``models`` holds the state and rules, ``responses`` the thin request parsing,
``exceptions`` one class per error code and ``server`` the HTTP server and the
sandbox entry point :func:`start`.
"""

from lbprovider_tencent.mock.server import MockClbServer, TencentMockCloud, start

__all__ = ["MockClbServer", "TencentMockCloud", "start"]
