"""Code every stage of this pipeline shares (an implicit dependency of each stage)."""
