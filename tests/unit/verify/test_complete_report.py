"""`verify --all` reports every stage: identical, differs, or cannot be replayed (and why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.api import verify as verify_api
from pedigree.cli.main import main
from pedigree.errors import ToolError
from pedigree.verify.compare import OutputCheck
from pedigree.verify.envdiff import Difference
from pedigree.verify.rerun import StageVerification
from pedigree.verify.workspace import LockedStage, VerifyInputError

STAGES = ("ingest", "transform", "train", "release", "report")
LOCK_ENTRY = """\
  {name}:
    cmd: python -m stages.{name}
    outs:
    - path: out/{name}
      hash: md5
      md5: {md5}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "p.yaml").write_text("kind: Pipeline\n")  # only located, not read
    (project / "dvc.yaml").write_text(
        "stages:\n" + "".join(f"  {s}:\n    cmd: python -m stages.{s}\n" for s in STAGES)
    )
    (project / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n"
        + "".join(LOCK_ENTRY.format(name=s, md5="abcde"[i] * 32) for i, s in enumerate(STAGES))
    )
    return project


def fake_replay(
    root: Path, cache: Path, locked: LockedStage, keep: bool, logs: frozenset[str] = frozenset()
) -> StageVerification:
    """Stands in for the real re-run: one outcome per stage name (`logs`: see rerun)."""
    (out,) = locked.outs
    if locked.name == "release":
        raise VerifyInputError(
            "stage 'release': the snapshot of its registry as it ran (.pedigree/x) is missing",
            "it cannot be replayed; re-run it with `pedigree run --stage release --force`",
        )
    if locked.name == "report":
        raise ToolError(f"the DVC cache object for {out.path} is unreadable", "run `dvc pull`")
    reproduced = "f" * 32 if locked.name == "train" else out.md5
    diffs = (Difference("environment.packages.numpy", "1.0", "2.0"),)
    return StageVerification(
        stage=locked.name,
        checks=(OutputCheck(locked.name, out.path, out.md5, reproduced),),
        exit_code=0,
        seconds=0.1,
        differences=diffs if locked.name == "train" else (),
    )


def test_every_stage_is_reported_even_after_one_cannot_be_replayed(root: Path) -> None:
    seen: list[str] = []
    report = verify_api.verify(root, all_stages=True, progress=seen.append, replay=fake_replay)
    assert seen == list(STAGES)
    assert [s.stage for s in report.stages] == list(STAGES)
    assert [s.identical for s in report.stages] == [True, True, False, False, False]
    assert report.differing == ("train",)
    assert report.not_replayed == ("release", "report")
    assert not report.ok
    release = report.stages[3].not_replayed
    assert release is not None and "snapshot of its registry" in release.message
    assert release.hint is not None and "--force" in release.hint
    assert [o.path for o in release.outputs] == ["out/release"]


def test_a_corrupt_lock_entry_is_one_unreplayable_stage_not_a_crash(root: Path) -> None:
    text = (
        (root / "dvc.lock")
        .read_text()
        .replace(
            "  report:\n    cmd: python -m stages.report\n",
            "  report: [oops]\n  skipped:\n    cmd: x\n",
        )
    )
    (root / "dvc.lock").write_text(text)
    report = verify_api.verify(root, ("ingest", "report"), replay=fake_replay)
    assert [s.stage for s in report.stages] == ["ingest", "report"]
    why = report.stages[1].not_replayed
    assert why is not None and why.message.startswith("dvc.lock: stages.report is not a mapping")


def _cli(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(verify_api, "rerun", fake_replay)
    code = main(["-C", str(root), "verify", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_table_names_every_stage_and_says_why_one_cannot_be_replayed(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(root, monkeypatch, capsys, "--all")
    assert code == 1  # a stage differs: that is the finding that matters
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[5:11]}
    assert list(rows) == ["stage", *STAGES]
    assert rows["ingest"] == ["out/ingest", "a" * 12, "a" * 12, "yes"]
    assert rows["train"] == ["out/train", "c" * 12, "f" * 12, "NO"]
    assert rows["release"] == ["out/release", "d" * 12, "(not", "re-run)", "cannot", "replay"]
    assert rows["report"][2:] == ["(not", "re-run)", "cannot", "replay"]
    assert "train: what differs between the recorded run and this re-run:" in out
    assert "environment.packages.numpy: '1.0' -> '2.0'" in out
    assert (
        "verify: 2 of 5 stages reproduced: NOT reproduced (1 differs, 2 cannot be replayed)" in out
    )
    assert (
        "error: stage 'release' cannot be replayed: the snapshot of its registry as it ran "
        "(.pedigree/x) is missing" in err
    )
    assert "hint: it cannot be replayed; re-run it with `pedigree run --stage release" in err
    assert "error: stage 'report' cannot be replayed: the DVC cache object" in err


def test_cannot_replay_alone_exits_2_with_the_other_stages_still_shown(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(root, monkeypatch, capsys, "ingest", "release")
    assert code == 2
    assert "ingest   out/ingest" in out and "yes" in out
    assert "verify: 1 of 2 stages reproduced: NOT reproduced (1 cannot be replayed)" in out
    assert "stage 'release' cannot be replayed" in err


def test_json_reports_every_stage_too(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(root, monkeypatch, capsys, "--all", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["differing"] == ["train"] and report["not_replayed"] == ["release", "report"]
    by_stage = {s["stage"]: s for s in report["stages"]}
    assert list(by_stage) == list(STAGES)
    assert by_stage["ingest"]["identical"] is True and by_stage["ingest"]["replayed"] is True
    release = by_stage["release"]
    assert release["replayed"] is False and release["exit_code"] is None
    assert "snapshot of its registry" in release["cannot_replay"]["message"]
    assert release["outputs"] == [
        {
            "path": "out/release",
            "recorded": "d" * 32,
            "reproduced": None,
            "identical": None,
            "details": [],
        }
    ]
    assert by_stage["train"]["environment_differences"] == [
        {"key": "environment.packages.numpy", "recorded": "1.0", "now": "2.0"}
    ]


def test_all_identical_still_exits_0(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(root, monkeypatch, capsys, "ingest", "transform")
    assert code == 0 and err == ""
    assert "verify: 2 of 2 stages reproduced: every output is bit-identical" in out
