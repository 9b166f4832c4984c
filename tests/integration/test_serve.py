"""`pedigree serve` end to end: the released model answers V2 requests exactly as evaluate
predicted, the response names the model it came from, bad requests get a 4xx and change
nothing, and a model file that is not the recorded bytes is never served.

One server process for the module (`pedigree serve --port 0 --json` in a copy of the tiny pets
project after one full run, v1 the champion); the expected answers come from evaluate's own
code path (stages.common.data.dataset, the model, the calibration temperature as evaluate
applies it), run in this process.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.integration.conftest import BIN, pedigree, project_env

READY_TIMEOUT = 180.0  # seconds for `pedigree serve` to fetch, load and answer (2 slow cores)
TOO_MANY_BYTES = 64 * (1 << 20) + 1  # one byte over the server's default request body limit


@dataclass(frozen=True)
class Sample:
    """One test-split image: its id, stored uint8 pixels, evaluate's mask and probabilities."""

    id: str
    pixels: np.ndarray  # (H, W, 3) uint8, as transform stored it
    mask: np.ndarray  # (S, S) labels 0..2
    probabilities: np.ndarray  # (S, S, 3) calibrated


class Server:
    """A `pedigree serve` child process and what its ready line said."""

    def __init__(self, root: Path, *args: str) -> None:
        self.log = root.parent / f"serve-{root.name}.log"
        self.process = subprocess.Popen(
            [str(BIN / "pedigree"), "serve", "--port", "0", "--json", *args],
            cwd=root,
            env=project_env(),
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        """The ready line as JSON (AssertionError with the log when it never comes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith("{"):
                return dict(json.loads(line))
        self.stop()
        raise AssertionError(f"pedigree serve never got ready:\n{self.stderr()}")

    def finish(self, timeout: float = READY_TIMEOUT) -> tuple[int, list[str], str]:
        """Wait for the process to end by itself: exit code, stdout lines, stderr."""
        code = self.process.wait(timeout=timeout)
        out: list[str] = []
        while (line := self.lines.get(timeout=5.0)) is not None:
            out.append(line)
        return code, out, self.stderr()

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def project(ran_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ran template for this module (the server reads it, the tests too)."""
    target = tmp_path_factory.mktemp("serve") / "pets"
    shutil.copytree(ran_template, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[dict[str, Any]]:
    """One `pedigree serve` for the module: its ready line (url, version, model_sha256, ...)."""
    running = Server(project)
    try:
        yield running.ready()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def samples(project: Path) -> list[Sample]:
    """Every test-split image with the prediction evaluate makes for it."""
    import tensorflow as tf

    from stages.common.data import SplitReader, dataset
    from stages.common.metrics import log_softmax
    from stages.common.modelio import load_checked_model
    from stages.evaluate.compute import SPLIT, read_sample_ids
    from stages.evaluate.inference import EVALUATE_SPLITS
    from stages.evaluate.inputs import read_calibration

    params = _params(project)
    reader = SplitReader(project / "data" / "prepared", EVALUATE_SPLITS, "evaluate")
    files = reader.files(SPLIT)
    size = int(params["model"]["input_size"])
    model = load_checked_model(project / "models" / "model.keras", size)
    temperature = read_calibration(project / "models" / "calibration" / "calibration.json")
    batches = dataset(
        tf,
        files,
        reader.stats(),
        size,
        int(params["evaluate"]["batch_size"]),
        int(params["determinism"]["seed"]),
        training=False,
    )
    logits = np.concatenate([np.asarray(model(images, training=False)) for images, _ in batches])
    flat = np.exp(log_softmax(logits.reshape(-1, logits.shape[-1]), temperature.temperature))
    probabilities = flat.reshape(logits.shape)
    ids = read_sample_ids(tf, files)
    pixels = _stored_pixels(tf, files)
    assert len(ids) == len(pixels) == logits.shape[0] >= 2
    return [
        Sample(ids[i], pixels[i], logits[i].argmax(axis=-1), probabilities[i])
        for i in range(len(ids))
    ]


def _params(project: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8")))


def _stored_pixels(tf: Any, files: Any) -> list[np.ndarray]:
    """Each record's uint8 pixels exactly as transform stored them, in dataset order."""
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
    }
    found = []
    for record in tf.data.TFRecordDataset([str(f) for f in files.files]).take(files.count):
        example = tf.io.parse_single_example(record, spec)
        shape = (int(example["height"]), int(example["width"]), 3)
        found.append(np.frombuffer(example["image"].numpy(), np.uint8).reshape(shape))
    return found


def _raw_png(project: Path, sample_id: str) -> bytes:
    """The sample's raw image file (data/raw, found through data/prepared's provenance),
    re-encoded losslessly as PNG."""
    provenance = project / "data" / "prepared" / "provenance.jsonl"
    for line in provenance.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] == sample_id and record["split"] == "test":
            raw = project / "data" / "raw" / record["source"]["image"]
            assert hashlib.sha256(raw.read_bytes()).hexdigest() == record["source"]["image_sha256"]
            out = io.BytesIO()
            Image.open(raw).convert("RGB").save(out, format="PNG")
            return out.getvalue()
    raise AssertionError(f"{sample_id} is not in {provenance}")


def pixel_request(pixels: np.ndarray, outputs: tuple[str, ...] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": "image",
                "shape": list(pixels.shape),
                "datatype": "UINT8",
                "data": pixels.reshape(-1).tolist(),
            }
        ]
    }
    if outputs:
        body["outputs"] = [{"name": name} for name in outputs]
    return body


