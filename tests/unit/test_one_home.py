"""One home for each shared name: params.yaml's file name on pedigree.project, every PEDIGREE_*
variable in pedigree.envvars, every exit code in pedigree.errors.ExitCode."""

from __future__ import annotations

import re

import pytest

from pedigree import envvars
from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src" / "pedigree"


def _sources() -> list[tuple[str, str]]:
    return [
        (p.relative_to(REPO_ROOT).as_posix(), p.read_text(encoding="utf-8"))
        for p in sorted(SRC.rglob("*.py"))
    ]


def test_params_file_is_named_once() -> None:
    defined = [rel for rel, text in _sources() if re.search(r"^PARAMS_FILE = ", text, re.M)]
    assert defined == ["src/pedigree/project.py"]


def test_pedigree_variables_are_named_only_in_envvars() -> None:
    literal = re.compile(r"""["']PEDIGREE_[A-Z_]+["']""")
    found = [
        f"{rel}: {m.group(0)}"
        for rel, text in _sources()
        if rel != "src/pedigree/envvars.py"
        for m in literal.finditer(text)
    ]
    assert found == []


@pytest.mark.parametrize("name", [n for n in dir(envvars) if n.endswith("_ENV")])
def test_every_variable_is_a_pedigree_variable_and_unique(name: str) -> None:
    value = getattr(envvars, name)
    assert value.startswith("PEDIGREE_")
    others = [n for n in dir(envvars) if n.endswith("_ENV") and getattr(envvars, n) == value]
    assert others == [name]
