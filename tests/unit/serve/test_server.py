"""The model server end to end: `run` in a child process with a fake predictor, spoken to
over HTTP the way clients do (JSON, and V2's binary data extension)."""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.unit.serve.fakes import (
    Served,
    bundle_for,
    png,
    start_server,
    write_files,
    write_predictor,
)

LIMITS = {"max_images": 4, "max_image_bytes": 64 * 1024, "max_body_bytes": 1 << 20}
INFER = "/v2/models/pets/infer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("server")
    files = write_files(tmp / "files")
    write_predictor(tmp / "code")
    served = start_server(tmp, bundle_for(files), files, tmp / "code", LIMITS)
    yield served
    served.stop()


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def sha256(server: Served) -> str:
    return json.loads(Path(server.log.parent / "server.json").read_text())["bundle"].split(
        '"sha256":"'
    )[1][:64]


def image_input(*files: bytes) -> dict[str, Any]:
    return {
        "name": "image",
        "datatype": "BYTES",
        "shape": [len(files)],
        "data": [base64.b64encode(f).decode() for f in files],
    }


def infer(client: httpx.Client, *inputs: dict[str, Any], **extra: Any) -> httpx.Response:
    return client.post(INFER, json={"inputs": list(inputs), **extra})


def binary(
    client: httpx.Client, inputs: list[dict[str, Any]], blobs: list[bytes], **extra: Any
) -> httpx.Response:
    header = json.dumps({"inputs": inputs, **extra}).encode()
    return client.post(
        INFER,
        content=header + b"".join(blobs),
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )


def output(response: httpx.Response, name: str) -> np.ndarray:
    for item in response.json()["outputs"]:
        if item["name"] == name:
            return np.array(item["data"]).reshape(item["shape"])
    raise AssertionError(f"no output {name} in {response.text}")


def assert_identity(response: httpx.Response, server: Served) -> None:
    assert response.headers["x-pedigree-pipeline"] == "pets"
    assert response.headers["x-pedigree-model-version"] == "v3"
    assert response.headers["x-pedigree-model-sha256"] == sha256(server)


def test_the_url_is_the_loopback_address(server: Served) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)


def test_health_and_readiness(client: httpx.Client, server: Served) -> None:
    for path, body in [
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        ("/v2/models/pets/ready", {"name": "pets", "ready": True}),
    ]:
        response = client.get(path)
        assert (response.status_code, response.json()) == (200, body)
        assert_identity(response, server)


