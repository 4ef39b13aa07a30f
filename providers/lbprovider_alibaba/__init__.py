"""lbprovider provider for Alibaba Cloud SLB (``aliyun-python-sdk-slb``, ENI lookups through ECS).

The same files as every provider: ``settings`` (class settings), ``options``
(per-Service annotations), ``model`` (pure: desired state and the diff),
``naming`` (names and tags), ``api`` (every SDK call, through the provider
kit), ``provider`` (read, diff, apply) and ``mock`` (the mock SLB).
"""
