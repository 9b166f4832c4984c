"""Reading DVC's stage files: dvc.lock (each stage's recorded deps, params and outs with their
content hashes) and dvc.yaml (each stage as declared), which share the `stages` mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pedigree.errors import ToolError


def read_lock_stages(lock: Path) -> dict[str, Any]:
    """The `stages` mapping of dvc.lock or dvc.yaml ({} when absent); ToolError when unreadable."""
    import yaml

    if not lock.is_file():
        return {}
    try:
        data = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ToolError(f"{lock.name} is unreadable: {exc}", "restore it from git") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    return stages if isinstance(stages, dict) else {}
