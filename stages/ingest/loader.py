"""Read a folder in the Oxford-IIIT Pet layout, one sample at a time, tolerating its oddities.

The real data set is not clean: some `.jpg` files are really PNG, some images are grayscale,
CMYK or RGBA/palette with transparency, a few `.mat` files sit among the images, some images
are not in `annotations/list.txt`, and trimaps can be missing. So every problem with one file
becomes a `Skip` with a reason a person can act on, never an exception that stops the stage;
and every conversion applied to an image is recorded, so the manifest says what happened.

Layout read:
    images/<id>.jpg                  photos (any format Pillow reads, whatever the extension)
    annotations/trimaps/<id>.png     per-pixel 1=pet, 2=background, 3=border
    annotations/list.txt             `<id> <CLASS-ID> <SPECIES> <BREED-ID>` after `#` comments
    annotations/animals.txt          optional `<id> <animal id>` (synthetic data only)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pedigree.errors import SourceError
from pedigree.stagekit import BoundedReadError, read_bounded
from stages.common.pets import BREEDS, SPECIES_NAMES, TRIMAP_VALUES, Breed, breed_of_image_id

LIST_FILE = "annotations/list.txt"
ANIMALS_FILE = "annotations/animals.txt"
TRIMAPS_DIR = "annotations/trimaps"
# Ids become output file names, so anything that could climb out of a folder is refused.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
JPEG_SUFFIXES = (".jpg", ".jpeg")
# Reads are bounded: a source folder is not trusted to hold only sane files (a multi-gigabyte
# "image", /dev/zero linked in as list.txt, a FIFO that would block a read forever). The real
# list.txt is ~200 KB and the largest real photo a few MB.
MAX_TEXT_BYTES = 64 << 20
MAX_IMAGE_BYTES = 64 << 20
_NOT_AN_IMAGE = "not an image file (Pillow cannot identify {})"


@dataclass(frozen=True)
class Skip:
    """A file (path relative to the source root) left out, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class Sample:
    """One usable sample with the bytes to write to data/raw (only one is held at a time)."""

    id: str
    animal_id: str
    breed: Breed
    image_file: str  # source path relative to the root
    image_source: bytes  # the source image bytes (hashed by the writer)
    image_suffix: str  # ".jpg" when the source bytes are copied, else ".png"
    image_data: bytes  # bytes to write
    trimap_file: str
    trimap_source: bytes
    trimap_data: bytes
    width: int
    height: int
    conversions: tuple[str, ...]

    @property
    def species(self) -> str:
        """'cat' or 'dog'."""
        return SPECIES_NAMES[self.breed.species]


@dataclass(frozen=True)
class _Listed:
    breed: Breed
    line: int


class _Rejected(Exception):
    """One file is unusable; carries the reason (internal: becomes a Skip)."""


class _TrimapRejected(_Rejected):
    """The image was fine but its trimap is missing or unusable."""


def _read_text(root: Path, rel: str, skips: list[Skip]) -> str | None:
    """The text of the optional file `rel` (bounded); None, with a skip saying why, when it
    cannot be used, and None without one when it does not exist."""
    path = root / rel
    if not path.exists():
        return None
    try:
        data = read_bounded(path, MAX_TEXT_BYTES)
    except BoundedReadError as exc:
        skips.append(Skip(rel, f"not read: the file {exc}"))
        return None
    except OSError as exc:
        skips.append(Skip(rel, f"cannot read: {exc.strerror or exc}"))
        return None
    return data.decode("utf-8", errors="replace")


def _parse_list(root: Path, skips: list[Skip]) -> dict[str, _Listed]:
    """Entries of annotations/list.txt; malformed or contradictory lines become skips."""
    text = _read_text(root, LIST_FILE, skips)
    if text is None:
        return {}
    entries: dict[str, _Listed] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        reason = _check_list_line(line, entries)
        if isinstance(reason, str):
            skips.append(Skip(LIST_FILE, f"line {number}: {reason}"))
            continue
        entries[line.split()[0]] = _Listed(reason, number)
    return entries


def _check_list_line(line: str, seen: dict[str, _Listed]) -> Breed | str:
    """The breed a list.txt line describes, or why the line is unusable."""
    fields = line.split()
    shape = "expected '<image id> <CLASS-ID> <SPECIES> <BREED-ID>'"
    # isascii: str.isdigit() also accepts digits like '²' that int() refuses.
    if len(fields) != 4 or not all(f.isascii() and f.isdigit() for f in fields[1:]):
        return f"malformed line {line[:80]!r}: {shape}"
    image_id, (class_id, species, breed_id) = fields[0], (int(f) for f in fields[1:])
    if not ID_RE.fullmatch(image_id):
        return f"malformed image id {image_id!r}: only letters, digits, '_' and '-' are allowed"
    if not 1 <= class_id <= len(BREEDS):
        return f"CLASS-ID {class_id} of {image_id} is outside 1..{len(BREEDS)}"
    breed = BREEDS[class_id - 1]
    if (species, breed_id) != (breed.species, breed.breed_id):
        return (
            f"{image_id}: CLASS-ID {class_id} is {breed.name} (SPECIES {breed.species}, "
            f"BREED-ID {breed.breed_id}) but the line says SPECIES {species}, BREED-ID {breed_id}"
        )
    named = breed_of_image_id(image_id)
    if named is not None and named != breed:
        return f"{image_id} is named for {named.name} but CLASS-ID {class_id} is {breed.name}"
    if image_id in seen:
        return f"duplicate entry for {image_id} (first on line {seen[image_id].line})"
    return breed


