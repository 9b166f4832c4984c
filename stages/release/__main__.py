"""`python -m stages.release`: register the evaluated model and promote it only if it earns it.

Reads evaluate's evaluation.json (model hash, test split hash, metrics), the model and its
calibration, and dvc.lock (the files' DVC hashes and the lineage stored with the version).
Under the registry's lock it registers the model (`release.registry`: event files in git),
runs the gate against the champion the log replays to, and writes:
  <registry>/events/*.json             the new events (registered, promoted or rejected)
  <out>/release.json                   the decision (promoted or rejected) with every reason
  cluster-conf/serving/<pipeline>.yaml the serving manifest of the champion (so a promotion
                                       reaches the cluster through git), written under the lock
  cluster-conf/serving/kustomization.yaml  every manifest of that folder (the overlays include it)
The manifest runs the predictor of the spec's `serve` section (the project's spec, which must
be the pipeline `--pipeline` names) on the champion's files, fetched by content hash.
A rejection is a normal outcome: the stage exits 0 and says why. When the log already holds the
decision for this model, test split and gate settings (a re-run: `pedigree verify`, a fresh
clone, a registry changed by `pedigree models promote`), the registry re-checks it and writes
nothing, and release.json comes out byte-identical.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pedigree.registry.records import ModelVersion, ReleaseOutcome
from pedigree.registry.serving import check_servable, project_serve, write_serving_manifest
from pedigree.registry.settings import resolve_registry
from pedigree.registry.store import Registry, lock_path
from pedigree.stagekit import atomic_output, load_params, run_stage
from stages.release.candidate import build_candidate
from stages.release.gate import Gate, gate_digest
from stages.release.params import ReleaseParams, check_metric_names, metric_value

RELEASE_JSON = "release.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.release",
        description="Register the evaluated model and promote it if it passes the gate.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--evaluation", type=Path, default=Path("reports/evaluation.json"))
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument(
        "--calibration", type=Path, default=Path("models/calibration/calibration.json")
    )
    parser.add_argument("--lock", type=Path, default=Path("dvc.lock"))
    parser.add_argument("--pipeline", default="pets", help="names the serving manifest")
    parser.add_argument("--out", type=Path, default=Path("models/release"))
    return parser


def _summary(version: ModelVersion | None, params: ReleaseParams, split: str) -> Any:
    if version is None:
        return None
    scores = version.scores.get(split)
    return {
        "version": version.version,
        "model_sha256": version.model_sha256,
        "status": version.status,
        "primary_metric": metric_value(scores, params.primary_metric) if scores else None,
        "scored_on_this_test_split": scores is not None,
    }


def decision_word(outcome: ReleaseOutcome) -> str:
    """promoted, rejected, or already-champion (re-released unchanged)."""
    before = outcome.champion_before
    if before is not None and before.version == outcome.challenger.version:
        return "already-champion" if outcome.decision.promoted else "champion-failing-gate"
    return "promoted" if outcome.decision.promoted else "rejected"


def document(
    outcome: ReleaseOutcome,
    params: ReleaseParams,
    split: str,
    manifest: str | None,
) -> dict[str, Any]:
    """release.json: the decision, every reason, and both champions (no wall-clock times)."""
    challenger = outcome.challenger
    return {
        "decision": decision_word(outcome),
        "promoted": outcome.decision.promoted,
        "version": challenger.version,
        "model_sha256": challenger.model_sha256,
        "newly_registered": outcome.newly_registered,
        "test_split_sha256": split,
        "primary_metric": {
            "name": params.primary_metric,
            "higher_is_better": params.higher_is_better,
            "margin": params.margin,
            "challenger": metric_value(challenger.scores.get(split, {}), params.primary_metric),
        },
        "reasons": [
            {"check": r.check, "passed": r.passed, "message": r.message}
            for r in outcome.decision.reasons
        ],
        "champion_before": _summary(outcome.champion_before, params, split),
        "champion_after": _summary(outcome.champion_after, params, split),
        "registry": params.registry,
        "serving_manifest": manifest,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the stage; return 0 for a promotion and for a rejection alike."""
    args = _parser().parse_args(argv)
    params = load_params("release", ReleaseParams, args.params)
    root = Path.cwd()
    candidate = build_candidate(args.evaluation, args.model, args.calibration, args.lock, root)
    check_metric_names(params, candidate.metrics, args.params)
    # before the registry changes: a promotion must not be recorded that cannot be served
    serving = project_serve(root, args.pipeline)
    check_servable(args.pipeline, serving, candidate)
    registry_root = resolve_registry(root, params.registry)
    registry = Registry(registry_root, lock_path(root, registry_root))
    written: list[Path] = []

    def serve(champion: ModelVersion) -> None:
        # called under the registry's lock, after its events are written: a concurrent release
        # or `pedigree models promote` cannot write its manifest in between, so the manifest
        # always names the champion the log replays to
        written.append(
            write_serving_manifest(root, args.pipeline, champion, params.serving, serving)
        )

    outcome = registry.release(
        candidate,
        Gate(params, candidate.test_split_sha256),
        gate=gate_digest(params),
        on_champion=serve,
    )
    # always under the project root
    manifest = written[-1].relative_to(root).as_posix() if written else None
    doc = document(outcome, params, candidate.test_split_sha256, manifest)
    with atomic_output(args.out) as scratch:
        text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
        (scratch / RELEASE_JSON).write_text(text, encoding="utf-8")
    _report(doc)
    return 0


def _report(doc: dict[str, Any]) -> None:
    word = doc["decision"]
    champion = doc["champion_after"]
    head = f"release: v{doc['version']} ({doc['model_sha256'][:12]}) {word}"
    lines = [head]
    for reason in doc["reasons"]:
        lines.append(
            f"  {'ok  ' if reason['passed'] else 'FAIL'} {reason['check']}: {reason['message']}"
        )
    if champion is not None:
        lines.append(f"  champion: v{champion['version']} -> {doc['serving_manifest']}")
    else:
        lines.append("  no champion: nothing is served")
    print("\n".join(lines))


if __name__ == "__main__":
    run_stage(main)
