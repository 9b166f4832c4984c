"""Turn pydantic validation errors into Problems a person can act on.

Each Problem names the file, line and key path, says what is wrong in plain words, and for an
unknown key suggests the closest allowed key ("did you mean").
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from pedigree.errors import Problem
from pedigree.spec.yamlsource import KeyPath, YamlDocument


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation like `tuple[Stage, ...]` or `Resources | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (tuple, list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(root: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The model that validates the mapping at `path` (int parts index into sequences)."""
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        by_alias = {f.alias or n: f for n, f in model.model_fields.items()}
        field = by_alias.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return model


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from_validation(
    error: ValidationError, root: type[BaseModel], doc: YamlDocument, prefix: KeyPath = ()
) -> list[Problem]:
    """One Problem per pydantic error, located in `doc` (`root` validated the data at `prefix`)."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        rel: KeyPath = tuple(p for p in item["loc"] if not _is_pydantic_tag(p))
        loc: KeyPath = (*prefix, *rel)
        kind = item["type"]
        message = item["msg"]
        hint: str | None = None
        if kind == "extra_forbidden":
            key = str(loc[-1])
            model = _model_at(root, rel[:-1])
            allowed = _field_names(model) if model else []
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            message = f"unknown key '{key}'"
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif allowed:
                hint = "allowed keys: " + ", ".join(allowed)
        elif kind == "missing":
            message = f"required key '{loc[-1]}' is missing"
            hint = f"add '{loc[-1]}:'"
        elif kind == "literal_error":
            message = f"{_describe(item.get('input'))} is not allowed: {message}"
        elif kind == "value_error":
            message = message.removeprefix("Value error, ")
            # a validator that knows the fix raises an error with a `hint` (SpecValueError)
            hint = getattr(item.get("ctx", {}).get("error"), "hint", None)
        elif kind == "too_short" and loc and loc[-1] == "stages":
            if item.get("input"):
                # pydantic also counts a tuple short when one of its items was invalid: that
                # item has its own problem, and the pipeline does have stages.
                continue
            message = "a pipeline needs at least one stage"
        else:
            message = f"{message} (got {_describe(item.get('input'))})"
        problems.append(doc.problem(loc, message, hint))
    return problems


def _is_pydantic_tag(part: Any) -> bool:
    # pydantic adds the validator's name (e.g. 'function-after[...]') to some locations
    return isinstance(part, str) and ("[" in part and part.endswith("]"))
