"""A failed, refused or interrupted stage leaves its last good outputs in place; its error shows
this run's log (or DVC's reason when it never started); verify reports every stage.

Real dvc and git on a tiny deterministic two-stage project (built once per module, copied per
test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    BIN,
    init_repos,
    pedigree,
    project_env,
    run_and_commit,
    sh,
    write_small_project,
)

pytestmark = pytest.mark.integration

TINY_SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: tiny
spec:
  inputs: [data/source.txt]
  stages:
    - name: make
      cmd: [python, -m, stages.make]
      deps: [data/source.txt]
      params: [make]
      outs: [data/raw, data/prepared.txt]
      metrics: [metrics.json]
    - name: total
      cmd: [python, -m, stages.total]
      deps: [data/prepared.txt]
      outs: [data/total.txt]
"""
# mode: good (writes everything), fail (a bad param: exits 3 after writing part of data/raw),
# slow (writes part of data/raw, then waits to be interrupted).
TINY_MAKE = """\
import json, pathlib, sys, time, yaml
mode = yaml.safe_load(pathlib.Path("params.yaml").read_text())["make"]["mode"]
print("make starting with mode", mode, flush=True)
raw = pathlib.Path("data/raw"); raw.mkdir(exist_ok=True)
(raw / "a.txt").write_text("partial " + mode)
if mode == "fail":
    print("make: bad param make.mode=fail", file=sys.stderr)
    sys.exit(3)
if mode == "slow":
    (raw / "started").write_text("")
    time.sleep(60)
text = pathlib.Path("data/source.txt").read_text()
(raw / "b.txt").write_text(text + mode)
pathlib.Path("data/prepared.txt").write_text(text.upper())
pathlib.Path("metrics.json").write_text(json.dumps({"mode": mode, "chars": len(text)}))
"""
TINY_TOTAL = """\
import pathlib
text = pathlib.Path("data/prepared.txt").read_text()
pathlib.Path("data/total.txt").write_text(str(len(text)))
"""
OUTPUTS = ("data/raw/a.txt", "data/raw/b.txt", "data/prepared.txt", "metrics.json")


def make_tiny_project(root: Path) -> Path:
    """A two-stage deterministic project (make -> total), run once and committed."""
    write_small_project(
        root,
        TINY_SPEC,
        "make:\n  mode: good\n",
        {"make": {"__main__.py": TINY_MAKE}, "total": {"__main__.py": TINY_TOTAL}},
        {"data/source.txt": "one\ntwo\n", ".gitignore": ".pedigree/\n"},
    )
    return run_and_commit(init_repos(root))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_project(tmp_path_factory.mktemp("hostile-failure") / "tiny")


