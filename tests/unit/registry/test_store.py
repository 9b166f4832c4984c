"""The registry store over its event log: release (idempotent), promote, rollback, reading."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pedigree.errors import RegistryError
from pedigree.registry.events import events_dir, load_events
from pedigree.registry.records import Candidate, GateDecision, ModelVersion, Reason
from pedigree.registry.store import Registry, lock_path

SPLIT_A = "a" * 64
SPLIT_B = "b" * 64
GATE = "gate-settings-digest"


def _file(path: Path, content: bytes) -> dict[str, object]:
    return {
        "path": path.name,
        "md5": hashlib.md5(content).hexdigest(),
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def make_candidate(
    folder: Path,
    content: bytes,
    mean_iou: float = 0.5,
    split: str = SPLIT_A,
    calibration: bool = True,
) -> Candidate:
    """A candidate whose 'model' is a small file holding `content`, with its DVC-style hashes."""
    folder.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(content).hexdigest()
    model = folder / f"{sha[:8]}.keras"
    model.write_bytes(content)
    calibration_path = None
    calibration_file: dict[str, object] = {}
    if calibration:
        text = b'{"temperature": 1.27}\n'
        calibration_path = folder / f"{sha[:8]}.calibration.json"
        calibration_path.write_bytes(text)
        calibration_file = _file(calibration_path, text)
    return Candidate(
        model_path=model,
        model_sha256=sha,
        calibration_path=calibration_path,
        calibration={"temperature": 1.27, "ece": {"before": 0.1, "after": 0.02}},
        metrics={"mean_iou": mean_iou, "ece": {"original": 0.1, "calibrated": 0.02}},
        test_split_sha256=split,
        git_commit="0123456789abcdef0123456789abcdef01234567",
        git_dirty=False,
        environment={"python": "3.11.9", "packages": {"keras": "3.6.0"}},
        lineage={"train": {"outs": [{"path": "models/model.keras", "md5": "x"}]}},
        model_file=_file(model, content),
        calibration_file=calibration_file,
    )


def better(challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
    """A gate: promote when there is no champion or the challenger's mean_iou is higher."""
    if champion is None:
        return GateDecision(True, (Reason("champion/challenger", True, "no champion yet"),))
    if champion.version == challenger.version:
        return GateDecision(True, (Reason("champion/challenger", True, "already the champion"),))
    mine = challenger.scores[SPLIT_A]["mean_iou"]
    theirs = champion.scores[SPLIT_A]["mean_iou"]
    return GateDecision(
        mine > theirs, (Reason("champion/challenger", mine > theirs, f"{mine} vs {theirs}"),)
    )


