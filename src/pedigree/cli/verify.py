"""`pedigree verify`: re-run stages from their recorded inputs and compare every output."""

from __future__ import annotations

from typing import Any

import click

from pedigree import verify_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option
from pedigree.verify.rerun import StageVerification

SHORT = 12
DIFFERS = 1  # exit code: at least one output was not reproduced


def _short(digest: str | None) -> str:
    if digest is None:
        return "(not written)"
    suffix = ".dir" if digest.endswith(".dir") else ""
    return digest[:SHORT] + suffix


def _stage_json(item: StageVerification) -> dict[str, Any]:
    return {
        "stage": item.stage,
        "identical": item.identical,
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
    read. Exit code 0: every output reproduced; 1: something differs (the differences between
    the recorded environment and this one are shown).

    \b
    Examples:
      pedigree verify train
      pedigree verify --all
      pedigree verify evaluate --keep --json
    """
    opts.json = as_json
    say = None if as_json else (lambda name: render.say(f"verifying {name} ..."))
    report = verify_api.verify(opts.project, stages, all_stages, keep, progress=say)
    if as_json:
        render.emit_json({"ok": report.ok, "stages": [_stage_json(s) for s in report.stages]})
        return 0 if report.ok else DIFFERS
    rows = [
        (c.stage, c.path, _short(c.recorded), _short(c.reproduced), "yes" if c.identical else "NO")
        for s in report.stages
        for c in s.checks
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
    render.say(f"verify: {same} of {len(report.stages)} stages reproduced: {verdict}")
    return 0 if report.ok else DIFFERS
