"""What does serving over HTTP cost? `pedigree serve` against the predictor called in-process.

In the project it is run in (after `make run`: the registry has a champion), starts
`pedigree serve --port 0 --json` as a child process and, for one test-split image (its stored
pixels, sent as a V2 UINT8 tensor in JSON), measures the p50/p95 latency of sequential infer
requests and the throughput of a few concurrent clients. The server is then stopped and the
baseline measured in this process: the same predictor, loaded from the same serve bundle (the
same files, fetched by hash), called on the same pixels, sequentially. Prints both and the
ratios. Goal: server p50 / in-process p50 <= 1.5.

    .venv/bin/python benchmarks/serving.py [--requests 200] [--clients 4] [--version vN]
        [--project DIR]
"""

from __future__ import annotations

import argparse
import importlib
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import BIN, project_env  # noqa: E402

GOAL = 1.5
READY_TIMEOUT = 300.0
WARM_UP = 5


def test_image(root: Path) -> Any:
    """The first test-split image's uint8 pixels (H, W, 3), as transform stored them."""
    import numpy as np
    import tensorflow as tf

    from stages.common.data import SplitReader
    from stages.evaluate.inference import EVALUATE_SPLITS

    files = SplitReader(root / "data" / "prepared", EVALUATE_SPLITS, "benchmark").files("test")
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
    }
    for record in tf.data.TFRecordDataset([str(f) for f in files.files]).take(1):
        example = tf.io.parse_single_example(record, spec)
        shape = (int(example["height"]), int(example["width"]), 3)
        return np.frombuffer(example["image"].numpy(), np.uint8).reshape(shape)
    raise SystemExit("the test split is empty: run `make run` first")


def start_server(root: Path, work: Path, version: str | None) -> tuple[subprocess.Popen[str], str]:
    """`pedigree serve` on a free port for the project at `root` (run from `work`, outside the
    project); the process and the model's URL from its ready line."""
    argv = [str(BIN / "pedigree"), "-C", str(root), "serve", "--port", "0", "--json"]
    if version:
        argv += ["--version", version]
    log = (work / "serve.log").open("wb")
    process = subprocess.Popen(
        argv, cwd=work, env=project_env(), stdout=subprocess.PIPE, stderr=log, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            break
        if line.startswith("{"):
            return process, str(json.loads(line)["url"])
    process.kill()
    raise SystemExit("pedigree serve never got ready:\n" + (work / "serve.log").read_text())


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(call: Callable[[], None], count: int) -> list[float]:
    """Seconds of each of `count` sequential calls, after a few untimed warm-up calls."""
    for _ in range(WARM_UP):
        call()
    found = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        found.append(time.perf_counter() - started)
    return found


def throughput(call: Callable[[], None], count: int, clients: int) -> float:
    """Calls per second with `clients` callers sharing `count` calls."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda _: call(), range(count)))
    return count / (time.perf_counter() - started)


def measure_server(url: str, pixels: Any, requests: int, clients: int) -> tuple[list[float], float]:
    import httpx

    body = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "datatype": "UINT8",
                    "shape": list(pixels.shape),
                    "data": pixels.reshape(-1).tolist(),
                }
            ]
        }
    ).encode()
    headers = {"content-type": "application/json"}
    with httpx.Client(timeout=120.0) as http:

        def infer() -> None:
            response = http.post(f"{url}/infer", content=body, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"the server answered {response.status_code}: {response.text}")

        return timed(infer, requests), throughput(infer, requests, clients)


def load_in_process(root: Path, work: Path, version: str | None) -> Any:
    """The same predictor, loaded from the same bundle in this process (its module imported
    from this checkout, which `--project` copies of it share). Loaded before this process runs
    any TensorFlow op: the predictor sets TensorFlow's thread counts from the recorded params."""
    from pedigree.api import serve as serve_api

    resolved = serve_api.resolve(root, version=version)
    files = {f.role: f.path for f in serve_api.fetch(resolved, work / "files")}
    return importlib.import_module(resolved.bundle.predictor).load(files, resolved.bundle.params)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per measure")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--version", default=None, help="version to serve (default: champion)")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="the project (default: this one, after make run)"
    )
    args = parser.parse_args()
    root = args.project.resolve()
    with tempfile.TemporaryDirectory(prefix="pedigree-serving-") as tmp:
        work = Path(tmp)
        predictor = load_in_process(root, work, args.version)
        pixels = test_image(root)
        process, url = start_server(root, work, args.version)
        try:
            sequential, served_rate = measure_server(url, pixels, args.requests, args.clients)
        finally:
            process.terminate()
            process.wait(timeout=60)
        local = timed(lambda: predictor.predict([pixels]), args.requests)
    s50, s95 = percentiles(sequential)
    l50, l95 = percentiles(local)
    size = "x".join(str(d) for d in pixels.shape)
    print(f"one {size} test image, {args.requests} timed requests after {WARM_UP} warm-up")
    print(f"pedigree serve (V2 JSON over HTTP): p50 {s50:.1f} ms, p95 {s95:.1f} ms")
    print(f"  {args.clients} concurrent clients: {served_rate:.1f} requests/s")
    print(f"predictor in-process:              p50 {l50:.1f} ms, p95 {l95:.1f} ms")
    print(f"  sequential: {1000 / l50:.1f} predictions/s")
    ratio = s50 / l50
    print(
        f"ratio served/in-process p50: {ratio:.2f} (goal <= {GOAL:.1f}: "
        f"{'met' if ratio <= GOAL else 'NOT met'}); p95 {s95 / l95:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
