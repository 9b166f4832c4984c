"""Requests in V2's binary data extension, read without KServe (pure)."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from pedigree.errors import BadRequestError
from pedigree.serve.binary import BinaryRequest, RequestedOutput, parse_binary_request


def body(header: Any, *blobs: bytes) -> tuple[bytes, str]:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return text + b"".join(blobs), str(len(text))


def test_inputs_get_their_bytes_in_order() -> None:
    jpeg = b"\xff\xd8\xff\xe0 not utf-8 \x80\x81"
    packed = struct.pack("<I", len(jpeg)) + jpeg
    raw, length = body(
        {
            "id": "r1",
            "parameters": {"binary_data_output": True},
            "inputs": [
                {
                    "name": "a",
                    "datatype": "UINT8",
                    "shape": [len(jpeg)],
                    "parameters": {"binary_data_size": len(jpeg)},
                },
                {
                    "name": "b",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": len(packed)},
                },
                {"name": "c", "datatype": "UINT8", "shape": [2], "data": [1, 2]},
            ],
            "outputs": [{"name": "mask", "parameters": {"binary_data": True}}, {"name": "size"}],
        },
        jpeg,
        packed,
    )
    request = parse_binary_request(raw, length)
    assert isinstance(request, BinaryRequest)
    assert request.id == "r1" and request.parameters == {"binary_data_output": True}
    assert [(i.name, i.datatype, i.shape, i.data) for i in request.inputs] == [
        ("a", "UINT8", (len(jpeg),), jpeg),
        ("b", "BYTES", (1,), packed),
        ("c", "UINT8", (2,), [1, 2]),
    ]
    assert request.outputs == (
        RequestedOutput("mask", {"binary_data": True}),
        RequestedOutput("size", {}),
    )


def _input(size: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "name": "a",
        "datatype": "UINT8",
        "shape": [size],
        "parameters": {"binary_data_size": size},
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "length", "message"),
    [
        (b"{}", None, r"needs the Inference-Header-Content-Length header"),
        (b"{}", "two", r"Inference-Header-Content-Length 'two' is not a number"),
        (b"{}", "3", r"Inference-Header-Content-Length is 3, the body holds 2 bytes"),
        (b"{}", "0", r"Inference-Header-Content-Length is 0"),
        (*body(b"{nope"), r"the JSON header is not valid JSON"),
        (*body([1]), r"the JSON header is not an object"),
        (*body({"inputs": {}}), r"the JSON header needs an 'inputs' list"),
        (*body({"id": 3, "inputs": []}), r"'id' must be a string"),
        (*body({"inputs": [3]}), r"inputs\[0\] is not an object"),
        (
            *body({"inputs": [{"name": "a", "shape": [1]}]}),
            r"inputs\[0\] needs a string 'name' and 'datatype'",
        ),
        (
            *body({"inputs": [_input(shape=["3"])]}, b"abc"),
            r"input 'a': 'shape' must be a list of integers",
        ),
        (
            *body({"inputs": [_input(parameters=[])]}, b"abc"),
            r"input 'a' parameters must be an object",
        ),
        (
            *body({"inputs": [_input(parameters={})]}, b"abc"),
            r"input 'a' has no 'data' and no binary_data_size parameter",
        ),
        (
            *body({"inputs": [_input(parameters={"binary_data_size": -1})]}),
            r"no binary_data_size parameter",
        ),
        (
            *body({"inputs": [_input(5)]}, b"abc"),
            r"input 'a' declares 5 bytes of binary data, only 3 follow",
        ),
        (*body({"inputs": [_input(3)]}, b"abcde"), r"2 bytes follow the inputs' binary data"),
        (*body({"inputs": [], "parameters": 1}), r"the request's 'parameters' must be an object"),
        (*body({"inputs": [], "outputs": {}}), r"'outputs' must be a list"),
        (*body({"inputs": [], "outputs": [{"id": 1}]}), r"outputs\[0\] needs a string 'name'"),
    ],
)
def test_malformed_requests_are_refused(raw: bytes, length: str | None, message: str) -> None:
    with pytest.raises(BadRequestError, match=r"^binary inference request: " + ".*" + message):
        parse_binary_request(raw, length)
