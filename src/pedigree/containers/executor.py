"""The container executor: run one stage in its image, as `python -m pedigree.launch` would.

The stage launcher (dvc.yaml runs every stage through it) calls `run_in_container` when
PEDIGREE_EXECUTOR names an engine and it is not already inside a container. dvc.yaml and
dvc.lock stay the same whatever the executor, so outputs and cache are shared.

The container gets the project at /workspace and runs the same launcher command inside
(`python -m pedigree.launch --stage NAME -- ARGV`), with PEDIGREE_IN_CONTAINER=1 so it runs the
stage itself. That inner launcher writes the stage's log and its lineage record, so the record
describes the container's environment and carries PEDIGREE_IMAGE / PEDIGREE_IMAGE_DIGEST.

Hardening: read-only root with a tmpfs /tmp, every capability dropped, no privilege
escalation, `--network none` unless the stage needs it (`workspace.network_mode`), ulimits
nofile/nproc 1024 (podman with runc refuses to start a container without them on some hosts),
and files written as the invoking user (rootless podman: `--userns=keep-id`; rootless docker:
root in the container, which is the invoking user; a rootful engine: `--user UID:GID`).

Output and exit codes pass through the engine client unchanged. Ctrl-C reaches the engine
client with the rest of the terminal's process group; it passes the signal to the container
(its default `--sig-proxy`), where the launcher, as PID 1, hands it on to the stage. A
container that has not stopped after STOP_GRACE seconds is stopped with `ENGINE stop`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from pedigree.containers import WORKSPACE, image_ref
from pedigree.containers.engine import (
    Engine,
    ImageInfo,
    ImageMissingError,
    find_engine,
    inspect_image,
    missing_images,
)
from pedigree.containers.workspace import Mounts, network_mode, passed_env, workspace_mounts
from pedigree.envvars import DIGEST_ENV, EXECUTOR_ENV, IMAGE_ENV, IN_CONTAINER_ENV
from pedigree.errors import PedigreeError

ULIMITS = ("nofile=1024:1024", "nproc=1024:1024")
TMPFS = "/tmp:rw,nosuid,nodev,mode=1777"
ENGINE_FAILED = 125  # what docker and podman exit with when they cannot run the container
ENGINE_CODES = (125, 126, 127)  # the engine (not the stage) failed: the stage's log is empty
STOP_GRACE = 30.0  # seconds a stage gets to stop on Ctrl-C, as without a container
STOP_TIMEOUT = 5  # then `ENGINE stop --time`: SIGTERM, and SIGKILL after this many seconds


@dataclass(frozen=True)
class ContainerRun:
    """Everything that decides the engine command line of one stage run."""

    engine: Engine
    stage: str
    argv: tuple[str, ...]
    image: ImageInfo
    mounts: Mounts
    network: str | None  # None: the engine's default network
    env_names: tuple[str, ...]  # passed by name from the engine client's environment
    name: str  # the container's name, for `ENGINE stop`
    uid: int
    gid: int


def user_flags(engine: Engine, uid: int, gid: int) -> list[str]:
    """Flags that make files the stage writes belong to the invoking user on the host."""
    if engine.rootless:
        # rootless podman maps the user to itself; rootless docker maps container root to it
        return ["--userns=keep-id"] if engine.name == "podman" else ["--user", "0:0"]
    return ["--user", f"{uid}:{gid}"]


def run_argv(run: ContainerRun) -> list[str]:
    """The engine command that runs the stage's launcher in its image."""
    args = [
        "run",
        "--rm",
        "--pull=never",  # a missing image is an error, never a download of something else
        "--name",
        run.name,
        "--read-only",
        "--tmpfs",
        TMPFS,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ]
    for limit in ULIMITS:
        args += ["--ulimit", limit]
    if run.network is not None:
        args += ["--network", run.network]
    args += user_flags(run.engine, run.uid, run.gid)
    args += ["--volume", f"{run.mounts.source}:{WORKSPACE}"]
    for folder in run.mounts.extra:
        args += ["--volume", f"{folder}:{folder}:ro"]
    args += ["--workdir", run.mounts.workdir]
    for name in run.env_names:
        args += ["--env", name]
    # By id: the image that runs is exactly the one whose digest the record carries.
    args += [run.image.id, "python", "-m", "pedigree.launch", "--stage", run.stage, "--"]
    return run.engine.command(*args, *run.argv)


