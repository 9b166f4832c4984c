"""The release gate: thresholds, champion vs challenger, margin, changed test split, first release."""

from __future__ import annotations

from typing import Any

import pytest

from pedigree.registry.records import ModelVersion
from pedigree.registry.settings import ServingSettings
from stages.release.gate import decide
from stages.release.params import ReleaseParams, Threshold

SPLIT = "a" * 64
OTHER_SPLIT = "b" * 64
SERVING = ServingSettings(
    name="pets-segmentation",
    namespace="pedigree",
    image="pedigree/serve:0.1.0",
    remote="s3://pedigree/dvc",
    replicas=1,
    port=8080,
)


def params(**overrides: Any) -> ReleaseParams:
    values: dict[str, Any] = {
        "registry": "registry/pets",
        "primary_metric": "mean_iou",
        "higher_is_better": True,
        "margin": 0.01,
        "thresholds": {
            "mean_iou": Threshold(min=0.5),
            "ece.calibrated": Threshold(max=0.05),
        },
        "serving": SERVING,
    }
    values.update(overrides)
    return ReleaseParams(**values)


def metrics(mean_iou: float, ece: float = 0.02) -> dict[str, Any]:
    return {"mean_iou": mean_iou, "ece": {"original": 0.1, "calibrated": ece}}


def version(
    number: int,
    mean_iou: float,
    ece: float = 0.02,
    split: str = SPLIT,
    status: str = "challenger",
) -> ModelVersion:
    scored = metrics(mean_iou, ece)
    return ModelVersion(
        version=number,
        model_sha256=f"{number:064x}",
        registered_at="2026-11-24T00:00:00Z",
        status=status,
        artifact=f"artifacts/{number:064x}/model.keras",
        calibration={"temperature": 1.2},
        metrics=scored,
        test_split_sha256=split,
        scores={split: scored},
        git_commit=None,
        git_dirty=None,
        environment={},
        lineage={},
    )


def failed(decision: Any) -> list[str]:
    return [r.message for r in decision.reasons if not r.passed]


def test_first_release_is_promoted_when_thresholds_hold() -> None:
    decision = decide(version(1, 0.8), None, params(), SPLIT)
    assert decision.promoted
    assert [r.check for r in decision.reasons] == [
        "threshold mean_iou",
        "threshold ece.calibrated",
        "champion/challenger",
    ]
    assert "first release" in decision.reasons[-1].message


@pytest.mark.parametrize(
    ("mean_iou", "ece", "expected"),
    [
        (0.4, 0.02, "mean_iou = 0.4 is below the minimum 0.5"),
        (0.8, 0.09, "ece.calibrated = 0.09 is above the maximum 0.05"),
    ],
)
def test_first_release_fails_a_threshold(mean_iou: float, ece: float, expected: str) -> None:
    decision = decide(version(1, mean_iou, ece), None, params(), SPLIT)
    assert not decision.promoted
    assert failed(decision) == [expected]


def test_threshold_bounds_are_inclusive() -> None:
    decision = decide(version(1, 0.5, 0.05), None, params(), SPLIT)
    assert decision.promoted, failed(decision)


def test_challenger_beating_the_champion_by_the_margin_is_promoted() -> None:
    decision = decide(version(2, 0.82), version(1, 0.80, status="champion"), params(), SPLIT)
    assert decision.promoted
    assert "0.82 beats champion v1's 0.8 by the margin 0.01" in decision.reasons[-1].message


def test_challenger_within_the_margin_is_rejected() -> None:
    decision = decide(version(2, 0.805), version(1, 0.80, status="champion"), params(), SPLIT)
    assert not decision.promoted
    assert failed(decision) == [
        "mean_iou 0.805 does not beat champion v1's 0.8 by the margin 0.01 "
        "(higher is better; difference +0.005)"
    ]


def test_worse_challenger_is_rejected_even_with_zero_margin() -> None:
    champion = version(1, 0.80, status="champion")
    assert not decide(version(2, 0.80), champion, params(margin=0.0), SPLIT).promoted
    assert decide(version(2, 0.8001), champion, params(margin=0.0), SPLIT).promoted


def test_lower_is_better_primary_metric() -> None:
    p = params(primary_metric="ece.calibrated", higher_is_better=False, margin=0.001)
    champion = version(1, 0.8, ece=0.03, status="champion")
    assert decide(version(2, 0.8, ece=0.02), champion, p, SPLIT).promoted
    rejected = decide(version(3, 0.8, ece=0.0295), champion, p, SPLIT)
    assert not rejected.promoted
    assert "lower is better" in failed(rejected)[0]


def test_thresholds_and_champion_both_must_pass() -> None:
    champion = version(1, 0.80, status="champion")
    decision = decide(version(2, 0.90, ece=0.2), champion, params(), SPLIT)
    assert not decision.promoted
    assert failed(decision) == ["ece.calibrated = 0.2 is above the maximum 0.05"]


def test_changed_test_split_refuses_to_compare() -> None:
    champion = version(1, 0.50, split=OTHER_SPLIT, status="champion")
    decision = decide(version(2, 0.95), champion, params(), SPLIT)
    assert not decision.promoted
    (message,) = failed(decision)
    assert message.startswith(
        "the test split changed: champion v1 was scored on test split bbbbbbbbbbbb"
    )
    assert "this evaluation on aaaaaaaaaaaa" in message
    assert "pedigree models promote 2" in message


def test_champion_rescored_on_the_new_split_is_compared_there() -> None:
    champion = version(1, 0.50, split=OTHER_SPLIT, status="champion")
    champion = ModelVersion(
        **{**champion.__dict__, "scores": {OTHER_SPLIT: metrics(0.5), SPLIT: metrics(0.9)}}
    )
    decision = decide(version(2, 0.95), champion, params(), SPLIT)
    assert decision.promoted
    assert "beats champion v1's 0.9" in decision.reasons[-1].message


def test_the_champion_released_again_changes_nothing() -> None:
    champion = version(1, 0.80, status="champion")
    decision = decide(champion, champion, params(), SPLIT)
    assert decision.promoted
    assert decision.reasons[-1].message == "v1 is already the champion: nothing changes"


def test_a_rolled_back_model_is_not_promoted_again() -> None:
    champion = version(1, 0.70, status="champion")
    decision = decide(version(2, 0.90, status="rolled-back"), champion, params(), SPLIT)
    assert not decision.promoted
    assert failed(decision) == [
        "v2 was rolled back; it is never re-promoted automatically "
        "(promote it by hand with `pedigree models promote 2`)"
    ]
