"""The lineage tree of a stage without params says `none` (never `={}`)."""

from __future__ import annotations

from typing import Any

import pytest

from pedigree.lineage import formats


class _Record:
    """Just what `_params` reads."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({}, "none"),
        ({"s": {}}, "s={}"),
        ({"s": {"a": 1}}, "s.a=1"),
        ({"s": {"b": "x", "a": [1, 2]}}, 's.a=[1,2], s.b="x"'),
    ],
)
def test_params_text(params: dict[str, Any], text: str) -> None:
    record: Any = _Record(params)
    assert formats._params(record) == text


def test_params_text_cuts_long_lists() -> None:
    record: Any = _Record({"s": {f"k{i:02d}": i for i in range(12)}})
    text = formats._params(record)
    assert text.endswith(", ... (2 more: --format json)")
    assert "={}" not in text
