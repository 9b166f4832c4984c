"""The SQLite registry: idempotent registration, the release transaction, promote, rollback."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from pedigree.errors import RegistryBusyError, RegistryError
from pedigree.registry.records import Candidate, GateDecision, ModelVersion, Reason
from pedigree.registry.store import Registry

SPLIT_A = "a" * 64
SPLIT_B = "b" * 64


def make_candidate(
    folder: Path,
    content: bytes,
    mean_iou: float = 0.5,
    split: str = SPLIT_A,
    calibration: bool = True,
) -> Candidate:
    """A candidate whose 'model' is a small file holding `content`."""
    folder.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(content).hexdigest()
    model = folder / f"{sha[:8]}.keras"
    model.write_bytes(content)
    calibration_path = None
    if calibration:
        calibration_path = folder / f"{sha[:8]}.calibration.json"
        calibration_path.write_text('{"temperature": 1.27}\n', encoding="utf-8")
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


def statuses(registry: Registry) -> dict[int, str]:
    return {v.version: v.status for v in registry.versions()}


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", timeout=5)


def test_a_new_registry_has_its_folders_and_nothing_registered(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "deep" / "registry")
    assert (tmp_path / "deep" / "registry" / "registry.sqlite").is_file()
    assert (tmp_path / "deep" / "registry" / "artifacts").is_dir()
    assert registry.versions() == [] and registry.champion() is None
    with sqlite3.connect(tmp_path / "deep" / "registry" / "registry.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_register_is_idempotent_on_the_model_hash(registry: Registry, tmp_path: Path) -> None:
    first, new = registry.register(make_candidate(tmp_path / "m", b"model one"))
    again, new_again = registry.register(make_candidate(tmp_path / "m2", b"model one"))
    assert (first.version, new) == (1, True)
    assert (again.version, new_again) == (1, False)
    assert len(registry.versions()) == 1
    assert [e.kind for e in registry.history()] == ["registered"]


def test_versions_are_contiguous_and_records_round_trip(registry: Registry, tmp_path: Path) -> None:
    for i in range(3):
        registry.register(make_candidate(tmp_path / "m", f"model {i}".encode()))
    versions = registry.versions()
    assert [v.version for v in versions] == [1, 2, 3]
    v2 = registry.get(2)
    candidate = make_candidate(tmp_path / "m", b"model 1")
    assert v2.model_sha256 == candidate.model_sha256 and v2.status == "challenger"
    assert v2.metrics == candidate.metrics and v2.calibration == candidate.calibration
    assert v2.environment == candidate.environment and v2.lineage == candidate.lineage
    assert v2.git_commit == candidate.git_commit and v2.git_dirty is False
    assert v2.scores == {SPLIT_A: candidate.metrics}
    assert v2.registered_at.endswith("Z") and "T" in v2.registered_at
    assert v2.to_dict()["scores"] == {SPLIT_A: candidate.metrics}


def test_the_artifact_is_copied_under_its_hash(registry: Registry, tmp_path: Path) -> None:
    candidate = make_candidate(tmp_path / "m", b"weights")
    version, _ = registry.register(candidate)
    assert version.artifact == f"artifacts/{candidate.model_sha256}/model.keras"
    stored = registry.artifact_path(version)
    assert stored.is_absolute() and stored.read_bytes() == b"weights"
    assert (stored.parent / "calibration.json").read_text(encoding="utf-8").startswith("{")
    assert sorted(p.name for p in stored.parent.iterdir()) == ["calibration.json", "model.keras"]
    candidate.model_path.unlink()  # registered again: the stored copy is reused, not re-copied
    assert registry.register(candidate)[1] is False


def test_a_damaged_stored_artifact_is_replaced(registry: Registry, tmp_path: Path) -> None:
    candidate = make_candidate(tmp_path / "m", b"weights")
    version, _ = registry.register(candidate)
    registry.artifact_path(version).write_bytes(b"bit rot")
    registry.register(candidate)
    assert registry.artifact_path(version).read_bytes() == b"weights"


def test_a_model_that_does_not_match_its_hash_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    candidate = make_candidate(tmp_path / "m", b"weights")
    candidate.model_path.write_bytes(b"changed after hashing")
    with pytest.raises(RegistryError, match="has sha256 .* not the .* it was registered with"):
        registry.register(candidate)
    assert registry.versions() == []
    folder = registry.root / "artifacts" / candidate.model_sha256
    assert not (folder / "model.keras").exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".model")] == []


def test_a_hash_that_is_not_a_sha256_is_refused(registry: Registry, tmp_path: Path) -> None:
    candidate = make_candidate(tmp_path / "m", b"weights")
    bad = Candidate(**{**candidate.__dict__, "model_sha256": "../../etc"})
    with pytest.raises(RegistryError, match="'../../etc' is not a sha256"):
        registry.register(bad)


def test_release_promotes_the_first_model(registry: Registry, tmp_path: Path) -> None:
    outcome = registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
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
    assert outcome.to_dict()["decision"]["promoted"] is True


def test_a_better_challenger_replaces_the_champion(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    outcome = registry.release(make_candidate(tmp_path / "m", b"two", 0.7), better)
    assert outcome.decision.promoted
    assert outcome.champion_before is not None and outcome.champion_before.version == 1
    assert statuses(registry) == {1: "retired", 2: "champion"}
    assert registry.history()[-1].previous_champion == 1


def test_a_worse_challenger_is_rejected_and_the_champion_stays(
    registry: Registry, tmp_path: Path
) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    outcome = registry.release(make_candidate(tmp_path / "m", b"two", 0.3), better)
    assert not outcome.decision.promoted
    assert outcome.challenger.status == "rejected"
    assert outcome.champion_after is not None and outcome.champion_after.version == 1
    assert statuses(registry) == {1: "champion", 2: "rejected"}
    last = registry.history()[-1]
    assert (last.kind, last.version, last.previous_champion) == ("rejected", 2, 1)
    assert last.reasons[0].message == "0.3 vs 0.5"


def test_releasing_the_champion_again_asks_the_gate_and_changes_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    seen: list[tuple[int, int | None]] = []

    def spy(challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
        seen.append((challenger.version, champion and champion.version))
        return better(challenger, champion)

    outcome = registry.release(make_candidate(tmp_path / "m", b"one", 0.5), spy)
    assert seen == [(1, 1)]
    assert not outcome.newly_registered and outcome.decision.promoted
    assert statuses(registry) == {1: "champion"}
    assert [e.kind for e in registry.history()] == ["registered", "promoted", "promoted"]


def test_a_rejected_champion_is_not_marked_rejected(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), never)
    assert statuses(registry) == {1: "champion"}
    registry.release(make_candidate(tmp_path / "m", b"two", 0.9), better)
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), never)
    assert statuses(registry) == {1: "retired", 2: "champion"}  # a former champion stays retired


def test_scores_are_kept_per_test_split(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5, SPLIT_A), never)
    outcome = registry.release(make_candidate(tmp_path / "m", b"one", 0.6, SPLIT_B), never)
    scores = outcome.challenger.scores
    assert scores[SPLIT_A]["mean_iou"] == 0.5 and scores[SPLIT_B]["mean_iou"] == 0.6
    assert outcome.challenger.metrics["mean_iou"] == 0.5  # first registration's metrics stay
    assert outcome.challenger.test_split_sha256 == SPLIT_A
    registry.release(make_candidate(tmp_path / "m", b"one", 0.55, SPLIT_B), never)
    assert registry.get(1).scores[SPLIT_B]["mean_iou"] == 0.55  # re-scored: replaced


def test_a_failing_gate_leaves_nothing_half_recorded(registry: Registry, tmp_path: Path) -> None:
    def broken(challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
        raise RuntimeError("gate crashed")

    with pytest.raises(RuntimeError, match="gate crashed"):
        registry.release(make_candidate(tmp_path / "m", b"one"), broken)
    assert registry.versions() == [] and registry.history() == []


def test_get_an_unknown_version_lists_the_existing_ones(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no model version 7 in the registry at") as empty:
        registry.get(7)
    assert "the registry is empty" in str(empty.value.hint)
    registry.register(make_candidate(tmp_path / "m", b"one"))
    registry.register(make_candidate(tmp_path / "m", b"two"))
    with pytest.raises(RegistryError, match="no model version 7") as some:
        registry.get(7)
    assert some.value.hint == "existing versions: v1, v2"


def _three_champions(registry: Registry, tmp_path: Path) -> None:
    for i, score in enumerate((0.5, 0.6, 0.7)):
        registry.release(make_candidate(tmp_path / "m", f"model {i}".encode(), score), better)


def test_manual_promote_overrides_the_gate(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    registry.release(make_candidate(tmp_path / "m", b"two", 0.1), better)
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
    _, restored = registry.rollback("no", "alice")
    assert restored.version == 2


def test_a_rejected_model_is_never_restored_by_rollback(registry: Registry, tmp_path: Path) -> None:
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    registry.release(make_candidate(tmp_path / "m", b"two", 0.1), better)  # rejected
    with pytest.raises(RegistryError, match="no earlier champion to roll back to from v1"):
        registry.rollback("", "bob")


def test_rollback_without_a_champion_is_refused(registry: Registry, tmp_path: Path) -> None:
    registry.register(make_candidate(tmp_path / "m", b"one"))
    with pytest.raises(RegistryError, match="there is no champion to roll back"):
        registry.rollback("", "bob")


def test_history_of_one_version(registry: Registry, tmp_path: Path) -> None:
    _three_champions(registry, tmp_path)
    registry.rollback("bad", "bob")
    kinds = [(e.kind, e.version) for e in registry.history(3)]
    assert kinds == [("registered", 3), ("promoted", 3), ("rolled-back", 2)]
    assert all(isinstance(e.to_dict()["reasons"], list) for e in registry.history())
    with pytest.raises(RegistryError, match="no model version 8"):
        registry.history(8)


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    (root / "registry.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(RegistryError, match="registry.sqlite is unreadable: file is not a") as exc:
        Registry(root)
    assert "restore registry.sqlite from a backup, or move it aside" in str(exc.value.hint)


def test_a_registry_from_a_newer_pedigree_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    Registry(root)
    with sqlite3.connect(root / "registry.sqlite") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RegistryError, match="has schema version 99, newer than this pedigree"):
        Registry(root)


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    with sqlite3.connect(root / "registry.sqlite") as conn:
        conn.execute("CREATE TABLE stuff (x)")
    with pytest.raises(RegistryError, match="is a SQLite database but not a pedigree model"):
        Registry(root)


def test_a_registry_locked_too_long_is_busy(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", timeout=0.2)
    holder = sqlite3.connect(registry.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(RegistryBusyError, match="stayed locked by another process") as exc:
            registry.register(make_candidate(tmp_path / "m", b"one"))
        assert exc.value.exit_code == 4
        assert registry.versions() == []  # readers are not blocked by a writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert registry.register(make_candidate(tmp_path / "m", b"one"))[1] is True


def test_only_one_champion_can_exist(registry: Registry, tmp_path: Path) -> None:
    _three_champions(registry, tmp_path)
    with (
        sqlite3.connect(registry.database) as conn,
        pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"),
    ):
        conn.execute("UPDATE versions SET status = 'champion' WHERE version = 1")


def test_dicts_are_stored_as_canonical_json(registry: Registry, tmp_path: Path) -> None:
    registry.register(make_candidate(tmp_path / "m", b"one"))
    with sqlite3.connect(registry.database) as conn:
        text = conn.execute("SELECT metrics FROM versions").fetchone()[0]
    assert text == '{"ece":{"calibrated":0.02,"original":0.1},"mean_iou":0.5}'
    assert list(registry.get(1).metrics) == ["ece", "mean_iou"]
