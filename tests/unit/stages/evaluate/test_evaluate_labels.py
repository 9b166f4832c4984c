"""The report's Label audit section without a kernel: reading label_issues.json, rendering."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pedigree.errors import SourceError
from stages.evaluate.labels import (
    PNG_SIGNATURE,
    SHOWN,
    label_figure,
    labels_markdown,
    read_labels,
)
from tests.unit.stages.evaluate.conftest import LABELS_PLACEHOLDER, audit_doc, tiny_png

ROOT = Path(__file__).resolve().parents[4]


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "label_issues.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_the_committed_placeholder_reads_as_no_audit() -> None:
    doc = read_labels(ROOT / "reports" / "label_issues.json")
    assert doc is not None and doc["images"] == 0
    assert labels_markdown(doc) == ("No label audit yet: run `pedigree replicate --folds 5`.")
    assert label_figure(doc) is None


def test_the_test_placeholder_is_the_committed_one() -> None:
    committed = json.loads((ROOT / "reports" / "label_issues.json").read_text(encoding="utf-8"))
    assert json.loads(LABELS_PLACEHOLDER) == committed


def test_no_file_given_reads_as_no_audit() -> None:
    assert read_labels("") is None
    assert labels_markdown(None) == "No label audit (run `pedigree replicate --folds 5`)."
    assert label_figure(None) is None


def test_an_audit_shows_counts_the_worst_and_the_figure(tmp_path: Path) -> None:
    doc = read_labels(write(tmp_path, audit_doc()))
    assert doc is not None
    text = labels_markdown(doc)
    assert "labels of **12** images" in text
    assert "out-of-fold predictions of 2 runs (fold-0/seed-1234, fold-1/seed-1234)" in text
    assert "**3** of them are flagged as likely label issues (threshold 0.500000)" in text
    assert "Method: self-confidence per pixel, averaged (cleanlab 2.7.1)" in text
    lines = text.splitlines()
    assert "| rank | id | score | estimated wrong-pixel fraction |" in lines
    assert "| 1 | `cat-7` | 0.120000 | 0.450000 |" in lines
    assert "| 2 | `dog-3` | 0.250000 | 0.300000 |" in lines
    assert "more worst images" not in text
    png = label_figure(doc)
    assert png is not None and png.startswith(PNG_SIGNATURE) and png == tiny_png()


def test_only_the_first_rows_of_a_long_list_are_shown(tmp_path: Path) -> None:
    worst = [{"id": f"x{i}", "score": i / 100, "wrong_pixel_fraction": 0.1} for i in range(14)]
    doc = read_labels(write(tmp_path, audit_doc(worst=worst, figure=None)))
    text = labels_markdown(doc)
    assert f"| {SHOWN} | `x{SHOWN - 1}` |" in text and f"`x{SHOWN}`" not in text
    assert text.endswith("4 more worst images are in the audit's label_issues.csv.")
    assert label_figure(doc) is None


def test_an_audit_without_worst_images_says_so(tmp_path: Path) -> None:
    doc = read_labels(write(tmp_path, audit_doc(worst=[], flagged=[], runs=["fold-0"])))
    text = labels_markdown(doc)
    assert "predictions of 1 run (fold-0)" in text and "**0** of them are flagged" in text
    assert text.endswith("No image is listed as worst.")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"label_issues\.json is missing"),
        ("{oops", r"label_issues\.json is not valid JSON"),
        ("[]", r"is not a pedigree\.label-issues/v1 file \(schema: 'list'\)"),
        ({"schema": "pedigree.label-issues/v1"}, r"\[images\]: expected a whole number >= 0"),
        ({"schema": "pedigree.label-issues/v1", "images": -1}, r"\[images\]"),
        ({"schema": "pedigree.label-issues/v1", "images": True}, r"\[images\]"),
        ({"schema": "pedigree.label-issues/v1", "images": 0, "note": 5}, r"\[note\]"),
        (audit_doc(method=None), r"\[method\]: expected a string"),
        (audit_doc(cleanlab=2), r"\[cleanlab\]: expected a string"),
        (audit_doc(threshold="high"), r"\[threshold\]: expected a number"),
        (audit_doc(threshold=float("nan")), r"\[threshold\]: expected a number"),
        (audit_doc(runs="fold-0"), r"\[runs\]: expected a list of strings"),
        (audit_doc(flagged=[1, 2]), r"\[flagged\]: expected a list of strings"),
        (audit_doc(worst={}), r"\[worst\]: expected a list"),
        (audit_doc(worst=[{"id": "a", "score": 0.1}]), r"\[worst\[0\]\]: expected"),
        (audit_doc(figure="not base64!"), r"\[figure\]: expected a base64 PNG or null"),
        (
            audit_doc(figure=base64.b64encode(b"GIF89a").decode()),
            r"\[figure\]: expected a base64 PNG",
        ),
    ],
)
def test_bad_audits_are_refused(tmp_path: Path, content: Any, match: str) -> None:
    path = tmp_path / "label_issues.json"
    if content is not None:
        write(tmp_path, content)
    with pytest.raises(SourceError, match=match):
        read_labels(path)


def test_the_error_says_how_to_recover(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        read_labels(write(tmp_path, "{oops"))
    assert "pedigree replicate --folds 5" in str(caught.value.hint)
