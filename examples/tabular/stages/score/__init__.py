"""Stage score: scores the model on the held-out test split."""
