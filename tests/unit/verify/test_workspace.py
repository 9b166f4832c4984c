"""The scratch workspace holds exactly the recorded inputs, or verify says why it cannot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from pedigree.lineage.hashing import content_hash, dir_listing, listing_hash, md5_file
from pedigree.verify.cache import cache_dir, object_path, read_listing
from pedigree.verify.compare import compare_outputs
from pedigree.verify.workspace import (
    Locked,
    VerifyInputError,
    build,
    command,
    locked_stage,
)


def _cache_file(cache: Path, data: bytes) -> str:
    md5 = hashlib.md5(data).hexdigest()  # noqa: S324
    path = object_path(cache, md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


def _cache_folder(cache: Path, files: dict[str, bytes]) -> str:
    entries = sorted(
        ({"md5": _cache_file(cache, data), "relpath": rel} for rel, data in files.items()),
        key=lambda e: e["relpath"],
    )
    import json

    md5 = listing_hash(entries)
    path = object_path(cache, md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, sort_keys=True))
    return md5


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "stages" / "demo").mkdir(parents=True)
    (project / "stages" / "__init__.py").write_text("")
    (project / "stages" / "demo" / "__main__.py").write_text("print('demo')\n")
    (project / "params.yaml").write_text("demo:\n  size: 5\nother:\n  keep: true\n")
    (project / "dvc.yaml").write_text("stages: {}\n")
    (project / "dvc.lock").write_text("schema: '2.0'\n")
    (project / "pipelines").mkdir()
    (project / "pipelines" / "demo.yaml").write_text("kind: Pipeline\n")
    return project


def test_inputs_come_from_the_cache_or_an_unchanged_workspace(root: Path, tmp_path: Path) -> None:
    cache = cache_dir(root)
    folder = _cache_folder(cache, {"a.txt": b"a", "sub/b.txt": b"b"})
    single = _cache_file(cache, b"model bytes")
    code = content_hash(root / "stages" / "demo").md5
    entry = {
        "cmd": "python -m stages.demo --size 5",
        "deps": [
            {"path": "data/prepared", "md5": folder},
            {"path": "models/m.bin", "md5": single},
            {"path": "stages/demo", "md5": code},
        ],
        "params": {"params.yaml": {"demo.size": 9}},
        "outs": [{"path": "out", "md5": "0" * 32}],
    }
    locked = locked_stage("demo", entry)
    assert command(locked) == ["python", "-m", "stages.demo", "--size", "5"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    placed = build(root, cache, locked, scratch)
    assert [(p.path, p.source) for p in placed] == [
        ("data/prepared", "cache"),
        ("models/m.bin", "cache"),
        ("stages/demo", "workspace"),
    ]
    assert (scratch / "data/prepared/sub/b.txt").read_bytes() == b"b"
    assert content_hash(scratch / "data/prepared").md5 == folder
    assert (scratch / "stages/__init__.py").is_file() and (scratch / "dvc.lock").is_file()
    # the spec too: the scratch folder is a project (release reads the spec's serve section)
    assert (scratch / "pipelines/demo.yaml").read_text() == "kind: Pipeline\n"
    # The recorded value of the stage's params, the user's value of everything else.
    params = yaml.safe_load((scratch / "params.yaml").read_text())
    assert params == {"demo": {"size": 9}, "other": {"keep": True}}


def test_an_input_that_changed_and_is_not_cached_is_refused(root: Path, tmp_path: Path) -> None:
    cache = cache_dir(root)
    entry = {"cmd": "x", "deps": [{"path": "stages/demo", "md5": "f" * 32 + ".dir"}]}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(
        VerifyInputError,
        match=r"stage 'demo': input stages/demo as recorded in dvc.lock \(f{32}\.dir\) is neither in the DVC cache nor in the workspace \(now [0-9a-f]{32}\.dir\)",
    ):
        build(root, cache, locked_stage("demo", entry), scratch)
    with pytest.raises(VerifyInputError, match="has no command in dvc.lock"):
        command(locked_stage("demo", {"cmd": " "}))


def test_cache_dir_follows_dvc_config(root: Path, tmp_path: Path) -> None:
    assert cache_dir(root) == root / ".dvc" / "cache"
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("[cache]\n    dir = ../../shared-cache\n")
    assert cache_dir(root) == (tmp_path / "shared-cache").resolve()
    (root / ".dvc" / "config.local").write_text("[cache]\n    dir = /abs/cache\n")
    assert cache_dir(root) == Path("/abs/cache")
    assert read_listing(root / "nowhere", "0" * 32 + ".dir") is None


def test_an_append_only_log_is_taken_from_the_working_tree_as_it_is(
    root: Path, tmp_path: Path
) -> None:
    """The registry grew after the recorded run (a promotion by hand): a log dep is copied as
    the working tree holds it; any other dep must still have its recorded hash."""
    log = root / "registry" / "pets" / "events"
    log.mkdir(parents=True)
    (log / "a.json").write_text("a")
    found = content_hash(root / "registry" / "pets")
    assert found is not None
    item = Locked("registry/pets", found.md5)
    (log / "b.json").write_text("b")  # appended since
    stage = locked_stage("release", {"cmd": "python -m stages.demo", "deps": [item.__dict__]})
    cache = cache_dir(root)
    with pytest.raises(VerifyInputError, match=r"input registry/pets as recorded in dvc.lock"):
        build(root, cache, stage, tmp_path / "strict")
    (placed,) = build(root, cache, stage, tmp_path / "scratch", frozenset({"registry/pets"}))
    assert placed.source == "workspace log" and placed.md5 != found.md5
    copied = tmp_path / "scratch" / "registry" / "pets" / "events"
    assert sorted(p.name for p in copied.iterdir()) == ["a.json", "b.json"]


def test_compare_names_the_files_that_differ(root: Path, tmp_path: Path) -> None:
    cache = cache_dir(root)
    recorded = _cache_folder(cache, {"a.txt": b"a", "b.txt": b"b", "gone.txt": b"g"})
    scratch = tmp_path / "scratch"
    (scratch / "out").mkdir(parents=True)
    (scratch / "out" / "a.txt").write_bytes(b"a")
    (scratch / "out" / "b.txt").write_bytes(b"B!")
    (scratch / "out" / "new.txt").write_bytes(b"n")
    (scratch / "same.bin").write_bytes(b"s")
    outs = (
        Locked("out", recorded),
        Locked("same.bin", md5_file(scratch / "same.bin")),
        Locked("never", "1" * 32),
    )
    checks = compare_outputs("demo", outs, scratch, cache)
    assert [c.identical for c in checks] == [False, True, False]
    assert checks[0].reproduced == listing_hash(dir_listing(scratch / "out"))
    assert checks[0].details == ("differs: b.txt", "missing: gone.txt", "extra:   new.txt")
    assert checks[2].reproduced is None


def test_a_stage_lock_brings_its_requirements_in_and_includes(root: Path, tmp_path: Path) -> None:
    # The record names the versions of the packages requirements.in lists: without it in the
    # scratch folder, the re-run's record names none and every package shows as a difference.
    folder = root / "images" / "demo"
    folder.mkdir(parents=True)
    (folder / "requirements.lock").write_text("numpy==2.0 --hash=sha256:00\n")
    (folder / "requirements.in").write_text("-r ../common.in\npillow\n")
    (root / "images" / "common.in").write_text("numpy\n")
    lock = md5_file(folder / "requirements.lock")
    entry = {"cmd": "x", "deps": [{"path": "images/demo/requirements.lock", "md5": lock}]}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    build(root, cache_dir(root), locked_stage("demo", entry), scratch)
    assert (scratch / "images/demo/requirements.in").read_text() == "-r ../common.in\npillow\n"
    assert (scratch / "images/common.in").read_text() == "numpy\n"
