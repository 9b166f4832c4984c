"""Open Inference Protocol (V2) tensors to a pipeline predictor's inputs, and its outputs back.

Pure (numpy and orjson, no KServe): the model server (`pedigree.serve.model`) hands the request's
tensors here and gets back what the predictor takes (`pedigree.stagekit.Predictor`: a list of
encoded image files and RGB pixel arrays), or a BadRequestError whose message the client gets
with a 400. A request holds exactly one input tensor, of any name, in one of these forms:

- BYTES, shape [N]: N encoded image files (JPEG, PNG, ...); in JSON each element is a base64
  string (V2's JSON form of bytes), with the binary data extension each is the raw file.
- UINT8, shape [nbytes]: one encoded image file as octets (how a client sends a file over the
  binary data extension: KServe 0.21 cannot take BYTES there, see `binary.py`).
- UINT8, shape [N, H, W, 3] or [H, W, 3]: RGB pixels.

Every output of the response has the number of images first, whatever the form.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import orjson

from pedigree.bundle import ServeBundle
from pedigree.errors import BadRequestError, ServeError
from pedigree.serve.limits import Limits

HEADER_PIPELINE = "x-pedigree-pipeline"
HEADER_MODEL_VERSION = "x-pedigree-model-version"
HEADER_MODEL_SHA256 = "x-pedigree-model-sha256"

ACCEPTED = (
    "accepted: BYTES [N] (encoded image files: base64 strings in JSON, raw bytes with the "
    "binary data extension), UINT8 [nbytes] (one encoded image file as octets), "
    "UINT8 [N, H, W, 3] or [H, W, 3] (RGB pixels)"
)

Pixels: TypeAlias = npt.NDArray[np.uint8]
Image: TypeAlias = bytes | Pixels

# numpy dtype -> V2 datatype of an output tensor (V2's "Tensor Data Types").
_V2_DATATYPES: dict[np.dtype[Any], str] = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
}


@dataclass(frozen=True)
class RequestTensor:
    """One input tensor as the request sent it: `data` is the JSON `data` (a list, flat or
    nested) or, from the binary data extension, the tensor's raw bytes."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """`input 'image' (BYTES [2])`: how messages name it."""
        return f"input '{self.name}' ({self.datatype} {list(self.shape)})"


