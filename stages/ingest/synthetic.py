"""A deterministic synthetic stand-in for the Oxford-IIIT Pet data set, in its exact layout.

Why synthetic: the pipeline must run end to end on any machine with no download, yet exercise
the very loader that reads the real set. So this module writes `images/<Breed>_<n>.jpg`,
`annotations/trimaps/<Breed>_<n>.png` and `annotations/list.txt` exactly as the real set does,
and the ingest stage then reads that folder back with the real loader.

Each animal has its own fur colour, pattern and body proportions (cats: pointed ears, long thin
tail; dogs: snout, floppy ears, longer legs); each photo of it gets a random pose, scale,
position (sometimes cut off by the frame), rotation, background and lighting. Every random draw
comes from `default_rng([seed, animal, image])`, so the output is byte-identical across runs,
and all drawing is vectorised numpy over the whole frame (no per-pixel Python loops).

Label noise on purpose (`synthetic.corrupt`, off by default): a seeded, known set of images gets
a wrong trimap (the outline shifted, grown or shrunk) so a label audit can be tested against the
truth. The set and the corruptions come from their own rng, so the photos stay byte-identical to
an uncorrupted run, and the set is listed in `annotations/corrupted.txt`, which ingest copies
into data/raw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from stages.common.pets import BACKGROUND, BORDER, BREEDS, CAT, DOG, LIST_HEADER, PET, Breed
from stages.ingest.loader import ANIMALS_FILE, LIST_FILE, TRIMAPS_DIR
from stages.ingest.params import CORRUPT_KINDS, MIXED, CorruptParams, SyntheticParams

Array = np.ndarray
ANIMALS_HEADER = (
    "# <image id> <animal id>: synthetic data only. The real Oxford-IIIT Pet set publishes no "
    "animal ids; without this file every image is its own animal."
)
CORRUPTED_FILE = "annotations/corrupted.txt"
CORRUPTED_HEADER = (
    "# <image id> <kind>: synthetic label noise, written only when ingest.synthetic.corrupt is on. "
    "These images' trimaps were corrupted on purpose ({how}); the images themselves are not."
)
# A corrupted trimap differs from the true one in at least this share of the pet's pixels.
MIN_CORRUPTED_SHARE = 0.1
# Mixed into the corruption rng's seed so it never coincides with an image-drawing stream.
CORRUPT_STREAM = 0x4E4F495345  # "NOISE"
# Natural-looking fur colours (RGB); an animal jitters one of these so no two look alike.
FUR_COLOURS = np.array(
    [
        (28, 24, 22),
        (60, 45, 35),
        (110, 75, 45),
        (150, 105, 60),
        (196, 140, 80),
        (215, 180, 130),
        (235, 225, 205),
        (245, 242, 236),
        (120, 120, 125),
        (170, 165, 160),
        (200, 110, 50),
    ],
    dtype=np.float32,
)
PATTERNS = ("solid", "spots", "stripes")


@dataclass(frozen=True)
class Animal:
    """One synthetic animal: the traits every photo of it shares."""

    index: int
    animal_id: str
    breed: Breed
    n_images: int
    fur: Array  # (3,) float32 RGB
    marks: Array  # (3,) float32 RGB of spots / stripes
    pattern: str
    pattern_freq: float  # cycles per body half-length
    pattern_angle: float  # radians
    body_h: float  # body half-height, in body half-lengths
    head_r: float
    ear: float  # ear length relative to the head radius
    leg: float  # leg length below the body
    tail: float  # tail length


def _animal(seed: int, index: int, ipa: tuple[int, int], remaining: int) -> Animal:
    """Draw one animal's traits. The first two animals are a cat and a dog, so any data set of
    two or more animals holds both species; after that breeds are uniform over all 37."""
    rng = np.random.default_rng([seed, index])
    if index < 2:
        pool = [b for b in BREEDS if b.species == (CAT if index == 0 else DOG)]
    else:
        pool = list(BREEDS)
    breed = pool[int(rng.integers(len(pool)))]
    cat = breed.species == CAT
    fur, marks = FUR_COLOURS[rng.choice(len(FUR_COLOURS), size=2, replace=False)]
    return Animal(
        index=index,
        animal_id=f"animal-{index:05d}",
        breed=breed,
        n_images=min(remaining, int(rng.integers(ipa[0], ipa[1] + 1))),
        fur=np.clip(fur + rng.normal(0, 12, 3), 0, 255).astype(np.float32),
        marks=np.clip(marks + rng.normal(0, 12, 3), 0, 255).astype(np.float32),
        pattern=PATTERNS[int(rng.choice(3, p=[0.45, 0.3, 0.25]))],
        pattern_freq=float(rng.uniform(2.0, 5.0)),
        pattern_angle=float(rng.uniform(0, math.pi)),
        body_h=float(rng.uniform(0.42, 0.52) if cat else rng.uniform(0.45, 0.6)),
        head_r=float(rng.uniform(0.3, 0.36) if cat else rng.uniform(0.34, 0.44)),
        ear=float(rng.uniform(0.6, 0.85) if cat else rng.uniform(0.6, 0.9)),
        leg=float(rng.uniform(0.2, 0.35) if cat else rng.uniform(0.35, 0.65)),
        tail=float(rng.uniform(0.8, 1.1) if cat else rng.uniform(0.3, 0.55)),
    )


def _ellipse(u: Array, v: Array, cu: float, cv: float, ru: float, rv: float) -> Array:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


Point = tuple[float, float]


def _triangle(u: Array, v: Array, a: Point, b: Point, c: Point) -> Array:
    """Points inside triangle abc: all three edge cross products share one sign."""

    def edge(p: Point, q: Point) -> Array:
        return (q[0] - p[0]) * (v - p[1]) - (q[1] - p[1]) * (u - p[0])

    d1, d2, d3 = edge(a, b), edge(b, c), edge(c, a)
    return ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))


def _band(u: Array, v: Array, start: Point, angle: float, length: float, width: float) -> Array:
    """A straight limb (tail) of `width` half-thickness from `start` along `angle`."""
    du, dv = math.cos(angle), math.sin(angle)
    t = (u - start[0]) * du + (v - start[1]) * dv
    d = -(u - start[0]) * dv + (v - start[1]) * du
    return (t >= 0) & (t <= length) & (np.abs(d) <= width)


def _pet_mask(a: Animal, u: Array, v: Array, rng: np.random.Generator) -> Array:
    """The pet silhouette in body coordinates (u forward, v down; body half-length = 1)."""
    cat = a.breed.species == CAT
    bh, hr = a.body_h, a.head_r
    mask = _ellipse(u, v, 0.0, 0.0, 1.0, bh)
    hu, hv = 0.95, -0.85 * bh  # head sits up at the front of the body
    mask |= _ellipse(u, v, hu, hv, hr, hr)
    # Four legs; a random stride per photo so poses differ.
    stride = float(rng.uniform(-0.12, 0.12))
    for x0, sign in ((-0.7, 1), (-0.45, -1), (0.45, 1), (0.7, -1)):
        mask |= (np.abs(u - x0 - sign * stride * v) <= 0.09) & (v >= 0) & (v <= bh + a.leg)
    tail_angle = math.radians(float(rng.uniform(-150, -110) if cat else rng.uniform(-170, -140)))
    mask |= _band(u, v, (-0.9, -0.3 * bh), tail_angle, a.tail, 0.05 if cat else 0.08)
    if cat:
        for side in (-1, 1):  # pointed upright ears on top of the head
            mid = math.radians(-90 + side * 32)
            base = [
                (hu + 0.9 * hr * math.cos(mid + d), hv + 0.9 * hr * math.sin(mid + d))
                for d in (math.radians(-20), math.radians(20))
            ]
            tip_dir = mid + side * math.radians(6)
            reach = hr * (1 + a.ear)
            tip = (hu + reach * math.cos(tip_dir), hv + reach * math.sin(tip_dir))
            mask |= _triangle(u, v, base[0], base[1], tip)
    else:
        mask |= _ellipse(u, v, hu + 0.9 * hr, hv + 0.25 * hr, 0.6 * hr, 0.4 * hr)  # snout
        ear_len = 0.5 * hr * (1 + a.ear)
        mask |= _ellipse(u, v, hu - 0.45 * hr, hv + 0.35 * hr, 0.3 * hr, ear_len)  # floppy ear
    return mask


def dilate(mask: Array, r: int) -> Array:
    """Binary dilation by a (2r+1)^2 square, separably; edge padding so the frame is no outline."""
    h, w = mask.shape
    p = np.pad(mask, r, mode="edge")
    rows = np.zeros((h + 2 * r, w), dtype=bool)
    for k in range(2 * r + 1):
        rows |= p[:, k : k + w]
    out = np.zeros((h, w), dtype=bool)
    for k in range(2 * r + 1):
        out |= rows[k : k + h]
    return out


def border_radius(shape: tuple[int, ...]) -> int:
    """Half-width of the BORDER band: 2.5% of the shorter side (6 px at 240 px).

    Wide enough that the band survives resizing to the model's input (about 3 px at 64 px), so
    the border class is learnable, as the blended fur edge it marks is in real photos.
    """
    return max(1, round(min(shape[:2]) * 0.025))


def trimap_of(mask: Array) -> Array:
    """Trimap of a pet mask: a BORDER band (dilate XOR erode) along the outline."""
    r = border_radius(mask.shape)
    band = dilate(mask, r) ^ ~dilate(~mask, r)  # erode(mask) == ~dilate(~mask)
    trimap = np.where(mask, PET, BACKGROUND).astype(np.uint8)
    trimap[band] = BORDER
    return trimap


def _background(rng: np.random.Generator, h: int, w: int, x: Array, y: Array) -> Array:
    """A float32 (3, h, w) scene: gradient, smooth blotches, a woven texture, or clutter.

    Channel-first throughout: numpy runs ~5x faster on contiguous planes than on a last axis of 3.
    """
    c1, c2 = (c[:, None, None] for c in rng.uniform(15, 240, (2, 3)).astype(np.float32))
    kind = int(rng.integers(4))
    if kind == 1:  # smooth blotches: a few random colours upsampled
        small = rng.uniform(0, 255, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3))
        big = Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
        bg = np.stack([np.asarray(p, dtype=np.float32) for p in big.split()])
    else:
        if kind == 2:  # stripes or checks, like a floor, rug or blanket
            f1, f2 = rng.uniform(0.04, 0.25, 2)
            wave = np.sin(x * f1 + rng.uniform(0, 6))
            if rng.random() < 0.5:
                wave *= np.sin(y * f2)
            t = 0.5 + 0.5 * np.tanh(3 * wave)
        else:  # a linear gradient in a random direction
            angle = rng.uniform(0, 2 * math.pi)
            t = (x * math.cos(angle) + y * math.sin(angle)) / max(h, w) * 0.5 + 0.5
        bg = c1 + (c2 - c1) * t
    if kind == 3:  # clutter: furniture-like shapes, some in fur colours to confuse colour cues
        planes = [Image.fromarray(np.clip(p, 0, 255).astype(np.uint8)) for p in bg]
        canvas = Image.merge("RGB", planes)
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(3, 9))):
            x0, x1 = sorted(rng.integers(-w // 4, w + w // 4, 2).tolist())
            y0, y1 = sorted(rng.integers(-h // 4, h + h // 4, 2).tolist())
            if rng.random() < 0.3:
                colour = FUR_COLOURS[int(rng.integers(len(FUR_COLOURS)))]
            else:
                colour = rng.uniform(0, 255, 3)
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, max(x1, x0 + 4), max(y1, y0 + 4)), fill=tuple(int(c) for c in colour))
        bg = np.stack([np.asarray(p, dtype=np.float32) for p in canvas.split()])
    grain = (rng.random((h, w), dtype=np.float32) - 0.5) * np.float32(rng.uniform(4, 20))
    return bg + grain


def _fur(a: Animal, rng: np.random.Generator, u: Array, v: Array) -> Array:
    """Fur colour (3, h, w) in body coordinates, so patterns move and turn with the pet."""
    f = a.pattern_freq * math.pi
    if a.pattern == "spots":
        amount = (np.sin(u * f * 1.7) * np.sin(v * f * 1.7 + 1.3) > 0.45).astype(np.float32)
    elif a.pattern == "stripes":
        along = u * math.cos(a.pattern_angle) + v * math.sin(a.pattern_angle)
        amount = (np.sin(along * f * 2.0) > 0.2).astype(np.float32)
    else:
        amount = np.zeros_like(u)
    # Belly lighter, back darker: a cheap sense of volume; per-pixel jitter reads as hair.
    shade = 1.1 - 0.25 * np.clip((v + a.body_h) / (2 * a.body_h), 0, 1.4)
    shade *= 1 + (rng.random(u.shape, dtype=np.float32) - 0.5) * np.float32(0.2)
    return np.stack(
        [(fur + (mark - fur) * amount) * shade for fur, mark in zip(a.fur, a.marks, strict=True)]
    )


def render(a: Animal, rng: np.random.Generator, sizes: tuple[int, int]) -> tuple[Array, Array]:
    """One photo of `a`: an (h, w, 3) uint8 RGB image and its (h, w) uint8 trimap."""
    rgb, mask = _photo(a, rng, sizes)
    return rgb, trimap_of(mask)


def _photo(a: Animal, rng: np.random.Generator, sizes: tuple[int, int]) -> tuple[Array, Array]:
    """One photo of `a`: an (h, w, 3) uint8 RGB image and its (h, w) bool pet mask."""
    h, w = (int(s) for s in rng.integers(sizes[0], sizes[1] + 1, 2))
    y, x = np.indices((h, w), dtype=np.float32)
    side = min(h, w)
    scale = float(rng.uniform(0.22, 0.34)) * side  # pixels per body half-length
    if rng.random() < 0.2:  # partly out of frame, the way real photos crop pets
        cx = float(rng.choice([rng.uniform(0.05, 0.15), rng.uniform(0.85, 0.95)])) * w
    else:
        cx = float(rng.uniform(0.3, 0.7)) * w
    cy = float(rng.uniform(0.35, 0.65)) * h
    theta = math.radians(float(rng.uniform(-30, 30)))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    dx, dy = (x - cx) / scale, (y - cy) / scale
    u = flip * (dx * math.cos(theta) + dy * math.sin(theta))
    v = -dx * math.sin(theta) + dy * math.cos(theta)

    mask = _pet_mask(a, u, v, rng)
    scene = _background(rng, h, w, x, y)
    fur = _fur(a, rng, u, v)
    # Soft alpha at the outline: real photos blend pet and background there (the trimap's border).
    blur = ImageFilter.GaussianBlur(border_radius(mask.shape) / 2)
    alpha_img = Image.fromarray(mask.astype(np.uint8) * 255).filter(blur)
    alpha = np.asarray(alpha_img, dtype=np.float32) / 255.0
    # Lighting: overall exposure, a directional falloff and a colour cast.
    light_dir = rng.uniform(0, 2 * math.pi)
    slope = rng.uniform(-0.35, 0.35) / side
    light = 1 + slope * ((x - w / 2) * math.cos(light_dir) + (y - h / 2) * math.sin(light_dir))
    light *= np.float32(rng.uniform(0.65, 1.25))
    cast = rng.normal(1.0, 0.05, 3)
    planes = [
        np.clip((bg + (fg - bg) * alpha) * (light * np.float32(c)), 0, 255).astype(np.uint8)
        for bg, fg, c in zip(scene, fur, cast, strict=True)
    ]
    return np.dstack(planes), mask


def _shifted(mask: Array, dy: int, dx: int) -> Array:
    """`mask` moved by (dy, dx) pixels; what comes in from outside the frame is background."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dy) < h and abs(dx) < w:
        out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
            max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return out


