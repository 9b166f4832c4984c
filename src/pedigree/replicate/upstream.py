"""What the replicates reuse, checked before anything runs: the plan of a replicate.

The replicated stages (`spec.replicate.stages`; pets: train, calibrate, evaluate) read the
outputs of upstream stages (pets: data/prepared from transform, models/tune from tune). Those
are reused as they are, so they must be current: every upstream stage up to date (`pedigree
status`), and every output the replicated stages read hashed now equal to what dvc.lock records
(`pedigree.lineage.hashing`, DVC's own hashes). Otherwise the replicates would vary more than
the seed, and the user is told to run `pedigree run` first. Nothing here writes anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.errors import PedigreeError, StaleError
from pedigree.graph import fold_stages
from pedigree.replicate.summary import SUMMARY_PATH, Replicated

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec
    from pedigree.spec.replication import Folds

DECLARE_HINT = (
    "declare what replicate re-runs in the spec, under spec: "
    "`replicate: {stages: [STAGE, ...], seed: SECTION.KEY}` (the stages re-run once per seed, "
    "and the params.yaml key holding the seed they read)"
)
RUN_FIRST = "run `pedigree run` first, then `pedigree replicate` again"


class ReplicateError(PedigreeError):
    """A replicate cannot start: bad seeds, a pipeline without the stages it needs, ..."""


@dataclass(frozen=True)
class Plan:
    """Everything a seed's scratch workspace needs, worked out once for all seeds."""

    root: Path
    stages: tuple[str, ...]  # the replicated stages, in run order
    commands: dict[str, str]  # stage -> its dvc.yaml cmd (the launcher line)
    links: tuple[str, ...]  # upstream outputs and inputs, linked read-only into the scratch
    code: tuple[str, ...]  # code folders and environment locks, copied into the scratch
    metrics_path: str  # the last stage's metrics file (reports/metrics.json)
    replicated: Replicated
    seed: str  # the params key each seed sets, `section.key` (determinism.seed)
    # deps written by replicate itself (the label audit's outs): each workspace gets a copy of
    # the project's once, so a new label audit never makes the replicated stages stale
    placeholders: tuple[str, ...] = ()
    folds: FoldSetup | None = None  # with `--folds`: what the fold runs need to know


@dataclass(frozen=True)
class FoldSetup:
    """What `--folds` needs beyond a seed plan: the spec's folds section and the splits."""

    spec: Folds
    splits_stage: str
    group_key: str
    train: str  # the train split's name (the inner splits' remainder)
    provenance: str  # the project's provenance file (relative): which sample is in which split
    test_split: str  # the fixed test split: left out of every fold


def split_seed(seed: str) -> tuple[str, str]:
    """`determinism.seed` -> ("determinism", "seed"): the section and the key inside it."""
    section, _, key = seed.partition(".")
    return section, key


def without_seed(params: dict[str, Any], seed: str) -> dict[str, Any]:
    """The params sections with the seed key left out (the one thing replicates vary)."""
    section_name, key = split_seed(seed)
    result = dict(params)
    section = result.get(section_name)
    if isinstance(section, dict):
        result[section_name] = {k: v for k, v in section.items() if k != key}
    result.pop(seed, None)
    return result


def _stale_upstream(root: Path, upstream: tuple[str, ...]) -> None:
    from pedigree.spec.load import load
    from pedigree.staleness import project_status

    stale = [s for s in project_status(load(root)) if s.stage in upstream and s.stale]
    if stale:
        reasons = "; ".join(
            f"{s.stage}: {', '.join(r.render() for r in s.reasons[:3])}" for s in stale
        )
        raise StaleError(
            f"the replicates would reuse stale upstream outputs ({reasons})", RUN_FIRST
        )


def _current_hash(root: Path, rel: str) -> str | None:
    from pedigree.lineage.hashing import Ignore, content_hash

    found = content_hash(root / rel, Ignore(root))
    return None if found is None else found.md5


def _check_recorded(root: Path, producer: str, out: str, lock: dict[str, Any]) -> str:
    """The hash of upstream output `out`, which must equal dvc.lock's record of it."""
    from pedigree.lineage.store import lock_outs

    entry = lock.get(producer)
    recorded = lock_outs(entry).get(out) if isinstance(entry, dict) else None
    now = _current_hash(root, out)
    if recorded is None or now is None or recorded != now:
        state = (
            "is missing"
            if now is None
            else "has no record in dvc.lock"
            if recorded is None
            else f"differs from dvc.lock ({now[:12]} now, {recorded[:12]} recorded)"
        )
        raise StaleError(f"{out} (output of '{producer}') {state}", RUN_FIRST)
    return now


FOLDS_HINT = (
    "declare the folds under spec.replicate: `folds: {assignment: SECTION.KEY, heldOut: SPLIT, "
    "inner: {SPLIT: SHARE}}` (see docs/spec.md), or replicate over seeds only"
)


def stages_to_restore(spec: PipelineSpec) -> tuple[str, ...]:
    """What a fresh checkout (a cluster's pod) must bring up to date before fold runs, in run
    order: every stage upstream of a fold stage, and the splits stage, whose records the folds
    are dealt from."""
    from pedigree.graph import build_graph

    ours = fold_stages(spec)
    if not ours:
        return ()
    graph = build_graph(spec)
    return tuple(
        s
        for s in graph.order
        if s == ours[0] or (s not in ours and any(s in graph.upstream_of(r) for r in ours))
    )


