"""`spec.replicate`: what `pedigree replicate` re-runs per seed and, with `folds`, how it runs
grouped nested K-fold cross-validation and the label audit over its out-of-fold predictions.

Field-level rules only; `pedigree.spec.roles` checks that the stages, splits and params named
here exist.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from pedigree.spec.fields import (
    Argv,
    ParamsKey,
    RepoPath,
    SplitName,
    StageName,
    _Strict,
)
from pedigree.spec.text import SpecValueError, refuse_hidden

Share = Annotated[float, Field(gt=0.0, lt=1.0)]
# The replicate image's folder when `folds.image` is not given: requirements.in/.lock, Dockerfile.
REPLICATE_IMAGE_DIR = "images/replicate"


def _params_path(value: str) -> str:
    # `section.key[.key...]`: a key of params.yaml, nested as deep as the stage reads it
    refuse_hidden(value, "params key")
    if len(value.split(".")) < 2 or not all(value.split(".")):
        raise SpecValueError(
            f"{value!r} is not a params key of the form section.key (or section.key.key)",
            "name the section of params.yaml and the key in it, like transform.split.groups",
        )
    return value


ParamsPath = Annotated[str, AfterValidator(_params_path)]


class LabelAudit(_Strict):
    """The label audit run over the folds' out-of-fold predictions (`pedigree replicate
    --folds`): a command run in its own scratch folder holding `predictions/<run>/` (one per
    fold x seed), params.yaml and the splits' provenance file; it writes `outs` into the
    project. `pedigree audit` judges the result (`labels` check) with `severity`."""

    cmd: Argv = Field(min_length=1)
    outs: tuple[RepoPath, ...] = Field(min_length=1)
    # the outs file `pedigree audit` reads ({"flagged": [...], "threshold": t, "images": n})
    summary: RepoPath
    severity: Literal["warn", "fail"] = "warn"

    @model_validator(mode="after")
    def _summary_is_an_out(self) -> LabelAudit:
        if self.summary not in self.outs:
            raise SpecValueError(
                f"summary '{self.summary}' is not one of the label audit's outs",
                "add it to outs, or name one of them",
            )
        return self


class Folds(_Strict):
    """Grouped nested K-fold for `pedigree replicate --folds K`.

    The splits stage (`spec.data.splits.stage`) runs again per fold, reading the fold's group ->
    split map from the file the params key `assignment` names: the held-out fold's groups go to
    the `heldOut` split (the one the metrics stage scores), the other folds' groups to the train
    split and the `inner` splits (their shares of those groups' samples), and the fixed test
    split's groups to none. Every stage from the splits stage to the metrics stage runs again.
    """

    assignment: ParamsPath
    held_out: SplitName = Field(alias="heldOut")
    inner: dict[SplitName, Share] = Field(default_factory=dict)
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0  # orders the groups into folds
    # an output of the metrics stage: its predictions of the held-out split (label audit input)
    predictions: RepoPath | None = None
    labels: LabelAudit | None = None
    # The folder of the image a cluster runs the folds in (one pod per fold x seed, and the
    # gather step): the union of the fold stages' environments and the label audit's. A path
    # like a stage's `image`; `pedigree compile --target images` generates its Dockerfile, and
    # `pedigree.containers.dockerfile` refuses the base's, a stage's or the serving image's.
    image: RepoPath = REPLICATE_IMAGE_DIR

    @property
    def image_dir(self) -> str:
        """The replicate image's folder, without a trailing slash."""
        return self.image.rstrip("/")

    @property
    def lock_file(self) -> str:
        """The replicate image's hash-pinned environment lock."""
        return f"{self.image_dir}/requirements.lock"

    @model_validator(mode="after")
    def _shares_leave_train(self) -> Folds:
        total = sum(self.inner.values())
        if total >= 1.0:
            raise SpecValueError(
                f"the inner shares add up to {total:g}, leaving nothing for the train split",
                "make them add up to less than 1, like {validation: 0.125, calibration: 0.125}",
            )
        if self.labels is not None and self.predictions is None:
            raise SpecValueError(
                "labels needs the folds' out-of-fold predictions, and predictions is not set",
                "name the metrics stage's predictions output, like reports/predictions",
            )
        return self


class Replication(_Strict):
    """What `pedigree replicate` re-runs per seed, and which param is the seed."""

    stages: tuple[StageName, ...] = Field(min_length=1)
    seed: ParamsKey
    folds: Folds | None = None

    @property
    def seed_section(self) -> str:
        """The params.yaml section holding the seed (`determinism`)."""
        return self.seed.split(".", 1)[0]

    @property
    def seed_key(self) -> str:
        """The seed's key inside its section (`seed`)."""
        return self.seed.split(".", 1)[1]
