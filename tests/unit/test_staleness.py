"""Turning DVC status into reasons: code, environment, params, data, outputs, never run."""

from __future__ import annotations

from pathlib import Path

from pedigree.spec.checks import load_spec
from pedigree.staleness import explain


def test_reasons_are_categorised(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "pets.yaml", project)
    raw = {
        "transform": [
            {
                "changed deps": {
                    "stages/transform": "modified",
                    "stages/common": "modified",
                    "images/transform/requirements.lock": "modified",
                    "data/raw": "modified",
                    "params.yaml": {"transform.size": "modified"},
                }
            },
            {"changed outs": {"data/prepared": "deleted"}},
            "changed command",
        ]
    }
    lock = {"ingest": {}, "transform": {"params": {"params.yaml": {"transform.size": 8}}}}
    [ingest, transform] = explain(raw, spec, lock, {"params.yaml": {"transform.size": 16}})
    assert not ingest.stale and ingest.reasons == ()
    kinds = [r.kind for r in transform.reasons]
    assert kinds == ["data", "environment", "params", "code", "code", "outputs", "command"]
    assert "params changed: transform.size: 8 -> 16 in params.yaml" in [
        r.render() for r in transform.reasons
    ]


def test_downstream_of_stale_is_stale_and_never_run_is_said(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "pets.yaml", project)
    raw = {"ingest": [{"changed deps": {"params.yaml": {"ingest.seed": "modified"}}}]}
    [ingest, transform] = explain(raw, spec, {"ingest": {}, "transform": {}})
    assert ingest.stale and transform.stale
    assert ingest.reasons[0].render() == "params changed: ingest.seed (modified) in params.yaml"
    assert transform.reasons[0].render() == "upstream stage will re-run: ingest"
    [ingest, transform] = explain({}, spec, {"ingest": {}})
    assert not ingest.stale
    assert transform.reasons[0].render() == "never run (no record in dvc.lock)"


def test_param_diff_names_each_leaf() -> None:
    from pedigree.staleness import param_diff

    old = {"split": {"train": [0, 1], "test": [2]}, "size": 8}
    new = {"split": {"train": [0], "test": [2]}, "size": 8, "extra": True}
    assert param_diff(old, new, "t") == ["t.extra: added (True)", "t.split.train: [0, 1] -> [0]"]
