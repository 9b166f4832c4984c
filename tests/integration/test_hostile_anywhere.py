"""Every command gives the same answer from the root, from any subfolder, and with -C (absolute
or relative) from outside the project: the real console script on a real dvc+git project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, project_env, sh
from tests.integration.test_hostile_failure import make_tiny_project

pytestmark = pytest.mark.integration

PREPARED = "data/prepared.txt"


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project, run and committed, then made stale (a param and the source changed)."""
    root = make_tiny_project(tmp_path_factory.mktemp("hostile-anywhere") / "tiny")
    (root / "params.yaml").write_text("make:\n  mode: other\n")
    return root


# Where pedigree is started (relative to the copy's parent folder), what -C it gets, and how the
# output path for `lineage` is spelled from there.
Place = tuple[str, Callable[[Path, Path], list[str]], str]
PLACES: dict[str, Place] = {
    "root": ("tiny", lambda root, cwd: [], PREPARED),
    "data/": ("tiny/data", lambda root, cwd: [], "prepared.txt"),
    "stages/make/": ("tiny/stages/make", lambda root, cwd: [], "../../" + PREPARED),
    "-C absolute": ("elsewhere", lambda root, cwd: ["-C", str(root)], PREPARED),
    "-C relative": (
        "elsewhere/deeper",
        lambda root, cwd: ["-C", os.path.relpath(root, cwd)],
        PREPARED,
    ),
}
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("validate",),
    ("compile",),
    ("check", "--no-env"),
    ("status",),
    ("run", "--dry-run"),
    ("lineage", "{path}"),
    ("verify", "make"),
    ("audit",),
    ("models", "list"),
    ("replicate", "--seeds", "1,2"),  # refused here (no train stage): the same refusal anywhere
)


def _pedigree(cwd: Path, *args: str) -> tuple[int, str, str]:
    result = subprocess.run(
        [str(BIN / "pedigree"), *args],
        cwd=cwd,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def _copy(stale: Path, base: Path, place: str) -> tuple[Path, Path, list[str], str]:
    """A private copy of the project under `base`, and where (and how) pedigree starts there."""
    base.mkdir(parents=True)
    root = base / "tiny"
    shutil.copytree(stale, root, symlinks=True)
    folder, dash_c, path = PLACES[place]
    cwd = base / folder
    cwd.mkdir(parents=True, exist_ok=True)
    return root, cwd, dash_c(root, cwd), path


def _answers(stale: Path, base: Path, place: str) -> dict[str, tuple[int, str, str]]:
    """Every command's (exit code, stdout, stderr) from `place`, the copy's path replaced."""
    root, cwd, dash_c, path = _copy(stale, base, place)
    answers = {}
    for command in COMMANDS:
        args = [a.format(path=path) for a in command]
        code, out, err = _pedigree(cwd, *dash_c, *args)
        # Modulo the copy's own location (each place has its own copy of the same project).
        answers[" ".join(command)] = (
            code,
            out.replace(str(root), "ROOT"),
            err.replace(str(root), "ROOT"),
        )
    return answers


def test_every_command_answers_the_same_from_anywhere(stale: Path, tmp_path: Path) -> None:
    # Each place gets its own copy, so the places can be asked at the same time.
    with ThreadPoolExecutor(max_workers=len(PLACES)) as pool:
        futures = {
            place: pool.submit(_answers, stale, tmp_path / f"p{i}", place)
            for i, place in enumerate(PLACES)
        }
        answers = {place: future.result() for place, future in futures.items()}
    expected = answers["root"]
    # The root's own answers are the meaningful ones (not the same error everywhere).
    assert expected["validate"] == (0, "OK: pipeline 'tiny' with 2 stages\n", "")
    assert expected["compile"] == (0, "up to date: dvc.yaml\n", "")
    assert expected["status"][1].startswith("make: stale\n    params changed: make.mode")
    assert "done: would run 2 of 2 stages" in expected["run --dry-run"][1]
    assert expected["lineage {path}"][1].startswith(f"{PREPARED}  made by stage make")
    assert (
        "verify: 1 of 1 stages reproduced: every output is bit-identical"
        in (expected["verify make"][1])
    )
    assert "lineage-records" in expected["audit"][1]
    assert "no model registry at ROOT/registry (it has no events)" in expected["models list"][2]
    assert (
        "pipelines/tiny.yaml does not say which stages replicate re-runs"
        in expected["replicate --seeds 1,2"][2]
    )
    for place, got in answers.items():
        for command, answer in expected.items():
            assert got[command] == answer, f"`pedigree {command}` from {place} differs from root"


def test_run_does_the_same_from_a_subfolder_and_with_dash_c(stale: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(stale, reference, symlinks=True)
    code, out, err = _pedigree(reference, "run", "--json")
    assert code == 0, err

    def outcomes(text: str) -> dict[str, str]:
        return {s["stage"]: s["outcome"] for s in json.loads(text)["stages"]}

    assert outcomes(out) == {"make": "ran", "total": "skipped"}
    for i, place in enumerate(("stages/make/", "-C relative")):
        root, cwd, dash_c, _ = _copy(stale, tmp_path / f"here{i}", place)
        before = sorted(p.name for p in cwd.iterdir())
        code, here, err = _pedigree(cwd, *dash_c, "run", "--json")
        assert code == 0, f"from {place}: {err}"
        assert outcomes(here) == outcomes(out), place
        assert (root / "dvc.lock").read_text() == (reference / "dvc.lock").read_text(), place
        assert (root / "metrics.json").read_bytes() == (reference / "metrics.json").read_bytes()
        # Nothing was written relative to the folder pedigree started in.
        assert sorted(p.name for p in cwd.iterdir()) == before, place
        assert sh(root, str(BIN / "dvc"), "status", "--json").stdout.strip() == "{}", place


def test_a_missing_dash_c_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _pedigree(tmp_path, "-C", "no/such/folder", "status")
    assert code == 2
    assert "'no/such/folder' does not exist" in err
