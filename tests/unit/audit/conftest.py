"""Hand-made audit projects: a spec, params, prepared data, dvc.lock and lineage records.

Everything is written by hand and small, so each test can plant exactly one violation; hashes
come from pedigree.lineage.hashing, as the launcher's records do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree.audit.layout import SplitLayout
from pedigree.lineage.hashing import Ignore, content_hash
from pedigree.lineage.record import Artifact, Code, Environment, LineageRecord
from pedigree.lineage.store import write_record
from tests.conftest import make_project

# The pets layout as pipelines/pets.yaml declares it (spec.data).
LAYOUT = SplitLayout(
    "transform",
    "data/prepared",
    ("train", "validation", "calibration", "test"),
    ("data/raw",),
    train="train",
    group_key="animal_id",
    held_out={"test": ("evaluate",), "calibration": ("calibrate", "evaluate")},
    model_selection={"tune": ("train", "validation")},
)

SPLITS = ("train", "validation", "calibration", "test")
TUNE_DEPS = "[data/prepared/train, data/prepared/validation, data/prepared/stats.json]"
CALIBRATE_DEPS = "[data/prepared/calibration, data/prepared/stats.json]"
SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: pets
spec:
  stages:
    - name: ingest
      cmd: [python, -m, stages.ingest]
      params: [ingest]
      outs: [data/raw]
    - name: transform
      cmd: [python, -m, stages.transform]
      deps: [data/raw]
      params: [transform]
      outs: [{prepared}]
    - name: tune
      cmd: [python, -m, stages.tune]
      deps: {tune}
      outs: [models/tune]
    - name: calibrate
      cmd: [python, -m, stages.calibrate]
      deps: {calibrate}
      outs: [models/calibration]
    - name: evaluate
      cmd: [python, -m, stages.evaluate]
      deps: [{prepared}/test, {prepared}/stats.json, models/calibration]
      outs: [reports]
  data:
    splits:
      stage: transform
      path: {prepared}
      names: [train, validation, calibration, test]
      groupKey: animal_id
    heldOut:
      test: [evaluate]
      calibration: [calibrate, evaluate]
    modelSelection:
      tune: [train, validation]
"""
PARAMS = """\
ingest:
  seed: 1
transform:
  image_size: [4, 4]
  split:
    buckets: 4
    train: [0]
    validation: [1]
    calibration: [2]
    test: [3]
"""
# (sample id, animal id, split): two animals per split, the train split larger.
SAMPLES = (
    ("cat_1", "a1", "train"),
    ("cat_2", "a1", "train"),
    ("dog_1", "a2", "train"),
    ("dog_2", "a3", "validation"),
    ("dog_3", "a4", "validation"),
    ("cat_3", "a5", "calibration"),
    ("cat_4", "a6", "calibration"),
    ("dog_4", "a7", "test"),
    ("dog_5", "a8", "test"),
)


def spec_text(tune: str = TUNE_DEPS, calibrate: str = CALIBRATE_DEPS, prepared: str = "") -> str:
    """The test spec with these deps for tune and calibrate and this prepared folder."""
    return SPEC.format(tune=tune, calibrate=calibrate, prepared=prepared or "data/prepared")


def image_sha(sample_id: str) -> str:
    """A distinct stand-in for the sha256 of a sample's image bytes."""
    return hashlib.sha256(f"image of {sample_id}".encode()).hexdigest()


def digest(ids: list[str]) -> str:
    """samples_sha256 as transform defines it."""
    return hashlib.sha256("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()


def write_prepared(
    folder: Path, samples: tuple[tuple[str, str, str], ...] = SAMPLES, shas: dict | None = None
) -> None:
    """provenance.jsonl, splits.json, index.json + one shard per split, stats.json."""
    shas = shas or {}
    folder.mkdir(parents=True, exist_ok=True)
    lines, parts = [], {}
    for split in SPLITS:
        rows = [s for s in samples if s[2] == split]
        (folder / split).mkdir(exist_ok=True)
        (folder / split / "shard-00000.tfrecord").write_bytes(split.encode() * 10)
        index = {
            "split": split,
            "count": len(rows),
            "shards": [{"file": "shard-00000.tfrecord", "count": len(rows), "sha256": "x"}],
        }
        (folder / split / "index.json").write_text(json.dumps(index), encoding="utf-8")
        for n, (sid, animal, _) in enumerate(rows):
            source = {"image": f"images/{sid}.jpg", "image_sha256": shas.get(sid, image_sha(sid))}
            lines.append(
                {
                    "id": sid,
                    "animal_id": animal,
                    "split": split,
                    "source": source,
                    "shard": f"{split}/shard-00000.tfrecord",
                    "index": n,
                }
            )
        parts[split] = {
            "animals": sorted({r[1] for r in rows}),
            "images": sorted(r[0] for r in rows),
            "count": len(rows),
        }
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    (folder / "provenance.jsonl").write_text(text, encoding="utf-8")
    splits_doc = {"buckets": 4, "splits": parts}
    (folder / "splits.json").write_text(json.dumps(splits_doc), encoding="utf-8")
    train = [s[0] for s in samples if s[2] == "train"]
    stats = {
        "split": "train",
        "count_images": len(train),
        "count_pixels": len(train) * 16,
        "image_size": [4, 4],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.2, 0.2, 0.2],
        "samples_sha256": digest(train),
    }
    (folder / "stats.json").write_text(json.dumps(stats), encoding="utf-8")


