"""`pedigree pull RUN`: bring a cluster run's results home without recomputing anything.

The cluster's steps pushed their outputs, their DVC run-cache entries and their lineage records
to the DVC remote (`pedigree.cluster.step`). Pulling is `dvc repro --pull` on the same git
revision, with the launcher told that no stage may run: every stage is restored from the
run-cache, dvc.lock is updated as if the stages had run here, and the records the cluster wrote
become `lineage/<stage>.json`. The files for git the steps wrote (release: the registry's event
files and the serving manifest) are put in place first, byte-identical (`pedigree.cluster.files`):
release's run-cache entry is keyed by the registry as its step left it. A stage whose results
are not in the remote fails the pull instead of quietly running on this machine, and the files
put in place are taken out again.

Stages marked `stateful` (state outside git and DVC, on the cluster's volume) cannot be restored
from a run-cache; they, and anything downstream of them, are reported as not pulled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pedigree.atomic import write_atomically
from pedigree.cluster.archives import RemoteArchives
from pedigree.cluster.files import RemoteFiles, StepFile, git_add_paths, placed
from pedigree.cluster.records import RemoteRecord, RemoteRecords, check_run_name
from pedigree.dvclock import read_lock_stages
from pedigree.envvars import RESTORE_ONLY_ENV as RESTORE_ONLY
from pedigree.errors import PedigreeError, StageFailedError
from pedigree.executors import dvc as dvc_executor
from pedigree.gitstate import git, git_state
from pedigree.graph import build_graph, is_within
from pedigree.lineage.record import LineageRecord
from pedigree.lineage.store import current_path, lock_outs, outputs_match, parse_record
from pedigree.spec.model import PipelineSpec
from pedigree.stagerun import RESTORE_ONLY_EXIT

ARCHIVES = "archives"  # <remote>/pedigree/archives/<run>/: a run that leaves folders
FOLDERS_UNDER = ".pedigree/"  # where a run's folders may go: pedigree's own scratch, never git


class PullError(PedigreeError):
    """A cluster run's results cannot be brought home as they are."""


@dataclass(frozen=True)
class PullReport:
    """What `pull` restored, and what it could not."""

    run: str
    commit: str
    stages: tuple[dvc_executor.StageResult, ...]
    records: int
    files: tuple[str, ...]  # files for git the run's steps wrote that changed here
    not_pulled: tuple[str, ...]
    warnings: tuple[str, ...]
    git_add: str | None
    folders: tuple[str, ...] = ()  # folders restored from the run's archives (under .pedigree/)


def pullable(spec: PipelineSpec) -> tuple[list[str], list[str]]:
    """(stages to restore, stages left out): stateful stages and what is downstream of them."""
    graph = build_graph(spec)
    left_out: set[str] = set()
    for name in graph.order:
        stage = spec.stage(name)
        if stage.stateful or left_out & set(graph.upstream.get(name, ())):
            left_out.add(name)
    restore = [n for n in graph.order if n not in left_out]
    return restore, [n for n in graph.order if n in left_out]


def step_files(
    root: Path, run: str, stages: list[str], remote: str | None
) -> list[tuple[StepFile, bytes]]:
    """The files for git the steps of `stages` in `run` wrote, with their checked bytes."""
    found: dict[str, tuple[StepFile, bytes]] = {}
    with RemoteFiles(root, remote) as files:
        for stage in stages:
            for file in files.listing(run, stage):
                other = found.get(file.path)
                if other is not None and other[0].sha256 != file.sha256:
                    raise PullError(
                        f"two steps of run '{run}' wrote different versions of {file.path}",
                        "a file for git belongs to one stage: change the stages so that one "
                        "writes it, and run the pipeline again",
                    )
                found[file.path] = (file, files.fetch(run, file))
    return [found[path] for path in sorted(found)]


def _changed_here(root: Path) -> Callable[[str], bool]:
    def changed(rel: str) -> bool:
        status = git(root, "status", "--porcelain", "--untracked-files=all", "--", rel)
        return status is None or bool(status)  # unknown counts as changed: never overwrite

    return changed