def corrupted_mask(mask: Array, kind: str, pixels: int, angle: float) -> Array:
    """The pet mask as a sloppy annotator might have drawn it: misplaced, too large or too small."""
    if kind == "shift":
        dy, dx = round(pixels * math.sin(angle)), round(pixels * math.cos(angle))
        return _shifted(mask, dy, dx)
    if kind == "dilate":
        return dilate(mask, pixels)
    return ~dilate(~mask, pixels)  # erode


def corrupt_trimap(mask: Array, rng: np.random.Generator, kind: str) -> tuple[Array, str]:
    """A wrong trimap for pet `mask` and the kind of error made (`kind`, or one drawn for mixed).

    The error is sized to the pet (4-8% of the square root of its area, at least 2 pixels), then
    doubled until the trimap differs from the true one in at least MIN_CORRUPTED_SHARE of the
    pet's pixels (pet and border) or the error spans the whole frame (a shift or erosion that
    large removes the pet, so only a pet already filling the frame could stay under the share).
    """
    if kind == MIXED:
        kind = CORRUPT_KINDS[int(rng.integers(len(CORRUPT_KINDS)))]
    true = trimap_of(mask)
    pet_pixels = max(1, int(np.count_nonzero(true != BACKGROUND)))
    pixels = max(2, round(float(rng.uniform(0.04, 0.08)) * math.sqrt(pet_pixels)))
    angle = float(rng.uniform(0, 2 * math.pi))
    limit = max(mask.shape)
    while True:
        wrong = trimap_of(corrupted_mask(mask, kind, pixels, angle))
        share = np.count_nonzero(wrong != true) / pet_pixels
        if share >= MIN_CORRUPTED_SHARE or pixels >= limit:
            return wrong, kind
        pixels = min(2 * pixels, limit)


