"""Write data/raw: the normalised images and trimaps plus a deterministic manifest.json.

Everything goes through `atomic_output`, so data/raw appears complete or not at all. The
manifest has no timestamps and is sorted throughout: the same source gives the same bytes.
A synthetic source generated with label noise on also hands on its list of corrupted trimaps
(`annotations/corrupted.txt`), the truth a label audit is checked against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from pedigree.stagekit import atomic_output, sha256_bytes
from stages.ingest.loader import Sample, Skip, iter_dataset
from stages.ingest.sources import LAYOUT_HINT, Source
from stages.ingest.synthetic import CORRUPTED_FILE

MANIFEST = "manifest.json"
SHOWN_REASONS = 3


def _entry(sample: Sample, image: str, trimap: str) -> dict[str, Any]:
    return {
        "id": sample.id,
        "animal_id": sample.animal_id,
        "breed": sample.breed.name,
        "class_id": sample.breed.class_id,
        "species": sample.species,
        "image": image,
        "trimap": trimap,
        "image_sha256": sha256_bytes(sample.image_source),
        "trimap_sha256": sha256_bytes(sample.trimap_source),
        "raw_image_sha256": sha256_bytes(sample.image_data),
        "raw_trimap_sha256": sha256_bytes(sample.trimap_data),
        "width": sample.width,
        "height": sample.height,
        "conversions": list(sample.conversions),
    }


def _no_samples(source: Source, skipped: list[dict[str, str]]) -> SourceError:
    if not skipped:
        message = f"no usable samples in {source.location}: images/ holds no images"
        return SourceError(message, LAYOUT_HINT)
    reasons = "; ".join(f"{s['file']}: {s['reason']}" for s in skipped[:SHOWN_REASONS])
    return SourceError(
        f"no usable samples in {source.location}: {len(skipped)} files skipped; "
        f"first reasons: {reasons}",
        LAYOUT_HINT,
    )


def write_raw(source: Source, out: Path) -> dict[str, Any]:
    """Load `source` one sample at a time into `out`; return the manifest (without samples'
    bytes). Raise SourceError, leaving `out` untouched, when no sample is usable."""
    with atomic_output(Path(out)) as scratch:
        (scratch / "images").mkdir()
        (scratch / "annotations" / "trimaps").mkdir(parents=True)
        samples: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        for item in iter_dataset(source.root):
            if isinstance(item, Skip):
                skipped.append({"file": item.file, "reason": item.reason})
                continue
            image = f"images/{item.id}{item.image_suffix}"
            trimap = f"annotations/trimaps/{item.id}.png"
            (scratch / image).write_bytes(item.image_data)
            (scratch / trimap).write_bytes(item.trimap_data)
            samples.append(_entry(item, image, trimap))
        skipped.sort(key=lambda s: (s["file"], s["reason"]))
        if not samples:
            raise _no_samples(source, skipped)
        samples.sort(key=lambda s: s["id"])
        manifest = {
            "source": source.describe(),
            "samples": samples,
            "skipped": skipped,
            "counts": {
                "samples": len(samples),
                "skipped": len(skipped),
                "cats": sum(s["species"] == "cat" for s in samples),
                "dogs": sum(s["species"] == "dog" for s in samples),
                "animals": len({s["animal_id"] for s in samples}),
            },
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (scratch / MANIFEST).write_text(text, encoding="utf-8")
        known_noise = source.root / CORRUPTED_FILE
        if source.kind == "synthetic" and known_noise.is_file():  # written by our generator
            (scratch / CORRUPTED_FILE).write_bytes(known_noise.read_bytes())
    return manifest
