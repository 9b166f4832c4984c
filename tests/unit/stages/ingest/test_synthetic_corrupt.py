"""`ingest.synthetic.corrupt`: seeded label noise on a known set of synthetic trimaps.

The set is exact and reproducible, only the chosen trimaps change (each by a real margin), the
photos stay byte-identical, the set is listed and reaches data/raw, and with the option off
(left out or `fraction: 0`) every byte written is what it was without the option.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pedigree.errors import ParamsError
from pedigree.stagekit import load_params
from stages.common.pets import BACKGROUND
from stages.ingest.__main__ import main
from stages.ingest.params import CORRUPT_KINDS, CorruptParams, IngestParams, SyntheticParams
from stages.ingest.sources import open_local
from stages.ingest.synthetic import (
    CORRUPTED_FILE,
    MIN_CORRUPTED_SHARE,
    corrupted_positions,
    generate,
)
from stages.ingest.writer import write_raw
from stages.transform.manifest import load_manifest

TRIMAPS = "annotations/trimaps"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _noisy(small: SyntheticParams, **corrupt: object) -> SyntheticParams:
    return small.model_copy(update={"corrupt": CorruptParams.model_validate(corrupt)})


def _listed(root: Path) -> dict[str, str]:
    lines = (root / CORRUPTED_FILE).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# <image id> <kind>: ")
    assert not any(line.startswith("#") for line in lines[1:])
    assert lines[1:] == sorted(lines[1:])
    return dict(line.split() for line in lines[1:])


@pytest.fixture(scope="module")
def noisy_root(tmp_path_factory: pytest.TempPathFactory, small: SyntheticParams) -> Path:
    root = tmp_path_factory.mktemp("noisy")
    generate(_noisy(small, fraction=0.25, seed=5), root)
    return root


def test_exactly_round_fraction_times_count_images_are_listed(
    noisy_root: Path, small: SyntheticParams
) -> None:
    listed = _listed(noisy_root)
    assert len(listed) == round(0.25 * small.count) == 6
    images = {p.stem for p in (noisy_root / "images").iterdir()}
    assert set(listed) <= images
    assert set(listed.values()) <= set(CORRUPT_KINDS)
    assert len(set(listed.values())) > 1  # mixed (the default) picks a kind per image


@pytest.mark.parametrize(("fraction", "expected"), [(0.5, 12), (0.1, 2), (0.06, 1)])
def test_the_count_follows_round(small: SyntheticParams, fraction: float, expected: int) -> None:
    params = _noisy(small, fraction=fraction)
    assert len(corrupted_positions(params.corrupt, small.count)) == expected


def test_a_fraction_that_rounds_to_no_image_is_refused(small: SyntheticParams) -> None:
    section = {**small.model_dump(), "corrupt": {"fraction": 0.02}}
    with pytest.raises(ValueError, match=r"corrupts no image \(round\(0\.02 \* 24\) = 0\)"):
        SyntheticParams.model_validate(section)


def test_the_set_is_seeded_and_stable(
    noisy_root: Path, tmp_path: Path, small: SyntheticParams
) -> None:
    generate(_noisy(small, fraction=0.25, seed=5), tmp_path / "again")
    assert _tree(tmp_path / "again") == _tree(noisy_root)
    generate(_noisy(small, fraction=0.25, seed=6), tmp_path / "other")
    assert set(_listed(tmp_path / "other")) != set(_listed(noisy_root))


def test_photos_and_lists_are_those_of_the_clean_run(
    noisy_root: Path, synthetic_root: Path
) -> None:
    clean, noisy = _tree(synthetic_root), _tree(noisy_root)
    assert set(noisy) == set(clean) | {CORRUPTED_FILE}
    for name in clean:
        if not name.startswith(TRIMAPS):  # images/*.jpg, list.txt, animals.txt
            assert noisy[name] == clean[name], name


def test_only_listed_trimaps_change_and_each_by_a_real_margin(
    noisy_root: Path, synthetic_root: Path
) -> None:
    listed = _listed(noisy_root)
    for path in sorted((synthetic_root / TRIMAPS).iterdir()):
        other = noisy_root / TRIMAPS / path.name
        if path.stem not in listed:
            assert other.read_bytes() == path.read_bytes(), path.name
            continue
        true = np.asarray(Image.open(path))
        wrong = np.asarray(Image.open(other))
        assert wrong.shape == true.shape and set(np.unique(wrong)) <= {1, 2, 3}
        share = np.count_nonzero(wrong != true) / np.count_nonzero(true != BACKGROUND)
        assert share >= MIN_CORRUPTED_SHARE >= 0.05, (path.name, share)


@pytest.mark.parametrize("kind", CORRUPT_KINDS)
def test_each_kind_on_its_own(
    synthetic_root: Path, tmp_path: Path, small: SyntheticParams, kind: str
) -> None:
    generate(_noisy(small, fraction=0.25, seed=5, kind=kind), tmp_path)
    listed = _listed(tmp_path)
    assert set(listed.values()) == {kind}
    for image_id in listed:
        true = np.asarray(Image.open(synthetic_root / TRIMAPS / f"{image_id}.png"))
        wrong = np.asarray(Image.open(tmp_path / TRIMAPS / f"{image_id}.png"))
        pet, wrong_pet = np.count_nonzero(true != BACKGROUND), np.count_nonzero(wrong != BACKGROUND)
        if kind == "dilate":
            assert wrong_pet > pet
        elif kind == "erode":
            assert wrong_pet < pet


def test_off_writes_exactly_what_the_clean_generator_writes(
    synthetic_root: Path, tmp_path: Path, small: SyntheticParams
) -> None:
    zero = _noisy(small, fraction=0, seed=9, kind="erode")
    assert not zero.corrupt.enabled
    assert zero.model_dump(mode="json") == small.model_dump(mode="json")
    assert set(small.model_dump()) == {"seed", "count", "images_per_animal", "image_size"}
    generate(zero, tmp_path)
    assert _tree(tmp_path) == _tree(synthetic_root)
    assert not (tmp_path / CORRUPTED_FILE).exists()


PARAMS = """\
ingest:
  source: {source}
  synthetic:
    seed: 3
    count: 24
    images_per_animal: [2, 4]
    image_size: [64, 96]
{corrupt}"""


def _ingest(folder: Path, monkeypatch: pytest.MonkeyPatch, corrupt: str = "") -> Path:
    folder.mkdir()
    (folder / "params.yaml").write_text(PARAMS.format(source="synthetic", corrupt=corrupt))
    monkeypatch.chdir(folder)
    assert main([]) == 0
    return folder / "data/raw"


def test_data_raw_is_byte_identical_with_the_key_left_out_or_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left_out = _ingest(tmp_path / "a", monkeypatch)
    zero = _ingest(tmp_path / "b", monkeypatch, "    corrupt: {fraction: 0, seed: 4}\n")
    assert _tree(zero) == _tree(left_out)
    assert not (left_out / CORRUPTED_FILE).exists()
    source = json.loads((left_out / "manifest.json").read_text())["source"]
    assert "corrupt" not in source["synthetic"]


def test_the_known_set_reaches_data_raw_and_transform_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = _ingest(tmp_path / "a", monkeypatch)
    corrupt = "    corrupt: {fraction: 0.25, seed: 5, kind: shift}\n"
    raw = _ingest(tmp_path / "b", monkeypatch, corrupt)
    listed = _listed(raw)
    assert len(listed) == 6 and set(listed.values()) == {"shift"}
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["skipped"] == [] and manifest["counts"]["samples"] == 24
    assert manifest["source"]["synthetic"]["corrupt"] == {
        "fraction": 0.25,
        "seed": 5,
        "kind": "shift",
    }
    clean_samples = {
        s["id"]: s for s in json.loads((clean / "manifest.json").read_text())["samples"]
    }
    for sample in manifest["samples"]:
        before = clean_samples[sample["id"]]
        assert sample["image_sha256"] == before["image_sha256"]
        changed = sample["trimap_sha256"] != before["trimap_sha256"]
        assert changed == (sample["id"] in listed), sample["id"]
    assert len(load_manifest(raw)) == 24  # the transform stage's reader is unbothered


def test_a_folder_source_with_the_file_loads_without_copying_it(
    noisy_root: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(noisy_root, tmp_path / "pets"))
    with open_local(str(folder), None, tmp_path) as source:
        manifest = write_raw(source, tmp_path / "raw")
    assert manifest["skipped"] == [] and manifest["counts"]["samples"] == 24
    assert not (tmp_path / "raw" / CORRUPTED_FILE).exists()  # only synthetic sources hand it on


GOOD = """\
ingest:
  source: synthetic
  synthetic:
    count: 24
    corrupt:
      fraction: 0.1
      seed: 7
      kind: mixed
