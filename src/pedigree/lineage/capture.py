"""Capturing a lineage record around one stage run (used by `pedigree.launch`).

`begin` reads the stage's definition from dvc.yaml (deps, outs, params, cmd), hashes its inputs
the way DVC does and notes the code and environment; `finish` hashes the outputs and returns the
record. Nothing here writes inside a stage's outputs.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import posixpath
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pedigree import __version__
from pedigree.envvars import DIGEST_ENV, IMAGE_ENV
from pedigree.gitstate import git_state
from pedigree.lineage.hashing import Ignore, content_hash
from pedigree.lineage.record import (
    Artifact,
    Code,
    Container,
    Environment,
    Kind,
    LineageRecord,
    StateSnapshot,
    Status,
)
from pedigree.project import PARAMS_FILE

# pedigree's own package, which stages import (stagekit): part of the code that ran.
SHARED_RUNTIME = ("src/pedigree",)
GENERATED_FROM = "# generated from "
# Versions worth reading at a glance are those of the packages the stage's own requirements.in
# names (beside its lock); the lock's hash pins the whole set.
REQUIREMENTS_IN = "requirements.in"
THREAD_ENV = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
DETERMINISM_ENV = ("PYTHONHASHSEED", "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS")


def now() -> str:
    """The current UTC time, ISO 8601 with seconds precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StageDef:
    """One stage as dvc.yaml declares it."""

    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...]
    pipeline: str | None


def recorded_path(path: str) -> str:
    """`path` exactly as dvc.yaml (and so dvc.lock) writes it: the record's inputs and outputs
    must name what dvc.lock names. Never resolved (a symlink's target is not the path DVC
    tracks); an absolute or escaping path is refused (ValueError), never recorded."""
    normal = posixpath.normpath(path)
    if (
        not path
        or path.startswith("/")
        or re.match(r"^[A-Za-z]:", path)
        or normal == ".."
        or normal.startswith("../")
    ):
        raise ValueError(
            f"dvc.yaml names '{path}', which is not a path inside the project; "
            "regenerate dvc.yaml with `pedigree compile --target dvc`"
        )
    return path


def _paths(items: list[Any] | None) -> tuple[str, ...]:
    paths: list[str] = []
    for item in items or []:
        if isinstance(item, str):
            paths.append(recorded_path(item))
        elif isinstance(item, dict):
            paths.extend(recorded_path(str(k)) for k in item)
    return tuple(paths)


def read_stage_def(root: Path, stage: str) -> StageDef:
    """The stage's deps, outs (metrics and plots included), params and cmd from dvc.yaml."""
    path = root / "dvc.yaml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    pipeline = None
    first = text.splitlines()[0] if text else ""
    if first.startswith(GENERATED_FROM):
        pipeline = first[len(GENERATED_FROM) :].split(" ", 1)[0]
    data = yaml.safe_load(text) if text else None
    stages = data.get("stages") if isinstance(data, dict) else None
    entry = stages.get(stage) if isinstance(stages, dict) else None
    if not isinstance(entry, dict):
        return StageDef("", (), (), (), pipeline)
    params: list[str] = []
    for item in entry.get("params") or []:
        if isinstance(item, str):
            params.append(item)
        elif isinstance(item, dict):  # {file: [keys]}: only params.yaml keys are recorded
            for keys in item.values():
                params.extend(str(k) for k in keys or [])
    outs = _paths(entry.get("outs")) + _paths(entry.get("metrics")) + _paths(entry.get("plots"))
    cmd = entry.get("cmd", "")
    return StageDef(
        " ".join(cmd) if isinstance(cmd, list) else str(cmd),
        _paths(entry.get("deps")),
        outs,
        tuple(params),
        pipeline,
    )


