"""retrain.cli."""
