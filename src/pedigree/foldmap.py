"""A fold's group -> split map: what `pedigree replicate --folds` writes for each fold and a
pipeline's splits stage reads (through `pedigree.stagekit.read_fold_map`).

The file (schema pedigree.fold-assignment/v1), named by its own sha256 and handed to the stage
through the params key `spec.replicate.folds.assignment`:

  {"schema": "pedigree.fold-assignment/v1", "k": 5, "fold": 2, "plan": "<sha256 of the plan>",
   "splits": {"test": [groups...], "train": [...], "validation": [...], ...}}

Every group listed goes to its split; a group the map does not list (the fixed test split's) must
be left out of every split. The format lives here, beside the errors only, so that the writer
(pedigree.replicate) and every stage agree on it without importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pedigree.errors import SourceError

SCHEMA = "pedigree.fold-assignment/v1"
HINT = "let `pedigree replicate --folds` write it, or unset the params key that names it"


def read_fold_map(path: Path, splits: Sequence[str], key: str = "") -> dict[str, str]:
    """group -> split from the fold map at `path`, whose splits must be among `splits` (the
    stage's own); SourceError saying what is wrong, naming the file (and `key`, the params key
    that named it)."""
    what = f"({key})" if key else "(a fold's split map)"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path} {what} does not exist", HINT) from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path} {what} is unreadable: {exc}", HINT) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise SourceError(f"{path} is not a {SCHEMA} file", HINT)
    parts = doc.get("splits")
    if not isinstance(parts, dict):
        raise SourceError(f"{path} [splits]: expected a map of split -> group ids", HINT)
    found: dict[str, str] = {}
    for split, groups in sorted(parts.items()):
        if split not in splits:
            raise SourceError(
                f"{path} [splits.{split}]: not a split of this stage ({', '.join(splits)})", HINT
            )
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise SourceError(f"{path} [splits.{split}]: expected a list of group ids", HINT)
        for group in groups:
            if group in found:
                where = (
                    f"listed twice in {split}"
                    if found[group] == split
                    else f"in both {found[group]} and {split}"
                )
                raise SourceError(f"{path}: group '{group}' is {where}", HINT)
            found[group] = split
    return found
