"""Helpers shared by several test folders (schema validation of generated manifests)."""
