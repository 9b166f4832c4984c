"""Stage load: generates the synthetic customer table (seeded)."""
