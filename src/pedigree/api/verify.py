"""`verify`: prove that re-running stages from their recorded inputs gives the same bytes.

Each stage is re-run on its own, in a scratch folder outside the project, from exactly the inputs
dvc.lock records for it (see `pedigree.verify.workspace`); its outputs are hashed and compared
with dvc.lock. The user's workspace, dvc.lock and DVC cache are only read. The model registry
(params.yaml `release.registry`, event files in git) is an append-only log: release is re-run
against it as the working tree holds it, and must find there the decision it recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pedigree.dvclock import read_lock_stages
from pedigree.errors import PedigreeError
from pedigree.project import open_project
from pedigree.verify.cache import cache_dir
from pedigree.verify.rerun import StageVerification, not_replayed, rerun
from pedigree.verify.workspace import Locked, LockedStage, locked_stage

Replay = Callable[[Path, Path, LockedStage, bool], StageVerification]


@dataclass(frozen=True)
class VerifyReport:
    """Every stage asked about: identical, differs, or could not be replayed (and why).

    `ok` when each reproduced every output byte for byte.
    """

    stages: tuple[StageVerification, ...]

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.identical for s in self.stages)

    @property
    def differing(self) -> tuple[str, ...]:
        """Stages that were re-run but did not reproduce their outputs."""
        return tuple(s.stage for s in self.stages if s.differs)

    @property
    def not_replayed(self) -> tuple[str, ...]:
        """Stages that could not be re-run at all."""
        return tuple(s.stage for s in self.stages if s.not_replayed is not None)


def _stage_order(root: Path) -> list[str]:
    """Stage names in dvc.yaml order (the compiler writes them in run order)."""
    return [str(s) for s in read_lock_stages(root / "dvc.yaml")]


def select_stages(root: Path, names: tuple[str, ...], all_stages: bool) -> list[str]:
    """The stages to verify, in run order; PedigreeError for unknown or unrun ones."""
    locked = read_lock_stages(root / "dvc.lock")
    declared = _stage_order(root)
    order = [s for s in declared if s in locked] + sorted(s for s in locked if s not in declared)
    if not locked:
        raise PedigreeError(
            "dvc.lock records no stage runs: there is nothing to verify",
            "run the pipeline first: `pedigree run`",
        )
    if all_stages and names:
        raise PedigreeError("give stage names or --all, not both", "e.g. `pedigree verify train`")
    if all_stages:
        return order
    if not names:
        raise PedigreeError(
            "name the stages to verify, or pass --all",
            "e.g. `pedigree verify train evaluate` or `pedigree verify --all`",
        )
    unknown = [n for n in names if n not in locked]
    if unknown:
        raise PedigreeError(
            f"no recorded run of stage {', '.join(repr(n) for n in unknown)} in dvc.lock",
            "stages with a recorded run: " + ", ".join(order),
        )
    return [s for s in order if s in names]


def _logs(root: Path) -> frozenset[str]:
    """The append-only logs among stage deps: the registry folder, relative to the project."""
    from pedigree.project import PARAMS_FILE
    from pedigree.registry.settings import registry_root

    try:
        folder = registry_root(root, root / PARAMS_FILE, None)
        return frozenset({folder.relative_to(root.resolve()).as_posix()})
    except (PedigreeError, ValueError):  # invalid release section, or outside the project
        return frozenset()


def verify(
    start: Path,
    names: tuple[str, ...] = (),
    all_stages: bool = False,
    keep: bool = False,
    progress: Callable[[str], None] | None = None,
    replay: Replay | None = None,
) -> VerifyReport:
    """Re-run the chosen stages from their recorded inputs and compare every output.

    Every chosen stage is reported: a stage that cannot be replayed (an input or a snapshot is
    gone) is reported as such, with why, and the others are still verified. `replay` re-runs
    one stage (default: `pedigree.verify.rerun.rerun`; a stand-in in tests).
    """
    root = open_project(start).root
    replay = replay or functools.partial(rerun, logs=_logs(root))
    from pedigree.spec.realpaths import refuse_escaping_compiled_paths  # yaml: only here

    refuse_escaping_compiled_paths(root)  # no stage path may lead out through a symlink
    entries = read_lock_stages(root / "dvc.lock")
    cache = cache_dir(root)
    results = []
    for name in select_stages(root, names, all_stages):
        if progress is not None:
            progress(name)
        outputs: tuple[Locked, ...] = ()
        try:
            locked = locked_stage(name, entries[name])
            outputs = locked.outs
            results.append(replay(root, cache, locked, keep))
        except PedigreeError as exc:
            # One stage's missing input must not hide what the other stages show.
            results.append(not_replayed(name, outputs, exc.message, exc.hint))
    return VerifyReport(tuple(results))
