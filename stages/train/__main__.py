"""`python -m stages.train`: train the U-Net with tune's best params, early-stopped on validation.

Reads only the train and validation splits. Writes the model (byte-identical for identical
training), the per-epoch history as a DVC plots file, metrics for `dvc metrics show`, and
TensorBoard logs (byte-identical too: `stages.train.tensorboard`).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from pedigree.stagekit import atomic_output, load_params, run_stage
from stages.common.data import MODEL_SELECTION, SplitReader, dataset
from stages.common.determinism import DeterminismParams, configure
from stages.common.modelio import save_model
from stages.common.training import (
    Hyperparameters,
    ModelParams,
    build_and_compile,
    evaluate_segmentation,
    iou_callback,
)
from stages.train.params import TrainParams
from stages.train.tensorboard import write_logs

HISTORY_FIELDS = ("epoch", "loss", "val_loss", "val_mean_iou")


def read_best_params(path: Path) -> Hyperparameters:
    """tune's best_params.json, validated."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path} is missing", "run the tune stage first") from None
    except ValueError as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}", "re-run tune") from None
    return Hyperparameters.model_validate(data.get("params", data))


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """Per-epoch history as CSV (a DVC plots file: `dvc plots show` renders it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: _fmt(row.get(k)) for k in HISTORY_FIELDS})


def _fmt(value: Any) -> Any:
    return f"{value:.6f}" if isinstance(value, float) else value


def main(argv: list[str] | None = None) -> int:
    """Train and write the model, history, metrics and TensorBoard logs."""
    parser = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--best-params", type=Path, default=Path("models/tune/best_params.json"))
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument("--out", type=Path, default=Path("models/train"))
    parser.add_argument("--logs", type=Path, default=Path("models/tensorboard"))
    args = parser.parse_args(argv)
    model_params = load_params("model", ModelParams, args.params)
    train_params = load_params("train", TrainParams, args.params)
    det_params = load_params("determinism", DeterminismParams, args.params)
    hp = read_best_params(args.best_params)
    record = configure(det_params)

    import keras
    import tensorflow as tf

    reader = SplitReader(args.prepared, MODEL_SELECTION, "train")
    stats = reader.stats()
    size = model_params.input_size
    train_files, val_files = reader.files("train"), reader.files("validation")
    if not train_files.count or not val_files.count:
        raise SourceError("the train and validation splits must both hold samples")
    train_data = dataset(tf, train_files, stats, size, hp.batch_size, det_params.seed, True)
    val_data = dataset(tf, val_files, stats, size, hp.batch_size, det_params.seed, False)

    steps = -(-train_files.count // hp.batch_size)  # batches per epoch, rounded up
    model = build_and_compile(model_params, hp, decay_steps=steps * train_params.epochs)
    history: list[dict[str, Any]] = []
    started = time.monotonic()
    # Every output appears complete or not at all (a killed run leaves only .partial folders).
    callbacks = [
        iou_callback(val_data, history),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=train_params.patience, restore_best_weights=True
        ),
    ]
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=train_params.epochs,
        callbacks=callbacks,
        verbose=2,
    )
    seconds = time.monotonic() - started
    final = evaluate_segmentation(model, val_data)
    best = min(history, key=lambda row: row["val_loss"])
    save_model(model, args.model)
    metrics = {
        "split": "validation",
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
        "val_loss": round(best["val_loss"], 6),
        **{k: final[k] for k in ("mean_iou", "mean_dice", "pixel_accuracy", "iou", "dice")},
    }
    summary = {
        "hyperparameters": hp.model_dump(),
        "model": model_params.model_dump(),
        "train": train_params.model_dump(),
        "determinism": record.to_dict(),
        "parameters": int(model.count_params()),
    }
    # TensorBoard logs from the history, not Keras' callback: its files carry the clock.
    with atomic_output(args.logs) as logs:
        write_logs(logs, history)
    with atomic_output(args.out) as out:
        write_history(out / "history.csv", history)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        (out / "train.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(
        f"train: {len(history)} epochs in {seconds:.1f}s, best epoch {best['epoch']}, "
        f"validation mean IoU {final['mean_iou']} (per class {final['iou']})"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
