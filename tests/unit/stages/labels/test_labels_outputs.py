"""The outputs on their own: ranking, number formats, the figure's pixels, the atomic write."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages.labels import outputs
from stages.labels.audit import Audit
from stages.labels.figure import GAP, PALETTE, draw, figure_shape, panel_size, png_base64
from stages.labels.params import DEFAULT_EXAMPLES, DEFAULT_THRESHOLD, LabelsParams
from stages.labels.provenance import Source
from stages.labels.samples import Samples


def _samples(n: int = 3, size: int = 4) -> Samples:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=(n, size, size)).astype(np.float32)
    return Samples(
        ids=tuple(f"s{i}" for i in range(n)),
        classes=("pet", "background", "border"),
        size=size,
        probabilities=np.ascontiguousarray(np.moveaxis(probabilities, -1, 1)),
        labels=rng.integers(0, 3, (n, size, size)).astype(np.uint8),
        images=rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8),
        runs=np.array([1, 2, 3][:n]),
        run_names=("a", "b"),
    )


def _audit(fractions: list[float]) -> Audit:
    f = np.array(fractions, dtype=np.float64)
    return Audit(scores=1.0 - f, wrong_pixel_fraction=f, cleanlab_version="2.9.0")


def test_defaults() -> None:
    params = LabelsParams()
    assert (params.threshold, params.examples) == (DEFAULT_THRESHOLD, DEFAULT_EXAMPLES)
    assert (DEFAULT_THRESHOLD, DEFAULT_EXAMPLES) == (0.04, 4)


def test_rank_worst_first_ties_by_id() -> None:
    rows = outputs.rank(_samples(), _audit([0.1, 0.5, 0.1]), threshold=0.1)
    assert [r.id for r in rows] == ["s1", "s0", "s2"]
    # Above, not at, the threshold is flagged.
    assert [r.flagged for r in rows] == [True, False, False]
    assert [r.runs for r in rows] == [2, 1, 3]


def test_csv_numbers_have_six_fixed_decimals() -> None:
    samples = _samples(2)
    rows = outputs.rank(samples, _audit([1e-7, 0.0000014]), threshold=0.5)
    sources = {
        i: Source(f"data/raw/t/{i}.png", "ab" * 32, f"data/prepared/provenance.jsonl#id={i}")
        for i in samples.ids
    }
    text = outputs.csv_bytes(rows, sources).decode("utf-8")
    assert text.splitlines() == [
        "id,score,wrong_pixel_fraction,flagged,runs,trimap,trimap_sha256,provenance",
        f"s1,0.999999,0.000001,false,2,data/raw/t/s1.png,{'ab' * 32},"
        "data/prepared/provenance.jsonl#id=s1",
        f"s0,1.000000,0.000000,false,1,data/raw/t/s0.png,{'ab' * 32},"
        "data/prepared/provenance.jsonl#id=s0",
    ]


def test_json_bytes_are_sorted_ascii_with_a_newline() -> None:
    data = outputs.json_bytes({"b": 1, "a": "é"})
    assert data == b'{\n  "a": "\\u00e9",\n  "b": 1\n}\n'


def test_figure_rows_show_image_given_and_suggested() -> None:
    samples = _samples(3, size=4)
    picture = draw(samples, [2, 0])
    width, height = figure_shape(2, 4)
    assert picture.shape == (height, width, 3)
    side = panel_size(4)
    assert side == 128 and side % 4 == 0
    factor = side // 4
    top, left = GAP + side + GAP, GAP  # second row (sample 0), first panel
    row = picture[top : top + side]
    image = row[:, left : left + side]
    assert np.array_equal(image[::factor, ::factor], samples.images[0])
    given = row[:, left + side + GAP : left + 2 * side + GAP]
    assert np.array_equal(given[::factor, ::factor], PALETTE[samples.labels[0]])
    suggested = row[:, left + 2 * (side + GAP) : left + 3 * side + 2 * GAP]
    argmax = samples.probabilities[0].argmax(axis=0)
    assert np.array_equal(suggested[::factor, ::factor], PALETTE[argmax])
    assert (picture[:GAP] == 255).all()  # a white margin


def test_png_is_deterministic_and_decodes() -> None:
    samples = _samples(2, size=64)
    first, second = png_base64(samples, [1, 0]), png_base64(samples, [1, 0])
    assert first is not None and first == second
    with Image.open(io.BytesIO(base64.b64decode(first))) as image:
        assert image.size == figure_shape(2, 64) == (3 * 128 + 4 * GAP, 2 * 128 + 3 * GAP)
        assert np.array_equal(np.asarray(image), draw(samples, [1, 0]))
    assert png_base64(samples, []) is None


def test_write_files_puts_all_in_place(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    (tmp_path / "reports").mkdir()
    (out / ".a.csv.partial-1").write_bytes(b"left by a killed run")
    outputs.write_files(out, {"a.csv": b"A", "b.json": b"B"})
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.json"]
    assert (out / "a.csv").read_bytes() == b"A"


def test_write_files_failure_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports"
    outputs.write_files(out, {"a.csv": b"old A", "b.json": b"old B"})
    calls = []
    real = Path.write_bytes

    def failing(self: Path, data: bytes) -> int:
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OSError, match="^disk full$"):
        outputs.write_files(out, {"a.csv": b"new A", "b.json": b"new B"})
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.json"]
    assert (out / "a.csv").read_bytes() == b"old A"
    assert (out / "b.json").read_bytes() == b"old B"
