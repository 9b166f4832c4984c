"""What tune reads: the train and validation splits of data/prepared, and nothing else.

The split access rule lives in `SplitReader` (stages/common/data.py); tune builds its reader with
`MODEL_SELECTION` so that calibration and test are refused before a byte is read, whatever this
stage's code asks for. Everything here is plain JSON reading: it runs before TensorFlow starts,
so a missing input fails in a second rather than after the framework has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from stages.common.data import MODEL_SELECTION, STATS, SplitFiles, SplitReader

STAGE = "tune"
# The splits tune opens, in order. Model selection must never see calibration or test data.
READS: tuple[str, str] = ("train", "validation")
HINT = "run the transform stage first (pedigree run, or python -m stages.transform)"


@dataclass(frozen=True)
class Inputs:
    """The opened splits and the train-split normalisation statistics."""

    train: SplitFiles
    validation: SplitFiles
    stats: dict[str, Any]


def split_reader(prepared: Path) -> SplitReader:
    """The only reader tune uses: it allows the model-selection splits and refuses the rest."""
    return SplitReader(prepared, MODEL_SELECTION, STAGE)


def open_inputs(prepared: Path) -> Inputs:
    """Open tune's splits and stats; SourceError (with a hint) when anything is missing or empty."""
    prepared = Path(prepared)
    if not prepared.is_dir():
        raise SourceError(f"{prepared} does not exist or is not a folder", HINT)
    if not (prepared / STATS).is_file():
        raise SourceError(f"{prepared / STATS} is missing", HINT)
    reader = split_reader(prepared)
    stats = reader.stats()
    train_split, validation_split = READS
    train, validation = reader.files(train_split), reader.files(validation_split)
    empty = [split.split for split in (train, validation) if split.count <= 0]
    if empty:
        raise SourceError(
            f"the {' and '.join(empty)} split(s) of {prepared} hold no samples",
            "tune needs both train and validation samples: add data or change transform.split",
        )
    return Inputs(train, validation, stats)