def run_commit(records: list[RemoteRecord], read: Callable[[RemoteRecord], str]) -> str:
    """The one git commit the run's records name; PullError when none or several."""
    commits = set()
    for record in records:
        parsed = parse_record(read(record), f"{record.run}/{record.stage}/{record.name}")
        if parsed.code.git_commit:
            commits.add(parsed.code.git_commit)
    if len(commits) != 1:
        found = ", ".join(sorted(commits)) or "none"
        raise PullError(
            f"the run's lineage records name {len(commits)} git commits ({found})",
            "a run checks out one revision; pull a run submitted with `pedigree submit`",
        )
    return commits.pop()


def run_records(
    records: list[RemoteRecord], read: Callable[[RemoteRecord], str]
) -> dict[str, LineageRecord]:
    """Each stage's newest succeeded record of the run (a retried step also left failed ones)."""
    newest: dict[str, LineageRecord] = {}
    for remote in records:
        record = parse_record(read(remote), f"{remote.run}/{remote.stage}/{remote.name}")
        kept = newest.get(record.stage)
        if record.status == "succeeded" and (kept is None or record.ended > kept.ended):
            newest[record.stage] = record
    return newest


def adopt_run_records(
    root: Path, results: tuple[dvc_executor.StageResult, ...], own: dict[str, LineageRecord]
) -> None:
    """Make the pulled run's own record current for every stage it restored whose outputs the
    record describes. An identical earlier run (a local one, whose record was already current)
    made the same bytes, but it is not the run pulled: lineage must name what ran on the
    cluster, its image digest included."""
    entries = read_lock_stages(root / "dvc.lock")
    for result in results:
        record = own.get(result.stage)
        if result.outcome != "restored" or record is None:
            continue
        if outputs_match(record, lock_outs(entries.get(result.stage) or {})):
            write_atomically(current_path(root, result.stage), record.to_json())


def _at_commit(root: Path, run: str, commit: str) -> str:
    """`commit`, when the checkout at `root` is at it; PullError saying how to get there."""
    head, _ = git_state(root)
    if head != commit:
        raise PullError(
            f"run '{run}' ran git commit {commit[:12]}, this checkout is at "
            f"{(head or 'no commit')[:12]}: its results only match that revision",
            f"`git fetch && git checkout {commit}`, then pull again",
        )
    return commit


@contextmanager
def _restore_only() -> Iterator[None]:
    saved = os.environ.get(RESTORE_ONLY)
    os.environ[RESTORE_ONLY] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(RESTORE_ONLY, None)
        else:
            os.environ[RESTORE_ONLY] = saved


@contextmanager
def _forgetting(lock: Path, stages: list[str]) -> Iterator[None]:
    """dvc.lock without `stages`' entries while DVC restores them, the original on failure.

    With its entry, DVC would look for the outputs dvc.lock names (this checkout's last local
    run); without it, DVC finds the stage's run-cache entry by its inputs, command and params,
    which is the cluster run's. Other entries (a stateful stage's) are kept as they are.
    """
    original = lock.read_text(encoding="utf-8") if lock.is_file() else None
    if original is not None:
        data = yaml.safe_load(original) or {}
        entries = data.get("stages") or {}
        data["stages"] = {k: v for k, v in entries.items() if k not in stages}
        write_atomically(lock, yaml.safe_dump(data, sort_keys=False))
    try:
        yield
    except BaseException:
        if original is not None:
            write_atomically(lock, original)
        raise