def never(challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
    """A gate that always says no."""
    return GateDecision(False, (Reason("threshold mean_iou", False, "mean_iou 0.1 < 0.5"),))


def open_registry(root: Path, folder: Path, create: bool = True) -> Registry:
    """The registry at `folder` of the project at `root`, with the project's lock."""
    return Registry(folder, lock_path(root, folder), create=create)


def statuses(registry: Registry) -> dict[int, str]:
    return {v.version: v.status for v in registry.versions()}


def files(registry: Registry) -> list[str]:
    return sorted(p.name for p in events_dir(registry.root).iterdir())


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return open_registry(tmp_path, tmp_path / "registry" / "pets")


def test_a_new_registry_writes_nothing_until_an_event(tmp_path: Path) -> None:
    registry = open_registry(tmp_path, tmp_path / "deep" / "registry")
    assert registry.versions() == [] and registry.champion() is None
    assert not (tmp_path / "deep").exists()
    with pytest.raises(RegistryError, match=r"no model registry at .* \(it has no events\)"):
        open_registry(tmp_path, tmp_path / "deep" / "registry", create=False)


def test_release_promotes_the_first_model(registry: Registry, tmp_path: Path) -> None:
    candidate = make_candidate(tmp_path / "m", b"one", 0.5)
    outcome = registry.release(candidate, better, GATE)
    assert outcome.newly_registered and outcome.decision.promoted
    assert outcome.champion_before is None
    assert outcome.challenger.status == "champion"
    assert outcome.champion_after is not None and outcome.champion_after.version == 1
    assert [(e.kind, e.version, e.previous_champion) for e in registry.history()] == [
        ("registered", 1, None),
        ("promoted", 1, None),
    ]
    assert registry.history()[1].reasons == (
        Reason("champion/challenger", True, "no champion yet"),
    )
    v1 = registry.get(1)
    assert v1.files["model"] == candidate.model_file
    assert v1.files["calibration"] == candidate.calibration_file
    assert v1.artifact == candidate.model_file["path"]
    assert v1.metrics == candidate.metrics and v1.calibration == candidate.calibration
    assert v1.scores == {SPLIT_A: candidate.metrics}
    assert [f.split("-", 1)[1].rsplit("-", 1)[0] for f in files(registry)] == [
        "registered",
        "promoted",
    ]


def test_release_is_idempotent_and_writes_nothing_again(registry: Registry, tmp_path: Path) -> None:
    candidate = make_candidate(tmp_path / "m", b"one", 0.5)
    first = registry.release(candidate, better, GATE)
    before = {p.name: p.read_bytes() for p in events_dir(registry.root).iterdir()}
    again = registry.release(candidate, better, GATE)
    assert {p.name: p.read_bytes() for p in events_dir(registry.root).iterdir()} == before
    assert again.to_dict() == first.to_dict()
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(
        first.to_dict(), sort_keys=True
    )


def test_a_recorded_decision_that_disagrees_is_an_error(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    registry.release(make_candidate(tmp_path / "m", b"two", 0.3), better, GATE)
    # the log no longer gives the recorded decision: the gate now promotes what it rejected
    with pytest.raises(
        RegistryError, match=r"the recorded decision \(rejected\) is not what the gate decides"
    ) as exc:
        registry.release(
            make_candidate(tmp_path / "m", b"two", 0.3),
            lambda c, champion: GateDecision(True, (Reason("x", True, "yes"),)),
            GATE,
        )
    assert "-rejected-" in str(exc.value)
    assert "git checkout --" in str(exc.value.hint)


def test_another_gate_setting_decides_again(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), never, "other-gate")
    assert [e.kind for e in registry.history()] == ["registered", "promoted", "rejected"]
    assert statuses(registry) == {1: "champion"}  # a champion is never marked rejected


def test_a_better_challenger_replaces_the_champion(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    outcome = registry.release(make_candidate(tmp_path / "m", b"two", 0.7), better, GATE)
    assert outcome.decision.promoted
    assert outcome.champion_before is not None and outcome.champion_before.version == 1
    assert statuses(registry) == {1: "retired", 2: "champion"}
    assert registry.history()[-1].previous_champion == 1


def test_a_worse_challenger_is_rejected_and_the_champion_stays(
    registry: Registry, tmp_path: Path
) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    outcome = registry.release(make_candidate(tmp_path / "m", b"two", 0.3), better, GATE)
    assert not outcome.decision.promoted
    assert outcome.challenger.status == "rejected"
    assert statuses(registry) == {1: "champion", 2: "rejected"}
    last = registry.history()[-1]
    assert (last.kind, last.version, last.previous_champion) == ("rejected", 2, 1)
    assert last.reasons[0].message == "0.3 vs 0.5"


def test_scores_are_kept_per_test_split(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5, SPLIT_A), never, GATE)
    outcome = registry.release(make_candidate(tmp_path / "m", b"one", 0.6, SPLIT_B), never, GATE)
    scores = outcome.challenger.scores
    assert scores[SPLIT_A]["mean_iou"] == 0.5 and scores[SPLIT_B]["mean_iou"] == 0.6
    assert outcome.challenger.metrics["mean_iou"] == 0.5  # first registration's metrics stay
    assert [e.kind for e in load_events(registry.root)] == [
        "registered",
        "rejected",
        "scored",
        "rejected",
    ]


def test_a_failing_gate_records_no_decision(registry: Registry, tmp_path: Path) -> None:
    def broken(challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
        raise RuntimeError("gate crashed")

    with pytest.raises(RuntimeError, match="gate crashed"):
        registry.release(make_candidate(tmp_path / "m", b"one"), broken, GATE)
    assert registry.champion() is None
    assert [e.kind for e in registry.history()] == ["registered"]


def test_get_an_unknown_version_lists_the_existing_ones(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no model version 7 in the registry at") as empty:
        registry.get(7)
    assert "the registry is empty" in str(empty.value.hint)
    registry.release(make_candidate(tmp_path / "m", b"one"), never, GATE)
    registry.release(make_candidate(tmp_path / "m", b"two"), never, GATE)
    with pytest.raises(RegistryError, match="no model version 7") as some:
        registry.get(7)
    assert some.value.hint == "existing versions: v1, v2"


def _three_champions(registry: Registry, tmp_path: Path) -> None:
    for i, score in enumerate((0.5, 0.6, 0.7)):
        registry.release(make_candidate(tmp_path / "m", f"model {i}".encode(), score), better, GATE)


def test_manual_promote_overrides_the_gate(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    registry.release(make_candidate(tmp_path / "m", b"two", 0.1), better, GATE)
    promoted = registry.promote(2, "reviewed by hand", "alice")
    assert promoted.version == 2 and promoted.status == "champion"
    assert statuses(registry) == {1: "retired", 2: "champion"}
    event = registry.history()[-1]
    assert (event.kind, event.version, event.previous_champion) == ("manual-promote", 2, 1)
    assert (event.actor, event.note) == ("alice", "reviewed by hand")


def test_promoting_the_champion_is_refused(registry: Registry, tmp_path: Path) -> None:
    _three_champions(registry, tmp_path)
    with pytest.raises(RegistryError, match=r"^v3 is already the champion\n"):
        registry.promote(3, "", "alice")
    with pytest.raises(RegistryError, match="no model version 9"):
        registry.promote(9, "", "alice")


def test_rollback_walks_back_through_earlier_champions(registry: Registry, tmp_path: Path) -> None:
    _three_champions(registry, tmp_path)
    demoted, restored = registry.rollback("v3 is bad", "bob")
    assert (demoted.version, demoted.status) == (3, "rolled-back")
    assert (restored.version, restored.status) == (2, "champion")
    demoted, restored = registry.rollback("v2 too", "bob")
    assert (demoted.version, restored.version) == (2, 1)
    assert statuses(registry) == {1: "champion", 2: "rolled-back", 3: "rolled-back"}
    with pytest.raises(RegistryError, match="no earlier champion to roll back to from v1") as exc:
        registry.rollback("again", "bob")
    assert "pedigree models promote VERSION" in str(exc.value.hint)
    event = registry.history()[-1]
    assert (event.kind, event.version, event.previous_champion) == ("rolled-back", 1, 2)
    assert (event.actor, event.note) == ("bob", "v2 too")


def test_rollback_after_promotions_restores_the_champion_just_before(
    registry: Registry, tmp_path: Path
) -> None:
    _three_champions(registry, tmp_path)
    registry.promote(1, "compare", "alice")  # champions in order: 1, 2, 3, 1
    _, restored = registry.rollback("no", "alice")
    assert restored.version == 3
    assert statuses(registry) == {1: "rolled-back", 2: "retired", 3: "champion"}


def test_a_rejected_model_is_never_restored_by_rollback(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    registry.release(make_candidate(tmp_path / "m", b"two", 0.1), better, GATE)
    with pytest.raises(RegistryError, match="no earlier champion to roll back to from v1"):
        registry.rollback("", "bob")


def test_rollback_without_a_champion_is_refused(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one"), never, GATE)
    with pytest.raises(RegistryError, match="there is no champion to roll back"):
        registry.rollback("", "bob")


def test_a_failing_manifest_writer_leaves_no_champion_change(
    registry: Registry, tmp_path: Path
) -> None:
    _three_champions(registry, tmp_path)
    before = files(registry)

    def fail(champion: ModelVersion) -> None:
        raise RegistryError("cannot write the serving manifest", "fix it")

    with pytest.raises(RegistryError, match="cannot write the serving manifest"):
        registry.promote(1, "x", "alice", on_champion=fail)
    with pytest.raises(RegistryError, match="cannot write the serving manifest"):
        registry.rollback("x", "alice", on_champion=fail)
    assert files(registry) == before and registry.champion().version == 3  # type: ignore[union-attr]


def test_history_of_one_version(registry: Registry, tmp_path: Path) -> None:
    _three_champions(registry, tmp_path)
    kinds = [(e.kind, e.version, e.previous_champion) for e in registry.history(2)]
    assert kinds == [
        ("registered", 2, 1),
        ("promoted", 2, 1),
        ("registered", 3, 2),
        ("promoted", 3, 2),
    ]
    assert all(e.file.endswith(".json") for e in registry.history(2))
