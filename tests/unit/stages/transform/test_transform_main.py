"""The transform stage end to end on a tiny data/raw: shards, index, provenance, splits, stats.

TensorFlow is imported once per test session (by the first run of the stage); the two
subprocess runs that prove byte-identical output pay it again, which is most of this file's time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pedigree.errors import ParamsError, SourceError
from stages.transform.__main__ import main
from stages.transform.shards import load_tf
from tests.unit.stages.transform.conftest import (
    TEST_COLOUR,
    animals_per_split,
    build_raw,
    md5_bucket,
    split_of_bucket,
    write_params,
)

ROOT = Path(__file__).resolve().parents[4]
SPLITS = ["train", "validation", "calibration", "test"]
HEIGHT, WIDTH = 32, 24  # tiny_params


def run(params: Path, raw: Path, out: Path) -> int:
    return main(["--params", str(params), "--raw", str(raw), "--out", str(out)])


@pytest.fixture(scope="module")
def prepared(tiny_raw: Path, tiny_params: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stage") / "prepared"
    assert run(tiny_params, tiny_raw, out) == 0
    return out


def manifest_samples(raw: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((raw / "manifest.json").read_text())
    return {s["id"]: s for s in doc["samples"]}


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Parse one shard with tf.data, as a training stage would."""
    tf = load_tf()
    spec = {
        "id": tf.io.FixedLenFeature([], tf.string),
        "animal_id": tf.io.FixedLenFeature([], tf.string),
        "class_id": tf.io.FixedLenFeature([], tf.int64),
        "species": tf.io.FixedLenFeature([], tf.int64),
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
        "image": tf.io.FixedLenFeature([], tf.string),
        "trimap": tf.io.FixedLenFeature([], tf.string),
    }
    for raw in tf.data.TFRecordDataset([str(path)]):
        ex = {k: v.numpy() for k, v in tf.io.parse_single_example(raw, spec).items()}
        h, w = int(ex["height"]), int(ex["width"])
        yield {
            "id": ex["id"].decode(),
            "animal_id": ex["animal_id"].decode(),
            "class_id": int(ex["class_id"]),
            "species": int(ex["species"]),
            "height": h,
            "width": w,
            "image": np.frombuffer(ex["image"], dtype=np.uint8).reshape(h, w, 3),
            "trimap": np.frombuffer(ex["trimap"], dtype=np.uint8).reshape(h, w),
        }


def all_records(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        split: [r for f in sorted((out / split).glob("*.tfrecord")) for r in read_records(f)]
        for split in SPLITS
    }


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_output_layout(prepared: Path) -> None:
    files = set(tree_bytes(prepared))
    assert {"stats.json", "splits.json", "provenance.jsonl"} <= files
    for split in SPLITS:
        assert f"{split}/index.json" in files
    shards = {f for f in files if f.endswith(".tfrecord")}
    assert "train/shard-00000.tfrecord" in shards
    assert files == {"stats.json", "splits.json", "provenance.jsonl"} | shards | {
        f"{s}/index.json" for s in SPLITS
    }
    assert not list(prepared.parent.glob(".prepared.partial-*"))


def test_records_round_trip_to_the_resized_arrays(prepared: Path, tiny_raw: Path) -> None:
    samples = manifest_samples(tiny_raw)
    records = all_records(prepared)
    seen = []
    for split, rows in records.items():
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)  # ordered by id
        for row in rows:
            sample = samples[row["id"]]
            assert split_of_bucket(md5_bucket(sample["animal_id"])) == split
            assert row["animal_id"] == sample["animal_id"]
            assert row["class_id"] == sample["class_id"]
            assert row["species"] == {"cat": 1, "dog": 2}[sample["species"]]
            assert (row["height"], row["width"]) == (HEIGHT, WIDTH)
            # Independent reference: Pillow straight from the raw files.
            image = Image.open(tiny_raw / sample["image"]).convert("RGB")
            trimap = Image.open(tiny_raw / sample["trimap"])
            expected_image = np.asarray(image.resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR))
            expected_trimap = np.asarray(trimap.resize((WIDTH, HEIGHT), Image.Resampling.NEAREST))
            np.testing.assert_array_equal(row["image"], expected_image)
            np.testing.assert_array_equal(row["trimap"], expected_trimap)
            assert set(np.unique(row["trimap"]).tolist()) <= {1, 2, 3}
            seen.append(row["id"])
    assert sorted(seen) == sorted(samples)  # every sample exactly once


