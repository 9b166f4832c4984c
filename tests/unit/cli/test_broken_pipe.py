"""A closed output (`pedigree ... | head -1`) ends every command quietly with exit 141.

The real console script is run with its stdout already closed by the reader, for a few
commands (help, text, --json, a failing command); main() itself is driven with streams that
raise, to cover the paths a subprocess cannot reach on demand.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pedigree.cli import main as cli_main
from pedigree.cli import render
from pedigree.cli.main import main
from tests.unit.lineage.conftest import records, write_project

PEDIGREE = Path(sys.executable).parent / "pedigree"


def _closed_stdout(*args: str, cwd: Path) -> tuple[int, bytes]:
    """Run the console script with a stdout pipe nobody reads: the reader closes it at once."""
    child = subprocess.Popen(
        [str(PEDIGREE), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before the child can write: its first write meets a closed pipe
    err = child.stderr.read()
    return child.wait(timeout=60), err


@pytest.fixture(scope="module")
def tiny_lineage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("bp") / "proj", records()).root


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("lineage", "models/model.keras", "--json"),
    ],
    ids=["help", "json"],
)
def test_a_closed_stdout_ends_quietly(tiny_lineage: Path, args: tuple[str, ...]) -> None:
    code, err = _closed_stdout(*args, cwd=tiny_lineage)
    assert (code, err) == (141, b"")


def test_errors_still_reach_stderr_when_stdout_is_closed(tiny_lineage: Path) -> None:
    code, err = _closed_stdout("lineage", "no/such/output", cwd=tiny_lineage)
    assert code == 2
    assert err.startswith(b"error: 'no/such/output' is not an output of any stage")


class _Broken(io.StringIO):
    """A stdout whose reader has gone: every write or flush fails like a closed pipe."""

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at

    def write(self, text: str) -> int:
        if self.at == "write":
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)

    def flush(self) -> None:
        if self.at == "flush":
            raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def silenced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(render, "silence_closed_output", lambda: calls.append("silenced"))
    monkeypatch.setattr(render, "output_closed", lambda: True)
    return calls


@pytest.mark.parametrize("at", ["write", "flush"])
def test_main_maps_a_broken_stdout_to_141(
    at: str,
    silenced: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "flush": all output fit the buffer and the pipe broke on the final flush, which main()
    # does itself so that the interpreter's own flush at exit has nothing left to fail on.
    monkeypatch.setattr(sys, "stdout", _Broken(at))
    assert main(["--help"]) == render.BROKEN_PIPE_EXIT == 141
    assert silenced == ["silenced"]
    assert capsys.readouterr().err == ""


def test_main_maps_a_broken_json_error_output_to_141(
    silenced: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdout", _Broken("write"))
    assert main(["-C", str(tmp_path), "check", "--json"]) == 141
    assert silenced == ["silenced"]


def test_a_broken_pipe_to_a_child_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Our own output is fine, so this is a bug (e.g. writing to a dead child), not a reader gone.
    def broken(*_: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_main.api, "validate", broken)
    monkeypatch.setattr(render, "output_closed", lambda: False)
    assert main(["validate"]) == 5
    err = capsys.readouterr().err
    assert "internal error: BrokenPipeError: [Errno 32] Broken pipe" in err


def test_output_closed_tells_a_closed_pipe_from_an_open_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    try:
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(sys, "stderr", io.StringIO())  # no descriptor: not looked at
        assert render.output_closed() is False
        os.close(read_end)
        assert render.output_closed() is True
    finally:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, write_end)  # nothing left to fail when the stream closes
        os.close(devnull)
        stream.close()


def test_silencing_points_only_the_closed_stream_at_devnull(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    closed = os.fdopen(write_end, "w")
    kept = (tmp_path / "err.txt").open("w")
    try:
        monkeypatch.setattr(sys, "stdout", closed)
        monkeypatch.setattr(sys, "stderr", kept)
        os.close(read_end)
        render.silence_closed_output()
        closed.write("lost\n")
        closed.flush()  # would raise BrokenPipeError had it not been redirected
        kept.write("kept\n")
        kept.flush()
        assert (tmp_path / "err.txt").read_text() == "kept\n"
    finally:
        closed.close()
        kept.close()
