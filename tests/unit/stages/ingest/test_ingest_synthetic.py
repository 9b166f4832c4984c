"""The synthetic generator: deterministic, and exactly the Oxford-IIIT Pet layout."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages.common.pets import BREEDS, BREEDS_BY_NAME, CAT, DOG, LIST_HEADER
from stages.ingest.loader import ANIMALS_FILE
from stages.ingest.params import SyntheticParams
from stages.ingest.synthetic import generate, trimap_of


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _ids(root: Path, folder: str, suffix: str) -> set[str]:
    return {p.name.removesuffix(suffix) for p in (root / folder).iterdir()}


def test_two_generations_are_byte_identical(
    synthetic_root: Path, tmp_path: Path, small: SyntheticParams
) -> None:
    generate(small, tmp_path)
    assert _tree(tmp_path) == _tree(synthetic_root)


def test_another_seed_gives_other_pictures(
    synthetic_root: Path, tmp_path: Path, small: SyntheticParams
) -> None:
    generate(small.model_copy(update={"seed": 8}), tmp_path)
    assert _tree(tmp_path) != _tree(synthetic_root)


def test_layout_is_exactly_the_real_one(synthetic_root: Path, small: SyntheticParams) -> None:
    images = _ids(synthetic_root, "images", ".jpg")
    assert len(images) == small.count
    assert all(p.suffix == ".jpg" for p in (synthetic_root / "images").iterdir())
    assert _ids(synthetic_root, "annotations/trimaps", ".png") == images
    numbers: dict[str, list[int]] = {}
    for image_id in images:
        match = re.fullmatch(r"(.+)_(\d+)", image_id)
        assert match and match.group(1) in BREEDS_BY_NAME, image_id
        numbers.setdefault(match.group(1), []).append(int(match.group(2)))
    for breed, ns in numbers.items():  # numbered from 1 per breed, without gaps
        assert sorted(ns) == list(range(1, len(ns) + 1)), breed

    lines = (synthetic_root / "annotations/list.txt").read_text().splitlines()
    assert tuple(lines[: len(LIST_HEADER)]) == LIST_HEADER
    rows = [line.split() for line in lines[len(LIST_HEADER) :]]
    assert {r[0] for r in rows} == images
    for image_id, class_id, species, breed_id in rows:
        breed = BREEDS[int(class_id) - 1]
        assert image_id.rpartition("_")[0] == breed.name
        assert (int(species), int(breed_id)) == (breed.species, breed.breed_id)


def test_several_images_per_animal_and_both_species(
    synthetic_root: Path, small: SyntheticParams
) -> None:
    lines = (synthetic_root / ANIMALS_FILE).read_text().splitlines()
    assert lines[0].startswith("# ") and len([x for x in lines if x.startswith("#")]) == 1
    owners = dict(line.split() for line in lines[1:])
    assert set(owners) == _ids(synthetic_root, "images", ".jpg")
    per_animal = Counter(owners.values())
    low, high = small.images_per_animal
    counts = sorted(per_animal.values())
    assert all(c <= high for c in counts) and sum(c >= low for c in counts) >= len(counts) - 1
    assert max(counts) >= 2
    species = {BREEDS_BY_NAME[i.rpartition("_")[0]].species for i in owners}
    assert species == {CAT, DOG}
    for animal in per_animal:  # one animal, one breed
        assert len({i.rpartition("_")[0] for i, a in owners.items() if a == animal}) == 1


def test_trimaps_hold_all_three_classes_and_match_image_sizes(
    synthetic_root: Path, small: SyntheticParams
) -> None:
    low, high = small.image_size
    sizes = set()
    for path in sorted((synthetic_root / "images").iterdir()):
        with Image.open(path) as image:
            assert (image.format, image.mode) == ("JPEG", "RGB")
            size = image.size
        with Image.open(synthetic_root / "annotations/trimaps" / f"{path.stem}.png") as trimap:
            assert (trimap.format, trimap.mode, trimap.size) == ("PNG", "L", size)
            values = np.asarray(trimap)
        assert set(np.unique(values).tolist()) == {1, 2, 3}, path.name
        assert all(low <= s <= high for s in size)
        sizes.add(size)
    assert len(sizes) > 5  # sizes vary


def test_border_is_a_band_along_the_outline_scaled_with_the_image() -> None:
    mask = np.zeros((100, 100), dtype=bool)
    mask[30:70, 20:80] = True
    trimap = trimap_of(mask)
    assert trimap[50, 50] == 1 and trimap[5, 5] == 2
    row = trimap[50]
    assert (row == 3).sum() == 8  # two 4-px bands, one at each side of the pet
    assert row[16:24].tolist() == [2, 2, 3, 3, 3, 3, 1, 1]  # two pixels each side of the outline
    big = trimap_of(np.pad(mask, 150))
    assert (big[200] == 3).sum() == 40  # 2.5% of the side: a wider band on a bigger image


def test_images_are_not_trivial(synthetic_root: Path) -> None:
    # Pet and background colours overlap across the set: colour alone cannot segment.
    pet_means, bg_means = [], []
    for path in sorted((synthetic_root / "images").iterdir()):
        rgb = np.asarray(Image.open(path), dtype=np.float32)
        trimap = np.asarray(Image.open(synthetic_root / "annotations/trimaps" / f"{path.stem}.png"))
        pet_means.append(rgb[trimap == 1].mean())
        bg_means.append(rgb[trimap == 2].mean())
    assert min(bg_means) < max(pet_means) and min(pet_means) < max(bg_means)


@pytest.mark.parametrize("count", [1, 3])
def test_tiny_counts(tmp_path: Path, count: int) -> None:
    images, animals = generate(SyntheticParams(count=count, image_size=(40, 48)), tmp_path)
    assert images == count and 1 <= animals <= count
    assert len(list((tmp_path / "images").iterdir())) == count
