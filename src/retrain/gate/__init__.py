"""retrain.gate."""
