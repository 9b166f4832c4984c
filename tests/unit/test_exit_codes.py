"""One list of exit codes: the docs/cli.md table, the error classes and the CLI all use ExitCode."""

from __future__ import annotations

import re

import pytest

from pedigree import errors
from pedigree.cli import main as cli_main
from pedigree.cli import render
from pedigree.errors import ExitCode, PedigreeError
from tests.conftest import REPO_ROOT


def _documented_codes() -> dict[int, str]:
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.+) \|$", table, re.MULTILINE)}


def test_the_docs_table_lists_exactly_the_exit_codes() -> None:
    assert sorted(_documented_codes()) == sorted(int(code) for code in ExitCode)


def test_every_error_class_ends_in_a_documented_code() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    classes = [c for c in subclasses(PedigreeError) if c.__module__ == errors.__name__]
    assert len(classes) > 10
    for cls in classes:
        assert ExitCode(cls.exit_code) is not None, cls


@pytest.mark.parametrize(
    ("value", "member"),
    [
        (cli_main.INTERNAL_ERROR, ExitCode.INTERNAL_ERROR),
        (render.BROKEN_PIPE_EXIT, ExitCode.BROKEN_PIPE),
    ],
)
def test_the_cli_uses_the_enum(value: int, member: ExitCode) -> None:
    assert value is member


def test_an_unknown_code_is_not_an_exit_code() -> None:
    with pytest.raises(ValueError, match="is not a valid ExitCode"):
        ExitCode(6)
