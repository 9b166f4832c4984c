"""The test-split metrics, accumulated batch by batch in bounded memory.

Only sums are kept while the model runs: one confusion matrix, per-bin reliability sums (count,
confidence, correct) and NLL sums at T = 1 and at the calibration temperature, one IoU per image,
and the few best and worst example images. Memory therefore does not grow with the split, except
when asked to keep every image's calibrated probabilities, label and input for
reports/predictions/ (`predictions=True`, see stages.evaluate.predictions): a few MB here.

Every number is derived the way stages.common.metrics derives it from all pixels at once
(`scores` of the confusion matrix, `reliability` binning, `ece`, `nll`), so the streamed results
equal the all-at-once ones; the unit tests check exactly that. Pure numpy except
`read_sample_ids`, which takes TensorFlow as an argument (as stages.common.data does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pedigree.errors import SourceError
from stages.common.metrics import CLASS_NAMES, confusion, ece, log_softmax, scores
from stages.evaluate.predictions import PredictionCollector, Predictions

DECIMALS = 6
CLASSES = len(CLASS_NAMES)
SPLIT = "test"


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), DECIMALS)


def bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """The reliability bin of each confidence: stages.common.metrics.reliability's own rule."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)


@dataclass
class CalibrationSums:
    """Per-bin reliability sums and the NLL sum of softmax(logits / temperature)."""

    temperature: float
    bins: int
    count: np.ndarray = field(init=False)
    confidence: np.ndarray = field(init=False)
    correct: np.ndarray = field(init=False)
    nll_sum: float = 0.0
    pixels: int = 0

    def __post_init__(self) -> None:
        self.count = np.zeros(self.bins, np.int64)
        self.confidence = np.zeros(self.bins, np.float64)
        self.correct = np.zeros(self.bins, np.float64)

    def add(self, logits: np.ndarray, labels: np.ndarray) -> None:
        """Add pixels: logits (N, C) and int labels (N,)."""
        logp = log_softmax(logits, self.temperature)
        probs = np.exp(logp)
        confidence = probs.max(axis=-1)
        correct = (probs.argmax(axis=-1) == labels).astype(np.float64)
        which = bin_index(confidence, self.bins)
        self.count += np.bincount(which, minlength=self.bins)
        self.confidence += np.bincount(which, weights=confidence, minlength=self.bins)
        self.correct += np.bincount(which, weights=correct, minlength=self.bins)
        self.nll_sum += float(-logp[np.arange(labels.shape[0]), labels].sum())
        self.pixels += int(labels.shape[0])

    def rows(self) -> list[dict[str, Any]]:
        """Reliability rows in stages.common.metrics.reliability's format."""
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        rows = []
        for b in range(self.bins):
            count = int(self.count[b])
            rows.append(
                {
                    "bin": b,
                    "lower": round(float(edges[b]), DECIMALS),
                    "upper": round(float(edges[b + 1]), DECIMALS),
                    "confidence": _r(self.confidence[b] / count) if count else None,
                    "accuracy": _r(self.correct[b] / count) if count else None,
                    "count": count,
                }
            )
        return rows

    def ece(self) -> float:
        """Expected calibration error (stages.common.metrics.ece of the rows)."""
        return ece(self.rows())

    def nll(self) -> float:
        """Mean per-pixel negative log-likelihood."""
        return self.nll_sum / self.pixels if self.pixels else 0.0


@dataclass(frozen=True)
class Example:
    """One test image kept for the report: its place in the split, IoU and pixels."""

    position: int
    sample_id: str
    iou: float
    image: np.ndarray  # normalised, as the model saw it (H, W, 3)
    labels: np.ndarray  # (H, W) ints 0..C-1
    predicted: np.ndarray  # (H, W) ints 0..C-1

    def summary(self) -> dict[str, Any]:
        """What evaluation.json records of it."""
        return {"position": self.position, "id": self.sample_id, "iou": self.iou}


