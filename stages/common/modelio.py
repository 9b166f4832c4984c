"""Save Keras models byte-identically, load them with one call.

A `.keras` file is a zip holding config.json, metadata.json (with the save date) and
model.weights.h5. Keras writes the current date into metadata.json and zip entry timestamps,
and memory addresses (`shared_object_id`) into config.json, so two identical trainings give
different bytes. `save_model` writes the standard file, then rewrites the zip with a fixed date,
renumbered shared-object ids, fixed entry timestamps and a fixed entry order. The result is
still a plain `.keras` file: `keras.models.load_model(path)` loads it, nothing else is needed.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from stages.common.unet import CLASSES

FIXED_DATE = "1980-01-01@00:00:00"  # metadata.json's date_saved
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip entry can hold


def normalise_keras_zip(source: Path, target: Path) -> None:
    """Copy a .keras zip to `target` with fixed dates and order (bytes depend on content only)."""
    with zipfile.ZipFile(source) as zin:
        entries = sorted(zin.namelist())
        payload = {name: zin.read(name) for name in entries}
    if "config.json" in payload:
        config = _renumber_shared_objects(json.loads(payload["config.json"]), {})
        payload["config.json"] = json.dumps(config, sort_keys=True).encode()
    if "metadata.json" in payload:
        metadata = json.loads(payload["metadata.json"])
        metadata["date_saved"] = FIXED_DATE
        payload["metadata.json"] = json.dumps(metadata, sort_keys=True).encode()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zout:
        for name in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the platform
            zout.writestr(info, payload[name])


def _renumber_shared_objects(node: Any, ids: dict[int, int]) -> Any:
    """Replace `shared_object_id` values (Python id()s: memory addresses, different every run)
    with 1, 2, 3... in order of appearance; equal ids stay equal, so sharing is preserved."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "shared_object_id" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids) + 1)
            else:
                out[key] = _renumber_shared_objects(value, ids)
        return out
    if isinstance(node, list):
        return [_renumber_shared_objects(item, ids) for item in node]
    return node


def save_model(model: Any, path: Path) -> None:
    """Write `model` (architecture and weights, no optimizer state) byte-stably to `path`."""
    import keras

    # An uncompiled model over the same layers: no optimizer slots or compile config (custom
    # loss) in the file, so loading needs no custom objects.
    clean = keras.Model(model.inputs, model.outputs, name=model.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        raw = Path(scratch) / "raw.keras"
        clean.save(raw)
        final = Path(scratch) / "final.keras"
        normalise_keras_zip(raw, final)
        os.replace(final, path)


def load_model(path: Path) -> Any:
    """Load a model written by `save_model` (or any .keras file)."""
    import keras

    return keras.models.load_model(path, compile=False)


def load_checked_model(path: Path, input_size: int) -> Any:
    """Load the trained model; check it fits params.yaml `model` and outputs class logits."""
    try:
        model = load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged or foreign file
        raise SourceError(
            f"{path} is not a loadable Keras model ({type(exc).__name__}: {exc})",
            "run the train stage first",
        ) from None
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1:3] != (input_size, input_size):
        raise SourceError(
            f"{path} takes inputs of shape {shape[1:]} but params.yaml model.input_size is "
            f"{input_size}",
            "re-run the train stage with the current params, or restore model.input_size",
        )
    if tuple(model.output_shape)[-1] != CLASSES:
        raise SourceError(
            f"{path} outputs {model.output_shape[-1]} channels, not {CLASSES} class logits",
            "run the train stage first",
        )
    return model
