"""`pedigree verify` with real dvc and git: identical re-runs pass, a noisy stage fails clearly,
and the user's workspace and DVC cache are never touched."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import ALL_STAGES, make_demo_project, pedigree, sh

pytestmark = pytest.mark.integration


def _fingerprint(root: Path) -> dict[str, str]:
    """Every file of the project and its cache (not .git), by content."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts[:1] and "tmp" not in p.parts
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_project(tmp_path_factory.mktemp("verify") / "demo")


def test_identical_stage_passes_and_nothing_is_touched(demo: Path) -> None:
    before = _fingerprint(demo)
    result = pedigree(demo, "verify", "steady")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("stage"))
    assert lines[header].split() == ["stage", "output", "recorded", "reproduced", "identical"]
    assert lines[header + 1].split()[0:2] == ["steady", "data/steady"]
    assert lines[header + 1].split()[-1] == "yes"
    assert "verify: 1 of 1 stages reproduced: every output is bit-identical" in result.stdout
    assert _fingerprint(demo) == before  # workspace, dvc.lock, cache: all as they were


def test_non_deterministic_stage_fails_with_a_useful_message(demo: Path) -> None:
    before = _fingerprint(demo)
    result = pedigree(demo, "verify", "--all", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("noisy "))
    assert row.split()[1] == "data/noisy.bin" and row.split()[-1] == "NO"
    assert (
        "noisy: same environment, code, params and seeds as the recorded run, yet different bytes: the stage is not deterministic"
        in result.stdout
    )
    assert "verify: 1 of 2 stages reproduced: NOT reproduced" in result.stdout
    assert _fingerprint(demo) == before
    report = json.loads(pedigree(demo, "verify", "noisy", "--json", check=False).stdout)
    (output,) = report["stages"][0]["outputs"]
    assert report["ok"] is False and output["identical"] is False
    assert output["recorded"] != output["reproduced"] and len(output["reproduced"]) == 32


def test_a_changed_environment_is_named(demo: Path, tmp_path: Path) -> None:
    project = tmp_path / "demo"
    shutil.copytree(demo, project, symlinks=True)
    # Make the recorded run look as if it ran on other packages and another param value.
    record_path = project / "lineage" / "noisy.json"
    record = json.loads(record_path.read_text())
    record["environment"]["packages"]["numpy"] = "1.0.0"
    record_path.write_text(json.dumps(record))
    result = pedigree(project, "verify", "noisy", check=False)
    assert result.returncode == 1
    assert "noisy: what differs between the recorded run and this re-run:" in result.stdout
    assert "environment.packages.numpy: '1.0.0' -> " in result.stdout


def test_inputs_are_taken_as_recorded_not_as_they_are_now(demo: Path, tmp_path: Path) -> None:
    project = tmp_path / "demo"
    shutil.copytree(demo, project, symlinks=True)
    # The user has since edited the params and the data: verify still re-runs the recorded run.
    (project / "params.yaml").write_text("steady:\n  factor: 5\n")
    (project / "data" / "source.txt").write_text("changed\n")
    result = pedigree(project, "verify", "steady", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    # data/source.txt is a plain dep (not cached by DVC): its recorded bytes are gone.
    assert "input data/source.txt as recorded in dvc.lock" in result.stderr
    assert "neither in the DVC cache nor in the workspace" in result.stderr
    sh(project, "git", "checkout", "data/source.txt")
    assert pedigree(project, "verify", "steady").returncode == 0  # params from dvc.lock, not 5


def test_bad_requests_are_clear(demo: Path) -> None:
    unknown = pedigree(demo, "verify", "nope", check=False)
    assert unknown.returncode == 2
    assert "no recorded run of stage 'nope' in dvc.lock" in unknown.stderr
    assert "steady, noisy" in unknown.stderr
    neither = pedigree(demo, "verify", check=False)
    assert neither.returncode == 2 and "name the stages to verify, or pass --all" in neither.stderr
    both = pedigree(demo, "verify", "steady", "--all", check=False)
    assert both.returncode == 2 and "give stage names or --all, not both" in both.stderr


def test_every_stage_of_the_pets_pipeline_reproduces(ran_project: Path) -> None:
    # A second release (already-champion) first: verify must replay each decision against the
    # registry as that release found it, not as it is now.
    assert pedigree(ran_project, "run", "--stage", "release", "--force").returncode == 0
    before = _fingerprint(ran_project)
    result = pedigree(ran_project, "verify", "--all", "--json", check=False)
    report = json.loads(result.stdout)
    rows = {(s["stage"], o["path"]): o["identical"] for s in report["stages"] for o in s["outputs"]}
    assert {stage for stage, _ in rows} == set(ALL_STAGES)
    assert all(rows.values()), [row for row, same in rows.items() if not same]
    assert result.returncode == 0 and report["ok"] is True
    assert _fingerprint(ran_project) == before
    release = next(s for s in report["stages"] if s["stage"] == "release")
    assert {i["path"] for i in release["inputs"]} >= {
        "reports/evaluation.json",
        "models/model.keras",
    }
