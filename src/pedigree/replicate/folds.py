"""Grouped K-fold for `pedigree replicate --folds K`: which samples each outer fold holds out, the
nested inner split of the rest, and the isolation check audit runs on a fold's records.

Pure: no I/O, frozen dataclasses, the same plan for the same input whatever its order.

Outer folds (`assign_folds`): the input is every sample that is not in the fixed test split
(the caller leaves those out and may name them, `excluded`, so the plan records it never saw
them), each with its group (the spec's `data.splits.groupKey`, e.g. the animal). The groups are
put in a seeded order (by sha256 of "seed:group") and each goes, whole, to the fold with the
fewest samples so far (ties: the lower fold index). So every group is held out in exactly one
fold, every sample in exactly one fold, and the folds' sample counts differ by at most the size
of the largest group. Folds are numbered 0..K-1.

Inner split (`FoldPlan.inner_split`): for fold i, the samples of the other folds, again whole
groups in a seeded order (sha256 of "seed:i:inner:group"), each to the part (train and the splits
given shares, e.g. validation and calibration) furthest below its asked share. Tuning and early
stopping use train and validation only, calibration is its own part, and the held-out fold is in
none of them (nested CV).

Isolation (`check_isolation`): given the sample ids that reached each stage role of a fold's run
(tune, train, calibrate), one finding per leak: held-out samples that reached a role, samples of
the excluded test split or unknown to the plan that reached one, and groups split between the
held-out fold and the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pedigree.errors import PedigreeError

METHOD = "grouped k-fold: whole groups in a seeded order, each to the fold with fewest samples"
ROLES = ("tune", "train", "calibrate")  # the stage roles a held-out sample must never reach
SHOWN = 3  # leaked ids named per finding


class FoldError(PedigreeError):
    """Folds cannot be assigned or split as asked: k < 2, too few groups, an empty id, ..."""


@dataclass(frozen=True)
class Fold:
    """One outer fold: what it holds out (sorted)."""

    index: int
    groups: tuple[str, ...]
    samples: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"fold": self.index, "groups": list(self.groups), "samples": list(self.samples)}


@dataclass(frozen=True)
class Part:
    """One part of a nested split: its name (a split of the pipeline) and whole groups."""

    name: str
    groups: tuple[str, ...]
    samples: tuple[str, ...]


@dataclass(frozen=True)
class InnerSplit:
    """The nested split of one fold's remaining samples: whole groups per part (sorted), the
    train part first, then the others in the order their shares were given."""

    fold: int
    parts: tuple[Part, ...]

    def part(self, name: str) -> Part:
        """The part called `name` (FoldError if there is none)."""
        for part in self.parts:
            if part.name == name:
                return part
        raise FoldError(f"fold {self.fold}'s inner split has no part '{name}'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "fold": self.fold,
            **{p.name: {"groups": list(p.groups), "samples": list(p.samples)} for p in self.parts},
        }


@dataclass(frozen=True)
class FoldPlan:
    """The outer folds of a grouped K-fold, and what they were made from."""

    k: int
    seed: int
    folds: tuple[Fold, ...]
    groups: tuple[tuple[str, str], ...]  # (sample id, group id), sorted by sample id
    excluded: tuple[str, ...] = ()  # the test split's ids the caller left out (sorted)

    def group_of(self) -> dict[str, str]:
        """sample id -> group id."""
        return dict(self.groups)

    def fold(self, index: int) -> Fold:
        """Fold `index` (0..k-1)."""
        if isinstance(index, bool) or not 0 <= index < len(self.folds):
            raise FoldError(f"there is no fold {index}: the folds are 0..{len(self.folds) - 1}")
        return self.folds[index]

    def rest(self, index: int) -> tuple[str, ...]:
        """The samples of every fold but `index` (sorted): what fold `index` may learn from."""
        held = set(self.fold(index).samples)
        return tuple(sample for sample, _ in self.groups if sample not in held)

    def inner_split(
        self, fold: int, shares: Mapping[str, float], train: str = "train"
    ) -> InnerSplit:
        """Split the samples outside fold `fold` by group into the `train` part and one part per
        entry of `shares` (part name -> its share of those samples; train gets the rest).

        Groups go whole, in a seeded order, each to the part whose sample count is furthest below
        its target (relative to it); a share of 0 leaves its part empty."""
        for name, share in shares.items():
            if name == train:
                raise FoldError(f"'{train}' gets what the shares leave: give it no share")
            if not 0.0 <= share < 1.0:
                raise FoldError(f"the {name} share must be in [0, 1), not {share}")
        train_share = 1.0 - sum(shares.values())
        if train_share <= 0.0:
            listed = " + ".join(f"{share}" for share in shares.values())
            raise FoldError(
                f"the shares ({listed}) leave nothing to train on: they must add up to less than 1"
            )
        held = set(self.fold(fold).groups)
        members = _members(self.groups)
        rest = [group for group in members if group not in held]
        names = (train, *shares)
        wanted_share = {train: train_share, **shares}
        wanted = [name for name in names if wanted_share[name] > 0.0]
        if len(rest) < len(wanted):
            raise FoldError(
                f"fold {fold} leaves {len(rest)} group(s) outside it, too few for "
                f"{', '.join(wanted)} parts of whole groups",
                "use fewer folds, or fewer inner splits",
            )
        # each group to the part furthest below its share; ties in the order given, train first
        dealt = _deal(
            members, rest, f"{self.seed}:{fold}:inner:", [wanted_share[n] for n in wanted]
        )
        chosen = dict(zip(wanted, dealt, strict=True))
        parts = tuple(
            Part(name, tuple(sorted(chosen.get(name, []))), _samples(members, chosen.get(name, [])))
            for name in names
        )
        return InnerSplit(fold, parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (keys sorted when dumped; lists in a fixed order)."""
        return {
            "method": METHOD,
            "k": self.k,
            "seed": self.seed,
            "folds": [fold.to_dict() for fold in self.folds],
            "groups": dict(self.groups),
            "excluded": list(self.excluded),
        }

    def digest(self) -> str:
        """sha256 (hex) of the canonical JSON of `to_dict()`: the name records give the plan."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FoldPlan:
        """The plan `to_dict()` wrote, read back as it is (`check_isolation` judges it)."""
        try:
            folds = tuple(
                Fold(int(f["fold"]), tuple(f["groups"]), tuple(f["samples"])) for f in doc["folds"]
            )
            groups = tuple(sorted((str(s), str(g)) for s, g in doc["groups"].items()))
            return cls(int(doc["k"]), int(doc["seed"]), folds, groups, tuple(doc["excluded"]))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise FoldError(f"not a fold plan: {err!r}") from err


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _members(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """group -> its sample ids (sorted), groups sorted."""
    found: dict[str, list[str]] = {}
    for sample, group in sorted(pairs):
        found.setdefault(group, []).append(sample)
    return dict(sorted(found.items()))


def _deal(
    members: Mapping[str, list[str]], groups: Iterable[str], salt: str, weights: list[float]
) -> list[list[str]]:
    """Deal whole `groups`, in a seeded order (sha256 of salt + group), each to the bin whose
    sample count is lowest relative to its weight (ties: the lower bin); the groups per bin."""
    counts = [0] * len(weights)
    bins: list[list[str]] = [[] for _ in weights]
    for group in sorted(groups, key=lambda g: (_rank(f"{salt}{g}"), g)):
        index = min(range(len(weights)), key=lambda i: (counts[i] / weights[i], i))
        bins[index].append(group)
        counts[index] += len(members[group])
    return bins


def _samples(members: Mapping[str, list[str]], groups: Iterable[str]) -> tuple[str, ...]:
    """The samples of `groups`, sorted."""
    return tuple(sorted(s for group in groups for s in members[group]))


def assign_folds(
    groups: Mapping[str, str], k: int, seed: int, *, excluded: Iterable[str] = ()
) -> FoldPlan:
    """The grouped K-fold plan of `groups` (sample id -> group id; the test split left out).

    `excluded` names the test split's samples the caller left out: recorded in the plan, and
    an error if any of them is in `groups`."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise FoldError(f"k-fold needs k >= 2 folds, not {k!r}")
    for sample, group in groups.items():
        if not isinstance(sample, str) or not sample:
            raise FoldError(f"a sample id is empty or not text: {sample!r}")
        if not isinstance(group, str) or not group:
            raise FoldError(f"sample '{sample}' has an empty group id: {group!r}")
    left_out = tuple(sorted(set(excluded)))
    overlap = sorted(set(left_out) & set(groups))
    if overlap:
        raise FoldError(
            f"{len(overlap)} sample(s) of the test split are among the samples to fold: "
            f"{_ids(overlap)}",
            "leave the test split out of the samples to fold",
        )
    members = _members(groups.items())
    if len(members) < k:
        largest = "" if len(members) >= 2 else " (k-fold needs at least 2)"
        raise FoldError(
            f"{k} folds need at least {k} groups, and the {len(groups)} samples have "
            f"{len(members)}: the largest k possible is {len(members)}{largest}",
            "ask for fewer folds, or check the spec's data.splits.groupKey",
        )
    held = _deal(members, members, f"{seed}:", [1.0] * k)  # the fold with fewest samples
    folds = tuple(
        Fold(index, tuple(sorted(held[index])), _samples(members, held[index]))
        for index in range(k)
    )
    return FoldPlan(k, seed, folds, tuple(sorted(groups.items())), left_out)


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN])
    return shown if len(ids) <= SHOWN else f"{shown}, ..."


