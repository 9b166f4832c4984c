"""`pedigree.api` mirrors `pedigree.cli` module by module: the API behind `cli/X.py` is
`api/X.py` (the import layers themselves are checked by `lint-imports` in `make lint`)."""

from __future__ import annotations

from pathlib import Path

import pedigree

PACKAGE = Path(pedigree.__file__).parent
CLI_ONLY = {"options", "render"}  # click options and terminal output: nothing to call below
# A cluster pod's entry point (argparse, like pedigree.cluster.step), no command of the CLI: the
# fold replicate's steps need the cluster's remote and the replicate feature, which only the
# API layer may both import.
API_ONLY = {"foldstep"}


def _modules(folder: str) -> set[str]:
    return {p.stem for p in (PACKAGE / folder).glob("*.py") if p.stem != "__init__"}


def test_every_command_module_has_its_api_module_and_no_other() -> None:
    cli = _modules("cli")
    assert cli >= CLI_ONLY  # the exceptions are still there
    assert _modules("api") >= API_ONLY
    assert cli - CLI_ONLY == _modules("api") - API_ONLY
