"""Finding and asking a container engine (podman or docker) through its command line.

Only the engine's CLI is used (no socket, no SDK): the same commands a user would type, so what
pedigree does can be replayed by hand, and tests can put a fake engine on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from pedigree.containers import ENGINES
from pedigree.envvars import ENGINE_FLAGS_ENV
from pedigree.errors import ToolError

INFO_TIMEOUT = 60.0  # podman's first `info` on a fresh machine sets up its storage
INSPECT_TIMEOUT = 60.0
# What `info` answers, per engine: podman says whether it runs rootless; docker lists its
# security options, which name `rootless` for a rootless daemon.
_ROOTLESS_QUERY = {
    "podman": "{{.Host.Security.Rootless}}",
    "docker": "{{json .SecurityOptions}}",
}
# A local image's id and content digest: podman's manifest digest; docker's image id (the
# config digest, or the manifest digest with the containerd image store) stands for both.
_IMAGE_QUERY = {"podman": "{{.Id}} {{.Digest}}", "docker": "{{.Id}} {{.Id}}"}
INSTALL_HINT = (
    "install podman (Debian/Ubuntu: `apt-get install podman runc`) or docker, "
    "or run without containers: `pedigree run --executor process`"
)


class EngineError(ToolError):
    """No container engine, or the one asked for does not work."""


class ImageMissingError(ToolError):
    """A stage's image has not been built (or was removed) in the engine's image store."""


@dataclass(frozen=True)
class Engine:
    """A working container engine: its name, the command that drives it, and how it runs."""

    name: str
    argv: tuple[str, ...]  # the binary and any global flags (PEDIGREE_ENGINE_FLAGS)
    rootless: bool

    def command(self, *args: str) -> list[str]:
        """The engine command line for `args` (e.g. `run --rm ...`)."""
        return [*self.argv, *args]


def engine_argv(name: str, environ: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """`name`'s binary (absolute) and global flags, or None when it is not on PATH."""
    env = os.environ if environ is None else environ
    binary = shutil.which(name, path=env.get("PATH"))
    if binary is None:
        return None
    return (binary, *shlex.split(env.get(ENGINE_FLAGS_ENV, "")))


def _probe(name: str, argv: tuple[str, ...]) -> tuple[bool | None, str]:
    """(rootless?, "") when the engine answers `info`; (None, why not) when it does not."""
    try:
        done = subprocess.run(
            [*argv, "info", "--format", _ROOTLESS_QUERY[name]],
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return None, lines[-1].strip() if lines else f"`{name} info` exited {done.returncode}"
    answer = done.stdout.strip().lower()
    return (answer == "true" if name == "podman" else "rootless" in answer), ""


def find_engine(name: str | None = None, environ: Mapping[str, str] | None = None) -> Engine:
    """The engine `name` (podman or docker), checked with `ENGINE info`; with no name, the first
    of podman and docker that works. Raises EngineError saying what is missing or broken."""
    if name is not None and name not in ENGINES:
        raise EngineError(
            f"unknown container engine '{name}'", "choose one of: " + ", ".join(ENGINES)
        )
    problems: list[str] = []
    for candidate in (name,) if name else ENGINES:
        argv = engine_argv(candidate, environ)
        if argv is None:
            problems.append(f"{candidate} is not installed (not on PATH)")
            continue
        rootless, why = _probe(candidate, argv)
        if rootless is not None:
            return Engine(candidate, argv, rootless)
        problems.append(f"{candidate} is installed but does not work: `{candidate} info`: {why}")
    hint = INSTALL_HINT
    if any("does not work" in p for p in problems):
        hint = "start the engine (docker: the daemon) and check `ENGINE info`; or " + hint
    raise EngineError("no working container engine: " + "; ".join(problems), hint)


@dataclass(frozen=True)
class ImageInfo:
    """A local image: its reference, its id (what runs), its content digest (what is recorded)."""

    ref: str
    id: str
    digest: str


def _sha256(value: str) -> str:
    return value if value.startswith("sha256:") else f"sha256:{value}"


def inspect_image(engine: Engine, ref: str) -> ImageInfo:
    """Id and digest (`sha256:...`) of local image `ref`; ImageMissingError when it is absent."""
    try:
        done = subprocess.run(
            engine.command("image", "inspect", "--format", _IMAGE_QUERY[engine.name], ref),
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineError(f"{engine.name} image inspect {ref}: {exc}") from None
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) < 2 or not fields[1].startswith("sha256:"):
        raise ImageMissingError(
            f"image {ref} is not in {engine.name}'s image store",
            f"build the images first: `make images ENGINE={engine.name}`",
        )
    return ImageInfo(ref, _sha256(fields[0]), fields[1])


def _short(name: str) -> str:
    """An image name as we write it: podman lists local images under `localhost/`, docker
    under `docker.io/library/` when the name has no namespace."""
    for prefix in ("localhost/", "docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def missing_images(engine: Engine, refs: list[str]) -> list[str]:
    """Those of `refs` (`name:tag`) that the engine's image store does not hold (one call)."""
    if not refs:
        return []
    try:
        done = subprocess.run(
            engine.command("image", "inspect", "--format", "{{json .RepoTags}}", *refs),
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineError(f"{engine.name} image inspect: {exc}") from None
    present: set[str] = set()
    # One line per image found; the engine exits non-zero when any is missing.
    for line in done.stdout.splitlines():
        try:
            tags = json.loads(line)
        except ValueError:
            continue
        present.update(_short(tag) for tag in tags or [] if isinstance(tag, str))
    return [ref for ref in refs if _short(ref) not in present]
