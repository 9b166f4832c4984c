"""The stage graph: which stage feeds which, in what order they run, and where cycles are.

Pure functions over declared paths. A dependency is fed by the stage whose output equals it or
contains it (a dep on `data/prepared/train` is fed by the stage that writes `data/prepared`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the path helpers are used where pydantic is not loaded
    from pedigree.spec.model import PipelineSpec, Stage


def is_within(path: str, parent: str) -> bool:
    """True when `path` is `parent` or lies inside it (both normalised POSIX paths)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def overlaps(a: str, b: str) -> bool:
    """True when one path is, or contains, the other."""
    return is_within(a, b) or is_within(b, a)


def producer_of(path: str, stages: tuple[Stage, ...]) -> Stage | None:
    """The first stage whose outputs contain `path`, if any."""
    for stage in stages:
        if any(is_within(path, out) for out in stage.all_outputs):
            return stage
    return None


@dataclass(frozen=True)
class StageGraph:
    """Stages with their upstream edges, in a stable topological order."""

    stages: tuple[Stage, ...]
    upstream: dict[str, tuple[str, ...]]
    order: tuple[str, ...]

    def downstream_of(self, name: str) -> tuple[str, ...]:
        """Every stage that (transitively) reads what `name` writes, in run order."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for stage, ups in self.upstream.items():
                if current in ups and stage not in found:
                    found.add(stage)
                    frontier.append(stage)
        return tuple(s for s in self.order if s in found)

    def upstream_of(self, name: str) -> tuple[str, ...]:
        """Every stage `name` (transitively) reads from, in run order."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            for up in self.upstream[frontier.pop()]:
                if up not in found:
                    found.add(up)
                    frontier.append(up)
        return tuple(s for s in self.order if s in found)


class CycleError(ValueError):
    """The stages form a cycle; `cycle` lists it, first stage repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


def upstream_edges(stages: tuple[Stage, ...]) -> dict[str, tuple[str, ...]]:
    """For each stage, the stages producing its deps (deduplicated, declaration order)."""
    edges: dict[str, tuple[str, ...]] = {}
    for stage in stages:
        ups: list[str] = []
        for dep in stage.deps:
            for other in stages:
                if other.name == stage.name or other.name in ups:
                    continue
                if any(overlaps(dep, out) for out in other.all_outputs):
                    ups.append(other.name)
        edges[stage.name] = tuple(ups)
    return edges


def find_cycle(edges: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle in `edges` as [a, b, ..., a], or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for up in edges.get(node, ()):
            if state.get(up) == 1:
                start = path.index(up)
                # edges point upstream; report the cycle in data-flow order
                return list(reversed(path[start:])) + [path[-1]]
            if state.get(up) is None:
                found = visit(up)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in edges:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def build_graph(spec: PipelineSpec) -> StageGraph:
    """Build the graph of a validated spec; raise CycleError if the stages form a cycle."""
    stages = spec.stages
    edges = upstream_edges(stages)
    cycle = find_cycle(edges)
    if cycle:
        raise CycleError(cycle)
    order: list[str] = []
    placed: set[str] = set()
    # Kahn's algorithm, always taking the earliest declared ready stage: stable and readable.
    while len(order) < len(stages):
        for stage in stages:
            if stage.name not in placed and all(u in placed for u in edges[stage.name]):
                order.append(stage.name)
                placed.add(stage.name)
                break
    return StageGraph(stages, edges, tuple(order))


def fold_stages(spec: PipelineSpec) -> tuple[str, ...]:
    """The stages a fold runs again, in run order: from the splits stage to the metrics stage
    (the last of spec.replicate.stages), everything a fold's score depends on."""
    rep, data = spec.spec.replicate, spec.spec.data
    if rep is None or data is None:
        return ()
    graph = build_graph(spec)
    metrics_stage = [s for s in graph.order if s in rep.stages][-1]
    splitter = data.splits.stage
    chosen = {
        s
        for s in (splitter, *graph.downstream_of(splitter))
        if s == metrics_stage or s in graph.upstream_of(metrics_stage)
    }
    return tuple(s for s in graph.order if s in chosen)
