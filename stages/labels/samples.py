"""Combining the runs into one prediction per sample: the mean over the seeds that predicted it.

With K folds and several seeds, every sample is predicted once per seed, each time by a model
that never saw it. Averaging those predictions is a cheap ensemble: it cancels part of one
model's seed-dependent mistakes, so fewer correct labels look wrong. The given labels of a
sample do not depend on the model, so runs that disagree about them were made from different
data, and the audit stops rather than pick one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pedigree.errors import SourceError
from stages.labels.runs import INDEX_JSON, LABELS_NPY, Run

HINT = "re-run `pedigree replicate --folds K` so that every run comes from the same data"


@dataclass(frozen=True)
class Samples:
    """Every predicted sample once, in id order.

    `probabilities` is float32 (N, C, S, S), channel first as cleanlab takes it, each pixel's
    mean over the runs renormalised to sum to 1; `runs` counts the runs that predicted each
    sample; `run_names` lists every run read, sorted.
    """

    ids: tuple[str, ...]
    classes: tuple[str, ...]
    size: int
    probabilities: np.ndarray  # float32 (N, C, S, S)
    labels: np.ndarray  # uint8 (N, S, S)
    images: np.ndarray  # uint8 (N, S, S, 3)
    runs: np.ndarray  # int (N,)
    run_names: tuple[str, ...]


def _check_alike(runs: Sequence[Run]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if run.classes != first.classes:
            raise SourceError(
                f"runs {first.name} and {run.name} name different classes in {INDEX_JSON}: "
                f"{list(first.classes)} and {list(run.classes)}",
                HINT,
            )
        if run.size != first.size:
            raise SourceError(
                f"runs {first.name} and {run.name} predict at different sizes in {INDEX_JSON}: "
                f"{first.size} and {run.size}",
                HINT,
            )


def combine(runs: Sequence[Run]) -> Samples:
    """One prediction per sample id; SourceError when runs disagree about a sample's labels."""
    if not runs:
        raise SourceError("there are no prediction runs to audit", HINT)
    runs = sorted(runs, key=lambda r: r.name)
    _check_alike(runs)
    first = runs[0]
    ids = sorted({sample for run in runs for sample in run.ids})
    row = {sample: i for i, sample in enumerate(ids)}
    n, c, s = len(ids), len(first.classes), first.size
    # float64 sums in a fixed (sorted run) order: the mean is the same bytes on every run.
    total = np.zeros((n, s, s, c), dtype=np.float64)
    labels = np.zeros((n, s, s), dtype=np.uint8)
    images = np.zeros((n, s, s, 3), dtype=np.uint8)
    counts = np.zeros(n, dtype=np.int64)
    owner: list[str] = [""] * n  # the first run that predicted each sample, for messages
    for run in runs:
        where = np.array([row[sample] for sample in run.ids], dtype=np.int64)
        seen = counts[where] > 0
        if seen.any():
            _check_labels(run, where, seen, labels, owner, ids)
        fresh = where[~seen]
        labels[fresh] = run.labels[~seen]
        # Images are only drawn in the figure: the first run's is kept, a difference is no error.
        images[fresh] = run.images[~seen]
        for i in fresh:
            owner[int(i)] = run.name
        total[where] += run.probabilities
        counts[where] += 1
    mean = total / counts[:, None, None, None]
    # float16 rounding leaves sums a little off 1; cleanlab wants probabilities.
    mean /= mean.sum(axis=-1, keepdims=True)
    probabilities = np.ascontiguousarray(np.moveaxis(mean, -1, 1), dtype=np.float32)
    return Samples(
        ids=tuple(ids),
        classes=first.classes,
        size=s,
        probabilities=probabilities,
        labels=labels,
        images=images,
        runs=counts,
        run_names=tuple(run.name for run in runs),
    )


def _check_labels(
    run: Run,
    where: np.ndarray,
    seen: np.ndarray,
    labels: np.ndarray,
    owner: list[str],
    ids: list[str],
) -> None:
    """The labels of samples already read from an earlier run must be the same pixels."""
    differ = (run.labels[seen] != labels[where[seen]]).reshape(int(seen.sum()), -1).sum(axis=1)
    if differ.any():
        k = int(np.flatnonzero(differ)[0])
        index = int(where[seen][k])
        raise SourceError(
            f"sample {ids[index]!r}: {LABELS_NPY} of runs {owner[index]} and {run.name} disagree "
            f"in {int(differ[k])} pixel(s); a sample's given labels must be the same in every run",
            HINT,
        )
