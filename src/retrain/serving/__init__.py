"""retrain.serving."""