def bytes_request(*files: bytes) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": "image",
                "shape": [len(files)],
                "datatype": "BYTES",
                "data": [base64.b64encode(f).decode("ascii") for f in files],
            }
        ]
    }


def output(response: httpx.Response, name: str) -> np.ndarray:
    """A named output of a V2 response, shaped."""
    assert response.status_code == 200, response.text
    for item in response.json()["outputs"]:
        if item["name"] == name:
            return np.asarray(item["data"]).reshape(item["shape"])
    raise AssertionError(f"no output {name} in {response.text[:500]}")


def infer(client: httpx.Client, server: dict[str, Any], body: Any) -> httpx.Response:
    return client.post(f"{server['url']}/infer", json=body)


# --- the predictions are evaluate's ------------------------------------------------------------


def test_the_ready_line_names_the_champion(
    server: dict[str, Any], project: Path, client: httpx.Client
) -> None:
    shown = json.loads(pedigree(project, "models", "show", "1", "--json").stdout)["version"]
    assert shown["status"] == "champion"
    assert (server["pipeline"], server["version"]) == ("pets", 1)
    assert server["model_sha256"] == shown["model_sha256"]
    assert server["url"].startswith("http://127.0.0.1:") and server["url"].endswith(
        "/v2/models/pets"
    )
    base = server["url"].removesuffix("/v2/models/pets")
    assert client.get(f"{base}/v2/health/ready").status_code == 200


def test_every_test_image_gets_evaluates_mask_and_probabilities(
    server: dict[str, Any], client: httpx.Client, samples: list[Sample]
) -> None:
    batch = np.stack([s.pixels for s in samples])
    response = infer(client, server, pixel_request(batch, ("mask", "probabilities")))
    masks, probabilities = output(response, "mask"), output(response, "probabilities")
    assert masks.shape == (len(samples), *samples[0].mask.shape)
    for i, sample in enumerate(samples):
        assert np.array_equal(masks[i], sample.mask), sample.id
        np.testing.assert_allclose(probabilities[i], sample.probabilities, rtol=0, atol=1e-6)


def test_one_image_alone_and_the_default_output(
    server: dict[str, Any], client: httpx.Client, samples: list[Sample]
) -> None:
    response = infer(client, server, pixel_request(samples[0].pixels))  # (H, W, 3)
    assert [o["name"] for o in response.json()["outputs"]] == ["mask"]
    assert np.array_equal(output(response, "mask").reshape(samples[0].mask.shape), samples[0].mask)


def test_the_raw_file_as_png_gives_the_same_mask(
    server: dict[str, Any], client: httpx.Client, samples: list[Sample], project: Path
) -> None:
    files = [_raw_png(project, s.id) for s in samples]
    masks = output(infer(client, server, bytes_request(*files)), "mask")
    for i, sample in enumerate(samples):
        assert np.array_equal(masks[i], sample.mask), sample.id


