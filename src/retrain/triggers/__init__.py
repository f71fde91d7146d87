"""retrain.triggers."""
