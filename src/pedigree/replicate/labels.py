"""The label audit of `pedigree replicate --folds`: the spec's command over the folds'
out-of-fold predictions, in its own workspace, its outputs copied into the project.

Every sample outside the test split is predicted, in the fold that holds it out, by a model that
never saw it. The spec's `replicate.folds.predictions` names where the metrics stage writes those
predictions; `replicate.folds.labels` names the command that reads them (pets: stages/labels,
confident learning with cleanlab) and the files it writes. The command runs in
`.pedigree/replicate/labels/` holding a copy of the code, params.yaml (with the `--set`
overrides), the splits' provenance file, and `predictions/<run>/` for each fold x seed run (hard
links to the run's files). pedigree itself never imports what the command uses: cleanlab stays
in the label audit's own requirements (images/labels). The audit is reused, not run again, when
everything in its workspace hashes as it did when it last succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pedigree.atomic import remove_path, sha256_file, write_atomically, write_bytes_atomically
from pedigree.errors import StageFailedError
from pedigree.replicate.isolation import place_upstream
from pedigree.replicate.outcomes import LabelsOutcome
from pedigree.replicate.upstream import Plan, ReplicateError
from pedigree.replicate.workspace import SCRATCH, copy_code, run_command

FOLDER = "labels"  # under .pedigree/replicate/
PREDICTIONS = "predictions"  # inside it: one folder per run
STAMP = ".inputs.sha256"  # the inputs' digest when the command last succeeded
LOG = "labels.log"
TAIL_LINES = 20
STEP = "labels"  # how errors and progress name the label audit


def _digest(ws: Path, skip: set[str]) -> str:
    """sha256 over every file of the workspace but `skip` (path and content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in ws.rglob("*") if p.is_file()):
        rel = path.relative_to(ws).as_posix()
        if rel in skip or "__pycache__" in rel.split("/"):
            continue
        digest.update(f"{rel}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def _place(plan: Plan, ws: Path, runs: Mapping[str, Path], params_text: str) -> None:
    setup = plan.folds
    if setup is None or setup.spec.predictions is None:
        raise ReplicateError("the label audit needs spec.replicate.folds.predictions")
    copy_code(plan, ws)
    write_atomically(ws / "params.yaml", params_text)
    provenance = ws / setup.provenance
    provenance.parent.mkdir(parents=True, exist_ok=True)
    if not provenance.is_file() or sha256_file(provenance) != sha256_file(
        plan.root / setup.provenance
    ):
        write_bytes_atomically(provenance, (plan.root / setup.provenance).read_bytes())
    folder = ws / PREDICTIONS
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.name not in runs:
            remove_path(stale)
    for name, run_ws in runs.items():
        source = run_ws / setup.spec.predictions
        if not source.exists():
            raise ReplicateError(
                f"{name}: {setup.spec.predictions} is missing in {run_ws}: the metrics stage "
                "wrote no predictions",
                "make the metrics stage write them (spec.replicate.folds.predictions), then "
                "run `pedigree replicate --folds` again",
            )
        place_upstream(source, folder / name)


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def run_label_audit(
    plan: Plan, runs: Mapping[str, Path], params_text: str, force: bool = False
) -> LabelsOutcome:
    """Run the spec's label audit over `runs` (run name -> its workspace) and copy its outputs
    into the project; reuse the last result when nothing it reads changed."""
    setup = plan.folds
    labels = None if setup is None else setup.spec.labels
    if labels is None:
        raise ReplicateError("the spec declares no label audit (spec.replicate.folds.labels)")
    started = time.monotonic()
    ws = plan.root / SCRATCH / FOLDER
    ws.mkdir(parents=True, exist_ok=True)
    _place(plan, ws, runs, params_text)
    # dvc.lock comes with the code copy but says nothing the audit reads; it differs between
    # checkouts of one revision (a cluster pod restores only the upstream stages)
    skip = {STAMP, LOG, "dvc.lock", *labels.outs}
    digest = _digest(ws, skip)
    stamp = ws / STAMP
    done = all((ws / out).is_file() for out in labels.outs)
    if not force and done and stamp.is_file() and stamp.read_text(encoding="utf-8") == digest:
        outcome: Literal["ran", "reused"] = "reused"
    else:
        remove_path(stamp)
        for out in labels.outs:
            remove_path(ws / out)
        _run(ws, labels.cmd)
        missing = [out for out in labels.outs if not (ws / out).is_file()]
        if missing:
            raise StageFailedError(
                STEP,
                f"the label audit succeeded but wrote no {', '.join(missing)}",
                "",
                "make its command write every file spec.replicate.folds.labels.outs lists",
            )
        write_atomically(stamp, digest)
        outcome = "ran"
    for out in labels.outs:
        data = (ws / out).read_bytes()
        target = plan.root / out
        if not target.is_file() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(target, data)
    doc = summary_of(plan.root, labels.summary) or {}
    images, flagged = doc.get("images"), doc.get("flagged")
    return LabelsOutcome(
        outcome,
        tuple(labels.outs),
        time.monotonic() - started,
        ws,
        images if isinstance(images, int) else None,
        len(flagged) if isinstance(flagged, list) else None,
    )


def _run(ws: Path, argv: Sequence[str]) -> None:
    """The label audit's command in `ws`; StageFailedError with its log's tail."""
    done = run_command(ws, list(argv), dict(os.environ))
    (ws / LOG).write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0:
        raise StageFailedError(
            STEP,
            f"the label audit failed (exit {done.returncode}): {shlex.join(argv)}; "
            f"its log: {ws / LOG}",
            _tail(done.stdout),
            "fix the cause and run `pedigree replicate --folds` again (the folds are reused)",
        )


def summary_of(root: Path, path: str) -> dict[str, Any] | None:
    """The label audit's summary file (spec.replicate.folds.labels.summary), or None."""
    try:
        doc = json.loads((root / path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
