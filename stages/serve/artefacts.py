"""What the server hands the predictor, read and checked before the model loads.

`files` maps roles to local files the server has already checked against their hashes: "model"
(models/model.keras), "calibration" (calibration.json, from calibrate) and "stats"
(data/prepared/stats.json, from transform: spec.serve.files). `params` holds params.yaml sections
as the model's lineage recorded them (spec.serve.params): "model" always, "determinism" when the
spec lists it. Anything missing or malformed is a ServeError at load time, never a request error:
the server must refuse to start rather than answer with a half-configured model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pedigree.errors import ServeError
from stages.common.determinism import DeterminismParams
from stages.common.training import ModelParams

MODEL, CALIBRATION, STATS = "model", "calibration", "stats"  # roles (pedigree.bundle's names)
BUNDLE_HINT = "serve a version released by this pipeline (its bundle names every file and param)"


@dataclass(frozen=True)
class Stats:
    """stats.json as the model saw it: the train split's mean/std and the stored image size."""

    mean: list[float]  # per channel, [0, 1] scale, exactly as written (parse_fn reads these)
    std: list[float]
    image_size: tuple[int, int]  # (height, width) transform resized every image to


def role_file(files: Mapping[str, Path], role: str) -> Path:
    """The local file of `role`, or ServeError naming the roles that were given."""
    if role not in files:
        raise ServeError(
            f"the predictor needs a '{role}' file, but it was given only {sorted(files)}",
            BUNDLE_HINT,
        )
    return Path(files[role])


def _read_json(path: Path, role: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServeError(f"the {role} file {path} is missing", BUNDLE_HINT) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ServeError(f"the {role} file {path} is not valid JSON: {exc}", BUNDLE_HINT) from None


def _number(value: Any) -> bool:
    # bool is an int in Python: `true` is not a number here.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_stats(path: Path) -> Stats:
    """stats.json with split == train, 3-channel mean and positive std, and a square image_size."""
    doc = _read_json(path, STATS)
    if not isinstance(doc, dict):
        raise ServeError(f"{path} is not a JSON object", BUNDLE_HINT)
    missing = [key for key in ("split", "mean", "std", "image_size") if key not in doc]
    if missing:
        raise ServeError(f"{path} has no {', '.join(missing)}: it is not transform's stats.json")
    if doc["split"] != "train":
        raise ServeError(
            f"{path} was computed on the {doc['split']!r} split, not train: the model was "
            "normalised with the train split's statistics",
            BUNDLE_HINT,
        )
    for key in ("mean", "std"):
        values = doc[key]
        if not (isinstance(values, list) and len(values) == 3 and all(map(_number, values))):
            raise ServeError(f"{path}: '{key}' must be 3 numbers (got {values!r})", BUNDLE_HINT)
    if not all(value > 0 for value in doc["std"]):
        raise ServeError(f"{path}: 'std' must be positive (got {doc['std']!r})", BUNDLE_HINT)
    size = doc["image_size"]
    valid = isinstance(size, list) and len(size) == 2
    if not (valid and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise ServeError(
            f"{path}: 'image_size' must be [height, width] in pixels (got {size!r})", BUNDLE_HINT
        )
    if size[0] != size[1]:
        # stages.common.data.parse_fn reads square images only: no such model was evaluated.
        raise ServeError(
            f"{path}: image_size {size} is not square; the pets models take square images",
            "set params.yaml transform.image_size to [n, n] and re-run the pipeline",
        )
    return Stats(list(doc["mean"]), list(doc["std"]), (size[0], size[1]))


def read_temperature(path: Path) -> float:
    """calibration.json's `temperature`: positive and finite (evaluate's own rule)."""
    doc = _read_json(path, CALIBRATION)
    value = doc.get("temperature") if isinstance(doc, dict) else None
    if not _number(value) or value <= 0:
        raise ServeError(
            f"{path} has no positive finite 'temperature' (got {value!r}): it is not "
            "calibrate's calibration.json",
            BUNDLE_HINT,
        )
    return float(value)


def _section(params: Mapping[str, Any], name: str, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(params[name])
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in (name, *error['loc']))}: {error['msg']}"
            for error in exc.errors()
        )
        raise ServeError(f"the recorded params.yaml '{name}' section is invalid: {problems}") from (
            None
        )


def model_params(params: Mapping[str, Any]) -> ModelParams:
    """params.yaml `model` as the model's lineage recorded it (input_size is what matters)."""
    if "model" not in params:
        raise ServeError(
            f"the predictor needs the params.yaml 'model' section, but was given only "
            f"{sorted(params)}",
            "list 'model' in spec.serve.params of the pipeline spec",
        )
    result: ModelParams = _section(params, "model", ModelParams)
    return result


def determinism_params(params: Mapping[str, Any]) -> DeterminismParams | None:
    """params.yaml `determinism` when the spec serves it (thread counts, op determinism)."""
    if "determinism" not in params:
        return None
    result: DeterminismParams = _section(params, "determinism", DeterminismParams)
    return result
