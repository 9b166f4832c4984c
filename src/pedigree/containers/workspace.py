"""What a stage's container sees of the host: the project mount, the network, the variables.

The project is mounted read-write at /workspace (the stage reads its inputs and writes its
outputs and lineage there, as it does without a container); nothing else of the host is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.containers import WORKSPACE
from pedigree.envvars import ENGINE_FLAGS_ENV, EXECUTOR_ENV, NETWORK_ENV, STATE_ENV
from pedigree.gitstate import git
from pedigree.project import PARAMS_FILE

NO_NETWORK = "none"
# Variables a stage's run depends on, passed into the container by name (never by value on the
# command line, where `ps` would show an API key): pedigree's and OpenLineage's own settings,
# and the thread and determinism settings the lineage record notes.
PASSED_PREFIXES = ("PEDIGREE_", "OPENLINEAGE_")
PASSED_NAMES = (
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_DETERMINISTIC_OPS",
    "TF_CPP_MIN_LOG_LEVEL",
)
# Host-side settings of the executor itself, and the launcher's per-run state file path.
NOT_PASSED = (EXECUTOR_ENV, ENGINE_FLAGS_ENV, NETWORK_ENV, STATE_ENV)


@dataclass(frozen=True)
class Mounts:
    """The host folder mounted at /workspace, the project's folder inside the container, and
    git folders outside that mount (a worktree's common .git), mounted read-only in place."""

    source: Path
    workdir: str
    extra: tuple[Path, ...] = ()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def workspace_mounts(root: Path) -> Mounts:
    """Mount the git work tree holding the project (so the lineage record can note the commit),
    or the project alone outside git; the container starts in the project's folder."""
    root = root.resolve()
    top = git(root, "rev-parse", "--show-toplevel") or None
    source = Path(top).resolve() if top else root
    if not _inside(root, source):
        source = root
    rel = root.relative_to(source).as_posix()
    workdir = WORKSPACE if rel == "." else f"{WORKSPACE}/{rel}"
    extra: list[Path] = []
    common = git(root, "rev-parse", "--path-format=absolute", "--git-common-dir") or None
    if common is not None:
        common_dir = Path(common).resolve()
        if not _inside(common_dir, source):
            extra.append(common_dir)
    return Mounts(source, workdir, tuple(extra))


def passed_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The host variables a stage's container gets (see PASSED_PREFIXES and PASSED_NAMES)."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if (name.startswith(PASSED_PREFIXES) or name in PASSED_NAMES) and name not in NOT_PASSED
    }


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _lookup(data: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _stage_params(root: Path, stage: str) -> list[Any]:
    """The values of the params `stage` declares in dvc.yaml (whole sections or dotted keys)."""
    import yaml

    from pedigree.dvclock import read_lock_stages

    entry = read_lock_stages(root / "dvc.yaml").get(stage) or {}
    wanted: list[tuple[str, str]] = []
    for item in entry.get("params") or []:
        if isinstance(item, str):
            wanted.append((PARAMS_FILE, item))
        elif isinstance(item, dict):
            wanted += [(str(f), str(k)) for f, keys in item.items() for k in keys or []]
    loaded: dict[str, Any] = {}
    values = []
    for file, key in wanted:
        if file not in loaded:
            path = root / file
            try:
                loaded[file] = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                loaded[file] = None  # the stage itself reports an unreadable params file
        values.append(_lookup(loaded[file], key))
    return values


def stage_needs_network(root: Path, stage: str, environ: Mapping[str, str]) -> bool:
    """True when the stage must reach the network: one of its params is a URL (`scheme://...`,
    e.g. ingest's `source: https://...`), or lineage events go to an HTTP endpoint."""
    url = environ.get("OPENLINEAGE_URL", "").strip()
    if url and environ.get("OPENLINEAGE_DISABLED", "").strip().lower() != "true":
        return True
    return any("://" in text for value in _stage_params(root, stage) for text in _strings(value))


def network_mode(root: Path, stage: str, environ: Mapping[str, str]) -> str | None:
    """`--network` for the stage's container: PEDIGREE_CONTAINER_NETWORK when set; otherwise
    `none`, unless the stage needs the network (None: the engine's default network)."""
    override = environ.get(NETWORK_ENV, "").strip()
    if override:
        return override
    return None if stage_needs_network(root, stage, environ) else NO_NETWORK
