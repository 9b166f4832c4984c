"""Fixtures for the transform stage: a tiny data/raw built with Pillow, and params files.

Test modules import the builders as `from tests.unit.stages.transform.conftest import ...`
(the project's convention under --import-mode=importlib). The data/raw written here follows
the ingest -> transform contract (manifest.json plus images and trimaps) without importing the
ingest stage, so these tests do not depend on its code.
Animals are picked by their md5 bucket so every split gets samples, and every test-split image is
one distinctive colour (pure red) so tests can prove the statistics ignore it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from stages.common.pets import BACKGROUND, BORDER, BREEDS_BY_NAME, PET, SPECIES_NAMES

TEST_COLOUR = (255, 0, 0)
DEFAULT_SPLIT = {"train": [0, 1, 2, 3, 4, 5, 6], "validation": [7], "calibration": [8], "test": [9]}


def md5_bucket(animal_id: str, buckets: int = 10) -> int:
    """The bucket the contract defines, computed independently of the stage's code."""
    return int(hashlib.md5(animal_id.encode("utf-8")).hexdigest(), 16) % buckets


def split_of_bucket(bucket: int, split: dict[str, list[int]] = DEFAULT_SPLIT) -> str:
    return next(name for name, buckets in split.items() if bucket in buckets)


def trimap_array(height: int, width: int) -> np.ndarray:
    """A trimap with sharp edges: background, a pet ellipse, and a 2-pixel border ring."""
    image = Image.new("L", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    box = (width // 5, height // 6, width - width // 4, height - height // 5)
    draw.ellipse(box, fill=BORDER)
    draw.ellipse((box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2), fill=PET)
    return np.asarray(image)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_raw(
    root: Path,
    animals: list[tuple[str, str, int]],
    *,
    colour_for: Callable[[str], tuple[int, int, int] | None] = lambda animal: None,
    seed: int = 7,
) -> Path:
    """Write data/raw under `root` for (animal_id, breed, n_images) entries; return its path.

    Images get odd, varied sizes (smaller and larger than 128) and alternate JPEG/PNG. An image
    is random noise unless `colour_for(animal_id)` returns a solid colour for it.
    """
    raw = root / "raw"
    (raw / "images").mkdir(parents=True)
    (raw / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    samples: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    for animal_id, breed_name, count in animals:
        breed = BREEDS_BY_NAME[breed_name]
        for _ in range(count):
            counters[breed_name] = counters.get(breed_name, 0) + 1
            sample_id = f"{breed_name}_{counters[breed_name]}"
            height, width = int(rng.integers(41, 211)), int(rng.integers(39, 199))
            colour = colour_for(animal_id)
            if colour is None:
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            else:
                pixels = np.broadcast_to(np.array(colour, dtype=np.uint8), (height, width, 3))
            # PNG for solid colours: JPEG would blur the distinctive colour at chroma edges.
            ext = "png" if colour is not None or len(samples) % 2 else "jpg"
            image_rel = f"images/{sample_id}.{ext}"
            trimap_rel = f"annotations/trimaps/{sample_id}.png"
            Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(raw / image_rel)
            Image.fromarray(trimap_array(height, width), "L").save(raw / trimap_rel)
            image_sha, trimap_sha = _sha(raw / image_rel), _sha(raw / trimap_rel)
            samples.append(
                {
                    "id": sample_id,
                    "animal_id": animal_id,
                    "breed": breed_name,
                    "class_id": breed.class_id,
                    "species": SPECIES_NAMES[breed.species],
                    "image": image_rel,
                    "trimap": trimap_rel,
                    "image_sha256": image_sha,
                    "trimap_sha256": trimap_sha,
                    "raw_image_sha256": image_sha,
                    "raw_trimap_sha256": trimap_sha,
                    "width": width,
                    "height": height,
                    "conversions": [],
                }
            )
    manifest = {
        "source": {"kind": "synthetic", "seed": seed},
        "samples": samples,
        "skipped": [],
        "counts": {"samples": len(samples)},
    }
    (raw / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return raw


def animals_per_split(wanted: dict[str, int]) -> list[tuple[str, str, int]]:
    """Pick animal ids whose md5 bucket puts `wanted[split]` animals into each split."""
    breeds = ["Bengal", "pug", "samoyed", "Sphynx"]
    left = dict(wanted)
    animals: list[tuple[str, str, int]] = []
    k = 0
    while any(left.values()):
        breed = breeds[k % len(breeds)]
        animal_id = f"{breed}-a{k:04d}"
        split = split_of_bucket(md5_bucket(animal_id))
        if left.get(split, 0) > 0:
            left[split] -= 1
            animals.append((animal_id, breed, 1 + k % 3))
        k += 1
    return animals


PARAMS_TEMPLATE = """\
# params for tests
ingest:
  source: synthetic

transform:
  image_size: [{height}, {width}]
  shard_size: {shard_size}
  split:
    buckets: {buckets}
    train: {train}
    validation: {validation}
    calibration: {calibration}
    test: {test}
"""


def write_params(path: Path, **overrides: Any) -> Path:
    """Write a params.yaml with the `transform` section; keys of PARAMS_TEMPLATE override."""
    values: dict[str, Any] = {"height": 32, "width": 24, "shard_size": 4, "buckets": 10}
    values.update({k: v for k, v in DEFAULT_SPLIT.items()})
    values.update(overrides)
    path.write_text(PARAMS_TEMPLATE.format(**values), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~20 samples over all four splits; test-split images are solid TEST_COLOUR. Read-only."""
    root = tmp_path_factory.mktemp("tiny")
    animals = animals_per_split({"train": 5, "validation": 2, "calibration": 1, "test": 2})
    test_animals = {a for a, _, _ in animals if split_of_bucket(md5_bucket(a)) == "test"}
    return build_raw(root, animals, colour_for=lambda a: TEST_COLOUR if a in test_animals else None)


@pytest.fixture(scope="session")
def tiny_params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A params.yaml for tiny_raw: 32x24 images, 4 samples per shard. Read-only."""
    return write_params(tmp_path_factory.mktemp("params") / "params.yaml")
