"""Environment locks: each stage's `requirements.lock` must agree with the combined lock the
local .venv is installed from, and the running environment must match it. Otherwise a stage's
cache key (which hashes its lock) would not describe the environment it really ran in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

COMBINED_LOCK = "images/requirements.lock"
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;\\]+)\s*(;(?P<marker>[^\\]*))?"
)


@dataclass(frozen=True)
class Pin:
    """One `name==version` line of a lock, with its environment marker if any."""

    name: str
    version: str
    marker: str | None
    line: int

    def applies(self) -> bool:
        """True when the marker (if any) holds for this interpreter and platform."""
        if not self.marker:
            return True
        try:
            return Marker(self.marker).evaluate()
        except InvalidMarker:
            return True


def read_lock(path: Path) -> dict[str, Pin]:
    """Pins of a requirements lock, keyed by canonical package name."""
    pins: dict[str, Pin] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _PIN.match(line.strip())
        if match:
            name = canonicalize_name(match["name"])
            marker = (match["marker"] or "").strip() or None
            pins[name] = Pin(name, match["version"], marker, number)
    return pins


def disagreements(stage_lock: Path, combined: dict[str, Pin], display: str) -> list[str]:
    """Lines saying where `stage_lock` pins a version the combined lock does not."""
    found = []
    for name, pin in read_lock(stage_lock).items():
        other = combined.get(name)
        if other is None:
            found.append(f"{display}:{pin.line}: {name}=={pin.version} is not in {COMBINED_LOCK}")
        elif other.version != pin.version:
            found.append(
                f"{display}:{pin.line}: {name}=={pin.version} but {COMBINED_LOCK}:{other.line} "
                f"pins {other.version}"
            )
    return found


def missing_pins(target: Path, display: str, sources: list[tuple[str, Path]]) -> list[str]:
    """Lines saying which packages of the locks `sources` ((display, path), in order) the lock
    `target` lacks, or pins at another version: a lock meant to hold the union of theirs (the
    replicate image's) must install each package as its own image does."""
    pins = read_lock(target)
    found = []
    for source, path in sources:
        for name, pin in read_lock(path).items():
            have = pins.get(name)
            if have is None:
                found.append(
                    f"{display}: {name}=={pin.version} is missing (pinned by {source}:{pin.line})"
                )
            elif have.version != pin.version:
                found.append(
                    f"{display}:{have.line}: {name}=={have.version} but {source}:{pin.line} "
                    f"pins {pin.version}"
                )
    return found


def environment_mismatches(combined: dict[str, Pin]) -> list[str]:
    """Lines saying where the running environment differs from the combined lock."""
    found = []
    for name, pin in sorted(combined.items()):
        if not pin.applies():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            found.append(f"{name}=={pin.version} is locked but not installed")
            continue
        if installed != pin.version:
            found.append(f"{name} {installed} is installed but the lock pins {pin.version}")
    return found


# --- compiling locks with uv (`pedigree lock`) -----------------------------------------------

COMBINED_IN = "images/requirements.in"
# Locks of images that are no stage: the base image's, the label audit's (the command
# `pedigree replicate --folds` runs, spec.replicate.folds.labels; cleanlab stays out of the core)
# and the replicate image's (spec.replicate.folds.image's default folder: the union of the fold
# stages' locks and the label audit's, what a cluster runs the folds in).
LABELS_LOCK = "images/labels/requirements.lock"
RUNNER_LOCK = "images/base/requirements.lock"  # the step runner's (dvc, dvc-s3, kubernetes)
EXTRA_LOCKS = (
    "images/base/requirements",
    "images/base/build-requirements",
    "images/labels/requirements",
    "images/replicate/requirements",
)
COMPILE_COMMAND = "pedigree lock"


def shared_locks(root: Path, also: tuple[str, ...] = ()) -> list[str]:
    """The locks of EXTRA_LOCKS, then `also` (the replicate image's, when the spec moves its
    folder), that exist under `root`: `pedigree check` holds each to the combined lock."""
    locks = [*(f"{stem}.lock" for stem in EXTRA_LOCKS), *also]
    return [lock for lock in dict.fromkeys(locks) if (root / lock).is_file()]


@dataclass(frozen=True)
class LockJob:
    """One `uv pip compile`: its inputs, the constraint (if any) and the lock it writes."""

    inputs: tuple[str, ...]
    output: str
    constraint: str | None
    extras: tuple[str, ...] = ()


def lock_jobs(
    root: Path, image_dirs: dict[str, str], extras: tuple[str, ...] = ()
) -> list[LockJob]:
    """The compiles, in order: the combined lock (pyproject.toml when there is one, with
    `extras`, and images/requirements.in), then each stage's lock in `image_dirs` (stage ->
    image folder) constrained by it, then the shared image locks that have a `.in` file."""
    inputs = []
    if (root / "pyproject.toml").is_file():
        inputs.append("pyproject.toml")
    if (root / COMBINED_IN).is_file():
        inputs.append(COMBINED_IN)
    jobs = [LockJob(tuple(inputs), COMBINED_LOCK, None, extras)]
    for folder in image_dirs.values():
        jobs.append(
            LockJob((f"{folder}/requirements.in",), f"{folder}/requirements.lock", COMBINED_LOCK)
        )
    for stem in EXTRA_LOCKS:
        if (root / f"{stem}.in").is_file():
            jobs.append(LockJob((f"{stem}.in",), f"{stem}.lock", COMBINED_LOCK))
    return jobs


def uv_argv(uv: str, job: LockJob, python_version: str) -> list[str]:
    """The `uv pip compile` command line of `job`: hash-pinned, for `python_version`."""
    argv = [
        uv,
        "pip",
        "compile",
        "--quiet",
        "--python-version",
        python_version,
        "--generate-hashes",
        "--custom-compile-command",
        COMPILE_COMMAND,
        *job.inputs,
    ]
    for extra in job.extras:
        argv += ["--extra", extra]
    if job.constraint:
        argv += ["-c", job.constraint]
    return [*argv, "-o", job.output]


_REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _lines(path: Path) -> list[tuple[str, str | None]]:
    """(line without its comment, the file a `-r FILE` line includes or None), per line."""
    lines = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        include = None
        if line.startswith(("-r ", "--requirement ")):
            include = line.split(None, 1)[1].strip()
        lines.append((line, include))
    return lines


def requirement_files(path: Path, _seen: frozenset[Path] = frozenset()) -> tuple[Path, ...]:
    """`path` (a requirements `.in` file) and every file it includes with `-r FILE`, those that
    exist, each once."""
    path = path.resolve()
    if path in _seen or not path.is_file():
        return ()
    files = [path]
    for _, include in _lines(path):
        if include is not None:
            files += requirement_files(path.parent / include, _seen | {path})
    return tuple(dict.fromkeys(files))


def requirement_names(path: Path, _seen: frozenset[Path] = frozenset()) -> tuple[str, ...]:
    """Canonical names of the packages a requirements `.in` file names (following `-r FILE`
    includes; options, constraints and comments skipped); () when the file is missing."""
    path = path.resolve()
    if path in _seen or not path.is_file():
        return ()
    names: list[str] = []
    for line, include in _lines(path):
        if include is not None:
            names += requirement_names(path.parent / include, _seen | {path})
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match and not line.startswith("#"):
            names.append(canonicalize_name(match[1]))
    return tuple(dict.fromkeys(names))
