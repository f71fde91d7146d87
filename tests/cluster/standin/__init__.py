"""A strict stand-in Kubernetes API server (and simulated controllers) for the cluster-driving tests."""

from .server import LogBook, StandIn
from .store import ApiError

__all__ = ["ApiError", "LogBook", "StandIn"]
