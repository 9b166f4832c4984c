"""Every bad input stops the audit with a message naming the file and what is wrong, and
nothing is written: params, run folders, the combination of runs, provenance, cleanlab."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pedigree.errors import ParamsError, SourceError, ToolError
from stages.labels.__main__ import main
from stages.labels.figure import PALETTE
from stages.labels.outputs import ISSUES_CSV, ISSUES_JSON
from stages.labels.runs import MAX_CLASSES, read_run
from stages.labels.samples import combine
from tests.unit.stages.labels.simulate import CLASSES, argv, world, write_inputs, write_run

RUN = "fold-0-seed-1"


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """A small valid set of inputs: 12 images of 16x16, 2 folds x 2 seeds."""
    return write_inputs(tmp_path, world(12, 16, seed=1), [1, 2], 2)


def _index(paths: dict[str, Path], run: str = RUN) -> Path:
    return paths["predictions"] / run / "index.json"


def _edit_index(paths: dict[str, Path], run: str = RUN, **changes: object) -> None:
    doc = json.loads(_index(paths, run).read_text(encoding="utf-8"))
    doc.update(changes)
    _index(paths, run).write_text(json.dumps(doc), encoding="utf-8")


def _edit_array(paths: dict[str, Path], name: str, change, run: str = RUN) -> None:  # type: ignore[no-untyped-def]
    file = paths["predictions"] / run / name
    np.save(file, change(np.load(file)))


def _fails(paths: dict[str, Path], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        main(argv(paths))
    out = paths["out"]
    assert not (out / ISSUES_CSV).exists() and not (out / ISSUES_JSON).exists()


def _params(paths: dict[str, Path], text: str) -> None:
    paths["params"].write_text(text, encoding="utf-8")


# --- params -------------------------------------------------------------------------------------


def test_missing_params_section(paths: dict[str, Path]) -> None:
    _params(paths, "evaluate: {}\n")
    _fails(paths, ParamsError, r"params\.yaml \[labels\]: section 'labels' is missing")


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("0", r"\[labels\.threshold\]: .*greater than 0"),
        ("1.5", r"\[labels\.threshold\]: .*less than 1"),
        (".nan", r"\[labels\.threshold\]: Input should be greater than 0 \(got nan\)"),
        ("'0.05'", r"\[labels\.threshold\]: .*threshold must be a number between 0 and 1"),
        ("true", r"\[labels\.threshold\]: .*threshold must be a number between 0 and 1"),
    ],
    ids=["zero", "above-one", "nan", "string", "bool"],
)
def test_bad_threshold(paths: dict[str, Path], value: str, pattern: str) -> None:
    _params(paths, f"labels:\n  threshold: {value}\n")
    _fails(paths, ParamsError, r"params\.yaml:2 " + pattern)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("labels:\n  examples: 33\n", r"\[labels\.examples\]: .*less than or equal to 32"),
        ("labels:\n  examples: 2.0\n", r"\[labels\.examples\]: .*valid integer"),
        (
            "labels:\n  treshold: 0.1\n",
            r"\[labels\.treshold\]: unknown key 'treshold' \(hint: did you mean 'threshold'\?\)",
        ),
    ],
    ids=["too-many-examples", "float-examples", "unknown-key"],
)
def test_bad_params(paths: dict[str, Path], text: str, pattern: str) -> None:
    _params(paths, text)
    _fails(paths, ParamsError, pattern)


# --- one run folder -----------------------------------------------------------------------------


def test_bad_schema(paths: dict[str, Path]) -> None:
    _edit_index(paths, schema="pedigree.predictions/v0")
    _fails(
        paths,
        SourceError,
        r"fold-0-seed-1/index\.json: schema must be 'pedigree\.predictions/v1' "
        r"\(got 'pedigree\.predictions/v0'\)",
    )


def test_index_not_json(paths: dict[str, Path]) -> None:
    _index(paths).write_text("{", encoding="utf-8")
    _fails(paths, SourceError, r"fold-0-seed-1/index\.json: is not valid JSON")


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"ids": []}, r"'ids' is empty"),
        ({"ids": "pet_0000"}, r"'ids' must be a list of non-empty strings"),
        ({"classes": ["pet"]}, rf"'classes' must name 2 to {MAX_CLASSES} classes \(got 1\)"),
        ({"classes": ["pet", "pet", "x"]}, r"'classes' lists 'pet' twice"),
        ({"size": True}, r"'size' must be a positive integer \(got True\)"),
        ({"split": ""}, r"'split' must be a non-empty string"),
        ({"calibrated": "yes"}, r"'calibrated' must be true or false"),
        ({"temperature": 0}, r"'temperature' must be a positive number \(got 0\)"),
    ],
    ids=["no-ids", "ids-not-list", "one-class", "class-twice", "bool-size", "split", "calib", "T"],
)
def test_bad_index_fields(paths: dict[str, Path], changes: dict[str, object], pattern: str) -> None:
    _edit_index(paths, **changes)
    _fails(paths, SourceError, r"fold-0-seed-1/index\.json: " + pattern)


def test_ids_unique_within_a_run(paths: dict[str, Path]) -> None:
    ids = json.loads(_index(paths).read_text(encoding="utf-8"))["ids"]
    _edit_index(paths, ids=[ids[0], *ids[:-1]])
    _fails(paths, SourceError, rf"index\.json: 'ids' lists '{ids[0]}' twice")


def test_probabilities_channel_first_is_a_shape_mismatch(paths: dict[str, Path]) -> None:
    _edit_array(paths, "probabilities.npy", lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 1)))
    _fails(
        paths,
        SourceError,
        r"fold-0-seed-1/probabilities\.npy: shape must be \(6, 16, 16, 3\) "
        r"\(got \(6, 3, 16, 16\)\)",
    )


@pytest.mark.parametrize(
    ("name", "change", "pattern"),
    [
        ("labels.npy", lambda a: a[:-1], r"labels\.npy: shape must be \(6, 16, 16\)"),
        ("images.npy", lambda a: a[..., :1], r"images\.npy: shape must be \(6, 16, 16, 3\)"),
        (
            "probabilities.npy",
            lambda a: a.astype(np.float32),
            r"probabilities\.npy: dtype must be float16 \(got float32\)",
        ),
        (
            "labels.npy",
            lambda a: a.astype(np.int64),
            r"labels\.npy: dtype must be uint8 \(got int64\)",
        ),
        (
            "labels.npy",
            lambda a: np.full_like(a, 3),
            r"labels\.npy: holds class index 3, but index\.json names only 3 classes",
        ),
    ],
    ids=["labels-shape", "images-shape", "probs-dtype", "labels-dtype", "label-range"],
)
def test_bad_arrays(paths: dict[str, Path], name: str, change, pattern: str) -> None:  # type: ignore[no-untyped-def]
    _edit_array(paths, name, change)
    _fails(paths, SourceError, r"fold-0-seed-1/" + pattern)


def test_non_finite_probabilities(paths: dict[str, Path]) -> None:
    def poison(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[2, 5, 7, 1] = np.nan
        return a

    _edit_array(paths, "probabilities.npy", poison)
    _fails(
        paths,
        SourceError,
        r"probabilities\.npy: holds non-finite values \(first at index \(2, 5, 7, 1\)\)",
    )


def test_probabilities_must_be_a_softmax(paths: dict[str, Path]) -> None:
    _edit_array(paths, "probabilities.npy", lambda a: (a * 0.5).astype(np.float16))
    _fails(paths, SourceError, r"probabilities\.npy: probabilities must sum to 1 over the last")


def test_missing_and_unreadable_arrays(paths: dict[str, Path]) -> None:
    (paths["predictions"] / RUN / "images.npy").unlink()
    _fails(paths, SourceError, r"fold-0-seed-1/images\.npy: is missing")
    (paths["predictions"] / RUN / "images.npy").write_bytes(b"not an array")
    _fails(paths, SourceError, r"fold-0-seed-1/images\.npy: is not a readable \.npy array")


def test_no_runs(paths: dict[str, Path]) -> None:
    for run in paths["predictions"].iterdir():
        for file in run.iterdir():
            file.unlink()
        run.rmdir()
    _fails(paths, SourceError, r"predictions holds no prediction runs \(no sub-folders\)")
    paths["predictions"].rmdir()
    _fails(paths, SourceError, r"predictions is not a folder of prediction runs")
    with pytest.raises(SourceError, match=r"^there are no prediction runs to audit"):
        combine([])


# --- runs together ------------------------------------------------------------------------------


def test_labels_disagreeing_between_runs(paths: dict[str, Path]) -> None:
    def flip(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[1, :2, :2] = (a[1, :2, :2] + 1) % 3
        return a

    _edit_array(paths, "labels.npy", flip, run="fold-0-seed-2")
    ids = json.loads(_index(paths).read_text(encoding="utf-8"))["ids"]
    _fails(
        paths,
        SourceError,
        rf"sample '{ids[1]}': labels\.npy of runs fold-0-seed-1 and fold-0-seed-2 disagree in "
        r"4 pixel\(s\)",
    )


def test_runs_with_different_classes(paths: dict[str, Path]) -> None:
    _edit_index(paths, run="fold-1-seed-2", classes=["cat", "background", "border"])
    _fails(paths, SourceError, r"runs fold-0-seed-1 and fold-1-seed-2 name different classes")


def test_several_seeds_are_averaged(tmp_path: Path) -> None:
    ids = ["b", "a"]
    labels = np.zeros((2, 2, 2), dtype=np.uint8)
    images = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    one = np.broadcast_to(np.array([0.5, 0.25, 0.25], np.float32), (2, 2, 2, 3))
    two = np.broadcast_to(np.array([0.25, 0.25, 0.5], np.float32), (2, 2, 2, 3))
    first = read_run(write_run(tmp_path / "s1", ids, one, labels, images))
    # The second seed predicted only "a".
    second = read_run(write_run(tmp_path / "s2", ["a"], two[:1], labels[:1], images[:1]))
    samples = combine([second, first])
    assert samples.ids == ("a", "b")
    assert samples.run_names == ("s1", "s2")
    assert samples.runs.tolist() == [2, 1]
    assert samples.probabilities.shape == (2, 3, 2, 2)  # channel first, for cleanlab
    assert samples.probabilities.dtype == np.float32
    np.testing.assert_allclose(samples.probabilities[0, :, 0, 0], [0.375, 0.25, 0.375])
    np.testing.assert_allclose(samples.probabilities[1, :, 0, 0], [0.5, 0.25, 0.25])


# --- provenance ---------------------------------------------------------------------------------


def test_provenance_missing_a_sample(paths: dict[str, Path]) -> None:
    lines = paths["provenance"].read_text(encoding="utf-8").splitlines()
    paths["provenance"].write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    _fails(
        paths,
        SourceError,
        r"provenance\.jsonl has no line for predicted sample\(s\) \['pet_0000'\]",
    )


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("{", r"provenance\.jsonl:1: not a JSON object"),
        ('{"split": "train"}', r"provenance\.jsonl:1: has no 'id' string"),
        ('{"id": "pet_0000"}', r"provenance\.jsonl:1: sample 'pet_0000' has no 'source' object"),
        (
            '{"id": "pet_0000", "source": {"trimap": "../x.png", "trimap_sha256": "ab"}}',
            r"provenance\.jsonl:1: sample 'pet_0000': 'source\.trimap' '\.\./x\.png' leaves data/raw",
        ),
        (
            '{"id": "pet_0000", "source": {"trimap": "t.png"}}',
            r"provenance\.jsonl:1: sample 'pet_0000' has no 'source\.trimap_sha256'",
        ),
    ],
    ids=["json", "no-id", "no-source", "escape", "no-sha"],
)
def test_bad_provenance_line(paths: dict[str, Path], line: str, pattern: str) -> None:
    lines = paths["provenance"].read_text(encoding="utf-8").splitlines()
    paths["provenance"].write_text("\n".join([line, *lines[1:]]) + "\n", encoding="utf-8")
    _fails(paths, SourceError, pattern)


def test_provenance_sample_twice(paths: dict[str, Path]) -> None:
    lines = paths["provenance"].read_text(encoding="utf-8").splitlines()
    paths["provenance"].write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    _fails(paths, SourceError, r"provenance\.jsonl:13: id 'pet_0001' again \(first on line 2\)")


def test_provenance_missing(paths: dict[str, Path]) -> None:
    paths["provenance"].unlink()
    _fails(paths, SourceError, r"provenance\.jsonl is missing")


# --- cleanlab -----------------------------------------------------------------------------------


def test_cleanlab_missing_says_how_to_install(
    paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import cleanlab` raise ImportError, as when it is not installed.
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    _fails(paths, ToolError, re.escape("pip install 'pedigree[labels]'"))
    assert ToolError.exit_code == 4


def test_palette_has_a_colour_per_class() -> None:
    assert len(PALETTE) >= MAX_CLASSES >= len(CLASSES)
    assert len({tuple(c) for c in PALETTE.tolist()}) == len(PALETTE)
