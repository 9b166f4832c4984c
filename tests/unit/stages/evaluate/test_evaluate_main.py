"""The evaluate stage end to end: papermill runs the real notebook in a real kernel.

Each run starts a kernel that imports TensorFlow (several seconds), so the two successful runs
are shared by the module (`runs`): both run with the same inputs from two different working
folders into `reports`, which must give byte-identical files. Input errors are caught before a
kernel starts, except a damaged model, which only Keras (in the kernel) can recognise.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from pedigree.errors import ParamsError, PedigreeError, SourceError
from pedigree.stagekit import sha256_file, sha256_tree
from stages.common.metrics import CLASS_NAMES
from stages.evaluate import predictions
from stages.evaluate.__main__ import HTML_OUT, NOTEBOOK_OUT, carry_over, main
from stages.evaluate.outputs import EVALUATION_JSON, METRICS_JSON, RESULT_CSV
from tests.support.predictions import read_predictions
from tests.unit.stages.calibrate.conftest import SIZE
from tests.unit.stages.evaluate.conftest import (
    LABELS_CSV_HEADER,
    LABELS_PLACEHOLDER,
    TEMPERATURE,
    audit_doc,
    evaluate_params,
    stage_argv,
    tiny_png,
    write_label_placeholder,
)

FILES = sorted([METRICS_JSON, RESULT_CSV, EVALUATION_JSON, NOTEBOOK_OUT, HTML_OUT])
PREDICTION_FILES = [f"{predictions.FOLDER}/{name}" for name in sorted(predictions.FILES)]
LABELS = "reports/label_issues.json"  # the placeholder, already in reports/ as in the project
HEADINGS = [
    "Evaluation report",
    "Segmentation metrics",
    "Confusion matrix",
    "Calibration",
    "Predictions",
    "Training curves",
    "Hyperparameters",
    "Replicates",
    "Label audit",
    "Provenance",
]
CSV_ROWS = [
    "mean_iou",
    "mean_dice",
    "pixel_accuracy",
    "iou_pet",
    "iou_background",
    "iou_border",
    "dice_pet",
    "dice_background",
    "dice_border",
    "ece",
    "nll",
]


@pytest.fixture(scope="module")
def runs(
    calib_prepared: Path,
    tiny_model: Path,
    eval_inputs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[tuple[Path, str]]:
    """Two runs with the same inputs: (reports folder, what the stage printed).

    reports/ already holds the label audit's placeholder files, which evaluate reads (--labels)
    and must leave as they are when it replaces the folder."""
    done = []
    for name in ("first", "second"):
        cwd = tmp_path_factory.mktemp(f"eval-{name}")
        write_label_placeholder(cwd / "reports")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYTHONHASHSEED", "0")
            patch.chdir(cwd)
            argv = [
                *stage_argv(eval_inputs, calib_prepared, tiny_model, Path("reports")),
                "--labels",
                LABELS,
            ]
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                assert main(argv) == 0
        done.append((cwd / "reports", printed.getvalue()))
    return done


@pytest.fixture(scope="module")
def out(runs: list[tuple[Path, str]]) -> Path:
    return runs[0][0]


@pytest.fixture(autouse=True)
def hash_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "0")


def _all_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_all_outputs_and_nothing_else(out: Path, runs: list[tuple[Path, str]]) -> None:
    carried = ["label_issues.csv", "label_issues.json"]
    assert _all_files(out) == sorted([*FILES, *PREDICTION_FILES, *carried])
    # the label audit's files were in reports/ before: carried over, byte for byte
    assert (out / "label_issues.json").read_text(encoding="utf-8") == LABELS_PLACEHOLDER
    assert (out / "label_issues.csv").read_text(encoding="utf-8") == LABELS_CSV_HEADER
    assert not list(out.parent.glob(".reports.partial-*"))
    lines = runs[0][1].strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("evaluate: 1 test images in ")
    assert lines[2] == "  -> reports"


def test_second_run_is_byte_identical(runs: list[tuple[Path, str]]) -> None:
    (first, _), (second, _) = runs
    assert first != second
    assert _all_files(first) == _all_files(second)
    for name in _all_files(first):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_metrics_json_shape_and_ranges(out: Path, calib_prepared: Path) -> None:
    text = (out / METRICS_JSON).read_text()
    metrics = json.loads(text)
    assert text == json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    assert set(metrics) == {
        "split", "images", "pixels", "mean_iou", "mean_dice", "pixel_accuracy",
        "iou", "dice", "ece", "nll", "temperature",
    }  # fmt: skip
    images = json.loads((calib_prepared / "test" / "index.json").read_text())["count"]
    assert metrics["split"] == "test" and metrics["images"] == images > 0
    assert metrics["pixels"] == images * SIZE * SIZE
    for key in ("iou", "dice"):
        assert set(metrics[key]) == set(CLASS_NAMES)
        assert all(0.0 <= v <= 1.0 for v in metrics[key].values())
    for key in ("mean_iou", "mean_dice", "pixel_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["ece"]) == set(metrics["nll"]) == {"original", "calibrated"}
    assert all(0.0 <= v <= 1.0 for v in metrics["ece"].values())
    assert all(v > 0 for v in metrics["nll"].values())
    assert metrics["temperature"] == TEMPERATURE
    # Six decimals at most, everywhere.
    assert not re.search(r"\d\.\d{7,}", text)


def test_metrics_match_an_independent_pass(
    out: Path, calib_prepared: Path, tiny_model: Path
) -> None:
    import tensorflow as tf

    from stages.common.data import SplitReader, dataset
    from stages.common.metrics import confusion, nll, scores
    from stages.common.modelio import load_model

    reader = SplitReader(calib_prepared, {"test"}, "evaluate-test")
    data = dataset(tf, reader.files("test"), reader.stats(), SIZE, 8, 1234, training=False)
    model = load_model(tiny_model)
    pairs = [(np.asarray(model(x, training=False)), np.asarray(y)) for x, y in data]
    logits = np.concatenate([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs])
    expected = scores(confusion(labels, logits.argmax(-1)))
    metrics = json.loads((out / METRICS_JSON).read_text())
    assert metrics["mean_iou"] == pytest.approx(expected["mean_iou"], abs=2e-6)
    assert metrics["pixel_accuracy"] == pytest.approx(expected["pixel_accuracy"], abs=2e-6)
    assert metrics["nll"]["original"] == pytest.approx(nll(logits, labels), abs=1e-5)
    assert metrics["nll"]["calibrated"] == pytest.approx(nll(logits, labels, TEMPERATURE), abs=1e-5)
    assert metrics["nll"]["calibrated"] != metrics["nll"]["original"]


def test_predictions_are_the_calibrated_model_on_every_test_image(
    out: Path, calib_prepared: Path, tiny_model: Path
) -> None:
    import tensorflow as tf

    from stages.common.data import SplitReader, dataset
    from stages.common.metrics import log_softmax
    from stages.common.modelio import load_model
    from stages.evaluate.compute import read_sample_ids

    found = read_predictions(out / predictions.FOLDER)
    reader = SplitReader(calib_prepared, {"test"}, "evaluate-test")
    files, stats = reader.files("test"), reader.stats()
    assert found.index == {
        "schema": "pedigree.predictions/v1",
        "split": "test",
        "ids": read_sample_ids(tf, files),
        "classes": list(CLASS_NAMES),
        "size": SIZE,
        "calibrated": True,
        "temperature": TEMPERATURE,
    }
    metrics = json.loads((out / METRICS_JSON).read_text())
    n = metrics["images"]
    assert found.probabilities.shape == (n, SIZE, SIZE, 3) and found.images.shape[0] == n
    data = dataset(tf, files, stats, SIZE, 8, 1234, training=False)
    model = load_model(tiny_model)
    pairs = [(np.asarray(model(x, training=False)), np.asarray(x), np.asarray(y)) for x, y in data]
    logits = np.concatenate([p[0] for p in pairs])
    inputs = np.concatenate([p[1] for p in pairs])
    labels = np.concatenate([p[2] for p in pairs])
    expected = np.exp(log_softmax(logits.reshape(-1, 3), TEMPERATURE)).reshape(logits.shape)
    assert np.abs(found.probabilities.astype(np.float64) - expected).max() < 1e-3
    assert (found.labels == labels).all()
    # the stored pixels come back exactly (the model's side is the stored side here)
    assert (found.images == predictions.image_pixels(inputs, stats["mean"], stats["std"])).all()
    restored = (found.images / 255.0 - np.asarray(stats["mean"])) / np.asarray(stats["std"])
    assert np.abs(restored - inputs).max() < 1e-4
    # what the metrics count is what the probabilities say
    predicted = found.probabilities.argmax(-1)
    accuracy = float((predicted == found.labels).mean())
    assert accuracy == pytest.approx(metrics["pixel_accuracy"], abs=2e-3)


def test_result_csv(out: Path) -> None:
    metrics = json.loads((out / METRICS_JSON).read_text())
    with (out / RESULT_CSV).open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["metric", "original_model", "calibrated_model"]
    assert [r[0] for r in rows[1:]] == CSV_ROWS
    by_name = {r[0]: r[1:] for r in rows[1:]}
    for name in CSV_ROWS[:-2]:
        assert by_name[name][0] == by_name[name][1]  # same argmax, same segmentation
        assert re.fullmatch(r"\d\.\d{6}", by_name[name][0])
    assert by_name["mean_iou"][0] == f"{metrics['mean_iou']:.6f}"
    assert by_name["iou_border"][0] == f"{metrics['iou']['border']:.6f}"
    for name in ("ece", "nll"):
        assert by_name[name] == [
            f"{metrics[name]['original']:.6f}",
            f"{metrics[name]['calibrated']:.6f}",
        ]


def test_evaluation_json(
    out: Path, calib_prepared: Path, tiny_model: Path, eval_inputs: dict[str, Path]
) -> None:
    doc = json.loads((out / EVALUATION_JSON).read_text())
    assert doc["model"] == {"path": str(tiny_model), "sha256": sha256_file(tiny_model)}
    assert doc["calibration"] == {
        "path": str(eval_inputs["calibration"]),
        "sha256": sha256_file(eval_inputs["calibration"]),
        "temperature": TEMPERATURE,
    }
    test = calib_prepared / "test"
    assert doc["test_split"]["path"] == f"{calib_prepared}/test"
    assert doc["test_split"]["sha256"] == sha256_tree(test)
    assert doc["metrics"] == json.loads((out / METRICS_JSON).read_text())
    assert doc["test_split"]["images"] == doc["metrics"]["images"]
    matrix = np.array(doc["confusion"])
    assert matrix.shape == (3, 3) and matrix.sum() == doc["metrics"]["pixels"]
    shown = min(2, doc["metrics"]["images"])  # evaluate.examples = 2 in the fixture params
    for kind in ("best", "worst"):
        assert len(doc["examples"][kind]) == shown
        assert set(doc["examples"][kind][0]) == {"position", "id", "iou"}


def test_notebook_is_normalised(out: Path) -> None:
    import nbformat

    text = (out / NOTEBOOK_OUT).read_text()
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    for key in ("start_time", "end_time", "duration", '"execution"', "partial"):
        assert key not in text, key
    meta = nb.metadata.papermill
    assert meta.output_path == "reports/evaluation.ipynb"
    assert meta.input_path == "stages/evaluate/evaluate.ipynb"
    assert meta.parameters["output_dir"] == "reports"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'output_dir = "reports"' in injected[0].source
    assert not any(o.get("name") == "stderr" for c in code for o in c.outputs)


class _Tags(HTMLParser):
    """Collects <script>/<link> src and href values, and <img> sources."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in ("script", "link"):
            for key in ("src", "href"):
                value = values.get(key, "").strip().lower()
                if value.startswith(("http://", "https://", "//")):
                    self.external.append(value)
        if tag == "img":
            self.images.append(values.get("src", ""))


