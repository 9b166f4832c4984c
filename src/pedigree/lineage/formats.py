"""Rendering a lineage (`pedigree.lineage.trace.Lineage`) as a text tree, JSON or Graphviz dot.

Every renderer is deterministic: the same records give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from pedigree.lineage.record import Artifact, LineageRecord
from pedigree.lineage.trace import Lineage, Link, Source, Step

SHORT = 12  # characters of a hash shown in text and dot
MAX_PARAMS = 10  # params shown per step in the tree; --format json has them all
STATE_TEXT = {
    "current": "",
    "changed": "  [STALE: the producer's output has changed since]",
    "unknown": "  [not checked: folder listing not in the local DVC cache]",
    "raw": "",
}


def short(md5: str | None) -> str:
    """A hash cut to SHORT characters (the `.dir` suffix kept, it says "folder")."""
    if not md5:
        return "-"
    return md5[:SHORT] + (".dir" if md5.endswith(".dir") else "")


def flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested params as sorted (dotted key, leaf value) pairs."""
    if isinstance(value, dict) and value:
        pairs: list[tuple[str, Any]] = []
        for key in sorted(value, key=str):
            pairs.extend(flat(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    return [(prefix, value)]


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# --- text tree -----------------------------------------------------------------------------------


def _commit(record: LineageRecord) -> str:
    code = record.code
    if not code.git_commit:
        return "no git commit"
    state = " (dirty: uncommitted changes)" if code.git_dirty else ""
    return f"git {code.git_commit[:SHORT]}{state}"


def _environment(record: LineageRecord) -> str:
    env = record.environment
    parts = [f"python {env.python}"]
    if env.lock:
        parts.append(
            f"lock {env.lock.get('path', '?')} sha256 {env.lock.get('sha256', '')[:SHORT]}"
        )
    parts.extend(f"{name} {version}" for name, version in sorted(env.packages.items()))
    if env.container is not None:
        digest = f"@{env.container.digest}" if env.container.digest else ""
        parts.append(f"image {env.container.image}{digest}")
    return ", ".join(parts)


def _params(record: LineageRecord) -> str:
    # A stage without params has none to show (flat({}) would be one empty key: "={}").
    pairs = flat(record.params) if record.params else []
    shown = ", ".join(f"{k}={_value(v)}" for k, v in pairs[:MAX_PARAMS])
    more = len(pairs) - MAX_PARAMS
    return shown + (f", ... ({more} more: --format json)" if more > 0 else "") if pairs else "none"


def _artifacts(items: list[Artifact]) -> str:
    return ", ".join(f"{a.path} {short(a.md5)}" for a in items) or "none"


def _source_text(source: Source) -> str:
    if source.kind == "input":
        return f"raw input {source.location} md5 {short(source.md5)} (no stage produces it)"
    if source.kind == "synthetic":
        settings = ", ".join(f"{k}={_value(v)}" for k, v in source.settings)
        return f"synthetic data set ({settings})" if settings else "synthetic data set"
    if source.kind == "params":
        return f"{source.location} (no data inputs)"
    pin = f"sha256 {source.sha256}" if source.sha256 else "no sha256 pin in params"
    return f"{source.kind} {source.location} ({pin})"


def _step_lines(lineage: Lineage, step: Step, indent: str, shown: set[str]) -> list[str]:
    record = step.record
    shown.add(step.stage)
    lines = [
        f"{indent}{step.stage}  run {record.run_id}  {record.status}",
        f"{indent}  time:    {record.started} -> {record.ended}",
        f"{indent}  code:    {_commit(record)}; "
        + (", ".join(f"{p} {short(h)}" for p, h in sorted(record.code.folders.items())) or "-"),
        f"{indent}  env:     {_environment(record)}",
        f"{indent}  params:  {_params(record)}",
        f"{indent}  outputs: {_artifacts(record.outputs)}",
    ]
    for source in lineage.sources:
        if source.stage == step.stage:
            lines.append(f"{indent}  source:  {_source_text(source)}")
    if not step.links:
        return lines
    lines.append(f"{indent}  inputs:")
    for i, link in enumerate(step.links):
        last = i == len(step.links) - 1
        branch, carry = ("└─ ", "   ") if last else ("├─ ", "│  ")
        if link.producer is not None and link.producer in shown:
            lines.append(f"{indent}  {branch}{_link_text(link)}  (run shown above)")
            continue
        lines.append(f"{indent}  {branch}{_link_text(link)}")
        if link.producer is None:
            continue
        upstream = lineage.step(link.producer)
        lines.extend(_step_lines(lineage, upstream, f"{indent}  {carry}", shown))
    return lines


def _link_text(link: Link) -> str:
    if link.producer is None:
        return f"{link.path} {short(link.md5)}  (raw input, no stage produces it)"
    where = f"in {link.within}, " if link.within and link.within != link.path else ""
    return f"{link.path} {short(link.md5)}  ({where}from {link.producer}){STATE_TEXT[link.state]}"


def render_tree(lineage: Lineage) -> str:
    """The lineage as an indented tree, the target's stage first; each stage in full once."""
    head = f"{lineage.target}"
    if lineage.target != lineage.output:
        head += f"  (inside {lineage.output})"
    lines = [f"{head}  made by stage {lineage.stage}"]
    shown: set[str] = set()
    lines.extend(_step_lines(lineage, lineage.steps[0], "", shown))
    lines.append("sources:")
    lines.extend(f"  {_source_text(s)}" for s in lineage.sources)
    return "\n".join(lines) + "\n"


# --- json ----------------------------------------------------------------------------------------


def _artifact_dict(item: Artifact) -> dict[str, Any]:
    return item.model_dump()


def lineage_dict(lineage: Lineage) -> dict[str, Any]:
    """The lineage as JSON-ready data: target, every step in full, and the sources."""
    steps = []
    for step in lineage.steps:
        record = step.record
        steps.append(
            {
                "stage": step.stage,
                "run_id": record.run_id,
                "pipeline": record.pipeline,
                "started": record.started,
                "ended": record.ended,
                "status": record.status,
                "exit_code": record.exit_code,
                "cmd": record.cmd,
                "argv": list(record.argv),
                "code": record.code.model_dump(),
                "environment": record.environment.model_dump(),
                "params": record.params,
                "seeds": record.seeds,
                "inputs": [
                    {
                        "path": link.path,
                        "md5": link.md5,
                        "producer": link.producer,
                        "within": link.within,
                        "state": link.state,
                    }
                    for link in step.links
                ],
                "code_and_environment_inputs": [
                    _artifact_dict(a) for a in record.inputs if a.kind != "data"
                ],
                "outputs": [_artifact_dict(a) for a in record.outputs],
            }
        )
    return {
        "target": lineage.target,
        "output": lineage.output,
        "stage": lineage.stage,
        "steps": steps,
        "sources": [s.to_dict() for s in lineage.sources],
    }


def render_json(lineage: Lineage) -> str:
    """Stable JSON (sorted keys, 2-space indent) of `lineage_dict`."""
    return json.dumps(lineage_dict(lineage), indent=2, sort_keys=True) + "\n"


# --- dot -----------------------------------------------------------------------------------------


def _quote(*lines: str) -> str:
    """A dot string: each line escaped, joined by dot's line break."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def render_dot(lineage: Lineage) -> str:
    """Graphviz text: datasets (boxes), stage runs (ellipses) and sources (folders)."""
    nodes: dict[str, str] = {}
    edges: set[str] = set()

    def dataset(path: str, md5: str) -> str:
        node = f"data:{path}@{md5}"
        nodes[node] = f"label={_quote(path, short(md5))}, shape=box"
        return node

    for step in lineage.steps:
        record = step.record
        run = f"run:{step.stage}:{record.run_id}"
        label = _quote(step.stage, f"run {record.run_id[:8]}")
        nodes[run] = f"label={label}, shape=ellipse, style=filled, fillcolor=lightgrey"
        for link in step.links:
            edges.add(f"{_quote(dataset(link.path, link.md5))} -> {_quote(run)}")
            if link.producer and link.within and link.within != link.path:
                upstream = lineage.step(link.producer).record.output(link.within)
                if upstream is not None:
                    whole = dataset(upstream.path, upstream.md5)
                    edges.add(
                        f"{_quote(whole)} -> {_quote(dataset(link.path, link.md5))} "
                        '[style=dashed, label="contains"]'
                    )
        for out in record.outputs:
            edges.add(f"{_quote(run)} -> {_quote(dataset(out.path, out.md5))}")
    for source in lineage.sources:
        if source.stage is None:
            continue
        node = f"source:{source.stage}:{source.location}"
        nodes[node] = f"label={_quote(_source_text(source))}, shape=folder"
        run = f"run:{source.stage}:{lineage.step(source.stage).record.run_id}"
        edges.add(f"{_quote(node)} -> {_quote(run)}")
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    lines.extend(f"  {_quote(name)} [{attrs}];" for name, attrs in sorted(nodes.items()))
    lines.extend(f"  {edge};" for edge in sorted(edges))
    lines.append("}")
    return "\n".join(lines) + "\n"
