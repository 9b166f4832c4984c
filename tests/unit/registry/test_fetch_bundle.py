"""`pedigree.registry.fetch.fetch_bundle`: a serve bundle's files by their recorded hashes (md5
alone for a file from the lineage, md5 and sha256 for the registry's own), each verified."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from dvc.repo import Repo

from pedigree.bundle import BundleFile, ServeBundle
from pedigree.errors import RegistryError
from pedigree.registry.fetch import bundle_target, fetch_bundle
from tests.conftest import make_project
from tests.unit.api.test_serve import cache_object

MODEL = b"weights"
STATS = b'{"mean": [0.5]}\n'


def item(role: str, path: str, content: bytes, sha: bool = True) -> BundleFile:
    return BundleFile(
        role=role,
        path=path,
        md5=hashlib.md5(content).hexdigest(),
        sha256=hashlib.sha256(content).hexdigest() if sha else None,
        size=len(content),
    )


BUNDLE = ServeBundle(
    pipeline="pets",
    version=3,
    predictor="stages.serve",
    files=(
        item("model", "models/model.keras", MODEL),
        item("stats", "data/prepared/stats.json", STATS, sha=False),
    ),
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "proj")
    Repo.init(str(root), no_scm=True).close()
    cache_object(root, MODEL)
    cache_object(root, STATS)
    return root


def test_every_file_lands_under_its_role_with_its_recorded_name(proj: Path, tmp_path: Path) -> None:
    files = fetch_bundle(proj, BUNDLE, tmp_path / "out")
    assert [(f.role, f.source) for f in files] == [("model", "cache"), ("stats", "cache")]
    assert (tmp_path / "out" / "model" / "model.keras").read_bytes() == MODEL
    assert (tmp_path / "out" / "stats" / "stats.json").read_bytes() == STATS
    # the sha256 of what was written, also for the file known by its md5 alone
    assert files[1].sha256 == hashlib.sha256(STATS).hexdigest()
    assert bundle_target(tmp_path, BUNDLE.files[0]) == tmp_path / "model" / "model.keras"


def test_a_file_only_in_the_working_tree_is_taken_when_its_md5_matches(
    proj: Path, tmp_path: Path
) -> None:
    cache_object(proj, STATS).unlink()
    (proj / "data" / "prepared").mkdir(parents=True)
    (proj / "data" / "prepared" / "stats.json").write_bytes(STATS)
    files = fetch_bundle(proj, BUNDLE, tmp_path / "out")
    assert files[1].source == "working tree"


def test_a_working_tree_file_with_other_bytes_is_not_taken(proj: Path, tmp_path: Path) -> None:
    cache_object(proj, STATS).unlink()
    (proj / "data" / "prepared").mkdir(parents=True)
    (proj / "data" / "prepared" / "stats.json").write_bytes(b'{"mean": [0.6]}\n')
    with pytest.raises(RegistryError, match=r"v3's stats file data/prepared/stats.json \(md5"):
        fetch_bundle(proj, BUNDLE, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # found before anything is written


def test_a_damaged_object_known_by_md5_is_refused(proj: Path, tmp_path: Path) -> None:
    cache_object(proj, STATS).write_bytes(b"bit rot")
    with pytest.raises(RegistryError, match="has md5 [0-9a-f]{32}, not the [0-9a-f]{32} recorded"):
        fetch_bundle(proj, BUNDLE, tmp_path / "out")
    assert not (tmp_path / "out" / "stats" / "stats.json").exists()


def test_a_given_model_must_be_the_recorded_bytes(proj: Path, tmp_path: Path) -> None:
    given = tmp_path / "mine.keras"
    given.write_bytes(b"other weights")
    with pytest.raises(RegistryError, match="mine.keras has sha256") as caught:
        fetch_bundle(proj, BUNDLE, tmp_path / "out", given={"model": given})
    assert "--version" in str(caught.value.hint)
    given.write_bytes(MODEL)
    files = fetch_bundle(proj, BUNDLE, tmp_path / "out", given={"model": given})
    assert files[0].source == "given"


def test_from_the_dvc_remote_when_the_cache_lacks_them(proj: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    for content in (MODEL, STATS):
        md5 = hashlib.md5(content).hexdigest()
        (remote / "files" / "md5" / md5[:2]).mkdir(parents=True, exist_ok=True)
        (remote / "files" / "md5" / md5[:2] / md5[2:]).write_bytes(content)
    shutil.rmtree(proj / ".dvc" / "cache")
    (proj / ".dvc" / "config").write_text(
        f"[core]\n    no_scm = True\n    remote = r\n['remote \"r\"']\n    url = {remote}\n"
    )
    files = fetch_bundle(proj, BUNDLE, tmp_path / "out")
    assert [f.source for f in files] == ["remote", "remote"]
    assert (tmp_path / "out" / "stats" / "stats.json").read_bytes() == STATS
