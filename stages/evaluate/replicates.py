"""The report's Replicates section: the spread over seeds or folds, when it replicates this model.

`pedigree replicate --seeds 1,2,3` trains, calibrates and evaluates once per seed and writes
replicates/summary.json (schema pedigree.replicates/v1, see src/pedigree/replicate/summary.py).
`pedigree replicate --folds K` (grouped nested K-fold) re-runs transform, tune, train, calibrate
and evaluate once per fold, that fold held out as the test split, and its summary adds:
  folds     {"k", "seed", "method", "plan" (sha256), "group_key", "held_out", "inner" (the
            inner validation and calibration shares), "sizes" (held-out samples per fold),
            "excluded" (test samples no fold used)}
  interval  what metrics' "interval" is (the 95% Student-t interval of the mean)
  runs      each with its "fold"; metrics each with "interval": [low, high] or null
  replicates.overrides  params set for the replicates only ({"train.epochs": 2}); they make
            the params differ from this model's, so such results show as stale (and say why)
The spread is shown only when the summary replicates what this model came from:
  upstream  the upstream outputs (data/prepared, models/tune) as dvc.lock records them now
  inputs    the data the model's stages read (models/tune/best_params.json, ...), as dvc.lock
            records them for the stages that made the model and the calibration
  params    the params sections (the seed aside: the key the summary names under
            replicates.seed, determinism.seed in summaries that name none) those stages ran
            with (dvc.lock), and this evaluation's own `evaluate` section; a section those
            stages do not read (fold summaries replicate transform and tune too) as dvc.lock
            records it for the first stage that read it
  code      code folders and locks as dvc.lock records them for those stages; the rest (this
            stage's own code) hashed now, as DVC hashes it
Otherwise the section says the results are stale and why, or that there are none. Everything
read here is a file in the project, so the same inputs give the same section.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pedigree.errors import SourceError, ToolError
from pedigree.stagekit import dvc_md5, read_lock_stages
from stages.evaluate.inputs import read_schema_json
from stages.evaluate.tables import fmt, markdown_table

SCHEMA = "pedigree.replicates/v1"
RUN_HINT = "run `pedigree replicate --seeds 1,2,3`"
# The seed key of summaries written before they recorded it (replicates.seed).
DEFAULT_SEED = "determinism.seed"
PARAMS_FILE = "params.yaml"
SHORT = 12
State = Literal["absent", "stale", "current"]
FOLD_KEYS = {
    "k": "a whole number >= 2",
    "seed": "a whole number",
    "method": "a string",
    "plan": "a string",
    "group_key": "a string",
    "held_out": "a string",
    "inner": "an object of shares",
    "sizes": "a list of k whole numbers",
    "excluded": "a whole number >= 0",
}
# Counts, not scores: they differ between folds by design, so the fold table leaves them out.
COUNT_METRICS = ("images", "pixels")
# The per-fold table's metrics (those the summary has), after fold, seed and held-out size.
FOLD_COLUMNS = ("mean_iou", "pixel_accuracy", "mean_dice", "iou.pet", "ece.calibrated")
# How a params difference names the overrides behind it.
OVERRIDDEN = "(the replicates set "


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
    doc = read_schema_json(path, SCHEMA, "summary", hint)
    shapes = {"seeds": list, "runs": list, "metrics": dict}
    for key, kind in shapes.items():
        if not isinstance(doc.get(key), kind):
            raise SourceError(f"{path} [{key}]: expected a {kind.__name__}", hint)
    if doc["seeds"] and not isinstance(doc.get("replicates"), dict):
        raise SourceError(f"{path} [replicates]: seeds without what they replicate", hint)
    seed = (doc.get("replicates") or {}).get("seed", DEFAULT_SEED)
    if not isinstance(seed, str) or len(seed.split(".")) != 2 or not all(seed.split(".")):
        raise SourceError(f"{path} [replicates.seed]: expected section.key, not {seed!r}", hint)
    _check_additions(path, doc, hint)
    return doc


def _whole(value: Any, least: int | None = None) -> bool:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return ok and (least is None or value >= least)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_additions(path: Path, doc: dict[str, Any], hint: str) -> None:
    """The keys fold summaries add (folds, interval, runs' fold, metrics' interval, overrides)."""

    def bad(key: str, expected: str) -> SourceError:
        return SourceError(f"{path} [{key}]: expected {expected}", hint)

    if "interval" in doc and not isinstance(doc["interval"], str):
        raise bad("interval", "a string")
    for name, spread in doc["metrics"].items():
        if not isinstance(spread, dict) or "interval" not in spread:
            continue
        bounds = spread["interval"]
        if bounds is not None and not (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(_number(b) for b in bounds)
            and bounds[0] <= bounds[1]
        ):
            raise bad(f"metrics.{name}.interval", "[low, high] with low <= high, or null")
    overrides = (doc.get("replicates") or {}).get("overrides")
    if overrides is not None and not (
        isinstance(overrides, dict) and all(_dotted(key) for key in overrides)
    ):
        raise bad("replicates.overrides", 'an object of "section.key": value')
    folds = doc.get("folds")
    if folds is None:
        return
    if not isinstance(folds, dict):
        raise bad("folds", "an object")
    checks = {
        "k": lambda v: _whole(v, 2),
        "seed": _whole,
        "method": lambda v: isinstance(v, str),
        "plan": lambda v: isinstance(v, str),
        "group_key": lambda v: isinstance(v, str) and bool(v),
        "held_out": lambda v: isinstance(v, str) and bool(v),
        "inner": lambda v: (
            isinstance(v, dict)
            and all(isinstance(k, str) and _number(s) and 0 <= s < 1 for k, s in v.items())
        ),
        "sizes": lambda v: isinstance(v, list) and all(_whole(n, 0) for n in v),
        "excluded": lambda v: _whole(v, 0),
    }
    for key, check in checks.items():
        if not check(folds.get(key)):
            raise bad(f"folds.{key}", FOLD_KEYS[key])
    k = folds["k"]
    if len(folds["sizes"]) != k:
        raise bad("folds.sizes", f"{k} sizes, one per fold (got {len(folds['sizes'])})")
    for i, run in enumerate(doc["runs"]):
        if not isinstance(run, dict):
            raise bad(f"runs[{i}]", 'an object {"fold", "seed", "metrics"}')
        if not _whole(run.get("fold"), 0) or run["fold"] >= k:
            raise bad(f"runs[{i}].fold", f"a fold number 0..{k - 1}")
        if not _whole(run.get("seed")):
            raise bad(f"runs[{i}].seed", "a whole number")
        if not isinstance(run.get("metrics"), dict):
            raise bad(f"runs[{i}].metrics", "an object")


def _dotted(key: Any) -> bool:
    return isinstance(key, str) and len(key.split(".")) >= 2 and all(key.split("."))


def overrides_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The params set for the replicates only ("section.key": value), {} when none."""
    return dict((summary.get("replicates") or {}).get("overrides") or {})


