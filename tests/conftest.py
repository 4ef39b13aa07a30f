"""Shared pytest configuration: the shipped control-plane fixtures (started only on demand)."""

pytest_plugins = ["lbprovider.testing.pytest_plugin"]
