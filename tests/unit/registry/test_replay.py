"""Replaying the event log, and the event files themselves (names, edits, damage)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pedigree.errors import RegistryError
from pedigree.registry.events import RegistryEvent, events_dir, load_events, write_event
from pedigree.registry.replay import replay

A, B, C = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))
PASS = ({"check": "gate", "passed": True, "message": "ok"},)


def ev(
    kind: str, second: int, model: str, replaces: str | None = None, **kw: object
) -> RegistryEvent:
    at = f"2026-01-01T00:00:{second:02d}.000000Z"
    event = RegistryEvent(kind, at, model, "tester", replaces=replaces, **kw)  # type: ignore[arg-type]
    return RegistryEvent(**{**event.__dict__, "name": event.file_name()})


def reg(second: int, model: str) -> RegistryEvent:
    return ev("registered", second, model, data={"test_split_sha256": "s", "metrics": {"m": 1}})


def test_versions_are_numbered_by_first_registration() -> None:
    state = replay((reg(1, B), reg(2, A), reg(3, B), reg(4, C)))
    assert [(v.version, v.model_sha256) for v in state.versions] == [(1, B), (2, A), (3, C)]
    assert all(v.status == "challenger" for v in state.versions) and state.champion is None


def test_statuses_follow_promotions_rejections_and_rollbacks() -> None:
    log = (
        reg(1, A),
        ev("promoted", 2, A, None, reasons=PASS),
        reg(3, B),
        ev("promoted", 4, B, A, reasons=PASS),
        reg(5, C),
        ev("rejected", 6, C, B),
        ev("rolled-back", 7, A, B, note="bad"),
    )
    state = replay(log)
    assert {v.version: v.status for v in state.versions} == {
        1: "champion",
        2: "rolled-back",
        3: "rejected",
    }
    assert [e.superseded for e in state.history] == [False] * 7
    assert state.history[-1].previous_champion == 2 and state.history[-1].file == log[-1].name


def test_a_promotion_from_a_champion_that_changed_is_superseded() -> None:
    log = (
        reg(1, A),
        ev("promoted", 2, A, None, reasons=PASS),
        reg(3, B),
        reg(4, C),
        ev("manual-promote", 5, B, A, note="x"),
        ev("manual-promote", 6, C, A, note="y"),  # from A too: A is no longer champion
    )
    state = replay(log)
    assert state.champion is not None and state.champion.model_sha256 == B
    assert [e.superseded for e in state.history][-2:] == [False, True]
    assert state.by_sha256(C).status == "challenger"  # type: ignore[union-attr]


def test_confirming_the_champion_changes_nothing_and_is_not_superseded() -> None:
    state = replay((reg(1, A), ev("promoted", 2, A, None, reasons=PASS), ev("promoted", 3, A, A)))
    assert state.champion.version == 1 and not state.history[-1].superseded  # type: ignore[union-attr]


def test_an_event_for_an_unregistered_model_is_located() -> None:
    log = (reg(1, A), ev("promoted", 2, B, None))
    with pytest.raises(RegistryError, match=rf"^{log[1].name}: a promoted event for model"):
        replay(log)
    with pytest.raises(RegistryError, match=r"\[replaces\] names model"):
        replay((reg(1, A), ev("promoted", 2, A, C)))


def test_event_names_are_unique_and_ordered(tmp_path: Path) -> None:
    one = write_event(tmp_path, ev("registered", 1, A))
    two = write_event(tmp_path, ev("registered", 1, B))
    assert one.name != two.name and one.name.startswith("20260101T000001000000Z-registered-")
    with pytest.raises(RegistryError, match="exists already"):
        write_event(tmp_path, ev("registered", 1, A))
    assert [e.name for e in load_events(tmp_path)] == sorted([one.name, two.name])
    assert not [p for p in events_dir(tmp_path).iterdir() if p.name.startswith(".")]


def test_an_edited_event_file_is_named(tmp_path: Path) -> None:
    written = write_event(tmp_path, reg(1, A))
    path = events_dir(tmp_path) / written.name
    path.write_text(path.read_text().replace('"m": 1', '"m": 2'))
    with pytest.raises(
        RegistryError, match=rf"{written.name}: its content does not match its name"
    ) as exc:
        load_events(tmp_path)
    assert "git checkout --" in str(exc.value.hint)


def test_bad_json_is_located(tmp_path: Path) -> None:
    written = write_event(tmp_path, reg(1, A))
    path = events_dir(tmp_path) / written.name
    path.write_text('{"schema": "pedigree/registry-event/v1",\n  "kind": }\n')
    with pytest.raises(RegistryError, match=rf"{written.name}: line 2: not valid JSON"):
        load_events(tmp_path)


def test_a_foreign_file_in_the_log_is_refused(tmp_path: Path) -> None:
    write_event(tmp_path, reg(1, A))
    (events_dir(tmp_path) / "notes.txt").write_text("hi")
    with pytest.raises(RegistryError, match=r"notes.txt: is not named like an event"):
        load_events(tmp_path)