def is_fold_summary(summary: dict[str, Any]) -> bool:
    """Whether the summary comes from `pedigree replicate --folds K`."""
    return isinstance(summary.get("folds"), dict)


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
    # the other stages' sections (dvc.lock order, the first stage that read one wins)
    other_params: dict[str, Any] = field(default_factory=dict)


def model_upstream(lock: Path, produced: list[str]) -> ModelUpstream | None:
    """dvc.lock's view of the stages that wrote `produced`; None when it has none."""
    try:
        stages = read_lock_stages(Path(lock))
    except ToolError:
        return None
    outs: dict[str, str] = {}
    deps: dict[str, str] = {}
    params: dict[str, Any] = {}
    others: dict[str, Any] = {}
    found = False
    for entry in (e for e in stages.values() if isinstance(e, dict)):
        mine = {str(o.get("path")): str(o.get("md5", "")) for o in _items(entry.get("outs"))}
        outs.update(mine)
        recorded = (entry.get("params") or {}).get(PARAMS_FILE) or {}
        recorded = recorded if isinstance(recorded, dict) else {}
        if not any(p in mine for p in produced):
            for section, value in recorded.items():
                others.setdefault(section, value)
            continue
        found = True
        deps.update({str(d.get("path")): str(d.get("md5", "")) for d in _items(entry.get("deps"))})
        params.update(recorded)
    return ModelUpstream(outs, deps, params, others) if found else None


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
    current = {**model.other_params, **model.params, "evaluate": evaluate_params}
    seed = seed_of(summary)
    overrides = overrides_of(summary)
    for section, value in sorted((replicated.get("params") or {}).items()):
        ours = without_seed(section, current.get(section), seed)
        if _plain(without_seed(section, value, seed)) != _plain(ours):
            mine = [k for k in sorted(overrides) if k.split(".", 1)[0] == section]
            why = f" {OVERRIDDEN}{_assignments(overrides, mine)})" if mine else ""
            differences.append(f"params `{section}` differ{why}")
    return ReplicateView("stale" if differences else "current", summary, tuple(differences))


def _seeds(summary: dict[str, Any]) -> str:
    return ", ".join(str(s) for s in summary["seeds"])


def _assignments(overrides: dict[str, Any], keys: list[str] | None = None) -> str:
    chosen = sorted(overrides) if keys is None else keys
    return ", ".join(f"{k} = {json.dumps(overrides[k], sort_keys=True)}" for k in chosen)


def _overrides_sentence(summary: dict[str, Any], differences: tuple[str, ...] = ()) -> str:
    overrides = overrides_of(summary)
    if not overrides:
        return ""
    said = (
        f"The replicates ran with overrides, params set for them only: {_assignments(overrides)}."
    )
    if any(OVERRIDDEN in d for d in differences):
        said += (
            " Those params differ from this model's by design, so the results count as stale: "
            "expected with overrides, not a fault."
        )
    return said


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
    if is_fold_summary(summary):
        return _folds_markdown(view, summary, metrics, seed)
    if view.state == "stale":
        reasons = "\n".join(f"- {d}" for d in view.differences)
        return (
            f"Replicate results exist for seeds {_seeds(summary)}, but they are **stale**: they "
            f"replicate another upstream than this model's, so their spread is not shown.\n\n"
            f"{reasons}\n\n{_then(_overrides_sentence(summary, view.differences))}"
            f"Run `pedigree replicate --seeds {','.join(map(str, summary['seeds']))}` "
            f"{_again(view.differences)} (after `pedigree run`) to replicate this model."
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
        f"and code. std is the {summary.get('std', 'sample standard deviation (n - 1)')}."
        f"{_before(_overrides_sentence(summary))}\n\n"
        f"{table}"
    )