def test_index_json_matches_the_shards(prepared: Path, tiny_params: Path) -> None:
    total = 0
    for split in SPLITS:
        index = json.loads((prepared / split / "index.json").read_text())
        assert index["split"] == split
        assert [s["file"] for s in index["shards"]] == [
            f"shard-{i:05d}.tfrecord" for i in range(len(index["shards"]))
        ]
        assert sum(s["count"] for s in index["shards"]) == index["count"]
        for shard in index["shards"]:
            path = prepared / split / shard["file"]
            assert shard["count"] == len(list(read_records(path)))
            assert shard["count"] <= 4  # shard_size in tiny_params
            assert shard["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        # all shards but the last are full
        assert all(s["count"] == 4 for s in index["shards"][:-1])
        total += index["count"]
    assert total == 20


def test_provenance_points_at_each_record(prepared: Path, tiny_raw: Path) -> None:
    samples = manifest_samples(tiny_raw)
    lines = (prepared / "provenance.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == len(samples)
    # ordered by split (train, validation, calibration, test), then id; keys sorted
    assert [(SPLITS.index(e["split"]), e["id"]) for e in entries] == sorted(
        (SPLITS.index(e["split"]), e["id"]) for e in entries
    )
    assert all(
        line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
        for line in lines
    )
    by_shard = {
        f"{split}/{shard.name}": [r["id"] for r in read_records(shard)]
        for split in SPLITS
        for shard in (prepared / split).glob("*.tfrecord")
    }
    for entry in entries:
        sample = samples[entry["id"]]
        assert by_shard[entry["shard"]][entry["index"]] == entry["id"]
        assert entry["animal_id"] == sample["animal_id"]
        assert entry["bucket"] == md5_bucket(sample["animal_id"])
        for key in (
            "image",
            "trimap",
            "image_sha256",
            "trimap_sha256",
            "raw_image_sha256",
            "raw_trimap_sha256",
        ):
            assert entry["source"][key] == sample[key]
        ops = [(t["op"], t.get("target")) for t in entry["transforms"]]
        assert ops == [
            ("decode", "image"),
            ("decode", "trimap"),
            ("resize", "image"),
            ("resize", "trimap"),
            ("encode", None),
        ]
        resize_image, resize_trimap = entry["transforms"][2], entry["transforms"][3]
        assert resize_image["method"] == "bilinear" and resize_trimap["method"] == "nearest"
        assert resize_image["from"] == [sample["height"], sample["width"]]
        assert resize_image["to"] == resize_trimap["to"] == [HEIGHT, WIDTH]
        assert entry["transforms"][4]["format"] == "raw-uint8"


def test_splits_json_is_consistent(prepared: Path, tiny_raw: Path) -> None:
    samples = manifest_samples(tiny_raw)
    doc = json.loads((prepared / "splits.json").read_text())
    assert doc["buckets"] == 10
    assert doc["assignment"] == {
        "train": [0, 1, 2, 3, 4, 5, 6],
        "validation": [7],
        "calibration": [8],
        "test": [9],
    }
    owner: dict[str, str] = {}
    for split in SPLITS:
        part = doc["splits"][split]
        assert part["count"] == len(part["images"]) > 0
        assert part["images"] == sorted(part["images"])
        assert part["animals"] == sorted({samples[i]["animal_id"] for i in part["images"]})
        for animal in part["animals"]:
            assert owner.setdefault(animal, split) == split  # one animal, one split
            assert split_of_bucket(md5_bucket(animal)) == split
    assert sorted(i for s in SPLITS for i in doc["splits"][s]["images"]) == sorted(samples)


def test_stats_come_from_the_train_records_only(prepared: Path) -> None:
    stats = json.loads((prepared / "stats.json").read_text())
    records = all_records(prepared)
    train = np.stack([r["image"] for r in records["train"]]).reshape(-1, 3) / 255.0
    assert stats["split"] == "train"
    assert stats["count_images"] == len(records["train"])
    assert stats["count_pixels"] == len(records["train"]) * HEIGHT * WIDTH
    assert stats["image_size"] == [HEIGHT, WIDTH]
    np.testing.assert_allclose(stats["mean"], train.mean(axis=0), atol=1e-8)
    np.testing.assert_allclose(stats["std"], train.std(axis=0), atol=1e-8)
    # The digest names exactly the train samples (what `pedigree audit` recomputes).
    ids_text = "".join(f"{i}\n" for i in sorted(r["id"] for r in records["train"]))
    assert stats["samples_sha256"] == hashlib.sha256(ids_text.encode()).hexdigest()
    # The red test images would have pulled the red mean up had they been included.
    assert records["test"] and all((r["image"] == TEST_COLOUR).all() for r in records["test"])
    everything = np.stack([r["image"] for rows in records.values() for r in rows]).reshape(-1, 3)
    assert (everything / 255.0).mean(axis=0)[0] - stats["mean"][0] > 0.05


def test_stats_ignore_a_distinctive_colour_outside_train(tmp_path: Path, tiny_params: Path) -> None:
    animals = animals_per_split({"train": 3, "validation": 1, "calibration": 1, "test": 2})
    split_of = {a: split_of_bucket(md5_bucket(a)) for a, _, _ in animals}
    colours = {
        "train": (100, 150, 200),
        "validation": (0, 255, 0),
        "calibration": (0, 0, 255),
        "test": TEST_COLOUR,
    }
    raw = build_raw(tmp_path, animals, colour_for=lambda a: colours[split_of[a]])
    assert run(tiny_params, raw, tmp_path / "out") == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["mean"] == [round(100 / 255, 8), round(150 / 255, 8), round(200 / 255, 8)]
    assert stats["std"] == [0.0, 0.0, 0.0]


def test_summary_is_printed(
    tiny_raw: Path, tiny_params: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tiny_params, tiny_raw, tmp_path / "out") == 0
    text = capsys.readouterr().out
    assert "transform: 20 samples" in text
    for split in SPLITS:
        assert split in text
    assert "shards" in text


def test_empty_splits_get_an_index_and_no_shards(tmp_path: Path, tiny_params: Path) -> None:
    raw = build_raw(tmp_path, animals_per_split({"train": 2}))
    out = tmp_path / "out"
    assert run(tiny_params, raw, out) == 0
    for split in ("validation", "calibration", "test"):
        assert sorted(p.name for p in (out / split).iterdir()) == ["index.json"]
        assert json.loads((out / split / "index.json").read_text()) == {
            "split": split,
            "count": 0,
            "shards": [],
        }
    assert json.loads((out / "splits.json").read_text())["splits"]["test"] == {
        "animals": [],
        "images": [],
        "count": 0,
    }


def test_no_train_sample_is_a_source_error(tmp_path: Path, tiny_params: Path) -> None:
    raw = build_raw(tmp_path, animals_per_split({"test": 1}))
    with pytest.raises(SourceError, match="no sample falls into the train split"):
        run(tiny_params, raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_params_are_located(tmp_path: Path, tiny_raw: Path) -> None:
    params = write_params(tmp_path / "params.yaml", test=[8])
    with pytest.raises(
        ParamsError,
        match=r"params\.yaml:8 \[transform\.split\]: bucket\(s\) 9 not assigned to any split.*"
        r"bucket 8 is assigned to calibration and test",
    ):
        run(params, tiny_raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_manifest_leaves_no_output(tmp_path: Path, tiny_params: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(SourceError, match=r"manifest\.json: manifest not found\n.*re-run ingest"):
        run(tiny_params, tmp_path / "raw", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def _edit_manifest(raw: Path, change: Any) -> None:
    doc = json.loads((raw / "manifest.json").read_text())
    change(doc["samples"])
    (raw / "manifest.json").write_text(json.dumps(doc))


def _rewrite_file(raw: Path, key: str, make: Callable[[int, int], bytes]) -> None:
    """Replace the file of sample 0 (made for its height, width) and update its hash, so only
    the content is wrong."""
    doc = json.loads((raw / "manifest.json").read_text())
    sample = doc["samples"][0]
    data = make(sample["height"], sample["width"])
    (raw / sample[key]).write_bytes(data)
    sample[f"{key}_sha256"] = hashlib.sha256(data).hexdigest()
    (raw / "manifest.json").write_text(json.dumps(doc))


def _png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _first(raw: Path, key: str) -> Path:
    return raw / json.loads((raw / "manifest.json").read_text())["samples"][0][key]


CORRUPTIONS = {
    "not json": (
        lambda raw: (raw / "manifest.json").write_text("{\n  'samples': "),
        r"manifest\.json:2: manifest is not valid JSON",
    ),
    "missing key": (
        lambda raw: _edit_manifest(raw, lambda s: s[3].pop("class_id")),
        r"invalid manifest at samples\[3\]\.class_id: Field required",
    ),
    "no samples": (
        lambda raw: _edit_manifest(raw, lambda s: s.clear()),
        r"manifest lists no samples",
    ),
    "duplicate id": (
        lambda raw: _edit_manifest(raw, lambda s: s.append(dict(s[0]))),
        r"sample id '\w+' appears more than once",
    ),
    "escaping path": (
        lambda raw: _edit_manifest(raw, lambda s: s[1].update(image="../x.jpg")),
        r"has image path '\.\./x\.jpg' outside data/raw",
    ),
    "missing file": (
        lambda raw: _first(raw, "trimap").unlink(),
        r"\.png: missing \(listed for sample '\w+' in .*manifest\.json\)",
    ),
    "changed bytes": (
        lambda raw: _first(raw, "image").write_bytes(b"not the original"),
        r"sha256 \w+\.\.\. does not match the manifest's",
    ),
    "undecodable": (
        lambda raw: _rewrite_file(raw, "image", lambda h, w: b"\x89PNG\r\n\x1a\n??"),
        r"cannot decode image",
    ),
    "bad label": (
        lambda raw: _rewrite_file(
            raw, "trimap", lambda h, w: _png(np.full((h, w), 7, np.uint8), "L")
        ),
        r"trimap holds value\(s\) 7; only 1, 2, 3 are labels",
    ),
    "rgb trimap": (
        lambda raw: _rewrite_file(
            raw, "trimap", lambda h, w: _png(np.ones((h, w, 3), np.uint8), "RGB")
        ),
        r"expected mode L, found RGB",
    ),
    "wrong size": (
        lambda raw: _rewrite_file(
            raw, "trimap", lambda h, w: _png(np.ones((h + 1, w), np.uint8), "L")
        ),
        r"size \d+x\d+ differs from the manifest's \d+x\d+ \(width x height\)",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_damaged_raw_is_a_source_error_and_keeps_the_old_output(
    case: str, tmp_path: Path, tiny_raw: Path, tiny_params: Path, prepared: Path
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(tiny_raw, raw)
    out = tmp_path / "prepared"
    shutil.copytree(prepared, out)  # a previous good output
    before = tree_bytes(out)
    damage, message = CORRUPTIONS[case]
    damage(raw)
    with pytest.raises(SourceError, match=message) as caught:
        run(tiny_params, raw, out)
    assert "re-run ingest" in str(caught.value)
    assert tree_bytes(out) == before  # untouched: outputs appear whole or not at all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared", "raw"]  # no partials


def test_byte_identical_across_processes(
    tmp_path: Path, tiny_raw: Path, tiny_params: Path, prepared: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "random"}
    first = tmp_path / "first"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.transform",
            "--params",
            str(tiny_params),
            "--raw",
            str(tiny_raw),
            "--out",
            str(first),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # Second run from another folder with the default paths (params.yaml, data/raw, data/prepared).
    work = tmp_path / "work"
    shutil.copytree(tiny_raw, work / "data" / "raw")
    shutil.copy(tiny_params, work / "params.yaml")
    subprocess.run(
        [sys.executable, "-m", "stages.transform"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    a, b = tree_bytes(first), tree_bytes(work / "data" / "prepared")
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs between runs"
    assert a == tree_bytes(prepared)  # and equal to the in-process run


def test_cli_error_is_one_line_with_exit_code_2(tmp_path: Path, tiny_raw: Path) -> None:
    params = write_params(tmp_path / "params.yaml", shard_size=0)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.transform",
            "--params",
            str(params),
            "--raw",
            str(tiny_raw),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "params.yaml:7 [transform.shard_size]" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