def _lookup(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def read_params(root: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of the stage's params.yaml keys (None for a missing key)."""
    path = root / PARAMS_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {key: _lookup(data, key) for key in keys}


def find_seeds(params: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Every param whose key names a seed (key path -> value), plus PYTHONHASHSEED."""
    seeds: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{prefix}.{key}" if prefix else str(key))
        elif "seed" in prefix.rsplit(".", 1)[-1].lower():
            seeds[prefix] = value

    walk(params, "")
    seeds["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED")
    return seeds


def kind_of(path: str) -> Kind:
    """Code folders, environment locks and data are told apart by where they live."""
    if path.startswith("stages/") or path == "stages":
        return "code"
    if path.endswith("requirements.lock"):
        return "environment"
    return "data"


def hash_paths(root: Path, paths: tuple[str, ...], ignore: Ignore) -> list[Artifact]:
    """DVC hashes of the paths that exist (a missing output is simply not recorded)."""
    artifacts = []
    for rel in paths:
        found = content_hash(root / rel, ignore)
        if found is not None:
            artifacts.append(
                Artifact(
                    path=rel, md5=found.md5, size=found.size, nfiles=found.nfiles, kind=kind_of(rel)
                )
            )
    return artifacts


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def key_packages(root: Path, lock_rel: str | None) -> dict[str, str]:
    """Installed versions of the packages named by the requirements.in beside the stage's
    lock (following `-r` includes); {} when the stage has no lock or no requirements.in."""
    from pedigree.locks import requirement_names

    if lock_rel is None:
        return {}
    source = root / posixpath.dirname(lock_rel) / REQUIREMENTS_IN
    names = requirement_names(source)
    return {name: v for name in sorted(names) if (v := _version(name)) is not None}


def environment(root: Path, deps: tuple[str, ...], env: Mapping[str, str]) -> Environment:
    """The environment the stage runs in: this interpreter and `env`, the stage's variables.

    Threads and determinism come from the variables alone (THREAD_ENV, DETERMINISM_ENV): how a
    stage's params set them (pets: a `determinism` section) is the stage's business, and the
    params are in the record anyway.
    """
    import hashlib

    lock_rel = next((d for d in deps if d.endswith("requirements.lock")), None)
    lock: dict[str, str] = {}
    if lock_rel and (root / lock_rel).is_file():
        lock = {
            "path": lock_rel,
            "sha256": hashlib.sha256((root / lock_rel).read_bytes()).hexdigest(),
        }
    packages = key_packages(root, lock_rel)
    threads: dict[str, Any] = {k: env.get(k) for k in THREAD_ENV}
    determinism: dict[str, Any] = {k: env.get(k) for k in DETERMINISM_ENV}
    image = env.get(IMAGE_ENV)
    return Environment(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        lock=lock,
        packages=packages,
        threads=threads,
        determinism=determinism,
        container=Container(image=image, digest=env.get(DIGEST_ENV)) if image else None,
    )


@dataclass(frozen=True)
class Run:
    """A stage run in progress: what was known before it started."""

    root: Path
    stage: str
    run_id: str
    started: str
    argv: tuple[str, ...]
    definition: StageDef
    params: dict[str, Any]
    inputs: tuple[Artifact, ...]
    code: Code
    environment: Environment
    env: Mapping[str, str]
    started_ns: int = 0  # time.time_ns() when the inputs were hashed

    def record(
        self, ended: str, exit_code: int, status: Status, outputs: list[Artifact]
    ) -> LineageRecord:
        """The record of this run as it stands."""
        return LineageRecord(
            stage=self.stage,
            run_id=self.run_id,
            pipeline=self.definition.pipeline,
            started=self.started,
            ended=ended,
            argv=list(self.argv),
            cmd=self.definition.cmd,
            exit_code=exit_code,
            status=status,
            params=self.params,
            inputs=list(self.inputs),
            outputs=outputs,
            code=self.code,
            environment=self.environment,
            seeds=find_seeds(self.params, self.env),
        )


def begin(root: Path, stage: str, argv: list[str], env: Mapping[str, str]) -> Run:
    """Note everything known before `stage` starts; `env` is the stage's environment."""
    started = now()
    started_ns = time.time_ns()
    definition = read_stage_def(root, stage)
    ignore = Ignore(root)
    inputs = hash_paths(root, definition.deps, ignore)
    params = read_params(root, definition.params)
    # Dirty means this stage's own code or lock is uncommitted (a run rewrites dvc.lock and
    # metrics files as it goes; those are not the code that ran).
    code_paths = [a.path for a in inputs if a.kind != "data"]
    code_paths += [p for p in SHARED_RUNTIME if (root / p).exists()]
    commit, dirty = git_state(root, code_paths)
    code = Code(
        git_commit=commit,
        git_dirty=dirty,
        folders={a.path: a.md5 for a in inputs if a.kind == "code"},
        pedigree_version=__version__,
    )
    return Run(
        root=root,
        stage=stage,
        run_id=str(uuid.uuid4()),
        started=started,
        argv=tuple(argv),
        definition=definition,
        params=params,
        inputs=tuple(inputs),
        code=code,
        environment=environment(root, definition.deps, env),
        env={k: env[k] for k in (*THREAD_ENV, *DETERMINISM_ENV) if k in env},
        started_ns=started_ns,
    )


SLACK_NS = 2_000_000_000


def _changed_since(path: Path, since_ns: int) -> bool:
    """Whether anything at `path` (a file, or any entry below a folder) changed after `since_ns`."""
    try:
        if path.stat().st_mtime_ns >= since_ns:
            return True
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                for name in (*dirs, *files):
                    if os.lstat(os.path.join(folder, name)).st_mtime_ns >= since_ns:
                        return True
    except OSError:
        return True  # gone or unreadable: hash it again and record what is there
    return False


def _inputs_after(run: Run) -> tuple[Artifact, ...]:
    """The inputs as they are after the run. A stage may add to an input it reads (release
    appends its decision to the registry's log); DVC records deps after the command, so the
    record does too, or it would disagree with dvc.lock. Only what changed is hashed again."""
    # file times come from a coarse kernel clock: a write just after the start can carry a
    # time a little before it, so anything touched from shortly before the start counts
    since = run.started_ns - SLACK_NS
    touched = tuple(
        a.path for a in run.inputs if a.kind == "data" and _changed_since(run.root / a.path, since)
    )
    if not touched:
        return run.inputs
    again = {a.path: a for a in hash_paths(run.root, touched, Ignore(run.root))}
    return tuple(again.get(a.path, a) for a in run.inputs)


def read_state(state_file: Path | None) -> dict[str, StateSnapshot]:
    """The state snapshots the stage noted (stagekit.note_state); the note is then removed."""
    if state_file is None or not state_file.is_file():
        return {}
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
    finally:
        state_file.unlink(missing_ok=True)
    return {str(k): StateSnapshot.model_validate(v) for k, v in data.items()}


def finish(run: Run, exit_code: int, state_file: Path | None = None) -> LineageRecord:
    """The finished run's record, with its outputs hashed now."""
    status: Status = (
        "succeeded" if exit_code == 0 else ("interrupted" if exit_code == 130 else "failed")
    )
    outputs = hash_paths(run.root, run.definition.outs, Ignore(run.root)) if exit_code == 0 else []
    if exit_code == 0 and run.started_ns:
        run = replace(run, inputs=_inputs_after(run))
    record = run.record(now(), exit_code, status, outputs)
    state = read_state(state_file)
    return record.model_copy(update={"state": state}) if state else record
