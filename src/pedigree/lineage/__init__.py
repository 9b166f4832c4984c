"""Lineage: one record per stage run, and what is built from the records (trees, exports).

The package imports nothing on purpose: the stage launcher imports `capture` after a stage
ends, and the CLI imports only what a command needs.
"""