def test_html_report(out: Path) -> None:
    html = (out / HTML_OUT).read_text()
    headings = [
        re.sub(r"<[^>]+>|¶", "", h).strip()
        for h in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", html, re.S)
    ]
    assert headings == HEADINGS
    tags = _Tags()
    tags.feed(html)
    assert tags.external == []
    embedded = [src for src in tags.images if src.startswith("data:image/png;base64,")]
    # confusion matrix, reliability diagram, predictions grid, training curves
    assert len(embedded) >= 4 and len(embedded) == len(tags.images)
    assert "import " not in html and "evaluate_split" not in html  # no code cells
    assert "partial" not in html
    # The summary and the facts the report must state.
    assert "held-out test" in html and "never changes their argmax" in html
    assert (
        "Upstream outputs (dvc.lock)" in html
    )  # rows: test_lock_outputs_keeps_only_what_the_report_reads
    assert "spec built from the stage&#x27;s interpreter" in html or "stage's interpreter" in html
    # No --replicates: the section says so and how to get them.
    assert "No replicate results (run <code>pedigree replicate --seeds 1,2,3</code>)" in html
    # The label audit's placeholder: its note.
    assert "No label audit yet: run <code>pedigree replicate --folds 5</code>." in html


def _replicated_inputs(
    folder: Path, model: Path, calibration: Path, params: dict[str, object]
) -> tuple[Path, Path]:
    """A dvc.lock recording `model` and `calibration`, and a summary that replicates them."""
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {"cmd": "t", "params": {"params.yaml": {}}, "outs": [{"path": str(model)}]},
            "calibrate": {"cmd": "c", "outs": [{"path": str(calibration), "md5": "c"}]},
        },
    }
    spread = {"n": 2, "mean": 0.25, "std": 0.0125, "min": 0.2375, "max": 0.2625, "range": 0.025}
    summary = {
        "schema": "pedigree.replicates/v1",
        "seeds": [1, 2],
        "std": "sample standard deviation (n - 1)",
        "replicates": {
            "stages": ["train", "calibrate", "evaluate"],
            "upstream": {},
            "inputs": {},
            "params": {"evaluate": params},
            "code": {},
        },
        "runs": [],
        "metrics": {"mean_iou": spread},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dvc.lock").write_text(json.dumps(lock), encoding="utf-8")  # JSON is YAML
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder / "dvc.lock", folder / "summary.json"


def test_replicates_of_this_model_show_their_spread(
    eval_inputs: dict[str, Path],
    calib_prepared: Path,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = {"batch_size": 4, "bins": 10, "examples": 2}  # the fixture's evaluate section
    lock, summary = _replicated_inputs(
        tmp_path / "in", tiny_model, eval_inputs["calibration"], params
    )
    monkeypatch.chdir(tmp_path)
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, Path("reports"), lock=lock)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--replicates", str(summary)]) == 0
    html = (tmp_path / "reports" / HTML_OUT).read_text()
    metrics = json.loads((tmp_path / "reports" / METRICS_JSON).read_text())
    assert "this model (seed 1234)" in html and "sample standard deviation (n - 1)" in html
    row = re.search(r"<td>mean_iou</td>\s*<td>([0-9.]+)</td>\s*<td>0\.250000</td>", html)
    assert row is not None and float(row.group(1)) == metrics["mean_iou"]
    assert "0.012500" in html and "0.025000" in html and "No replicate results" not in html


def test_a_label_audit_shows_its_table_and_figure(
    eval_inputs: dict[str, Path],
    calib_prepared: Path,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit = tmp_path / "in" / "label_issues.json"
    audit.parent.mkdir()
    audit.write_text(json.dumps(audit_doc()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, Path("reports"))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--labels", str(audit)]) == 0
    html = (tmp_path / "reports" / HTML_OUT).read_text()
    assert "<strong>12</strong> images" in html and "<strong>3</strong> of them" in html
    assert re.search(r"<td>1</td>\s*<td><code>cat-7</code></td>\s*<td>0\.120000</td>", html)
    assert "estimated wrong-pixel fraction" in html and "No label audit" not in html
    # the figure: decoded, shown as an image, embedded in the HTML like the other figures
    figure = base64.b64encode(tiny_png()).decode("ascii")
    assert f"data:image/png;base64,{figure}" in html
    nb = json.loads((tmp_path / "reports" / NOTEBOOK_OUT).read_text())
    (cell,) = [c for c in nb["cells"] if c.get("id") == "labels-table"]
    assert [
        o["data"]["image/png"].replace("\n", "")
        for o in cell["outputs"]
        if "image/png" in o.get("data", {})
    ] == [figure]


def test_bad_label_audit_fails_before_a_kernel(
    eval_inputs: dict[str, Path], calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "label_issues.json"
    bad.write_text(json.dumps(audit_doc(threshold="high")))
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, tmp_path / "reports")
    with pytest.raises(SourceError, match=r"label_issues\.json \[threshold\]: expected a number"):
        main([*argv, "--labels", str(bad)])
    assert not (tmp_path / "reports").exists()


def test_carry_over_keeps_what_is_not_evaluates(tmp_path: Path) -> None:
    out, scratch = tmp_path / "reports", tmp_path / "scratch"
    for name in (METRICS_JSON, HTML_OUT, "label_issues.json", ".gitignore"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(f"old {name}")
    (out / "predictions").mkdir()
    (out / "predictions" / "index.json").write_text("old")
    (out / "notes").mkdir()
    (out / "notes" / "a.txt").write_text("kept")
    (out / "link").symlink_to("label_issues.json")
    scratch.mkdir()
    (scratch / METRICS_JSON).write_text("new")
    carry_over(out, scratch)
    assert _all_files(scratch) == sorted(
        [".gitignore", "label_issues.json", "link", METRICS_JSON, "notes/a.txt"]
    )
    assert (scratch / METRICS_JSON).read_text() == "new"  # this stage's own: never carried
    assert (scratch / "label_issues.json").read_text() == "old label_issues.json"
    assert (scratch / "link").is_symlink() and os.readlink(scratch / "link") == "label_issues.json"
    carry_over(tmp_path / "absent", scratch)  # nothing there yet: nothing to carry


def test_bad_replicates_summary_fails_before_a_kernel(
    eval_inputs: dict[str, Path], calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "summary.json"
    bad.write_text('{"schema": "pedigree.replicates/v1", "seeds": "1,2"}')
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, tmp_path / "reports")
    with pytest.raises(SourceError, match=r"summary\.json \[seeds\]: expected a list"):
        main([*argv, "--replicates", str(bad)])
    assert not (tmp_path / "reports").exists()


def test_missing_model(eval_inputs: dict[str, Path], calib_prepared: Path, tmp_path: Path) -> None:
    argv = stage_argv(eval_inputs, calib_prepared, tmp_path / "nope.keras", tmp_path / "reports")
    with pytest.raises(SourceError, match=r"nope\.keras is missing"):
        main(argv)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", r"calibration\.json is not valid JSON"),
        ('{"temperature": -1.0}', r"no positive finite 'temperature' \(got -1\.0\)"),
        ('{"temperature": NaN}', r"no positive finite 'temperature' \(got nan\)"),
        ('{"temperature": true}', r"no positive finite 'temperature' \(got True\)"),
        ('{"ece": {}}', r"no positive finite 'temperature' \(got None\)"),
    ],
)
def test_bad_calibration(
    eval_inputs: dict[str, Path],
    calib_prepared: Path,
    tiny_model: Path,
    tmp_path: Path,
    content: str,
    match: str,
) -> None:
    bad = tmp_path / "calibration.json"
    bad.write_text(content)
    argv = stage_argv(
        eval_inputs, calib_prepared, tiny_model, tmp_path / "reports", calibration=bad
    )
    with pytest.raises(SourceError, match=match):
        main(argv)
    assert not (tmp_path / "reports").exists()


def test_missing_train_history(
    eval_inputs: dict[str, Path], calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    train = tmp_path / "train"
    shutil.copytree(eval_inputs["train"], train)
    (train / "history.csv").unlink()
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, tmp_path / "reports", train=train)
    with pytest.raises(SourceError, match=r"history\.csv is missing"):
        main(argv)
    assert not (tmp_path / "reports").exists()


def test_params_typo_is_located(
    eval_inputs: dict[str, Path], calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    params = evaluate_params(tmp_path / "params.yaml")
    text = params.read_text()
    head, _, tail = text.rpartition("  batch_size:")  # the evaluate section is last
    params.write_text(f"{head}  bach_size:{tail}")
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, tmp_path / "reports", params=params)
    with pytest.raises(
        ParamsError, match=r"params\.yaml:\d+ \[evaluate\.bach_size\]: unknown key 'bach_size'"
    ):
        main(argv)
    assert not (tmp_path / "reports").exists()


def test_empty_test_split(
    eval_inputs: dict[str, Path], calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    prepared = tmp_path / "prepared"
    shutil.copytree(calib_prepared, prepared)
    for shard in (prepared / "test").glob("*.tfrecord"):
        shard.unlink()
    index = {"count": 0, "shards": [], "split": "test"}
    (prepared / "test" / "index.json").write_text(json.dumps(index))
    argv = stage_argv(eval_inputs, prepared, tiny_model, tmp_path / "reports")
    with pytest.raises(SourceError, match=r"the test split in .* is empty: nothing to evaluate"):
        main(argv)
    assert not (tmp_path / "reports").exists()


def test_hash_seed_is_required(
    eval_inputs: dict[str, Path],
    calib_prepared: Path,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHONHASHSEED")
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, tmp_path / "reports")
    with pytest.raises(PedigreeError, match="PYTHONHASHSEED is not fixed"):
        main(argv)
    assert not (tmp_path / "reports").exists()


def test_failure_inside_the_kernel_keeps_nothing(
    eval_inputs: dict[str, Path], calib_prepared: Path, tmp_path: Path
) -> None:
    # Passes the cheap checks (the file exists); only Keras, in the kernel, can refuse it.
    model = tmp_path / "model.keras"
    model.write_bytes(b"not a keras zip")
    out = tmp_path / "site" / "reports"
    argv = stage_argv(eval_inputs, calib_prepared, model, out)
    with pytest.raises(
        SourceError,
        match=r"evaluation notebook failed in cell \d+: SourceError: .*model\.keras is not a "
        r"loadable Keras model",
    ):
        main(argv)
    assert list(out.parent.iterdir()) == []  # neither reports/ nor a .partial folder


ROOT = Path(__file__).resolve().parents[4]


def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # As the pipeline runs it, but from another folder: `stages` comes from PYTHONPATH.
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "stages.evaluate", *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_command_line_in_a_fresh_process_gives_the_same_bytes(
    runs: list[tuple[Path, str]],
    eval_inputs: dict[str, Path],
    calib_prepared: Path,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    write_label_placeholder(tmp_path / "reports")
    argv = [
        *stage_argv(eval_inputs, calib_prepared, tiny_model, Path("reports")),
        "--labels",
        LABELS,
    ]
    done = _cli(argv, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("evaluate: 1 test images in ")
    assert _all_files(tmp_path / "reports") == _all_files(runs[0][0])
    for name in _all_files(runs[0][0]):
        assert (tmp_path / "reports" / name).read_bytes() == (runs[0][0] / name).read_bytes()


def test_command_line_exit_code_for_bad_params(
    eval_inputs: dict[str, Path], calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    params = evaluate_params(tmp_path / "params.yaml", bins=1)
    argv = stage_argv(eval_inputs, calib_prepared, tiny_model, Path("reports"), params=params)
    done = _cli(argv, tmp_path)
    assert done.returncode == 2
    assert re.search(r"params\.yaml:\d+ \[evaluate\.bins\]", done.stderr)
    assert not (tmp_path / "reports").exists()
