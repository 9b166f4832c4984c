"""Adding a stage entry to a pipeline spec by editing its text, so comments and layout stay.

The line of each stage comes from the parsed document (`pedigree.spec.yamlsource`); a stage's
block ends before the next line indented at or left of its `- ` marker.
"""

from __future__ import annotations

from pedigree.errors import Problem, SpecError
from pedigree.spec.yamlsource import YamlDocument


def _block_end(lines: list[str], start: int, dash_col: int) -> int:
    """Index just past the last non-blank line of the block whose `- ` is at lines[start]."""
    end = start + 1
    last = start
    while end < len(lines):
        text = lines[end]
        stripped = text.strip()
        if stripped and not stripped.startswith("#"):
            indent = len(text) - len(text.lstrip(" "))
            if indent <= dash_col:
                break
            last = end
        end += 1
    return last + 1


def insert_stage(text: str, doc: YamlDocument, entry: str, after: int | None) -> str:
    """`text` with `entry` (a column-0 YAML sequence item) added to spec.stages: after the
    stage at index `after`, or after the last stage. The item is indented like the others."""
    stages = doc.data["spec"]["stages"]
    index = len(stages) - 1 if after is None else after
    line = doc.lines.get(("spec", "stages", index))
    lines = text.splitlines(keepends=True)
    if line is None or line > len(lines):
        raise SpecError(
            [
                Problem(
                    doc.file,
                    None,
                    "spec.stages",
                    "cannot find where the stages are written",
                    "add the stage entry by hand",
                )
            ]
        )
    start = line - 1
    # The item's line holds `- name: ...`; its dash sets the indentation of the new entry.
    while start > 0 and not lines[start].lstrip().startswith("-"):
        start -= 1
    dash_col = len(lines[start]) - len(lines[start].lstrip(" "))
    end = _block_end(lines, start, dash_col)
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    pad = " " * dash_col
    block = [pad + item + "\n" if item else "\n" for item in entry.splitlines()]
    return "".join(lines[:end] + ["\n", *block] + lines[end:])