"""


def _load(tmp_path: Path, text: str) -> IngestParams:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return load_params("ingest", IngestParams, path)


def test_good_corrupt_params_load(tmp_path: Path) -> None:
    params = _load(tmp_path, GOOD)
    assert params.synthetic.corrupt == CorruptParams(fraction=0.1, seed=7, kind="mixed")
    assert params.synthetic.corrupt.enabled


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "fraction: 0.1",
            "fraction: 0.6",
            r"params\.yaml:6 \[ingest\.synthetic\.corrupt\.fraction\]: fraction must be between "
            r"0 and 0\.5 \(got 0\.6\)",
        ),
        (
            "fraction: 0.1",
            "fraction: -0.1",
            r"params\.yaml:6 \[ingest\.synthetic\.corrupt\.fraction\]: fraction must be between",
        ),
        (
            "fraction: 0.1",
            "fraction: .nan",
            r"params\.yaml:6 \[ingest\.synthetic\.corrupt\.fraction\]: fraction must be between",
        ),
        (
            "fraction: 0.1",
            "fraction: '0.1'",
            r"params\.yaml:6 \[ingest\.synthetic\.corrupt\.fraction\]: Input should be a valid number",
        ),
        (
            "seed: 7",
            "seed: -1",
            r"params\.yaml:7 \[ingest\.synthetic\.corrupt\.seed\]: seed must be 0 or more",
        ),
        (
            "kind: mixed",
            "kind: swap",
            r"params\.yaml:8 \[ingest\.synthetic\.corrupt\.kind\]: kind must be one of shift, "
            r"dilate, erode, mixed \(got 'swap'\)",
        ),
        (
            "kind: mixed",
            "kinds: mixed",
            r"params\.yaml:8 \[ingest\.synthetic\.corrupt\.kinds\]: unknown key 'kinds'",
        ),
        (
            "count: 24",
            "count: 4",
            r"params\.yaml:5 \[ingest\.synthetic\.corrupt\]: fraction 0\.1 of count 4 corrupts "
            r"no image",
        ),
    ],
)
def test_bad_corrupt_params_are_located(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    with pytest.raises(ParamsError, match=match):
        _load(tmp_path, GOOD.replace(old, new))
