"""A stand-in for podman/docker on PATH: records its argv, and `run` runs the inner command on
the host (the project "mounted" at /workspace is the host folder), so the whole container path
(api.run -> dvc -> launcher -> engine -> inner launcher) runs without a real engine.

Settings (environment of the engine process):
  FAKE_ENGINE_LOG       file each call's argv is appended to (one JSON list per line)
  FAKE_ENGINE_MISSING   comma-separated image refs the engine does not have
  FAKE_ENGINE_BROKEN    when set, `info` fails (the engine is installed but does not work)
  FAKE_ENGINE_ROOTLESS  "true" for a rootless engine (default "false")
  FAKE_ENGINE_RUN_FAIL  when set, `run` fails as an engine does (this message, exit 125)
  FAKE_ENGINE_PUSH_FAIL comma-separated destinations whose `push` fails (exit 125)

`push` answers as the engine it is installed as: podman writes the registry's digest (a hash of
the destination, unlike the local one) to `--digestfile`; docker refuses that flag, as docker
does, and reports the digest in `image inspect --format '{{json .RepoDigests}}'` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

WORKSPACE = "/workspace"
# `run` flags that take a value (the executor's own set).
VALUE_FLAGS = {
    "--name",
    "--tmpfs",
    "--cap-drop",
    "--security-opt",
    "--ulimit",
    "--network",
    "--user",
    "--volume",
    "--workdir",
    "--env",
}


def install(bin_dir: Path, names: tuple[str, ...] = ("podman", "docker")) -> Path:
    """Write the fake engine as `names` into `bin_dir` (put it first on PATH); returns bin_dir."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).read_text(encoding="utf-8")
    for name in names:
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def calls(log: Path) -> list[list[str]]:
    """Every recorded call's argv (without the binary)."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def _digest(kind: str, ref: str) -> str:
    return "sha256:" + hashlib.sha256(f"{kind}:{ref}".encode()).hexdigest()


def _missing(ref: str) -> bool:
    wanted = [r.strip() for r in os.environ.get("FAKE_ENGINE_MISSING", "").split(",")]
    return ref in wanted


def _inspect(args: list[str]) -> int:
    fmt = args[args.index("--format") + 1]
    refs = [a for a in args[args.index("--format") + 2 :]]
    code = 0
    for ref in refs:
        if _missing(ref):
            sys.stderr.write(f"Error: inspecting object: {ref}: image not known\n")
            code = 125
        elif "RepoTags" in fmt:
            print(json.dumps([f"localhost/{ref}"]))
        elif "RepoDigests" in fmt:
            repository = (
                ref.split("@")[0].rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
            )
            print(
                json.dumps(
                    [
                        f"pedigree/other@{_digest('x', ref)}",
                        f"{repository}@{_digest('registry', ref)}",
                    ]
                )
            )
        else:
            print(_digest("id", ref), _digest("digest", ref))
    return code


def _run(args: list[str]) -> int:
    if message := os.environ.get("FAKE_ENGINE_RUN_FAIL"):
        sys.stderr.write(f"Error: {message}\n")
        return 125
    volumes: list[str] = []
    workdir = WORKSPACE
    names: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        flag = args[i]
        if flag in VALUE_FLAGS:
            value = args[i + 1]
            if flag == "--volume":
                volumes.append(value)
            elif flag == "--workdir":
                workdir = value
            elif flag == "--env":
                names.append(value)
            i += 2
        else:
            i += 1
    command = args[i + 1 :]  # after the image
    source = next(v.split(":")[0] for v in volumes if v.split(":")[1] == WORKSPACE)
    cwd = Path(source) / os.path.relpath(workdir, WORKSPACE)
    env = dict(os.environ)
    env.update({name: os.environ[name] for name in names if name in os.environ})
    if command and command[0] == "python":
        command = [sys.executable, *command[1:]]
    return subprocess.run(command, cwd=cwd, env=env, check=False).returncode


def _push(args: list[str]) -> int:
    engine = Path(sys.argv[0]).name
    digestfile = None
    if "--digestfile" in args:
        if engine == "docker":
            sys.stderr.write("unknown flag: --digestfile\n")
            return 125
        digestfile = args[args.index("--digestfile") + 1]
        args = [a for a in args if a not in ("--digestfile", digestfile)]
    target = args[-1]
    failing = [r.strip() for r in os.environ.get("FAKE_ENGINE_PUSH_FAIL", "").split(",")]
    if target in failing:
        sys.stderr.write(f"Error: pushing {target}: unauthorized: authentication required\n")
        return 125
    if digestfile:
        Path(digestfile).write_text(_digest("registry", target), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    """Answer one engine call."""
    if log := os.environ.get("FAKE_ENGINE_LOG"):
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(argv) + "\n")
    while argv and argv[0].startswith("--"):  # global flags (PEDIGREE_ENGINE_FLAGS)
        argv = argv[1:] if "=" in argv[0] else argv[2:]
    command = argv[0] if argv else ""
    if command == "info":
        if os.environ.get("FAKE_ENGINE_BROKEN"):
            sys.stderr.write("Cannot connect to the engine: is the daemon running?\n")
            return 1
        rootless = os.environ.get("FAKE_ENGINE_ROOTLESS", "false")
        print(rootless if "Rootless" in argv[-1] else json.dumps([f"name={rootless}"]))
        return 0
    if argv[:2] == ["image", "inspect"]:
        return _inspect(argv[2:])
    if command == "run":
        return _run(argv[1:])
    if command == "push":
        return _push(argv[1:])
    if command in ("build", "stop", "tag"):
        return 0
    sys.stderr.write(f"fake engine: unsupported call {argv}\n")
    return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
