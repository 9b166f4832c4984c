"""Loading the served model: every file checked before any project code runs, the predictor
imported from the code root and held to its contract; any failure is a ServeError."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path

import pytest

from pedigree.errors import ServeError
from pedigree.serve.limits import Limits
from pedigree.serve.model import ServedModel
from pedigree.serve.server import run
from tests.unit.serve.fakes import PREDICTOR_SOURCE, bundle_for, write_files, write_predictor


@pytest.fixture
def package(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh package name per test (imported modules stay cached in the test process)."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the model puts its code root first
    return f"fake_{uuid.uuid4().hex[:12]}"


def model_for(tmp_path: Path, package: str, source: str = PREDICTOR_SOURCE) -> ServedModel:
    files = write_files(tmp_path / "files")
    write_predictor(tmp_path / "code", source, package)
    bundle = bundle_for(files, f"{package}.serve")
    return ServedModel(bundle, files, tmp_path / "code", Limits())


def test_load_checks_files_then_loads_the_predictor(tmp_path: Path, package: str) -> None:
    model = model_for(tmp_path, package)
    assert model.load() is True
    assert model.ready and model.name == "pets"
    loaded = sys.modules[f"{package}.serve"].LOADED  # type: ignore[attr-defined]
    assert loaded["files"] == {
        "model": tmp_path / "files" / "model.keras",
        "calibration": tmp_path / "files" / "calibration.txt",
        "stats": tmp_path / "files" / "stats.json",
    }
    assert loaded["params"] == {"model": {"input_size": 64}}
    assert sys.path[0] == str((tmp_path / "code").resolve())
    # The warm-up prediction tells the metadata each output's datatype and rank.
    assert model.get_output_types() == [
        {"name": "mask", "datatype": "UINT8", "shape": [-1, -1, -1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1, -1, -1]},
        {"name": "size", "datatype": "INT64", "shape": [-1, -1]},
    ]
    assert [i["datatype"] for i in model.get_input_types()] == ["BYTES", "UINT8", "UINT8", "UINT8"]


def test_a_wrong_file_stops_it_before_any_project_code_runs(tmp_path: Path, package: str) -> None:
    model = model_for(tmp_path, package)
    (tmp_path / "files" / "stats.json").write_text('{"mean": [0, 0, 0]}', encoding="utf-8")
    with pytest.raises(
        ServeError,
        match=r"the stats file .*stats.json has sha256 [0-9a-f]{64}, not the recorded [0-9a-f]{64}: refusing to serve",
    ):
        model.load()
    assert not model.ready
    assert f"{package}.serve" not in sys.modules


def test_a_missing_local_file_stops_it(tmp_path: Path, package: str) -> None:
    model = model_for(tmp_path, package)
    del model.files["calibration"]
    with pytest.raises(
        ServeError,
        match=r"no local copy of the bundle's calibration file \(data/calibration/calibration.txt\)",
    ):
        model.load()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def load(:\n",
            r"cannot import the predictor module fake_\w+\.serve from .*code: SyntaxError",
        ),
        (
            "import no_such_module_here\n",
            r"cannot import .*: ModuleNotFoundError: No module named 'no_such_module_here'",
        ),
        (
            "LOAD = 1\n",
            r"the predictor module fake_\w+\.serve \(.*serve.py\) defines no load\(files, params\)",
        ),
        (
            "def load(files, params):\n    raise RuntimeError('no GPU')\n",
            r"fake_\w+\.serve\.load failed: RuntimeError: no GPU",
        ),
        (
            "from pedigree.errors import ServeError\n"
            "def load(files, params):\n    raise ServeError('stats.json has no std', 'rerun transform')\n",
            r"^stats.json has no std\n  hint: rerun transform$",
        ),
        (
            "from pedigree.errors import ParamsError, Problem\n"
            "def load(files, params):\n"
            "    raise ParamsError([Problem('params.yaml', 3, 'model.lr', 'must be > 0')])\n",
            r"^fake_\w+\.serve\.load: params.yaml:3 \[model.lr\]: must be > 0$",
        ),
        (
            "def load(files, params):\n    return 3\n",
            r"fake_\w+\.serve\.load returned int, no predictor",
        ),
        (
            "class P:\n    outputs = ['mask']\n    default_outputs = ('mask',)\n    def predict(self, x): return {}\n"
            "def load(files, params):\n    return P()\n",
            r"`outputs` must be a non-empty tuple of names",
        ),
        (
            "class P:\n    outputs = ('mask',)\n    default_outputs = ('probabilities',)\n    def predict(self, x): return {}\n"
            "def load(files, params):\n    return P()\n",
            r"`default_outputs` must be a non-empty tuple of its outputs \(mask\)",
        ),
        (
            "class P:\n    outputs = ('mask',)\n    default_outputs = ('mask',)\n"
            "    def predict(self, x): raise MemoryError('too big')\n"
            "def load(files, params):\n    return P()\n",
            r"the predictor failed on a warm-up image \(64x64 grey RGB\): MemoryError: too big",
        ),
        (
            "import numpy as np\nclass P:\n    outputs = ('mask',)\n    default_outputs = ('mask',)\n"
            "    def predict(self, x): return {'mask': np.zeros((2, 4), np.uint8)}\n"
            "def load(files, params):\n    return P()\n",
            r"the predictor's 'mask' output is shape \[2, 4\], not an array of 1 results",
        ),
    ],
    ids=[
        "syntax",
        "import",
        "no-load",
        "load-fails",
        "load-serve-error",
        "load-params-error",
        "not-a-predictor",
        "outputs",
        "defaults",
        "warm-up-fails",
        "warm-up-batch",
    ],
)
def test_a_predictor_that_cannot_serve_stops_it(
    tmp_path: Path, package: str, source: str, message: str
) -> None:
    model = model_for(tmp_path, package, source)
    with pytest.raises(ServeError, match=message):
        model.load()
    assert not model.ready


def test_a_predictor_refusing_the_warm_up_image_still_loads(tmp_path: Path, package: str) -> None:
    source = (
        "from pedigree.stagekit import BadRequestError\n"
        "class P:\n    outputs = ('mask',)\n    default_outputs = ('mask',)\n"
        "    def predict(self, x): raise BadRequestError('needs 128x128')\n"
        "def load(files, params):\n    return P()\n"
    )
    model = model_for(tmp_path, package, source)
    assert model.load()
    assert model.get_output_types() == [{"name": "mask", "datatype": "", "shape": [-1]}]


def test_a_predictor_imported_from_elsewhere_is_refused(tmp_path: Path, package: str) -> None:
    write_predictor(tmp_path / "other", PREDICTOR_SOURCE, package)
    sys.path.insert(0, str(tmp_path / "other"))
    __import__(f"{package}.serve")
    model = model_for(tmp_path, package)
    with pytest.raises(
        ServeError,
        match=r"the predictor module fake_\w+\.serve was imported from .*other.*, not from .*code",
    ):
        model.load()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_with_a_wrong_file_never_listens(tmp_path: Path, package: str) -> None:
    files = write_files(tmp_path / "files")
    write_predictor(tmp_path / "code", PREDICTOR_SOURCE, package)
    bundle = bundle_for(files, f"{package}.serve")
    files["model"].write_bytes(b"not the released model")
    port = _free_port()
    called: list[str] = []
    with pytest.raises(
        ServeError, match=r"the model file .*model.keras has sha256 [0-9a-f]{64}, not the recorded"
    ):
        run(bundle, files, tmp_path / "code", "127.0.0.1", port, on_ready=called.append)
    assert called == []
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


def test_run_on_a_port_in_use_is_a_serve_error(tmp_path: Path, package: str) -> None:
    model = model_for(tmp_path, package)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            ServeError, match=rf"cannot listen on 127.0.0.1:{port}: Address already in use"
        ):
            run(model.bundle, model.files, model.code_root, "127.0.0.1", port)
