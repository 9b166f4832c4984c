"""The `fit` section of params.yaml, and every section stage fit reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Params(BaseModel):
    """The `fit` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(ge=0)
    epochs: int = Field(ge=1, le=1000)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    l2: tuple[float, ...] = Field(min_length=1)  # candidates; validation picks one


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs.
PARAMS: dict[str, type[BaseModel]] = {"fit": Params}
