"""lbprovider provider for Tencent Cloud CLB (through ``tencentcloud-sdk-python-clb``).

The same files as every provider (``providers/README.md``): ``settings``
(class settings and credentials), ``options`` (per-Service annotations),
``model`` (pure: desired CLB state and the diff), ``naming`` (names and
tags), ``api`` (the SDK wrapper), ``provider`` (read, diff, apply) and
``mock`` (the mock CLB the tests and the sandbox drive).
"""
