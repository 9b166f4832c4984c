"""`python -m stages.calibrate`: fit a softmax temperature for the model on the calibration split.

Reads only the calibration split (through SplitReader, which refuses the test split) and the
trained model. Writes, atomically, into --out:
  calibration.json  the temperature, NLL and ECE before/after, the search, determinism
  reliability.csv   reliability curves before/after, one row per bin (a DVC plots file)
Same inputs give byte-identical outputs: inference is deterministic (stages.common.determinism),
the pixel subsample is seeded, and every number is rounded to 6 decimals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from pedigree.stagekit import atomic_output, load_params, run_stage, sha256_file
from stages.calibrate.collect import Collected, collect_logits
from stages.calibrate.params import CalibrateParams
from stages.calibrate.reliability import Curves, curves, write_reliability_csv
from stages.calibrate.temperature import DECIMALS, TemperatureFit, fit_temperature
from stages.common.data import CALIBRATION, SplitReader, dataset
from stages.common.determinism import DeterminismParams, configure
from stages.common.modelio import load_checked_model
from stages.common.training import ModelParams

SPLIT = "calibration"
METHOD = "temperature scaling (minimise per-pixel NLL, bounded scalar search)"
CALIBRATION_JSON = "calibration.json"
RELIABILITY_CSV = "reliability.csv"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.calibrate",
        description="Fit a softmax temperature for the model on the calibration split.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument("--out", type=Path, default=Path("models/calibration"))
    return parser


def _r(value: float) -> float:
    return round(float(value), DECIMALS)


def document(
    fit: TemperatureFit,
    result: Curves,
    data: Collected,
    params: CalibrateParams,
    model_info: dict[str, Any],
    determinism: dict[str, Any],
) -> dict[str, Any]:
    """calibration.json's content (rounded, so its bytes depend on the inputs only)."""
    return {
        "temperature": fit.temperature,
        "nll": {"before": _r(fit.nll_before), "after": _r(fit.nll_after)},
        "ece": {"before": _r(result.ece_before), "after": _r(result.ece_after)},
        "bins": params.bins,
        "pixels": data.pixels,
        "pixels_total": data.pixels_total,
        "subsampled": data.subsampled,
        "images": data.images,
        "split": SPLIT,
        "method": METHOD,
        "optimizer": fit.optimizer_info(),
        "model": model_info,
        "determinism": determinism,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the stage; return 0 on success (errors are raised as PedigreeError)."""
    args = _parser().parse_args(argv)
    params = load_params("calibrate", CalibrateParams, args.params)
    model_params = load_params("model", ModelParams, args.params)
    det_params = load_params("determinism", DeterminismParams, args.params)
    # Cheap checks first, so a missing input fails in a second, before TensorFlow loads.
    if not args.model.is_file():
        raise SourceError(f"{args.model} is missing", "run the train stage first")
    reader = SplitReader(args.prepared, CALIBRATION, "calibrate")
    stats = reader.stats()
    files = reader.files(SPLIT)
    if not files.count or not files.files:
        raise SourceError(
            f"the {SPLIT} split in {args.prepared} is empty: nothing to calibrate on",
            "give transform.split.calibration buckets that hold animals, and re-run transform",
        )
    record = configure(det_params)  # before TensorFlow runs any op

    import tensorflow as tf

    size = model_params.input_size
    model = load_checked_model(args.model, size)
    batches = dataset(tf, files, stats, size, params.batch_size, det_params.seed, training=False)
    data = collect_logits(model, batches, files.count, size, params.max_pixels, det_params.seed)
    try:
        fit = fit_temperature(data.logits, data.labels, params.temperature_bounds)
    except ValueError as exc:  # non-finite logits, labels out of range: not a usable model/split
        raise SourceError(f"cannot calibrate on {args.prepared / SPLIT}: {exc}") from None
    result = curves(data.logits, data.labels, fit.temperature, params.bins)
    model_info = {"sha256": sha256_file(args.model), "input_size": size}
    doc = document(fit, result, data, params, model_info, record.to_dict())
    with atomic_output(args.out) as scratch:
        text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
        (scratch / CALIBRATION_JSON).write_text(text, encoding="utf-8")
        write_reliability_csv(scratch / RELIABILITY_CSV, result)
    sample = f" (seeded subsample of {data.pixels_total})" if data.subsampled else ""
    kept = " - kept T = 1, the optimum was not better" if fit.kept_uncalibrated else ""
    edge = " - at a bound of temperature_bounds" if fit.at_bound else ""
    print(
        f"calibrate: T = {fit.temperature:g} from {data.pixels} pixels{sample} of "
        f"{data.images} {SPLIT} images{kept}{edge}\n"
        f"  NLL {doc['nll']['before']:.6f} -> {doc['nll']['after']:.6f}   "
        f"ECE ({params.bins} bins) {doc['ece']['before']:.6f} -> {doc['ece']['after']:.6f}\n"
        f"  -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
