"""Reading DVC's local cache without opening the repository (which would write under .dvc/).

Objects live at `<cache>/files/md5/<first two hex>/<rest>` (DVC 3); a folder's object is its
`.dir` listing (JSON: [{"md5", "relpath"}]). Only read here: verify never writes to the cache.
"""

from __future__ import annotations

import configparser
import json
from pathlib import Path

from pedigree.errors import ToolError

DEFAULT_CACHE = Path(".dvc") / "cache"


def cache_dir(root: Path) -> Path:
    """The local cache folder: `cache.dir` from .dvc/config.local or .dvc/config, or the default."""
    for name in ("config.local", "config"):
        path = root / ".dvc" / name
        if not path.is_file():
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise ToolError(f"{path} is unreadable: {exc}", "fix it with `dvc config`") from None
        if parser.has_option("cache", "dir"):
            folder = Path(parser.get("cache", "dir"))
            # DVC resolves a relative cache.dir against the .dvc folder that holds the config.
            return folder if folder.is_absolute() else (root / ".dvc" / folder).resolve()
    return root / DEFAULT_CACHE


def object_path(cache: Path, md5: str) -> Path:
    """Where the object with this hash (file md5 or `.dir` hash) lives in the cache."""
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def read_listing(cache: Path, md5: str) -> list[dict[str, str]] | None:
    """A folder's listing from its `.dir` object, or None when the cache lacks it."""
    path = object_path(cache, md5)
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(
            f"the DVC cache object {path} is unreadable: {exc}",
            "run `dvc pull` or `dvc cache` repairs; the cache may be corrupt",
        ) from None
    return [{"md5": str(e["md5"]), "relpath": str(e["relpath"])} for e in entries]