def rewrite_json(path: Path, change: Any) -> None:
    """Load `path`, let `change` edit the document in place, write it back."""
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def read_provenance(path: Path) -> list[dict[str, Any]]:
    """The lines of a provenance.jsonl."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_provenance(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write provenance lines back."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@dataclass(frozen=True)
class Run:
    """One stage as recorded: deps, params (section -> value) and outs."""

    stage: str
    deps: tuple[str, ...]
    params: dict[str, Any]
    outs: tuple[str, ...]


RUNS = (
    Run("ingest", (), {"ingest": {"seed": 1}}, ("data/raw",)),
    Run("transform", ("data/raw",), {"transform": {"image_size": [4, 4]}}, ("data/prepared",)),
)


def artifacts(root: Path, paths: tuple[str, ...]) -> list[Artifact]:
    """DVC-hashed artifacts of existing paths."""
    ignore = Ignore(root)
    out = []
    for rel in paths:
        found = content_hash(root / rel, ignore)
        if found is None:
            raise FileNotFoundError(rel)
        out.append(Artifact(path=rel, md5=found.md5, size=found.size, nfiles=found.nfiles))
    return out


def make_record(root: Path, run: Run, **changes: Any) -> LineageRecord:
    """The record the launcher would write for `run` (fields overridable)."""
    fields: dict[str, Any] = {
        "stage": run.stage,
        "run_id": f"run-{run.stage}",
        "started": "2025-01-01T00:00:00.000Z",
        "ended": "2025-01-01T00:00:01.000Z",
        "argv": ["python", "-m", f"stages.{run.stage}"],
        "cmd": f"python -m stages.{run.stage}",
        "exit_code": 0,
        "status": "succeeded",
        "params": run.params,
        "inputs": artifacts(root, run.deps),
        "outputs": artifacts(root, run.outs),
        "code": Code(git_commit=None, git_dirty=None, pedigree_version="0"),
        "environment": Environment(
            python="3.11",
            implementation="CPython",
            platform="test",
            machine="x86_64",
            cpu_count=1,
            lock={},
            packages={},
            threads={},
            determinism={},
        ),
        "seeds": {},
    }
    fields.update(changes)
    return LineageRecord(**fields)


def lock_entry(root: Path, run: Run) -> dict[str, Any]:
    """The dvc.lock entry DVC would write for `run`."""

    def items(paths: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            {"path": a.path, "hash": "md5", "md5": a.md5, "size": a.size}
            for a in artifacts(root, paths)
        ]

    return {
        "cmd": f"python -m stages.{run.stage}",
        "deps": items(run.deps),
        "params": {"params.yaml": run.params},
        "outs": items(run.outs),
    }


def write_lock_and_records(root: Path, runs: tuple[Run, ...] = RUNS) -> None:
    """dvc.lock and lineage/<stage>.json for `runs`, all agreeing with the workspace."""
    stages = {run.stage: lock_entry(root, run) for run in runs}
    text = yaml.safe_dump({"schema": "2.0", "stages": stages}, sort_keys=False)
    (root / "dvc.lock").write_text(text, encoding="utf-8")
    for run in runs:
        write_record(root, make_record(root, run))


STAGES = ("ingest", "transform", "tune", "calibrate", "evaluate")


def build(root: Path, spec: str | None = None, stages: tuple[str, ...] = STAGES) -> Path:
    """A complete audit project that passes every check."""
    make_project(root, spec or spec_text(), stages)
    (root / "params.yaml").write_text(PARAMS, encoding="utf-8")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "manifest.json").write_text("{}", encoding="utf-8")
    write_prepared(root / "data" / "prepared")
    write_lock_and_records(root)
    return root


@pytest.fixture
def audited(tmp_path: Path) -> Path:
    """A hand-made project that passes the audit."""
    return build(tmp_path / "proj")
