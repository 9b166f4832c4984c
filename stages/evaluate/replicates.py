"""The report's Replicates section: the spread over seeds, when it replicates this model.

`pedigree replicate --seeds 1,2,3` trains, calibrates and evaluates once per seed and writes
replicates/summary.json (schema pedigree.replicates/v1, see src/pedigree/replicate/summary.py).
The spread is shown only when the summary replicates what this model came from:
  upstream  the upstream outputs (data/prepared, models/tune) as dvc.lock records them now
  inputs    the data the model's stages read (models/tune/best_params.json, ...), as dvc.lock
            records them for the stages that made the model and the calibration
  params    the params sections (the seed aside: the key the summary names under
            replicates.seed, determinism.seed in summaries that name none) those stages ran
            with (dvc.lock), and this evaluation's own `evaluate` section
  code      code folders and locks as dvc.lock records them for those stages; the rest (this
            stage's own code) hashed now, as DVC hashes it
Otherwise the section says the results are stale and why, or that there are none. Everything
read here is a file in the project, so the same inputs give the same section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pedigree.errors import SourceError, ToolError
from pedigree.stagekit import dvc_md5, read_lock_stages
from stages.evaluate.tables import markdown_table

SCHEMA = "pedigree.replicates/v1"
RUN_HINT = "run `pedigree replicate --seeds 1,2,3`"
# The seed key of summaries written before they recorded it (replicates.seed).
DEFAULT_SEED = "determinism.seed"
PARAMS_FILE = "params.yaml"
SHORT = 12
State = Literal["absent", "stale", "current"]


@dataclass(frozen=True)
class ReplicateView:
    """What the section shows: no results, stale results (and why), or the spread."""

    state: State
    summary: dict[str, Any] | None
    differences: tuple[str, ...] = ()


def read_summary(path: str | Path) -> dict[str, Any] | None:
    """The summary at `path` (None for "" : no summary given); SourceError if unusable."""
    if not str(path):
        return None
    path = Path(path)
    hint = f"restore {path} from git, or {RUN_HINT} to rewrite it"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path} is missing", hint) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}", hint) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise SourceError(f"{path} is not a {SCHEMA} summary (schema: {found!r})", hint)
    shapes = {"seeds": list, "runs": list, "metrics": dict}
    for key, kind in shapes.items():
        if not isinstance(doc.get(key), kind):
            raise SourceError(f"{path} [{key}]: expected a {kind.__name__}", hint)
    if doc["seeds"] and not isinstance(doc.get("replicates"), dict):
        raise SourceError(f"{path} [replicates]: seeds without what they replicate", hint)
    seed = (doc.get("replicates") or {}).get("seed", DEFAULT_SEED)
    if not isinstance(seed, str) or len(seed.split(".")) != 2 or not all(seed.split(".")):
        raise SourceError(f"{path} [replicates.seed]: expected section.key, not {seed!r}", hint)
    return doc


def seed_of(summary: dict[str, Any]) -> str:
    """The params key (section.key) the summary's replicates varied."""
    return str((summary.get("replicates") or {}).get("seed", DEFAULT_SEED))


def _plain(value: Any) -> Any:
    # dvc.lock (YAML) and the summary (JSON) must compare as the same JSON values
    return json.loads(json.dumps(value, sort_keys=True))


def without_seed(section: str, value: Any, seed: str = DEFAULT_SEED) -> Any:
    """A params section with the seed (`seed`, section.key) left out."""
    seed_section, seed_key = seed.split(".", 1)
    if section == seed_section and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != seed_key}
    return value


@dataclass(frozen=True)
class ModelUpstream:
    """What the evaluated model and calibration came from, per dvc.lock."""

    outs: dict[str, str]  # every stage's outs: path -> md5
    deps: dict[str, str]  # deps of the stages that wrote the model and the calibration
    params: dict[str, Any]  # their params.yaml sections


def model_upstream(lock: Path, produced: list[str]) -> ModelUpstream | None:
    """dvc.lock's view of the stages that wrote `produced`; None when it has none."""
    try:
        stages = read_lock_stages(Path(lock))
    except ToolError:
        return None
    outs: dict[str, str] = {}
    deps: dict[str, str] = {}
    params: dict[str, Any] = {}
    found = False
    for entry in (e for e in stages.values() if isinstance(e, dict)):
        mine = {str(o.get("path")): str(o.get("md5", "")) for o in _items(entry.get("outs"))}
        outs.update(mine)
        if not any(p in mine for p in produced):
            continue
        found = True
        deps.update({str(d.get("path")): str(d.get("md5", "")) for d in _items(entry.get("deps"))})
        recorded = (entry.get("params") or {}).get(PARAMS_FILE) or {}
        params.update(recorded if isinstance(recorded, dict) else {})
    return ModelUpstream(outs, deps, params) if found else None


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value or [] if isinstance(v, dict) and "path" in v]


