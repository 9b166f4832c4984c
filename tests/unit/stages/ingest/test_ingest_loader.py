"""The loader against every oddity the real Oxford-IIIT Pet set contains."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages.common.pets import BREEDS_BY_NAME
from stages.ingest.loader import Sample, Skip, iter_dataset


def _listed_ids(root: Path) -> list[str]:
    lines = (root / "annotations/list.txt").read_text().splitlines()
    return sorted(line.split()[0] for line in lines if not line.startswith("#"))


def _load(root: Path) -> tuple[dict[str, Sample], dict[str, str]]:
    """Samples by id, and skip reasons by file (several reasons for one file joined by ' | ')."""
    samples: dict[str, Sample] = {}
    skips: dict[str, str] = {}
    for item in iter_dataset(root):
        if isinstance(item, Skip):
            skips[item.file] = (
                f"{skips[item.file]} | {item.reason}" if item.file in skips else item.reason
            )
        else:
            samples[item.id] = item
    return samples, skips


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


class Odd:
    """Damage a copy of the synthetic set with one of each oddity; remember which id got which."""

    def __init__(self, root: Path) -> None:
        self.root = root
        ids = iter(_listed_ids(root))
        self.plain = next(ids)
        for name in (
            "png",
            "gray",
            "cmyk",
            "rgba",
            "palette",
            "mat",
            "truncated",
            "no_trimap",
            "bad_trimap",
            "small_trimap",
            "seven",
            "p_trimap",
            "rgb_trimap",
        ):
            setattr(self, name, next(ids))

    def image(self, image_id: str) -> Path:
        return self.root / "images" / f"{image_id}.jpg"

    def trimap(self, image_id: str) -> Path:
        return self.root / "annotations/trimaps" / f"{image_id}.png"

    def damage(self) -> None:
        def reopen(image_id: str) -> Image.Image:
            with Image.open(self.image(image_id)) as image:
                return image.convert("RGB")

        reopen(self.png).save(self.image(self.png), "PNG")  # a PNG named .jpg
        reopen(self.gray).convert("L").save(self.image(self.gray), "JPEG")
        reopen(self.cmyk).convert("CMYK").save(self.image(self.cmyk), "JPEG")
        rgba = reopen(self.rgba).convert("RGBA")
        rgba.putalpha(128)
        rgba.save(self.image(self.rgba), "PNG")
        palette = reopen(self.palette).convert("P")
        palette.info["transparency"] = 0
        palette.save(self.image(self.palette), "PNG", transparency=0)
        (self.root / "images" / f"{self.mat}.mat").write_bytes(
            b"MATLAB 5.0 MAT-file, not an image" * 4
        )
        data = self.image(self.truncated).read_bytes()
        self.image(self.truncated).write_bytes(data[: len(data) // 2])
        self.trimap(self.no_trimap).unlink()
        self.trimap(self.bad_trimap).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        with Image.open(self.trimap(self.small_trimap)) as trimap:
            trimap.resize((17, 13), Image.Resampling.NEAREST).save(self.trimap(self.small_trimap))
        values = np.asarray(Image.open(self.trimap(self.seven))).copy()
        values[0, 0] = 7
        Image.fromarray(values).save(self.trimap(self.seven))
        Image.open(self.trimap(self.p_trimap)).convert("P").save(self.trimap(self.p_trimap))
        Image.open(self.trimap(self.rgb_trimap)).convert("RGB").save(self.trimap(self.rgb_trimap))
        # An unlisted image of a known breed, one of an unknown breed, and a broken list line.
        shutil.copy(self.image(self.plain), self.image("beagle_999"))
        shutil.copy(self.trimap(self.plain), self.trimap("beagle_999"))
        shutil.copy(self.image(self.plain), self.image("dragon_1"))
        with (self.root / "annotations/list.txt").open("a") as handle:
            bengal = BREEDS_BY_NAME["Bengal"]
            handle.write(
                f"this line is broken\nBengal_998 {bengal.class_id} 1 {bengal.breed_id}\n"
            )  # no image


@pytest.fixture
def odd(pets_folder: Path) -> Odd:
    damaged = Odd(pets_folder)
    damaged.damage()
    return damaged


def test_clean_synthetic_folder_loads_every_sample(synthetic_root: Path) -> None:
    samples, skips = _load(synthetic_root)
    assert skips == {}
    assert sorted(samples) == _listed_ids(synthetic_root)
    for sample in samples.values():  # true RGB JPEGs and L PNG trimaps are copied as they are
        assert sample.image_suffix == ".jpg" and sample.conversions == ()
        assert sample.image_data == (synthetic_root / sample.image_file).read_bytes()
        assert sample.trimap_data == (synthetic_root / sample.trimap_file).read_bytes()
        assert sample.animal_id.startswith("animal-")


def test_images_in_odd_formats_are_converted_and_recorded(odd: Odd) -> None:
    samples, _ = _load(odd.root)
    expected = {
        odd.png: ["format PNG (named .jpg)"],
        odd.gray: ["L->RGB"],
        odd.cmyk: ["CMYK->RGB"],
        odd.rgba: ["format PNG (named .jpg)", "RGBA->RGB, alpha dropped"],
        odd.palette: ["format PNG (named .jpg)", "P (transparency)->RGB, alpha dropped"],
    }
    for image_id, conversions in expected.items():
        sample = samples[image_id]
        assert list(sample.conversions) == conversions, image_id
        assert sample.image_suffix == ".png"
        decoded = Image.open(io.BytesIO(sample.image_data))
        assert (decoded.format, decoded.mode, decoded.size) == (
            "PNG",
            "RGB",
            (sample.width, sample.height),
        )
    # A PNG re-encoding is lossless: the pixels are exactly the source's.
    assert np.array_equal(
        _pixels(samples[odd.png].image_data), _pixels(odd.image(odd.png).read_bytes())
    )
    assert samples[odd.plain].image_suffix == ".jpg" and samples[odd.plain].conversions == ()


def test_odd_trimaps_are_converted_to_grayscale(odd: Odd) -> None:
    samples, _ = _load(odd.root)
    assert samples[odd.p_trimap].conversions == ("trimap P->L (palette indices)",)
    assert samples[odd.rgb_trimap].conversions == ("trimap RGB->L",)
    for image_id in (odd.p_trimap, odd.rgb_trimap):
        written = Image.open(io.BytesIO(samples[image_id].trimap_data))
        assert (written.format, written.mode) == ("PNG", "L")
        with Image.open(odd.trimap(image_id)) as source:
            original = np.asarray(source.convert("L") if source.mode == "RGB" else source)
        assert np.array_equal(np.asarray(written), original)


def test_every_unusable_file_is_skipped_with_its_reason(odd: Odd) -> None:
    samples, skips = _load(odd.root)
    assert skips.pop(f"images/{odd.mat}.mat") == "not an image file (Pillow cannot identify .mat)"
    assert odd.mat in samples  # the real image beside the .mat file is still used
    assert skips.pop(f"images/{odd.truncated}.jpg").startswith(
        "unreadable image: image file is truncated"
    )
    assert (
        skips.pop(f"images/{odd.no_trimap}.jpg")
        == f"no trimap annotations/trimaps/{odd.no_trimap}.png"
    )
    assert skips.pop(f"images/{odd.bad_trimap}.jpg").startswith(
        f"unreadable trimap annotations/trimaps/{odd.bad_trimap}.png: "
    )
    with Image.open(odd.image(odd.small_trimap)) as image:
        width, height = image.size
    assert skips.pop(f"images/{odd.small_trimap}.jpg") == (
        f"trimap annotations/trimaps/{odd.small_trimap}.png is 17x13 but the image is {width}x{height}"
    )
    assert skips.pop(f"images/{odd.seven}.jpg") == (
        f"trimap annotations/trimaps/{odd.seven}.png has values outside {{1,2,3}}: 7"
    )
    assert skips.pop("images/dragon_1.jpg") == (
        "not in annotations/list.txt and 'dragon_1' names none of the 37 breeds"
    )
    reason = skips.pop("images/Bengal_998.jpg")
    assert reason.startswith("listed on line ") and reason.endswith(
        "of annotations/list.txt but there is no image file"
    )
    list_reason = skips.pop("annotations/list.txt")
    assert list_reason.startswith("line ") and "malformed line 'this line is broken'" in list_reason
    assert skips == {}
    for gone in (odd.truncated, odd.no_trimap, odd.bad_trimap, odd.small_trimap, odd.seven):
        assert gone not in samples


def test_contradictory_list_lines_are_skipped(pets_folder: Path) -> None:
    first = _listed_ids(pets_folder)[0]
    bengal, birman = BREEDS_BY_NAME["Bengal"], BREEDS_BY_NAME["Birman"]
    lines = (pets_folder / "annotations/list.txt").read_text().splitlines()
    first_line = next(line for line in lines if line.startswith(first + " "))
    with (pets_folder / "annotations/list.txt").open("a") as handle:
        handle.write(
            f"{first_line}\n"
            f"Bengal_5 {birman.class_id} {birman.species} {birman.breed_id}\n"
            f"Bengal_6 {bengal.class_id} 2 {bengal.breed_id}\n"
            "Bengal_7 99 1 1\n"
            "../evil 1 1 1\n"
        )
    _, skips = _load(pets_folder)
    reasons = skips.pop("annotations/list.txt").split(" | ")
    assert skips == {}
    assert reasons[0].startswith(
        f"line {len(lines) + 1}: duplicate entry for {first} (first on line "
    )
    assert reasons[1].endswith(
        f"Bengal_5 is named for Bengal but CLASS-ID {birman.class_id} is Birman"
    )
    assert reasons[2].endswith(
        f"Bengal_6: CLASS-ID {bengal.class_id} is Bengal (SPECIES 1, BREED-ID {bengal.breed_id}) "
        f"but the line says SPECIES 2, BREED-ID {bengal.breed_id}"
    )
    assert reasons[3].endswith("CLASS-ID 99 of Bengal_7 is outside 1..37")
    assert "malformed image id '../evil'" in reasons[4]
    assert len(reasons) == 5


def test_unlisted_image_of_a_known_breed_is_included(odd: Odd) -> None:
    samples, _ = _load(odd.root)
    sample = samples["beagle_999"]
    assert sample.breed == BREEDS_BY_NAME["beagle"] and sample.species == "dog"
    assert sample.animal_id == "beagle_999"  # not in animals.txt: its own animal


def test_without_animals_file_each_image_is_its_own_animal(pets_folder: Path) -> None:
    (pets_folder / "annotations/animals.txt").unlink()
    samples, skips = _load(pets_folder)
    assert skips == {} and all(s.animal_id == s.id for s in samples.values())


def test_without_list_file_breeds_come_from_file_names(pets_folder: Path) -> None:
    (pets_folder / "annotations/list.txt").unlink()
    samples, skips = _load(pets_folder)
    assert skips == {} and len(samples) == len(_listed_ids_from_images(pets_folder))
    assert all(s.breed.name == s.id.rpartition("_")[0] for s in samples.values())


def _listed_ids_from_images(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "images").iterdir())
