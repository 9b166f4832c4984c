"""Every use of DVC that is not its public API, in one place.

DVC's public Python API (`dvc.api`, `dvc.repo.Repo` and its methods `reproduce`, `status`,
`checkout`) runs a pipeline but does not say what happened to each stage while it runs. `pedigree
run` needs that (progress, timings, which stage failed, which was restored from the run-cache,
keeping a failed stage's previous outputs), and running `dvc repro` in a subprocess to parse its
output would cost every no-op run a second interpreter start. So the adapter
(`pedigree.executors.dvc`) relies on the few internals below, and nothing else does:

- the `repro_fn` hook of `Repo.reproduce` (DVC's experiments use it): called once per stage of
  the plan as `repro_fn(stage, upstream=[stages], force=bool, **kwargs)`, and
  `dvc.repo.reproduce._reproduce_stage`, what DVC calls there by default;
- what a stage object holds: `stage.addressing` (its name) and its `outs` (`def_path`,
  `use_cache`, `persist`, `is_in_repo`);
- two INFO lines of DVC's log: a stage restored from the run-cache, and the `git add` hint;
- the message of `StageCmdFailedError`, the only place DVC keeps a failed command's exit status.

tests/unit/executors/test_dvc_private_contract.py checks each of them against the installed DVC
and names its version when one changed: update this module, then the pin in pyproject.toml.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from pedigree.executors.restore import StageOut

# dvc/stage/cache.py logs this (INFO, one argument: the stage's name) when it restores a stage
# from the run-cache instead of running its command.
RUN_CACHE_RESTORE_LOG = "Stage '%s' is cached - skipping run, checking out outputs"
# dvc/repo/scm_context.py logs "\nTo track the changes with git, run:\n\n%s" (the command).
GIT_ADD_LOG_MARK = "To track the changes with git"
# dvc/stage/exceptions.py: StageCmdFailedError("failed to run: CMD, exited with STATUS").
EXIT_STATUS_MARK = "exited with "

# What a `repro_fn` hook is called with: the stage, then upstream=, force= and the rest of the
# reproduce options; it returns the stage when it changed, else None.
ReproHook = Callable[..., Any]


def reproduce(repo: Any, targets: list[str] | None, dry: bool, pull: bool, hook: ReproHook) -> None:
    """`repo.reproduce` (dvc repro) with `hook` called for each stage of the plan in order."""
    repo.reproduce(targets=targets, force=False, dry=dry, repro_fn=hook, pull=pull)


def reproduce_stage(stage: Any, **kwargs: Any) -> Any:
    """What DVC does with one stage of the plan (run it, or restore it from the run-cache, or
    skip it when current); the stage when it changed, else None."""
    from dvc.repo.reproduce import _reproduce_stage

    return _reproduce_stage(stage, **kwargs)


def stage_name(stage: Any) -> str:
    """The stage's name as dvc.yaml and dvc.lock spell it."""
    return str(stage.addressing)


def upstream_names(hook_kwargs: dict[str, Any]) -> list[str]:
    """The names of the stages the hook's stage depends on directly."""
    return [stage_name(s) for s in hook_kwargs.get("upstream") or []]


def stage_outs(stage: Any) -> tuple[StageOut, ...]:
    """The outputs of a DVC stage object, as plain data."""
    return tuple(
        StageOut(str(out.def_path).replace(os.sep, "/"), bool(out.use_cache), bool(out.persist))
        for out in stage.outs
        if out.is_in_repo
    )


def restored_from_run_cache(record: logging.LogRecord) -> str | None:
    """The stage a DVC log record says was restored from the run-cache, else None."""
    if record.msg != RUN_CACHE_RESTORE_LOG:
        return None
    args: Sequence[object] = record.args if isinstance(record.args, tuple) else ()
    return str(args[0]) if args else ""


def git_add_hint(record: logging.LogRecord) -> str | None:
    """The `git add ...` command a DVC log record suggests, else None."""
    if not (isinstance(record.msg, str) and GIT_ADD_LOG_MARK in record.msg):
        return None
    args: Sequence[object] = record.args if isinstance(record.args, tuple) else ()
    return str(args[0]).strip() if args else None


def exit_status(exc: BaseException | None) -> int | None:
    """The exit status of the stage command behind `exc` (or its causes), when DVC gave one."""
    from dvc.stage.exceptions import StageCmdFailedError

    while exc is not None:
        if isinstance(exc, StageCmdFailedError):
            text = str(exc)
            if EXIT_STATUS_MARK not in text:
                return None
            try:
                return int(text.rsplit(EXIT_STATUS_MARK, 1)[1].strip())
            except ValueError:
                return None
        exc = exc.__cause__
    return None


# --- fetching one object by its hash (`pedigree models get`) -------------------------------
# DVC's public API fetches files by their path at a git revision (`dvc.api.open`); the registry
# knows a model by its md5 alone, so it reads DVC's object stores directly: the cache
# (`repo.cache.local`, and `repo.cache.legacy` for DVC 2 hashes) by `oid_to_path`, and a remote
# through `repo.cloud.pull` with a `HashInfo`, which fills the cache the same way `dvc pull` does.


def cached_object(root: str, md5: str) -> str | None:
    """The path of the object `md5` in the DVC cache of the project at `root`, else None."""
    from dvc.repo import Repo

    with Repo(root) as repo:
        for odb in (repo.cache.local, repo.cache.legacy):
            if odb is None:
                continue
            path = odb.oid_to_path(md5)
            if odb.fs.exists(path):
                return str(path)
    return None


def pull_object(root: str, md5: str, remote: str | None = None) -> str | None:
    """Fetch the object `md5` from the DVC remote (`remote`, else the default) into the cache;
    its path there, or None when the remote does not have it (DVC only logs a warning then).
    Raises DVC's own errors (no remote configured, remote unreachable)."""
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    with Repo(root) as repo:
        repo.cloud.pull([HashInfo("md5", md5)], remote=remote)
    return cached_object(root, md5)


# --- a cluster step's `cache: false` outputs -----------------------------------------------
# `dvc push --run-cache STAGE` sends the run-cache entry and the stage's cached outputs, but not
# the objects of its `cache: false` outputs (metrics, plots): DVC 3 pushes by the workspace
# index, where they are not cached, although the run-cache entry needs them (saving it commits
# them to the local cache). Without them no other checkout restores the stage from the
# run-cache. So they are pushed by hash, from the stage's lock entry, with `repo.cloud.push`.


def push_uncached_outputs(root: str, stage: str, remote: str | None = None) -> int:
    """Push the cache objects of `stage`'s `cache: false` outputs to the DVC remote; how many."""
    from dvc.repo import Repo

    with Repo(root) as repo:
        objs = [
            out.hash_info
            for found in repo.stage.collect(stage)
            for out in found.outs
            if not out.use_cache and out.hash_info
        ]
        if objs:
            repo.cloud.push(objs, remote=remote)
    return len(objs)
