"""The runs use cases: list runs, describe one, why it failed, re-run it. Frozen results, no formatting."""

from __future__ import annotations

from retrain.app.failures import Failure, failure_of

__all__ = ["Failure", "failure_of"]
