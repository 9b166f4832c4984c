"""Without KServe installed, serving says how to install it instead of a traceback."""

from __future__ import annotations

import importlib
import sys

import pytest

from pedigree.errors import ToolError


def test_a_missing_kserve_is_a_tool_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kserve", None)  # `import kserve` now fails
    monkeypatch.delitem(sys.modules, "pedigree.serve._kserve", raising=False)
    with pytest.raises(ToolError, match=r"install pedigree with its serving extra"):
        importlib.import_module("pedigree.serve._kserve")
    assert ToolError.exit_code == 4
