"""The API layer: one module per `pedigree.cli` module, one function per user action.

Each function takes plain arguments, returns data, and raises a PedigreeError subclass on
failure; the CLI only parses, calls and renders. This package imports nothing on purpose:
`pedigree run`'s no-op path must stay as cheap as a no-op `dvc repro`, so each module pulls in
what it needs (and most heavy things inside the functions that need them).
"""
