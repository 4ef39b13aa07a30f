"""The Service annotations the Tencent provider reads, parsed once into :class:`Options`.

Pure (no SDK): a malformed annotation is :class:`InvalidService` with a reason
that names it, before any cloud call.

- ``service.kubernetes.io/qcloud-loadbalancer-internal-subnetid: subnet-...``:
  an internal (``INTERNAL``) CLB in that subnet; ``loadBalancerIP`` is then
  honoured as its VIP.
- ``service.kubernetes.io/tke-existed-lbid: lb-...``: reuse an existing CLB;
  only our own listeners are ever touched there, and it is never deleted.
- ``service.cloud.tencent.com/cluster-health-check: kube-proxy | traffic-port`` and
  ``service.cloud.tencent.com/kube-proxy-health-port: "10256"``: this Service's
  override of the class settings of the same names (externalTrafficPolicy:
  Cluster node targets only).  TKE itself configures health checks through its
  TkeServiceConfig CRD (``service.cloud.tencent.com/tke-service-config``), which
  has no annotation form to follow; ours take TKE's ``service.cloud.tencent.com/``
  prefix and the class settings' names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbprovider.cloud import InvalidService, ServiceRef
from lbprovider.providerkit.healthchecks import CLUSTER_HEALTH_CHECKS

ANNOTATION_INTERNAL_SUBNET = "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid"
ANNOTATION_EXISTED_LBID = "service.kubernetes.io/tke-existed-lbid"
ANNOTATION_CLUSTER_HEALTH_CHECK = "service.cloud.tencent.com/cluster-health-check"
ANNOTATION_KUBE_PROXY_HEALTH_PORT = "service.cloud.tencent.com/kube-proxy-health-port"
_SUBNET_ID = re.compile(r"^subnet-[0-9a-z]+$")
_LB_ID = re.compile(r"^lb-[0-9a-z]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What one Service's annotations ask of CLB."""

    internal_subnet: str | None = None
    """The subnet of an internal CLB; None for a public (``OPEN``) one."""
    reuse_lb_id: str | None = None
    """An existing CLB to put the listeners on; None to create our own."""
    cluster_health_check: str | None = None
    """``kube-proxy`` or ``traffic-port``; None: the class setting decides."""
    kube_proxy_health_port: int | None = None
    """kube-proxy's healthz port; None: the class setting decides."""


def parse_options(ref: ServiceRef) -> Options:
    """The options of ``ref``; InvalidService when an annotation is malformed."""
    subnet = ref.annotation(ANNOTATION_INTERNAL_SUBNET)
    if subnet is not None and not _SUBNET_ID.match(subnet):
        raise InvalidService(
            f"annotation {ANNOTATION_INTERNAL_SUBNET} must be a subnet id like subnet-abcd1234, "
            f"got {subnet!r}"
        )
    reuse = ref.annotation(ANNOTATION_EXISTED_LBID)
    if reuse is not None and not _LB_ID.match(reuse):
        raise InvalidService(
            f"annotation {ANNOTATION_EXISTED_LBID} must be a CLB id like lb-abcd1234, got {reuse!r}"
        )
    check = ref.annotation(ANNOTATION_CLUSTER_HEALTH_CHECK)
    if check is not None and check not in CLUSTER_HEALTH_CHECKS:
        raise InvalidService(
            f"annotation {ANNOTATION_CLUSTER_HEALTH_CHECK} must be one of "
            f"{', '.join(CLUSTER_HEALTH_CHECKS)}, got {check!r}"
        )
    return Options(
        internal_subnet=subnet or None,
        reuse_lb_id=reuse or None,
        cluster_health_check=check or None,
        kube_proxy_health_port=_port(ref.annotation(ANNOTATION_KUBE_PROXY_HEALTH_PORT)),
    )


def _port(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise InvalidService(
            f"annotation {ANNOTATION_KUBE_PROXY_HEALTH_PORT} must be a port from 1 to 65535, "
            f"got {value!r}"
        )
    return int(value)


def reused_lb_id(ref: ServiceRef) -> str | None:
    """The reused CLB named by ``ref``, if well formed; never raises.

    Deletion must go on when the annotation was mangled: a malformed id names
    no CLB, so there is nothing to spare.
    """
    reuse = ref.annotation(ANNOTATION_EXISTED_LBID)
    return reuse if reuse and _LB_ID.match(reuse) else None
