"""`make images PUSH=<registry prefix>`: push the built images and record the registry's digests.

Each built image but the base (a cluster never pulls it: the others are built FROM it) is
pushed as `<prefix>/<name>:<version>`, and the digest the *registry* returned is recorded: the
local build's digest differs (the engine recompresses the layers on push), and only the
registry's is one a cluster can pull. How each engine tells it:

- podman: `podman push --digestfile FILE pedigree/<name>:<v> <prefix>/<name>:<v>` writes it;
- docker has no `--digestfile` and pushes only what is tagged with the destination:
  `docker tag`, `docker push`, then the pushed repository's entry of
  `docker image inspect --format '{{json .RepoDigests}}'`.

The record (`cluster-conf/images/pushed.yaml`) and the component that pins the digests
(`cluster-conf/images/kustomization.yaml`, see `pedigree.containers.digests`) are written only
once every push succeeded, each atomically: a failed push leaves both as they were.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pedigree.containers import BASE, IMAGE_NAMESPACE
from pedigree.containers.digests import DIGEST, repository_of
from pedigree.containers.engine import Engine
from pedigree.errors import PedigreeError, ToolError

PUSH_TIMEOUT = 60 * 60.0  # a multi-GB layer over a slow uplink
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# OCI distribution's reference grammar, for a repository prefix: [host[:port]/]path/...
_PREFIX = re.compile(rf"(?:{_HOST}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")
EXAMPLE = "registry.example.com/pedigree"


def registry_prefix(value: str) -> str:
    """`value` checked as the repository prefix images are pushed under (`PUSH=`): a registry
    host, optionally with a port, and a path, e.g. registry.example.com/pedigree. PedigreeError
    saying what is wrong and what to write instead."""
    prefix = value.strip()
    fix = f"give the registry host and path the images go under, e.g. PUSH={EXAMPLE}"
    problem: str | None = None
    if not prefix:
        problem = "is empty"
    elif "://" in prefix:
        scheme, rest = prefix.split("://", 1)
        problem = f"has a scheme ({scheme}://): engines push over https without one"
        fix = f"drop it: PUSH={rest.rstrip('/') or EXAMPLE}"
    elif "@" in prefix:
        problem = "holds a digest (@...): the registry returns each image's digest on push"
        fix = f"drop it: PUSH={prefix.split('@', 1)[0]}"
    elif prefix.endswith("/"):
        problem = "ends with '/'"
        fix = f"drop it: PUSH={prefix.rstrip('/')}"
    elif "/" in prefix and ":" in prefix.rsplit("/", 1)[1]:
        problem = "ends with a tag: each image is pushed with its own version as the tag"
        fix = f"drop it: PUSH={prefix.rsplit(':', 1)[0]}"
    elif "/" not in prefix and ":" in prefix:
        problem = "is a registry host without a path (or a tag)"
        fix = f"add the path the images go under, e.g. PUSH={prefix}/pedigree"
    elif not _PREFIX.fullmatch(prefix):
        problem = (
            "is not a repository prefix: after the host, paths are lowercase letters, digits "
            "and single separators (. _ -) between them"
        )
    if problem:
        raise PedigreeError(f"registry prefix '{value}' {problem}", fix)
    return prefix


def destination(prefix: str, tag: str) -> str:
    """Where local `pedigree/<name>:<version>` goes: `<prefix>/<name>:<version>`."""
    return f"{prefix}/{tag.removeprefix(IMAGE_NAMESPACE + '/')}"


def push_commands(engine: Engine, tag: str, target: str, digestfile: Path) -> list[list[str]]:
    """The engine calls that push local `tag` as `target` (see the module docstring)."""
    if engine.name == "podman":
        return [engine.command("push", "--digestfile", str(digestfile), tag, target)]
    return [engine.command("tag", tag, target), engine.command("push", target)]


def _run(command: list[str], what: str, engine: Engine) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PUSH_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolError(f"{engine.name} could not {what}: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise ToolError(
            f"{engine.name} could not {what}: {why}",
            f"log in first (`{engine.name} login <registry>`) and check the registry prefix; "
            "nothing was recorded, so `make images PUSH=...` can simply be run again",
        )
    return done.stdout


def repo_digest(answer: str, target: str) -> str | None:
    """The digest docker recorded for `target`'s repository in `{{json .RepoDigests}}`."""
    try:
        entries = json.loads(answer or "null") or []
    except ValueError:
        return None

    def normal(name: str) -> str:  # docker writes Docker Hub's repositories without the host
        for host in ("docker.io/", "index.docker.io/"):
            name = name.removeprefix(host)
        return name.removeprefix("library/")

    wanted = normal(repository_of(target))
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str) and "@" in entry:
            repository, digest = entry.rsplit("@", 1)
            if normal(repository) == wanted and DIGEST.fullmatch(digest):
                return digest
    return None


def push_one(engine: Engine, tag: str, target: str) -> str:
    """Push local image `tag` as `target`; the digest the registry returned (`sha256:...`)."""
    with tempfile.TemporaryDirectory(prefix="pedigree-push-") as scratch:
        digestfile = Path(scratch) / "digest"
        for command in push_commands(engine, tag, target, digestfile):
            print("+ " + " ".join(command), flush=True)
            _run(command, f"push {tag} to {target}", engine)
        if engine.name == "podman":
            digest = digestfile.read_text(encoding="utf-8").strip() if digestfile.is_file() else ""
        else:
            query = engine.command("image", "inspect", "--format", "{{json .RepoDigests}}", target)
            digest = repo_digest(_run(query, f"read the digest of {target}", engine), target) or ""
    if not DIGEST.fullmatch(digest):
        raise ToolError(
            f"{engine.name} pushed {target} but reported no registry digest for it "
            f"(got {digest or 'nothing'})",
            "check the push in the registry; nothing was recorded",
        )
    return digest


def push_all(
    engine: Engine, prefix: str, tags: Sequence[tuple[str, str]], dry_run: bool = False
) -> dict[str, tuple[str, str]]:
    """Push every (name, tag) but the base under `prefix`: name -> (repository, registry
    digest). The first failure stops it with ToolError; nothing is recorded here."""
    pushed: dict[str, tuple[str, str]] = {}
    for name, tag in tags:
        if name == BASE:
            continue
        target = destination(prefix, tag)
        if dry_run:
            for command in push_commands(engine, tag, target, Path("<digestfile>")):
                print("+ " + " ".join(command), flush=True)
            continue
        digest = push_one(engine, tag, target)
        pushed[name] = (repository_of(target), digest)
        print(f"pushed {target} {digest}", flush=True)
    return pushed
