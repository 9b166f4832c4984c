"""The `train` section of params.yaml, and every section the train stage reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stages.common.determinism import DeterminismParams
from stages.common.training import ModelParams


class TrainParams(BaseModel):
    """params.yaml `train`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(ge=1, le=1000)
    patience: int = Field(ge=1, le=1000)


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {
    "train": TrainParams,
    "model": ModelParams,
    "determinism": DeterminismParams,
}
