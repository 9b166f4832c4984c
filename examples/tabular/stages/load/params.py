"""The `load` section of params.yaml, and every section stage load reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Params(BaseModel):
    """The `load` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(ge=0)
    customers: int = Field(ge=10, le=100_000)
    rows_per_customer: tuple[int, int]  # [fewest, most] rows of one customer
    features: int = Field(ge=1, le=50)
    trait: float = Field(ge=0)  # how strongly a customer's hidden trait shows

    @model_validator(mode="after")
    def _rows(self) -> Params:
        low, high = self.rows_per_customer
        if not 1 <= low <= high <= 100:
            raise ValueError("rows_per_customer must be [fewest, most] with 1 <= fewest <= most")
        return self


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs.
PARAMS: dict[str, type[BaseModel]] = {"load": Params}