def make_plan(root: Path, folds: bool = False) -> Plan:
    """Check the project can be replicated as it stands, and say how: the spec's
    replicate.stages per seed, or with `folds` every stage from the splits stage to the
    metrics stage per fold and seed."""
    from pedigree.compile.dvc import implicit_deps
    from pedigree.compile.header import SHARED_CODE
    from pedigree.compile.render import dvc_yaml_is_current
    from pedigree.dvclock import read_lock_stages
    from pedigree.graph import build_graph, is_within, producer_of
    from pedigree.lineage.capture import read_params, read_stage_def
    from pedigree.spec.load import load

    loaded = load(root)
    spec = loaded.spec
    declared = spec.spec.replicate
    if declared is None:
        raise ReplicateError(
            f"{loaded.project.spec_path} does not say which stages replicate re-runs per seed, "
            "nor which param is the seed",
            DECLARE_HINT,
        )
    # `pedigree.spec.checks` has made sure every declared stage exists.
    chosen = set(declared.stages)
    if not dvc_yaml_is_current(loaded):
        raise StaleError(f"dvc.yaml is stale: {loaded.project.spec_path} changed", RUN_FIRST)
    graph = build_graph(spec)
    setup = None
    if folds:
        if declared.folds is None or spec.spec.data is None:
            raise ReplicateError(
                f"{loaded.project.spec_path} declares no spec.replicate.folds", FOLDS_HINT
            )
        splits = spec.spec.data.splits
        chosen = set(fold_stages(spec))
        setup = FoldSetup(
            declared.folds,
            splits.stage,
            splits.group_key,
            splits.train,
            f"{splits.path}/{splits.files.provenance}",
            declared.folds.held_out,
        )
    ours = tuple(s for s in graph.order if s in chosen)
    upstream = tuple(
        s for s in graph.order if s not in ours and any(s in graph.upstream_of(r) for r in ours)
    )
    # with folds the splits stage runs again, but the folds are planned from its current
    # records: it must be up to date too (one status computation for all of them)
    _stale_upstream(root, upstream + ((setup.splits_stage,) if setup is not None else ()))
    lock = read_lock_stages(root / "dvc.lock")
    mine = tuple(spec.stage(name) for name in ours)
    links: dict[str, str | None] = {}  # linked path -> the stage producing it (None: an input)
    inputs: dict[str, str] = {}
    labels = declared.folds.labels if declared.folds is not None else None
    written = set(labels.outs) if labels is not None else set()
    placeholders = sorted({dep for stage in mine for dep in stage.deps if dep in written})
    for stage in mine:
        for dep in stage.deps:
            if dep == SUMMARY_PATH or dep in written or producer_of(dep, mine) is not None:
                continue  # written fresh in the scratch / by replicate / by a replicated stage
            producer = producer_of(dep, spec.stages)
            if producer is None:
                links[dep] = None
            else:
                out = next(o for o in producer.all_outputs if is_within(dep, o))
                links[out] = producer.name
            inputs[dep] = ""
    upstream_hashes = {}
    for path, maker in sorted(links.items()):
        if maker is None:
            found = _current_hash(root, path)
            if found is None:
                raise ReplicateError(f"{path} (a pipeline input) is missing", RUN_FIRST)
            upstream_hashes[path] = found
        else:
            upstream_hashes[path] = _check_recorded(root, maker, path, lock)
    for dep in inputs:
        inputs[dep] = _current_hash(root, dep) or ""
    if setup is not None:
        # the folds are planned from the project's split records: they must be as recorded
        splitter = spec.stage(setup.splits_stage)
        out = next(o for o in splitter.all_outputs if is_within(setup.provenance, o))
        _check_recorded(root, setup.splits_stage, out, lock)
    shared = (root / SHARED_CODE).is_dir()
    code_paths = sorted({p for stage in mine for p in implicit_deps(stage, shared)})
    code = {p: _current_hash(root, p) or "" for p in code_paths}
    sections = tuple(sorted({p for stage in mine for p in stage.params}))
    params = read_params(root, sections)
    section, key = split_seed(declared.seed)
    det = params.get(section)
    if not isinstance(det, dict) or key not in det:
        raise ReplicateError(
            f"params.yaml has no {declared.seed}: replicate varies that seed "
            f"({loaded.project.spec_path} spec.replicate.seed)",
            f"add `{section}: {{{key}: 1234}}` to params.yaml (the replicated stages read it), "
            "or name the seed the stages read in spec.replicate.seed",
        )
    last = mine[-1]
    if not last.metrics:
        raise ReplicateError(
            f"stage '{last.name}' declares no metrics file to summarise",
            f"add `metrics: [reports/metrics.json]` to '{last.name}' in the spec",
        )
    commands = {}
    for name in ours:
        cmd = read_stage_def(root, name).cmd
        if not shlex.split(cmd):
            raise StaleError(f"dvc.yaml has no command for stage '{name}'", RUN_FIRST)
        commands[name] = cmd
    replicated = Replicated(
        ours, upstream_hashes, inputs, without_seed(params, declared.seed), code, declared.seed
    )
    return Plan(
        root,
        ours,
        commands,
        tuple(sorted(links)),
        tuple(code_paths),
        last.metrics[0],
        replicated,
        declared.seed,
        tuple(placeholders),
        setup,
    )
