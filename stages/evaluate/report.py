"""The report: run evaluate.ipynb with papermill, make it byte-stable, export it to HTML.

The kernel runs this interpreter (sys.executable), whatever kernel specs are installed: the
kernel manager gets a `python3` spec built here, with an environment that finds this project's
`stages` package and quiet TensorFlow logs.

Executed notebooks carry timestamps, durations, random cell ids and the scratch folder they ran
in; `normalise` removes or fixes each, so the notebook and its HTML depend only on the inputs.
The HTML hides code (a report to sign off, not a program), embeds every image and loads nothing
from the network (no require.js, MathJax or mermaid from a CDN).
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError

NOTEBOOK = Path(__file__).with_name("evaluate.ipynb")
KERNEL_NAME = "python3"
INJECTED_TAG = "injected-parameters"
PAPERMILL_TIMING = ("start_time", "end_time", "duration")
# The lab template without anything fetched from the network: require.js, MathJax and the
# mermaid loader are left out (the report has no JavaScript outputs, math or diagrams).
HTML_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
HTML_TEMPLATE_NAME = "evaluation-report.html.j2"
EXTERNAL = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>", re.IGNORECASE
)


def code_root() -> Path:
    """The folder that holds the `stages` package (the project root)."""
    return Path(__file__).resolve().parents[2]


def kernel_environment() -> dict[str, str]:
    """Variables set for the kernel on top of this process's environment."""
    python_path = [str(code_root())]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    return {
        # This interpreter's scripts first, for anything the kernel starts by name.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(python_path),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        # The inline backend, whatever MPLBACKEND says: figures must become notebook outputs.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }


def kernel_description() -> str:
    """How the kernel is chosen, for the report's provenance."""
    return f"{KERNEL_NAME} (ipykernel, spec built from the stage's interpreter)"


def _kernel_manager_class() -> type:
    """An AsyncKernelManager whose `python3` spec launches sys.executable with our environment."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    spec = KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name="Python 3 (ipykernel)",
        language="python",
        env=kernel_environment(),
        name=KERNEL_NAME,
    )

    class ThisInterpreterKernelManager(AsyncKernelManager):
        # Never look the spec up among installed kernels (a user-level `python3` spec could
        # point at another interpreter without TensorFlow or this project).
        @property
        def kernel_spec(self) -> KernelSpec:
            return spec

    return ThisInterpreterKernelManager


def execute(parameters: dict[str, Any], cwd: Path) -> Any:
    """Run the notebook with `parameters` in `cwd`; return the executed NotebookNode."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        return papermill.execute_notebook(
            str(NOTEBOOK),
            None,  # not written by papermill: normalised, then written by the stage
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            kernel_manager_class=_kernel_manager_class(),
            record_timing=False,
        )
    except papermill.PapermillExecutionError as exc:
        evalue = str(exc.evalue).strip()
        raise SourceError(
            f"the evaluation notebook failed in cell {exc.exec_count}: {exc.ename}: {evalue}",
            "the error above comes from the stage's own checks or from an input; nothing was "
            "written",
        ) from None
    except (DeadKernelError, CellTimeoutError, RuntimeError) as exc:
        raise SourceError(
            f"the evaluation notebook's kernel failed: {type(exc).__name__}: {exc}",
            f"check that {sys.executable} runs `python -m ipykernel_launcher`",
        ) from None


def _injected_source(parameters: dict[str, Any]) -> str:
    from papermill.translators import translate_parameters

    return translate_parameters(KERNEL_NAME, "python", parameters, "Parameters")


def template_ids() -> set[str]:
    """The cell ids of evaluate.ipynb (fixed by hand, so they are stable)."""
    import nbformat

    return {cell.get("id", "") for cell in nbformat.read(NOTEBOOK, as_version=4).cells}


def normalise(
    nb: Any, parameters: dict[str, Any], input_path: str, output_path: str, scratch: str
) -> Any:
    """A copy of the executed notebook whose bytes depend on the inputs only.

    `parameters` are the final values (output_dir the real --out, not the scratch folder the
    kernel wrote into); the injected cell and papermill's metadata are rewritten with them.
    """
    nb = copy.deepcopy(nb)
    stable_ids = template_ids()
    meta = nb.metadata.setdefault("papermill", {})
    for key in PAPERMILL_TIMING:
        meta.pop(key, None)
    meta["parameters"] = dict(parameters)
    meta["input_path"] = input_path
    meta["output_path"] = output_path
    count = 0
    for index, cell in enumerate(nb.cells):
        if cell.get("id") not in stable_ids:
            cell.id = f"cell-{index}"  # nbformat draws new ids at random
        cell.metadata.pop("execution", None)  # nbclient's iopub timestamps
        for key in PAPERMILL_TIMING:
            cell.metadata.get("papermill", {}).pop(key, None)
        if INJECTED_TAG in cell.metadata.get("tags", []):
            cell.id = INJECTED_TAG  # papermill gives it a random id
            cell.source = _injected_source(parameters)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        # stderr carries library logs and warnings (addresses, timings): not report content.
        cell.outputs = [
            o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")
        ]
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = count
    import nbformat

    text = nbformat.writes(nb)
    if scratch in text:
        raise SourceError(
            f"the executed notebook still names the scratch folder {scratch}",
            "an output of the notebook prints output_dir: remove that print",
        )
    return nb


def export_html(nb: Any, title: str) -> str:
    """Self-contained HTML: no code, no prompts, images embedded, nothing from the network."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        template_file=HTML_TEMPLATE_NAME,
        extra_loaders=[jinja2.DictLoader({HTML_TEMPLATE_NAME: HTML_TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    external = external_references(html)
    if external:
        raise SourceError(
            f"the HTML report would load {len(external)} file(s) from the network: "
            f"{external[0][:120]}",
            "stages/evaluate/report.py HTML_TEMPLATE must leave that block out",
        )
    return html


def external_references(html: str) -> list[str]:
    """<script src=...> and <link href=...> tags that point to http(s) or protocol-relative URLs."""
    return EXTERNAL.findall(html)


def write_notebook(nb: Any, path: Path) -> None:
    """Write a notebook as nbformat does, with a final newline."""
    import nbformat

    Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
