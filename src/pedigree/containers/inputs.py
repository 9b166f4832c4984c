"""What each image is built from: its Dockerfile, and the *inputs fingerprint* of the files its
build copies.

The fingerprint is one sha256 per group of files, so a stale digest can name what changed:

- `base`: images/base/Dockerfile and its locks (images/base/*.lock), the base every image is
  built FROM;
- `pedigree`: pyproject.toml and pedigree's sources under src/pedigree (what the wheel in the
  base is built from, and every image installs);
- `dockerfile`: the image's own Dockerfile;
- `lock`: the lock its Dockerfile COPYs (images/<name>/requirements.lock);
- `code`: anything else its Dockerfile COPYs from the build context (the serving image's
  predictor code under stages/).

The base image has only the first two groups: they are its Dockerfile, locks and sources.

Left out on purpose:

- the git revision (and the other OCI labels): `make images` passes it as a build argument, so
  every commit changes the label, and so the image digest, without changing what runs. The
  fingerprint says whether what runs is what was pushed; the pushed record keeps the revision
  beside it, for the reader.
- README.md: the base's wheel build copies it, but only into the wheel's metadata text.
- the base's `PYTHON_IMAGE` (it is pinned by digest in images/base/Dockerfile, which is
  fingerprinted; an offline `--python-image` build is a local experiment, not a release).

Pure reads of files (and `git ls-files`): no container engine is needed, so `pedigree check`
can compare a pushed record with the checkout anywhere.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.atomic import sha256_file
from pedigree.containers import BASE
from pedigree.containers.dockerfile import (
    BASE_DOCKERFILE,
    BASE_IMAGE_DIR,
    REPLICATE,
    SERVE,
    replicate_dockerfile_path,
    serve_dockerfile_path,
)
from pedigree.gitstate import git

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec

PEDIGREE_SOURCES = "src/pedigree"
PYPROJECT = "pyproject.toml"
# Without git, the files the wheel is built from: modules, the py.typed marker, package data.
_SOURCE_SUFFIXES = (".py", ".typed", ".json")
# What .dockerignore keeps out of every build context.
_IGNORED_PARTS = ("__pycache__",)
_IGNORED_SUFFIXES = (".pyc", ".egg-info")
GROUPS = ("base", "pedigree", "dockerfile", "lock", "code")


def image_dockerfiles(spec: PipelineSpec) -> dict[str, str]:
    """Image name -> repo-relative Dockerfile, in build order: the base, every stage, the
    serving image (spec `serve:`), the replicate image (`spec.replicate.folds`)."""
    images = {BASE: BASE_DOCKERFILE}
    images.update({s.name: f"{s.image_dir}/Dockerfile" for s in spec.stages})
    if spec.spec.serve is not None:
        images[SERVE] = serve_dockerfile_path(spec.spec.serve)
    if spec.folds is not None:
        images[REPLICATE] = replicate_dockerfile_path(spec.folds)
    return images


def copied_sources(dockerfile_text: str) -> list[str]:
    """The build-context paths a Dockerfile's COPY (and ADD) instructions read, in order;
    `COPY --from=...` copies from another build stage and is left out."""
    sources: list[str] = []
    for line in dockerfile_text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) < 2 or words[0].upper() not in ("COPY", "ADD"):
            continue
        try:
            args = shlex.split(words[1])
        except ValueError:
            continue
        if any(a.startswith("--from") for a in args):
            continue
        paths = [a for a in args if not a.startswith("--")]
        sources += [p.rstrip("/") or "." for p in paths[:-1]]  # the last one is the destination
    return sources


def _ignored(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in _IGNORED_PARTS for p in parts) or rel.endswith(_IGNORED_SUFFIXES)


def _files_under(root: Path, rel: str) -> list[str]:
    """`rel` itself when it is a file, else every file below it (as the build context holds
    them: no __pycache__, no *.pyc); [] when it does not exist."""
    path = root / rel
    if path.is_file():
        return [rel]
    if not path.is_dir():
        return []
    found = (p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file())
    return sorted(f for f in found if not _ignored(f))


def pedigree_sources(root: Path) -> list[str]:
    """pyproject.toml and the files of src/pedigree: those git tracks or would track (untracked
    but not ignored: a new module is in the build too); without git, every module, py.typed and
    package-data file. Never __pycache__."""
    files = [PYPROJECT] if (root / PYPROJECT).is_file() else []
    listed = git(
        root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", PEDIGREE_SOURCES
    )
    if listed is None:
        sources = [f for f in _files_under(root, PEDIGREE_SOURCES) if f.endswith(_SOURCE_SUFFIXES)]
    else:  # --cached also lists tracked files deleted from the work tree: they are not built
        sources = [f for f in listed.split("\0") if f and (root / f).is_file() and not _ignored(f)]
    return files + sorted(set(sources))


def group_digest(root: Path, files: list[str]) -> str:
    """sha256 over each file's path and content sha256, in path order; a listed file that does
    not exist counts as `missing` (so removing it changes the digest too)."""
    digest = hashlib.sha256()
    for rel in sorted(set(files)):
        path = root / rel
        content = sha256_file(path) if path.is_file() else "missing"
        digest.update(f"{rel}\0{content}\n".encode())
    return digest.hexdigest()


def _base_files(root: Path) -> list[str]:
    locks = sorted(p.relative_to(root).as_posix() for p in (root / BASE_IMAGE_DIR).glob("*.lock"))
    return [BASE_DOCKERFILE, *locks]


def images_inputs(root: Path, dockerfiles: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The inputs fingerprint of each image (name -> its Dockerfile): name -> group -> sha256.
    The groups every image shares (base, pedigree) are hashed once."""
    shared = {
        "base": group_digest(root, _base_files(root)),
        "pedigree": group_digest(root, pedigree_sources(root)),
    }
    return {name: {**shared, **_own_groups(root, name, d)} for name, d in dockerfiles.items()}


def image_inputs(root: Path, name: str, dockerfile: str) -> dict[str, str]:
    """The inputs fingerprint of image `name` built from `dockerfile`: group -> sha256."""
    return images_inputs(root, {name: dockerfile})[name]


def _own_groups(root: Path, name: str, dockerfile: str) -> dict[str, str]:
    """The groups of what image `name`'s own Dockerfile copies (none for the base: its files
    are the shared `base` group)."""
    groups: dict[str, str] = {}
    if name == BASE:
        return groups
    path = root / dockerfile
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    copied = copied_sources(text)
    locks = [s for s in copied if s.endswith(".lock")]
    code = [f for s in copied if not s.endswith(".lock") for f in _files_under(root, s) or [s]]
    groups["dockerfile"] = group_digest(root, [dockerfile])
    groups["lock"] = group_digest(root, locks)
    if code:
        groups["code"] = group_digest(root, code)
    return groups


def changed_groups(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """The groups whose digest differs (or that only one side has), in GROUPS order."""
    names = [g for g in GROUPS if g in recorded or g in current]
    names += sorted((set(recorded) | set(current)) - set(GROUPS))
    return [g for g in names if recorded.get(g) != current.get(g)]
