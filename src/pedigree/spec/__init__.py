"""The pipeline spec: YAML source, typed models, and whole-pipeline checks."""
