"""Which stages read the replicates summary: what `pedigree replicate` tells the user to expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.api.replicate import summary_readers
from pedigree.replicate.summary import SUMMARY_PATH


def _dvc_yaml(root: Path, text: str) -> Path:
    (root / "dvc.yaml").write_text(text, encoding="utf-8")
    return root


def test_the_stages_that_list_the_summary_in_their_deps(tmp_path: Path) -> None:
    root = _dvc_yaml(
        tmp_path,
        "stages:\n"
        "  fit:\n    cmd: x\n    deps: [data/train]\n"
        f"  report:\n    cmd: y\n    deps: [models/fit, {SUMMARY_PATH}]\n"
        f"  publish:\n    cmd: z\n    deps:\n      - {SUMMARY_PATH}\n",
    )
    assert summary_readers(root) == ("report", "publish")


def test_no_reader_when_no_stage_lists_it(tmp_path: Path) -> None:
    root = _dvc_yaml(tmp_path, "stages:\n  fit:\n    cmd: x\n    deps: [data/train]\n")
    assert summary_readers(root) == ()


@pytest.mark.parametrize("text", [None, "", "stages: [a, b]\n", "{{{: not yaml\n", "- 1\n"])
def test_a_missing_or_odd_dvc_yaml_has_no_reader(tmp_path: Path, text: str | None) -> None:
    if text is not None:
        _dvc_yaml(tmp_path, text)
    assert summary_readers(tmp_path) == ()


def test_the_pets_pipeline_says_evaluate_reads_it() -> None:
    root = Path(__file__).resolve().parents[3]
    assert summary_readers(root) == ("evaluate",)
