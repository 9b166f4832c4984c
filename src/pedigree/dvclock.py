"""Reading DVC's stage files: dvc.lock (each stage's recorded deps, params and outs with their
content hashes) and dvc.yaml (each stage as declared), which share the `stages` mapping.

Both are files a person can edit or break, so reading them is bounded (size, regular file) and
anything malformed is one located ToolError, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pedigree.atomic import BoundedReadError, read_bounded
from pedigree.errors import ToolError

# dvc.lock lists each output once (a folder is one entry), so even a large pipeline is a few
# hundred kilobytes; far more is not a DVC stage file.
MAX_LOCK_BYTES = 8 << 20


def _hint(lock: Path) -> str:
    if lock.name == "dvc.yaml":
        return "regenerate it with `pedigree compile --target dvc`, or restore it from git"
    return f"restore it with `git checkout {lock.name}` (or delete it and re-run `pedigree run`)"


def read_lock_stages(lock: Path) -> dict[str, Any]:
    """The `stages` mapping of dvc.lock or dvc.yaml ({} when absent); ToolError when unreadable."""
    import yaml

    if not lock.exists() and not lock.is_symlink():
        return {}
    name, hint = lock.name, _hint(lock)
    try:
        raw = read_bounded(lock, MAX_LOCK_BYTES)
    except BoundedReadError as exc:
        raise ToolError(f"{name}: not a DVC stage file: the file {exc}", hint) from None
    except OSError as exc:
        raise ToolError(f"{name}: cannot read: {exc.strerror or exc}", hint) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ToolError(
            f"{name}:{line}: not a DVC stage file: not UTF-8 (byte 0x{raw[exc.start]:02x})", hint
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        what = ", ".join(x for x in (exc.context, exc.problem) if x) or "malformed YAML"
        raise ToolError(f"{where}: not a DVC stage file: malformed YAML: {what}", hint) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ToolError(f"{name}: not a DVC stage file: {detail}", hint) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ToolError(
            f"{name}: not a DVC stage file: the top level is a {kind}, not a mapping", hint
        )
    stages = data.get("stages")
    if stages is None:
        return {}
    if not isinstance(stages, dict):
        kind = type(stages).__name__
        raise ToolError(f"{name}: not a DVC stage file: `stages` is a {kind}, not a mapping", hint)
    return stages
