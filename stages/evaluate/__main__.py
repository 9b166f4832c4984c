"""`python -m stages.evaluate`: measure the calibrated model on the test split, as a report.

Reads only the test split (through SplitReader, which refuses every other split), the model,
calibration.json, train's history.csv and train.json, dvc.lock (for provenance, and to match
replicate results to the model), with --replicates, replicates/summary.json (the spread over
seeds or folds from `pedigree replicate`, shown when it replicates this model) and, with --labels,
reports/label_issues.json (the label audit of `pedigree replicate --folds K`). Runs
evaluate.ipynb with papermill and writes, atomically, into --out:
  metrics.json           DVC metrics: segmentation scores, ECE/NLL before/after, temperature
  evaluation_result.csv  metric,original_model,calibrated_model (one row per metric)
  evaluation.json        metrics, confusion matrix, examples, and the inputs' sha256
  evaluation.ipynb       the executed notebook, normalised (no timestamps or scratch paths)
  evaluation.html        the report, code hidden, images embedded, nothing loaded from the web
  predictions/           every test image's calibrated probabilities, label and pixels (the label
                         audit reads them; format: stages.evaluate.predictions)
--out is replaced in one rename; anything else already in it (the label audit's
label_issues.json and .csv, DVC's .gitignore) is carried over unchanged.
Same inputs give byte-identical files: inference is deterministic (stages.common.determinism),
numbers are rounded to 6 decimals, and the notebook is normalised before it is written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pedigree.errors import PedigreeError, SourceError
from pedigree.stagekit import atomic_output, load_params, run_stage
from stages.common.data import SplitReader
from stages.common.determinism import DeterminismParams
from stages.common.training import ModelParams
from stages.evaluate import labels, predictions, replicates, report
from stages.evaluate.compute import SPLIT
from stages.evaluate.inference import EVALUATE_SPLITS
from stages.evaluate.inputs import check_train_dir, read_calibration
from stages.evaluate.outputs import EVALUATION_JSON, METRICS_JSON, RESULT_CSV
from stages.evaluate.params import EvaluateParams

NOTEBOOK_OUT = "evaluation.ipynb"
HTML_OUT = "evaluation.html"
REPORT_TITLE = "Evaluation report"
# What this stage writes into --out; everything else there is carried over as it is.
OWN_OUTPUTS = frozenset(
    {METRICS_JSON, RESULT_CSV, EVALUATION_JSON, NOTEBOOK_OUT, HTML_OUT, predictions.FOLDER}
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.evaluate",
        description="Evaluate the calibrated model on the test split and write the report.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument(
        "--calibration", type=Path, default=Path("models/calibration/calibration.json")
    )
    parser.add_argument("--train", type=Path, default=Path("models/train"))
    parser.add_argument("--lock", type=Path, default=Path("dvc.lock"))
    parser.add_argument("--out", type=Path, default=Path("reports"))
    # Optional: without it the report says there are no replicate results.
    parser.add_argument("--replicates", type=Path, default=None)
    # Optional: without it the report says there is no label audit.
    parser.add_argument("--labels", type=Path, default=None)
    return parser


def _check_hash_seed() -> None:
    # The kernel inherits this environment and its configure() needs a fixed hash seed; saying
    # so here costs nothing, where the kernel would say it after a TensorFlow import.
    seed = os.environ.get("PYTHONHASHSEED", "")
    if not seed or seed == "random":
        raise PedigreeError(
            "PYTHONHASHSEED is not fixed: it must be set before Python starts",
            "run the stage through `pedigree run` or `python -m pedigree.launch --stage "
            "evaluate --`",
        )


def notebook_parameters(
    args: argparse.Namespace,
    params: EvaluateParams,
    model: ModelParams,
    determinism: DeterminismParams,
    output_dir: Path,
) -> dict[str, Any]:
    """The values for the notebook's `parameters` cell (plain strings, numbers, booleans)."""
    return {
        "model_path": str(args.model),
        "calibration_path": str(args.calibration),
        "prepared_path": str(args.prepared),
        "train_dir": str(args.train),
        "lock_path": str(args.lock),
        "replicates_path": "" if args.replicates is None else str(args.replicates),
        "labels_path": "" if args.labels is None else str(args.labels),
        "output_dir": str(output_dir),
        "batch_size": params.batch_size,
        "bins": params.bins,
        "examples": params.examples,
        "input_size": model.input_size,
        "seed": determinism.seed,
        "intra_op_threads": determinism.intra_op_threads,
        "inter_op_threads": determinism.inter_op_threads,
        "op_determinism": determinism.op_determinism,
        "kernel": report.kernel_description(),
    }


def carry_over(out: Path, scratch: Path) -> None:
    """Copy what --out holds besides this stage's outputs into `scratch`, which replaces it.

    reports/ also holds the label audit's files (label_issues.json, which evaluate reads, and
    label_issues.csv) and DVC's .gitignore: replacing the folder must not delete them."""
    if not out.is_dir() or out.is_symlink():
        return
    for entry in sorted(out.iterdir()):
        if entry.name in OWN_OUTPUTS or (scratch / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, scratch / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, scratch / entry.name, follow_symlinks=False)


def main(argv: list[str] | None = None) -> int:
    """Run the stage; return 0 on success (errors are raised as PedigreeError)."""
    args = _parser().parse_args(argv)
    params = load_params("evaluate", EvaluateParams, args.params)
    model_params = load_params("model", ModelParams, args.params)
    det_params = load_params("determinism", DeterminismParams, args.params)
    # Cheap checks first, so a missing input fails in a second, before a kernel starts.
    if not args.model.is_file():
        raise SourceError(f"{args.model} is missing", "run the train stage first")
    read_calibration(args.calibration)
    check_train_dir(args.train)
    if args.replicates is not None:
        replicates.read_summary(args.replicates)
    if args.labels is not None:
        labels.read_labels(args.labels)
    files = SplitReader(args.prepared, EVALUATE_SPLITS, "evaluate").files(SPLIT)
    if not files.count or not files.files:
        raise SourceError(
            f"the {SPLIT} split in {args.prepared} is empty: nothing to evaluate on",
            "give transform.split.test buckets that hold animals, and re-run transform",
        )
    _check_hash_seed()
    cwd = Path.cwd()
    final = notebook_parameters(args, params, model_params, det_params, args.out)
    started = time.monotonic()
    with atomic_output(args.out) as scratch:
        run = dict(final, output_dir=str(scratch))
        executed = report.execute(run, cwd)
        template = report.NOTEBOOK.relative_to(report.code_root()).as_posix()
        notebook = report.normalise(
            executed, final, template, (args.out / NOTEBOOK_OUT).as_posix(), str(scratch)
        )
        report.write_notebook(notebook, scratch / NOTEBOOK_OUT)
        html = report.export_html(notebook, REPORT_TITLE)
        (scratch / HTML_OUT).write_text(html, encoding="utf-8")
        metrics = json.loads((scratch / METRICS_JSON).read_text(encoding="utf-8"))
        carry_over(args.out, scratch)
    seconds = time.monotonic() - started
    print(
        f"evaluate: {metrics['images']} test images in {seconds:.1f}s, mean IoU "
        f"{metrics['mean_iou']} (per class {metrics['iou']})\n"
        f"  ECE ({params.bins} bins) {metrics['ece']['original']:.6f} -> "
        f"{metrics['ece']['calibrated']:.6f} at T = {metrics['temperature']:g}   NLL "
        f"{metrics['nll']['original']:.6f} -> {metrics['nll']['calibrated']:.6f}\n"
        f"  -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
