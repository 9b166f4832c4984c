"""Re-derive the vendored Argo Workflows files from a checkout of the recorded upstream tag.

Usage (from the repository root):

    .venv/bin/python cluster-conf/base/argo-workflows/vendor.py --verify
    .venv/bin/python cluster-conf/base/argo-workflows/vendor.py --check SOURCE
    .venv/bin/python cluster-conf/base/argo-workflows/vendor.py --write SOURCE [--tag TAG]

SOURCE is one of
  - a git directory of argoproj/argo-workflows (bare, or the `.git` of a clone): the files are
    read from the commit the tag names, whatever is checked out;
  - a git work tree (a clone): its HEAD must be the recorded commit (`git checkout TAG` first);
  - a plain directory laid out like the repository (an unpacked release archive): the commit
    cannot be verified there, so the script says so and compares the files only.

`--verify` needs no source: every vendored file's sha256 must equal the one UPSTREAM.json records,
and nothing unrecorded may sit under upstream/. `--check` also compares each vendored file
byte-for-byte with the source and UPSTREAM.json with what `--write` would record. `--write`
rewrites upstream/ and UPSTREAM.json from the source (after reading everything first, so a
failure leaves the old files in place); `--tag` moves to another tag (git sources only).

Exit status: 0 in sync, 3 vendored files differ from upstream (stale), 2 bad arguments or
source, 4 git failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
UPSTREAM_DIR = "upstream"
RECORD = "UPSTREAM.json"
REPOSITORY = "https://github.com/argoproj/argo-workflows"
# The images the install runs. Upstream publishes them by tag on quay.io; its repository holds
# no digests for them, so the tag is the pin (see README.md).
IMAGES = ("quay.io/argoproj/workflow-controller", "quay.io/argoproj/argoexec")
# What we take from upstream, by upstream path, vendored at the same path under upstream/.
# The namespace-install kustomization itself is not taken: it also pulls in the full CRDs and
# the argo-server, which we do not install (our kustomization.yaml composes the pieces).
FILES = (
    "LICENSE",
    "manifests/base/crds/minimal/kustomization.yaml",
    "manifests/base/crds/minimal/argoproj.io_clusterworkflowtemplates.yaml",
    "manifests/base/crds/minimal/argoproj.io_cronworkflows.yaml",
    "manifests/base/crds/minimal/argoproj.io_workflowartifactgctasks.yaml",
    "manifests/base/crds/minimal/argoproj.io_workfloweventbindings.yaml",
    "manifests/base/crds/minimal/argoproj.io_workflows.yaml",
    "manifests/base/crds/minimal/argoproj.io_workflowtaskresults.yaml",
    "manifests/base/crds/minimal/argoproj.io_workflowtasksets.yaml",
    "manifests/base/crds/minimal/argoproj.io_workflowtemplates.yaml",
    "manifests/base/workflow-controller/kustomization.yaml",
    "manifests/base/workflow-controller/workflow-controller-configmap.yaml",
    "manifests/base/workflow-controller/workflow-controller-deployment.yaml",
    "manifests/base/workflow-controller/workflow-controller-priorityclass.yaml",
    "manifests/base/workflow-controller/workflow-controller-sa.yaml",
    "manifests/namespace-install/overlays/workflow-controller-deployment.yaml",
    "manifests/namespace-install/workflow-controller-rbac/kustomization.yaml",
    "manifests/namespace-install/workflow-controller-rbac/workflow-controller-role.yaml",
    "manifests/namespace-install/workflow-controller-rbac/workflow-controller-rolebinding.yaml",
)

EXIT_OK, EXIT_STALE, EXIT_USAGE, EXIT_TOOL = 0, 3, 2, 4


class VendorError(Exception):
    """A problem with the arguments, the source or git; `code` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Upstream:
    """The upstream files as the source holds them, and where they come from."""

    tag: str
    commit: str | None  # None: a plain directory, whose commit cannot be known
    files: dict[str, bytes]


def sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def load_record(root: Path = HERE) -> dict[str, Any]:
    """UPSTREAM.json of the vendored folder `root`."""
    path = root / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VendorError(
            f"{path}: cannot read the record ({exc}); restore it from git or run --write"
        ) from exc
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, list) or not all(
        isinstance(e, dict) and isinstance(e.get("vendored_as"), str) and "sha256" in e
        for e in files
    ):
        raise VendorError(
            f"{path}: `files` must list {{path, vendored_as, sha256}} entries; "
            "restore it from git or run --write"
        )
    if not isinstance(record.get("tag"), str):
        raise VendorError(f"{path}: no `tag`; restore it from git or run --write")
    return record


def make_record(upstream: Upstream) -> dict[str, object]:
    """The UPSTREAM.json content for `upstream` (what --write records)."""
    return {
        "repository": REPOSITORY,
        "tag": upstream.tag,
        "commit": upstream.commit,
        "images": {image: upstream.tag for image in IMAGES},
        "files": [
            {"path": path, "vendored_as": f"{UPSTREAM_DIR}/{path}", "sha256": sha256(data)}
            for path, data in sorted(upstream.files.items())
        ],
    }


def _git(args: list[str]) -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VendorError(f"git {' '.join(args)}: {exc}; install git", EXIT_TOOL) from exc
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise VendorError(f"git {' '.join(args)} failed: {stderr}", EXIT_TOOL)
    return done.stdout


