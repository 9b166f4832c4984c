"""replicate learns what to re-run, and which param is the seed, from the spec alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pedigree.replicate.upstream import ReplicateError, make_plan, split_seed, without_seed
from pedigree.replicate.workspace import seeded_params
from tests.conftest import make_project


def test_a_spec_without_a_replicate_section_is_refused_with_what_to_declare(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "p")
    with pytest.raises(
        ReplicateError,
        match=r"pipelines/pets.yaml does not say which stages replicate re-runs per seed, "
        r"nor which param is the seed",
    ) as info:
        make_plan(root)
    assert "replicate: {stages: [STAGE, ...], seed: SECTION.KEY}" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("seed", "expected"),
    [("determinism.seed", ("determinism", "seed")), ("fit.random_state", ("fit", "random_state"))],
)
def test_split_seed(seed: str, expected: tuple[str, str]) -> None:
    assert split_seed(seed) == expected


def test_without_seed_drops_the_declared_key_only() -> None:
    params = {"fit": {"random_state": 7, "trees": 3}, "determinism": {"seed": 1}}
    assert without_seed(params, "fit.random_state") == {
        "fit": {"trees": 3},
        "determinism": {"seed": 1},
    }
    assert without_seed(params, "missing.seed") == params


def test_seeded_params_sets_the_declared_key(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        "fit:\n  random_state: 7\n  trees: 3\nother: {seed: 1}\n", encoding="utf-8"
    )
    data = yaml.safe_load(seeded_params(tmp_path, 42, "fit.random_state"))
    assert data == {"fit": {"random_state": 42, "trees": 3}, "other": {"seed": 1}}
