"""A decompression bomb as the ingest source, through a real `pedigree run` (dvc and git): refused
from the tar headers before anything is written, with the numbers and the key to raise, and the
last good data/raw stays in place."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import pytest

from tests.integration.conftest import make_pets_project, pedigree, set_params, sh

pytestmark = pytest.mark.integration

GIB = 1 << 30
ZEROS = 16 << 20


def _bomb(path: Path) -> Path:
    """A tarball holding one 1 GiB file of zeros in about 1 MB (gzip members in a row)."""
    info = tarfile.TarInfo("images/zeros.jpg")
    info.size = GIB
    zeros = gzip.compress(bytes(ZEROS), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(GIB // ZEROS):
            out.write(zeros)
        out.write(gzip.compress(bytes(2 * tarfile.BLOCKSIZE)))
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_bomb_source_is_refused_and_the_last_good_raw_data_stays(tmp_path: Path) -> None:
    root = make_pets_project(tmp_path / "pets")
    pedigree(root, "run", "--stage", "ingest")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "ingested")
    before = _tree(root / "data" / "raw")
    bomb = _bomb(tmp_path / "pets.tar.gz")
    assert bomb.stat().st_size < 2 << 20
    set_params(root, {"ingest": {"source": str(bomb)}})
    result = pedigree(root, "run", "--stage", "ingest", check=False)
    assert result.returncode == 1, result.stderr
    assert "error: stage 'ingest' failed (exit code 2)" in result.stderr
    assert "a decompression bomb?" in result.stderr
    assert "ingest.max_expansion_ratio" in result.stderr  # the key to raise
    assert "its previous outputs were restored from the cache: data/raw" in result.stderr
    assert _tree(root / "data" / "raw") == before
    # Nothing was extracted anywhere: no file of the bomb's size on disk.
    big = [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size > 16 << 20]
    assert big == []
    assert sh(root, "git", "status", "--porcelain", "dvc.lock", "lineage").stdout == ""
