"""The stage graph: edges through nested paths, stable order, cycles."""

from __future__ import annotations

import pytest

from pedigree.graph import CycleError, build_graph, find_cycle, is_within, overlaps
from pedigree.spec.model import PipelineSpec


def _spec(stages: list[dict]) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "apiVersion": "pedigree/v1",
            "kind": "Pipeline",
            "metadata": {"name": "t"},
            "spec": {"stages": stages},
        }
    )


def test_paths() -> None:
    assert is_within("data/prepared/train", "data/prepared")
    assert not is_within("data/prepared2", "data/prepared")
    assert overlaps("data", "data/raw") and overlaps("data/raw", "data")


def test_nested_dep_links_to_producer_and_order_is_stable() -> None:
    spec = _spec(
        [
            {
                "name": "tune",
                "cmd": ["x"],
                "deps": ["data/prepared/train"],
                "outs": ["models/params.json"],
            },
            {"name": "transform", "cmd": ["x"], "deps": ["data/raw"], "outs": ["data/prepared"]},
            {"name": "ingest", "cmd": ["x"], "outs": ["data/raw"]},
            {"name": "report", "cmd": ["x"], "deps": ["data/raw"], "outs": ["reports/r.html"]},
        ]
    )
    graph = build_graph(spec)
    assert graph.upstream["tune"] == ("transform",)
    assert graph.order == ("ingest", "transform", "tune", "report")
    assert graph.downstream_of("ingest") == ("transform", "tune", "report")
    assert graph.upstream_of("tune") == ("ingest", "transform")


def test_cycle_is_reported_in_data_flow_order() -> None:
    cycle = find_cycle({"a": ("c",), "b": ("a",), "c": ("b",)})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    # a reads c, so c -> a must appear in data-flow order
    text = " -> ".join(cycle)
    assert "c -> a" in text and "a -> b" in text and "b -> c" in text


def test_build_graph_raises_on_cycle() -> None:
    spec = _spec(
        [
            {"name": "a", "cmd": ["x"], "deps": ["data/b"], "outs": ["data/a"]},
            {"name": "b", "cmd": ["x"], "deps": ["data/a"], "outs": ["data/b"]},
        ]
    )
    with pytest.raises(CycleError, match="a -> b -> a|b -> a -> b"):
        build_graph(spec)


def test_acyclic_has_no_cycle() -> None:
    assert find_cycle({"a": (), "b": ("a",)}) is None
