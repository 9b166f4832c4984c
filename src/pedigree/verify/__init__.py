"""`pedigree verify`: re-run a stage from its recorded inputs in a scratch workspace and compare.

`workspace` builds the scratch folder from dvc.lock and the DVC cache, `compare` hashes what the
re-run wrote against dvc.lock, `envdiff` explains a difference. The package imports nothing.
"""
