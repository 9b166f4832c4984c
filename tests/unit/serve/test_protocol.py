"""V2 tensors <-> predictor inputs and outputs: every accepted form, every refusal (pure)."""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
from typing import Any

import numpy as np
import pytest

from pedigree.bundle import BundleFile, ServeBundle
from pedigree.errors import BadRequestError, ServeError
from pedigree.serve import protocol
from pedigree.serve.limits import Limits
from pedigree.serve.protocol import RequestTensor, predictor_inputs

LIMITS = Limits(max_images=4, max_image_bytes=1000, max_body_bytes=10_000)


def t(datatype: str, shape: list[int], data: Any, name: str = "x") -> RequestTensor:
    return RequestTensor(name, datatype, tuple(shape), data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


# -- accepted forms -------------------------------------------------------------------------


def test_bytes_json_elements_are_base64_files() -> None:
    out = predictor_inputs([t("BYTES", [2], [b64(b"\x89PNG one"), b64(b"\xff\xd8 two")])], LIMITS)
    assert out == [b"\x89PNG one", b"\xff\xd8 two"]


def test_bytes_binary_elements_are_raw_files() -> None:
    out = predictor_inputs([t("BYTES", [2], prefixed(b"\xff\xd8\x00a", b"\x89PNG"))], LIMITS)
    assert out == [b"\xff\xd8\x00a", b"\x89PNG"]


def test_uint8_rank_one_is_one_encoded_file_raw_or_json() -> None:
    assert predictor_inputs([t("UINT8", [3], b"\xff\xd8\x00")], LIMITS) == [b"\xff\xd8\x00"]
    assert predictor_inputs([t("UINT8", [3], [255, 216, 0])], LIMITS) == [b"\xff\xd8\x00"]


@pytest.mark.parametrize(
    "data",
    [list(range(12)), [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]], bytes(range(12))],
    ids=["flat", "nested", "binary"],
)
def test_uint8_pixels_hw3(data: Any) -> None:
    (image,) = predictor_inputs([t("UINT8", [2, 2, 3], data)], LIMITS)
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.shape == (2, 2, 3) and image[1, 1].tolist() == [9, 10, 11]


def test_uint8_pixels_nhw3_give_one_array_per_image() -> None:
    images = predictor_inputs([t("UINT8", [2, 1, 2, 3], list(range(12)))], LIMITS)
    assert [i.shape for i in images if isinstance(i, np.ndarray)] == [(1, 2, 3), (1, 2, 3)]
    assert images[1][0, 1].tolist() == [9, 10, 11]  # type: ignore[index]


def test_datatype_case_does_not_matter() -> None:
    assert predictor_inputs([t("uint8", [1], [7])], LIMITS) == [b"\x07"]


