"""The model registry: an append-only log of event files in the repository, and its replay.

Layout under the registry folder (`release.registry` in params.yaml, `registry/<pipeline>`):
    events/<time>-<kind>-<digest>.json   one file per event, committed with the run

Writers in one clone take turns under an exclusive lock on a file outside the registry (under
`.pedigree/`), read the log, decide and append; so a release decides against the champion as it
really is and two releases at once cannot both promote from the same champion. Writers in two
clones cannot share a lock: their logs merge in git without conflict, and replaying the merged
log applies a champion change only while the champion it replaces still holds
(`pedigree.registry.replay`), so a conflicting promotion shows as superseded and never wins.

Whatever the champion implies outside the log (the serving manifest) is written by an
`OnChampion` callback while the lock is held, so it always names the champion the log replays to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pedigree.errors import RegistryError
from pedigree.registry.events import (
    CHAMPION_KINDS,
    DECISION_KINDS,
    RegistryEvent,
    events_dir,
    load_events,
    now,
    write_event,
)
from pedigree.registry.records import (
    Candidate,
    Decide,
    Event,
    GateDecision,
    ModelVersion,
    Reason,
    ReleaseOutcome,
)
from pedigree.registry.replay import RegistryState, replay

__all__ = ["OnChampion", "Registry", "lock_path"]

LOCKS = ".pedigree/locks"  # ignored by git and by DVC: the lock never changes what is committed

PROMOTE_HINT = "promote one by hand: `pedigree models promote VERSION`"

OnChampion = Callable[[ModelVersion], None]
"""Called with the champion while the registry's lock is held, after its events are written:
what it writes (the serving manifest) then always names the champion the log replays to."""


def lock_path(project_root: Path, registry: Path) -> Path:
    """The lock file writers of the registry folder `registry` take turns on."""
    import hashlib

    key = hashlib.sha256(str(registry.resolve()).encode("utf-8")).hexdigest()[:16]
    return project_root / LOCKS / f"registry-{key}.lock"


class Registry:
    """The registry rooted at a folder, with `lock` the file writers take turns on.

    With `create` (the release stage, `pedigree models promote`), a missing registry is an empty
    one; without it (reading commands) a registry with no events is a RegistryError."""

    def __init__(self, root: Path, lock: Path, create: bool = True) -> None:
        self.root = Path(root)
        self.lock = Path(lock)
        if not create and not any(self._event_files()):
            raise RegistryError(
                f"no model registry at {self.root} (it has no events)",
                "run the pipeline (`pedigree run`) to release a first model, or pass --registry",
            )

    def _event_files(self) -> Iterator[Path]:
        folder = events_dir(self.root)
        if folder.is_dir():
            yield from (p for p in folder.iterdir() if not p.name.startswith("."))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            yield
            return
        try:
            self.lock.parent.mkdir(parents=True, exist_ok=True)
            handle = self.lock.open("a+b")
        except OSError as exc:
            raise RegistryError(
                f"cannot open the registry's lock {self.lock}: {exc.strerror}",
                "check that the project folder is writable",
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """The writers' lock, for a writer outside this class (`pedigree models import`)."""
        return self._locked()

    def _hand_over(
        self, on_champion: OnChampion | None, champion: ModelVersion, written: RegistryEvent
    ) -> None:
        """Give `on_champion` the new champion; when it fails (the manifest cannot be written),
        remove the event just written (under the lock, never committed) and re-raise: a champion
        change is recorded only together with what serves it."""
        if on_champion is None:
            return
        try:
            on_champion(champion)
        except BaseException:
            (events_dir(self.root) / written.name).unlink(missing_ok=True)
            raise

    # --- reading -----------------------------------------------------------------------------

    def events(self) -> tuple[RegistryEvent, ...]:
        """The log, in replay order (RegistryError naming a damaged file)."""
        return load_events(self.root)

    def state(self) -> RegistryState:
        """The registry the log replays to."""
        return replay(self.events())

    def versions(self) -> list[ModelVersion]:
        """Every registered version, ascending."""
        return list(self.state().versions)

    def get(self, version: int) -> ModelVersion:
        """One version; RegistryError naming the existing versions when it is not there."""
        return _get(self.state(), version, self.root)

    def champion(self) -> ModelVersion | None:
        """The version serving now, or None before the first promotion."""
        return self.state().champion

    def history(self, version: int | None = None) -> list[Event]:
        """Every event in order; with `version`, the events that involve that version."""
        state = self.state()
        if version is None:
            return list(state.history)
        _get(state, version, self.root)
        return [e for e in state.history if version in (e.version, e.previous_champion)]

    # --- writing -----------------------------------------------------------------------------

    def _add(self, event: RegistryEvent) -> RegistryEvent:
        return write_event(self.root, event)

    def _register(self, state: RegistryState, candidate: Candidate, actor: str) -> None:
        """Add a registered event for a new model, or a scored event for a new test split."""
        known = state.by_sha256(candidate.model_sha256)
        if known is not None and candidate.test_split_sha256 in known.scores:
            return
        split = {"test_split_sha256": candidate.test_split_sha256, "metrics": candidate.metrics}
        if known is not None:
            self._add(RegistryEvent("scored", now(), candidate.model_sha256, actor, data=split))
            return
        data: dict[str, Any] = {
            **split,
            "model": dict(candidate.model_file) or {"path": candidate.model_path.as_posix()},
            "calibration": {
                "values": candidate.calibration,
                "file": dict(candidate.calibration_file),
            },
            "git_commit": candidate.git_commit,
            "git_dirty": candidate.git_dirty,
            "environment": candidate.environment,
            "lineage": candidate.lineage,
        }
        self._add(RegistryEvent("registered", now(), candidate.model_sha256, actor, data=data))

    def release(
        self,
        candidate: Candidate,
        decide: Decide,
        gate: str,
        actor: str = "release",
        on_champion: OnChampion | None = None,
    ) -> ReleaseOutcome:
        """Register `candidate`, ask `decide` against the champion, and record the decision.

        `gate` identifies the gate's settings (a digest of them). When the log already holds
        the decision for this model, test split and gate, it is not taken again: the decision is
        recomputed against the log as it was then and must agree with the recorded one (a
        RegistryError otherwise: the log was altered), and nothing is written. So re-running
        release, in any clone, gives the same outcome and leaves the log unchanged.
        """
        with self._locked():
            events = self.events()
            index = _decision_index(events, candidate, gate)
            if index is None:
                self._register(replay(events), candidate, actor)
                state = self.state()
                challenger = _must(state.by_sha256(candidate.model_sha256))
                before = state.champion
                decision = decide(challenger, before)
                self._add(
                    RegistryEvent(
                        "promoted" if decision.promoted else "rejected",
                        now(),
                        candidate.model_sha256,
                        actor,
                        replaces=None if before is None else before.model_sha256,
                        reasons=tuple(r.to_dict() for r in decision.reasons),
                        data={"test_split_sha256": candidate.test_split_sha256, "gate": gate},
                    )
                )
                events = self.events()
                index = _decision_index(events, candidate, gate)
            outcome = _outcome(self.root, events, _must(index), candidate, decide)
            champion = replay(events).champion  # the log just read: no second read
            if champion is not None and on_champion is not None:
                on_champion(champion)
            return outcome

    def promote(
        self, version: int, reason: str, actor: str, on_champion: OnChampion | None = None
    ) -> ModelVersion:
        """Make any registered `version` the champion by hand (an override of the gate);
        `on_champion` gets the new champion while the lock is held (see OnChampion)."""
        with self._locked():
            state = self.state()
            target = _get(state, version, self.root)
            before = state.champion
            if before is not None and before.version == version:
                raise RegistryError(
                    f"v{version} is already the champion",
                    "nothing to do; `pedigree models list` shows every version",
                )
            written = self._add(
                RegistryEvent(
                    "manual-promote",
                    now(),
                    target.model_sha256,
                    actor,
                    replaces=None if before is None else before.model_sha256,
                    note=reason or None,
                )
            )
            after = _must(self.state().champion)
            self._hand_over(on_champion, after, written)
            return after

    def rollback(
        self, reason: str, actor: str, on_champion: OnChampion | None = None
    ) -> tuple[ModelVersion, ModelVersion]:
        """Demote the champion to rolled-back and restore the champion before it.

        Returns (demoted, restored). Repeated rollbacks walk further back: rolled-back versions
        are never restored by a rollback (a human can still promote one). `on_champion` gets the
        restored champion while the lock is held (see OnChampion).
        """
        with self._locked():
            state = self.state()
            current = state.champion
            if current is None:
                raise RegistryError(
                    f"there is no champion to roll back in the registry at {self.root}",
                    PROMOTE_HINT,
                )
            restore = _earlier_champion(state, current)
            if restore is None:
                raise RegistryError(
                    f"there is no earlier champion to roll back to from v{current.version}",
                    PROMOTE_HINT,
                )
            written = self._add(
                RegistryEvent(
                    "rolled-back",
                    now(),
                    restore.model_sha256,
                    actor,
                    replaces=current.model_sha256,
                    note=reason or None,
                )
            )
            after = self.state()
            restored = _must(after.champion)
            self._hand_over(on_champion, restored, written)
            return _must(after.by_sha256(current.model_sha256)), restored

    def publish(self, on_champion: OnChampion) -> ModelVersion:
        """Hand the champion to `on_champion` under the lock, changing nothing: re-writes what
        the champion implies (the serving manifest) while no one can change it."""
        with self._locked():
            champion = self.state().champion
            if champion is None:
                raise RegistryError(
                    f"the registry at {self.root} has no champion to serve", PROMOTE_HINT
                )
            on_champion(champion)
            return champion