def _resolve_tag(where: list[str], tag: str) -> str:
    """The commit `tag` names in the repository `where` points git at (-C DIR or --git-dir DIR)."""
    try:
        out = _git([*where, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"])
        return out.decode().strip()
    except VendorError as exc:
        raise VendorError(
            f"{where[-1]}: has no tag {tag}; fetch upstream's tags (`git fetch --tags`) "
            "or name a tag it has"
        ) from exc


def read_source(source: Path, tag: str, commit: str | None) -> Upstream:
    """The FILES at `tag` from `source` (see the module docstring for what it may be).

    `commit` is the recorded one: a git source must resolve `tag` to it (None skips this, for
    --write moving to a new tag).
    """
    if not source.is_dir():
        raise VendorError(f"{source}: not a directory; pass a checkout or git dir of the repo")
    if (source / ".git").exists():  # a work tree: read the files on disk at HEAD
        head = _git(["-C", str(source), "rev-parse", "HEAD"]).decode().strip()
        wanted = commit or _resolve_tag(["-C", str(source)], tag)
        if head != wanted:
            raise VendorError(
                f"{source}: HEAD is {head}, not {wanted} ({tag}); "
                f"run `git -C {source} checkout {tag}` or pass its .git directory"
            )
        return Upstream(tag, head, _read_plain(source))
    if (source / "objects").is_dir() and (source / "HEAD").is_file():  # a git directory
        found = _resolve_tag(["--git-dir", str(source)], tag)
        if commit is not None and found != commit:
            raise VendorError(
                f"{source}: tag {tag} names {found}, but {RECORD} records {commit}: "
                "upstream moved the tag; check why, then run --write to record it"
            )
        files = {
            p: _git(["--git-dir", str(source), "cat-file", "blob", f"{found}:{p}"]) for p in FILES
        }
        return Upstream(tag, found, files)
    print(f"note: {source} is not a git checkout: the commit cannot be verified", file=sys.stderr)
    return Upstream(tag, commit, _read_plain(source))


def _read_plain(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in FILES:
        try:
            files[path] = (root / path).read_bytes()
        except OSError as exc:
            raise VendorError(
                f"{root / path}: cannot read it ({exc}); is {root} the repo?"
            ) from exc
    return files


def verify(root: Path = HERE) -> list[str]:
    """Differences between the vendored files under `root` and the sha256s UPSTREAM.json records."""
    record = load_record(root)
    problems: list[str] = []
    recorded = {str(e["vendored_as"]): str(e["sha256"]) for e in record["files"]}
    for rel, digest in sorted(recorded.items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing (recorded in {RECORD})")
        elif sha256(path.read_bytes()) != digest:
            problems.append(f"{rel}: sha256 differs from {RECORD} (edited by hand?)")
    for path in sorted((root / UPSTREAM_DIR).rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in recorded:
            problems.append(f"{rel}: not recorded in {RECORD}; our changes belong in patches/")
    return problems


def check(upstream: Upstream, root: Path = HERE) -> list[str]:
    """Differences between the vendored folder `root` and `upstream`: files and record."""
    problems = verify(root)
    for path, data in sorted(upstream.files.items()):
        local = root / UPSTREAM_DIR / path
        if local.is_file() and local.read_bytes() != data:
            problems.append(f"{UPSTREAM_DIR}/{path}: differs from {upstream.tag}:{path}")
    record = load_record(root)
    wanted = make_record(upstream)
    if record["files"] != wanted["files"]:
        # Name the entries only: the files themselves are reported above.
        theirs = {json.dumps(e, sort_keys=True) for e in wanted["files"]}
        stale = sorted(
            str(e.get("path"))
            for e in record["files"]
            if json.dumps(e, sort_keys=True) not in theirs
        )
        problems.append(
            f"{RECORD}: `files` entries differ from upstream's: {', '.join(stale) or 'too few'}"
        )
    for key in ("repository", "tag", "commit", "images"):
        if record.get(key) != wanted[key]:
            problems.append(
                f"{RECORD}: `{key}` is {record.get(key)!r}, upstream gives {wanted[key]!r}"
            )
    return sorted(set(problems))


def write(upstream: Upstream, root: Path = HERE) -> None:
    """Replace upstream/ and UPSTREAM.json under `root` by `upstream` (all read beforehand)."""
    if upstream.commit is None:
        raise VendorError("--write needs a git source, so the commit can be recorded")
    for path, data in upstream.files.items():
        _replace(root / UPSTREAM_DIR / path, data)
    for path in sorted((root / UPSTREAM_DIR).rglob("*"), reverse=True):
        rel = path.relative_to(root / UPSTREAM_DIR).as_posix()
        if path.is_file() and rel not in upstream.files:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    _replace(root / RECORD, (json.dumps(make_record(upstream), indent=2) + "\n").encode())


def _replace(path: Path, data: bytes) -> None:
    # Through a temporary file in the same folder, so no file is ever left half-written.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--verify", action="store_true", help="sha256s only, no source needed")
    mode.add_argument("--check", metavar="SOURCE", type=Path, help="compare with SOURCE")
    mode.add_argument("--write", metavar="SOURCE", type=Path, help="rewrite from SOURCE")
    parser.add_argument("--tag", help="with --write: vendor this tag instead of the recorded one")
    parser.add_argument("--root", type=Path, default=HERE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        record = load_record(args.root)
        tag = str(record["tag"])
        commit = str(record["commit"]) if record.get("commit") else None
        if args.tag and not args.write:
            raise VendorError("--tag goes with --write only")
        if args.verify:
            problems = verify(args.root)
        elif args.check:
            problems = check(read_source(args.check, tag, commit), args.root)
        else:
            moved = args.tag is not None and args.tag != tag
            upstream = read_source(args.write, args.tag or tag, None if moved else commit)
            write(upstream, args.root)
            print(f"vendored {len(upstream.files)} files of {upstream.tag} ({upstream.commit})")
            return EXIT_OK
    except VendorError as exc:
        print(f"vendor.py: {exc}", file=sys.stderr)
        return exc.code
    for problem in problems:
        print(f"vendor.py: {problem}", file=sys.stderr)
    if problems:
        print(
            "vendor.py: out of sync with upstream: run --write SOURCE to re-vendor", file=sys.stderr
        )
        return EXIT_STALE
    print(f"in sync with {tag} ({commit}): {len(record['files'])} files")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
