"""The release gate: absolute thresholds AND champion/challenger, as one pure decision.

A challenger is promoted only when every check passes:
  * each threshold in params (`release.thresholds`) holds for its metrics on the test split;
  * it beats the current champion's primary metric by at least `release.margin`, compared on
    the same test split (the same content hash). When the champion was never scored on this
    test split, the scores are not comparable: the gate refuses to compare, says so, and does
    not promote (a person can still promote by hand with `pedigree models promote`);
  * it was not rolled back before (a rolled-back model is never re-promoted automatically).
With no champion yet (the first release) only the thresholds decide. A rejection is a normal
outcome, reported with every reason, never an error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pedigree.registry.records import GateDecision, ModelVersion, Reason
from stages.release.params import ReleaseParams, metric_value

CHAMPION_CHECK = "champion/challenger"


@dataclass(frozen=True)
class Gate:
    """The gate's settings and the test split the challenger was scored on."""

    params: ReleaseParams
    test_split_sha256: str

    def __call__(self, challenger: ModelVersion, champion: ModelVersion | None) -> GateDecision:
        """Decide (the registry calls this under its write lock, with the live champion)."""
        return decide(challenger, champion, self.params, self.test_split_sha256)


def gate_digest(params: ReleaseParams) -> str:
    """sha256 of the canonical JSON of the settings that decide: primary metric, direction,
    margin and thresholds. The registry keys a recorded decision by it, so a release under other
    settings decides anew, and the same settings find (and re-check) the decision they took."""
    settings = {
        "primary_metric": params.primary_metric,
        "higher_is_better": params.higher_is_better,
        "margin": params.margin,
        # a list, in params order: the order of the reasons a decision gives
        "thresholds": [
            [name, bound.model_dump(mode="json")] for name, bound in params.thresholds.items()
        ],
    }
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def threshold_reasons(metrics: dict[str, object], params: ReleaseParams) -> list[Reason]:
    """One reason per threshold bound, in params order."""
    reasons = []
    for name, bound in params.thresholds.items():
        value = metric_value(metrics, name)  # type: ignore[arg-type]
        check = f"threshold {name}"
        if value is None:
            reasons.append(Reason(check, False, f"{name} is missing from the evaluation"))
            continue
        if bound.min is not None:
            ok = value >= bound.min
            word = "meets" if ok else "is below"
            reasons.append(
                Reason(check, ok, f"{name} = {_fmt(value)} {word} the minimum {_fmt(bound.min)}")
            )
        if bound.max is not None:
            ok = value <= bound.max
            word = "meets" if ok else "is above"
            reasons.append(
                Reason(check, ok, f"{name} = {_fmt(value)} {word} the maximum {_fmt(bound.max)}")
            )
    return reasons


def champion_reason(
    challenger: ModelVersion, champion: ModelVersion | None, params: ReleaseParams, split: str
) -> Reason:
    """Does the challenger beat the champion on the same test split by the margin?"""
    name = params.primary_metric
    if champion is None:
        return Reason(CHAMPION_CHECK, True, "no champion yet: this is the first release")
    if champion.version == challenger.version:
        return Reason(
            CHAMPION_CHECK, True, f"v{champion.version} is already the champion: nothing changes"
        )
    theirs = champion.scores.get(split)
    if theirs is None:
        scored = ", ".join(sorted(s[:12] for s in champion.scores)) or "none"
        return Reason(
            "test split",
            False,
            f"the test split changed: champion v{champion.version} was scored on test split "
            f"{scored}, this evaluation on {split[:12]}; scores on different test data are not "
            "comparable, so the gate refuses to compare (promote by hand with "
            f"`pedigree models promote {challenger.version}` after reviewing both)",
        )
    mine_value = metric_value(challenger.scores.get(split, challenger.metrics), name)
    theirs_value = metric_value(theirs, name)
    if mine_value is None or theirs_value is None:
        who = "challenger" if mine_value is None else f"champion v{champion.version}"
        return Reason(CHAMPION_CHECK, False, f"{name} is missing from the {who}'s scores")
    gain = mine_value - theirs_value if params.higher_is_better else theirs_value - mine_value
    ok = gain > 0 and gain >= params.margin
    verb = "beats" if ok else "does not beat"
    return Reason(
        CHAMPION_CHECK,
        ok,
        f"{name} {_fmt(mine_value)} {verb} champion v{champion.version}'s {_fmt(theirs_value)} "
        f"by the margin {_fmt(params.margin)} ({'higher' if params.higher_is_better else 'lower'} "
        f"is better; difference {gain:+.6g})",
    )


def decide(
    challenger: ModelVersion, champion: ModelVersion | None, params: ReleaseParams, split: str
) -> GateDecision:
    """Promote only if every threshold holds and the challenger beats the champion."""
    metrics = challenger.scores.get(split, challenger.metrics)
    reasons = threshold_reasons(metrics, params)
    is_champion = champion is not None and champion.version == challenger.version
    if challenger.status == "rolled-back" and not is_champion:
        reasons.append(
            Reason(
                "rollback",
                False,
                f"v{challenger.version} was rolled back; it is never re-promoted automatically "
                f"(promote it by hand with `pedigree models promote {challenger.version}`)",
            )
        )
    else:
        reasons.append(champion_reason(challenger, champion, params, split))
    return GateDecision(promoted=all(r.passed for r in reasons), reasons=tuple(reasons))
