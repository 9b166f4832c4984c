"""The release stage end to end on small files: register, gate, release.json, serving manifest,
and the registry's event files (re-running release writes nothing and gives the same bytes).

The stage only hashes the model file, so any bytes stand in for a model here; evaluation.json is
written as evaluate writes it (model sha256, test split sha256, metrics).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree.bundle import ServeBundle
from pedigree.errors import ParamsError, RegistryError, ServeError, SourceError, SpecError
from pedigree.registry.events import events_dir
from pedigree.registry.store import Registry, lock_path
from pedigree.stagekit import sha256_file
from stages.release.__main__ import main
from stages.release.gate import gate_digest
from stages.release.params import ReleaseParams
from tests.conftest import REPO_ROOT
from tests.unit.stages.release.test_release_params import GOOD

SPLIT = "c" * 64
STATS = {"path": "data/prepared/stats.json", "md5": "f" * 32, "size": 7}
LOCK = {
    "schema": "2.0",
    "stages": {
        "train": {
            "cmd": "python -m stages.train",
            "deps": [STATS],
            "params": {"params.yaml": {"model": {"input_size": 64}, "determinism": {"seed": 1}}},
            "outs": [{"path": "models/model.keras", "md5": "d" * 32, "size": 3}],
        },
        "calibrate": {
            "cmd": "python -m stages.calibrate",
            "outs": [
                {"path": "models/calibration/calibration.json", "md5": "e" * 32, "size": 9},
                {"path": "models/calibration/reliability.csv", "md5": "0" * 32, "size": 4},
            ],
        },
        "release": {"cmd": "python -m stages.release"},
    },
}


class Project:
    """A folder laid out like a pipeline run up to evaluate, with helpers to write a model."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "models" / "calibration").mkdir(parents=True)
        (root / "reports").mkdir()
        (root / "params.yaml").write_text(GOOD, encoding="utf-8")
        self.lock(LOCK)
        # the spec whose serve section the manifest runs (release reads only that section)
        (root / "pipelines").mkdir()
        shutil.copyfile(REPO_ROOT / "pipelines" / "pets.yaml", root / "pipelines" / "pets.yaml")
        self.calibration({"temperature": 1.25, "ece": {"before": 0.05, "after": 0.01}})

    def lock(self, lock: dict[str, Any]) -> None:
        (self.root / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")

    def calibration(self, doc: dict[str, Any]) -> None:
        path = self.root / "models" / "calibration" / "calibration.json"
        path.write_text(json.dumps(doc), encoding="utf-8")

    def model(self, content: bytes, mean_iou: float, ece: float = 0.02, split: str = SPLIT) -> str:
        """Write a "model" and the evaluation that scored it; return its sha256."""
        model = self.root / "models" / "model.keras"
        model.write_bytes(content)
        sha = sha256_file(model)
        metrics = {
            "split": "test",
            "mean_iou": mean_iou,
            "ece": {"original": 0.08, "calibrated": ece},
            "temperature": 1.25,
        }
        evaluation = {
            "model": {"path": "models/model.keras", "sha256": sha},
            "calibration": {"temperature": 1.25},
            "test_split": {"path": "data/prepared/test", "sha256": split, "images": 10},
            "metrics": metrics,
        }
        (self.root / "reports" / "evaluation.json").write_text(json.dumps(evaluation))
        return sha

    def release(self, out: str = "models/release") -> dict[str, Any]:
        cwd = Path.cwd()
        os.chdir(self.root)
        try:
            assert main(["--pipeline", "pets", "--out", out]) == 0
        finally:
            os.chdir(cwd)
        return json.loads((self.root / out / "release.json").read_text(encoding="utf-8"))

    @property
    def folder(self) -> Path:
        return self.root / "registry" / "pets"

    @property
    def registry(self) -> Registry:
        return Registry(self.folder, lock_path(self.root, self.folder))

    def event_files(self) -> dict[str, bytes]:
        folder = events_dir(self.folder)
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}

    @property
    def manifest(self) -> Path:
        return self.root / "cluster-conf" / "serving" / "pets.yaml"


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


