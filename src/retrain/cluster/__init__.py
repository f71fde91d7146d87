"""retrain.cluster."""
