"""pedigree: a pipeline where every output can be traced, re-run and proven identical.

Kept import-light on purpose: the stage launcher imports this package before every stage.
"""

__version__ = "0.1.0"
