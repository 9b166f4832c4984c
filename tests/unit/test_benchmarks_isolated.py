"""The benchmarks never write into the project: not lineage/, not dvc.lock, not its outputs.

The benchmarks themselves take minutes (they train models and run the whole pipeline), so they
are not run here: each module is imported, and the helper that starts its child processes runs
with a stand-in for the expensive part (a tiny command instead of training, a stub instead of the
pipeline). What is checked is where the children run and where their files land.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py"))
# what a stray benchmark run used to leave behind, and what `pedigree audit` then trips over
PROJECT_RECORDS = ("lineage", "dvc.lock", "params.yaml", "models", "reports", "data/prepared")


def fingerprint(root: Path) -> dict[str, str]:
    """Every file of the project's records and outputs, by path: its size and mtime."""
    found: dict[str, str] = {}
    for rel in PROJECT_RECORDS:
        path = root / rel
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for item in files:
            if item.is_file():
                stat = item.stat()
                found[item.relative_to(root).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return found


def load(path: Path) -> ModuleType:
    """Import a benchmark script as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def untouched() -> Iterator[None]:
    """Fails the test when the project's records or outputs changed while it ran."""
    before = fingerprint(REPO_ROOT)
    yield
    assert fingerprint(REPO_ROOT) == before


def test_every_benchmark_is_known() -> None:
    assert [p.stem for p in SCRIPTS] == [
        "determinism_overhead",
        "input_pipeline",
        "lineage_overhead",
        "noop_overhead",
        "pipeline_time",
        "serving",
        "transform_scaling",
    ]  # a new benchmark needs its own isolation test below


def _cwd_is_the_project(node: ast.expr) -> bool:
    """`cwd=ROOT` (or a folder inside it, `ROOT / ...`)."""
    while isinstance(node, ast.BinOp):
        node = node.left
    return isinstance(node, ast.Name) and node.id in ("ROOT", "REPO_ROOT")


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_no_benchmark_runs_a_child_inside_the_project(script: Path) -> None:
    tree = ast.parse(script.read_text(encoding="utf-8"))
    offending = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "cwd" and _cwd_is_the_project(keyword.value)
    ]
    assert offending == [], f"{script.name}: children run in the project at lines {offending}"


def test_importing_the_benchmarks_writes_nothing(
    untouched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # input_pipeline sets PYTHONHASHSEED for its own process: keep it out of this one
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "random"))
    for script in SCRIPTS:
        if script.stem == "input_pipeline":
            continue  # imports the training code; it writes nothing, but costs seconds
        assert callable(load(script).main)


# --- determinism_overhead: the launcher runs in the scratch folder, lineage off ----------------

STAND_IN_TRAIN = """
import sys
from pathlib import Path
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
for flag in ("--model", "--out", "--logs"):
    Path(args[flag]).parent.mkdir(parents=True, exist_ok=True)
    Path(args[flag]).write_text("made by the stand-in")
Path("relative-output.txt").write_text("lands in the working directory")
print("train: 3 epochs in 1.25s")
"""


