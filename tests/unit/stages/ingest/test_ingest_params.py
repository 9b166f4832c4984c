"""The ingest params model refuses bad values with messages that say how to fix them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stages.ingest.params import IngestParams, SyntheticParams

HEX = "ab" * 32


def test_defaults_match_params_yaml() -> None:
    params = IngestParams()
    assert (params.source, params.sha256, params.is_synthetic) == ("synthetic", None, True)
    assert params.synthetic == SyntheticParams(
        seed=42, count=400, images_per_animal=(2, 5), image_size=(160, 320)
    )


@pytest.mark.parametrize(
    ("synthetic", "message"),
    [
        ({"count": 0}, r"count must be between 1 and .*\(got 0\)"),
        ({"count": True}, r"valid integer"),
        ({"seed": -1}, r"seed must be 0 or more"),
        ({"images_per_animal": [0, 3]}, r"images_per_animal min must be at least 1"),
        (
            {"images_per_animal": [4, 2]},
            r"images_per_animal min 4 is above max 2; write \[min, max\]",
        ),
        (
            {"images_per_animal": [2]},
            r"images_per_animal must be a \[min, max\] pair like \[2, 5\]",
        ),
        ({"image_size": [300, 200]}, r"image_size min 300 is above max 200"),
        ({"image_size": [8, 200]}, r"image_size sides must lie within 32\.\.4096"),
        ({"image_size": 160}, r"image_size must be a \[min, max\] pair"),
        ({"colour": "red"}, r"Extra inputs are not permitted"),
    ],
)
def test_bad_synthetic_params(synthetic: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IngestParams.model_validate({"synthetic": synthetic})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"source": "https://example.org/p.tar.gz"},
            r"a URL source needs sha256: .*add `sha256: <hex>`",
        ),
        (
            {"source": "http://example.org/p.tar.gz", "sha256": HEX},
            r"plain http:// is not allowed .*use the https://",
        ),
        (
            {"source": "http://127.0.0.1:8000/p.tar.gz", "sha256": HEX},
            r"plain http:// is not allowed",
        ),
        ({"source": "ftp://example.org/p.tar.gz", "sha256": HEX}, r"unsupported URL scheme 'ftp'"),
        ({"source": "https:///p.tar.gz", "sha256": HEX}, r"has no host"),
        ({"source": "  "}, r"source is empty"),
        (
            {"source": "pets.tar.gz", "sha256": "abc"},
            r"sha256 must be exactly 64 hexadecimal characters \(got 3",
        ),
        ({"source": "pets.tar.gz", "sha256": "g" * 64}, r"64 hexadecimal"),
        (
            {"sha256": HEX},
            r"sha256 pins a tarball or URL, but source is `synthetic`; set `sha256: null`",
        ),
        ({"sourc": "synthetic"}, r"Extra inputs are not permitted"),
    ],
)
def test_bad_source_params(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IngestParams.model_validate(section)


def test_good_sources() -> None:
    url = IngestParams(source="https://example.org/pets.tar.gz", sha256=HEX.upper())
    assert url.sha256 == HEX and not url.is_synthetic  # pins are normalised to lower case
    assert IngestParams(source="data/pets", sha256=None).source == "data/pets"


def test_params_are_frozen() -> None:
    params = IngestParams()
    with pytest.raises(ValidationError, match="frozen"):
        params.source = "elsewhere"  # type: ignore[misc]