# -- refused forms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ([], r"exactly one input tensor, this one has 0 \(none\); accepted: BYTES \[N\]"),
        (
            [t("UINT8", [1], [1], "a"), t("UINT8", [1], [1], "b")],
            r"exactly one input tensor, this one has 2 \('a', 'b'\)",
        ),
    ],
)
def test_exactly_one_input(tensors: list[RequestTensor], message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        predictor_inputs(tensors, LIMITS)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (
            t("FP32", [1, 2, 2, 3], [0.5] * 12),
            r"^input 'x' \(FP32 \[1, 2, 2, 3\]\): datatype FP32 is not accepted; accepted: BYTES \[N\]",
        ),
        (t("INT64", [3], [1, 2, 3]), r"\(INT64 \[3\]\): datatype INT64 is not accepted; accepted:"),
        (
            t("UINT8", [2, 6], [0] * 12),
            r"\(UINT8 \[2, 6\]\): UINT8 with rank 2 is not accepted; accepted:",
        ),
        (t("UINT8", [1, 1, 2, 2, 3], [0] * 12), r"UINT8 with rank 5 is not accepted"),
        (t("BYTES", [1, 1], ["aGk="]), r"BYTES with rank 2 is not accepted"),
        (
            t("UINT8", [1, 2, 2, 4], [0] * 16),
            r"\(UINT8 \[1, 2, 2, 4\]\): pixels need 3 channels \(RGB\) last, not 4; accepted:",
        ),
        (t("UINT8", [2, 0, 3], []), r"every dimension of the shape must be a positive integer"),
        (t("BYTES", [-1], []), r"every dimension of the shape must be a positive integer"),
    ],
)
def test_wrong_datatype_or_shape_names_input_and_accepted_forms(
    tensor: RequestTensor, message: str
) -> None:
    with pytest.raises(BadRequestError, match=message):
        predictor_inputs([tensor], LIMITS)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (t("UINT8", [2, 2, 3], list(range(11))), r"data holds 11 values, the shape says 12"),
        (t("UINT8", [2, 2, 3], bytes(13)), r"the binary data holds 13 bytes, the shape says 12"),
        (t("UINT8", [4], [1, 2, 3]), r"data holds 3 values, the shape says 4"),
        (
            t("UINT8", [3], [1.0, 2.5, 3.0]),
            r"data must be integers 0\.\.255, not floating-point numbers",
        ),
        (t("UINT8", [3], [1, 256, 3]), r"data must be integers 0\.\.255, it holds 1\.\.256"),
        (t("UINT8", [3], [-1, 2, 3]), r"it holds -1\.\.3"),
        (t("UINT8", [2], ["1", "2"]), r"not strings"),
        (t("UINT8", [2], [True, False]), r"not booleans"),
        (t("UINT8", [1, 1, 3], [[[1, 2, 3]], [4]]), r"data is not a regular array of integers"),
        (t("UINT8", [2], {"a": 1}), r"data must be a list of integers 0\.\.255"),
        (t("BYTES", [2], [b64(b"a")]), r"data holds 1 elements, the shape says 2"),
        (t("BYTES", [1], "aGk="), r"data must be a list of base64 strings"),
        (t("BYTES", [1], [12]), r"element 0 is a number, not a base64 string"),
        (t("BYTES", [1], [None]), r"element 0 is null, not a base64 string"),
        (t("BYTES", [1], ["not base64!"]), r"element 0 is not valid base64"),
        (t("BYTES", [1], ["aGk"]), r"element 0 is not valid base64"),  # padding missing
        (t("BYTES", [1], ["aG\nk="]), r"element 0 is not valid base64"),
        (
            t("BYTES", [1], ["data:image/png;base64,aGk="]),
            r"not valid base64 \(standard alphabet, padded, no whitespace or data: prefix\)",
        ),
        (t("BYTES", [1], [""]), r"image 0 is empty"),
        (t("BYTES", [2], prefixed(b"a")), r"holds 1 length-prefixed elements, the shape says 2"),
        (
            t("BYTES", [1], prefixed(b"a") + b"zz"),
            r"holds 1 length-prefixed elements and stray bytes",
        ),
        (
            t("BYTES", [1], struct.pack("<I", 9) + b"abc"),
            r"binary element 0 declares 9 bytes, only 3 follow",
        ),
    ],
)
def test_bad_data_is_refused_with_the_reason(tensor: RequestTensor, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        predictor_inputs([tensor], LIMITS)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (
            t("BYTES", [5], [b64(b"a")] * 5),
            r"5 images in one request, the limit is 4: split the batch",
        ),
        (t("UINT8", [5, 1, 1, 3], [0] * 15), r"5 images in one request, the limit is 4"),
        (t("BYTES", [1], [b64(bytes(1001))]), r"image 0 holds 1001 bytes, the limit is 1000"),
        (t("BYTES", [1], ["A" * 100_000]), r"image 0 holds 74998 bytes, the limit is 1000"),
        (t("BYTES", [2], prefixed(b"a", bytes(1001))), r"image 1 holds 1001 bytes"),
        (t("UINT8", [1001], bytes(1001)), r"image 0 holds 1001 bytes, the limit is 1000"),
        (
            t("UINT8", [20, 20, 3], bytes(1200)),
            r"one 20x20 image holds 1200 bytes of pixels, the limit is 1000",
        ),
    ],
)
def test_limits(tensor: RequestTensor, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        predictor_inputs([tensor], LIMITS)


def test_exactly_at_the_limits_is_accepted() -> None:
    assert len(predictor_inputs([t("BYTES", [4], [b64(bytes(1000))] * 4)], LIMITS)) == 4


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"Limits.max_images must be a positive integer, not 0"):
        Limits(max_images=0)
    assert Limits() == Limits(64, 16 << 20, 64 << 20)


# -- outputs --------------------------------------------------------------------------------


def test_select_outputs() -> None:
    available, default = ("mask", "probabilities"), ("mask",)
    assert protocol.select_outputs([], available, default) == ("mask",)
    assert protocol.select_outputs(
        ["probabilities", "mask", "probabilities"], available, default
    ) == ("probabilities", "mask")
    with pytest.raises(
        BadRequestError, match=r"unknown output 'logits'; this model gives 'mask', 'probabilities'"
    ):
        protocol.select_outputs(["mask", "logits"], available, default)