def test_determinism_runs_write_only_in_their_scratch_folder(
    untouched: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load(BENCHMARKS / "determinism_overhead.py")
    original = bench.train_command
    commands: list[list[str]] = []

    def stand_in(params_file: Path, work: Path, tag: str) -> tuple[list[str], dict[str, str]]:
        argv, env = original(params_file, work, tag)
        commands.append(argv)
        stage = argv.index("--") + 1
        # the real launcher, a stand-in for `python -m stages.train` with the same arguments
        flags = argv[argv.index("--params", stage) :]
        return [*argv[:stage], sys.executable, "-c", STAND_IN_TRAIN, *flags], env

    monkeypatch.setattr(bench, "train_command", stand_in)
    work = tmp_path / "work"
    work.mkdir()
    assert bench.train_seconds({"determinism": {"op_determinism": True}}, work, "on") == 1.25

    argv = commands[0]
    for flag in ("--params", "--model", "--out", "--logs"):
        written = Path(argv[argv.index(flag) + 1])
        assert written.is_absolute() and written.is_relative_to(work), (flag, written)
    for flag in ("--prepared", "--best-params"):  # read from the project, never written
        assert Path(argv[argv.index(flag) + 1]).is_relative_to(REPO_ROOT)
    assert (work / "relative-output.txt").is_file()  # the working directory is the scratch
    assert (work / ".pedigree" / "logs" / "bench-on.log").is_file()
    assert not (work / "lineage").exists()  # a benchmark run records no lineage
    assert not list((REPO_ROOT / "lineage").glob("bench-*"))
    assert not (REPO_ROOT / ".pedigree" / "logs" / "bench-on.log").exists()
    assert not (REPO_ROOT / "relative-output.txt").exists()


# --- transform_scaling: the children run in the scratch folder --------------------------------


def test_transform_children_run_in_the_scratch_folder(untouched: None, tmp_path: Path) -> None:
    bench = load(BENCHMARKS / "transform_scaling.py")
    code = (
        "import os, pathlib, stages; pathlib.Path('here.txt').write_text(os.getcwd()); "
        "print(pathlib.Path(stages.__file__).parent)"
    )
    result = bench.measure([sys.executable, "-c", code], tmp_path / "run.log")
    assert result.code == 0, (tmp_path / "run.log").read_text()
    assert (tmp_path / "here.txt").read_text() == str(tmp_path)
    # the project's stages are importable from the scratch folder
    assert (tmp_path / "run.log").read_text().strip() == str(REPO_ROOT / "stages")
    assert not (REPO_ROOT / "here.txt").exists()


# --- noop_overhead and lineage_overhead: everything happens in a temporary copy ----------------


@pytest.mark.parametrize("name", ["noop_overhead", "lineage_overhead"])
def test_pipeline_benchmarks_run_in_a_temporary_copy(
    untouched: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    bench = load(BENCHMARKS / f"{name}.py")
    made: list[Path] = []
    runs: list[Path] = []

    def stand_in_project(root: Path, params: dict[str, Any]) -> Path:
        root.mkdir(parents=True)  # a stand-in for copying the pipeline and committing it
        made.append(root)
        return root

    def stand_in_run(argv: list[str], cwd: Path, **_: Any) -> subprocess.CompletedProcess[str]:
        runs.append(Path(cwd))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(bench, "make_pets_project", stand_in_project)
    monkeypatch.setattr(bench.subprocess, "run", stand_in_run)
    monkeypatch.setattr(sys, "argv", [name, "--repeats", "1", "--tiny"])
    assert bench.main() == 0
    assert len(made) == 1 and not made[0].resolve().is_relative_to(REPO_ROOT)
    assert runs and all(cwd == made[0] for cwd in runs)


def test_the_serving_server_runs_outside_the_project(
    untouched: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pedigree serve` is started in the scratch folder, pointed at the project with -C; the
    server itself writes nothing into the project (its files go to a private temp folder)."""
    bench = load(BENCHMARKS / "serving.py")
    seen: dict[str, Any] = {}

    class StandIn:
        def __init__(self, argv: list[str], cwd: Path, **kwargs: Any) -> None:
            seen.update(argv=argv, cwd=Path(cwd))
            self.stdout = iter(['{"url": "http://127.0.0.1:1/v2/models/pets"}\n'])

        def kill(self) -> None:
            pass

    monkeypatch.setattr(bench.subprocess, "Popen", StandIn)
    process, url = bench.start_server(REPO_ROOT, tmp_path, "1")
    assert url == "http://127.0.0.1:1/v2/models/pets"
    assert seen["cwd"] == tmp_path
    assert seen["argv"][1:3] == ["-C", str(REPO_ROOT)] and "serve" in seen["argv"]
    assert list(tmp_path.iterdir()) == [tmp_path / "serve.log"]


def test_the_fingerprint_sees_a_stray_lineage_record(tmp_path: Path) -> None:
    """The guard above would notice what determinism_overhead used to leave behind."""
    (tmp_path / "lineage").mkdir()
    (tmp_path / "lineage" / "train.json").write_text("{}")
    before = fingerprint(tmp_path)
    (tmp_path / "lineage" / "bench-on.json").write_text("{}")
    assert fingerprint(tmp_path) != before


# --- pipeline_time: the pipeline and the reference run in a temporary copy --------------------


def test_pipeline_time_runs_in_a_temporary_copy_and_reports_reference_units(
    untouched: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load(BENCHMARKS / "pipeline_time.py")
    made: list[Path] = []
    cwds: list[Path] = []

    def stand_in_project(root: Path, params: dict[str, Any]) -> Path:
        (root / "reports").mkdir(parents=True)
        (root / "reports" / "metrics.json").write_text('{"mean_iou": 0.86}')
        made.append(root)
        return root

    def stand_in_run(argv: list[str], cwd: Path, **_: Any) -> subprocess.CompletedProcess[str]:
        cwds.append(Path(cwd))
        if argv[1] == "-c":  # the reference workload
            return subprocess.CompletedProcess(argv, 0, '{"seconds": 2.0}\n', "")
        stages = [{"stage": "ingest", "outcome": "ran", "seconds": 10.0}]
        report = {"stages": stages, "seconds": 10.0, "wall_seconds": 12.0}
        return subprocess.CompletedProcess(argv, 0, json.dumps(report), "")

    monkeypatch.setattr(bench, "make_pets_project", stand_in_project)
    monkeypatch.setattr(bench.subprocess, "run", stand_in_run)
    monkeypatch.setattr(sys, "argv", ["pipeline_time", "--repeats", "2"])
    assert bench.main() == 0
    assert len(made) == 2 and not any(r.resolve().is_relative_to(REPO_ROOT) for r in made)
    assert cwds and not any(c.resolve().is_relative_to(REPO_ROOT) for c in cwds)
    out = capsys.readouterr().out
    assert "test mean IoU: 0.860000 (goal >= 0.85)" in out
    assert "wall in reference units: 6.0" in out and "goal met" in out
