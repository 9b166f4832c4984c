"""The text of every file `pedigree init` and `pedigree stage add` write.

Plain string constants with `{name}`-style fields (str.format): the scaffold has no template
engine and no package data to find. Every file a new project needs is here, so a test can check
that each one is written and that the project they make runs.
"""

from __future__ import annotations

# The lock a new stage starts with: `pedigree init` and `pedigree stage add` work offline, so
# they cannot pin (with hashes) what requirements.in names. Locally the stage runs in the
# environment pedigree is installed in; an image needs the compiled lock, which says so.
UNCOMPILED_LOCK = """\
# Not compiled yet: run `pedigree lock` (it needs the package index) to pin, with hashes, what
# requirements.in beside this file names. A stage image installs exactly this file, so build
# images only after that.
"""

SPEC = """\
# The pipeline: the source of truth for dvc.yaml (`pedigree compile --target dvc`).
# Every stage also depends on its code (stages/<name>/) and its environment lock
# (images/<name>/requirements.lock) without saying so here.
# Add a stage with `pedigree stage add NAME --after STAGE`.
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: {pipeline}
  description: {pipeline}, a pedigree pipeline
spec:
  stages:
{stage_entry}"""

STAGE_ENTRY = """\
- name: {stage}
  description: {description}
  cmd: [python, -m, stages.{stage}, --params, params.yaml{input_args}, --out, {out}]
{deps_line}  params: [{stage}]
  outs: [{out}]
"""

PARAMS = """\
# Parameters: one section per stage (its `params:` in the spec). A change re-runs the stages
# that use the section.
{sections}"""

PARAMS_SECTION = """\
{stage}:
  message: hello from {stage}
"""

STAGES_INIT = '''\
"""The pipeline's stage code: one package per stage, run as `python -m stages.NAME`."""
'''

STAGE_INIT = '''\
"""Stage {stage}: {description}."""
'''

# The stage's params model, in the module `pedigree check`, `status` and `run` look for
# (pedigree.spec.params_check): a bad value is refused, with its line, before any stage starts.
STAGE_PARAMS = '''\
"""The `{stage}` section of params.yaml, and every section stage {stage} reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """The `{stage}` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs.
PARAMS: dict[str, type[BaseModel]] = {{"{stage}": Params}}
'''

# The skeleton reads its params section and its inputs and writes one output folder, through
# pedigree.stagekit only: located params errors, an output that appears only when complete.
# Its own params module is imported relatively: a stage name may hold '-'.
STAGE_MAIN = '''\
"""Stage {stage}: {description}.

Run as `python -m stages.{stage} --params params.yaml [--inputs PATH ...] --out {out}`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pedigree.stagekit import atomic_output, load_params, run_stage, sha256_tree

from .params import Params


def main(argv: list[str]) -> int:
    """Read the params and the inputs; write a summary to the output folder."""
    parser = argparse.ArgumentParser(prog="stages.{stage}")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--inputs", type=Path, nargs="*", default=[])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params("{stage}", Params, args.params)
    summary = {{
        "message": params.message,
        "inputs": {{str(path): sha256_tree(path) for path in args.inputs}},
    }}
    with atomic_output(args.out) as out:
        text = json.dumps(summary, indent=2, sort_keys=True) + "\\n"
        (out / "summary.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_stage(main)
'''

STAGE_REQUIREMENTS = """\
# Third-party packages stage {stage} imports, one requirement per line (e.g. numpy>=2).
# After a change run `pedigree lock {stage}`: it compiles the hash-pinned requirements.lock
# beside this file.
# Keep the four below: a stage image installs only this lock and pedigree itself (without its
# dependencies), and pedigree.stagekit (params, atomic outputs) and the launcher that records
# the stage's lineage import them.
pyyaml>=6.0
pydantic>=2.8,<3
pathspec>=0.12
openlineage-python>=1.40,<2
"""

COMBINED_REQUIREMENTS = """\
# The local environment: every stage's requirements. Compiled to images/requirements.lock
# (`pedigree lock`); every images/<stage>/requirements.lock is compiled against that file as a
# constraint, so the versions agree everywhere.
"""

COMBINED_INCLUDE = "-r {stage}/requirements.in\n"

GITIGNORE = """\
.venv/
__pycache__/
*.pyc
.pytest_cache/
.pedigree/
"""

DVCIGNORE = """\
# Never part of a dependency hash: bytecode appears whenever code is imported.
__pycache__/
*.pyc
# Scratch workspaces (replicate, verify) hold their own dvc.yaml: never part of this project.
.pedigree/
"""