def test_response_tensors_map_dtypes() -> None:
    results = {
        "mask": np.zeros((2, 3, 3), np.uint8),
        "probabilities": np.zeros((2, 3, 3, 2), np.float32),
        "size": np.zeros((2, 2), np.int64),
        "flag": np.zeros((2,), bool),
    }
    out = protocol.response_tensors(results, ["probabilities", "mask", "size", "flag"], 2)
    assert [(o.name, o.datatype, o.shape) for o in out] == [
        ("probabilities", "FP32", (2, 3, 3, 2)),
        ("mask", "UINT8", (2, 3, 3)),
        ("size", "INT64", (2, 2)),
        ("flag", "BOOL", (2,)),
    ]
    assert protocol.v2_datatype(np.dtype(np.float64)) == "FP64"
    assert protocol.v2_datatype(np.dtype(np.complex64)) is None


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({}, r"the predictor returned no 'mask' output \(it returned none\)"),
        ({"mask": [[1]]}, r"the predictor's 'mask' output is a list, not an array of 2 results"),
        ({"mask": np.zeros((3, 4))}, r"'mask' output is shape \[3, 4\], not an array of 2 results"),
        ({"mask": np.zeros(())}, r"'mask' output is shape \[\], not an array of 2 results"),
        (
            {"mask": np.zeros((2,), np.complex64)},
            r"'mask' output has dtype complex64, which V2 cannot carry",
        ),
    ],
)
def test_response_tensors_check_the_contract(results: dict[str, Any], message: str) -> None:
    with pytest.raises(ServeError, match=message):
        protocol.response_tensors(results, ["mask"], 2)


def _bundle(version: int | None) -> ServeBundle:
    model = BundleFile("model", "models/m.keras", "0" * 32, "a" * 64)
    return ServeBundle("pets", version, "stages.serve", (model,))


def test_identity_parameters_and_headers() -> None:
    assert protocol.response_parameters(_bundle(2)) == {
        "pipeline": "pets",
        "model_version": "v2",
        "model_sha256": "a" * 64,
    }
    assert protocol.response_headers(_bundle(None)) == {
        "x-pedigree-pipeline": "pets",
        "x-pedigree-model-version": "unregistered",
        "x-pedigree-model-sha256": "a" * 64,
    }


def test_metadata() -> None:
    assert [(i["datatype"], i["shape"]) for i in protocol.input_metadata()] == [
        ("BYTES", [-1]),
        ("UINT8", [-1]),
        ("UINT8", [-1, -1, -1, 3]),
        ("UINT8", [-1, -1, 3]),
    ]
    seen = protocol.response_tensors({"mask": np.zeros((1, 4, 4), np.uint8)}, ["mask"], 1)
    assert protocol.output_metadata(["mask", "size"], {"mask": seen[0]}) == [
        {"name": "mask", "datatype": "UINT8", "shape": [-1, -1, -1]},
        {"name": "size", "datatype": "", "shape": [-1]},
    ]


def test_request_tensor_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        t("UINT8", [1], [1]).name = "y"  # type: ignore[misc]


def _encode(binary: dict[str, bool]) -> tuple[bytes, int | None]:
    results = {
        "mask": np.array([[[0, 1], [1, 0]]], np.uint8),
        "probabilities": np.array([[0.25, 0.2]], np.float32),
        "flag": np.array([True]),
    }
    return protocol.encode_response(
        model_name="pets",
        model_version="v3",
        request_id="r1",
        parameters={"pipeline": "pets"},
        outputs=protocol.response_tensors(results, ["mask", "probabilities", "flag"], 1),
        binary=binary,
    )


def test_encode_response_as_json_gives_flat_data() -> None:
    body, header_length = _encode({})
    assert header_length is None
    assert json.loads(body) == {
        "model_name": "pets",
        "model_version": "v3",
        "id": "r1",
        "parameters": {"pipeline": "pets"},
        "outputs": [
            {"name": "mask", "datatype": "UINT8", "shape": [1, 2, 2], "data": [0, 1, 1, 0]},
            {"name": "probabilities", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.2]},
            {"name": "flag", "datatype": "BOOL", "shape": [1], "data": [True]},
        ],
    }


def test_encode_response_with_binary_outputs_appends_their_bytes() -> None:
    body, header_length = _encode({"mask": True, "probabilities": True})
    assert header_length is not None
    header = json.loads(body[:header_length])
    assert [o.get("parameters") for o in header["outputs"]] == [
        {"binary_data_size": 4},
        {"binary_data_size": 8},
        None,
    ]
    assert header["outputs"][2]["data"] == [True]
    assert body[header_length:] == b"\x00\x01\x01\x00" + struct.pack("<2f", 0.25, 0.2)
