"""Stage split: splits the rows by customer into train, validation and test."""