def _hash_now(rel: str, root: Path) -> str | None:
    return dvc_md5(root / rel, root)


def _short(value: Any) -> str:
    return "missing" if value in (None, "") else str(value)[:SHORT]


def compare(
    summary: dict[str, Any] | None,
    lock: Path,
    produced: list[str],
    evaluate_params: dict[str, Any],
    root: Path = Path("."),
) -> ReplicateView:
    """Whether `summary` replicates the model and calibration in `produced` (their paths)."""
    if summary is None or not summary["seeds"]:
        return ReplicateView("absent", summary)
    model = model_upstream(lock, produced)
    if model is None:
        return ReplicateView("stale", summary, (f"{lock} has no record of the evaluated model",))
    replicated = summary["replicates"]
    differences: list[str] = []

    def check(kind: str, name: str, theirs: Any, ours: Any) -> None:
        if _plain(theirs) != _plain(ours):
            differences.append(f"{kind} `{name}`: {_short(theirs)} replicated, {_short(ours)} here")

    for path, md5 in sorted((replicated.get("upstream") or {}).items()):
        check("upstream", path, md5, model.outs.get(path) or _hash_now(path, root))
    for path, md5 in sorted((replicated.get("inputs") or {}).items()):
        if path in model.deps:  # the others lie in an upstream output compared above
            check("input", path, md5, model.deps[path])
    for path, md5 in sorted((replicated.get("code") or {}).items()):
        check("code", path, md5, model.deps.get(path) or _hash_now(path, root))
    current = {**model.params, "evaluate": evaluate_params}
    seed = seed_of(summary)
    for section, value in sorted((replicated.get("params") or {}).items()):
        ours = without_seed(section, current.get(section), seed)
        if _plain(without_seed(section, value, seed)) != _plain(ours):
            differences.append(f"params `{section}` differ")
    return ReplicateView("stale" if differences else "current", summary, tuple(differences))


def _seeds(summary: dict[str, Any]) -> str:
    return ", ".join(str(s) for s in summary["seeds"])


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        found: dict[str, Any] = {}
        for key in sorted(data):
            found.update(_flat(data[key], f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: data}


def replicates_markdown(view: ReplicateView, metrics: dict[str, Any], seed: int) -> str:
    """The section's text: the spread table next to this model's values, or why there is none."""
    if view.state == "absent" or view.summary is None:
        return f"No replicate results ({RUN_HINT})."
    summary = view.summary
    if view.state == "stale":
        reasons = "\n".join(f"- {d}" for d in view.differences)
        return (
            f"Replicate results exist for seeds {_seeds(summary)}, but they are **stale**: they "
            f"replicate another upstream than this model's, so their spread is not shown.\n\n"
            f"{reasons}\n\nRun `pedigree replicate --seeds {','.join(map(str, summary['seeds']))}` "
            "again (after `pedigree run`) to replicate this model."
        )
    ours = _flat(metrics)
    rows = []
    for key, spread in sorted(summary["metrics"].items()):
        value = ours.get(key)
        inside = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            inside = spread["min"] <= value <= spread["max"]
            value = float(value)
        rows.append(
            (key, value, spread["mean"], spread["std"], spread["min"], spread["max"],
             spread["range"], inside)
        )  # fmt: skip
    table = markdown_table(
        ("metric", f"this model (seed {seed})", "mean", "std", "min", "max", "range", "in range"),
        rows,
    )
    upstream = ", ".join(
        f"`{p}` {_short(h)}" for p, h in sorted(summary["replicates"]["upstream"].items())
    )
    stages = ", ".join(summary["replicates"].get("stages") or [])
    return (
        f"{stages} ran again once per seed ({seed_of(summary)} = {_seeds(summary)}) from "
        f"the same upstream as this model ({upstream}), with the same params (the seed aside) "
        f"and code. std is the {summary.get('std', 'sample standard deviation (n - 1)')}.\n\n"
        f"{table}"
    )
