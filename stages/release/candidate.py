"""What the registry stores about a model: hashes, metrics, calibration, git, environment, lineage.

Everything is read from files the pipeline wrote and checked against each other: the model's
sha256 must be the one the evaluation scored, and the calibration's temperature the one it used,
so a registry entry can never pair a model with another model's metrics.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from pedigree.gitstate import git_state
from pedigree.locks import read_lock
from pedigree.registry.records import Candidate
from pedigree.stagekit import read_lock_stages, sha256_file

# The stages whose environment made (or judged) the model, and the packages worth naming.
MODEL_STAGES = ("train", "calibrate", "evaluate")
KEY_PACKAGES = ("tensorflow-cpu", "keras", "numpy")
# What "uncommitted changes" means for a candidate: code, locks, spec and params.
CODE_PATHS = ("stages", "src", "images", "pipelines", "params.yaml")


def read_json(path: Path, what: str, hint: str) -> dict[str, Any]:
    """A JSON object from `path`, or a SourceError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path} is missing ({what})", hint) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not valid JSON ({what}): {exc}", hint) from None
    if not isinstance(data, dict):
        raise SourceError(f"{path} must hold a JSON object ({what})", hint)
    return data


def evaluation_facts(evaluation: dict[str, Any], path: Path) -> tuple[str, str, dict[str, Any]]:
    """(model sha256, test split sha256, metrics) from evaluate's evaluation.json."""
    hint = "re-run the evaluate stage (pedigree run --stage evaluate -f)"
    try:
        model_sha = str(evaluation["model"]["sha256"])
        split_sha = str(evaluation["test_split"]["sha256"])
        metrics = evaluation["metrics"]
    except (KeyError, TypeError):
        raise SourceError(
            f"{path} lacks model.sha256, test_split.sha256 or metrics", hint
        ) from None
    if not isinstance(metrics, dict) or not metrics:
        raise SourceError(f"{path} has no metrics", hint)
    return model_sha, split_sha, metrics


def environment(root: Path) -> dict[str, Any]:
    """The environment by content: each model stage's lock hash and the key package versions."""
    locks: dict[str, str] = {}
    packages: dict[str, str] = {}
    for stage in MODEL_STAGES:
        lock = root / "images" / stage / "requirements.lock"
        if lock.is_file():
            locks[stage] = sha256_file(lock)
            for name, pin in read_lock(lock).items():
                if name in KEY_PACKAGES:
                    packages[name] = pin.version
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "locks_sha256": locks,
        "packages": dict(sorted(packages.items())),
    }


def _project_path(path: Path, root: Path) -> str:
    """`path` as dvc.lock writes it: relative to the project root, with forward slashes."""
    absolute = path if path.is_absolute() else root / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()  # outside the project: no DVC output can hold it


def dvc_file(stages: dict[str, Any], path: Path, root: Path) -> dict[str, Any]:
    """{path, md5, size, sha256} of `path` as the registry records it: md5 and size from the
    dvc.lock out (of a stage other than release) that is the file, or, for a file inside a
    folder out, that folder's `.dir` hash (with `out`: the folder); sha256 of the bytes."""
    rel = _project_path(path, root)
    found: dict[str, Any] = {"path": rel}
    for name, entry in sorted(stages.items()):
        outs = entry.get("outs") if isinstance(entry, dict) and name != "release" else None
        for out in outs if isinstance(outs, list) else []:
            if not isinstance(out, dict) or not isinstance(out.get("path"), str):
                continue
            where = out["path"].rstrip("/")
            if where == rel:
                found.update(md5=out.get("md5"), size=out.get("size"))
            elif rel.startswith(where + "/") and "md5" not in found:
                # no per-file hash for a file inside a folder out: DVC hashes the folder
                found.update(out=where, md5=out.get("md5"), size=None)
    found.setdefault("md5", None)
    found.setdefault("size", None)
    if found["size"] is None and path.is_file():
        found["size"] = path.stat().st_size
    found["sha256"] = sha256_file(path)
    return found


def build_candidate(
    evaluation_path: Path, model: Path, calibration_path: Path, lock: Path, root: Path
) -> Candidate:
    """The registry candidate for `model`, checked against what evaluate scored."""
    hint = "re-run the pipeline so evaluate scores this model (pedigree run)"
    evaluation = read_json(evaluation_path, "the evaluation", hint)
    model_sha, split_sha, metrics = evaluation_facts(evaluation, evaluation_path)
    if not model.is_file():
        raise SourceError(f"{model} is missing", "run the train stage first")
    actual = sha256_file(model)
    if actual != model_sha:
        raise SourceError(
            f"{model} (sha256 {actual[:12]}) is not the model {evaluation_path} scored "
            f"({model_sha[:12]})",
            hint,
        )
    calibration = read_json(calibration_path, "the calibration", "run the calibrate stage")
    scored_t = (evaluation.get("calibration") or {}).get("temperature")
    if scored_t is not None and scored_t != calibration.get("temperature"):
        raise SourceError(
            f"{evaluation_path} used temperature {scored_t} but {calibration_path} holds "
            f"{calibration.get('temperature')}",
            hint,
        )
    # Not dvc.lock or metrics files: a run rewrites those as it goes.
    commit, dirty = git_state(root, [p for p in CODE_PATHS if (root / p).exists()])
    stages = read_lock_stages(lock)
    return Candidate(
        model_path=model,
        model_sha256=model_sha,
        calibration_path=calibration_path,
        calibration=calibration,
        metrics=metrics,
        test_split_sha256=split_sha,
        git_commit=commit,
        git_dirty=dirty,
        environment=environment(root),
        lineage={name: entry for name, entry in sorted(stages.items()) if name != "release"},
        model_file=dvc_file(stages, model, root),
        calibration_file=dvc_file(stages, calibration_path, root),
    )
