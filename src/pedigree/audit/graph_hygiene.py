"""Check (a), graph hygiene: held-out splits reach only the stages allowed to see them.

Rules come from the spec (`spec.data.heldOut` and `spec.data.modelSelection`): a held-out split
reaches only the stages listed for it (pets: test only evaluate, calibration only calibrate and
evaluate); a model-selection stage (pets: tune) sees only its listed splits, plus the
normalisation statistics (whose origin check (c) proves).

A stage reaches a split when one of its data dependencies is the split's folder, a path inside
it, or a folder containing it (a dependency on all of `data/prepared` includes the test split),
or overlaps what the split producer reads (its deps hold every split's source data). The
producer itself (`spec.data.splits.stage`) is exempt. Dependencies are read from three places,
because each can disagree with the others: the spec (what the user declared), dvc.yaml (what DVC
runs) and each stage's lineage record (what its last run actually read).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pedigree.audit.layout import SplitLayout
from pedigree.audit.model import CheckResult, Finding, listing, result
from pedigree.dvclock import read_lock_stages
from pedigree.errors import ToolError
from pedigree.graph import is_within, overlaps
from pedigree.lineage.capture import kind_of
from pedigree.lineage.store import LineageError, current_path, read_current
from pedigree.spec.model import PipelineSpec

NAME = "graph-hygiene"
DVC_YAML = "dvc.yaml"


@dataclass(frozen=True)
class Declared:
    """The data dependencies of one stage as one source (spec, dvc.yaml, record) states them."""

    stage: str
    source: str
    paths: tuple[str, ...]


def _dvc_yaml_deps(root: Path) -> tuple[list[Declared], list[Finding]]:
    try:
        stages = read_lock_stages(root / DVC_YAML)
    except ToolError as exc:
        fix = "run `pedigree compile --target dvc` to regenerate it"
        return [], [Finding(exc.message, DVC_YAML, fix)]
    declared = []
    for name, entry in stages.items():
        deps = entry.get("deps") if isinstance(entry, dict) else None
        paths = tuple(str(d) for d in deps or [] if isinstance(d, str) and kind_of(d) == "data")
        declared.append(Declared(str(name), DVC_YAML, paths))
    return declared, []


def collect(root: Path, spec: PipelineSpec, spec_path: str) -> tuple[list[Declared], list[Finding]]:
    """Every stage's data dependencies from the spec, dvc.yaml and its current lineage record.

    Unreadable lineage records are left to the lineage check, which reports them.
    """
    declared = [Declared(s.name, spec_path, tuple(s.deps)) for s in spec.stages]
    from_dvc, problems = _dvc_yaml_deps(root)
    declared += from_dvc
    for name in dict.fromkeys(d.stage for d in declared):
        try:
            record = read_current(root, name)
        except LineageError:
            continue
        if record is not None:
            where = current_path(root, name).relative_to(root).as_posix()
            declared.append(Declared(name, where, tuple(a.path for a in record.data_inputs)))
    return declared, problems


def reached_splits(dep: str, layout: SplitLayout) -> tuple[str, ...]:
    """The splits whose data `dep` includes."""
    if any(overlaps(dep, source) for source in layout.sources):
        return layout.splits  # the producer's inputs hold every split's source data
    return tuple(s for s in layout.splits if overlaps(dep, layout.split_path(s)))


def allowed_paths(stage: str, layout: SplitLayout) -> tuple[str, ...]:
    """The split folders (and statistics) `stage` may depend on."""
    splits = layout.model_selection.get(stage, layout.splits)
    return (
        *(
            layout.split_path(s)
            for s in splits
            if s in layout.splits and stage in layout.held_out.get(s, (stage,))
        ),
        layout.stats_path,
    )


def violations(stage: str, dep: str, layout: SplitLayout) -> list[str]:
    """Why `stage` must not depend on `dep` (empty when it may)."""
    if stage == layout.producer:
        return []
    reasons = []
    for split in reached_splits(dep, layout):
        readers = layout.held_out.get(split)
        if readers is not None and stage not in readers:
            reasons.append(
                f"it holds the {split} split ({layout.split_path(split)}), which may reach only "
                + (" and ".join(readers) or "no stage")
            )
    if stage in layout.model_selection:
        inside = overlaps(dep, layout.prepared) or any(overlaps(dep, s) for s in layout.sources)
        allowed = allowed_paths(stage, layout)
        if inside and not any(is_within(dep, a) for a in allowed) and not reasons:
            reasons.append(f"{stage} (model selection) may read only {listing(allowed)}")
    return reasons


def _fix(stage: str, dep: str, sources: list[str], spec_path: str, layout: SplitLayout) -> str:
    allowed = listing(allowed_paths(stage, layout))
    if spec_path in sources:
        return (
            f"in {spec_path}, replace '{dep}' in the deps of '{stage}' with only what it may "
            f"read ({allowed}), then run `pedigree compile --target dvc`"
        )
    if DVC_YAML in sources:
        return (
            f"dvc.yaml differs from {spec_path}: regenerate it with "
            "`pedigree compile --target dvc` (never edit dvc.yaml by hand)"
        )
    return (
        f"the last run of '{stage}' read '{dep}' although the pipeline no longer says so: "
        f"re-run it (`pedigree run --stage {stage} --force`) so its record matches the pipeline"
    )


def _rules_text(layout: SplitLayout) -> str:
    parts = [
        f"{split} reaches only {', '.join(readers)}"
        for split, readers in layout.held_out.items()
        if split in layout.splits
    ]
    parts += [
        f"{stage} sees only {', '.join(s for s in splits if s in layout.splits)}"
        for stage, splits in layout.model_selection.items()
    ]
    return "; ".join(parts) or "no held-out splits or model selection declared"


def check_graph(root: Path, spec: PipelineSpec, spec_path: str, layout: SplitLayout) -> CheckResult:
    """Run check (a) on the project at `root`."""
    declared, findings = collect(root, spec, spec_path)
    offences: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for item in declared:
        for dep in item.paths:
            reasons = violations(item.stage, dep, layout)
            if reasons:
                seen = offences.setdefault((item.stage, dep), ([], reasons))
                if item.source not in seen[0]:
                    seen[0].append(item.source)
    for (stage, dep), (sources, reasons) in offences.items():
        findings.append(
            Finding(
                f"stage '{stage}' depends on '{dep}': " + "; ".join(reasons),
                ", ".join(sources),
                _fix(stage, dep, sources, spec_path, layout),
            )
        )
    stages = len({d.stage for d in declared})
    records = len({d.source for d in declared} - {spec_path, DVC_YAML})
    checked = f"{stages} stages in {spec_path}, dvc.yaml and {records} lineage records"
    return result(NAME, f"{_rules_text(layout)} ({checked})", "held-out data leaks", findings)
