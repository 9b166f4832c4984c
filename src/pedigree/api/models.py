"""The API behind `pedigree models`: list, show, get, promote, roll back and import models.

Like the rest of `pedigree.api`, each function takes plain arguments, returns data and raises
PedigreeError subclasses. The registry (its event log, pydantic settings, YAML, DVC) is imported
inside the functions so that importing this module, as every CLI start-up does, stays cheap.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.errors import PedigreeError, RegistryError
from pedigree.project import PARAMS_FILE, find_root

if TYPE_CHECKING:
    from pedigree.registry.fetch import Fetched
    from pedigree.registry.migrate import ImportResult
    from pedigree.registry.records import Event, ModelVersion
    from pedigree.registry.settings import ServingSettings
    from pedigree.registry.store import Registry
    from pedigree.spec.model import Serving

VERSION = re.compile(r"^[vV]?([0-9]{1,9})$")


@dataclass(frozen=True)
class ModelList:
    """Every registered version, which one is the champion, and the champion changes that no
    longer held when the log was replayed (superseded: e.g. two merged branches promoted
    different models from the same champion)."""

    registry: Path
    versions: tuple[ModelVersion, ...]
    champion: int | None
    superseded: tuple[Event, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "registry": str(self.registry),
            "champion": self.champion,
            "versions": [v.to_dict() for v in self.versions],
            "superseded": [e.to_dict() for e in self.superseded],
        }


@dataclass(frozen=True)
class ModelDetail:
    """One version (its files by DVC md5 and sha256 are in `version.files`) and its history."""

    registry: Path
    version: ModelVersion
    history: tuple[Event, ...]
    artifact_path: Path | None = None  # the model file in this project (a DVC output)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "registry": str(self.registry),
            "version": self.version.to_dict(),
            "artifact_path": None if self.artifact_path is None else str(self.artifact_path),
            "history": [e.to_dict() for e in self.history],
        }


@dataclass(frozen=True)
class ChampionChange:
    """What a promotion or rollback changed: the champion before and after, and the manifest."""

    action: str  # "promote" | "rollback" | "manifest"
    registry: Path
    before: ModelVersion | None  # after a rollback: the demoted (now rolled-back) version
    after: ModelVersion
    manifest: Path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "action": self.action,
            "registry": str(self.registry),
            "champion_before": None if self.before is None else self.before.to_dict(),
            "champion_after": self.after.to_dict(),
            "manifest": str(self.manifest),
        }


def current_user() -> str:
    """Who is acting, for the registry's history: the OS user, or 'unknown'."""
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):  # no login name (e.g. a container without USER)
        return "unknown"


def parse_version(text: str | int) -> int:
    """A version number from `3` or `v3`; RegistryError for anything else."""
    match = VERSION.fullmatch(str(text).strip())
    if not match or int(match.group(1)) < 1:
        raise RegistryError(
            f"'{text}' is not a model version",
            "write a number like 3 or v3; `pedigree models list` shows the versions",
        )
    return int(match.group(1))


def _folder(start: Path, registry: Path | None) -> tuple[Path, Path]:
    """The project root and its registry folder (`--registry`, else release.registry)."""
    from pedigree.registry.settings import registry_root

    root = find_root(start)
    return root, registry_root(root, root / PARAMS_FILE, registry)


def _open(start: Path, registry: Path | None) -> tuple[Path, Registry]:
    """The project root and its registry, which must already have events (no command here
    creates one: there is nothing to list, promote or roll back in a registry no release has
    made). Writers take turns on the lock under .pedigree/locks/."""
    from pedigree.registry.store import Registry, lock_path

    root, folder = _folder(start, registry)
    return root, Registry(folder, lock_path(root, folder), create=False)


def list_models(start: Path, registry: Path | None = None) -> ModelList:
    """Every version in the registry of the project around `start`, ascending."""
    _, store = _open(start, registry)
    state = store.state()
    champion = None if state.champion is None else state.champion.version
    superseded = tuple(e for e in state.history if e.superseded)
    return ModelList(store.root, state.versions, champion, superseded)


def show_model(start: Path, version: int | str, registry: Path | None = None) -> ModelDetail:
    """One version (`3` or `v3`): every field, its scores per test split and its history."""
    number = parse_version(version)
    root, store = _open(start, registry)
    found = store.get(number)
    # the path DVC keeps the model at here (it holds this version's bytes only when checked out
    # at that version: `pedigree models get` fetches them by hash)
    artifact = root / found.artifact if found.artifact else None
    return ModelDetail(store.root, found, tuple(store.history(number)), artifact)


