"""The `score` section of params.yaml, and every section stage score reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Params(BaseModel):
    """The `score` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(gt=0, lt=1)


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs.
PARAMS: dict[str, type[BaseModel]] = {"score": Params}
