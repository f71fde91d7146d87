"""retrain.tekton."""
