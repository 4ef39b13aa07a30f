"""The one error the test control plane raises, shared by its modules."""

from __future__ import annotations

__all__ = ["ControlPlaneError"]


class ControlPlaneError(RuntimeError):
    """The control plane could not be found, started or reached."""
