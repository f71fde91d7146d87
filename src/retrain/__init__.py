"""retrain: keeps ML models fresh and safe with Tekton v1 pipelines, on one machine or on a cluster."""

__version__ = "0.1.0"
