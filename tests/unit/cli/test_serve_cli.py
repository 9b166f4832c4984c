"""`pedigree serve`: its flags, the ready line (text and --json), errors and Ctrl-C.

The server itself is a stand-in here (tests/integration/test_serve.py runs the real one)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pedigree.cli.main import main
from pedigree.errors import ServeError, ToolError
from pedigree.serve import server
from tests.unit.api.test_serve import fake_server, make_served_project

SHA = hashlib.sha256(b"one").hexdigest()


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_served_project(tmp_path)


def serve(root: Path, *args: str) -> int:
    return main(["-C", str(root), "serve", *args])


def test_the_ready_line_says_what_is_served_and_where(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(server, "run", fake_server({}))
    assert serve(proj) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"serving pets v1 (model sha256 {SHA[:12]}...) at http://127.0.0.1:4321/v2/models/pets "
        "(Ctrl-C stops)\n"
    )
    assert "stopped serving" in err


def test_json_prints_one_object_on_one_line(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(server, "run", fake_server(seen))
    assert serve(proj, "--port", "0", "--host", "0.0.0.0", "--version", "v1", "--json") == 0
    (line,) = capsys.readouterr().out.splitlines()
    data = json.loads(line)
    assert data["url"] == "http://0.0.0.0:4321/v2/models/pets"
    assert (data["pipeline"], data["version"], data["model_sha256"]) == ("pets", 1, SHA)
    assert set(data["files"]) == {"model", "calibration", "stats"}
    assert data["files"]["model"]["source"] == "cache"
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 0)


def test_the_default_port_and_host(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(server, "run", fake_server(seen))
    assert serve(proj) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8080)


def test_version_and_model_are_exclusive(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(proj, "--version", "v1", "--model", "m.keras") == 2
    assert "--version and --model are exclusive" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_port_out_of_range_is_a_usage_error(
    proj: Path, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve(proj, "--port", port) == 2
    assert "--port" in capsys.readouterr().err


def test_a_model_path_is_relative_to_the_project_folder(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (proj / "models").mkdir()
    (proj / "models" / "mine.keras").write_bytes(b"one")
    monkeypatch.setattr(server, "run", fake_server({}))
    monkeypatch.chdir(proj.parent)
    assert serve(proj, "--model", "models/mine.keras", "--json") == 0
    assert json.loads(capsys.readouterr().out)["files"]["model"]["source"] == "given"


def test_an_unregistered_model_exits_2(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stray = tmp_path / "stray.keras"
    stray.write_bytes(b"no pedigree")
    assert serve(proj, "--model", str(stray)) == 2
    err = capsys.readouterr().err
    assert "is not in the model registry: only a model with a pedigree is served" in err


@pytest.mark.parametrize(("error", "code"), [(ServeError("bad file"), 2), (ToolError("dvc"), 4)])
def test_errors_end_in_their_exit_code(
    proj: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    code: int,
) -> None:
    monkeypatch.setattr(server, "run", fake_server({}, error))
    assert serve(proj, "--json") == code
    out, err = capsys.readouterr()
    assert str(error) in err
    assert json.loads(out.splitlines()[0])["url"]  # it was ready before it failed


def test_ctrl_c_stops_cleanly(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(server, "run", fake_server({}, KeyboardInterrupt()))
    assert serve(proj) == 0
    assert capsys.readouterr().err.strip().endswith("stopped serving")


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "pedigree serve --version v2" in out and "--port" in out