def check_isolation(plan: FoldPlan, fold: int, reached: Mapping[str, Iterable[str]]) -> list[str]:
    """What leaked into fold `fold`'s run: one sentence per finding, [] when it is clean.

    `reached` maps a stage role (tune, train, calibrate, ...) to the sample ids that reached it
    in the fold's run. Findings: held-out samples that reached a role; test-split samples (the
    plan's `excluded`) or samples the plan does not hold that reached one; a group with samples
    both held out and in the rest."""
    held = plan.fold(fold)
    held_samples = set(held.samples)
    test = set(plan.excluded)
    group_of = plan.group_of()
    findings: list[str] = []
    order = [role for role in ROLES if role in reached]
    order += sorted(role for role in reached if role not in ROLES)
    for role in order:
        ids = set(reached[role])
        leaked = sorted(ids & held_samples)
        if leaked:
            findings.append(
                f"fold {fold}: {len(leaked)} held-out sample(s) reached {role}: {_ids(leaked)}"
            )
        tested = sorted(ids & test)
        if tested:
            findings.append(
                f"fold {fold}: {len(tested)} sample(s) of the test split reached {role}: "
                f"{_ids(tested)}"
            )
        unknown = sorted(ids - test - set(group_of))
        if unknown:
            findings.append(
                f"fold {fold}: {len(unknown)} sample(s) the fold plan does not hold reached "
                f"{role}: {_ids(unknown)}"
            )
    held_groups = set(held.groups) | {group_of[s] for s in held_samples if s in group_of}
    outside: dict[str, list[str]] = {}
    for sample, group in plan.groups:
        if group in held_groups and sample not in held_samples:
            outside.setdefault(group, []).append(sample)
    for group, samples in sorted(outside.items()):
        findings.append(
            f"fold {fold}: group '{group}' is split between the held-out fold and the rest: "
            f"{len(samples)} of its sample(s) are not held out: {_ids(samples)}"
        )
    return findings
