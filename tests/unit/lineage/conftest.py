"""Hand-built lineage records and a tiny dvc.lock: ingest -> transform -> train.

ingest reads the synthetic source and writes data/raw; transform writes the folder data/prepared;
train reads a part of it (data/prepared/train), a file in it (data/prepared/stats.json) and a raw
file no stage produces (data/labels.csv), and writes models/model.keras. The DVC cache holds
data/prepared's file listing, so links into the folder can be checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree.lineage.hashing import listing_hash
from pedigree.lineage.record import Artifact, Code, Container, Environment, LineageRecord
from pedigree.lineage.store import write_record

COMMIT = "0123456789abcdef0123456789abcdef01234567"
RUN_IDS = {
    "ingest": "11111111-1111-4111-8111-111111111111",
    "transform": "22222222-2222-4222-8222-222222222222",
    "train": "33333333-3333-4333-8333-333333333333",
}
RAW = "a" * 32 + ".dir"
MODEL = "b" * 32
LABELS = "c" * 32
PREPARED_FILES = [
    {"md5": "d" * 32, "relpath": "stats.json"},
    {"md5": "e" * 32, "relpath": "test/shard-0.tfrecord"},
    {"md5": "f" * 32, "relpath": "train/index.json"},
    {"md5": "9" * 32, "relpath": "train/shard-0.tfrecord"},
]
PREPARED = listing_hash(PREPARED_FILES)
TRAIN_PART = listing_hash(
    [
        {"md5": "f" * 32, "relpath": "index.json"},
        {"md5": "9" * 32, "relpath": "shard-0.tfrecord"},
    ]
)
STATS = "d" * 32


def environment(container: Container | None = None) -> Environment:
    """A fixed environment."""
    return Environment(
        python="3.11.9",
        implementation="CPython",
        platform="Linux-6.1-x86_64",
        machine="x86_64",
        cpu_count=2,
        lock={"path": "images/train/requirements.lock", "sha256": "5" * 64},
        packages={"numpy": "1.26.4", "tensorflow-cpu": "2.16.1"},
        threads={"OMP_NUM_THREADS": None, "intra_op_threads": 2},
        determinism={"PYTHONHASHSEED": "0", "op_determinism": True},
        container=container,
    )


def record(
    stage: str,
    inputs: list[Artifact],
    outputs: list[Artifact],
    params: dict[str, Any],
    *,
    started: str,
    status: str = "succeeded",
    dirty: bool = False,
    **changes: Any,
) -> LineageRecord:
    """A record of one run of `stage` with its code folder as a code input."""
    code = Artifact(path=f"stages/{stage}", md5="7" * 32 + ".dir", size=100, nfiles=3, kind="code")
    lock = Artifact(
        path=f"images/{stage}/requirements.lock", md5="8" * 32, size=10, kind="environment"
    )
    fields: dict[str, Any] = {
        "stage": stage,
        "run_id": RUN_IDS.get(stage, "44444444-4444-4444-8444-444444444444"),
        "pipeline": "pipelines/pets.yaml",
        "started": started,
        "ended": started.replace(":00.000Z", ":30.000Z"),
        "argv": ["python", "-m", f"stages.{stage}"],
        "cmd": f"python -m pedigree.launch --stage {stage} -- python -m stages.{stage}",
        "exit_code": 0 if status == "succeeded" else 1,
        "status": status,
        "params": params,
        "inputs": [*inputs, code, lock],
        "outputs": outputs,
        "code": Code(
            git_commit=COMMIT,
            git_dirty=dirty,
            folders={f"stages/{stage}": "7" * 32 + ".dir"},
            pedigree_version="0.1.0",
        ),
        "environment": environment(),
        "seeds": {"determinism.seed": 1234, "PYTHONHASHSEED": "0"},
    }
    fields.update(changes)
    return LineageRecord(**fields)


def records() -> dict[str, LineageRecord]:
    """The three records of the tiny pipeline."""
    raw = Artifact(path="data/raw", md5=RAW, size=1000, nfiles=10)
    prepared = Artifact(path="data/prepared", md5=PREPARED, size=500, nfiles=4)
    return {
        "ingest": record(
            "ingest",
            [],
            [raw],
            {
                "ingest": {
                    "source": "synthetic",
                    "sha256": None,
                    "synthetic": {"seed": 42, "count": 48},
                }
            },
            started="2024-05-01T10:00:00.000Z",
        ),
        "transform": record(
            "transform",
            [raw],
            [prepared],
            {"transform": {"image_size": [32, 32], "shard_size": 8}},
            started="2024-05-01T10:01:00.000Z",
        ),
        "train": record(
            "train",
            [
                Artifact(path="data/prepared/train", md5=TRAIN_PART, size=300, nfiles=2),
                Artifact(path="data/prepared/stats.json", md5=STATS, size=20),
                Artifact(path="data/labels.csv", md5=LABELS, size=7),
            ],
            [Artifact(path="models/model.keras", md5=MODEL, size=4000)],
            {"train": {"epochs": 2}, "determinism": {"seed": 1234}},
            started="2024-05-01T10:02:00.000Z",
            dirty=True,
        ),
    }


def lock_of(recs: dict[str, LineageRecord]) -> dict[str, Any]:
    """dvc.lock's `stages` mapping matching `recs`."""
    stages: dict[str, Any] = {}
    for name, rec in recs.items():
        stages[name] = {
            "cmd": rec.cmd,
            "deps": [{"path": a.path, "hash": "md5", "md5": a.md5} for a in rec.inputs],
            "outs": [{"path": a.path, "hash": "md5", "md5": a.md5} for a in rec.outputs],
        }
    return stages


@dataclass(frozen=True)
class TinyProject:
    """A project folder with records, dvc.lock and the DVC cache listing of data/prepared."""

    root: Path
    lock: dict[str, Any]
    records: dict[str, LineageRecord]


def write_project(root: Path, recs: dict[str, LineageRecord], cache: bool = True) -> TinyProject:
    """Write records, dvc.lock, pipelines/ and (with `cache`) data/prepared's listing."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "pipelines" / "pets.yaml").write_text("kind: Pipeline\n", encoding="utf-8")
    for rec in recs.values():
        write_record(root, rec)
    lock = lock_of(recs)
    (root / "dvc.lock").write_text(
        yaml.safe_dump({"schema": "2.0", "stages": lock}), encoding="utf-8"
    )
    if cache:
        listing = root / ".dvc" / "cache" / "files" / "md5" / PREPARED[:2] / PREPARED[2:]
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(json.dumps(PREPARED_FILES), encoding="utf-8")
    (root / "data" / "prepared" / "train").mkdir(parents=True, exist_ok=True)
    return TinyProject(root, lock, recs)


@pytest.fixture
def tiny(tmp_path: Path) -> TinyProject:
    """The tiny pipeline, all records current."""
    return write_project(tmp_path / "proj", records())
