"""Requests in V2's binary data extension: a JSON header, then each input's raw bytes.

A client sends the header's length in `Inference-Header-Content-Length`; an input without
`data` names its byte count in `parameters.binary_data_size`, and its bytes follow the header
in input order. KServe 0.21 decodes such a request itself, but turns every UINT8 byte into a
Python int (a 16 MiB image becomes a 16-million-element list) and fails on BYTES elements that
are not UTF-8 (every image file); so the server reads the body here instead, keeping each
input's bytes as they came. Pure: no KServe import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pedigree.errors import BadRequestError
from pedigree.serve.protocol import RequestTensor

HEADER_LENGTH = "inference-header-content-length"


@dataclass(frozen=True)
class RequestedOutput:
    """An output the request names, with its parameters (e.g. `binary_data`)."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BinaryRequest:
    """A binary-extension request, its header checked and its inputs' bytes cut out."""

    id: str | None
    parameters: Mapping[str, Any]
    inputs: tuple[RequestTensor, ...]
    outputs: tuple[RequestedOutput, ...]


def _bad(problem: str) -> BadRequestError:
    return BadRequestError(f"binary inference request: {problem}")


def parse_binary_request(body: bytes, header_length: str | None) -> BinaryRequest:
    """Split `body` by its JSON header of `header_length` bytes (the header's value)."""
    if header_length is None:
        raise _bad(
            "a body that is not JSON needs the Inference-Header-Content-Length header "
            "(send JSON with Content-Type: application/json otherwise)"
        )
    try:
        length = int(header_length)
    except ValueError:
        raise _bad(f"Inference-Header-Content-Length {header_length!r} is not a number") from None
    if not 0 < length <= len(body):
        raise _bad(f"Inference-Header-Content-Length is {length}, the body holds {len(body)} bytes")
    try:
        header = json.loads(body[:length])
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"the JSON header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _bad("the JSON header is not an object")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad("'id' must be a string")
    inputs = header.get("inputs")
    if not isinstance(inputs, list):
        raise _bad("the JSON header needs an 'inputs' list")
    offset = length
    tensors = []
    for index, item in enumerate(inputs):
        tensor, offset = _input(item, index, body, offset)
        tensors.append(tensor)
    if offset != len(body):
        raise _bad(
            f"{len(body) - offset} bytes follow the inputs' binary data "
            "(check each input's binary_data_size)"
        )
    return BinaryRequest(
        id=request_id,
        parameters=_parameters(header.get("parameters"), "the request's 'parameters'"),
        inputs=tuple(tensors),
        outputs=_outputs(header.get("outputs")),
    )


def _input(item: Any, index: int, body: bytes, offset: int) -> tuple[RequestTensor, int]:
    if not isinstance(item, dict):
        raise _bad(f"inputs[{index}] is not an object")
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise _bad(f"inputs[{index}] needs a string 'name' and 'datatype'")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise _bad(f"input '{name}': 'shape' must be a list of integers")
    parameters = _parameters(item.get("parameters"), f"input '{name}' parameters")
    if "data" in item:
        data: Any = item["data"]
    else:
        size = parameters.get("binary_data_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"input '{name}' has no 'data' and no binary_data_size parameter")
        if offset + size > len(body):
            raise _bad(
                f"input '{name}' declares {size} bytes of binary data, "
                f"only {len(body) - offset} follow"
            )
        data = body[offset : offset + size]
        offset += size
    return RequestTensor(name, datatype, tuple(shape), data, parameters), offset


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    return value


def _outputs(value: Any) -> tuple[RequestedOutput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad("'outputs' must be a list")
    outputs = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _bad(f"outputs[{index}] needs a string 'name'")
        outputs.append(
            RequestedOutput(item["name"], _parameters(item.get("parameters"), "output parameters"))
        )
    return tuple(outputs)
