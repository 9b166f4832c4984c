"""`python -m stages.ingest` end to end in a temporary project folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.errors import ParamsError, SourceError
from pedigree.stagekit import run_stage, sha256_file
from stages.ingest.__main__ import main
from stages.ingest.params import SyntheticParams
from stages.ingest.synthetic import generate

PARAMS = """\
# test params
ingest:
  source: {source}
  sha256: null
  synthetic:
    seed: 3
    count: {count}
    images_per_animal: [2, 4]
    image_size: [64, 96]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_params(project: Path, source: str = "synthetic", count: object = 24) -> None:
    (project / "params.yaml").write_text(PARAMS.format(source=source, count=count))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _no_output(project: Path) -> None:
    assert not (project / "data/raw").exists()
    assert list(project.glob("data/.raw.partial-*")) == []


def test_end_to_end_writes_raw_data(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_params(project)
    assert main([]) == 0  # defaults: --params params.yaml --out data/raw
    out = capsys.readouterr().out
    assert "ingest: source synthetic\n" in out and "24 samples" in out and "0 skipped" in out
    raw = project / "data/raw"
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["source"] == {
        "kind": "synthetic",
        "location": "synthetic",
        "sha256": None,
        "synthetic": {"seed": 3, "count": 24, "images_per_animal": [2, 4], "image_size": [64, 96]},
    }
    counts = manifest["counts"]
    assert counts["samples"] == 24 and counts["skipped"] == 0
    assert counts["cats"] + counts["dogs"] == 24 and counts["cats"] and counts["dogs"]
    assert 6 <= counts["animals"] < 24
    ids = [s["id"] for s in manifest["samples"]]
    assert ids == sorted(ids)
    for sample in manifest["samples"]:
        assert (
            sha256_file(raw / sample["image"])
            == sample["raw_image_sha256"]
            == sample["image_sha256"]
        )
        assert (
            sha256_file(raw / sample["trimap"])
            == sample["raw_trimap_sha256"]
            == sample["trimap_sha256"]
        )
        assert sample["species"] in ("cat", "dog") and sample["conversions"] == []
    files = set(_tree(raw))
    assert files == {"manifest.json"} | {s["image"] for s in manifest["samples"]} | {
        s["trimap"] for s in manifest["samples"]
    }


def test_output_is_byte_identical_across_runs(project: Path) -> None:
    _write_params(project)
    assert main(["--out", "data/first"]) == 0
    assert main(["--out", "data/second"]) == 0
    first, second = _tree(project / "data/first"), _tree(project / "data/second")
    assert first == second and len(first) == 2 * 24 + 1


def test_rerun_replaces_the_output(project: Path) -> None:
    _write_params(project)
    main([])
    _write_params(project, count=5)
    main([])
    assert json.loads((project / "data/raw/manifest.json").read_text())["counts"]["samples"] == 5


def test_folder_source_records_skips(project: Path) -> None:
    generate(SyntheticParams(count=6, image_size=(64, 80)), project / "src")
    (project / "src/images/dragon_1.jpg").write_bytes(b"junk")
    _write_params(project, source="src")
    assert main([]) == 0
    manifest = json.loads((project / "data/raw/manifest.json").read_text())
    assert manifest["source"] == {
        "kind": "folder",
        "location": "src",
        "sha256": None,
        "synthetic": None,
    }
    assert manifest["skipped"] == [
        {
            "file": "images/dragon_1.jpg",
            "reason": "not in annotations/list.txt and 'dragon_1' names none of the 37 breeds",
        }
    ]
    assert manifest["counts"]["samples"] == 6 and manifest["counts"]["skipped"] == 1


def test_empty_source_fails_and_writes_nothing(project: Path) -> None:
    (project / "empty").mkdir()
    _write_params(project, source="empty")
    with pytest.raises(SourceError, match="source empty is empty"):
        main([])
    _no_output(project)


def test_no_usable_samples_fails_and_writes_nothing(project: Path) -> None:
    generate(SyntheticParams(count=3, image_size=(40, 48)), project / "src")
    for trimap in (project / "src/annotations/trimaps").iterdir():
        trimap.unlink()
    _write_params(project, source="src")
    with pytest.raises(
        SourceError,
        match=r"no usable samples in src: 3 files skipped; first reasons: images/.*: no trimap",
    ):
        main([])
    _no_output(project)


def test_failure_keeps_the_previous_output(project: Path) -> None:
    _write_params(project)
    main([])
    before = _tree(project / "data/raw")
    (project / "empty").mkdir()
    (project / "empty/images").mkdir()
    _write_params(project, source="empty")
    with pytest.raises(SourceError, match="no usable samples in empty: images/ holds no images"):
        main([])
    assert _tree(project / "data/raw") == before
    assert list(project.glob("data/.raw.partial-*")) == []


def test_bad_params_are_located(project: Path) -> None:
    _write_params(project, count=0)
    with pytest.raises(
        ParamsError, match=r"params\.yaml:7 \[ingest\.synthetic\.count\]: count must be between 1"
    ):
        main([])
    _no_output(project)


def test_unknown_key_is_located_with_a_suggestion(project: Path) -> None:
    (project / "params.yaml").write_text("ingest:\n  source: synthetic\n  sha265: null\n")
    with pytest.raises(
        ParamsError,
        match=r"params\.yaml:3 \[ingest\.sha265\]: unknown key 'sha265' \(hint: did you mean 'sha256'\?\)",
    ):
        main([])


def test_url_without_sha256_is_located(project: Path) -> None:
    (project / "params.yaml").write_text("ingest:\n  source: https://example.org/pets.tar.gz\n")
    with pytest.raises(
        ParamsError, match=r"params\.yaml:1 \[ingest\.sha256\]: a URL source needs sha256"
    ):
        main([])


def test_run_stage_turns_errors_into_one_line_and_exit_code(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_params(project, source="nowhere")
    with pytest.raises(SystemExit) as exit_info:
        run_stage(main, [])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: source nowhere does not exist") and "hint: set ingest.source" in err
    )
    _no_output(project)
