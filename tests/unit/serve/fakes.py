"""Shared by the server's tests: a fake predictor (no TensorFlow), bundles, images, a server.

The fake predictor is a real pipeline predictor module, written into a temporary code root as
`fakepets/serve.py` (as `stages/serve.py` is in a project): the server imports it from there.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pedigree.bundle import BundleFile, ServeBundle, file_digests

PREDICTOR = "fakepets.serve"
SIDE = 8  # every output is SIDE x SIDE, whatever the input's size

PREDICTOR_SOURCE = '''\
"""A fake predictor: grey level > 127 is the mask; refuses non-images; one call at a time."""

import io
import threading
import time

import numpy as np
from PIL import Image

from pedigree.stagekit import BadRequestError

SIDE = 8
LOADED = {}


class Fake:
    outputs = ("mask", "probabilities", "size")
    default_outputs = ("mask",)

    def __init__(self, temperature):
        self.temperature = temperature
        self.busy = threading.Lock()

    def predict(self, inputs):
        # Fails loudly if the server ever calls it concurrently (it must serialise calls).
        if not self.busy.acquire(blocking=False):
            raise RuntimeError("predict was called concurrently")
        try:
            time.sleep(0.002)
            pixels = [self.pixels(item) for item in inputs]
        finally:
            self.busy.release()
        if any(p.shape[:2] == (1, 1) and p[0, 0].tolist() == [7, 7, 7] for p in pixels):
            return {"mask": np.zeros((len(pixels) + 1, SIDE, SIDE), np.uint8)}  # breaks the contract
        sizes = np.array([p.shape[:2] for p in pixels], dtype=np.int64)
        small = np.stack([
            np.asarray(Image.fromarray(p).resize((SIDE, SIDE), Image.NEAREST)) for p in pixels
        ])
        grey = small.mean(axis=-1)
        mask = (grey > 127).astype(np.uint8)
        p = (grey / 255.0).astype(np.float32)
        return {"mask": mask, "probabilities": np.stack([1 - p, p], axis=-1), "size": sizes}

    def pixels(self, item):
        if isinstance(item, bytes):
            try:
                with Image.open(io.BytesIO(item)) as image:
                    item = np.asarray(image.convert("RGB"))
            except Exception:
                raise BadRequestError("the input is not a decodable image") from None
        if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
            raise RuntimeError(f"the server passed {item.dtype} {item.shape}")
        if item.shape[:2] == (1, 1) and item[0, 0].tolist() == [6, 6, 6]:
            raise ValueError("the predictor exploded")
        return item


def load(files, params):
    LOADED["files"] = dict(files)
    LOADED["params"] = dict(params)
    temperature = float(files["calibration"].read_text().strip())
    return Fake(temperature)
'''


def write_predictor(
    code_root: Path, source: str = PREDICTOR_SOURCE, package: str = "fakepets"
) -> None:
    """The fake predictor as `<package>/serve.py` under `code_root`."""
    (code_root / package).mkdir(parents=True, exist_ok=True)
    (code_root / package / "__init__.py").write_text("", encoding="utf-8")
    (code_root / package / "serve.py").write_text(textwrap.dedent(source), encoding="utf-8")


def write_files(folder: Path) -> dict[str, Path]:
    """A model, a calibration and a stats file: role -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "model": folder / "model.keras",
        "calibration": folder / "calibration.txt",
        "stats": folder / "stats.json",
    }
    paths["model"].write_bytes(bytes(range(256)) * 8)
    paths["calibration"].write_text("1.5\n", encoding="utf-8")
    paths["stats"].write_text('{"mean": [0.5, 0.5, 0.5]}', encoding="utf-8")
    return paths


def bundle_for(
    files: dict[str, Path], predictor: str = PREDICTOR, uris: dict[str, str] | None = None
) -> ServeBundle:
    """A bundle naming `files` by their real hashes (version 3 of `pets`)."""
    items = []
    for role, path in files.items():
        md5, sha = file_digests(path)
        items.append(
            BundleFile(
                role=role,
                path=f"data/{role}/{path.name}",
                md5=md5,
                sha256=sha,
                size=path.stat().st_size,
                uri=(uris or {}).get(role),
            )
        )
    return ServeBundle("pets", 3, predictor, tuple(items), {"model": {"input_size": 64}})


def png(width: int = 16, height: int = 12, level: int = 200) -> bytes:
    """A PNG file of one grey level."""
    out = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), level, np.uint8)).save(out, format="PNG")
    return out.getvalue()


DRIVER = """\
import json, sys
from pathlib import Path
from pedigree.bundle import ServeBundle
from pedigree.serve.server import Limits, run

config = json.loads(Path(sys.argv[1]).read_text())
ready = Path(config["ready"])

def on_ready(url):
    ready.with_suffix(".tmp").write_text(url)
    ready.with_suffix(".tmp").rename(ready)

run(
    ServeBundle.from_json(config["bundle"]),
    {role: Path(path) for role, path in config["files"].items()},
    Path(config["code_root"]),
    "127.0.0.1",
    0,
    on_ready=on_ready,
    limits=Limits(**config["limits"]),
)
print("run returned", flush=True)
"""


@dataclass
class Served:
    """A server running in a child process."""

    process: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start_server(
    tmp: Path, bundle: ServeBundle, files: dict[str, Path], code_root: Path, limits: dict[str, int]
) -> Served:
    """Run `pedigree.serve.server.run` in a child process; back once it has called on_ready."""
    config = tmp / "server.json"
    ready = tmp / "ready.url"
    config.write_text(
        json.dumps(
            {
                "bundle": bundle.to_json(),
                "files": {role: str(path) for role, path in files.items()},
                "code_root": str(code_root),
                "limits": limits,
                "ready": str(ready),
            }
        ),
        encoding="utf-8",
    )
    (tmp / "driver.py").write_text(DRIVER, encoding="utf-8")
    log = tmp / "server.log"
    process = subprocess.Popen(
        [sys.executable, str(tmp / "driver.py"), str(config)],
        cwd=tmp,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Served(process, wait_for(ready, process, log), log)


def wait_for(ready: Path, process: subprocess.Popen[str], log: Path, timeout: float = 60) -> str:
    """The URL the server wrote once ready (fails with its log if it exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.is_file():
            return ready.read_text(encoding="utf-8")
        if process.poll() is not None:
            raise AssertionError(f"the server exited {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the server was not ready in {timeout}s:\n{log.read_text()}")
