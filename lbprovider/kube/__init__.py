"""Kubernetes plumbing with no load-balancer knowledge.

Trimmed snapshots of API objects, list+watch informers, a rate-limited work
queue, Events, status/finalizer patches and leader election.
"""