@dataclass(frozen=True)
class ResponseTensor:
    """One output tensor of the response: its V2 datatype and shape, and the array itself."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    array: npt.NDArray[Any]


def _refuse(tensor: RequestTensor, problem: str) -> BadRequestError:
    return BadRequestError(f"{tensor.describe()}: {problem}")


def predictor_inputs(tensors: Sequence[RequestTensor], limits: Limits) -> list[Image]:
    """The predictor's inputs for the request's input tensors (BadRequestError if refused)."""
    if len(tensors) != 1:
        names = ", ".join(f"'{t.name}'" for t in tensors) or "none"
        raise BadRequestError(
            f"a request holds exactly one input tensor, this one has {len(tensors)} ({names}); "
            + ACCEPTED
        )
    tensor = tensors[0]
    datatype = tensor.datatype.upper()
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in tensor.shape):
        raise _refuse(tensor, "every dimension of the shape must be a positive integer")
    if datatype == "BYTES" and len(tensor.shape) == 1:
        return list(_encoded_files(tensor, limits))
    if datatype == "UINT8" and len(tensor.shape) == 1:
        return [_encoded_octets(tensor, limits)]
    if datatype == "UINT8" and len(tensor.shape) in (3, 4):
        return list(_pixel_images(tensor, limits))
    if datatype in ("BYTES", "UINT8"):
        problem = f"{datatype} with rank {len(tensor.shape)} is not accepted"
    else:
        problem = f"datatype {tensor.datatype} is not accepted"
    raise _refuse(tensor, f"{problem}; {ACCEPTED}")


def _check_count(tensor: RequestTensor, count: int, limits: Limits) -> None:
    if count > limits.max_images:
        raise _refuse(
            tensor,
            f"{count} images in one request, the limit is {limits.max_images}: "
            "split the batch into several requests",
        )


def _check_file_size(tensor: RequestTensor, index: int, size: int, limits: Limits) -> None:
    if size == 0:
        raise _refuse(tensor, f"image {index} is empty")
    if size > limits.max_image_bytes:
        raise _refuse(
            tensor,
            f"image {index} holds {size} bytes, the limit is {limits.max_image_bytes} "
            f"({limits.max_image_bytes >> 20} MiB) per image",
        )


def _encoded_files(tensor: RequestTensor, limits: Limits) -> list[bytes]:
    (count,) = tensor.shape
    _check_count(tensor, count, limits)
    if isinstance(tensor.data, bytes):
        files = _length_prefixed(tensor, tensor.data, count)
    else:
        files = _base64_files(tensor, tensor.data, count, limits)
    for index, item in enumerate(files):
        _check_file_size(tensor, index, len(item), limits)
    return files


def _length_prefixed(tensor: RequestTensor, raw: bytes, count: int) -> list[bytes]:
    # The binary data extension sends each BYTES element as a 4-byte little-endian length and
    # the element's bytes, one after the other.
    items: list[bytes] = []
    offset = 0
    while offset < len(raw) and len(items) < count:
        if offset + 4 > len(raw):
            break
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise _refuse(
                tensor,
                f"binary element {len(items)} declares {length} bytes, only "
                f"{len(raw) - offset} follow",
            )
        items.append(raw[offset : offset + length])
        offset += length
    if len(items) != count or offset != len(raw):
        raise _refuse(
            tensor,
            f"the binary data holds {len(items)} length-prefixed elements"
            f"{' and stray bytes' if offset != len(raw) else ''}, the shape says {count}",
        )
    return items


def _base64_files(tensor: RequestTensor, data: Any, count: int, limits: Limits) -> list[bytes]:
    if not isinstance(data, list):
        raise _refuse(tensor, "data must be a list of base64 strings")
    if len(data) != count:
        raise _refuse(tensor, f"data holds {len(data)} elements, the shape says {count}")
    files = []
    for index, item in enumerate(data):
        if not isinstance(item, str):
            raise _refuse(tensor, f"element {index} is {_kind(item)}, not a base64 string")
        # Refuse a huge string before decoding it: 4 characters hold 3 bytes, less padding.
        _check_file_size(tensor, index, max(1, len(item) // 4 * 3 - 2), limits)
        try:
            files.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise _refuse(
                tensor,
                f"element {index} is not valid base64 (standard alphabet, padded, no "
                "whitespace or data: prefix)",
            ) from None
    return files


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _encoded_octets(tensor: RequestTensor, limits: Limits) -> bytes:
    (size,) = tensor.shape
    _check_file_size(tensor, 0, size, limits)
    return _uint8(tensor, tensor.data).tobytes()


def _pixel_images(tensor: RequestTensor, limits: Limits) -> list[Pixels]:
    shape = tensor.shape if len(tensor.shape) == 4 else (1, *tensor.shape)
    count, height, width, channels = shape
    if channels != 3:
        raise _refuse(tensor, f"pixels need 3 channels (RGB) last, not {channels}; {ACCEPTED}")
    _check_count(tensor, count, limits)
    if height * width * 3 > limits.max_image_bytes:
        raise _refuse(
            tensor,
            f"one {height}x{width} image holds {height * width * 3} bytes of pixels, the limit "
            f"is {limits.max_image_bytes}: send it downscaled or as an encoded file",
        )
    pixels = _uint8(tensor, tensor.data).reshape(shape)
    return list(pixels)


def _uint8(tensor: RequestTensor, data: Any) -> Pixels:
    """The tensor's data as a flat uint8 array: raw bytes as they are, JSON strictly (integers
    0..255, exactly as many as the shape says)."""
    count = math.prod(tensor.shape)
    if isinstance(data, bytes):
        if len(data) != count:
            raise _refuse(
                tensor, f"the binary data holds {len(data)} bytes, the shape says {count}"
            )
        return np.frombuffer(data, dtype=np.uint8)
    if not isinstance(data, list):
        raise _refuse(tensor, "data must be a list of integers 0..255")
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError):  # ragged nesting, mixed kinds
        raise _refuse(tensor, "data is not a regular array of integers 0..255") from None
    if values.size != count:
        raise _refuse(tensor, f"data holds {values.size} values, the shape says {count}")
    if values.dtype.kind not in "iu":
        raise _refuse(tensor, f"data must be integers 0..255, not {_dtype_words(values.dtype)}")
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 255:
        raise _refuse(tensor, f"data must be integers 0..255, it holds {low}..{high}")
    return values.astype(np.uint8).reshape(-1)


def _dtype_words(dtype: np.dtype[Any]) -> str:
    return {
        "b": "booleans",
        "f": "floating-point numbers",
        "U": "strings",
        "S": "strings",
    }.get(dtype.kind, "mixed values")


def select_outputs(
    requested: Sequence[str], available: Sequence[str], default: Sequence[str]
) -> tuple[str, ...]:
    """The outputs a response carries: those the request names (once each, in its order), or
    the predictor's defaults when it names none; BadRequestError for an unknown name."""
    if not requested:
        return tuple(default)
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise BadRequestError(
            f"unknown output {', '.join(repr(n) for n in unknown)}; "
            f"this model gives {', '.join(repr(n) for n in available)}"
        )
    return tuple(dict.fromkeys(requested))