def _parse_animals(root: Path, skips: list[Skip]) -> dict[str, str]:
    """`image id -> animal id` from annotations/animals.txt, when the source has one."""
    text = _read_text(root, ANIMALS_FILE, skips)
    if text is None:
        return {}
    owners: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or not ID_RE.fullmatch(fields[0]):
            reason = f"line {number}: malformed line {line[:80]!r}: expected '<id> <animal id>'"
            skips.append(Skip(ANIMALS_FILE, reason))
            continue
        owners[fields[0]] = fields[1]
    return owners


def _index_images(root: Path) -> dict[str, list[str]]:
    """`stem -> [file names]` of images/, `.jpg` first; hidden files are kept (they get skipped)."""
    by_stem: dict[str, list[str]] = {}
    for entry in sorted((root / "images").iterdir()):
        by_stem.setdefault(Path(entry.name).stem, []).append(entry.name)
    for names in by_stem.values():
        names.sort(key=lambda n: (Path(n).suffix.lower() not in JPEG_SUFFIXES, n))
    return by_stem


def _read_image(path: Path, data: bytes) -> tuple[bytes | None, tuple[int, int], list[str]]:
    """Decode an image fully, whatever its extension says.

    Returns (png, size, conversions): `png` is the lossless RGB re-encoding, or None when `data`
    is already a true RGB JPEG named .jpg, which is then copied byte for byte.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decode now: a truncated file fails here, not later in training
            fmt, mode, size = im.format or "unknown", im.mode, im.size
            named_jpeg = path.suffix.lower() in JPEG_SUFFIXES
            if fmt == "JPEG" and mode == "RGB" and named_jpeg:
                return None, size, []
            conversions: list[str] = []
            if named_jpeg and fmt != "JPEG":
                conversions.append(f"format {fmt} (named {path.suffix})")
            if mode == "RGB":
                rgb = im
            elif mode == "P" and "transparency" in im.info:
                # Palette transparency goes through RGBA so Pillow applies it consistently.
                rgb = im.convert("RGBA").convert("RGB")
                conversions.append("P (transparency)->RGB, alpha dropped")
            else:
                # Alpha is dropped, not composited: the trimap was drawn on the stored colours.
                rgb = im.convert("RGB")
                conversions.append(f"{mode}->RGB" + (", alpha dropped" if "A" in mode else ""))
            return _png(rgb), size, conversions
    except UnidentifiedImageError:
        raise _Rejected(_NOT_AN_IMAGE.format(path.suffix or "it")) from None
    except Image.DecompressionBombError as exc:
        raise _Rejected(f"image too large: {exc}") from None
    # Decoders raise a zoo of types (OSError, SyntaxError, ValueError, struct.error, ...) on
    # corrupt input; any of them means "this one file is unusable", never "stop the stage".
    except Exception as exc:  # noqa: BLE001
        raise _Rejected(f"unreadable image: {exc or type(exc).__name__}") from None


def _read_trimap(
    rel: str, data: bytes, size: tuple[int, int]
) -> tuple[np.ndarray, list[str], bool]:
    """Decode a trimap to uint8 values; return it, the conversions made, and whether `data` can be
    copied as is (an 8-bit grayscale PNG)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt, mode = im.format, im.mode
            values = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - same decoder zoo as for images
        raise _TrimapRejected(f"unreadable trimap {rel}: {exc or type(exc).__name__}") from None
    if (values.shape[1], values.shape[0]) != size:
        height, width = values.shape[:2]
        raise _TrimapRejected(
            f"trimap {rel} is {width}x{height} but the image is {size[0]}x{size[1]}"
        )
    conversions: list[str] = []
    if values.dtype == bool:  # mode "1": compare as numbers, so the message says 0, not False
        values = values.astype(np.uint8)
    if values.ndim == 3:
        # RGB(A) trimaps saved by image editors: usable only when every channel agrees.
        first = values[..., 0]
        colours = 3 if values.shape[2] >= 3 else 1  # RGB(A) has three, LA one
        if not all(np.array_equal(first, values[..., c]) for c in range(1, colours)):
            raise _TrimapRejected(
                f"trimap {rel} is {mode} with differing channels, not a grayscale trimap"
            )
        values = first
        conversions.append(f"trimap {mode}->L")
    elif mode == "P":
        conversions.append("trimap P->L (palette indices)")  # label PNGs store classes as indices
    elif mode != "L":
        conversions.append(f"trimap {mode}->L")
    if fmt != "PNG":
        conversions.append(f"trimap format {fmt}")
    bad = np.setdiff1d(np.unique(values), np.array(TRIMAP_VALUES))
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:8].tolist()) + (", ..." if bad.size > 8 else "")
        raise _TrimapRejected(f"trimap {rel} has values outside {{1,2,3}}: {shown}")
    copyable = fmt == "PNG" and mode == "L"
    return values.astype(np.uint8), conversions, copyable


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # lossless; Pillow writes no timestamps, so bytes are stable
    return buffer.getvalue()


