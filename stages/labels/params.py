"""The `labels` section of params.yaml, validated strictly.

Unknown keys are refused and numbers must be numbers (YAML `true` is not 1, "0.05" is not 0.05),
so a typo such as `treshold` fails at load time with file, line and key path instead of auditing
with a default the user did not mean.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

# An image is flagged when cleanlab estimates that more than this share of its pixels carry a
# wrong label. Measured on the seeded simulation of tests/unit/stages/labels at the pipeline's
# 64x64 (550 images, 10% with outlines shifted/grown/shrunk by >= 10% of the pet's pixels, three
# model qualities): with 3 seeds averaged, 0.04 flagged with precision 1.00 and recall 0.73-0.80;
# with 1 seed, precision 0.77-0.92 for a decent model. 0.03 finds more (recall 0.84-0.90 with 3
# seeds) but with 1 seed flags 2-3 clean images per corrupted one; 0.05 halves the recall.
DEFAULT_THRESHOLD = 0.04
DEFAULT_EXAMPLES = 4
MAX_EXAMPLES = 32


def _plain_number(value: object) -> object:
    # YAML writes 1 as an int: ints are welcome (and then refused by the range); booleans and
    # strings are typos.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"threshold must be a number between 0 and 1 (got {value!r})")
    return value


Fraction = Annotated[float, BeforeValidator(_plain_number), Field(gt=0, lt=1, allow_inf_nan=False)]


class LabelsParams(BaseModel):
    """params.yaml `labels`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Flag an image when its estimated fraction of wrong pixels is above this.
    threshold: Fraction = DEFAULT_THRESHOLD
    # How many of the worst images the figure shows (a row of three panels each); 0: no figure.
    examples: StrictInt = Field(default=DEFAULT_EXAMPLES, ge=0, le=MAX_EXAMPLES)


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {"labels": LabelsParams}
