"""retrain.api."""