def _load(root: Path, image_id: str, breed: Breed, image_name: str, animal_id: str) -> Sample:
    """Load and normalise one sample, or raise _Rejected."""
    image_rel = f"images/{image_name}"
    try:
        image_bytes = read_bounded(root / image_rel, MAX_IMAGE_BYTES)
    except BoundedReadError as exc:
        raise _Rejected(f"not read: the file {exc}") from None
    png, size, conversions = _read_image(root / image_rel, image_bytes)
    trimap_rel = f"{TRIMAPS_DIR}/{image_id}.png"
    trimap_path = root / trimap_rel
    if not trimap_path.exists():
        raise _TrimapRejected(f"no trimap {trimap_rel}")
    try:
        trimap_bytes = read_bounded(trimap_path, MAX_IMAGE_BYTES)
    except BoundedReadError as exc:
        raise _TrimapRejected(f"trimap {trimap_rel} not read: the file {exc}") from None
    except OSError as exc:
        raise _TrimapRejected(f"unreadable trimap {trimap_rel}: {exc.strerror or exc}") from None
    values, trimap_conversions, copy_trimap = _read_trimap(trimap_rel, trimap_bytes, size)
    return Sample(
        id=image_id,
        animal_id=animal_id,
        breed=breed,
        image_file=image_rel,
        image_source=image_bytes,
        image_suffix=".jpg" if png is None else ".png",
        image_data=image_bytes if png is None else png,
        trimap_file=trimap_rel,
        trimap_source=trimap_bytes,
        trimap_data=trimap_bytes if copy_trimap else _png(Image.fromarray(values)),
        width=size[0],
        height=size[1],
        conversions=tuple(conversions + trimap_conversions),
    )


def iter_dataset(root: Path) -> Iterator[Sample | Skip]:
    """Yield every usable sample and every skipped file of the data set at `root`, by id.

    Samples come from list.txt entries plus images present but not listed (their breed is read
    from the file name). Each sample is decoded, checked and converted while it is yielded, so
    memory holds one image at a time.
    """
    if not (root / "images").is_dir():
        raise SourceError(f"{root} has no images/ folder", "is it in the Oxford-IIIT Pet layout?")
    skips: list[Skip] = []
    listed = _parse_list(root, skips)
    owners = _parse_animals(root, skips)
    images = _index_images(root)
    yield from skips
    for stem in sorted(set(listed) | set(images)):
        names = images.get(stem, [])
        entry = listed.get(stem)
        if entry is not None:
            breed: Breed | None = entry.breed
        else:  # not listed: the real set has such images; the file name says the breed
            breed = breed_of_image_id(stem) if ID_RE.fullmatch(stem) else None
        if breed is None:
            reason = f"not in {LIST_FILE} and {stem!r} names none of the 37 breeds"
            yield from (Skip(f"images/{name}", reason) for name in names)
            continue
        if entry is not None and not names:
            reason = f"listed on line {entry.line} of {LIST_FILE} but there is no image file"
            yield Skip(f"images/{stem}.jpg", reason)
            continue
        yield from _load_first(root, stem, breed, names, owners.get(stem, stem))


def _load_first(
    root: Path, image_id: str, breed: Breed, names: list[str], animal_id: str
) -> Iterator[Sample | Skip]:
    """Try the files named `image_id` (.jpg first) until one loads; skip the rest, saying why."""
    used: str | None = None
    trimap_failed = False
    for name in names:
        rel = f"images/{name}"
        if used is not None or trimap_failed:
            # e.g. Abyssinian_100.mat next to Abyssinian_100.jpg in the real images/.
            yield Skip(rel, _extra_reason(root / rel, image_id, used))
            continue
        try:
            sample = _load(root, image_id, breed, name, animal_id)
        except _TrimapRejected as exc:
            trimap_failed = True  # another image file for this id would not fix its trimap
            yield Skip(rel, str(exc))
        except _Rejected as exc:
            yield Skip(rel, str(exc))
        except OSError as exc:  # unreadable from disk: permissions, I/O error, a folder
            yield Skip(rel, f"cannot read: {exc.strerror or exc}")
        else:
            used = rel
            yield sample


def _extra_reason(path: Path, image_id: str, used: str | None) -> str:
    """Why a second file for one image id is left out."""
    if path.is_dir():
        return "a folder, not an image file"
    if not path.is_file():  # a FIFO or device: opening it to look inside could block forever
        return "not a regular file"
    try:
        with Image.open(path):
            pass
    except Exception:  # noqa: BLE001 - any failure to identify means "not an image"
        return _NOT_AN_IMAGE.format(path.suffix or "it")
    if used is None:
        return f"another image file for {image_id}, whose trimap is unusable"
    return f"another image file for {image_id}; {used} is used"
