"""The DVC internals `pedigree.executors.dvc_private` relies on, checked against the installed DVC.

Each check says which DVC version broke which assumption: after a DVC upgrade, a failure here
means that module (and only it) needs changing before the pin in pyproject.toml moves.
"""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dvc
import dvc.repo.reproduce
import pytest
from dvc.repo import Repo
from dvc.stage.exceptions import StageCmdFailedError

from pedigree.executors import dvc_private
from pedigree.executors.restore import StageOut

SRC = Path(dvc_private.__file__).parents[1]


def _changed(what: str) -> str:
    return (
        f"DVC {dvc.__version__}: {what} changed; update src/pedigree/executors/dvc_private.py "
        "(and its docstring) before moving the dvc pin in pyproject.toml"
    )


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def dvc_log() -> Iterator[_Lines]:
    log = logging.getLogger("dvc")
    lines = _Lines()
    old_level = log.level
    log.addHandler(lines)
    log.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        log.removeHandler(lines)
        log.setLevel(old_level)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git + DVC repository with two stages: `make` writes out.txt from in.txt, `copy`
    copies it to copy.txt and writes metrics.json (not cached)."""
    root = tmp_path / "p"
    root.mkdir()
    _git(root, "init", "-q")
    Repo.init(str(root)).close()
    (root / "in.txt").write_text("a\n")
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  make:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
        "  copy:\n    cmd: cp out.txt copy.txt && echo {} > metrics.json\n    deps: [out.txt]\n"
        "    outs: [copy.txt, {metrics.json: {cache: false}}]\n"
    )
    monkeypatch.chdir(root)  # DVC resolves dvc.yaml against the working directory
    return root


def _repro(root: Path, calls: list[tuple[str, dict[str, Any]]], dry: bool = False) -> list[Any]:
    """Reproduce through the hook, recording each call and returning what DVC returned."""
    returned: list[Any] = []

    def hook(stage: Any, **kwargs: Any) -> Any:
        calls.append((dvc_private.stage_name(stage), dict(kwargs)))
        ret = dvc_private.reproduce_stage(stage, **kwargs)
        returned.append(ret)
        return ret

    repo = Repo(str(root))
    try:
        dvc_private.reproduce(repo, None, dry, False, hook)
    finally:
        repo.close()
    return returned


def test_the_hook_and_the_default_stage_function_keep_their_signatures() -> None:
    reproduce = inspect.signature(dvc.repo.reproduce._reproduce)
    assert "repro_fn" in reproduce.parameters, _changed("Repo.reproduce's repro_fn hook")
    assert reproduce.parameters["repro_fn"].default is dvc.repo.reproduce._reproduce_stage, (
        _changed("the default repro_fn")
    )
    stage_fn = inspect.signature(dvc.repo.reproduce._reproduce_stage)
    kinds = [p.kind for p in stage_fn.parameters.values()]
    assert kinds == [inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_KEYWORD], (
        _changed("_reproduce_stage(stage, **kwargs)")
    )
    public = inspect.signature(Repo.reproduce)
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in public.parameters.values()), (
        _changed("Repo.reproduce passing **kwargs on to the hook")
    )


def test_the_hook_sees_every_stage_in_order_with_upstream_and_force(project: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    returned = _repro(project, calls)
    assert [name for name, _ in calls] == ["make", "copy"], _changed("the order of hook calls")
    for name, kwargs in calls:
        assert {"upstream", "force"} <= set(kwargs), _changed(f"the hook's keywords ({name})")
    assert dvc_private.upstream_names(calls[1][1]) == ["make"], _changed("upstream=")
    assert dvc_private.upstream_names(calls[0][1]) == []
    assert all(r is not None for r in returned), _changed("a stage that ran being returned")
    assert (project / "copy.txt").read_text() == "a\n"

    again: list[tuple[str, dict[str, Any]]] = []
    assert _repro(project, again) == [None, None], _changed("None for a stage that is current")


def test_stage_outputs_read_as_plain_data(project: Path) -> None:
    repo = Repo(str(project))
    try:
        stages = {dvc_private.stage_name(s): s for s in repo.index.stages}
    finally:
        repo.close()
    assert dvc_private.stage_outs(stages["copy"]) == (
        StageOut("copy.txt", cached=True, persist=False),
        StageOut("metrics.json", cached=False, persist=False),
    ), _changed("Output.def_path / use_cache / persist / is_in_repo")


def test_a_run_cache_restore_and_the_git_hint_are_logged_as_expected(
    project: Path, dvc_log: _Lines
) -> None:
    _repro(project, [])
    (project / "in.txt").write_text("b\n")
    _repro(project, [])
    (project / "in.txt").write_text("a\n")  # back to a run the run-cache holds
    dvc_log.records.clear()
    _repro(project, [])
    restored = [dvc_private.restored_from_run_cache(r) for r in dvc_log.records]
    assert "make" in restored, _changed(
        f"the run-cache log line {dvc_private.RUN_CACHE_RESTORE_LOG!r}"
    )
    hints = [h for h in (dvc_private.git_add_hint(r) for r in dvc_log.records) if h]
    assert hints and re.fullmatch(r"git add .*dvc\.lock.*", hints[-1]), _changed(
        f"the log line holding {dvc_private.GIT_ADD_LOG_MARK!r}"
    )


def test_a_failed_command_keeps_its_exit_status(project: Path) -> None:
    assert dvc_private.exit_status(StageCmdFailedError("false", 3)) == 3, _changed(
        f"StageCmdFailedError's message ({dvc_private.EXIT_STATUS_MARK!r})"
    )
    (project / "dvc.yaml").write_text("stages:\n  fail:\n    cmd: exit 7\n    outs: [x.txt]\n")
    with pytest.raises(dvc.exceptions.DvcException) as caught:
        _repro(project, [])
    assert dvc_private.exit_status(caught.value) == 7, _changed(
        "the cause chain from the reproduce error to StageCmdFailedError"
    )


def test_no_other_module_uses_dvc_internals() -> None:
    """Private names of DVC (`_name`) and the per-stage hook are used in dvc_private only."""
    private = re.compile(r"from dvc[\w.]* import [^\n]*\b_\w|repro_fn|_reproduce_stage")
    users = [
        path.relative_to(SRC.parent).as_posix()
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "dvc_private.py" and private.search(path.read_text(encoding="utf-8"))
    ]
    assert users == []