def test_first_release_is_promoted_and_served(proj: Project) -> None:
    sha = proj.model(b"model one", 0.8)
    doc = proj.release()
    assert doc["decision"] == "promoted" and doc["promoted"] is True
    assert doc["version"] == 1 and doc["model_sha256"] == sha
    assert doc["champion_before"] is None
    assert doc["champion_after"]["version"] == 1
    assert doc["serving_manifest"] == "cluster-conf/serving/pets.yaml"
    assert [r["passed"] for r in doc["reasons"]] == [True, True, True]
    champion = proj.registry.champion()
    assert champion is not None and champion.model_sha256 == sha
    assert champion.test_split_sha256 == SPLIT
    # release's own entry is left out of the lineage
    assert champion.lineage == {k: v for k, v in LOCK["stages"].items() if k != "release"}
    assert champion.environment["python"]
    assert sha in proj.manifest.read_text(encoding="utf-8")
    # no copy of the model: the registry names the DVC output and its hashes
    assert champion.artifact == "models/model.keras"
    assert champion.files["model"] == {
        "path": "models/model.keras", "md5": "d" * 32, "size": 3, "sha256": sha,
    }  # fmt: skip
    calibration = proj.root / "models" / "calibration" / "calibration.json"
    assert champion.files["calibration"] == {
        "path": "models/calibration/calibration.json",
        "md5": "e" * 32,
        "size": 9,
        "sha256": sha256_file(calibration),
    }
    kinds = sorted(name.split("-", 1)[1].rsplit("-", 1)[0] for name in proj.event_files())
    assert kinds == ["promoted", "registered"]
    assert doc["registry"] == "registry/pets"
    assert not (proj.root / ".pedigree" / "registry").exists()


def test_better_model_replaces_the_champion_worse_one_is_rejected(proj: Project) -> None:
    proj.model(b"one", 0.80)
    proj.release()
    second = proj.model(b"two", 0.85)
    doc = proj.release()
    assert doc["decision"] == "promoted" and doc["version"] == 2
    assert doc["champion_before"]["version"] == 1
    assert second in proj.manifest.read_text(encoding="utf-8")
    served = proj.manifest.read_bytes()

    proj.model(b"three", 0.83)
    doc = proj.release()
    assert doc["decision"] == "rejected" and doc["promoted"] is False
    assert doc["champion_after"]["version"] == 2
    failing = [r["message"] for r in doc["reasons"] if not r["passed"]]
    assert failing == [
        "mean_iou 0.83 does not beat champion v2's 0.85 by the margin 0.005 "
        "(higher is better; difference -0.02)"
    ]
    assert proj.manifest.read_bytes() == served  # the served model did not change
    statuses = {v.version: v.status for v in proj.registry.versions()}
    assert statuses == {1: "retired", 2: "champion", 3: "rejected"}


def release_json(proj: Project) -> bytes:
    return (proj.root / "models" / "release" / "release.json").read_bytes()


def test_releasing_the_same_model_twice_writes_nothing_and_the_same_bytes(proj: Project) -> None:
    proj.model(b"one", 0.8)
    first = proj.release()
    text, events = release_json(proj), proj.event_files()
    again = proj.release()
    assert again == first and release_json(proj) == text
    assert again["version"] == 1 and again["decision"] == "promoted"
    assert proj.event_files() == events  # the log already held the decision
    assert len(proj.registry.versions()) == 1


def test_a_rejection_re_run_after_a_promotion_by_hand_is_unchanged(proj: Project) -> None:
    """The registry changed after the decision (a person promoted v2): re-running release finds
    its decision in the log, writes nothing, and release.json keeps its bytes; the manifest
    follows the champion the log replays to."""
    proj.model(b"one", 0.8)
    proj.release()
    second = proj.model(b"two", 0.801)
    doc = proj.release()
    assert doc["decision"] == "rejected"
    text = release_json(proj)
    proj.registry.promote(2, "reviewed by hand", "alice")
    events = proj.event_files()
    assert proj.release() == doc and release_json(proj) == text
    assert proj.event_files() == events
    assert second in proj.manifest.read_text(encoding="utf-8")


def test_other_gate_settings_decide_anew(proj: Project) -> None:
    proj.model(b"one", 0.8)
    proj.release()
    proj.model(b"two", 0.801)
    assert proj.release()["decision"] == "rejected"
    params = proj.root / "params.yaml"
    params.write_text(GOOD.replace("margin: 0.005", "margin: 0.0"), encoding="utf-8")
    doc = proj.release()
    assert doc["decision"] == "promoted" and doc["newly_registered"] is False
    assert [v.status for v in proj.registry.versions()] == ["retired", "champion"]


