"""Lineage hashes must be DVC's own: compared with dvc_data's hashing of the same paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.lineage.hashing import Ignore, content_hash, listing_hash


def _dvc_hash(path: Path) -> str:
    """What DVC records for `path` (dvc_data's own build, no repository needed)."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    odb = HashFileDB(fs, str(path.parent / ".odb"))
    _, _, obj = build(odb, str(path), fs, "md5")
    return obj.hash_info.value


def _tree(root: Path) -> Path:
    folder = root / "data"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha\r\nwindows line ends stay as they are\n")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (folder / "sub" / "deeper" / "c.json").write_text('{"c": 1}')
    (folder / "z-empty").write_bytes(b"")
    return folder


def test_file_and_folder_hashes_equal_dvc(tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    found = content_hash(folder)
    assert found is not None and found.is_dir and found.nfiles == 4
    assert found.md5 == _dvc_hash(folder)
    assert found.size == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    single = content_hash(folder / "sub" / "b.bin")
    assert single is not None and not single.is_dir and single.nfiles is None
    assert single.md5 == _dvc_hash(folder / "sub" / "b.bin")


def test_dvcignore_patterns_are_left_out(tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    before = content_hash(folder, Ignore(tmp_path))
    (tmp_path / ".dvcignore").write_text("__pycache__/\n*.pyc\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    (folder / "sub" / "y.pyc").write_bytes(b"bytecode")
    after = content_hash(folder, Ignore(tmp_path))
    assert before == after
    assert content_hash(folder) != after  # without the ignore file's patterns they count


def test_missing_path_and_empty_listing(tmp_path: Path) -> None:
    assert content_hash(tmp_path / "nope") is None
    (tmp_path / "empty").mkdir()
    empty = content_hash(tmp_path / "empty")
    assert empty is not None and empty.md5 == listing_hash([]) and empty.nfiles == 0


@pytest.mark.parametrize("name", ["a b.txt", "ünïcode.txt"])
def test_odd_names_hash_like_dvc(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / name).write_text("x")
    found = content_hash(folder)
    assert found is not None and found.md5 == _dvc_hash(folder)
