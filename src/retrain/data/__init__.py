"""retrain.data: data sources (synthetic, prometheus, hybrid) and the built-in models' feature contracts.

Importing this package stays light (no pandas, numpy or httpx): the heavy modules (`features`, `synthetic`,
`prometheus`, `promapi`, `hybrid`) load when `fetch` runs or when imported directly.
"""

from retrain.data.contracts import (
    ANOMALY_DETECTOR,
    BUILTIN_MODELS,
    PREDICTIVE_ANALYTICS,
    ContractJSON,
    FeatureContract,
    builtin_contract,
)
from retrain.data.settings import DataSettings, PrometheusSettings, RetryPolicy, SyntheticSettings
from retrain.data.sources import SOURCES, Dataset, DatasetInfo, fetch

__all__ = [
    "ANOMALY_DETECTOR",
    "BUILTIN_MODELS",
    "PREDICTIVE_ANALYTICS",
    "SOURCES",
    "ContractJSON",
    "DataSettings",
    "Dataset",
    "DatasetInfo",
    "FeatureContract",
    "PrometheusSettings",
    "RetryPolicy",
    "SyntheticSettings",
    "builtin_contract",
    "fetch",
]