def _again(differences: tuple[str, ...]) -> str:
    # With overrides behind a difference, running again with them would stay stale.
    overridden = any(OVERRIDDEN in d for d in differences)
    return "again without the overrides" if overridden else "again"


def _then(sentence: str) -> str:
    return f"{sentence}\n\n" if sentence else ""


def _before(sentence: str) -> str:
    return f" {sentence}" if sentence else ""


def _number_or_none(value: Any) -> float | None:
    return float(value) if _number(value) else None


def _where(value: float | None, interval: Any) -> str | None:
    """Where `value` falls against [low, high]: inside, below or above; None if one is missing."""
    if value is None or not isinstance(interval, list):
        return None
    low, high = interval
    return "below" if value < low else "above" if value > high else "inside"


def _interval_cell(interval: Any) -> str | None:
    if not isinstance(interval, list):
        return None
    return f"[{fmt(float(interval[0]))}, {fmt(float(interval[1]))}]"


def _folds_description(summary: dict[str, Any]) -> str:
    folds = summary["folds"]
    k, group = folds["k"], folds["group_key"]
    stages = ", ".join(summary["replicates"].get("stages") or [])
    inner = ", ".join(f"{name} {share:g}" for name, share in sorted(folds["inner"].items()))
    inner = f" ({inner} of them)" if inner else ""
    sizes = ", ".join(str(n) for n in folds["sizes"])
    return (
        f"Grouped nested K-fold (by `{group}`): for each of the {k} folds, {stages} ran again "
        f"with that fold held out as the {folds['held_out']} split, and the other folds split, "
        f"whole `{group}` groups at a time, into train, validation and calibration sets{inner}; "
        f"seeds {_seeds(summary)} ({seed_of(summary)}). The folds held out {sizes} samples; "
        f"the {folds['excluded']} samples of the fixed {folds['held_out']} split were never used "
        f"(fold plan `{_short(folds['plan'])}`, seed {folds['seed']}: {folds['method']})."
    )


def _folds_markdown(
    view: ReplicateView, summary: dict[str, Any], metrics: dict[str, Any], seed: int
) -> str:
    folds = summary["folds"]
    described = _folds_description(summary)
    if view.state == "stale":
        reasons = "\n".join(f"- {d}" for d in view.differences)
        return (
            f"{described}\n\nThese fold results are **stale**: they do not replicate this "
            "model's upstream, params and code exactly, so their spread is not shown.\n\n"
            f"{reasons}\n\n{_then(_overrides_sentence(summary, view.differences))}"
            f"Run `pedigree replicate --folds {folds['k']}` {_again(view.differences)} (after "
            "`pedigree run`) to replicate this model."
        )
    ours = _flat(metrics)
    rows = []
    for key, spread in sorted(summary["metrics"].items()):
        if key in COUNT_METRICS:
            continue
        value = ours.get(key)
        value = None if isinstance(value, bool) else _number_or_none(value)
        interval = spread.get("interval")
        rows.append(
            (key, value, spread["mean"], spread["std"], spread["min"], spread["max"],
             _interval_cell(interval), _where(value, interval))
        )  # fmt: skip
    table = markdown_table(
        ("metric", f"this model (seed {seed})", "mean", "std", "min", "max", "95% interval",
         "this model vs interval"),
        rows,
    )  # fmt: skip
    upstream = ", ".join(
        f"`{p}` {_short(h)}" for p, h in sorted(summary["replicates"]["upstream"].items())
    )
    columns = [c for c in FOLD_COLUMNS if any(c in r["metrics"] for r in summary["runs"])]
    sizes = folds["sizes"]
    fold_rows = [
        (run["fold"], run["seed"], sizes[run["fold"]],
         *(_number_or_none(run["metrics"].get(c)) for c in columns))
        for run in sorted(summary["runs"], key=lambda r: (r["fold"], r["seed"]))
    ]  # fmt: skip
    per_fold = markdown_table(("fold", "seed", "held out", *columns), fold_rows)
    std_kind = summary.get("std", "sample standard deviation (n - 1)")
    interval_kind = summary.get("interval", "95% Student-t interval of the mean")
    return (
        f"{described} All ran from the same upstream as this model ({upstream or 'none'}), with "
        f"the same params (the seed aside) and code.{_before(_overrides_sentence(summary))}"
        f"\n\nstd is the {std_kind}; the interval is the {interval_kind}. This model is "
        f"measured on the fixed {folds['held_out']} split, which no fold used, and each fold on "
        "the samples it held out. The interval is for the mean over the runs: one model's value "
        "may fall outside it and still lie within the runs' min and max.\n\n"
        f"{table}\n\n**Per fold**\n\n{per_fold}"
    )