def test_metadata_lists_inputs_outputs_and_the_version(client: httpx.Client) -> None:
    response = client.get("/v2/models/pets")
    assert response.status_code == 200
    meta = response.json()
    assert (meta["name"], meta["versions"], meta["platform"]) == ("pets", ["v3"], "pedigree")
    assert [(i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        ("BYTES", [-1]),
        ("UINT8", [-1]),
        ("UINT8", [-1, -1, -1, 3]),
        ("UINT8", [-1, -1, 3]),
    ]
    assert meta["outputs"] == [
        {"name": "mask", "datatype": "UINT8", "shape": [-1, -1, -1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1, -1, -1]},
        {"name": "size", "datatype": "INT64", "shape": [-1, -1]},
    ]
    assert client.get("/v2/models").json() == {"models": ["pets"]}
    assert client.get("/v2").json()["extensions"] == []


def test_infer_base64_images_gives_the_default_outputs(
    client: httpx.Client, server: Served
) -> None:
    response = infer(client, image_input(png(level=200), png(level=20)), id="req-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-1"
    assert (body["model_name"], body["model_version"]) == ("pets", "v3")
    assert body["parameters"] == {
        "pipeline": "pets",
        "model_version": "v3",
        "model_sha256": sha256(server),
    }
    assert [o["name"] for o in body["outputs"]] == ["mask"]
    mask = output(response, "mask")
    assert mask.shape == (2, 8, 8) and body["outputs"][0]["datatype"] == "UINT8"
    assert mask[0].all() and not mask[1].any()
    assert response.headers["content-type"] == "application/json"
    assert_identity(response, server)


def test_a_request_without_an_id_gets_a_fresh_one(client: httpx.Client) -> None:
    first, second = (infer(client, image_input(png())).json()["id"] for _ in range(2))
    assert re.fullmatch(r"[0-9a-f-]{36}", first) and first != second


def test_outputs_are_chosen_by_the_request(client: httpx.Client) -> None:
    response = infer(
        client, image_input(png(16, 12)), outputs=[{"name": "size"}, {"name": "probabilities"}]
    )
    assert response.status_code == 200, response.text
    assert [(o["name"], o["datatype"], o["shape"]) for o in response.json()["outputs"]] == [
        ("size", "INT64", [1, 2]),
        ("probabilities", "FP32", [1, 8, 8, 2]),
    ]
    assert output(response, "size").tolist() == [[12, 16]]
    unknown = infer(client, image_input(png()), outputs=[{"name": "logits"}])
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": "unknown output 'logits'; this model gives 'mask', 'probabilities', 'size'"},
    )


def test_infer_pixels_json_in_both_ranks(client: httpx.Client) -> None:
    pixels = np.full((2, 3, 5, 3), 250, np.uint8)
    pixels[1] = 7
    batch = infer(
        client,
        {
            "name": "pixels",
            "datatype": "UINT8",
            "shape": [2, 3, 5, 3],
            "data": pixels.ravel().tolist(),
        },
        outputs=[{"name": "size"}, {"name": "mask"}],
    )
    assert batch.status_code == 200, batch.text
    assert output(batch, "size").tolist() == [[3, 5], [3, 5]]
    assert output(batch, "mask")[0].all() and not output(batch, "mask")[1].any()
    single = infer(
        client, {"name": "p", "datatype": "UINT8", "shape": [3, 5, 3], "data": pixels[0].tolist()}
    )
    assert single.status_code == 200 and output(single, "mask").shape == (1, 8, 8)


def test_binary_extension_octets_bytes_and_pixels(client: httpx.Client) -> None:
    jpeg_like = png(level=230)  # any encoded file; PNG is as good as JPEG here
    octets = binary(
        client,
        [
            {
                "name": "f",
                "datatype": "UINT8",
                "shape": [len(jpeg_like)],
                "parameters": {"binary_data_size": len(jpeg_like)},
            }
        ],
        [jpeg_like],
    )
    assert octets.status_code == 200, octets.text
    assert output(octets, "mask").all()
    packed = b"".join(struct.pack("<I", len(f)) + f for f in (png(level=230), png(level=5)))
    as_bytes = binary(
        client,
        [
            {
                "name": "f",
                "datatype": "BYTES",
                "shape": [2],
                "parameters": {"binary_data_size": len(packed)},
            }
        ],
        [packed],
        outputs=[{"name": "mask"}],
    )
    assert as_bytes.status_code == 200, as_bytes.text
    assert output(as_bytes, "mask")[0].all() and not output(as_bytes, "mask")[1].any()
    raw = np.full((1, 4, 4, 3), 255, np.uint8).tobytes()
    pixels = binary(
        client,
        [
            {
                "name": "p",
                "datatype": "UINT8",
                "shape": [1, 4, 4, 3],
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        [raw],
    )
    assert pixels.status_code == 200 and output(pixels, "mask").all()


def test_binary_outputs_on_request(client: httpx.Client) -> None:
    response = infer(
        client,
        image_input(png(level=230)),
        outputs=[{"name": "mask", "parameters": {"binary_data": True}}],
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.content[:length])
    assert header["outputs"] == [
        {
            "name": "mask",
            "shape": [1, 8, 8],
            "datatype": "UINT8",
            "parameters": {"binary_data_size": 64},
        }
    ]
    assert response.content[length:] == b"\x01" * 64
    every = infer(client, image_input(png(level=230)), parameters={"binary_data_output": True})
    length = int(every.headers["inference-header-content-length"])
    assert json.loads(every.content[:length])["outputs"][0]["parameters"] == {
        "binary_data_size": 64
    }


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (
            {
                "inputs": [
                    {"name": "x", "datatype": "FP32", "shape": [1, 2, 2, 3], "data": [0.5] * 12}
                ]
            },
            "input 'x' (FP32 [1, 2, 2, 3]): datatype FP32 is not accepted; accepted: BYTES [N]",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "INT64", "shape": [2], "data": [1, 2]}]},
            "input 'x' (INT64 [2]): datatype INT64 is not accepted; accepted:",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "UINT8", "shape": [2, 6], "data": [0] * 12}]},
            "input 'x' (UINT8 [2, 6]): UINT8 with rank 2 is not accepted; accepted:",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "datatype": "UINT8", "shape": [1, 2, 2, 4], "data": [0] * 16}
                ]
            },
            "input 'x' (UINT8 [1, 2, 2, 4]): pixels need 3 channels (RGB) last, not 4",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [0] * 11}
                ]
            },
            "input 'x' (UINT8 [1, 2, 2, 3]): data holds 11 values, the shape says 12",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["%%%"]}]},
            "input 'x' (BYTES [1]): element 0 is not valid base64",
        ),
        ({"inputs": [image_input(b"plain text, no image")]}, "the input is not a decodable image"),
        (
            {"inputs": [image_input(*[png()] * 5)]},
            "input 'image' (BYTES [5]): 5 images in one request, the limit is 4",
        ),
        (
            {"inputs": [image_input(b"x" * (64 * 1024 + 1))]},
            "input 'image' (BYTES [1]): image 0 holds 65537 bytes, the limit is 65536",
        ),
        (
            {"inputs": [image_input(png()), image_input(png())]},
            "a request holds exactly one input tensor, this one has 2 ('image', 'image')",
        ),
        ({"inputs": []}, "a request holds exactly one input tensor, this one has 0 (none)"),
        ({"foo": 1}, "the request is not a valid V2 inference request (inputs: Field required)"),
    ],
    ids=[
        "fp32",
        "int64",
        "rank2",
        "channels",
        "length",
        "base64",
        "not-image",
        "too-many",
        "too-large",
        "two-inputs",
        "no-inputs",
        "not-v2",
    ],
)
def test_bad_requests_get_400_with_the_reason(
    client: httpx.Client, server: Served, request_body: dict[str, Any], message: str
) -> None:
    response = client.post(INFER, json=request_body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert_identity(response, server)


def test_malformed_bodies(client: httpx.Client) -> None:
    broken = client.post(
        INFER, content=b'{"inputs": [', headers={"Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()) == (
        400,
        {"error": "the request is not a valid V2 inference request (body: JSON decode error)"},
    )
    no_header = client.post(
        INFER, content=b"\xff\xd8\xff", headers={"Content-Type": "application/octet-stream"}
    )
    assert no_header.status_code == 400
    assert "needs the Inference-Header-Content-Length header" in no_header.json()["error"]


def test_too_large_bodies_get_413(client: httpx.Client, server: Served) -> None:
    declared = client.post(
        INFER, content=b"x" * ((1 << 20) + 1), headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json() == {
        "error": "the request body of 1048577 bytes is over the server's limit of 1048576 bytes (1 MiB): send fewer or smaller images per request"
    }
    assert_identity(declared, server)

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 32768

    streamed = client.post(INFER, content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json()["error"].startswith("the request body is over the server's limit")


def test_unknown_model_and_repository_api_are_404(client: httpx.Client) -> None:
    unknown = client.post("/v2/models/cats/infer", json={"inputs": [image_input(png())]})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "Model with name cats does not exist."},
    )
    assert client.get("/v2/models/cats").status_code == 404
    unload = client.post("/v2/repository/models/pets/unload")
    assert (unload.status_code, unload.json()) == (
        404,
        {"error": "this server serves one model: the model repository API is off"},
    )
    assert client.get("/v2/models/pets/ready").status_code == 200


def test_a_predictor_failure_is_a_500_and_the_server_goes_on(
    client: httpx.Client, server: Served
) -> None:
    boom = infer(client, {"name": "p", "datatype": "UINT8", "shape": [1, 1, 3], "data": [6, 6, 6]})
    assert (boom.status_code, boom.json()) == (500, {"error": "ValueError: the predictor exploded"})
    assert infer(client, image_input(png())).status_code == 200


def test_a_predictor_breaking_its_contract_is_a_500_naming_it(client: httpx.Client) -> None:
    broken = infer(
        client, {"name": "p", "datatype": "UINT8", "shape": [1, 1, 3], "data": [7, 7, 7]}
    )
    assert (broken.status_code, broken.json()) == (
        500,
        {"error": "the predictor's 'mask' output is shape [2, 8, 8], not an array of 1 results"},
    )
    assert infer(client, image_input(png())).status_code == 200


def test_fifty_concurrent_requests_all_succeed(server: Served) -> None:
    def one(index: int) -> tuple[int, str]:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            response = infer(http, image_input(png(level=index * 5)), id=f"c{index}")
            return response.status_code, response.json().get("id", "")

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    assert results == [(200, f"c{i}") for i in range(50)]


def test_the_log_has_a_line_for_a_4xx_and_a_traceback_only_for_a_500(
    client: httpx.Client, server: Served
) -> None:
    seen = len(server.log.read_text())
    infer(client, {"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]})
    infer(client, {"name": "p", "datatype": "UINT8", "shape": [1, 1, 3], "data": [6, 6, 6]})
    assert client.get("/v2/health/live").status_code == 200  # also: everything above is logged
    log = server.log.read_text()[seen:]
    assert (
        "400 POST /v2/models/pets/infer: input 'x' (FP32 [1]): datatype FP32 is not accepted" in log
    )
    assert '"POST /v2/models/pets/infer HTTP/1.1" 400' in log
    refused, failed = log.split('"POST /v2/models/pets/infer HTTP/1.1" 400')
    assert "Traceback" not in refused
    assert failed.count("Traceback") == 1 and "ValueError: the predictor exploded" in failed