def per_image_iou(labels: np.ndarray, predicted: np.ndarray, classes: int = CLASSES) -> np.ndarray:
    """Mean IoU of each image of a batch (B, H, W), over the classes present in it."""
    batch = labels.shape[0]
    offset = np.arange(batch, dtype=np.int64)[:, None] * classes * classes
    flat = offset + labels.reshape(batch, -1).astype(np.int64) * classes
    flat = flat + predicted.reshape(batch, -1).astype(np.int64)
    matrices = np.bincount(flat.ravel(), minlength=batch * classes * classes)
    matrices = matrices.reshape(batch, classes, classes).astype(np.float64)
    tp = np.diagonal(matrices, axis1=1, axis2=2)
    union = matrices.sum(axis=1) + matrices.sum(axis=2) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    # Every image has labels, so at least one class has a union: nanmean is defined.
    return np.round(np.nanmean(iou, axis=1), DECIMALS)


def _ranked(ious: Sequence[float], k: int, best: bool) -> list[int]:
    # Ties go to the earlier image, so the choice never depends on anything but the data.
    order = sorted(range(len(ious)), key=lambda i: ((-ious[i] if best else ious[i]), i))
    return order[:k]


@dataclass
class Accumulator:
    """Everything evaluate measures, updated one batch at a time."""

    temperature: float
    bins: int
    examples: int
    predictions: bool = False  # keep every image's probabilities, label and input
    confusion: np.ndarray = field(init=False)
    original: CalibrationSums = field(init=False)
    calibrated: CalibrationSums = field(init=False)
    collector: PredictionCollector | None = field(init=False)
    ious: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    kept: dict[int, Example] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((CLASSES, CLASSES), np.int64)
        self.original = CalibrationSums(1.0, self.bins)
        self.calibrated = CalibrationSums(self.temperature, self.bins)
        self.collector = PredictionCollector.start(self.temperature) if self.predictions else None

    def add(
        self, logits: np.ndarray, labels: np.ndarray, images: np.ndarray, ids: Sequence[str]
    ) -> None:
        """Add a batch: logits (B, H, W, C), labels (B, H, W), images (B, H, W, 3), ids (B)."""
        logits = np.asarray(logits, np.float32)
        labels = np.asarray(labels).astype(np.int64)
        if logits.shape[:-1] != labels.shape or logits.shape[-1] != CLASSES:
            raise SourceError(
                f"the model gives logits of shape {logits.shape} for labels of shape "
                f"{labels.shape}; expected (..., {CLASSES})",
                "check params.yaml model.input_size against the trained model",
            )
        if labels.size and (labels.min() < 0 or labels.max() >= CLASSES):
            raise SourceError(f"test labels outside 0..{CLASSES - 1}", "re-run the transform stage")
        if not np.isfinite(logits).all():
            raise SourceError("the model gives non-finite logits on the test split")
        predicted = logits.argmax(axis=-1)
        self.confusion += confusion(labels, predicted, CLASSES)
        flat_logits, flat_labels = logits.reshape(-1, CLASSES), labels.reshape(-1)
        self.original.add(flat_logits, flat_labels)
        self.calibrated.add(flat_logits, flat_labels)
        start = len(self.ious)
        batch_ious = per_image_iou(labels, predicted)
        self.ious.extend(float(v) for v in batch_ious)
        self.ids.extend(str(i) for i in ids)
        if self.collector is not None:
            self.collector.add(logits, labels, images, ids)
        # Keep only the images that are, so far, among the best or worst `examples`.
        wanted = set(_ranked(self.ious, self.examples, True))
        wanted |= set(_ranked(self.ious, self.examples, False))
        for offset in range(labels.shape[0]):
            position = start + offset
            if position in wanted:
                self.kept[position] = Example(
                    position,
                    self.ids[position],
                    self.ious[position],
                    np.asarray(images[offset], np.float32),
                    labels[offset],
                    predicted[offset],
                )
        self.kept = {p: e for p, e in self.kept.items() if p in wanted}

    def result(self) -> Result:
        """The finished measures."""
        return Result(
            images=len(self.ious),
            pixels=int(self.confusion.sum()),
            confusion=self.confusion.copy(),
            scores=scores(self.confusion),
            temperature=self.temperature,
            bins=self.bins,
            reliability={"original": self.original.rows(), "calibrated": self.calibrated.rows()},
            ece={"original": self.original.ece(), "calibrated": self.calibrated.ece()},
            nll={"original": self.original.nll(), "calibrated": self.calibrated.nll()},
            best=[self.kept[p] for p in _ranked(self.ious, self.examples, True)],
            worst=[self.kept[p] for p in _ranked(self.ious, self.examples, False)],
            predictions=None if self.collector is None else self.collector.result(),
        )


