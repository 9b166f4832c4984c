"""The label audit end to end on a seeded simulation with a known set of corrupted labels.

The simulation (simulate.py): 200 images of 32x32, 3 classes, pets with thin tails; out-of-fold
predictions of 5 folds x 2 seeds from a decent but imperfect model (it misses most tails and
makes a few confident blob errors per image, ~94% pixel accuracy); 10% of the given labels (20
images) shifted, dilated or eroded by at least 10% of the pet's pixels.

The bars, and why: over ten simulated worlds (seeds 0-9) of this size the top-20 of the ranking
held at least 19 of the 20 corrupted images (mean 0.98), and at the default threshold (0.04) the
flagged set had precision >= 0.90 (mean 0.99) and recall >= 0.95 (mean 0.98). The bars below sit
a little under those minima, so the test fails when the method gets clearly worse (with
cleanlab's default softmin score the top-20 held only 6 or 7 of the 20) but not on
a rounding change in a dependency.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages.labels.__main__ import main
from stages.labels.audit import METHOD
from stages.labels.figure import figure_shape
from stages.labels.outputs import COLUMNS, ISSUES_CSV, ISSUES_JSON, SCHEMA
from stages.labels.params import DEFAULT_THRESHOLD
from stages.labels.runs import read_run, run_folders
from stages.labels.samples import combine
from tests.unit.stages.labels.simulate import World, argv, world, write_inputs

N, SIZE, SEEDS, FOLDS = 200, 32, [1, 2], 5
THRESHOLD, EXAMPLES = DEFAULT_THRESHOLD, 4
TOP_N_BAR = 0.9  # precision (= recall) among the N worst, N = number corrupted
FLAGGED_PRECISION_BAR, FLAGGED_RECALL_BAR = 0.85, 0.9
REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def simulated() -> World:
    return world(N, SIZE, seed=0)


@pytest.fixture(scope="module")
def audited(simulated: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The stage run once on the simulation: its input and output paths."""
    root = tmp_path_factory.mktemp("audit")
    paths = write_inputs(root, simulated, SEEDS, FOLDS, examples=EXAMPLES)  # default threshold
    assert main(argv(paths)) == 0
    return paths


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / ISSUES_CSV).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_finds_the_corrupted_labels(simulated: World, audited: dict[str, Path]) -> None:
    rows = _rows(audited["out"])
    corrupted = simulated.corrupted
    n = len(corrupted)
    top = {row["id"] for row in rows[:n]}
    precision_at_n = len(top & corrupted) / n
    recall_at_n = len(top & corrupted) / len(corrupted)
    flagged = {row["id"] for row in rows if row["flagged"] == "true"}
    hits = len(flagged & corrupted)
    precision = hits / max(1, len(flagged))
    recall = hits / len(corrupted)
    print(
        f"\nlabel audit on {N} images {SIZE}x{SIZE}, {len(corrupted)} corrupted, "
        f"{len(SEEDS)} seeds x {FOLDS} folds:\n"
        f"  top-{n}: precision {precision_at_n:.3f} recall {recall_at_n:.3f}\n"
        f"  flagged at threshold {THRESHOLD}: {len(flagged)} images, precision {precision:.3f} "
        f"recall {recall:.3f}"
    )
    assert precision_at_n >= TOP_N_BAR
    assert recall_at_n >= TOP_N_BAR
    assert precision >= FLAGGED_PRECISION_BAR
    assert recall >= FLAGGED_RECALL_BAR


def test_csv_rows_are_ranked_and_complete(simulated: World, audited: dict[str, Path]) -> None:
    text = (audited["out"] / ISSUES_CSV).read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert "\r" not in text
    rows = _rows(audited["out"])
    assert sorted(row["id"] for row in rows) == simulated.ids
    keys = [(float(row["score"]), row["id"]) for row in rows]
    assert keys == sorted(keys)
    for row in rows:
        score, fraction = float(row["score"]), float(row["wrong_pixel_fraction"])
        assert len(row["score"].split(".")[1]) == 6
        assert score == pytest.approx(1 - fraction, abs=2e-6)
        assert row["flagged"] == ("true" if fraction > THRESHOLD else "false")
        assert row["runs"] == str(len(SEEDS))
        assert row["trimap"] == f"data/raw/annotations/trimaps/{row['id']}.png"
        assert row["provenance"] == f"data/prepared/provenance.jsonl#id={row['id']}"
        assert len(row["trimap_sha256"]) == 64


