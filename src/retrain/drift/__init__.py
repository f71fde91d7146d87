"""retrain.drift: how far a model's live inputs moved from its training data, and the gauges that say so.

Light at import time (no numpy or pandas until a check runs): the CLI imports the names.
"""

from retrain.drift.check import DriftReport, FeatureDrift, Thresholds, check_model, compare
from retrain.drift.config import DriftSection, DriftSettings, load_drift_settings
from retrain.drift.exposition import exposition_lines, push
from retrain.drift.monitor import DriftMonitor

__all__ = [
    "DriftMonitor",
    "DriftReport",
    "DriftSection",
    "DriftSettings",
    "FeatureDrift",
    "Thresholds",
    "check_model",
    "compare",
    "exposition_lines",
    "load_drift_settings",
    "push",
]
