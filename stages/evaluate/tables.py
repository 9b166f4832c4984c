"""The report's text: Markdown tables and sentences built from the evaluation's numbers.

Pure string functions (no pandas: tables are Markdown, which Jupyter and nbconvert render), so
what the report says is tested without running a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stages.common.metrics import CLASS_NAMES
from stages.evaluate.compute import DECIMALS, result_rows
from stages.evaluate.provenance import LockOutputs

ARGMAX_NOTE = (
    "Temperature scaling divides the logits by one positive number, which never changes their "
    "argmax: every segmentation metric is identical for the original and the calibrated model. "
    "Only the probabilities, and so ECE and NLL, differ."
)


def fmt(value: Any) -> str:
    """A cell: floats to 6 decimals, None as n/a, anything else as text."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{DECIMALS}f}"
    return str(value)


def _escape(text: str) -> str:
    # A `|` inside a cell would end it.
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-style Markdown table."""
    lines = [
        "| " + " | ".join(_escape(str(h)) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_escape(fmt(c)) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(doc: dict[str, Any]) -> str:
    """The opening summary: model, test images, mean IoU, calibrated ECE."""
    m = doc["metrics"]
    return (
        f"Model `{doc['model']['sha256'][:12]}` evaluated on **{m['images']}** held-out test "
        f"images ({m['pixels']} pixels).\n\n"
        f"- Mean IoU: **{fmt(m['mean_iou'])}** (mean Dice {fmt(m['mean_dice'])}, pixel accuracy "
        f"{fmt(m['pixel_accuracy'])})\n"
        f"- ECE after temperature scaling (T = {fmt(m['temperature'])}): "
        f"**{fmt(m['ece']['calibrated'])}** (original model: {fmt(m['ece']['original'])})\n\n"
        "The sections below give the per-class scores, the confusion matrix, calibration before "
        "and after temperature scaling, example predictions, the training run and where every "
        "input came from."
    )


def segmentation_markdown(metrics: dict[str, Any]) -> str:
    """Metric | original | calibrated, then per-class IoU and Dice."""
    overall = markdown_table(
        ("metric", "original model", "calibrated model"),
        [row for row in result_rows(metrics) if row[0] not in ("ece", "nll")],
    )
    per_class = markdown_table(
        ("class", "IoU", "Dice / F1"),
        [(c, metrics["iou"][c], metrics["dice"][c]) for c in CLASS_NAMES],
    )
    return f"{overall}\n\n{ARGMAX_NOTE}\n\n**Per class**\n\n{per_class}"


def calibration_markdown(metrics: dict[str, Any], calibration: dict[str, Any], bins: int) -> str:
    """ECE and NLL before/after on the test split, and calibrate's own numbers."""
    ece_c, nll_c = calibration.get("ece", {}), calibration.get("nll", {})
    rows = [
        ("test", "original (T = 1)", metrics["ece"]["original"], metrics["nll"]["original"]),
        (
            "test",
            f"calibrated (T = {fmt(metrics['temperature'])})",
            metrics["ece"]["calibrated"],
            metrics["nll"]["calibrated"],
        ),
        ("calibration (fit)", "original (T = 1)", ece_c.get("before"), nll_c.get("before")),
        ("calibration (fit)", "calibrated", ece_c.get("after"), nll_c.get("after")),
    ]
    table = markdown_table(("split", "model", f"ECE ({bins} bins)", "NLL per pixel"), rows)
    fitted = calibration.get("images")
    source = f" on {fitted} calibration images" if fitted is not None else ""
    return (
        f"{table}\n\nThe temperature was fitted by the calibrate stage{source}; the test split "
        "measures it on images neither training nor calibration saw."
    )


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [row for key in sorted(value) for row in _flat(f"{prefix}.{key}", value[key])]
    return [(prefix, value)]


def hyperparameters_markdown(summary: dict[str, Any]) -> str:
    """train.json's hyperparameters, model and train settings, and the parameter count."""
    rows: list[tuple[str, Any]] = []
    for section in ("hyperparameters", "model", "train"):
        rows += _flat(section, summary.get(section, {}))
    rows.append(("parameters", summary.get("parameters")))
    return markdown_table(("setting", "value"), [(k, v) for k, v in rows])


def provenance_markdown(
    lock: LockOutputs,
    hashes: dict[str, dict[str, str]],
    env: dict[str, str],
    determinism: dict[str, Any],
    kernel: str,
) -> str:
    """Upstream outputs per dvc.lock, hashes computed now, interpreter and determinism.

    The git commit and the run's times are in the run's lineage record, not here: the report
    holds only what its inputs determine, so a re-run reproduces it byte for byte.
    """
    if lock.rows:
        upstream = markdown_table(
            ("stage", "output", "md5 (dvc.lock)"), [(s, f"`{p}`", d) for s, p, d in lock.rows]
        )
    else:
        upstream = f"_{lock.note}_"
    now = markdown_table(
        ("artefact", "path", "sha256 (computed now)"),
        [(name, f"`{h['path']}`", h["sha256"]) for name, h in hashes.items()],
    )
    run_rows = [
        (
            "code, git commit, run times",
            "lineage record: `pedigree lineage reports/evaluation.json`",
        ),
        ("kernel", kernel),
        ("Python", env["python"]),
        ("platform", env["platform"]),
        ("TensorFlow", env["tensorflow"]),
        ("Keras", env["keras"]),
        ("numpy", env["numpy"]),
        ("matplotlib", env["matplotlib"]),
    ]
    run_rows += [(f"determinism: {k}", v) for k, v in sorted(determinism.items())]
    return (
        f"**Upstream outputs (dvc.lock)**\n\n{upstream}\n\n"
        f"**Evaluated artefacts**\n\n{now}\n\n"
        f"**Code and environment**\n\n{markdown_table(('item', 'value'), run_rows)}"
    )
