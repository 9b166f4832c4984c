"""A seeded stand-in for `pedigree replicate --folds K`: images, true and given labels, and the
out-of-fold predictions of a decent but imperfect model, written as the stage reads them.

The data: pets drawn as shapes (a body ellipse, a round head and a thin tail) covering about
10-30% of the frame, as the synthetic pets do; the trimap classes are pet 0, background 1,
border 2 (a band along the outline). The given labels are the true ones except for a known,
seeded 10% corrupted like stages/ingest/synthetic.py's `corrupt` option: the outline shifted,
dilated or eroded until at least 10% of the pet's pixels are wrong.

The model: softened true labels plus spatially correlated noise, with two kinds of honest
mistakes a real segmentation model makes on correct labels: it often misses the thin tail, and
each image has a few small blobs it confidently assigns to a wrong class. Each seed draws its own
noise, misses and blobs, so averaging seeds helps as it does for real models.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the same outline errors as ingest's synthetic label noise, and its dilation
from stages.ingest.synthetic import corrupted_mask, dilate

CLASSES = ["pet", "background", "border"]
PET, BACKGROUND, BORDER = 0, 1, 2
KINDS = ("shift", "dilate", "erode")
MIN_SHARE = 0.1  # a corrupted trimap differs from the true one in >= 10% of the pet's pixels


def trimap(mask: np.ndarray) -> np.ndarray:
    """Class indices: pet, background, and a border band of 2.5% of the side along the outline."""
    r = max(1, round(mask.shape[0] * 0.025))
    band = dilate(mask, r) ^ ~dilate(~mask, r)
    out = np.where(mask, PET, BACKGROUND).astype(np.uint8)
    out[band] = BORDER
    return out


def corrupt(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A wrong trimap for pet `mask`, grown until >= MIN_SHARE of the pet's pixels differ."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    true = trimap(mask)
    pet = max(1, int(np.count_nonzero(true != BACKGROUND)))
    pixels = max(2, round(float(rng.uniform(0.04, 0.08)) * math.sqrt(pet)))
    angle = float(rng.uniform(0, 2 * math.pi))
    while True:
        labels = trimap(corrupted_mask(mask, kind, pixels, angle))
        if np.count_nonzero(labels != true) / pet >= MIN_SHARE or pixels >= mask.shape[0]:
            return labels
        pixels = min(2 * pixels, mask.shape[0])


def _pet(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(body with head, thin tail) masks of one pet."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = rng.uniform(0.35 * size, 0.65 * size, 2)
    ry, rx = rng.uniform(0.12 * size, 0.25 * size, 2)
    body = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    head = rng.uniform(0.07 * size, 0.12 * size)
    body |= (y - (cy - 0.8 * ry)) ** 2 + (x - (cx + 0.8 * rx)) ** 2 <= head**2
    angle = rng.uniform(0, 2 * math.pi)
    along = (x - cx) * math.cos(angle) + (y - cy) * math.sin(angle)
    across = -(x - cx) * math.sin(angle) + (y - cy) * math.cos(angle)
    length = rx + rng.uniform(0.15, 0.3) * size
    tail = (along >= 0) & (along <= length) & (np.abs(across) <= max(0.6, size / 64))
    return body, tail & ~body


def _box3(a: np.ndarray) -> np.ndarray:
    """Sum over each pixel's 3x3 neighbourhood of an (N, S, S, C) array."""
    s = a.shape[1]
    p = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(p[:, i : i + s, j : j + s] for i in range(3) for j in range(3))


@dataclass(frozen=True)
class World:
    """The simulated data set: ids, images, true and given labels, the corrupted ids."""

    ids: list[str]
    images: np.ndarray  # uint8 (N, S, S, 3)
    true: np.ndarray  # uint8 (N, S, S)
    given: np.ndarray  # uint8 (N, S, S)
    bodies: np.ndarray  # bool (N, S, S)
    tails: np.ndarray  # bool (N, S, S)
    corrupted: frozenset[str]


