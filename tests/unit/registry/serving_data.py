"""A registered version, its spec's serve section and serving settings, for the manifest tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pedigree.registry.records import ModelVersion
from pedigree.registry.settings import ServingSettings
from pedigree.spec.model import Serving

SHA = "c" * 64
SPLIT = "d" * 64
MODEL = {"path": "models/model.keras", "md5": "a1" + "0" * 30, "sha256": SHA, "size": 10}
CALIBRATION = {
    "path": "models/calibration/calibration.json",
    "md5": "b2" + "0" * 30,
    "sha256": "e" * 64,
    "size": 5,
}
STATS = {"path": "data/prepared/stats.json", "md5": "f3" + "0" * 30, "size": 354}
LINEAGE = {
    "train": {
        "deps": [STATS],
        "outs": [{"path": "models/model.keras", "md5": MODEL["md5"]}],
        "params": {
            "params.yaml": {
                "model": {"input_size": 64},
                "determinism": {"seed": 1},
                "train": {"epochs": 3},
            }
        },
    },
}
SETTINGS = ServingSettings(
    name="pets-segmentation",
    namespace="pedigree",
    image="pedigree/serve:0.1.0",
    remote="s3://pedigree/dvc",
    replicas=2,
    port=8080,
)
VERSION = ModelVersion(
    version=3,
    model_sha256=SHA,
    registered_at="2026-11-24T10:00:00Z",
    status="champion",
    artifact="models/model.keras",
    calibration={"temperature": 1.27},
    metrics={"mean_iou": 0.8},
    test_split_sha256=SPLIT,
    scores={SPLIT: {"mean_iou": 0.8}},
    git_commit="0123456789abcdef",
    git_dirty=False,
    environment={},
    lineage=LINEAGE,
    files={"model": MODEL, "calibration": CALIBRATION},
)
SERVE = Serving(
    image="images/serve",
    predictor="stages.serve",
    code=("stages/serve",),
    files={"stats": "data/prepared/stats.json"},
    params=("model",),
)
SECURE = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def documents(text: str) -> list[dict[str, Any]]:
    """The YAML documents of a manifest's text."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


# The smallest serve section: the predictor gets the model and calibration only.
SERVE_SECTION = """\
  serve:
    image: images/serve
    predictor: stages.serve
    code: [stages]
"""


def add_serve_section(root: Path) -> None:
    """Give the test project's spec (pipelines/pets.yaml, from tests.conftest) a serve section,
    and recompile dvc.yaml when the project had one."""
    from pedigree.cli.main import main

    spec = root / "pipelines" / "pets.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + SERVE_SECTION, encoding="utf-8")
    if (root / "dvc.yaml").is_file():
        assert main(["-C", str(root), "compile", "--target", "dvc"]) == 0
