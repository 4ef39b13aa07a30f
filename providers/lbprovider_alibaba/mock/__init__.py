"""A wire-level mock of Alibaba Cloud SLB (API 2014-05-15), moto-style.

It also answers ECS ``DescribeNetworkInterfaces`` (API 2014-05-26) on the same
endpoint: ENI backends of SLB name the ENI that holds a Pod IP.

``start()`` is the ``lbprovider.mock_clouds`` entry point (see
``lbprovider.cloud.sandbox``); ``models`` holds state and rules,
``responses`` the parameter parsing, ``exceptions`` one class per error code
and ``server`` the HTTP side and the admin interface.
"""

from lbprovider_alibaba.mock.models import SlbBackend
from lbprovider_alibaba.mock.server import AlibabaMockCloud, serve, start

__all__ = ["AlibabaMockCloud", "SlbBackend", "serve", "start"]
