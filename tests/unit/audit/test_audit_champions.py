"""Audit check `champions`: each champion passed the gate or was promoted by hand with a why."""

from __future__ import annotations

from pathlib import Path

from pedigree.api.audit import audit
from pedigree.registry.records import GateDecision, ModelVersion, Reason
from tests.conftest import make_project
from tests.unit.registry.test_store import GATE, better, make_candidate, open_registry


def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "proj")
    (root / "params.yaml").open("a").write("release:\n  registry: registry/pets\n")
    return root


def lenient(challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
    """A broken gate: promotes although a check failed."""
    return GateDecision(True, (Reason("threshold mean_iou", False, "0.1 < 0.5"),))


def test_gate_promotions_and_reasoned_manual_changes_pass(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert audit(root, only="champions").check("champions").status == "skip"
    registry = open_registry(root, root / "registry" / "pets")
    for content, score in ((b"one", 0.5), (b"two", 0.7)):
        registry.release(make_candidate(tmp_path / "m", content, score), better, GATE)
    registry.rollback("v2 misbehaves in production", "alice")
    result = audit(root, only="champions").check("champions")
    assert result.status == "pass" and result.summary.startswith("3 champion changes")


def test_a_failed_gate_or_a_reasonless_promotion_is_a_finding(tmp_path: Path) -> None:
    root = project(tmp_path)
    registry = open_registry(root, root / "registry" / "pets")
    registry.release(make_candidate(tmp_path / "m", b"one"), lenient, GATE)
    registry.release(
        make_candidate(tmp_path / "m", b"two"), lambda c, ch: GateDecision(False, ()), GATE
    )
    registry.promote(2, "", "bob")
    result = audit(root, only="champions").check("champions")
    assert result.status == "fail"
    messages = [f.message for f in result.findings]
    assert messages == [
        "v1 was promoted although the gate's checks failed: threshold mean_iou (0.1 < 0.5)",
        "v2 was promoted by hand without saying why (note)",
    ]
    assert all(
        f.where.startswith(str(root / "registry" / "pets" / "events")) for f in result.findings
    )
    assert result.findings[1].where.endswith(
        "-manual-promote-" + result.findings[1].where.rsplit("-", 1)[1]
    )
