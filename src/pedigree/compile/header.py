"""The header of generated files and the stamp that says whether dvc.yaml is current.

Kept free of heavy imports (no pydantic, no yaml): `pedigree run` reads the stamp on every
start, and a no-op run must cost no more than a no-op `dvc repro`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pedigree import __version__

# `pedigree.project.HEADER_RE` reads the spec path back from this line (`open_project`).
HEADER = (
    "# generated from {spec} by pedigree, do not edit: change {spec} and run "
    "`pedigree compile --target dvc`\n"
)
SHARED_CODE = "stages/common"
STAMP = Path(".pedigree") / "compiled.json"
_COMPILER = Path(__file__).with_name("dvc.py")


def fingerprint(root: Path, spec_path: str) -> str | None:
    """Hash of what dvc.yaml is compiled from, and of dvc.yaml; None if a file is missing."""
    digest = hashlib.sha256(__version__.encode())
    try:
        for path in (_COMPILER, root / spec_path, root / "dvc.yaml"):
            digest.update(path.read_bytes())
            digest.update(b"\0")
    except OSError:
        return None
    digest.update(b"shared" if (root / SHARED_CODE).is_dir() else b"-")
    return digest.hexdigest()


def stamp_is_current(root: Path, spec_path: str) -> bool:
    """True when dvc.yaml was compiled from the spec as it is now (and nothing changed since)."""
    try:
        recorded = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    current = fingerprint(root, spec_path)
    return current is not None and isinstance(recorded, dict) and recorded.get(spec_path) == current


def write_stamp(root: Path, spec_path: str) -> None:
    """Remember that dvc.yaml is current for the spec (local state, not versioned)."""
    current = fingerprint(root, spec_path)
    if current is None:
        return
    path = root / STAMP
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({spec_path: current}, sort_keys=True) + "\n", encoding="utf-8")
