"""retrain.drift."""
