"""One step of `pedigree replicate --folds` on a cluster: `python -m pedigree.api.foldstep`.

The replicate WorkflowTemplate (`pedigree.compile.argo_replicate`) runs this in every pod of the
replicate image, in /workspace, the project's checkout at the run's revision:

- `plan --folds K [--seeds S]`: restores the upstream stages and the splits stage from the DVC
  remote (as `pedigree.cluster.step` restores a stage's inputs), deals the folds and prints the
  runs as one JSON list on stdout, which Argo fans out (`withParam`). Everything else it and
  DVC print goes to stderr, so stdout is that list alone.
- `run --folds K [--seeds S] --fold F --seed N --plan SHA256`: the same restore, then runs that
  one fold run in its workspace (`pedigree.api.replicate.replicate_one`) and copies the
  workspace to the remote (`pedigree.cluster.archives`), without the upstream outputs every
  checkout has.
- `gather --folds K [--seeds S]`: the same restore, brings every run's workspace back, then
  `replicate` in reuse-only mode: every run must be current here (nothing is re-run), the
  summary is written and the label audit runs. replicates/summary.json and the label audit's
  files go home as the `replicate` step's files for git (`pedigree.cluster.files`), the label
  audit's workspace as one more archive, and the manifest last: `pedigree pull RUN` reads it.

Exit status: 0 done, 1 failed, 2 bad arguments or environment, 4 the remote cannot be reached
or refuses the credentials (the message says which).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from pedigree.api.replicate import FoldRunPlan, plan_fold_runs, replicate, replicate_one
from pedigree.cluster.archives import RemoteArchives
from pedigree.cluster.step import (
    REMOTE_NAME,
    StepConfig,
    check_remote,
    config_from_env,
    pod_image,
    point_at_remote,
    step_environment,
    step_image,
    subprocess_dvc,
    watch_files,
)
from pedigree.errors import ExitCode, PedigreeError, ToolError
from pedigree.gitstate import git_state
from pedigree.redact import redact_text
from pedigree.replicate.foldruns import Run
from pedigree.replicate.outcomes import StageOutcome
from pedigree.replicate.workspace import SCRATCH

STEP = "replicate"  # the step name its files for git and its progress lines carry
KIND = "archives"  # <remote>/pedigree/archives/<run>/: the runs' workspaces
MANIFEST_SCHEMA = "pedigree/replicate-run/v1"

Say = Callable[[str], None]


class _Progress:
    """Progress lines on stderr, one per stage of a run."""

    def __init__(self, say: Say) -> None:
        self.say = say

    def stage_finished(self, run: Run, result: StageOutcome) -> None:
        seconds = f" in {result.seconds:.1f} s" if result.outcome == "ran" else ""
        self.say(f"{run.label()}: {result.stage} {result.outcome}{seconds}")


def restore(config: StepConfig, env: Mapping[str, str], say: Say) -> None:
    """Bring the stages the fold runs build on up to date from the remote's run-cache (they
    run here only when the remote has no result for them)."""
    from pedigree.replicate.upstream import stages_to_restore
    from pedigree.spec.load import load

    problem = point_at_remote(config, subprocess_dvc, env)
    if problem:
        raise PedigreeError(problem)
    check_remote(config)  # a wrong endpoint, credential or bucket fails here (exit 4)
    stages = stages_to_restore(load(config.root).spec)
    # as in `pedigree.cluster.step`: the committed dvc.lock describes the last local run; with
    # it gone, each stage comes from the run-cache entry its own cluster step pushed
    (config.root / "dvc.lock").unlink(missing_ok=True)
    say(f"restoring {', '.join(stages)} from {config.remote}")
    code = subprocess_dvc(["repro", "--pull", *stages], env)
    if code != 0:
        raise PedigreeError(
            f"cannot restore {', '.join(stages)} (dvc exited {code})",
            "run the pipeline on the cluster at this revision first (its steps push what the "
            "fold runs build on), and check the remote's endpoint and credentials",
        )


def _seeds(text: str) -> str | None:
    return text.strip() or None  # empty: the project's own seed


def do_plan(config: StepConfig, folds: str, seeds: str) -> FoldRunPlan:
    """The runs, from the restored split records."""
    return plan_fold_runs(config.root, folds, _seeds(seeds))


def do_run(
    config: StepConfig, folds: str, seeds: str, run: Run, plan: str, say: Say
) -> tuple[str, int]:
    """Run one fold run and copy its workspace to the remote; (archive name, its bytes)."""
    one = replicate_one(config.root, folds, _seeds(seeds), run, plan, _Progress(say))
    with RemoteArchives(config.root, KIND, REMOTE_NAME) as remote:
        archive = remote.put(config.workflow, run.name, one.outcome.workspace, one.links)
    return archive.name, archive.size


def do_gather(
    config: StepConfig, env: Mapping[str, str], folds: str, seeds: str, say: Say
) -> list[str]:
    """Bring the runs home, summarise them and run the label audit, write the manifest; the
    files for git sent home."""
    head, _ = git_state(config.root)
    if not head:  # the manifest names the commit: pull refuses another checkout's
        raise PedigreeError(
            f"cannot read the git commit of the checkout {config.root}",
            "the step runs in Argo's git checkout of the run's revision",
        )
    planned = plan_fold_runs(config.root, folds, _seeds(seeds))
    with RemoteArchives(config.root, KIND, REMOTE_NAME) as remote:
        for run in planned.runs:
            remote.get(config.workflow, run.name, config.root / SCRATCH / run.name)
        say(f"{len(planned.runs)} fold run(s) brought back from {remote.url}")
        send_files = watch_files(config, env)
        result = replicate(
            config.root, _seeds(seeds), observer=_Progress(say), folds=int(folds), reuse_only=True
        )
        sent = send_files()
        files = [f.path for f in sent.files]
        folders = {run.name: (SCRATCH / run.name).as_posix() for run in planned.runs}
        if result.labels is not None:
            audit = result.labels.workspace
            remote.put(config.workflow, audit.name, audit)
            folders[audit.name] = audit.relative_to(config.root).as_posix()
        manifest: dict[str, object] = {
            "schema": MANIFEST_SCHEMA,
            "commit": head,
            "step": STEP,
            "folds": int(folds),
            "seeds": list(result.summary.seeds),
            "plan": planned.plan,
            "folders": folders,
            "files": files,
        }
        remote.write_manifest(config.workflow, manifest)
    for line in sent.left_out:
        say(f"warning: {line}: the step changed it, it is not sent home")
    return files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pedigree.api.foldstep",
        description="One step of `pedigree replicate --folds` on a cluster (docs/replicate.md).",
    )
    steps = parser.add_subparsers(dest="step", required=True)
    for name in ("plan", "run", "gather"):
        sub = steps.add_parser(name)
        sub.add_argument("--folds", required=True, help="number of folds K")
        sub.add_argument("--seeds", default="", help="comma-separated seeds (empty: the project's)")
        if name == "run":
            sub.add_argument("--fold", required=True, type=int, help="the fold held out")
            sub.add_argument("--seed", required=True, type=int, help="the run's seed")
            sub.add_argument("--plan", required=True, help="the fold plan's sha256 (from plan)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one step; the exit status for Argo."""
    args = _parser().parse_args(argv)
    # stdout is the plan step's answer to Argo: whatever else anything prints (DVC, the stages
    # run through subprocesses) goes to stderr, at the file-descriptor level, until the step ends
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with os.fdopen(os.dup(saved), "w", encoding="utf-8") as answer:
            return _step(args, answer)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _step(args: argparse.Namespace, answer: TextIO) -> int:
    def say(line: str) -> None:
        print(f"pedigree: {STEP} {args.step}: {redact_text(line)}", file=sys.stderr, flush=True)

    try:
        config = config_from_env(STEP, Path.cwd(), os.environ)
    except PedigreeError as exc:
        say(f"error: {exc}")
        return 2
    env = step_environment(os.environ, step_image(config, pod_image, os.environ, say))
    # this process reads git too (the commit for the manifest), and the stages it starts inherit
    # its environment: all of them must trust a checkout owned by another user
    os.environ.update(env)
    try:
        restore(config, env, say)
        if args.step == "plan":
            planned = do_plan(config, args.folds, args.seeds)
            answer.write(json.dumps(planned.to_list()) + "\n")
            answer.flush()
            say(f"{len(planned.runs)} run(s), fold plan {planned.plan[:12]}")
        elif args.step == "run":
            run = Run(args.seed, args.fold)
            name, size = do_run(config, args.folds, args.seeds, run, args.plan, say)
            say(f"{run.label()}: done, workspace copied to the remote as {name} ({size} bytes)")
        else:
            files = do_gather(config, env, args.folds, args.seeds, say)
            say(f"done: sent home {', '.join(files) or 'nothing new'}")
    except PedigreeError as exc:
        say(f"error: {exc}")
        return ExitCode.TOOL_ERROR if isinstance(exc, ToolError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
