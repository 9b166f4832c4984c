"""Load a user's YAML file safely, remembering the line of every key.

Why not `yaml.safe_load`: users need errors that name the line and key path; duplicate keys must
be errors rather than silently overwritten; and hostile documents (alias bombs, absurd nesting,
huge files, non-UTF-8 bytes) must be refused quickly with a clear message, never hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pedigree.atomic import NotRegularFileError, TooLargeError, read_bounded
from pedigree.errors import Problem

MAX_BYTES = 1 << 20  # a pipeline spec or params file is never a megabyte
MAX_NODES = 50_000  # counted with aliases expanded: an alias bomb trips this in microseconds
MAX_DEPTH = 64
_TOO_LARGE_HINT = "a spec or params file is a few kilobytes: check that this is the right file"
MERGE_TAG = "tag:yaml.org,2002:merge"
# Tags of plain data; anything else (e.g. !!python/object) is refused, even if the safe loader
# would merely ignore it.
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)

KeyPath = tuple[str | int, ...]


def render_path(path: KeyPath) -> str:
    """Render ('spec', 'stages', 0, 'cmd') as 'spec.stages[0].cmd'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += part if not out else f".{part}"
    return out


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain Python data plus the 1-based line of every key path."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def problem(self, path: KeyPath, message: str, hint: str | None = None) -> Problem:
        """A Problem located at `path` in this file."""
        return Problem(self.file, self.line_of(path), render_path(path), message, hint)


class YamlLoadError(Exception):
    """Raised with the Problem that stops a file from loading at all."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


def load_yaml_file(path: Path, display: str | None = None) -> YamlDocument:
    """Read and parse `path`; raise YamlLoadError for unreadable, empty or malformed files."""
    name = display or str(path)
    try:
        # Bounded: `pedigree validate /dev/zero` or a huge file must fail at once, not read on.
        raw = read_bounded(path, MAX_BYTES)
    except FileNotFoundError:
        raise YamlLoadError(Problem(name, None, "", "file not found", "check the path")) from None
    except NotRegularFileError as exc:
        raise YamlLoadError(
            Problem(name, None, "", f"file {exc}", "pass a regular YAML file")
        ) from None
    except TooLargeError as exc:
        raise YamlLoadError(Problem(name, None, "", f"file {exc}", _TOO_LARGE_HINT)) from None
    except OSError as exc:
        raise YamlLoadError(Problem(name, None, "", f"cannot read file: {exc.strerror}")) from None
    return load_yaml_bytes(raw, name)


def load_yaml_bytes(raw: bytes, name: str) -> YamlDocument:
    """Parse YAML bytes that claim to come from file `name`."""
    if len(raw) > MAX_BYTES:
        raise YamlLoadError(
            Problem(
                name,
                None,
                "",
                f"file is {len(raw)} bytes, over the {MAX_BYTES} byte limit",
                _TOO_LARGE_HINT,
            )
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlLoadError(
            Problem(
                name,
                line,
                "",
                f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {column}",
                "save the file as UTF-8",
            )
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = mark.line + 1 if mark is not None else None
        what = ", ".join(x for x in (exc.context, exc.problem) if x) or "malformed YAML"
        raise YamlLoadError(
            Problem(name, at, "", f"malformed YAML: {what}", "fix the YAML syntax at that line")
        ) from None
    except yaml.YAMLError as exc:
        raise YamlLoadError(Problem(name, None, "", f"malformed YAML: {exc}")) from None
    except RecursionError:
        raise YamlLoadError(
            Problem(name, None, "", f"YAML is nested too deeply (limit {MAX_DEPTH} levels)")
        ) from None
    finally:
        loader.dispose()
    if node is None:
        raise YamlLoadError(
            Problem(name, None, "", "file is empty", "start from the example in docs/spec.md")
        )
    builder = _Builder(name, yaml.SafeLoader(""))
    data = builder.build(node, (), 0)
    return YamlDocument(name, data, builder.lines)


class _Builder:
    """Turns a composed node tree into Python data, tracking lines and bounding expansion."""

    def __init__(self, name: str, constructor: yaml.SafeLoader) -> None:
        self.name = name
        self.constructor = constructor
        self.lines: dict[KeyPath, int] = {}
        self.count = 0

    def fail(self, node: Node, message: str, path: KeyPath, hint: str | None = None) -> None:
        raise YamlLoadError(
            Problem(self.name, node.start_mark.line + 1, render_path(path), message, hint)
        )

    def build(self, node: Node, path: KeyPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            self.fail(
                node,
                f"document expands to more than {MAX_NODES} values (an alias bomb?)",
                path,
                "remove the repeated aliases (*name)",
            )
        if depth > MAX_DEPTH:
            self.fail(node, f"nested more than {MAX_DEPTH} levels deep", path)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in PLAIN_TAGS:
            self.fail(
                node,
                f"unsupported YAML tag {node.tag}",
                path,
                "use plain values: strings, numbers, lists, mappings",
            )
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                self.fail(node, f"invalid value: {exc}", path)
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        self.fail(node, "unsupported YAML node", path)  # pragma: no cover - yaml has no others
        return None

    def _mapping(self, node: MappingNode, path: KeyPath, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    value = self.build(source, path, depth + 1)
                    if not isinstance(value, dict):
                        self.fail(source, "'<<' merges only mappings", path)
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, "keys must be plain scalars", path)
            key = self.constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                self.fail(key_node, f"unsupported key type {type(key).__name__}", path)
            if key in result:
                self.fail(
                    key_node,
                    f"duplicate key '{key}' (first at line {self.lines[(*path, str(key))]})",
                    (*path, str(key)),
                    "keep only one",
                )
            child = (*path, str(key))
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, depth + 1)
        for k, v in merged.items():
            result.setdefault(k, v)
        return result
