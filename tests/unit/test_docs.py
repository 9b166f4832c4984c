"""The docs stay true to the project: every CLI command has an example in docs/cli.md, every
example names a real command, every link and quoted project path exists, README.md stays a
short front door, and nothing cites files outside the project (DESIGN.md, ../shared)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from pedigree.cli.main import cli
from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
README = REPO_ROOT / "README.md"
README_MAX_LINES = 200

# A backticked token is checked as a project path when its first part is one of these folders
# (the project's own source, always present in a checkout), or when it is one of these files.
# Pipeline outputs (data/, models/, reports/, .pedigree/) exist only after a run: not checked.
SOURCE_ROOTS = (
    "src",
    "stages",
    "tests",
    "docs",
    "images",
    "cluster-conf",
    "pipelines",
    "benchmarks",
    "examples",
)
TOP_FILES = ("Makefile", "README.md", "pyproject.toml", "params.yaml", "dvc.yaml", "dvc.lock")

# Where code, help texts and docs live; none may cite a file outside the project.
CITING_ROOTS = (
    "src",
    "stages",
    "docs",
    "cluster-conf",
    "images",
    "benchmarks",
    "pipelines",
    "examples",
    ".ci",
)
CITING_FILES = ("README.md", "Makefile", "pyproject.toml")
# Vendored byte-for-byte from upstream Argo Workflows: upstream's text, not ours.
NOT_OURS = ("cluster-conf/base/argo-workflows/upstream",)
SKIPPED_DIRS = ("__pycache__", ".egg-info", ".pytest_cache", ".ruff_cache", ".mypy_cache")
OUTSIDE_THE_PROJECT = ("DESIGN.md", "../shared")

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
BACKTICKED = re.compile(r"`([^`\s]+)`")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
ANGLED = re.compile(r"<[^>/]*>")
# Upper-case placeholder words the docs use for names (`stages/NAME/`, `images/STAGE/...`).
UPPER_WORD = re.compile(r"\b(NAME|STAGE|PIPELINE|DIR)\b")
GLOBAL_OPTIONS_WITH_VALUE = ("-C", "--project")


def _markdown_files() -> list[Path]:
    """README.md, docs/*.md and the READMEs beside the code (cluster-conf/, images/, ...)."""
    beside = [
        path
        for root in CITING_ROOTS
        if root != "docs"
        for path in sorted((REPO_ROOT / root).rglob("README.md"))
        if not _rel(path).startswith(NOT_OURS)
    ]
    return [README, *sorted(DOCS.glob("*.md")), *beside]


def _rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _split_fences(text: str) -> tuple[list[str], list[str]]:
    """(lines inside fenced code blocks, lines outside them)."""
    inside: list[str] = []
    outside: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        (inside if fenced else outside).append(line)
    return inside, outside


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand under `group`, as its words after `pedigree`."""
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from _command_paths(command, path)


def _example_lines(text: str) -> list[str]:
    """Lines of fenced code blocks that run `pedigree` (a leading `$ ` prompt removed)."""
    inside, _ = _split_fences(text)
    lines = [line.strip().removeprefix("$ ") for line in inside]
    return [line for line in lines if line.startswith("pedigree ")]


def _has_example(path: tuple[str, ...], lines: list[str]) -> bool:
    wanted = "pedigree " + " ".join(path)
    return any(line == wanted or line.startswith(wanted + " ") for line in lines)


def test_every_command_and_subcommand_has_an_example_in_cli_md() -> None:
    lines = _example_lines(CLI_DOC.read_text(encoding="utf-8"))
    paths = list(_command_paths(cli))
    missing = ["pedigree " + " ".join(p) for p in paths if not _has_example(p, lines)]
    assert len(paths) > 15, "the command tree was not walked"
    assert not missing, (
        "docs/cli.md has no example (a line starting `pedigree COMMAND` in a fenced code block) "
        "for: " + ", ".join(missing)
    )


def _named_command(words: list[str]) -> tuple[str, ...] | None:
    """The command path an example's words (after `pedigree`) name, None if only options."""
    rest = list(words)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in GLOBAL_OPTIONS_WITH_VALUE and rest:
            rest.pop(0)
    if not rest:
        return None
    path: list[str] = []
    command: click.Command = cli
    while isinstance(command, click.Group) and rest:
        name = rest.pop(0)
        path.append(name)
        sub = command.commands.get(name)
        if sub is None:
            return (*path, "<unknown>")
        command = sub
    return tuple(path)


@pytest.mark.parametrize("doc", _markdown_files(), ids=_rel)
def test_every_example_names_a_real_command(doc: Path) -> None:
    wrong = []
    for line in _example_lines(doc.read_text(encoding="utf-8")):
        named = _named_command(line.split()[1:])
        if named is not None and named[-1] == "<unknown>":
            wrong.append(line)
    assert not wrong, f"{_rel(doc)} shows commands pedigree does not have: " + "; ".join(wrong)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    _, outside = _split_fences(doc.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for line in outside:
        match = HEADING.match(line)
        if match is None:
            continue
        slug = _slug(match[2])
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _broken_links(doc: Path) -> list[str]:
    _, outside = _split_fences(doc.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall("\n".join(outside)):
        if "://" in target or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.is_relative_to(REPO_ROOT) or not linked.exists():
            broken.append(f"{target} (no such file in the project)")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target} (no heading with anchor #{anchor} in {_rel(linked)})")
    return broken


@pytest.mark.parametrize("doc", _markdown_files(), ids=_rel)
def test_every_relative_link_leads_to_a_file_and_heading(doc: Path) -> None:
    broken = _broken_links(doc)
    assert not broken, f"{_rel(doc)} links to what does not exist: " + "; ".join(broken)


def _project_path(token: str) -> str | None:
    """The glob pattern of a backticked token that names a project file, else None."""
    token = token.rstrip(".,;:")
    if any(mark in token for mark in ("://", "{", "$", "...", "=", "@")):
        return None
    if token in TOP_FILES:
        return token
    if token.split("/", 1)[0] not in SOURCE_ROOTS or "/" not in token:
        return None
    # Placeholders (`<stage>`, `NAME`) stand for any name: the path must exist for at least one.
    parts = [ANGLED.sub("*", p) for p in token.rstrip("/").split("/")]
    return "/".join(UPPER_WORD.sub("*", p) for p in parts)


def _missing_paths(doc: Path) -> list[str]:
    _, outside = _split_fences(doc.read_text(encoding="utf-8"))
    missing = []
    for token in BACKTICKED.findall("\n".join(outside)):
        pattern = _project_path(token)
        if pattern is None:
            continue
        # From the repository root, or from the file's own folder (examples/tabular/README.md
        # names its own pipelines/tabular.yaml).
        bases = (REPO_ROOT, doc.parent)
        if not any(any(base.glob(pattern)) for base in bases):
            missing.append(token)
    return missing


@pytest.mark.parametrize("doc", _markdown_files(), ids=_rel)
def test_every_quoted_project_path_exists(doc: Path) -> None:
    missing = _missing_paths(doc)
    assert not missing, f"{_rel(doc)} names project files that do not exist: " + ", ".join(
        f"`{m}`" for m in missing
    )


def test_the_readme_is_a_short_front_door() -> None:
    count = len(README.read_text(encoding="utf-8").splitlines())
    assert count <= README_MAX_LINES, (
        f"README.md has {count} lines (at most {README_MAX_LINES}): move the details to docs/ "
        "and link them"
    )


def _citing_files() -> Iterator[Path]:
    for name in CITING_FILES:
        if (REPO_ROOT / name).is_file():
            yield REPO_ROOT / name
    for root in CITING_ROOTS:
        for path in sorted((REPO_ROOT / root).rglob("*")):
            rel = _rel(path)
            if not path.is_file() or any(part.endswith(SKIPPED_DIRS) for part in path.parts):
                continue
            if not rel.startswith(NOT_OURS):
                yield path


def test_nothing_cites_files_outside_the_project() -> None:
    citing = [
        f"{_rel(path)} ({name})"
        for path in _citing_files()
        for name in OUTSIDE_THE_PROJECT
        if name.encode() in path.read_bytes()
    ]
    assert not citing, (
        "these files cite what is not in the project (cite a file inside it instead): "
        + ", ".join(citing)
    )


@pytest.mark.parametrize(
    ("token", "pattern"),
    [
        ("cluster-conf/README.md", "cluster-conf/README.md"),
        ("images/<stage>/Dockerfile", "images/*/Dockerfile"),
        ("stages/NAME/", "stages/*"),
        ("pipelines/NAME.yaml", "pipelines/*.yaml"),
        ("lineage/<stage>.json", None),
        ("models/model.keras", None),
        ("pedigree.stagekit", None),
        ("Makefile", "Makefile"),
    ],
)
def test_project_paths_are_recognised(token: str, pattern: str | None) -> None:
    assert _project_path(token) == pattern
