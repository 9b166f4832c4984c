"""The pipeline's stage code: one package per stage, run as `python -m stages.NAME`."""