def world(n: int, size: int, seed: int = 0, fraction: float = 0.1) -> World:
    """`n` images of side `size`; exactly round(fraction * n) of them with corrupted labels."""
    rng = np.random.default_rng(seed)
    bodies, tails = (np.stack(m) for m in zip(*(_pet(rng, size) for _ in range(n)), strict=True))
    true = np.stack([trimap(b | t) for b, t in zip(bodies, tails, strict=True)])
    given = true.copy()
    chosen = sorted(int(i) for i in rng.choice(n, size=round(fraction * n), replace=False))
    for i in chosen:
        given[i] = corrupt(bodies[i] | tails[i], rng)
    colours = rng.integers(30, 226, (n, 3, 3)).astype(np.float64)  # per image, per true class
    images = np.take_along_axis(colours[:, None, None, :, :], true[..., None, None], axis=3)[
        ..., 0, :
    ]
    images = np.clip(images + rng.normal(0, 12, images.shape), 0, 255).astype(np.uint8)
    ids = [f"pet_{i:04d}" for i in range(n)]
    return World(ids, images, true, given, bodies, tails, frozenset(ids[i] for i in chosen))


def model_probabilities(
    w: World, seed: int, strength: float = 4.0, noise: float = 1.0, blobs: float = 2.0
) -> np.ndarray:
    """float32 (N, S, S, C) softmax of a decent model that learned the TRUE labels."""
    rng = np.random.default_rng([seed, 0x5EED])
    n, size = w.true.shape[:2]
    missed = rng.random(n) < 0.8  # the model misses most thin tails
    seen = np.stack(
        [trimap(b | (t & ~m)) for b, t, m in zip(w.bodies, w.tails, missed, strict=True)]
    )
    logits = strength * _box3(np.eye(3, dtype=np.float32)[seen]) / 9.0
    logits += _box3(rng.normal(0, noise, logits.shape).astype(np.float32)) / 3.0
    y, x = np.mgrid[0:size, 0:size]
    for i in range(n):
        for _ in range(int(rng.poisson(blobs))):
            cy, cx = rng.integers(0, size, 2)
            radius = rng.uniform(0.5, size / 16)
            disc = (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
            logits[i][disc] = 0.0
            logits[i][disc, int(rng.integers(3))] = 0.7 * strength
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def write_run(
    folder: Path,
    ids: list[str],
    probabilities: np.ndarray,
    labels: np.ndarray,
    images: np.ndarray,
    **index: object,
) -> Path:
    """One run folder in the `pedigree.predictions/v1` layout; `index` overrides index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, object] = {
        "schema": "pedigree.predictions/v1",
        "split": "test",
        "ids": ids,
        "classes": CLASSES,
        "size": int(labels.shape[1]) if labels.ndim == 3 else 0,
        "calibrated": True,
        "temperature": 1.3,
    }
    doc.update(index)
    (folder / "index.json").write_text(json.dumps(doc), encoding="utf-8")
    np.save(folder / "probabilities.npy", probabilities.astype(np.float16))
    np.save(folder / "labels.npy", labels)
    np.save(folder / "images.npy", images)
    return folder


def write_inputs(
    root: Path,
    w: World,
    seeds: list[int],
    folds: int = 5,
    threshold: float | None = None,
    examples: int | None = None,
) -> dict[str, Path]:
    """params.yaml, provenance.jsonl and predictions/fold-F-seed-S/ for `w` under `root`."""
    params: dict[str, object] = {}
    if threshold is not None:
        params["threshold"] = threshold
    if examples is not None:
        params["examples"] = examples
    (root / "params.yaml").write_text(json.dumps({"labels": params}), encoding="utf-8")
    prepared = root / "data" / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "id": sample,
                "animal_id": f"animal-{i // 3:05d}",
                "split": "train",
                "source": {
                    "image": f"images/{sample}.jpg",
                    "trimap": f"annotations/trimaps/{sample}.png",
                    "trimap_sha256": f"{i:064x}",
                },
            },
            sort_keys=True,
        )
        for i, sample in enumerate(w.ids)
    ]
    (prepared / "provenance.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    fold_of = np.arange(len(w.ids)) % folds
    for seed in seeds:
        probabilities = model_probabilities(w, seed)
        for fold in range(folds):
            rows = np.flatnonzero(fold_of == fold)
            write_run(
                root / "predictions" / f"fold-{fold}-seed-{seed}",
                [w.ids[i] for i in rows],
                probabilities[rows],
                w.given[rows],
                w.images[rows],
            )
    return {
        "params": root / "params.yaml",
        "predictions": root / "predictions",
        "provenance": prepared / "provenance.jsonl",
        "out": root / "reports",
    }


def argv(paths: dict[str, Path]) -> list[str]:
    """The stage's command line for `write_inputs`' paths."""
    return [
        "--params",
        str(paths["params"]),
        "--predictions",
        str(paths["predictions"]),
        "--provenance",
        str(paths["provenance"]),
        "--out",
        str(paths["out"]),
    ]