def v2_datatype(dtype: np.dtype[Any]) -> str | None:
    """The V2 datatype of a numpy dtype (None: V2 has none for it)."""
    return _V2_DATATYPES.get(np.dtype(dtype))


def response_tensors(
    results: Mapping[str, Any], names: Sequence[str], batch: int
) -> list[ResponseTensor]:
    """The named outputs of a predictor's result, checked against the contract (a numpy array
    per output, `batch` first, a V2 datatype): a breach is the predictor's bug, a ServeError."""
    tensors = []
    for name in names:
        if name not in results:
            raise ServeError(
                f"the predictor returned no '{name}' output (it returned "
                f"{', '.join(sorted(results)) or 'none'})",
                "make its predict() return every name in its `outputs`",
            )
        array = results[name]
        if not isinstance(array, np.ndarray) or array.ndim == 0 or len(array) != batch:
            got = f"shape {list(array.shape)}" if isinstance(array, np.ndarray) else _kind(array)
            raise ServeError(
                f"the predictor's '{name}' output is {got}, not an array of {batch} results",
                "return a numpy array with one row per input",
            )
        datatype = v2_datatype(array.dtype)
        if datatype is None:
            raise ServeError(
                f"the predictor's '{name}' output has dtype {array.dtype}, which V2 cannot carry",
                "return bool, integer or float arrays",
            )
        tensors.append(ResponseTensor(name, datatype, tuple(array.shape), array))
    return tensors


def encode_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str,
    parameters: Mapping[str, str],
    outputs: Sequence[ResponseTensor],
    binary: Mapping[str, bool],
) -> tuple[bytes, int | None]:
    """The V2 response body, and the length of its JSON part when outputs follow it as raw
    bytes (V2's binary data extension, for each output `binary` names; None: all JSON).

    Encoded here, straight from the numpy arrays by orjson, not by KServe: KServe converts
    every element to a Python object, twice (seconds for a batch of full-size masks, on the
    event loop); this runs in a worker thread in a fraction of that.
    """
    described: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for tensor in outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if binary.get(tensor.name, False):
            # V2's binary tensors are little-endian and row-major.
            little = tensor.array.astype(tensor.array.dtype.newbyteorder("<"), copy=False)
            raw = np.ascontiguousarray(little).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = np.ascontiguousarray(tensor.array).ravel()  # V2 JSON: flat
        described.append(entry)
    header = orjson.dumps(
        {
            "model_name": model_name,
            "model_version": model_version,
            "id": request_id,
            "parameters": dict(parameters),
            "outputs": described,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def response_parameters(bundle: ServeBundle) -> dict[str, str]:
    """The response's V2 `parameters`: which model answered."""
    return {
        "pipeline": bundle.pipeline,
        "model_version": bundle.version_label,
        "model_sha256": bundle.model_sha256,
    }


def response_headers(bundle: ServeBundle) -> dict[str, str]:
    """The headers every response of the server carries: which model answered."""
    return {
        HEADER_PIPELINE: bundle.pipeline,
        HEADER_MODEL_VERSION: bundle.version_label,
        HEADER_MODEL_SHA256: bundle.model_sha256,
    }


def input_metadata() -> list[dict[str, Any]]:
    """The V2 model metadata `inputs`: the accepted forms (one input per request, any name)."""
    return [
        {"name": "images", "datatype": "BYTES", "shape": [-1]},
        {"name": "image_file", "datatype": "UINT8", "shape": [-1]},
        {"name": "pixels", "datatype": "UINT8", "shape": [-1, -1, -1, 3]},
        {"name": "pixel_image", "datatype": "UINT8", "shape": [-1, -1, 3]},
    ]


def output_metadata(
    outputs: Sequence[str], seen: Mapping[str, ResponseTensor]
) -> list[dict[str, Any]]:
    """The V2 model metadata `outputs`: every output, with the datatype and rank `seen` in a
    warm-up prediction (sizes vary with the input, so every dimension is -1)."""
    described = []
    for name in outputs:
        tensor = seen.get(name)
        described.append(
            {
                "name": name,
                "datatype": tensor.datatype if tensor else "",
                "shape": [-1] * len(tensor.shape) if tensor else [-1],
            }
        )
    return described
