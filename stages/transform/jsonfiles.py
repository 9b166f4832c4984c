"""Stable JSON output: the same document always gives the same bytes.

Sorted keys, fixed separators, ASCII only and a trailing newline, so outputs hash identically
across runs, machines and Python versions (DVC and provenance compare bytes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def dumps_document(document: Any) -> str:
    """`document` as indented, key-sorted JSON text ending in a newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def dumps_line(document: Any) -> str:
    """`document` as one compact, key-sorted JSON line ending in a newline (for .jsonl)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def write_json(path: Path, document: Any) -> None:
    """Write `document` to `path` as stable JSON (see dumps_document)."""
    path.write_text(dumps_document(document), encoding="utf-8")
