"""Typed params: each stage's own models check params.yaml before anything runs.

Convention: a stage's code folder may hold `params.py` defining

    PARAMS: dict[str, type[pydantic.BaseModel]]

which maps each params.yaml section the stage reads to the model that validates it, e.g. in
stages/train/params.py `PARAMS = {"train": TrainParams, "model": ModelParams, "determinism":
DeterminismParams}`; a nested section is written with dots (`"transform.split"`). Then
`pedigree validate`, `check`, `status` and `run` (`--dry-run` included) refuse a bad value with
`params.yaml:LINE [train.epochs]: message` before any stage starts, exactly as the stage itself
would (it validates with the same model through `pedigree.stagekit.load_params`). A stage without
`params.py`, or whose `params.py` has no `PARAMS`, gets only the "section exists" check. The
library knows nothing about any stage: the models are the project's own code, which pedigree
trusts as it trusts the stages it runs.

Why a subprocess (`python -m pedigree.spec.params_check ROOT`, cwd ROOT, JSON on stdout): the
models live in the project's `stages` package, and one process (the test suite, a script calling
the API) may look at many projects whose `stages` packages differ; an in-process import would
find whichever `stages` was imported first in `sys.modules`. A fresh interpreter always imports
this project's code, leaves nothing behind, and a params module that crashes, prints or hangs
cannot take pedigree with it. It costs a few hundred milliseconds, so a clean result is
remembered in `.pedigree/params-checked.json` (sha256 of params.yaml and of every project file
the check imported) and `pedigree run` skips the check while none of them changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree import __version__
from pedigree.errors import ParamsError, Problem
from pedigree.project import PARAMS_FILE

PARAMS_MODULE = "params.py"
CACHE = Path(".pedigree") / "params-checked.json"
TIMEOUT_S = 120.0
# Clean results in this process, (root, key) -> sha256 of each file the check imported: a
# process that loads the same project many times (the test suite, a script) checks it once.
# Every file is hashed again on each use, so an edit is never missed.
_MEMORY: dict[tuple[str, str], dict[str, str]] = {}


@dataclass(frozen=True)
class StageParams:
    """A stage and the params sections its spec declares."""

    name: str
    declared: tuple[str, ...] = ()

    @property
    def module_file(self) -> str:
        """The stage's params module, relative to the project root."""
        return f"stages/{self.name}/{PARAMS_MODULE}"


def with_params_module(root: Path, stages: Sequence[StageParams]) -> list[StageParams]:
    """The stages whose code folder has a params module."""
    return [s for s in stages if (root / s.module_file).is_file()]


def compiled_stages(stages: dict[str, Any]) -> list[StageParams]:
    """The stages of a compiled dvc.yaml (`stages` mapping) with their params sections."""
    found = []
    for name, entry in stages.items():
        declared: list[str] = []
        for item in (entry.get("params") if isinstance(entry, dict) else None) or []:
            if isinstance(item, str):
                declared.append(item)
            elif isinstance(item, dict):
                for keys in item.values():
                    declared.extend(str(k) for k in keys or [])
        found.append(StageParams(str(name), tuple(declared)))
    return found


def check_params(
    root: Path, stages: Sequence[StageParams], remember: bool = False
) -> list[Problem]:
    """Problems in params.yaml found by the stages' own models (see module doc).

    A clean result is remembered in this process; with `remember` also in .pedigree/, for
    later processes. Either way a later call with the same params.yaml and params code (every
    file hashed again) returns at once.
    """
    todo = with_params_module(root, stages)
    try:
        params = (root / PARAMS_FILE).read_bytes()
    except OSError:
        return []  # no params.yaml: the spec check reports every declared section as missing
    if not todo:
        return []
    key = _key(params, todo)
    if _remembered(root, key):
        return []
    memo = (str(root.resolve()), key)
    files = _MEMORY.get(memo)
    if files is None or _file_hashes(root, list(files)) != files:
        problems, imported = _run_checker(root, todo)
        if problems:
            return problems
        files = _file_hashes(root, imported)
        if files is None:
            return []
        _MEMORY[memo] = files
    if remember:
        _remember(root, key, files)
    return []


def refuse_bad_params(root: Path, stages: Sequence[StageParams], remember: bool = False) -> None:
    """Raise ParamsError listing every problem `check_params` finds."""
    problems = check_params(root, stages, remember)
    if problems:
        raise ParamsError(problems)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(params: bytes, stages: Sequence[StageParams]) -> str:
    what = {
        "pedigree": __version__,
        "python": sys.executable,
        "params": _sha256(params),
        "stages": sorted([s.name, sorted(s.declared)] for s in stages),
    }
    return _sha256(json.dumps(what, sort_keys=True).encode())


def _file_hashes(root: Path, files: Sequence[str]) -> dict[str, str] | None:
    hashes = {}
    for rel in files:
        try:
            hashes[rel] = _sha256((root / rel).read_bytes())
        except OSError:
            return None
    return hashes


