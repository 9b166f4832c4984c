"""What every `pedigree` command shares: click settings, the global Options and --json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Options:
    """Options shared by every command."""

    project: Path = Path(".")
    verbose: bool = False
    json: bool = False


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
spec_option = click.option(
    "--spec",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Pipeline spec (default: the one dvc.yaml came from, or the only pipelines/*.yaml).",
)
