"""Start-up stays light: `pedigree --help` and the stage launcher's `--help` import none of the
heavy libraries (DVC, the Kubernetes client, TensorFlow, pydantic, PyYAML).

Every command pays for what the CLI imports at start-up, and the launcher runs before every
stage; each command imports what it needs when it runs. Each check runs in a fresh interpreter,
because this test session has long imported all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("dvc", "kubernetes", "tensorflow", "pydantic", "yaml")

# Runs the entry point as its console script or `python -m` would, then prints which top-level
# packages are loaded (help ends in SystemExit; the modules are still there).
_PROBE = """
import json, runpy, sys
sys.argv = {argv!r}
try:
    {call}
except SystemExit:
    pass
sys.stdout.flush()
print("\\n" + json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""

ENTRY_POINTS = {
    # [project.scripts] pedigree = "pedigree.cli.main:main"
    "pedigree --help": (
        ["pedigree", "--help"],
        "from pedigree.cli.main import main; sys.exit(main())",
    ),
    "python -m pedigree.launch --help": (
        ["python -m pedigree.launch", "--help"],
        "runpy.run_module('pedigree.launch', run_name='__main__')",
    ),
}


def _loaded_after(argv: list[str], call: str) -> tuple[str, set[str]]:
    probe = _PROBE.format(argv=argv, call=call)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    out, _, last = done.stdout.rstrip("\n").rpartition("\n")
    return out, set(json.loads(last))


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_help_imports_no_heavy_library(command: str) -> None:
    out, loaded = _loaded_after(*ENTRY_POINTS[command])
    assert "usage:" in out.lower()  # the help really ran
    assert "pedigree" in loaded
    assert sorted(loaded.intersection(HEAVY)) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: loading a spec shows pydantic (models) and yaml (the file)."""
    _, loaded = _loaded_after(["x"], "import pedigree.spec.checks")
    assert {"pydantic", "yaml"} <= loaded