@dataclass(frozen=True)
class Result:
    """The test-split measures (unrounded ECE/NLL; `scores` as stages.common.metrics rounds)."""

    images: int
    pixels: int
    confusion: np.ndarray
    scores: dict[str, Any]
    temperature: float
    bins: int
    reliability: dict[str, list[dict[str, Any]]]
    ece: dict[str, float]
    nll: dict[str, float]
    best: list[Example]
    worst: list[Example]
    predictions: Predictions | None = None  # with Accumulator(predictions=True)


def evaluate_model(
    model: Any,
    batches: Iterable[tuple[Any, Any]],
    ids: Sequence[str],
    temperature: float,
    bins: int,
    examples: int,
    *,
    predictions: bool = False,
) -> Result:
    """Run `model` (inference mode) over `batches` of (normalised images, labels) and measure;
    with `predictions`, the result also holds every image's calibrated probabilities."""
    acc = Accumulator(temperature, bins, examples, predictions)
    for images, labels in batches:
        logits = np.asarray(model(images, training=False))
        start = len(acc.ious)
        batch_ids = ids[start : start + logits.shape[0]]
        if len(batch_ids) != logits.shape[0]:
            raise SourceError(
                f"the test shards hold more images than their {len(ids)} ids",
                "re-run the transform stage",
            )
        acc.add(logits, np.asarray(labels), np.asarray(images), batch_ids)
    if len(acc.ious) != len(ids):
        raise SourceError(
            f"the test shards gave {len(acc.ious)} images but hold {len(ids)} ids",
            "re-run the transform stage",
        )
    return acc.result()


def read_sample_ids(tf: Any, files: Any) -> list[str]:
    """The `id` of every record of a split (stages.common.data.SplitFiles), in dataset order."""
    spec = {"id": tf.io.FixedLenFeature([], tf.string, default_value="")}
    data = tf.data.TFRecordDataset([str(f) for f in files.files]).take(files.count)
    data = data.map(lambda record: tf.io.parse_single_example(record, spec)["id"]).batch(256)
    return [value.decode("utf-8") for batch in data for value in batch.numpy()]


def metrics_document(result: Result) -> dict[str, Any]:
    """metrics.json's content (DVC metrics): rounded, so its bytes depend on the inputs only."""
    s = result.scores
    return {
        "split": SPLIT,
        "images": result.images,
        "pixels": result.pixels,
        "mean_iou": s["mean_iou"],
        "mean_dice": s["mean_dice"],
        "pixel_accuracy": s["pixel_accuracy"],
        "iou": dict(s["iou"]),
        "dice": dict(s["dice"]),
        "ece": {k: _r(v) for k, v in result.ece.items()},
        "nll": {k: _r(v) for k, v in result.nll.items()},
        "temperature": _r(result.temperature),
    }


def result_rows(metrics: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(metric, original model, calibrated model) rows of evaluation_result.csv.

    Temperature scaling divides the logits by one positive number, which keeps their argmax:
    every segmentation metric is the same for both models; only ECE and NLL differ.
    """
    rows: list[tuple[str, float | None, float | None]] = []
    for name in ("mean_iou", "mean_dice", "pixel_accuracy"):
        rows.append((name, metrics[name], metrics[name]))
    for kind in ("iou", "dice"):
        for cls in CLASS_NAMES:
            rows.append((f"{kind}_{cls}", metrics[kind][cls], metrics[kind][cls]))
    for name in ("ece", "nll"):
        rows.append((name, metrics[name]["original"], metrics[name]["calibrated"]))
    return rows