def test_gate_digest_covers_the_deciding_settings_only() -> None:
    base = yaml.safe_load(GOOD)["release"]
    digest = gate_digest(ReleaseParams.model_validate(base))
    assert len(digest) == 64
    assert gate_digest(ReleaseParams.model_validate({**base, "registry": "elsewhere"})) == digest
    for change in ({"margin": 0.01}, {"higher_is_better": False}, {"primary_metric": "x"}):
        assert gate_digest(ReleaseParams.model_validate({**base, **change})) != digest
    looser = {**base, "thresholds": {"mean_iou": {"min": 0.5}}}
    assert gate_digest(ReleaseParams.model_validate(looser)) != digest


def test_an_edited_decision_is_detected_on_re_release(proj: Project) -> None:
    """Turning a recorded rejection into a promotion (name and digest made to match) does not
    pass: release recomputes the decision from the log before it."""
    proj.model(b"one", 0.8)
    proj.release()
    proj.model(b"two", 0.801)
    proj.release()
    folder = events_dir(proj.folder)
    (rejected,) = [p for p in folder.iterdir() if "-rejected-" in p.name]
    event = next(e for e in proj.registry.events() if e.name == rejected.name)
    forged = replace(event, kind="promoted", name="")
    rejected.unlink()
    (folder / forged.file_name()).write_text(forged.text(), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"the recorded decision \(promoted\) is not what"):
        proj.release()


def test_a_hand_edited_event_file_is_a_located_error(proj: Project) -> None:
    proj.model(b"one", 0.8)
    proj.release()
    (promoted,) = [p for p in events_dir(proj.folder).iterdir() if "-promoted-" in p.name]
    promoted.write_text(promoted.read_text().replace('"release"', '"mallory"'))
    with pytest.raises(RegistryError, match=rf"{promoted.name}: its content does not match"):
        proj.release()


def test_changed_test_split_is_refused_not_compared(proj: Project) -> None:
    proj.model(b"one", 0.6, split="d" * 64)
    proj.release()
    proj.model(b"two", 0.99)
    doc = proj.release()
    assert doc["decision"] == "rejected"
    (reason,) = [r for r in doc["reasons"] if not r["passed"]]
    assert reason["check"] == "test split"
    assert "the test split changed" in reason["message"]
    assert doc["champion_after"]["scored_on_this_test_split"] is False


def test_threshold_failure_on_first_release_leaves_no_champion(proj: Project) -> None:
    proj.model(b"weak", 0.3)
    doc = proj.release()
    assert doc["decision"] == "rejected"
    assert doc["champion_after"] is None and doc["serving_manifest"] is None
    assert not proj.manifest.exists()


def test_a_model_that_is_not_the_evaluated_one_is_refused(proj: Project) -> None:
    proj.model(b"evaluated", 0.8)
    (proj.root / "models" / "model.keras").write_bytes(b"swapped after evaluation")
    with pytest.raises(SourceError, match=r"is not the model reports/evaluation.json scored"):
        proj.release()
    assert not (proj.root / "models" / "release").exists()


def test_an_unknown_threshold_metric_is_a_params_error_before_registering(proj: Project) -> None:
    proj.model(b"one", 0.8)
    params = proj.root / "params.yaml"
    params.write_text(GOOD.replace("mean_iou: {min", "mean_iu: {min"), encoding="utf-8")
    with pytest.raises(
        ParamsError, match=r"\[release.thresholds.mean_iu\]: 'mean_iu' is not a metric"
    ):
        proj.release()
    assert not proj.folder.exists()