@pytest.fixture
def project(tiny: Path, tmp_path: Path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(tiny, target, symlinks=True)
    return target


def _bytes(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in OUTPUTS}


def _set_mode(root: Path, mode: str) -> None:
    (root / "params.yaml").write_text(f"make:\n  mode: {mode}\n")


def _assert_workspace_matches_the_lock(root: Path) -> None:
    """`dvc status`: nothing but the params change; every output as dvc.lock records it."""
    status = json.loads(sh(root, str(BIN / "dvc"), "status", "--json").stdout)
    assert status == {"make": [{"changed deps": {"params.yaml": {"make": "modified"}}}]}, status
    assert not (root / ".pedigree" / "keep").exists(), "kept copies must not linger"


def test_a_failing_stage_keeps_its_previous_outputs_byte_for_byte(project: Path) -> None:
    before = _bytes(project)
    _set_mode(project, "fail")
    result = pedigree(project, "run", check=False)
    assert result.returncode == 1, result.stderr
    assert (
        "error: stage 'make' failed (exit code 3); its previous outputs were restored from the "
        "cache: data/raw, data/prepared.txt, and from the copy kept before the run: metrics.json"
    ) in result.stderr
    assert _bytes(project) == before
    assert sorted(p.name for p in (project / "data" / "raw").iterdir()) == ["a.txt", "b.txt"]
    _assert_workspace_matches_the_lock(project)
    # This run's log only: the failing run's lines, not the good run's.
    assert "make: bad param make.mode=fail" in result.stderr
    assert "make starting with mode fail" in result.stderr
    assert "mode good" not in result.stderr
    # The downstream stage never ran and its output is untouched.
    assert (project / "data" / "total.txt").read_text() == "8"


def test_an_output_missing_from_the_cache_is_said_to_be_absent(project: Path) -> None:
    metrics = (project / "metrics.json").read_bytes()
    shutil.rmtree(project / ".dvc" / "cache")
    _set_mode(project, "fail")
    result = pedigree(project, "run", "--json", check=False)
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error["stage"] == "make"
    assert error["error"] == (
        "stage 'make' failed (exit code 3); its previous outputs were restored from the copy "
        "kept before the run: metrics.json; absent, with no previous version to restore: "
        "data/raw, data/prepared.txt"
    )
    assert "bad param" in error["log_tail"]
    assert not (project / "data" / "raw").exists(), "no half-written output may be left"
    assert (project / "metrics.json").read_bytes() == metrics


def test_a_stage_that_never_started_says_why_not_an_old_log(project: Path) -> None:
    before = _bytes(project)
    old_log = (project / ".pedigree" / "logs" / "make.log").read_bytes()
    (project / "data" / "source.txt").unlink()
    _set_mode(project, "good")  # unchanged params: the missing source alone makes it stale
    result = pedigree(project, "run", check=False)  # no --stage: the spec is not re-checked
    assert result.returncode == 1, result.stderr
    assert "error: stage 'make' did not start: " in result.stderr
    assert "data/source.txt" in result.stderr.split("did not start: ", 1)[1].splitlines()[0]
    assert "last lines of the 'make' log" not in result.stderr
    assert "mode good" not in result.stderr  # the older run's log is not shown as this one's
    assert "this run wrote no log; .pedigree/logs/make.log is from an earlier run" in result.stderr
    assert (project / ".pedigree" / "logs" / "make.log").read_bytes() == old_log
    assert _bytes(project) == before


def test_ctrl_c_restores_the_previous_outputs_too(project: Path) -> None:
    before = _bytes(project)
    _set_mode(project, "slow")
    proc = subprocess.Popen(
        [str(BIN / "pedigree"), "run"],
        cwd=project,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a terminal job
    )
    deadline = time.monotonic() + 60
    while not (project / "data" / "raw" / "started").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"the slow stage never started: {proc.communicate()}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted during stage 'make'" in err.decode()
    assert "its previous outputs were restored from the cache: data/raw" in err.decode()
    assert _bytes(project) == before
    assert not (project / "data" / "raw" / "started").exists()


def test_verify_reports_every_stage_when_one_cannot_be_replayed(project: Path) -> None:
    # make's input is a plain file (not cached): once edited, its recorded bytes are gone.
    (project / "data" / "source.txt").write_text("edited\n")
    result = pedigree(project, "verify", "--all", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[3:]}
    assert rows["make"][-4:] == ["(not", "re-run)", "cannot", "replay"]
    assert rows["total"][-1] == "yes"
    assert "verify: 1 of 2 stages reproduced: NOT reproduced (1 cannot be replayed)" in (
        result.stdout
    )
    assert "error: stage 'make' cannot be replayed: input data/source.txt as recorded" in (
        result.stderr
    )
    report = json.loads(pedigree(project, "verify", "--all", "--json", check=False).stdout)
    assert report["ok"] is False and report["not_replayed"] == ["make"]
    assert [(s["stage"], s["replayed"], s["identical"]) for s in report["stages"]] == [
        ("make", False, False),
        ("total", True, True),
    ]


def test_a_dry_run_in_a_fresh_clone_plans_every_stage(project: Path, tmp_path: Path) -> None:
    # A clone has no outputs: DVC's own dry run fails hashing `total`'s missing deps.
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(project), str(clone))
    assert not (clone / "data" / "prepared.txt").exists()
    plan = json.loads(pedigree(clone, "run", "--dry-run", "--json").stdout)
    assert {s["stage"]: s["outcome"] for s in plan["stages"]} == {
        "make": "would-run",
        "total": "would-run",
    }
    assert not (clone / "data" / "raw").exists(), "a dry run writes nothing"
