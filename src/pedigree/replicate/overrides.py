"""`pedigree replicate --set KEY=VALUE`: params changed for the replicates only.

Replicates cost a whole training per run; `--set train.epochs=2` makes cheap ones (a smoke test,
a quick look at the spread). The project's params.yaml is never touched: each workspace's
params.yaml gets the value, the summary records the overrides, and a report comparing the
replicates with the project's model says they differ. A key must already exist in params.yaml
(so a typo cannot silently add a key the stage ignores) and must not be the seed or the fold's
split map, which replicate sets itself. The value is read as YAML (`2`, `0.5`, `[16, 32]`,
`null`); the stage's own params model validates it when the stage runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from pedigree.replicate.upstream import ReplicateError

SET_HINT = "write --set SECTION.KEY=VALUE with a key params.yaml has, like --set train.epochs=2"


def get_key(data: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """(found, value) of the dotted key `dotted` in nested mappings."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set the dotted key `dotted` in nested dicts, making the missing levels."""
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def parse_overrides(
    items: Sequence[str], params: Mapping[str, Any], reserved: Sequence[str]
) -> dict[str, Any]:
    """`["train.epochs=2", ...]` -> {"train.epochs": 2}, each key checked against `params`
    (params.yaml as loaded) and refused when it is one of `reserved` (the seed, the split map)."""
    found: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or "." not in key or not all(key.split(".")):
            raise ReplicateError(f"--set: '{item}' is not SECTION.KEY=VALUE", SET_HINT)
        if any(key == r or key.startswith(f"{r}.") or r.startswith(f"{key}.") for r in reserved):
            raise ReplicateError(
                f"--set: {key} is set by replicate itself (the seed or a fold's split map)",
                "use --seeds to choose the seeds, and --folds for the folds",
            )
        exists, _ = get_key(params, key)
        if not exists:
            raise ReplicateError(f"--set: params.yaml has no key {key}", SET_HINT)
        if key in found:
            raise ReplicateError(f"--set: {key} is given twice", "give each key once")
        try:
            found[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ReplicateError(
                f"--set: the value of {key} is not YAML: {exc}", "quote it, like --set k='a b'"
            ) from None
    return dict(sorted(found.items()))


def apply_overrides(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the params sections `params` with the overrides in them (for the summary)."""
    import copy

    result = copy.deepcopy(dict(params))
    for key, value in overrides.items():
        if key.split(".", 1)[0] in result:
            set_key(result, key, value)
    return result


def without_key(params: Mapping[str, Any], dotted: str) -> dict[str, Any]:
    """A copy of `params` with the dotted key left out (a fold's split map differs per fold)."""
    import copy

    result = copy.deepcopy(dict(params))
    *parents, last = dotted.split(".")
    node: Any = result
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)
    return result