def _remembered(root: Path, key: str) -> bool:
    try:
        data = json.loads((root / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("key") != key:
        return False
    files = data.get("files")
    if not isinstance(files, dict):
        return False
    return _file_hashes(root, list(files)) == files


def _remember(root: Path, key: str, files: dict[str, str]) -> None:
    from pedigree.atomic import write_atomically

    with contextlib.suppress(OSError):  # only a cache: the next run checks again
        write_atomically(root / CACHE, json.dumps({"key": key, "files": files}, sort_keys=True))


def _run_checker(root: Path, stages: Sequence[StageParams]) -> tuple[list[Problem], list[str]]:
    """Run the check in a fresh interpreter in `root`; its problems and the files it imported."""
    request = json.dumps([{"name": s.name, "declared": list(s.declared)} for s in stages])
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")  # no __pycache__ inside stage code (a dep)
    where = ", ".join(s.module_file for s in stages)
    try:
        result = subprocess.run(
            [sys.executable, "-B", "-m", __name__, str(root)],
            cwd=root,
            env=env,
            input=request,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return [
            Problem(
                where,
                None,
                "",
                f"checking params.yaml with the stages' params models took over {TIMEOUT_S:g}s",
                "a params module must only define models: move slow work out of import time",
            )
        ], []
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        problems = [Problem(**p) for p in answer["problems"]]
        return problems, [str(f) for f in answer["files"]]
    except (ValueError, IndexError, KeyError, TypeError):
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return [
            Problem(
                where,
                None,
                "",
                f"checking params.yaml with the stages' params models failed: {tail}",
                "run `python -c 'import stages.NAME.params'` in the project to see the error",
            )
        ], []


# --- the child: runs in a fresh interpreter with cwd = the project root ----------------------


def _project_frame(root: Path, exc: BaseException) -> tuple[str, int | None] | None:
    """The deepest traceback frame in a project file: (relative path, line)."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        file = Path(tb.tb_frame.f_code.co_filename)
        with contextlib.suppress(ValueError):  # a frame outside the project
            found = (file.resolve().relative_to(root).as_posix(), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _import_problem(root: Path, stage: StageParams, exc: BaseException) -> Problem:
    if isinstance(exc, SyntaxError) and exc.filename:
        try:
            file = Path(exc.filename).resolve().relative_to(root).as_posix()
        except ValueError:
            file = exc.filename
        where: tuple[str, int | None] | None = (file, exc.lineno)
    else:
        where = _project_frame(root, exc)
    file, line = where or (stage.module_file, None)
    return Problem(
        file,
        line,
        "",
        f"cannot import stage '{stage.name}' params module {stage.module_file}: "
        f"{type(exc).__name__}: {exc}",
        "fix the module: pedigree imports it to check params.yaml before anything runs",
    )


def params_section(data: Any, dotted: str) -> tuple[bool, Any]:
    """(True, value) of dotted `section` (`transform.split`) in params data, else (False, None)."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def _declares(declared: Sequence[str], section: str) -> bool:
    return any(section == d or section.startswith(d + ".") for d in declared)


def check_stage(root: Path, stage: StageParams, doc: Any) -> list[Problem]:
    """Import the stage's params module and validate its PARAMS sections (child side)."""
    import importlib
    import importlib.util

    from pydantic import BaseModel, ValidationError

    from pedigree.spec.errors import problems_from_validation

    try:
        if stage.name.isidentifier():
            module = importlib.import_module(f"stages.{stage.name}.params")
        else:  # a name like `make-report` is no module name: load the file itself
            spec = importlib.util.spec_from_file_location(
                f"_pedigree_params_{stage.name.replace('-', '_')}", root / stage.module_file
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {stage.module_file}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, located, never a traceback
        return [_import_problem(root, stage, exc)]
    mapping = getattr(module, "PARAMS", None)
    if mapping is None:
        return []
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, type) and issubclass(v, BaseModel)
        for k, v in mapping.items()
    ):
        return [
            Problem(
                stage.module_file,
                None,
                "PARAMS",
                "PARAMS must map params.yaml section names to pydantic models",
                'e.g. PARAMS = {"train": TrainParams}',
            )
        ]
    problems: list[Problem] = []
    for section, model in mapping.items():
        present, value = params_section(doc.data, section)
        if not present:
            if not _declares(stage.declared, section):  # declared ones: the spec check says so
                problems.append(
                    doc.problem(
                        tuple(section.split(".")),
                        f"section '{section}' is missing; stage '{stage.name}' reads it "
                        f"({stage.module_file})",
                        f"add '{section}:' to params.yaml",
                    )
                )
            continue
        try:
            model.model_validate(value)
        except ValidationError as exc:
            hint = (
                f"fix the value in params.yaml; {stage.module_file} ({model.__name__}) "
                "says what is allowed"
            )
            for p in problems_from_validation(exc, model, doc, tuple(section.split("."))):
                problems.append(p if p.hint else Problem(p.file, p.line, p.path, p.message, hint))
    return problems


def _imported_project_files(root: Path) -> list[str]:
    files = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name:
            continue
        try:
            files.add(Path(name).resolve().relative_to(root).as_posix())
        except ValueError:
            continue
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    """Child entry point: read the stages as JSON on stdin, print {"problems", "files"}."""
    from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file

    root = Path((argv if argv is not None else sys.argv[1:])[0]).resolve()
    stages = [StageParams(s["name"], tuple(s["declared"])) for s in json.loads(sys.stdin.read())]
    out = sys.stdout
    sys.stdout = sys.stderr  # a params module that prints must not break the JSON answer
    # This project's `stages` package first; drop other folders holding one (e.g. PYTHONPATH).
    sys.path[:] = [str(root)] + [
        p for p in sys.path if p and not (Path(p) / "stages").is_dir() and p != str(root)
    ]
    problems: list[Problem] = []
    try:
        doc = load_yaml_file(root / PARAMS_FILE, PARAMS_FILE)
    except YamlLoadError as exc:
        problems.append(exc.problem)
    else:
        seen = set()
        for stage in stages:
            for p in check_stage(root, stage, doc):
                # Stages share sections (model, determinism): report each problem once.
                if (p.file, p.line, p.path, p.message) not in seen:
                    seen.add((p.file, p.line, p.path, p.message))
                    problems.append(p)
    answer = {"problems": [p.to_dict() for p in problems], "files": _imported_project_files(root)}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
