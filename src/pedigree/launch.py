"""The stage launcher: `python -m pedigree.launch --stage NAME -- ARGV...`.

dvc.yaml runs every stage through this small program because some settings only work before the
stage's interpreter starts (PYTHONHASHSEED is read at start-up, never later), and because
`pedigree run` needs each stage's log to show its tail when the stage fails. It imports nothing
heavy: it runs before every stage. With PEDIGREE_EXECUTOR=podman or docker it hands the stage
to `pedigree.containers.executor`, which runs this same launcher inside the stage's image.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, cast

from pedigree.envvars import LINEAGE_SWITCH_ENV, OUTPUT_MODE_ENV, RESTORE_ONLY_ENV, STATE_ENV
from pedigree.stagerun import RESTORE_ONLY_EXIT, UNSAFE_PATH_EXIT, resolve_argv, stage_log

HASH_SEED = "0"
OUTPUT_MODE = OUTPUT_MODE_ENV
LINEAGE_SWITCH = LINEAGE_SWITCH_ENV
# "1": the stage must not run (`pedigree pull` restores results, it never recomputes them).
RESTORE_ONLY = RESTORE_ONLY_ENV

# Fixed before the stage starts: the same stage must see the same interpreter settings every run.
STAGE_ENV = {
    "PYTHONHASHSEED": HASH_SEED,
    "PYTHONUNBUFFERED": "1",  # lines reach the log as they are printed
    "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ appearing inside stages/<name>/ (a dep)
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


# Chosen explicitly (a choice is recorded, and it silences TensorFlow's start-up banner) unless
# the user set it: oneDNN changes numerics, so it is part of what a run's determinism depends on.
STAGE_DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def stage_env(base: dict[str, str]) -> dict[str, str]:
    """The environment a stage runs in: `base` with the fixed stage settings applied."""
    env = dict(base)
    env.update(STAGE_ENV)
    for key, value in STAGE_DEFAULTS.items():
        env.setdefault(key, value)
    # The stage must run in the launcher's interpreter (the project's .venv), whatever PATH says.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


class _LineageStart(threading.Thread):
    """Notes the run's inputs, code and environment and emits its START event.

    It runs while the stage starts up (hashing what the stage only reads, and importing the
    OpenLineage client, overlap with the stage's own imports), so capture adds little wall time.
    """

    def __init__(self, root: Path, stage: str, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(name=f"lineage-{stage}")
        self.root, self.stage, self.argv, self.env = root, stage, argv, env
        self.tracker: Any = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            from pedigree.lineage import capture, events

            self.tracker = capture.begin(self.root, self.stage, self.argv, self.env)
            record = self.tracker.record(self.tracker.started, 0, "running", [])
            events.emit(self.root, record, "START")
        except Exception as exc:  # noqa: BLE001 - reported by the launcher once the stage ends
            self.error = exc


def lineage_enabled() -> bool:
    """Lineage capture is on unless PEDIGREE_LINEAGE=off (the benchmark's baseline)."""
    return os.environ.get(LINEAGE_SWITCH, "").lower() not in ("off", "0", "false", "no")


def _container_executor() -> str | None:
    """The engine to run the stage in (PEDIGREE_EXECUTOR), unless already in a container."""
    from pedigree.containers import PROCESS
    from pedigree.envvars import EXECUTOR_ENV, IN_CONTAINER_ENV

    executor = os.environ.get(EXECUTOR_ENV, "").strip() or PROCESS
    if executor == PROCESS or os.environ.get(IN_CONTAINER_ENV) == "1":
        return None
    return executor


def escaping_paths(stage: str, root: Path) -> list[str]:
    """The stage's dvc.yaml paths that a symlink leads out of the project (or into pedigree's
    and DVC's own files), rendered; checked here too because plain `dvc repro` runs stages
    without `pedigree run`'s checks (see `pedigree.spec.realpaths`)."""
    from pedigree.dvclock import read_lock_stages
    from pedigree.errors import PedigreeError
    from pedigree.spec.realpaths import check_compiled_paths

    try:
        entry = read_lock_stages(root / "dvc.yaml").get(stage)
    except PedigreeError:
        return []  # an unreadable dvc.yaml: DVC itself could not have started this stage
    if not isinstance(entry, dict):
        return []
    return [p.render() for p in check_compiled_paths(root, {stage: entry})]


def run(stage: str, argv: list[str], root: Path) -> int:
    """Run `argv` as stage `stage` and record its lineage (see `pedigree.lineage.capture`).

    A stage whose lineage cannot be recorded fails: outputs without a record must not count
    as done. A stage one of whose paths leads out of the project through a symlink does not
    run (exit 2).
    """
    if os.environ.get(RESTORE_ONLY) == "1":
        sys.stderr.write(
            f"pedigree.launch: stage '{stage}' would have to run, but only restoring is allowed: "
            "its results are not in the DVC remote's run-cache\n"
        )
        return RESTORE_ONLY_EXIT
    refused = escaping_paths(stage, root)
    if refused:
        sys.stderr.write("".join(f"pedigree.launch: stage '{stage}': {p}\n" for p in refused))
        return UNSAFE_PATH_EXIT
    executor = _container_executor()
    if executor is not None:
        from pedigree.containers.executor import run_in_container

        # The launcher inside the container runs the stage and records its lineage.
        return run_in_container(stage, argv, root, executor)
    env = stage_env(dict(os.environ))
    if not lineage_enabled():
        return _run_logged(stage, argv, root, env)
    # The stage notes here the state it read (e.g. a registry snapshot) for its record.
    state_file = root / ".pedigree" / "lineage" / f"state-{stage}-{os.getpid()}.json"
    state_file.unlink(missing_ok=True)
    env[STATE_ENV] = str(state_file)
    starter = _LineageStart(root, stage, argv, dict(env))
    starter.start()
    code = _run_logged(stage, argv, root, env)
    starter.join()
    if starter.error is not None:
        sys.stderr.write(
            f"pedigree.launch: stage '{stage}': cannot capture lineage: {starter.error}\n"
            f"hint: fix the cause, or run without a record with {LINEAGE_SWITCH}=off\n"
        )
        return code or 1
    from pedigree.lineage import capture, events, store

    try:
        record = capture.finish(starter.tracker, code, state_file)
        store.write_record(root, record)
        events.emit(root, record, "COMPLETE" if code == 0 else "FAIL")
    except Exception as exc:  # noqa: BLE001 - outputs without a record must not count as done
        sys.stderr.write(f"pedigree.launch: stage '{stage}': cannot write its lineage: {exc}\n")
        return code or 1
    return code


def _run_logged(stage: str, argv: list[str], root: Path, env: dict[str, str]) -> int:
    """Run `argv` as stage `stage`, teeing its output to the terminal and its log."""
    log_path = stage_log(root, stage)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        try:
            child = subprocess.Popen(
                resolve_argv(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
            )
        except FileNotFoundError:
            message = f"pedigree.launch: stage '{stage}': command not found: {argv[0]}\n"
            log.write(message.encode())
            sys.stderr.write(message)
            return 127
        # Forward a polite stop to the stage; Ctrl-C already reaches it through the process group.
        signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
        if os.getpid() == 1:
            # PID 1 of a container (the container executor): the engine passes Ctrl-C to this
            # process alone, so hand it on to the stage, which then stops as it would on a host.
            signal.signal(signal.SIGINT, lambda signum, frame: child.send_signal(signum))
        stream = cast(IO[bytes], child.stdout)  # never None: stdout=PIPE
        # `pedigree run` shows its own progress and the log's tail on failure; plain `dvc repro`
        # shows the stage's output as it comes.
        out = None if os.environ.get(OUTPUT_MODE) == "log" else sys.stdout.buffer
        try:
            for line in iter(stream.readline, b""):
                log.write(line)
                if out is not None:
                    out.write(line)
                    out.flush()
            code = child.wait()
        except KeyboardInterrupt:
            code = child.wait()
            log.write(b"\npedigree.launch: interrupted\n")
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    """Parse `--stage NAME -- ARGV...` and run the stage."""
    parser = argparse.ArgumentParser(
        prog="python -m pedigree.launch",
        description="Run one pipeline stage with fixed interpreter settings, keeping its log.",
    )
    parser.add_argument("--stage", required=True, help="stage name (names the log file)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the stage's argv")
    args = parser.parse_args(argv)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        parser.error("give the stage's command after --")
    return run(args.stage, command, Path.cwd())


if __name__ == "__main__":
    sys.exit(main())
