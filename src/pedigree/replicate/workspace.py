"""One scratch workspace per seed, `.pedigree/replicate/seed-N/`, and running stages in it.

A workspace holds a copy of the code (stages/), the environment locks, dvc.yaml, dvc.lock and
.dvcignore, params.yaml with the seed (`spec.replicate.seed`) set to N, a summary saying "no
replicate results" (evaluate reads one; the project's own would make each seed depend on the
others), and the upstream outputs the stages read, as hard links to one shared copy of them
(`pedigree.replicate.isolation`): never links into the project, so nothing a stage does in its
workspace can reach the project's files. The stages run there exactly as dvc.yaml runs them,
through `python -m pedigree.launch`, so each run leaves a lineage record in the workspace. A
stage whose record still matches its inputs, params, command and outputs is reused.

`.pedigree/replicate/` carries its own .gitignore and .dvcignore: git never sees the workspaces,
and DVC never takes their dvc.yaml files for part of the project's pipeline, even in a checkout
whose .gitignore does not list .pedigree/. The stages' lineage records stay in the workspace and
no OpenLineage event leaves it (a replicate is no run of the project's pipeline).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pedigree.errors import StageFailedError
from pedigree.replicate.isolation import place_upstream, shared_upstream
from pedigree.replicate.summary import SUMMARY_PATH, empty_summary
from pedigree.replicate.upstream import Plan, split_seed

SCRATCH = Path(".pedigree") / "replicate"
COPIED_FILES = ("dvc.yaml", "dvc.lock", ".dvcignore")
CODE_TREE = "stages"
IGNORE_ALL = {".gitignore": "*\n", ".dvcignore": "/*\n"}
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class RunSetup:
    """What makes one run's workspace differ from a plain seed's: its folder name, params keys
    set besides the seed (`--set` overrides, a fold's split map) and files written into it."""

    name: str
    changes: Mapping[str, Any] = field(default_factory=dict)  # dotted params key -> value
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> text


def scratch_dir(root: Path, seed: int | str) -> Path:
    """The workspace of `seed` (a seed number, or a run's folder name)."""
    return root / SCRATCH / (seed if isinstance(seed, str) else f"seed-{seed}")


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_symlink() or not path.is_file() or path.read_text(encoding="utf-8") != text:
        _remove(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _remove(path: Path) -> None:
    """Remove a workspace entry; a symlink is unlinked, never followed."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _copy_tree(source: Path, target: Path) -> None:
    # Copied, not linked: the stages find their own files through __file__, which must lie in
    # the workspace. A fresh copy each time, so a file deleted from the project is gone here too.
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove(partial)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _remove(target)
    partial.rename(target)


def _copy_file(source: Path, target: Path) -> None:
    if not source.is_file():
        _remove(target)
        return
    if not target.is_symlink() and target.is_file() and target.read_bytes() == source.read_bytes():
        return
    _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def seeded_params(
    root: Path, seed: int | None, key: str, changes: Mapping[str, Any] | None = None
) -> str:
    """The project's params.yaml with `key` (`section.key`, spec.replicate.seed) set to `seed`
    (left as it is for None) and each dotted key of `changes` set to its value
    (`pedigree.replicate.overrides`)."""
    from pedigree.replicate.overrides import set_key

    data = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    if seed is not None:
        section, name = split_seed(key)
        data[section][name] = seed
    for dotted, value in (changes or {}).items():
        set_key(data, dotted, value)
    return yaml.safe_dump(data, sort_keys=False)


def copy_code(plan: Plan, ws: Path) -> None:
    """A fresh copy of the code (stages/), dvc.yaml, dvc.lock, .dvcignore and the environment
    locks in `ws`."""
    _copy_tree(plan.root / CODE_TREE, ws / CODE_TREE)
    for rel in (*COPIED_FILES, *(p for p in plan.code if not p.startswith(f"{CODE_TREE}/"))):
        _copy_file(plan.root / rel, ws / rel)


def build_workspace(
    plan: Plan, seed: int, run: RunSetup | None = None, shared: Path | None = None
) -> Path:
    """Create or refresh the workspace of `seed` (or of `run`); outputs of earlier runs are
    left in place. `shared` is the copy of the upstream outputs (`shared_upstream(plan)`,
    made here when not given)."""
    root = plan.root
    base = root / SCRATCH
    base.mkdir(parents=True, exist_ok=True)
    for name, text in IGNORE_ALL.items():
        _write_if_changed(base / name, text)
    ws = scratch_dir(root, seed if run is None else run.name)
    ws.mkdir(parents=True, exist_ok=True)
    copy_code(plan, ws)
    changes = {} if run is None else run.changes
    _write_if_changed(ws / "params.yaml", seeded_params(root, seed, plan.seed, changes))
    _write_if_changed(ws / SUMMARY_PATH, empty_summary().to_json())
    for rel in plan.placeholders:
        # the project's copy once: the file replicate itself rewrites must not make the
        # replicated stages stale, and its content is no part of their results
        if not (ws / rel).is_file():
            _copy_file(root / rel, ws / rel)
    for rel, text in ({} if run is None else run.files).items():
        _write_if_changed(ws / rel, text)
    shared = shared_upstream(plan) if shared is None else shared
    for rel in plan.links:
        place_upstream(shared / rel, ws / rel)
    return ws


def stage_is_current(ws: Path, stage: str) -> bool:
    """True when the workspace's record of `stage` still describes it: same command, inputs,
    params and outputs (hashed now) as when it ran successfully."""
    from pedigree.lineage import capture, store
    from pedigree.lineage.hashing import Ignore

    try:
        record = store.read_current(ws, stage)
    except store.LineageError:
        return False
    if record is None or record.status != "succeeded":
        return False
    definition = capture.read_stage_def(ws, stage)
    if record.cmd != definition.cmd:
        return False
    if record.params != capture.read_params(ws, definition.params):
        return False
    ignore = Ignore(ws)
    if record.inputs != capture.hash_paths(ws, definition.deps, ignore):
        return False
    return record.outputs == capture.hash_paths(ws, definition.outs, ignore)


def _tail(path: Path) -> str:
    if not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def run_command(ws: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`argv` in `ws` as dvc.yaml runs a stage's command (`python` is this environment's), its
    output captured, stdin closed; it may fail (the caller reads the exit code)."""
    from pedigree.stagerun import resolve_argv

    env = {**env, "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")}
    return subprocess.run(
        resolve_argv(argv),
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def run_stage(ws: Path, stage: str, cmd: str, seed: int | str) -> None:
    """Run `stage` in the workspace as dvc.yaml runs it; StageFailedError naming the seed (or
    the run: "fold 2 seed 1")."""
    from pedigree.envvars import LINEAGE_SWITCH_ENV as LINEAGE_SWITCH
    from pedigree.envvars import OUTPUT_MODE_ENV as OUTPUT_MODE
    from pedigree.lineage.events import DISABLED_ENV
    from pedigree.stagerun import stage_log

    env = dict(os.environ)
    env[OUTPUT_MODE] = "log"  # the output goes to the stage's log in the workspace
    env.pop(LINEAGE_SWITCH, None)  # reuse is decided from the lineage records: always write them
    # the records stay in the workspace; a lineage server must not take a replicate for a run
    # of the project's pipeline (the events file in the workspace still gets them)
    env[DISABLED_ENV] = "true"
    done = run_command(ws, shlex.split(cmd), env)
    if done.returncode == 0:
        return
    log = stage_log(ws, stage)
    tail = _tail(log) or done.stdout.strip()
    who = seed if isinstance(seed, str) else f"seed {seed}"
    raise StageFailedError(
        stage,
        f"{who}: stage '{stage}' failed (exit {done.returncode}); its log: {log}",
        tail,
        f"fix the cause and run `pedigree replicate` again (the workspace is {ws})",
    )
