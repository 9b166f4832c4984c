"""`python -m pedigree.serve`, the serving image's entry point: it refuses to start with one
line on stderr (exit 2: bad bundle or hash mismatch, 4: store unreachable), or serves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pedigree.bundle import BUNDLE_ENV
from tests.unit.serve.fakes import bundle_for, png, write_files, write_predictor


def entry(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != BUNDLE_ENV}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pedigree.serve", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=120,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, pattern: str) -> None:
    assert done.returncode == code, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.fullmatch("error: " + pattern + r"\n", done.stderr), done.stderr


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("", r"no serve bundle: \$PEDIGREE_SERVE_BUNDLE is not set \(hint: .*--bundle FILE\)"),
        ("{not json", r"PEDIGREE_SERVE_BUNDLE is not valid JSON: .*"),
        ('{"pipeline": "pets"}', r"PEDIGREE_SERVE_BUNDLE lacks the key 'files' \(hint: .*\)"),
    ],
)
def test_a_bad_bundle_in_the_environment_is_exit_2(
    tmp_path: Path, value: str, pattern: str
) -> None:
    done = entry("--files", str(tmp_path / "models"), env={BUNDLE_ENV: value})
    assert_one_line(done, 2, pattern)
    assert not (tmp_path / "models").exists()


def test_a_missing_bundle_file_is_exit_2(tmp_path: Path) -> None:
    assert_one_line(
        entry("--bundle", str(tmp_path / "nope.json")), 2, r"cannot read the bundle .*nope.json: .*"
    )


def test_a_hash_mismatch_is_exit_2_and_leaves_nothing(tmp_path: Path) -> None:
    source = write_files(tmp_path / "store")
    bundle = bundle_for(source, uris={role: path.as_uri() for role, path in source.items()})
    source["calibration"].write_text("9.9\n", encoding="utf-8")
    done = entry("--files", str(tmp_path / "models"), env={BUNDLE_ENV: bundle.to_json()})
    assert_one_line(
        done,
        2,
        r"the calibration file .* has sha256 [0-9a-f]{64}, not the recorded [0-9a-f]{64}: refusing .* \(hint: .*\)",
    )
    # The right files fetched before it stay (verified, by content); the wrong one left nothing.
    kept = sorted(p.relative_to(tmp_path / "models") for p in (tmp_path / "models").rglob("*"))
    model = bundle.model
    assert kept == [Path(model.md5), Path(model.md5) / "model.keras"]


def test_an_unreachable_store_is_exit_4(tmp_path: Path) -> None:
    source = write_files(tmp_path / "store")
    bundle = bundle_for(
        {"model": source["model"]}, uris={"model": "s3://pedigree/dvc/files/md5/ab/cd"}
    )
    env = {
        BUNDLE_ENV: bundle.to_json(),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_MAX_ATTEMPTS": "1",
    }
    done = entry("--files", str(tmp_path / "models"), env=env)
    assert_one_line(
        done,
        4,
        r"cannot read s3://pedigree/dvc/files/md5/ab/cd at http://127.0.0.1:9: EndpointConnectionError: .*",
    )


@pytest.mark.parametrize(
    ("stop", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"]
)
def test_it_fetches_checks_and_serves_until_stopped(
    tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    source = write_files(tmp_path / "store")
    write_predictor(tmp_path / "app")
    bundle = bundle_for(
        source,
        uris={
            "model": source["model"].as_uri(),
            "calibration": str(source["calibration"]),
            "stats": str(source["stats"]),
        },
    )
    (tmp_path / "bundle.json").write_text(bundle.to_json(), encoding="utf-8")
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pedigree.serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--files",
                str(tmp_path / "models"),
                "--bundle",
                str(tmp_path / "bundle.json"),
            ],
            cwd=tmp_path / "app",  # the default code root
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"ready at (http://127\.0\.0\.1:\d+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        url = found.group(1)
        assert httpx.get(url + "/v2/health/ready").json() == {"ready": True}
        response = httpx.post(
            url + "/v2/models/pets/infer",
            json={
                "inputs": [
                    {"name": "i", "datatype": "UINT8", "shape": [len(png())], "data": list(png())}
                ]
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-pedigree-model-sha256"] == bundle.model_sha256
        process.send_signal(stop)
        assert process.wait(timeout=30) == code
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    for item in bundle.files:
        assert (tmp_path / "models" / item.md5 / Path(item.path).name).is_file()
