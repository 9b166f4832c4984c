"""The label audit proper: cleanlab's confident learning on the out-of-fold predictions.

`cleanlab.segmentation.filter.find_label_issues` estimates, per class, how confident the model
is on pixels it agrees with (the confident thresholds), counts the pixels where it confidently
predicts another class than the given label, and marks that many of the least self-confident
pixels whose given label differs from the predicted class. An image's wrong-pixel fraction is
the share of its pixels so marked; its score is `1 - fraction`, which is exactly cleanlab's
`segmentation.rank.get_label_quality_scores(method="num_pixel_issues")` (computed here from the
one mask instead of running the estimator a second time).

Why not cleanlab's default `softmin` score: it follows an image's few worst pixels, so one small
blob the model gets confidently wrong (a thin tail, a shadow) ranks a correct label as badly as a
wholly misplaced outline. On the seeded simulation of tests/unit/stages/labels (550 images of
64x64, three worlds) the N worst by softmin held 11-15% of the N corrupted images with 3 seeds
averaged (53-60% with 1 seed); the N worst by this score held 84-91% (84-87%).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from pedigree.errors import ToolError
from stages.labels.samples import Samples

METHOD = (
    "cleanlab confident learning (segmentation.filter.find_label_issues) on out-of-fold "
    "calibrated probabilities averaged over seeds; score = 1 - the image's fraction of pixels "
    "marked as label issues (the num_pixel_issues label quality score)"
)
# find_label_issues streams pixels in batches of this many probabilities; the batching changes
# the float sums of its running thresholds, so it is fixed here rather than left to cleanlab's
# default (550 images of 64x64x3 fit in one batch: no Python loop over images).
BATCH_PROBABILITIES = 1 << 24


@dataclass(frozen=True)
class Audit:
    """Per image, in the order of Samples.ids: score (1 = no issue) and wrong-pixel fraction."""

    scores: np.ndarray  # float64 (N,)
    wrong_pixel_fraction: np.ndarray  # float64 (N,)
    cleanlab_version: str


def _cleanlab() -> tuple[ModuleType, str]:
    """cleanlab's segmentation filter, imported here only: the rest of pedigree never needs it."""
    try:
        # import_module: a plain module object for the type checker (cleanlab ships no types).
        cleanlab = importlib.import_module("cleanlab")
        segmentation_filter = importlib.import_module("cleanlab.segmentation.filter")
    except ImportError as exc:
        raise ToolError(
            f"cleanlab is not installed ({exc}): the label audit needs it",
            "pip install 'pedigree[labels]' (or images/labels/requirements.in)",
        ) from None
    return segmentation_filter, str(cleanlab.__version__)


def issue_mask(samples: Samples) -> tuple[np.ndarray, str]:
    """cleanlab's per-pixel label-issue mask, bool (N, S, S), and the cleanlab version."""
    segmentation_filter, version = _cleanlab()
    mask = segmentation_filter.find_label_issues(
        samples.labels.astype(np.int64),
        samples.probabilities,
        batch_size=BATCH_PROBABILITIES,
        n_jobs=1,  # one process: no fork, and the same result whatever the machine's cores
        verbose=False,
        downsample=1,  # cleanlab averages class *indices* when downsampling: wrong for 3 classes
    )
    return np.asarray(mask, dtype=bool), version


def audit(samples: Samples) -> Audit:
    """Score every image and estimate the share of its pixels whose label is wrong."""
    mask, version = issue_mask(samples)
    fraction = mask.reshape(len(mask), -1).mean(axis=1, dtype=np.float64)
    return Audit(scores=1.0 - fraction, wrong_pixel_fraction=fraction, cleanlab_version=version)
