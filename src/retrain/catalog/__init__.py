"""retrain.catalog."""
