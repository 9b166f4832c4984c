"""Byte-stable .keras files: fixed dates, renumbered shared-object ids, fixed order."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from stages.common.modelio import FIXED_DATE, normalise_keras_zip


def _fake_keras(path: Path, address: int, when: tuple[int, ...], date: str) -> None:
    config = {
        "layers": [
            {"dtype": {"shared_object_id": address}},
            {"dtype": {"shared_object_id": address}},
            {"x": {"shared_object_id": address + 8}},
        ]
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, data in (
            ("model.weights.h5", b"weights"),
            ("metadata.json", json.dumps({"keras_version": "3", "date_saved": date}).encode()),
            ("config.json", json.dumps(config).encode()),
        ):
            z.writestr(zipfile.ZipInfo(name, date_time=when), data)


def test_two_saves_normalise_to_the_same_bytes(tmp_path: Path) -> None:
    _fake_keras(
        tmp_path / "a.keras", 140683726909456, (2026, 11, 23, 10, 0, 0), "2026-11-23@10:00:00"
    )
    _fake_keras(
        tmp_path / "b.keras", 139924427083024, (2026, 11, 24, 11, 30, 2), "2026-11-24@11:30:02"
    )
    normalise_keras_zip(tmp_path / "a.keras", tmp_path / "a2.keras")
    normalise_keras_zip(tmp_path / "b.keras", tmp_path / "b2.keras")
    assert (tmp_path / "a2.keras").read_bytes() == (tmp_path / "b2.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a2.keras") as z:
        assert z.namelist() == sorted(z.namelist())
        assert json.loads(z.read("metadata.json"))["date_saved"] == FIXED_DATE
        layers = json.loads(z.read("config.json"))["layers"]
        ids = [
            layers[0]["dtype"]["shared_object_id"],
            layers[1]["dtype"]["shared_object_id"],
            layers[2]["x"]["shared_object_id"],
        ]
        assert ids == [1, 1, 2]  # sharing preserved, addresses gone
