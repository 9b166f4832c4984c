"""A damaged registry is a located error (exit 2), never a traceback, never silently re-created.

Variants: an empty (0-byte) file, a file cut short (inside the header and after it), a file that
is not SQLite, a damaged page, a SQLite file without the registry's tables, a folder in its
place, and rows whose JSON is malformed or of the wrong shape in each table. Reading commands
(`models list/show`, `check`) and writing ones (release, promote) alike refuse the file and
leave its bytes as they were.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from pedigree.cli.main import main
from pedigree.errors import RegistryError
from pedigree.registry.store import Registry
from tests.unit.conftest import check_items
from tests.unit.registry.test_manifest_champion import RELEASE
from tests.unit.registry.test_store import better, make_candidate

RESTORE = "restore registry.sqlite from a backup, or move it aside"


@pytest.fixture
def proj(checked: Path, tmp_path: Path) -> Path:
    """A checked project whose registry holds v1 (retired), v2 (champion), v3 (rejected)."""
    with (checked / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    registry = Registry(checked / ".pedigree" / "registry")
    for content, score in ((b"one", 0.5), (b"two", 0.7), (b"three", 0.6)):
        registry.release(make_candidate(tmp_path / "models", content, score), better)
    _checkpoint(registry.database)
    return checked


def _checkpoint(database: Path) -> None:
    # move every committed page from the WAL into the file, as closing the last connection does
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def database(proj: Path) -> Path:
    return proj / ".pedigree" / "registry" / "registry.sqlite"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def models(proj: Path, *args: str) -> int:
    return main(["-C", str(proj), "models", *args])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def short_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database at all\n" * 300)


def damaged_page(path: Path) -> None:
    # page 2 onwards hold the tables: overwrite a page's b-tree header with nonsense
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : page + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


FILE_DAMAGE: list[tuple[Callable[[Path], None], str]] = [
    (empty, r"is unreadable: the database file is empty \(0 bytes\)"),
    (short_header, r"is unreadable: the database file is truncated \(60 bytes, less than a header"),
    (half, r"is unreadable: the database file is truncated \(\d+ bytes; its header says \d+ pages"),
    (garbage, r"is unreadable: file is not a database"),
    (damaged_page, r"is unreadable: .*(malformed|not a database)"),
]
IDS = [damage.__name__ for damage, _ in FILE_DAMAGE]


@pytest.mark.parametrize(("damage", "message"), FILE_DAMAGE, ids=IDS)
def test_a_damaged_file_is_refused_by_readers_and_writers(
    proj: Path, damage: Callable[[Path], None], message: str
) -> None:
    path = database(proj)
    damage(path)
    before = digest(path)
    for create in (False, True):
        with pytest.raises(RegistryError, match=message) as exc:
            Registry(path.parent, create=create)
        assert str(path) in exc.value.message
        assert exc.value.exit_code == 2
        assert RESTORE in str(exc.value.hint) and "snapshots/" in str(exc.value.hint)
    assert digest(path) == before  # never re-initialised, never rewritten


@pytest.mark.parametrize(("damage", "message"), FILE_DAMAGE, ids=IDS)
def test_models_commands_report_a_damaged_file(
    proj: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None], message: str
) -> None:
    path = database(proj)
    damage(path)
    before = digest(path)
    for args in (("list",), ("show", "v2"), ("promote", "v1"), ("rollback",), ("manifest",)):
        capsys.readouterr()
        assert models(proj, *args) == 2, args
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert str(path) in err and RESTORE in err, err
    assert digest(path) == before


@pytest.mark.parametrize(("damage", "message"), FILE_DAMAGE, ids=IDS)
def test_check_reports_a_damaged_registry(
    proj: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None], message: str
) -> None:
    path = database(proj)
    damage(path)
    before = digest(path)
    code, items = check_items(proj, capsys)
    assert code == 3
    assert items["serving"]["ok"] is False
    assert re.search(message, items["serving"]["message"]), items["serving"]["message"]
    assert digest(path) == before


def test_a_truncated_file_next_to_a_wal_file_is_still_refused(proj: Path) -> None:
    # with a WAL in use the header's page count is not trusted; SQLite's own check decides
    path = database(proj)
    half(path)
    path.with_name("registry.sqlite-wal").write_bytes(b"\0" * 64)
    before = digest(path)
    for create in (False, True):
        with pytest.raises(RegistryError, match=r"registry\.sqlite is unreadable: ") as exc:
            Registry(path.parent, create=create)
        assert RESTORE in str(exc.value.hint)
    assert digest(path) == before


def test_the_release_stage_refuses_an_empty_registry_file(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    (root / "registry.sqlite").write_bytes(b"")
    with pytest.raises(RegistryError, match=r"the database file is empty \(0 bytes\)"):
        Registry(root).release(make_candidate(tmp_path / "m", b"one"), better)
    assert (root / "registry.sqlite").read_bytes() == b""


def test_only_a_writer_creates_a_missing_registry(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    with pytest.raises(RegistryError, match=r"no model registry at .*registry\.sqlite is missing"):
        Registry(root, create=False)
    assert not root.exists()
    Registry(root)
    assert (root / "registry.sqlite").stat().st_size > 0  # created whole, schema included
    assert not list(root.glob(".registry.sqlite.*"))  # no temporary file left behind
    assert Registry(root, create=False).versions() == []


def test_models_list_without_a_registry_creates_nothing(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert models(checked, "list") == 2
    assert "no model registry at" in capsys.readouterr().err
    assert not (checked / ".pedigree" / "registry").exists()


def test_a_sqlite_file_without_tables_is_not_initialised(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    with sqlite3.connect(root / "registry.sqlite") as conn:
        conn.execute("PRAGMA user_version = 0")
        conn.execute("VACUUM")  # writes the header: a valid, empty SQLite database
    conn.close()
    before = digest(root / "registry.sqlite")
    with pytest.raises(RegistryError, match=r"not a pedigree model registry \(holds no tables\)"):
        Registry(root)
    assert digest(root / "registry.sqlite") == before


def test_a_folder_in_place_of_the_database(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    (root / "registry.sqlite").mkdir(parents=True)
    for create in (False, True):
        with pytest.raises(RegistryError, match=r"registry\.sqlite is unreadable: cannot be read"):
            Registry(root, create=create)


# --- rows: malformed JSON, or JSON of the wrong shape -----------------------------------------

ROW_DAMAGE = [
    (
        "UPDATE versions SET metrics = '{\"mean_iou\": 0.6' WHERE version = 3",
        r"row version = 3 of table versions has malformed JSON \(.*\) in column metrics",
    ),
    (
        "UPDATE versions SET calibration = '[1, 2]' WHERE version = 3",
        r"row version = 3 of table versions has JSON list where an object belongs in column "
        r"calibration",
    ),
    (
        "UPDATE versions SET lineage = 7 WHERE version = 3",
        r"row version = 3 of table versions has JSON int where an object belongs in column lineage",
    ),
    (
        "UPDATE versions SET environment = X'7b7d' WHERE version = 3",
        r"row version = 3 of table versions has a bytes value where JSON text belongs in column "
        r"environment",
    ),
    (
        "UPDATE scores SET metrics = 'nope' WHERE version = 3",
        r"row version = 3 AND test_split_sha256 = 'a{64}' of table scores has malformed JSON .* "
        r"in column metrics",
    ),
]


@pytest.mark.parametrize(("sql", "message"), ROW_DAMAGE)
def test_a_malformed_version_row_is_located(
    proj: Path, capsys: pytest.CaptureFixture[str], sql: str, message: str
) -> None:
    with sqlite3.connect(database(proj)) as conn:
        conn.execute(sql)
    conn.close()
    registry = Registry(database(proj).parent, create=False)
    with pytest.raises(RegistryError, match=message) as exc:
        registry.versions()
    assert f"registry {database(proj)}: " in exc.value.message
    assert "repair the value with the sqlite3 shell" in str(exc.value.hint)
    assert "WHERE version = 3" in str(exc.value.hint)
    assert registry.champion() is not None  # other rows still read
    for args in (("list",), ("show", "3"), ("list", "--json")):
        capsys.readouterr()
        assert models(proj, *args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "of table" in err
    assert models(proj, "show", "2") == 0  # the damage is in v3 only


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ('[{"check": "x"', r"has malformed JSON"),
        ('{"check": "x"}', r"has JSON dict where a list belongs"),
        ('[{"check": "x", "passed": true}]', r"has a reason that is not \{check, passed"),
        ('[{"check": 1, "passed": true, "message": "m"}]', r"has a reason with a wrong value type"),
    ],
)
def test_malformed_event_reasons_are_located(
    proj: Path, capsys: pytest.CaptureFixture[str], reasons: str, message: str
) -> None:
    with sqlite3.connect(database(proj)) as conn:
        event = conn.execute("SELECT max(id) FROM events WHERE version = 3").fetchone()[0]
        conn.execute("UPDATE events SET reasons = ? WHERE id = ?", (reasons, event))
    conn.close()
    registry = Registry(database(proj).parent, create=False)
    with pytest.raises(RegistryError, match=rf"row id = {event} of table events {message}"):
        registry.history()
    assert models(proj, "show", "v3") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"row id = {event} of table events" in err