class _ManifestWriter:
    """Writes the serving manifest for the champion the registry is about to commit.

    The registry calls it inside its write transaction (`OnChampion`), so concurrent promotions
    and rollbacks write their manifests in the order they commit: the file always names the
    champion. Settings and the spec's `serve` section are read before the registry changes: a
    bad setting, or a spec with nothing to serve with, must not leave a new champion unserved.
    """

    def __init__(self, root: Path, start: Path) -> None:
        from pedigree.registry.serving import require_serve
        from pedigree.registry.settings import serving_settings
        from pedigree.spec.load import load

        self.root = root
        loaded = load(start)
        self.pipeline = loaded.spec.metadata.name
        self.settings: ServingSettings = serving_settings(root / PARAMS_FILE)
        self.serve: Serving = require_serve(
            loaded.spec, loaded.project.spec_file, loaded.project.spec_path
        )
        self.path: Path | None = None

    def __call__(self, champion: ModelVersion) -> None:
        from pedigree.registry.serving import write_serving_manifest

        self.path = write_serving_manifest(
            self.root, self.pipeline, champion, self.settings, self.serve
        )

    @property
    def written(self) -> Path:
        """The manifest written (the registry called this writer before committing)."""
        if self.path is None:  # pragma: no cover - the registry always calls it on success
            raise RegistryError("the serving manifest was not written", "report this as a bug")
        return self.path


def promote(
    start: Path,
    version: int | str,
    reason: str,
    registry: Path | None = None,
    actor: str | None = None,
) -> ChampionChange:
    """Make `version` the champion by hand and rewrite the serving manifest for it."""
    number = parse_version(version)
    root, store = _open(start, registry)
    writer = _ManifestWriter(root, start)
    before = store.champion()
    after = store.promote(number, reason, actor or current_user(), on_champion=writer)
    return ChampionChange("promote", store.root, before, after, writer.written)


def rollback(
    start: Path, reason: str, registry: Path | None = None, actor: str | None = None
) -> ChampionChange:
    """Demote the champion, restore the one before it, and rewrite the serving manifest."""
    root, store = _open(start, registry)
    writer = _ManifestWriter(root, start)
    demoted, restored = store.rollback(reason, actor or current_user(), on_champion=writer)
    return ChampionChange("rollback", store.root, demoted, restored, writer.written)


def write_manifest(start: Path, registry: Path | None = None) -> ChampionChange:
    """Rewrite the serving manifest for the registry's champion, changing nothing else (the
    repair `pedigree check` suggests when the manifest names another model)."""
    root, store = _open(start, registry)
    writer = _ManifestWriter(root, start)
    champion = store.publish(writer)
    return ChampionChange("manifest", store.root, champion, champion, writer.written)


@dataclass(frozen=True)
class FetchedModel:
    """What `pedigree models get` wrote: the version and each file with where it came from."""

    registry: Path
    version: ModelVersion
    files: tuple[Fetched, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "registry": str(self.registry),
            "version": self.version.version,
            "model_sha256": self.version.model_sha256,
            "files": [f.to_dict() for f in self.files],
        }


def calibration_path(model: Path) -> Path:
    """Where `get` writes the calibration next to the model: `<model stem>.calibration.json`."""
    return model.with_name(model.stem + ".calibration.json")


def get_model(
    start: Path,
    version: int | str,
    output: Path | None = None,
    calibration: bool = True,
    registry: Path | None = None,
    remote: str | None = None,
) -> FetchedModel:
    """Write `version`'s model (default `./v<N>-<file name>`) and, with `calibration`, its
    calibration next to it, from the DVC cache or remote by their recorded md5, each verified by
    its sha256 (RegistryError, nothing written, when one is missing or differs)."""
    from pedigree.registry.fetch import locate_file, recorded_file, write_located

    number = parse_version(version)
    root, store = _open(start, registry)
    found = store.get(number)
    model = recorded_file(found, "model") or {}
    name = Path(str(model.get("path") or "model")).name
    target = Path(output) if output is not None else Path.cwd() / f"v{number}-{name}"
    # every file is found before any is written: a missing calibration leaves no lone model
    located = [(locate_file(root, found, "model", remote), target)]
    try:
        if calibration and recorded_file(found, "calibration") is not None:
            where = calibration_path(target)
            located.append((locate_file(root, found, "calibration", remote), where))
    except PedigreeError:
        for item, _ in located:
            if item.temporary:
                item.source.unlink(missing_ok=True)
        raise
    fetched = tuple(write_located(item, found, path) for item, path in located)
    return FetchedModel(store.root, found, fetched)


def import_registry(start: Path, source: Path, registry: Path | None = None) -> ImportResult:
    """Turn the old SQLite registry at `source` (its folder or registry.sqlite) into event files
    of the project's registry, which must have none yet."""
    from pedigree.registry.migrate import import_registry as migrate
    from pedigree.registry.store import Registry, lock_path

    root, folder = _folder(start, registry)
    store = Registry(folder, lock_path(root, folder))
    with store.locked():
        return migrate(Path(source), folder)
