"""retrain.engine."""
