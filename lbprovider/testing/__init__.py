"""Shipped test support: a throwaway Kubernetes control plane and its pytest fixtures.

Import the submodules directly (``lbprovider.testing.controlplane``,
``lbprovider.testing.pytest_plugin``); this package imports nothing heavy so
that merely importing it never pulls in the Kubernetes client.
"""
