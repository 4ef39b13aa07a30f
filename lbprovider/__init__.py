"""lbprovider: a Kubernetes LoadBalancer provider for AWS, Alibaba Cloud and Tencent Cloud.

The core (this package) knows Kubernetes and no cloud SDK; providers live in
``providers/lbprovider_<cloud>`` and meet the core only through ``lbprovider.cloud``.
"""

__version__ = "0.1.0"
