"""The report machinery without a kernel: normalisation, HTML export, the notebook's cells."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from pedigree.errors import SourceError
from stages.evaluate import report

PARAMETERS = {
    "model_path",
    "calibration_path",
    "prepared_path",
    "train_dir",
    "lock_path",
    "replicates_path",
    "labels_path",
    "output_dir",
    "batch_size",
    "bins",
    "examples",
    "input_size",
    "seed",
    "intra_op_threads",
    "inter_op_threads",
    "op_determinism",
}
SCRATCH = "/somewhere/.reports.partial-4242"


def test_notebook_has_one_parameters_cell_with_every_parameter() -> None:
    nb = nbformat.read(report.NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(tagged[0].source).body
        if isinstance(node, ast.Assign)
    }
    assert set(assigned) >= PARAMETERS
    assert all(isinstance(v, str | int | float | bool) for v in assigned.values())
    # A committed template carries no outputs or execution counts.
    assert all(
        not c.get("outputs") and c.get("execution_count") is None
        for c in nb.cells
        if c.cell_type == "code"
    )


def test_kernel_runs_this_interpreter() -> None:
    manager = report._kernel_manager_class()(kernel_name=report.KERNEL_NAME)
    spec = manager.kernel_spec
    assert spec.argv[0] == sys.executable and spec.argv[1:3] == ["-m", "ipykernel_launcher"]
    assert spec.env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert str(report.code_root()) in spec.env["PYTHONPATH"].split(":")
    assert (report.code_root() / "stages" / "evaluate" / "__init__.py").is_file()


def executed_notebook() -> nbformat.NotebookNode:
    """A notebook shaped like papermill's output, with everything that varies between runs."""
    injected = new_code_cell(f'# Parameters\noutput_dir = "{SCRATCH}"\n', execution_count=9)
    injected.metadata.tags = ["injected-parameters"]
    injected.id = "a1b2c3d4-random"
    code = new_code_cell("x = 1", execution_count=17)
    code.metadata.execution = {"iopub.status.busy": "2025-01-01T00:00:00.1Z"}
    code.metadata.papermill = {
        "start_time": "t0",
        "end_time": "t1",
        "duration": 1.5,
        "status": "completed",
    }
    code.outputs = [
        new_output("stream", name="stderr", text="W0000 12:00:01.123 warning at 0x7f00\n"),
        new_output("display_data", data={"text/markdown": "**shown**", "text/plain": "md"}),
        new_output("execute_result", data={"text/plain": "1"}, execution_count=17),
    ]
    nb = new_notebook(cells=[injected, new_markdown_cell("# Title"), code])
    nb.metadata.papermill = {
        "start_time": "t0",
        "end_time": "t1",
        "duration": 3.0,
        "input_path": "/abs/stages/evaluate/evaluate.ipynb",
        "output_path": None,
        "parameters": {"output_dir": SCRATCH},
    }
    return nb


def test_normalise_removes_everything_run_dependent() -> None:
    final = {"output_dir": "reports", "bins": 15}
    nb = report.normalise(
        executed_notebook(),
        final,
        "stages/evaluate/evaluate.ipynb",
        "reports/evaluation.ipynb",
        SCRATCH,
    )
    text = nbformat.writes(nb)
    for word in ("start_time", "end_time", "duration", "iopub", "partial", "stderr", "random"):
        assert word not in text, word
    meta = nb.metadata.papermill
    assert meta.parameters == final and meta.output_path == "reports/evaluation.ipynb"
    assert meta.input_path == "stages/evaluate/evaluate.ipynb"
    injected, _, code = nb.cells
    assert injected.id == "injected-parameters" and 'output_dir = "reports"' in injected.source
    assert (injected.execution_count, code.execution_count) == (1, 2)
    assert code.outputs[-1].execution_count == 2
    assert code.metadata.papermill == {"status": "completed"}
    # Pure: normalising twice gives the same bytes, and the input is not modified.
    again = report.normalise(
        executed_notebook(),
        final,
        "stages/evaluate/evaluate.ipynb",
        "reports/evaluation.ipynb",
        SCRATCH,
    )
    assert nbformat.writes(again) == text


def test_normalise_refuses_a_notebook_that_prints_the_scratch_folder() -> None:
    nb = executed_notebook()
    nb.cells[2].outputs.append(new_output("stream", name="stdout", text=f"wrote {SCRATCH}\n"))
    with pytest.raises(SourceError, match=r"still names the scratch folder .*partial-4242"):
        report.normalise(nb, {"output_dir": "reports"}, "in.ipynb", "out.ipynb", SCRATCH)


def test_html_hides_code_and_loads_nothing_from_the_network() -> None:
    nb = report.normalise(
        executed_notebook(), {"output_dir": "reports"}, "in.ipynb", "out.ipynb", SCRATCH
    )
    html = report.export_html(nb, "Evaluation report")
    assert "<strong>shown</strong>" in html and "x = 1" not in html
    assert report.external_references(html) == []
    assert "<title>Evaluation report</title>" in html
    assert report.export_html(nb, "Evaluation report") == html  # byte-stable


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ('<script src="https://cdn.example/require.js"></script>', 1),
        ("<script type='text/javascript' src='http://x/y.js'></script>", 1),
        ('<link rel="stylesheet" href="//fonts.example/css">', 1),
        ('<script src="local.js"></script><link href="style.css">', 0),
        ('<a href="https://example.org">a link to read is fine</a>', 0),
    ],
)
def test_external_references(html: str, found: int) -> None:
    assert len(report.external_references(html)) == found


def test_write_notebook_round_trips(tmp_path: Path) -> None:
    nb = executed_notebook()
    path = tmp_path / "nb.ipynb"
    report.write_notebook(nb, path)
    assert path.read_text().endswith("}\n")
    assert json.loads(path.read_text())["cells"][1]["source"] == ["# Title"]
