"""The `release` section of params.yaml, validated strictly.

Thresholds and the primary metric name key paths in evaluate's metrics.json (`ece.calibrated`),
checked against the metrics the evaluation really produced before anything is registered, so a
typo is a clear params error rather than a model rejected forever.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pedigree.errors import ParamsError
from pedigree.registry.settings import ServingSettings
from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file


class Threshold(BaseModel):
    """An absolute gate on one metric: `min` and/or `max` (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both, e.g. {min: 0.6}")
        for value in (self.min, self.max):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"bounds must be finite numbers (got {value})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ReleaseParams(BaseModel):
    """params.yaml `release`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: str = Field(min_length=1)
    primary_metric: str = Field(min_length=1)
    higher_is_better: bool = True
    margin: float = Field(ge=0.0, le=1.0)
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    serving: ServingSettings

    @field_validator("margin")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("margin must be a finite number")
        return value


def metric_value(metrics: dict[str, Any], path: str) -> float | None:
    """The number at dotted key path `path` in `metrics`, or None when absent or not a number."""
    node: Any = metrics
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


def numeric_paths(metrics: dict[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key path in `metrics` that holds a number (for "known metrics" hints)."""
    found: list[str] = []
    for key, value in sorted(metrics.items()):
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found += numeric_paths(value, path + ".")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.append(path)
    return found


def check_metric_names(params: ReleaseParams, metrics: dict[str, Any], params_file: Path) -> None:
    """Raise ParamsError when the primary metric or a threshold names no metric evaluate wrote.

    Each problem is located (file, line, key path) in params.yaml.
    """
    known = numeric_paths(metrics)
    hint = "known metrics: " + ", ".join(known)
    names: list[tuple[tuple[str, ...], str]] = [
        (("release", "primary_metric"), params.primary_metric)
    ]
    names += [(("release", "thresholds", name), name) for name in params.thresholds]
    missing = [(where, name) for where, name in names if metric_value(metrics, name) is None]
    if not missing:
        return
    try:
        doc = load_yaml_file(params_file, params_file.name)
    except YamlLoadError as exc:  # read fine a moment ago; report what changed
        raise ParamsError([exc.problem]) from None
    raise ParamsError(
        [
            doc.problem(where, f"'{name}' is not a metric in the evaluation's metrics", hint)
            for where, name in missing
        ]
    )


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {"release": ReleaseParams}