def corrupted_positions(corrupt: CorruptParams, count: int) -> set[int]:
    """Which images (by the order they are drawn in) get a corrupted trimap: exactly
    round(fraction * count) of them, drawn from `corrupt.seed` alone."""
    n = round(corrupt.fraction * count)
    if n == 0:
        return set()
    rng = np.random.default_rng([CORRUPT_STREAM, corrupt.seed])
    return {int(i) for i in rng.choice(count, size=n, replace=False)}


def generate(params: SyntheticParams, root: Path) -> tuple[int, int]:
    """Write `params.count` synthetic images in the Oxford-IIIT Pet layout under `root`.

    Returns (images, animals). Images are named `<Breed>_<n>` with n counting from 1 per breed,
    like the real set; `annotations/animals.txt` records which images show the same animal.
    With `params.corrupt` on, the chosen images' trimaps are corrupted and listed, with the kind
    of error, in `annotations/corrupted.txt` (that file is written only then).
    """
    images_dir = root / "images"
    trimaps_dir = root / TRIMAPS_DIR
    images_dir.mkdir(parents=True, exist_ok=True)
    trimaps_dir.mkdir(parents=True, exist_ok=True)
    per_breed: dict[str, int] = {}
    listed: list[tuple[str, Breed]] = []
    owners: list[tuple[str, str]] = []
    corrupt = params.corrupt
    chosen = corrupted_positions(corrupt, params.count) if corrupt.enabled else set()
    corrupted: list[tuple[str, str]] = []
    produced, index = 0, 0
    while produced < params.count:
        animal = _animal(params.seed, index, params.images_per_animal, params.count - produced)
        for k in range(animal.n_images):
            # k + 1: SeedSequence treats [seed, index] and [seed, index, 0] alike.
            rng = np.random.default_rng([params.seed, index, k + 1])
            rgb, mask = _photo(animal, rng, params.image_size)
            per_breed[animal.breed.name] = n = per_breed.get(animal.breed.name, 0) + 1
            image_id = f"{animal.breed.name}_{n}"
            position = produced + k
            if position in chosen:
                noise = np.random.default_rng([CORRUPT_STREAM, corrupt.seed, position + 1])
                trimap, kind = corrupt_trimap(mask, noise, corrupt.kind)
                corrupted.append((image_id, kind))
            else:
                trimap = trimap_of(mask)
            quality = int(rng.integers(80, 96))  # JPEG artefacts of varying strength
            Image.fromarray(rgb).save(images_dir / f"{image_id}.jpg", "JPEG", quality=quality)
            Image.fromarray(trimap).save(trimaps_dir / f"{image_id}.png", "PNG")
            listed.append((image_id, animal.breed))
            owners.append((image_id, animal.animal_id))
        produced += animal.n_images
        index += 1
    listed.sort()
    owners.sort()
    lines = [*LIST_HEADER] + [f"{i} {b.class_id} {b.species} {b.breed_id}" for i, b in listed]
    (root / LIST_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    animal_lines = [ANIMALS_HEADER] + [f"{i} {a}" for i, a in owners]
    (root / ANIMALS_FILE).write_text("\n".join(animal_lines) + "\n", encoding="utf-8")
    if corrupt.enabled:
        how = f"fraction {corrupt.fraction}, seed {corrupt.seed}, kind {corrupt.kind}"
        noise_lines = [CORRUPTED_HEADER.format(how=how)]
        noise_lines += [f"{i} {kind}" for i, kind in sorted(corrupted)]
        (root / CORRUPTED_FILE).write_text("\n".join(noise_lines) + "\n", encoding="utf-8")
    return produced, index
