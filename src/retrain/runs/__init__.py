"""retrain.runs."""
