"""`pedigree verify`: re-run stages from their recorded inputs and compare every output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option
from pedigree.errors import ExitCode

# The verify code reads lineage records (pydantic) and dvc.lock (yaml): imported when the command
# runs, so that `pedigree --help` and the other commands do not pay for it.
if TYPE_CHECKING:
    from pedigree.api import verify as verify_api
    from pedigree.verify.rerun import NotReplayed, StageVerification

SHORT = 12
DIFFERS = (
    ExitCode.STAGE_FAILED
)  # exit code: at least one stage was re-run and did not reproduce its outputs
NOT_REPLAYED = (
    ExitCode.USER_ERROR
)  # exit code: none differs, but a stage could not be re-run (an input is gone)
NOT_RERUN = "(not re-run)"


def _short(digest: str | None) -> str:
    if digest is None:
        return "(not written)"
    suffix = ".dir" if digest.endswith(".dir") else ""
    return digest[:SHORT] + suffix


def _exit_code(report: verify_api.VerifyReport) -> int:
    if report.ok:
        return 0
    return DIFFERS if report.differing else NOT_REPLAYED


def _not_replayed_json(item: StageVerification, why: NotReplayed) -> dict[str, Any]:
    return {
        "stage": item.stage,
        "identical": False,
        "replayed": False,
        "cannot_replay": {"message": why.message, "hint": why.hint},
        "exit_code": None,
        "seconds": 0.0,
        "outputs": [
            {
                "path": o.path,
                "recorded": o.md5,
                "reproduced": None,
                "identical": None,
                "details": [],
            }
            for o in why.outputs
        ],
        "inputs": [],
        "environment_differences": [],
        "recorded_environment_known": False,
        "log_tail": [],
        "scratch": None,
    }


def _stage_json(item: StageVerification) -> dict[str, Any]:
    if item.not_replayed is not None:
        return _not_replayed_json(item, item.not_replayed)
    return {
        "stage": item.stage,
        "identical": item.identical,
        "replayed": True,
        "cannot_replay": None,
        "exit_code": item.exit_code,
        "seconds": round(item.seconds, 3),
        "outputs": [
            {
                "path": c.path,
                "recorded": c.recorded,
                "reproduced": c.reproduced,
                "identical": c.identical,
                "details": list(c.details),
            }
            for c in item.checks
        ],
        "inputs": [{"path": p.path, "md5": p.md5, "from": p.source} for p in item.inputs],
        "environment_differences": [
            {"key": d.key, "recorded": d.recorded, "now": d.now} for d in item.differences
        ],
        "recorded_environment_known": item.recorded_env_known,
        "log_tail": list(item.log_tail),
        "scratch": item.scratch,
    }


def _explain(item: StageVerification) -> None:
    """Why a stage did not reproduce: its failure, the files that differ, what changed."""
    if item.not_replayed is not None:
        # On stderr, as any error: the stage could not even be re-run.
        message = item.not_replayed.message.removeprefix(f"stage '{item.stage}': ")
        render.say(f"error: stage '{item.stage}' cannot be replayed: {message}", err=True)
        if item.not_replayed.hint:
            render.say(f"hint: {item.not_replayed.hint}", err=True)
        return
    if item.exit_code != 0:
        render.say(f"  {item.stage}: the re-run failed (exit code {item.exit_code}); its log ends:")
        for line in item.log_tail:
            render.say(f"    | {line}")
    for check in item.checks:
        for line in check.details:
            render.say(f"  {item.stage}: {check.path}: {line}")
    if not item.recorded_env_known:
        render.say(
            f"  {item.stage}: no lineage record of the recorded run (lineage/{item.stage}.json "
            "missing or for other outputs): the environments cannot be compared"
        )
    elif item.differences:
        render.say(f"  {item.stage}: what differs between the recorded run and this re-run:")
        for diff in item.differences:
            render.say(f"    {diff.key}: {diff.recorded!r} -> {diff.now!r}")
    elif item.exit_code == 0:
        render.say(
            f"  {item.stage}: same environment, code, params and seeds as the recorded run, yet "
            "different bytes: the stage is not deterministic (look for unseeded randomness, "
            "clocks or time stamps, thread counts, unordered iteration)"
        )


@click.command(context_settings=CONTEXT)
@click.argument("stages", nargs=-1)
@click.option("--all", "all_stages", is_flag=True, help="Verify every stage dvc.lock records.")
@click.option("--keep", is_flag=True, help="Keep each scratch workspace and print where it is.")
@json_option
@click.pass_obj
def verify(
    opts: Options, stages: tuple[str, ...], all_stages: bool, keep: bool, as_json: bool
) -> int:
    """Re-run stages from their recorded inputs and prove the outputs are bit-identical.

    Each stage runs alone in a scratch folder outside the project, with its inputs taken at
    the hashes dvc.lock records (from the DVC cache, or from the workspace when unchanged);
    every output is compared byte for byte with dvc.lock. Your workspace and cache are only
    read. Every stage asked about is reported: identical, differs (with what differs between the
    recorded environment and this one), or cannot be replayed (with why, e.g. an input no longer
    in the cache). Exit code 0: every output reproduced; 1: a stage differs; 2: none differs but
    a stage could not be replayed.

    \b
    Examples:
      pedigree verify train
      pedigree verify --all
      pedigree verify evaluate --keep --json
    """
    opts.json = as_json
    say = None if as_json else (lambda name: render.say(f"verifying {name} ..."))
    from pedigree.api import verify as verify_api
    from pedigree.verify.workspace import Locked

    report = verify_api.verify(opts.project, stages, all_stages, keep, progress=say)
    if as_json:
        render.emit_json(
            {
                "ok": report.ok,
                "differing": list(report.differing),
                "not_replayed": list(report.not_replayed),
                "stages": [_stage_json(s) for s in report.stages],
            }
        )
        return _exit_code(report)
    rows = []
    for item in report.stages:
        if item.not_replayed is not None:
            rows += [
                (item.stage, o.path, _short(o.md5), NOT_RERUN, "cannot replay")
                for o in item.not_replayed.outputs or [Locked("-", "-")]
            ]
            continue
        rows += [
            (
                c.stage,
                c.path,
                _short(c.recorded),
                _short(c.reproduced),
                "yes" if c.identical else "NO",
            )
            for c in item.checks
        ]
    header = ("stage", "output", "recorded", "reproduced", "identical")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        render.say("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for item in report.stages:
        if item.scratch:
            render.say(f"  {item.stage}: scratch workspace kept at {item.scratch}")
        if not item.identical:
            _explain(item)
    same = sum(s.identical for s in report.stages)
    verdict = "every output is bit-identical" if report.ok else "NOT reproduced"
    counts = [
        f"{len(names)} {what}"
        for names, what in (
            (report.differing, "differs" if len(report.differing) == 1 else "differ"),
            (report.not_replayed, "cannot be replayed"),
        )
        if names
    ]
    more = f" ({', '.join(counts)})" if counts else ""
    render.say(f"verify: {same} of {len(report.stages)} stages reproduced: {verdict}{more}")
    return _exit_code(report)