def test_the_response_names_the_model_it_came_from(
    server: dict[str, Any], client: httpx.Client, samples: list[Sample]
) -> None:
    response = infer(client, server, pixel_request(samples[0].pixels))
    assert response.status_code == 200, response.text
    parameters = response.json()["parameters"]
    assert parameters["pipeline"] == "pets"
    assert str(parameters["model_version"]) in ("v1", "1")
    assert parameters["model_sha256"] == server["model_sha256"]
    headers = response.headers
    assert headers["x-pedigree-pipeline"] == "pets"
    assert headers["x-pedigree-model-version"] in ("v1", "1")
    assert headers["x-pedigree-model-sha256"] == server["model_sha256"]


# --- bad requests: a 4xx with a message, and the server keeps serving -------------------------


def _declared_too_large(url: str) -> int:
    """Status of a request whose Content-Length is over the limit (its body is never sent)."""
    parsed = httpx.URL(url)
    with socket.create_connection((parsed.host, parsed.port), timeout=30) as sock:
        head = (
            f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {TOO_MANY_BYTES}\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"inputs": [')
        reply = sock.recv(4096).decode("latin-1")
    return int(reply.split(" ", 2)[1])


def test_bad_requests_get_a_4xx_with_a_message(
    server: dict[str, Any], client: httpx.Client, samples: list[Sample]
) -> None:
    url = f"{server['url']}/infer"
    pixels = samples[0].pixels
    bad = {
        "not an image": bytes_request(b"this is not an image"),
        "wrong shape": pixel_request(np.zeros((1, *pixels.shape[:2], 4), np.uint8)),
        "wrong dtype": {
            "inputs": [
                {
                    "name": "image",
                    "shape": list(pixels.shape),
                    "datatype": "FP32",
                    "data": pixels.reshape(-1).astype(float).tolist(),
                }
            ]
        },
        "unknown output": pixel_request(pixels, ("mask", "nonsense")),
        "too many images": bytes_request(*[_png(pixels)] * 65),
    }
    for what, body in bad.items():
        response = client.post(url, json=body)
        assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
        assert response.json().get("error"), (what, response.text)
    malformed = client.post(url, content=b'{"inputs": [', headers=_json_type())
    assert 400 <= malformed.status_code < 500 and malformed.json().get("error")
    assert _declared_too_large(url) == 413
    other_model = f"{server['url'].rsplit('/', 1)[0]}/nope/infer"
    assert client.post(other_model, json=pixel_request(pixels)).status_code == 404
    # and the server still answers
    good = infer(client, server, pixel_request(pixels))
    assert np.array_equal(output(good, "mask").reshape(samples[0].mask.shape), samples[0].mask)


def _json_type() -> dict[str, str]:
    return {"content-type": "application/json"}


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_fifty_concurrent_requests_all_succeed(
    server: dict[str, Any], samples: list[Sample]
) -> None:
    bodies = [pixel_request(samples[i % len(samples)].pixels) for i in range(50)]

    def send(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(timeout=120.0) as http:
            return http.post(f"{server['url']}/infer", json=body)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, bodies))
    for i, response in enumerate(responses):
        mask = output(response, "mask").reshape(samples[0].mask.shape)
        assert np.array_equal(mask, samples[i % len(samples)].mask)


# --- only the recorded bytes are served ------------------------------------------------------


def test_a_model_with_a_wrong_hash_is_never_served(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "pets"
    shutil.copytree(project, copy, symlinks=True)
    shown = json.loads(pedigree(copy, "models", "show", "1", "--json").stdout)["version"]
    md5 = shown["files"]["model"]["md5"]
    damaged = b"not the released weights"
    cached = copy / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    for path in (cached, copy / shown["artifact"]):
        path.chmod(0o644)
        path.write_bytes(damaged)
    running = Server(copy)
    try:
        code, out, err = running.finish()
    finally:
        running.stop()
    assert code != 0, err
    assert not any(line.startswith("{") and "url" in line for line in out), out
    assert "sha256" in err and shown["model_sha256"] in err, err


def test_a_model_file_with_no_pedigree_exits_2(project: Path, tmp_path: Path) -> None:
    stray = tmp_path / "stray.keras"
    stray.write_bytes((project / "models" / "model.keras").read_bytes() + b"\0")
    result = pedigree(project, "serve", "--model", str(stray), "--port", "0", check=False)
    assert result.returncode == 2, result.stderr
    assert "is not in the model registry" in result.stderr
