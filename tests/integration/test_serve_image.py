"""The serving image run as the serving manifest runs it: uid 10001, a read-only root file system
with /tmp the only writable place, no capabilities; the released model's files fetched by their
bundle URIs (here a mounted folder standing in for the DVC remote) and checked before ready.

Needs a working podman or docker and the images `make images ONLY=base,serve` builds; skips,
saying why, where either is missing (as the stage-image tests do).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from pedigree.bundle import BUNDLE_ENV, ServeBundle
from pedigree.containers import image_ref
from pedigree.containers.engine import EngineError, find_engine, missing_images
from pedigree.registry.bundle import bundle_for_version
from pedigree.registry.store import Registry
from pedigree.spec.load import load

pytestmark = pytest.mark.integration


# Session scope, first in each test's arguments: it is set up (or skips) before the session's
# ran_template, so a machine without an engine does not build the tiny project for nothing.
@pytest.fixture(scope="session")
def engine() -> str:
    try:
        found = find_engine()
    except EngineError as exc:
        pytest.skip(exc.message)
    missing = missing_images(found, [image_ref("base"), image_ref("serve")])
    if missing:
        pytest.skip(
            f"{found.name} has no {', '.join(missing)}: build them with "
            f"`make images ENGINE={found.name} ONLY=base,serve`"
        )
    return found.name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _champion_bundle(project: Path, store: Path) -> ServeBundle:
    """The champion's bundle with every file copied into `store` (the stand-in remote, mounted
    at /remote) and its uri pointing there."""
    loaded = load(project)
    serve = loaded.spec.spec.serve
    assert serve is not None
    champion = Registry(project / "registry" / "pets", project / ".lock").champion()
    assert champion is not None
    bundle = bundle_for_version("pets", serve, champion)
    files = []
    for item in bundle.files:
        cached = project / ".dvc" / "cache" / "files" / "md5" / item.md5[:2] / item.md5[2:]
        shutil.copyfile(cached, store / item.md5)
        (store / item.md5).chmod(0o644)
        files.append(replace(item, uri=f"/remote/{item.md5}"))
    return replace(bundle, files=tuple(files))


def _start(engine: str, store: Path, bundle: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            engine, "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--user", "10001:10001",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
            "--volume", f"{store}:/remote:ro", "--env", f"{BUNDLE_ENV}={bundle}",
            "--publish", f"127.0.0.1:{port}:8080", image_ref("serve"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _ready(url: str, process: subprocess.Popen[str], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    return False


def test_the_serving_image_serves_the_champion_as_a_pod_would(
    engine: str, ran_project: Path, tmp_path: Path
) -> None:
    import numpy as np

    store = tmp_path / "remote"
    store.mkdir()
    store.chmod(0o755)
    bundle = _champion_bundle(ran_project, store)
    port = _free_port()
    process = _start(engine, store, bundle.to_json(), port)
    url = f"http://127.0.0.1:{port}"
    try:
        assert _ready(url, process, 180), process.stdout.read() if process.stdout else ""
        pixels = np.zeros((1, 32, 32, 3), np.uint8).ravel().tolist()
        body = {"inputs": [{"name": "image", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                            "data": pixels}]}  # fmt: skip
        request = urllib.request.Request(
            f"{url}/v2/models/pets/infer",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
            assert response.headers["x-pedigree-model-sha256"] == bundle.model_sha256
        assert answer["parameters"]["model_version"] == "v1"
        assert answer["outputs"][0]["name"] == "mask"
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_serving_image_refuses_a_file_with_the_wrong_bytes(
    engine: str, ran_project: Path, tmp_path: Path
) -> None:
    store = tmp_path / "remote"
    store.mkdir()
    store.chmod(0o755)
    bundle = _champion_bundle(ran_project, store)
    (store / bundle.model.md5).write_bytes(b"not the released model")
    process = _start(engine, store, bundle.to_json(), _free_port())
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 2, output
    assert "sha256" in output
