"""The train stage: the final model from the tuned hyperparameters."""