def container_env(
    environ: Mapping[str, str], image: ImageInfo
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The engine client's environment and the names it passes into the container."""
    inner = passed_env(environ)
    inner.update({IN_CONTAINER_ENV: "1", IMAGE_ENV: image.ref, DIGEST_ENV: image.digest})
    return {**environ, **inner}, tuple(sorted(inner))


def prepare(
    stage: str, argv: list[str], root: Path, executor: str, environ: Mapping[str, str]
) -> tuple[ContainerRun, dict[str, str]]:
    """The container run of `stage` and the engine client's environment; raises PedigreeError
    when the engine or the stage's image is missing."""
    engine = find_engine(executor, environ)
    image = inspect_image(engine, image_ref(stage))
    client_env, names = container_env(environ, image)
    run = ContainerRun(
        engine=engine,
        stage=stage,
        argv=tuple(argv),
        image=image,
        mounts=workspace_mounts(root),
        network=network_mode(root, stage, environ),
        env_names=names,
        name=f"pedigree-{stage}-{uuid.uuid4().hex[:12]}",
        uid=os.getuid(),
        gid=os.getgid(),
    )
    return run, client_env


def run_in_container(stage: str, argv: list[str], root: Path, executor: str) -> int:
    """Run `argv` as stage `stage` in its image with `executor` (podman or docker); the exit
    code is the stage's (125 when the engine or the image is missing, said in the stage log)."""
    try:
        run, client_env = prepare(stage, argv, root, executor, os.environ)
    except PedigreeError as exc:
        _note(root, stage, f"pedigree.launch: stage '{stage}': {exc}\n", truncate=True)
        return ENGINE_FAILED
    code, errors = _supervise(run, client_env)
    if code in ENGINE_CODES and errors.strip():
        # The engine failed before the stage's launcher could write its log: keep why there.
        _note(root, stage, errors, truncate=False)
    return code


def _note(root: Path, stage: str, message: str, truncate: bool) -> None:
    """Write `message` to stderr and the stage's log (which `pedigree run` shows on failure)."""
    from pedigree.stagerun import stage_log

    sys.stderr.write(message)
    sys.stderr.flush()
    path = stage_log(root, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not truncate and path.is_file() and message in path.read_text(errors="replace"):
        return
    with path.open("w" if truncate else "a", encoding="utf-8") as log:
        log.write(message)


def _tee(stream: IO[bytes], into: list[bytes]) -> None:
    for line in iter(stream.readline, b""):
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
        if len(into) < 200:
            into.append(line)


def _supervise(run: ContainerRun, client_env: dict[str, str]) -> tuple[int, str]:
    """Run the engine client to the end; (exit code, what it wrote to stderr)."""
    try:
        child = subprocess.Popen(run_argv(run), env=client_env, stderr=subprocess.PIPE)
    except OSError as exc:
        return ENGINE_FAILED, f"pedigree.launch: cannot start {run.engine.name}: {exc}\n"
    errors: list[bytes] = []
    tee = threading.Thread(target=_tee, args=(cast(IO[bytes], child.stderr), errors), daemon=True)
    tee.start()
    # A polite stop (e.g. from dvc) goes to the engine client, which passes it to the stage.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
    try:
        code = _wait(child, run)
    finally:
        signal.signal(signal.SIGTERM, previous)
    tee.join(timeout=10)
    return (128 - code if code < 0 else code), b"".join(errors).decode(errors="replace")


def _wait(child: subprocess.Popen[bytes], run: ContainerRun) -> int:
    try:
        return child.wait()
    except KeyboardInterrupt:
        pass
    # Ctrl-C reached the engine client too, which passed it to the stage: give the stage the
    # time it would have without a container, then stop the container.
    try:
        return child.wait(timeout=STOP_GRACE)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        stop = run.engine.command("stop", "--time", str(STOP_TIMEOUT), run.name)
        subprocess.run(stop, capture_output=True, timeout=STOP_TIMEOUT + 60, check=False)
        return child.wait()


def check_ready(executor: str, stages: list[str]) -> Engine:
    """The engine `executor`, once it is known to work and to hold every stage's image; raises
    EngineError or ImageMissingError (naming the images and `make images`) otherwise."""
    engine = find_engine(executor)
    missing = missing_images(engine, [image_ref(stage) for stage in stages])
    if missing:
        raise ImageMissingError(
            f"{engine.name} has no image for {len(missing)} stage(s): " + ", ".join(missing),
            f"build the images first: `make images ENGINE={engine.name}`",
        )
    return engine


@contextmanager
def executor_environment(executor: str) -> Iterator[None]:
    """PEDIGREE_EXECUTOR=`executor` for the stages run meanwhile (they inherit os.environ)."""
    saved = os.environ.get(EXECUTOR_ENV)
    os.environ[EXECUTOR_ENV] = executor
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(EXECUTOR_ENV, None)
        else:
            os.environ[EXECUTOR_ENV] = saved