def pull(
    root: Path,
    spec: PipelineSpec,
    run: str,
    observer: dvc_executor.RunObserver,
    adopt: Callable[[Path, tuple[dvc_executor.StageResult, ...]], list[str]],
    remote: str | None = None,
) -> PullReport:
    """Restore run `run`'s results from the DVC remote into the project at `root`.

    `adopt` makes the fetched lineage records current for the restored stages (the same step
    `pedigree run` takes after a run-cache restore).
    """
    check_run_name(run)
    with RemoteArchives(root, ARCHIVES, remote) as archives:
        # a wrong endpoint, credential or bucket fails here (exit 4), before anything is written
        archives.check_reachable()
        manifest = archives.read_manifest(run)
        if manifest is not None:
            return _pull_archives(root, run, manifest, archives, remote)
    with RemoteRecords(root, remote) as records:
        mine = records.listing(run)
        if not mine:
            raise PullError(
                f"no results of run '{run}' in the DVC remote ({records.url})",
                "check the name with `pedigree status RUN`, and that this project's default DVC "
                "remote is the one the cluster pushes to (`dvc remote list`)",
            )

        texts: dict[RemoteRecord, str] = {}

        def read(record: RemoteRecord) -> str:
            if record not in texts:
                path = records.fs.join(records.base, record.run, record.stage, record.name)
                texts[record] = records.fs.read_text(path, encoding="utf-8")
            return texts[record]

        commit = _at_commit(root, run, run_commit(mine, read))
        own = run_records(mine, read)
        # Stages the cluster restored from an earlier run's cache carry that run's record.
        fetched = records.fetch(records.listing())
    restore, left_out = pullable(spec)
    wanted = step_files(root, run, restore, remote)
    try:
        with (
            placed(root, wanted, _changed_here(root)) as written,
            _restore_only(),
            _forgetting(root / "dvc.lock", restore),
        ):
            repro = dvc_executor.reproduce(
                root, restore, force=False, dry=False, observer=observer, pull=True, remote=remote
            )
    except StageFailedError as exc:
        if f"(exit code {RESTORE_ONLY_EXIT})" in exc.message:
            raise PullError(
                f"the results of stage '{exc.stage}' for commit {commit[:12]} are not in the "
                "DVC remote: pull restores, it never recomputes",
                f"check that run '{run}' succeeded (`pedigree status {run}`), or run the stage "
                f"here with `pedigree run --stage {exc.stage}`",
            ) from None
        raise
    warnings = list(repro.warnings) + adopt(root, repro.stages)
    adopt_run_records(root, repro.stages, own)
    git_add = repro.git_add or ("git add dvc.lock lineage" if repro.stages else None)
    if written:
        git_add = " ".join([git_add or "git add", *git_add_paths(written)])
    return PullReport(
        run,
        commit,
        repro.stages,
        len(fetched),
        tuple(written),
        tuple(left_out),
        tuple(warnings),
        git_add,
    )


def _manifest_field(manifest: dict[str, Any], key: str, kind: type, run: str) -> Any:
    value = manifest.get(key)
    if not isinstance(value, kind):
        raise PullError(
            f"the manifest of run '{run}' has no valid '{key}'",
            "the run's last step did not write it as pedigree does: run it again",
        )
    return value


def _pull_archives(
    root: Path, run: str, manifest: dict[str, Any], archives: RemoteArchives, remote: str | None
) -> PullReport:
    """A run whose steps left folders rather than DVC outputs (`pedigree replicate --folds` on
    a cluster): put its files for git in place, then its folders, each replaced as a whole."""
    commit = _at_commit(root, run, _manifest_field(manifest, "commit", str, run))
    step = _manifest_field(manifest, "step", str, run)
    folders = _manifest_field(manifest, "folders", dict, run)
    for name, rel in folders.items():
        if not (
            isinstance(rel, str)
            and rel.startswith(FOLDERS_UNDER)
            and ".." not in Path(rel).parts
            and is_within(rel, FOLDERS_UNDER.rstrip("/"))
        ):
            raise PullError(
                f"the manifest of run '{run}' puts '{name}' at {rel!r}, outside {FOLDERS_UNDER}",
                "a run's folders go to pedigree's scratch only: the manifest was not written "
                "by pedigree",
            )
    wanted = step_files(root, run, [step], remote)
    with placed(root, wanted, _changed_here(root)) as written:
        for name, rel in sorted(folders.items()):
            archives.get(run, name, root / rel)
    git_add = " ".join(["git add", *git_add_paths(written)]) if written else None
    return PullReport(
        run, commit, (), 0, tuple(written), (), (), git_add, tuple(sorted(folders.values()))
    )