def test_json_summarises_the_csv(audited: dict[str, Path]) -> None:
    doc = json.loads((audited["out"] / ISSUES_JSON).read_text(encoding="utf-8"))
    rows = _rows(audited["out"])
    assert sorted(doc) == [
        "cleanlab",
        "figure",
        "flagged",
        "images",
        "method",
        "runs",
        "schema",
        "threshold",
        "worst",
    ]
    assert doc["schema"] == SCHEMA
    assert doc["method"] == METHOD
    assert doc["cleanlab"] == "2.9.0"
    assert doc["threshold"] == THRESHOLD
    assert doc["images"] == N
    assert doc["runs"] == sorted(f"fold-{f}-seed-{s}" for f in range(FOLDS) for s in SEEDS)
    assert doc["flagged"] == [row["id"] for row in rows if row["flagged"] == "true"]
    assert doc["worst"] == [
        {
            "id": row["id"],
            "score": float(row["score"]),
            "wrong_pixel_fraction": float(row["wrong_pixel_fraction"]),
        }
        for row in rows[:EXAMPLES]
    ]


def test_figure_is_a_png_of_the_expected_size(audited: dict[str, Path]) -> None:
    doc = json.loads((audited["out"] / ISSUES_JSON).read_text(encoding="utf-8"))
    data = base64.b64decode(doc["figure"], validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGB"
        assert image.size == figure_shape(EXAMPLES, SIZE)


def test_same_inputs_give_byte_identical_files(
    simulated: World, audited: dict[str, Path], tmp_path: Path
) -> None:
    # A second, independent copy of the inputs elsewhere: nothing of the path may leak in.
    again = write_inputs(tmp_path, simulated, SEEDS, FOLDS, examples=EXAMPLES)
    assert main(argv(again)) == 0
    for name in (ISSUES_CSV, ISSUES_JSON):
        assert (again["out"] / name).read_bytes() == (audited["out"] / name).read_bytes(), name
    assert sorted(p.name for p in again["out"].iterdir()) == [ISSUES_CSV, ISSUES_JSON]


def test_score_is_cleanlabs_num_pixel_issues_score(audited: dict[str, Path]) -> None:
    from cleanlab.segmentation.rank import get_label_quality_scores

    samples = combine([read_run(f) for f in run_folders(audited["predictions"])])
    scores, _ = get_label_quality_scores(
        samples.labels.astype(np.int64),
        samples.probabilities,
        method="num_pixel_issues",
        batch_size=1 << 24,
        n_jobs=1,
        verbose=False,
    )
    ours = {row["id"]: float(row["score"]) for row in _rows(audited["out"])}
    assert [ours[i] for i in samples.ids] == pytest.approx(scores.tolist(), abs=1e-6)


def test_examples_zero_gives_no_figure(simulated: World, tmp_path: Path) -> None:
    small = world(20, 16, seed=3)
    paths = write_inputs(tmp_path, small, [1], 2, examples=0)
    assert main(argv(paths)) == 0
    doc = json.loads((paths["out"] / ISSUES_JSON).read_text(encoding="utf-8"))
    assert doc["figure"] is None
    assert doc["worst"] == []
    assert doc["threshold"] == 0.04  # the default


def test_leaves_other_files_in_out_alone(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, world(20, 16, seed=4), [1], 2)
    paths["out"].mkdir()
    (paths["out"] / "metrics.json").write_text("{}\n", encoding="utf-8")
    assert main(argv(paths)) == 0
    assert sorted(p.name for p in paths["out"].iterdir()) == [
        ISSUES_CSV,
        ISSUES_JSON,
        "metrics.json",
    ]


def test_command_line_exit_codes(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, world(20, 16, seed=5), [1], 2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "stages.labels", *argv(paths)]
    ok = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "labels: 20 images from 2 run(s)" in ok.stdout
    (paths["predictions"] / "fold-0-seed-1" / "index.json").write_text("[]", encoding="utf-8")
    bad = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ")
    assert "index.json: must be a JSON object (got list)" in bad.stderr


def test_cleanlab_is_imported_only_when_auditing() -> None:
    code = (
        "import sys, stages.labels.__main__, stages.labels.audit; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cleanlab', 'sklearn')))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
