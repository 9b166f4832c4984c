"""Stage helpers: located params errors, atomic outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pedigree.errors import ParamsError
from pedigree.stagekit import atomic_output, load_params, sha256_file


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=1)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int
    inner: Inner


def test_params_errors_name_line_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(
        "other: 1\nmine:\n  seed: 3\n  inner:\n    count: 0\n    cuont: 2\n", encoding="utf-8"
    )
    with pytest.raises(ParamsError) as info:
        load_params("mine", Section, path)
    text = str(info.value)
    assert ":5 [mine.inner.count]: Input should be greater than or equal to 1" in text
    assert ":6 [mine.inner.cuont]: unknown key 'cuont' (hint: did you mean 'count'?)" in text


def test_missing_section(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("other: 1\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="section 'mine' is missing"):
        load_params("mine", Section, path)


def test_atomic_output_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "data" / "out"
    target.mkdir(parents=True)
    (target / "old.txt").write_text("old")
    with atomic_output(target) as scratch:
        (scratch / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert list(target.parent.glob(".out.partial-*")) == []


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as scratch:
            (scratch / "half.txt").write_text("half")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.glob(".out.partial-*")) == []


def test_stale_partials_from_killed_runs_are_removed(tmp_path: Path) -> None:
    leftover = tmp_path / ".out.partial-99999"
    leftover.mkdir()
    (leftover / "x").write_text("x")
    with atomic_output(tmp_path / "out") as scratch:
        (scratch / "y").write_text("y")
    assert not leftover.exists() and (tmp_path / "out" / "y").exists()


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_noted_state_paths_are_named_as_the_project_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pedigree.stagekit import _project_relative

    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "proj"
    root.mkdir()
    (root / "state").symlink_to(outside)
    monkeypatch.chdir(root)
    # Never the symlink's target: a record names what the spec names.
    assert _project_relative(Path("state/registry"), root) == "state/registry"
    assert _project_relative(root / "state" / "registry", root) == "state/registry"
