"""`pedigree models get`: a version's files from the DVC cache or remote, verified by sha256."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from dvc.repo import Repo

from pedigree.cli.main import main
from tests.conftest import make_project
from tests.unit.registry.test_store import GATE, better, make_candidate, open_registry


def _object(store: Path, content: bytes) -> Path:
    md5 = hashlib.md5(content).hexdigest()
    path = store / "files" / "md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A DVC project whose registry holds v1 (model b"one"), its objects in the DVC cache."""
    root = make_project(tmp_path / "proj")
    (root / "params.yaml").open("a").write("release:\n  registry: registry/pets\n")
    Repo.init(str(root), no_scm=True).close()
    open_registry(root, root / "registry" / "pets").release(
        make_candidate(tmp_path / "m", b"one"), better, GATE
    )
    _object(root / ".dvc" / "cache", b"one")
    _object(root / ".dvc" / "cache", b'{"temperature": 1.27}\n')
    return root


def get(root: Path, *args: str) -> int:
    return main(["-C", str(root), "models", "get", *args])


def test_get_from_the_cache_writes_model_and_calibration(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "model.keras"
    assert get(proj, "v1", "-o", str(out), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert out.read_bytes() == b"one"
    assert (tmp_path / "out" / "model.calibration.json").read_bytes().startswith(b'{"temp')
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # an ordinary file, not a private one
    assert [(f["role"], f["source"]) for f in data["files"]] == [
        ("model", "cache"),
        ("calibration", "cache"),
    ]


def test_get_from_the_remote_when_the_cache_lacks_it(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = tmp_path / "remote"
    _object(remote, b"one")
    shutil.rmtree(proj / ".dvc" / "cache")
    (proj / ".dvc" / "config").write_text(
        f"[core]\n    no_scm = True\n    remote = r\n['remote \"r\"']\n    url = {remote}\n"
    )
    out = tmp_path / "m.keras"
    assert get(proj, "1", "-o", str(out), "--no-calibration") == 0
    assert "from the DVC remote" in capsys.readouterr().out and out.read_bytes() == b"one"


def test_a_damaged_object_or_a_missing_one_writes_nothing(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _object(proj / ".dvc" / "cache", b"one").write_bytes(b"bit rot")
    out = tmp_path / "m.keras"
    assert get(proj, "v1", "-o", str(out)) == 2
    assert "not the" in capsys.readouterr().err and not out.exists()
    assert not list(tmp_path.glob(".m.keras*"))
    shutil.rmtree(proj / ".dvc" / "cache")
    assert get(proj, "v1", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "is neither in the DVC cache, nor on the DVC remote, nor in git" in err
    assert not out.exists()


def _drop_calibration_object(proj: Path) -> None:
    content = b'{"temperature": 1.27}\n'
    md5 = hashlib.md5(content).hexdigest()
    (proj / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()


def test_a_file_dvc_does_not_cache_comes_from_the_working_tree(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a `cache: false` output (calibrate's metrics file) lives in git, not in the DVC cache
    _drop_calibration_object(proj)
    (version,) = json.loads(_list_json(proj, capsys))["versions"]
    rel = version["files"]["calibration"]["path"]
    (proj / rel).write_bytes(b'{"temperature": 1.27}\n')
    out = tmp_path / "out" / "model.keras"
    assert get(proj, "v1", "-o", str(out)) == 0
    text = capsys.readouterr().out
    assert "calibration, from the working tree, sha256" in text
    assert (tmp_path / "out" / "model.calibration.json").read_bytes().startswith(b'{"temp')


def test_a_missing_calibration_writes_not_even_the_model(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _drop_calibration_object(proj)
    out = tmp_path / "out" / "model.keras"
    assert get(proj, "v1", "-o", str(out)) == 2
    assert "calibration" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "out" / "model.calibration.json").exists()


def _list_json(proj: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-C", str(proj), "models", "list", "--json"]) == 0
    return capsys.readouterr().out
