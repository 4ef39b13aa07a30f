"""The one health-check design every provider follows, and its two class settings.

- Node targets, ``externalTrafficPolicy: Local``: HTTP ``GET /healthz`` on the
  Service's ``healthCheckNodePort``, healthy on 2xx only (kube-proxy answers
  503 on a node without a local endpoint).
- Node targets, ``Cluster``: kube-proxy's node health (KEP-3836), HTTP
  ``GET /healthz`` on ``kube_proxy_health_port`` (10256), 2xx only, so a
  draining node or a dead kube-proxy is taken out; ``cluster_health_check:
  traffic-port`` keeps a TCP check of the node port instead.
- Pod targets: a TCP check of the traffic port on the Pod.

What a cloud cannot do (HTTP checks on UDP listeners) each provider says in
its ``udp`` note, shown in the configuration reference.
"""

from __future__ import annotations

from lbprovider.providerkit.settings import Field

KUBE_PROXY = "kube-proxy"
TRAFFIC_PORT = "traffic-port"
CLUSTER_HEALTH_CHECKS = (KUBE_PROXY, TRAFFIC_PORT)
KUBE_PROXY_HEALTH_PORT = 10256
"""kube-proxy's default ``--healthz-bind-address`` port."""
HEALTHZ_PATH = "/healthz"


def cluster_health_fields(*, udp: str) -> tuple[Field, Field]:
    """``cluster_health_check`` and ``kube_proxy_health_port``, the same on every cloud;
    ``udp`` says what the cloud's UDP listeners get."""
    return (
        Field(
            name="cluster_health_check",
            default=KUBE_PROXY,
            choices=CLUSTER_HEALTH_CHECKS,
            doc=(
                "Health check of externalTrafficPolicy: Cluster node targets: kube-proxy's "
                "node health (HTTP /healthz on kube_proxy_health_port, 2xx only) or "
                f"traffic-port (a TCP check of the node port). {udp}"
            ),
        ),
        Field(
            name="kube_proxy_health_port",
            kind=int,
            default=KUBE_PROXY_HEALTH_PORT,
            minimum=1,
            maximum=65535,
            doc="kube-proxy's node health port (KEP-3836, --healthz-bind-address), checked "
            "with cluster_health_check: kube-proxy.",
        ),
    )
