"""`pedigree models import`: a SQLite registry made by the old code becomes the same registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pedigree.cli.main import main
from pedigree.errors import RegistryError
from pedigree.registry.events import events_dir, load_events
from pedigree.registry.migrate import import_registry, read_legacy
from pedigree.registry.replay import replay
from tests.conftest import make_project
from tests.unit.registry.legacy_sqlite_store import Registry as LegacyRegistry
from tests.unit.registry.test_store import SPLIT_B, better, make_candidate, never


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """An old registry: v1 champion, v2 rejected, v2 promoted by hand, then rolled back; v1 also
    scored on a second test split."""
    folder = tmp_path / "old" / ".pedigree" / "registry"
    old = LegacyRegistry(folder)
    old.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    old.release(make_candidate(tmp_path / "m", b"two", 0.3), better)
    old.release(make_candidate(tmp_path / "m", b"one", 0.6, SPLIT_B), never)
    old.promote(2, "compare in production", "alice")
    old.rollback("v2 is worse", "bob")
    return folder


def test_the_import_replays_to_the_same_registry(legacy: Path, tmp_path: Path) -> None:
    old = LegacyRegistry(legacy, create=False)
    target = tmp_path / "proj" / "registry" / "pets"
    result = import_registry(legacy, target)
    state = replay(load_events(target))
    assert (
        [(v.version, v.model_sha256, v.status) for v in state.versions]
        == [(v.version, v.model_sha256, v.status) for v in old.versions()]
        == [
            (1, make_candidate(tmp_path / "x", b"one").model_sha256, "champion"),
            (2, make_candidate(tmp_path / "x", b"two").model_sha256, "rolled-back"),
        ]
    )
    assert state.champion is not None and state.champion.version == 1
    assert result.state.champion == state.champion
    new = [
        (e.kind, e.version, e.previous_champion, e.actor, e.note, e.reasons) for e in state.history
    ]
    assert new == [
        (e.kind, e.version, e.previous_champion, e.actor, e.note, e.reasons) for e in old.history()
    ]
    # the recorded times, to the second they were recorded with
    assert [e.at[:19] for e in state.history] == [e.at[:19] for e in old.history()]
    for mine, theirs in zip(state.versions, old.versions(), strict=True):
        assert mine.scores == theirs.scores and mine.metrics == theirs.metrics
        assert mine.calibration == theirs.calibration and mine.lineage == theirs.lineage
        stored = (legacy / theirs.artifact).read_bytes()
        assert mine.files["model"]["sha256"] == hashlib.sha256(stored).hexdigest()
        assert mine.files["model"]["md5"] == hashlib.md5(stored).hexdigest()
    assert len(result.events) == len(list(events_dir(target).iterdir()))


def test_importing_into_a_registry_with_events_is_refused(legacy: Path, tmp_path: Path) -> None:
    target = tmp_path / "registry"
    import_registry(legacy, target)
    before = sorted(p.name for p in events_dir(target).iterdir())
    with pytest.raises(RegistryError, match="has events already") as exc:
        import_registry(legacy, target)
    assert "import into an empty registry folder" in str(exc.value.hint)
    assert sorted(p.name for p in events_dir(target).iterdir()) == before


def test_a_damaged_old_registry_is_refused_and_nothing_written(
    legacy: Path, tmp_path: Path
) -> None:
    (legacy / "registry.sqlite").write_bytes(b"")
    with pytest.raises(RegistryError, match="the database file is empty"):
        import_registry(legacy, tmp_path / "registry")
    assert not (tmp_path / "registry").exists()
    with pytest.raises(RegistryError, match="no SQLite registry at"):
        read_legacy(tmp_path / "nowhere")


def test_models_import_through_the_cli(
    legacy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "proj")
    with (root / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write("release:\n  registry: registry/pets\n")
    assert main(["-C", str(root), "models", "import", str(legacy / "registry.sqlite")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imported 2 versions (") and "champion v1" in out
    assert main(["-C", str(root), "models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["champion"] == 1 and [v["status"] for v in data["versions"]] == [
        "champion",
        "rolled-back",
    ]
    assert main(["-C", str(root), "models", "import", str(legacy)]) == 2
    assert "has events already" in capsys.readouterr().err
