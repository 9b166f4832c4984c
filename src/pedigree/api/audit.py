"""The API behind `pedigree audit`: run the data hygiene checks and return one report.

Like the rest of `pedigree.api`, it takes plain arguments, returns data (`AuditReport`) and raises a
PedigreeError subclass only for user errors (no project, an invalid spec, an unknown check).
A check that finds something wrong is a result, not an exception: the report says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.audit.model import AuditReport, CheckResult, not_applicable
from pedigree.errors import PedigreeError

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec

GRAPH = "graph-hygiene"
SPLITS = "split-leakage"
NORMALIZATION = "normalization"
RECORDS = "lineage-records"
CHAMPIONS = "champions"
FOLDS = "folds"
LABELS = "labels"
CHECKS: tuple[str, ...] = (GRAPH, SPLITS, NORMALIZATION, RECORDS, CHAMPIONS, FOLDS, LABELS)
NEEDS_LAYOUT = frozenset({GRAPH, SPLITS, NORMALIZATION})
NEEDS_DATA = frozenset({SPLITS, NORMALIZATION})


def audit(start: Path, spec: str | Path | None = None, only: str | None = None) -> AuditReport:
    """Run every check (or only the one named `only`) on the project around `start`."""
    from pedigree.audit.graph_hygiene import check_graph
    from pedigree.audit.layout import NotApplicable, derive_layout
    from pedigree.audit.normalization import check_normalization
    from pedigree.audit.prepared import load_prepared
    from pedigree.audit.records import check_records
    from pedigree.audit.splits import check_splits
    from pedigree.spec.load import load

    if only is not None and only not in CHECKS:
        raise PedigreeError(f"no audit check named '{only}'", "checks: " + ", ".join(CHECKS))
    selected = CHECKS if only is None else (only,)
    loaded = load(start, spec)
    root, spec_path = loaded.project.root, loaded.project.spec_path
    results: list[CheckResult] = []
    layout = None
    if NEEDS_LAYOUT & set(selected):
        try:
            layout = derive_layout(root, loaded.spec)
        except NotApplicable as exc:
            # Nothing declared to check: each split check says so, none fails.
            why = f"{exc.message} in {spec_path}"
            results += [
                not_applicable(n, why, exc.hint or "") for n in selected if n in NEEDS_LAYOUT
            ]
    prepared = load_prepared(root, layout) if layout and NEEDS_DATA & set(selected) else None
    for name in selected:
        if name == RECORDS:
            results.append(check_records(root))
        elif name == CHAMPIONS:
            results.append(_champions(root))
        elif name == FOLDS:
            results.append(_folds(root, loaded.spec))
        elif name == LABELS:
            results.append(_labels(root, loaded.spec))
        elif layout is None:
            continue  # already reported: the spec declares no splits
        elif name == GRAPH:
            results.append(check_graph(root, loaded.spec, spec_path, layout))
        elif name == SPLITS and prepared is not None:
            results.append(check_splits(root, layout, prepared))
        elif name == NORMALIZATION and prepared is not None:
            results.append(check_normalization(layout, prepared))
    order = {name: i for i, name in enumerate(CHECKS)}
    return AuditReport(root, tuple(sorted(results, key=lambda r: order[r.name])))


def _folds(root: Path, spec: PipelineSpec) -> CheckResult:
    """The `folds` check: every fold run's isolation, from its records (pedigree.replicate)."""
    from pedigree.audit.model import Finding, result
    from pedigree.replicate.foldaudit import audit_folds

    found = audit_folds(root, spec)
    if found.skipped is not None:
        return not_applicable(FOLDS, found.summary, found.skipped)
    findings = [Finding(f.message, f.where, f.fix) for f in found.findings]
    return result(
        FOLDS,
        f"{found.summary}: no held-out sample reached a stage it must not, folds by group",
        f"{found.summary}: isolation broken",
        findings,
    )


def _labels(root: Path, spec: PipelineSpec) -> CheckResult:
    """The `labels` check on the label audit's summary file."""
    from pedigree.audit.labels import check_labels

    rep = spec.spec.replicate
    labels = None if rep is None or rep.folds is None else rep.folds.labels
    if labels is None:
        return check_labels(root, None, "warn")
    return check_labels(root, labels.summary, labels.severity)


def _champions(root: Path) -> CheckResult:
    """The `champions` check on the project's registry (release.registry in params.yaml)."""
    from pedigree.audit.champions import check_champions
    from pedigree.errors import ParamsError
    from pedigree.project import PARAMS_FILE
    from pedigree.registry.events import events_dir, load_events
    from pedigree.registry.replay import replay
    from pedigree.registry.settings import registry_root

    try:
        folder = registry_root(root, root / PARAMS_FILE, None)
    except ParamsError as exc:
        return not_applicable(
            CHAMPIONS,
            "release.registry in params.yaml is invalid: "
            + "; ".join(p.render() for p in exc.problems),
            "fix release.registry in params.yaml",
        )
    log = events_dir(folder)
    has_events = log.is_dir() and any(not p.name.startswith(".") for p in log.iterdir())
    return check_champions(
        folder if has_events else None, log, lambda: replay(load_events(folder)).history
    )