T = TypeVar("T")


def _must(value: T | None) -> T:
    if value is None:  # the log was just written and read back under the lock
        raise RegistryError(
            "the registry changed under its lock", "run the command again; report it if it recurs"
        )
    return value


def _get(state: RegistryState, version: int, root: Path) -> ModelVersion:
    found = state.by_number(version)
    if found is not None:
        return found
    hint = (
        "existing versions: " + ", ".join(f"v{v.version}" for v in state.versions)
        if state.versions
        else "the registry is empty: run the pipeline (`pedigree run`) to release a model"
    )
    raise RegistryError(f"no model version {version} in the registry at {root}", hint)


def _decision_index(
    events: tuple[RegistryEvent, ...], candidate: Candidate, gate: str
) -> int | None:
    """Where the log holds the gate's decision on this model and test split (the first one)."""
    for index, event in enumerate(events):
        if (
            event.kind in DECISION_KINDS
            and event.model_sha256 == candidate.model_sha256
            and event.data.get("test_split_sha256") == candidate.test_split_sha256
            and event.data.get("gate") == gate
        ):
            return index
    return None


def _outcome(
    root: Path,
    events: tuple[RegistryEvent, ...],
    index: int,
    candidate: Candidate,
    decide: Decide,
) -> ReleaseOutcome:
    """The release outcome recorded at `events[index]`, re-decided from the log before it."""
    recorded = events[index]
    before = replay(events[:index])
    challenger = _must(before.by_sha256(candidate.model_sha256))
    decision = decide(challenger, before.champion)
    reasons = tuple(Reason(**r) for r in recorded.reasons)
    if decision != GateDecision(recorded.kind == "promoted", reasons):
        raise RegistryError(
            f"{events_dir(root) / recorded.name}: the recorded decision "
            f"({recorded.kind}) is not what the gate decides from the log before it: the log "
            "was altered, or an event was removed",
            f"restore the registry's events from git (`git checkout -- {root}`)",
        )
    after = replay(events[: index + 1])
    first = not any(
        e.kind in DECISION_KINDS and e.model_sha256 == candidate.model_sha256
        for e in events[:index]
    )
    return ReleaseOutcome(
        challenger=_must(after.by_sha256(candidate.model_sha256)),
        newly_registered=first,
        champion_before=before.champion,
        decision=decision,
        champion_after=after.champion,
    )


def _earlier_champion(state: RegistryState, current: ModelVersion) -> ModelVersion | None:
    """The most recent champion before `current` that was not rolled back."""
    for event in reversed(state.history):
        if event.superseded or event.kind not in CHAMPION_KINDS:
            continue
        candidate = state.by_number(event.version)
        if (
            candidate is not None
            and candidate.version != current.version
            and candidate.status != "rolled-back"
        ):
            return candidate
    return None
