"""The `evaluate` section of params.yaml, validated strictly.

Unknown keys are refused and integers must be integers (YAML `true` is not 1), so a typo such as
`bach_size` fails at load time with file, line and key path instead of being silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from stages.common.determinism import DeterminismParams
from stages.common.training import ModelParams


class EvaluateParams(BaseModel):
    """params.yaml `evaluate`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: StrictInt = Field(ge=1, le=1024)
    bins: StrictInt = Field(ge=2, le=100)  # reliability / ECE bins, as in calibrate
    # Best and worst test images shown in the report; each adds a row of three panels.
    examples: StrictInt = Field(ge=0, le=16)


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {
    "evaluate": EvaluateParams,
    "model": ModelParams,
    "determinism": DeterminismParams,
}
