"""pedigree.bundle: the serve bundle's JSON form, refused malformed bundles, hash checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pedigree.bundle import BundleFile, ServeBundle, file_digests, verify_file
from pedigree.errors import ServeError

DATA = b"model bytes"
MD5 = hashlib.md5(DATA).hexdigest()
SHA = hashlib.sha256(DATA).hexdigest()


def _bundle(**changes: object) -> dict:
    data = {
        "pipeline": "pets",
        "version": 3,
        "predictor": "stages.serve",
        "files": [
            {"role": "model", "path": "models/model.keras", "md5": MD5, "sha256": SHA},
            {"role": "stats", "path": "data/stats.json", "md5": "0" * 32, "uri": "s3://b/x"},
        ],
        "params": {"model": {"input_size": 64}},
    }
    data.update(changes)
    return data


def test_the_json_form_round_trips_canonically() -> None:
    bundle = ServeBundle.from_dict(_bundle())
    assert bundle.model_sha256 == SHA
    assert bundle.version_label == "v3"
    assert bundle.file("stats").uri == "s3://b/x"
    text = bundle.to_json()
    assert ServeBundle.from_json(text) == bundle
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"files": []}, r"has no model file"),
        ({"pipeline": ""}, r"PEDIGREE_SERVE_BUNDLE.pipeline must be a non-empty string"),
        ({"version": 0}, r"version 0 is not a positive integer"),
        ({"files": [{"role": "model", "path": "m", "md5": "xyz", "sha256": SHA}]}, r"md5 'xyz'"),
        ({"files": [{"role": "model", "path": "m", "md5": MD5}]}, r"model file has no sha256"),
        (
            {"files": [{"role": "model", "path": "m", "md5": MD5, "sha256": SHA}] * 2},
            r"names a file role twice",
        ),
        ({"files": ["model"]}, r"holds 'model', not an object"),
    ],
)
def test_malformed_bundles_are_refused_saying_what(changes: dict, match: str) -> None:
    with pytest.raises(ServeError, match=match):
        ServeBundle.from_dict(_bundle(**changes))


def test_missing_keys_and_bad_json_are_refused() -> None:
    data = _bundle()
    del data["predictor"]
    with pytest.raises(ServeError, match=r"lacks the key 'predictor'"):
        ServeBundle.from_dict(data)
    with pytest.raises(ServeError, match=r"PEDIGREE_SERVE_BUNDLE is not valid JSON"):
        ServeBundle.from_json("{")
    with pytest.raises(ServeError, match=r"is not a JSON object"):
        ServeBundle.from_json("[]")


def test_verify_file_accepts_the_recorded_bytes_only(tmp_path: Path) -> None:
    good = tmp_path / "model.keras"
    good.write_bytes(DATA)
    item = BundleFile("model", "models/model.keras", MD5, SHA)
    assert file_digests(good) == (MD5, SHA)
    verify_file(item, good)
    good.write_bytes(DATA + b"!")
    with pytest.raises(ServeError, match=r"has sha256 [0-9a-f]{64}, not the recorded " + SHA):
        verify_file(item, good)
    with pytest.raises(ServeError, match=r"has md5 [0-9a-f]{32}, not the recorded " + MD5):
        verify_file(BundleFile("stats", "s.json", MD5), good)
    with pytest.raises(ServeError, match=r"cannot read the model file"):
        verify_file(item, tmp_path / "absent")
