"""Stage fit: fits a logistic regression, choosing its L2 strength on the validation split."""
