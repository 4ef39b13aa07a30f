"""The provider contract: the only part of the core that cloud providers import.

Stdlib only. ``types`` holds the frozen values passed across the boundary,
``interface`` the Provider protocol and the errors that steer retries,
``registry`` the entry-point discovery, ``tags`` the ownership tags and
``sandbox`` the contract for mock clouds used by the sandbox.
"""

from lbprovider.cloud.interface import (
    CONNECTION_ERROR,
    CloudApiError,
    CloudError,
    InvalidService,
    Provider,
    ProviderConfigError,
    ProviderFactory,
    RetryAfter,
)
from lbprovider.cloud.types import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    Ingress,
    Listener,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    PortStatus,
    Protocol,
    ServiceRef,
    SessionAffinity,
)

__all__ = [
    "CONNECTION_ERROR",
    "BackendMode",
    "ChangeAction",
    "CloudApiError",
    "CloudError",
    "DesiredLoadBalancer",
    "EndpointTarget",
    "HealthCheck",
    "Ingress",
    "InvalidService",
    "Listener",
    "LoadBalancerStatus",
    "NodeTarget",
    "OwnedLoadBalancer",
    "PlannedChange",
    "PortStatus",
    "Protocol",
    "Provider",
    "ProviderConfigError",
    "ProviderFactory",
    "RetryAfter",
    "ServiceRef",
    "SessionAffinity",
]