def test_two_releases_at_the_same_moment_stay_consistent(proj: Project) -> None:
    """Two stage processes, two different models, one registry: versions 1 and 2, one champion."""
    runs = []
    lock = copy.deepcopy(LOCK)
    for name in ("a", "b"):  # each model is a DVC output: the cluster fetches it by content
        content = name.encode() * 100
        md5 = hashlib.md5(content).hexdigest()
        out = {"path": f"{name}/models/model.keras", "md5": md5, "size": len(content)}
        lock["stages"]["train"]["outs"].append(out)
    proj.lock(lock)
    for name, iou in (("a", 0.8), ("b", 0.9)):
        folder = proj.root / name
        (folder / "models").mkdir(parents=True)
        model = folder / "models" / "model.keras"
        model.write_bytes(name.encode() * 100)
        evaluation = {
            "model": {"sha256": sha256_file(model)},
            "test_split": {"sha256": SPLIT},
            "metrics": {"mean_iou": iou, "ece": {"calibrated": 0.01}},
        }
        (folder / "evaluation.json").write_text(json.dumps(evaluation))
        argv = [
            sys.executable, "-m", "stages.release", "--evaluation", str(folder / "evaluation.json"),
            "--model", str(model), "--out", f"out-{name}",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        runs.append(subprocess.Popen(argv, cwd=proj.root, env=env, stderr=subprocess.PIPE))
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
    versions = proj.registry.versions()
    assert [v.version for v in versions] == [1, 2]
    assert len({v.model_sha256 for v in versions}) == 2
    assert sum(v.status == "champion" for v in versions) == 1
    champion = proj.registry.champion()
    assert champion is not None
    # Whatever the order, the better model ends up champion: either it came second and beat the
    # first, or it came first and the second could not beat it.
    assert champion.metrics["mean_iou"] == 0.9


def test_the_manifest_serves_the_champion_with_the_specs_predictor(proj: Project) -> None:
    sha = proj.model(b"model one", 0.8)
    proj.release()
    deployment, service = yaml.safe_load_all(proj.manifest.read_text(encoding="utf-8"))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    bundle = ServeBundle.from_json(env["PEDIGREE_SERVE_BUNDLE"])
    assert (bundle.pipeline, bundle.version, bundle.model_sha256) == ("pets", 1, sha)
    assert bundle.predictor == "stages.serve"  # pipelines/pets.yaml's spec.serve
    assert {f.role: (f.path, f.uri) for f in bundle.files} == {
        "model": ("models/model.keras", "s3://pedigree/dvc/files/md5/dd/" + "d" * 30),
        "calibration": (
            "models/calibration/calibration.json",
            "s3://pedigree/dvc/files/md5/ee/" + "e" * 30,
        ),
        "stats": ("data/prepared/stats.json", "s3://pedigree/dvc/files/md5/ff/" + "f" * 30),
    }
    assert bundle.params == {"model": {"input_size": 64}, "determinism": {"seed": 1}}
    assert service["kind"] == "Service"
    listing = proj.manifest.parent / "kustomization.yaml"
    assert listing.read_text(encoding="utf-8").endswith("resources:\n  - pets.yaml\n")


def test_a_calibration_inside_a_folder_output_is_refused_before_registering(
    proj: Project,
) -> None:
    lock = copy.deepcopy(LOCK)
    lock["stages"]["calibrate"]["outs"] = [
        {"path": "models/calibration", "md5": "e" * 32 + ".dir", "size": 9}
    ]
    proj.lock(lock)
    proj.model(b"one", 0.8)
    with pytest.raises(
        ServeError,
        match=r"could not be served if promoted: dvc.lock records no md5 of its own for its "
        r"calibration file models/calibration/calibration.json",
    ):
        proj.release()
    assert not proj.folder.exists() and not proj.manifest.exists()


def test_a_served_file_missing_from_the_lineage_is_refused_before_registering(
    proj: Project,
) -> None:
    lock = copy.deepcopy(LOCK)
    del lock["stages"]["train"]["deps"]
    proj.lock(lock)
    proj.model(b"one", 0.8)
    with pytest.raises(
        ServeError,
        match=r"could not be served if promoted: its lineage records no file "
        r"data/prepared/stats.json \(spec.serve.files.stats\)",
    ):
        proj.release()
    assert not proj.folder.exists()


def test_a_spec_without_serve_is_a_located_error_before_registering(proj: Project) -> None:
    spec = proj.root / "pipelines" / "pets.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text[: text.index("\n  serve:\n")] + "\n", encoding="utf-8")
    proj.model(b"one", 0.8)
    with pytest.raises(SpecError, match=r"pipelines/pets.yaml:\d+ \[spec.serve\]: pipeline 'pets'"):
        proj.release()
    assert not proj.folder.exists()


def test_the_spec_must_be_the_released_pipeline(proj: Project) -> None:
    proj.model(b"one", 0.8)
    cwd = Path.cwd()
    os.chdir(proj.root)
    try:
        with pytest.raises(SpecError, match=r"pipeline 'pets', not 'birds'"):
            main(["--pipeline", "birds"])
    finally:
        os.chdir(cwd)
    assert not proj.folder.exists()
