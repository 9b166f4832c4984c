"""The API behind `pedigree check`: is everything generated up to date, does every lock tell
the truth?

Generated files (dvc.yaml, the Argo files, the stage Dockerfiles) must be exactly what the spec
compiles to; the serving manifest must serve the model registry's champion; every stage lock and
the shared image locks (the runner's, the label audit's, the replicate image's) must agree with
the combined lock; the replicate image's lock must pin every package of the fold stages' and the
label audit's locks; and the running environment must match it. The image digests the
production overlay pins (cluster-conf/images/) must match what their images are built from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.api.main import render_image_files
from pedigree.atomic import read_bytes_or_none
from pedigree.compile.render import differing_files, dvc_yaml_is_current, render_argo_files
from pedigree.errors import ParamsError, PedigreeError, SpecError
from pedigree.spec.load import Loaded, load

if TYPE_CHECKING:
    from pedigree.registry.records import ModelVersion


@dataclass(frozen=True)
class CheckItem:
    """One consistency check and its outcome."""

    name: str
    ok: bool
    message: str
    hint: str | None = None
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckReport:
    """All checks; `ok` only when every one passed."""

    items: tuple[CheckItem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)


def check(start: Path, spec: str | Path | None = None, environment: bool = True) -> CheckReport:
    """Is everything generated up to date and does every lock tell the truth?"""
    try:
        loaded = load(start, spec)
    except SpecError as exc:
        return CheckReport(
            (
                CheckItem(
                    "spec",
                    False,
                    "the spec is invalid",
                    None,
                    tuple(p.render() for p in exc.problems),
                ),
            )
        )
    items = [CheckItem("spec", True, f"{loaded.project.spec_path} is valid")]
    items.append(_check_dvc_yaml(loaded))
    argo = _check_argo(loaded)
    if argo is not None:
        items.append(argo)
    images = _check_images(loaded)
    if images is not None:
        items.append(images)
    # the digests production pins (cluster-conf/images/) against what their images build from
    from pedigree.containers.digests import check_digests
    from pedigree.containers.inputs import image_dockerfiles

    pinned = check_digests(loaded.project.root, image_dockerfiles(loaded.spec))
    if pinned is not None:
        items.append(
            CheckItem("image digests", pinned.ok, pinned.message, pinned.hint, pinned.details)
        )
    serving = _check_serving(loaded)
    if serving is not None:
        items.append(serving)
    items += _check_locks(loaded, environment)
    return CheckReport(tuple(items))


def _check_dvc_yaml(loaded: Loaded) -> CheckItem:
    path = loaded.project.dvc_yaml
    fix = "run `pedigree compile --target dvc` and commit dvc.yaml"
    if not path.is_file():
        return CheckItem("dvc.yaml", False, "dvc.yaml is missing", fix)
    if not dvc_yaml_is_current(loaded):
        return CheckItem(
            "dvc.yaml",
            False,
            f"dvc.yaml is stale: it differs from what {loaded.project.spec_path} compiles to",
            fix,
        )
    return CheckItem("dvc.yaml", True, f"dvc.yaml is up to date with {loaded.project.spec_path}")


def _check_argo(loaded: Loaded) -> CheckItem | None:
    """The compiled Argo files are current; None (no check) for a project that does not run on
    a cluster: no cluster-conf/base/ folder and neither file compiled."""
    from pedigree.compile.argo import workflow_path, workflow_template_path

    root = loaded.project.root
    paths = (
        workflow_template_path(loaded.spec.metadata.name),
        workflow_path(loaded.spec.metadata.name),
    )
    if not (root / paths[0]).parent.is_dir() and not any((root / p).exists() for p in paths):
        return None
    return _check_generated(
        loaded,
        "argo",
        "the Argo workflow files",
        "run `pedigree compile --target argo` and commit cluster-conf/",
        render_argo_files,
    )


def _check_images(loaded: Loaded) -> CheckItem | None:
    """The generated stage Dockerfiles are current; None (no check) for a project without
    container images: neither images/base/Dockerfile nor any stage's Dockerfile exists."""
    from pedigree.containers.dockerfile import BASE_DOCKERFILE, dockerfile_path

    root = loaded.project.root
    candidates = (BASE_DOCKERFILE, *(dockerfile_path(s) for s in loaded.spec.stages))
    if not any((root / rel).is_file() for rel in candidates):
        return None
    return _check_generated(
        loaded,
        "images",
        "the stage Dockerfiles",
        "run `pedigree compile --target images` and commit images/",
        render_image_files,
    )


def _check_generated(
    loaded: Loaded, name: str, what: str, fix: str, render: Callable[[Loaded], dict[str, str]]
) -> CheckItem:
    """Check item `name`: the files `render` generates are on disk exactly as rendered."""
    spec_path = loaded.project.spec_path
    try:
        expected = render(loaded)
    except PedigreeError as exc:
        return CheckItem(name, False, exc.message, exc.hint)
    missing, stale = differing_files(loaded.project.root, expected)
    if not missing and not stale:
        return CheckItem(name, True, f"{what} are up to date with {spec_path}")
    details = (
        *(f"{rel} is missing" for rel in missing),
        *(f"{rel} differs from what {spec_path} compiles to" for rel in stale),
    )
    return CheckItem(name, False, f"{what} are {'missing' if not stale else 'stale'}", fix, details)


def _check_serving(loaded: Loaded) -> CheckItem | None:
    """cluster-conf/serving/<pipeline>.yaml is exactly the manifest of the champion the
    registry's event log replays to (with release.serving and the spec's `serve` section), and
    cluster-conf/serving/kustomization.yaml lists every manifest of the folder; None (no check)
    where the registry has no events yet (nothing released). A log that does not replay (a
    damaged or edited event file) fails the item, naming the file."""
    from pedigree.registry.events import events_dir
    from pedigree.registry.serving import serving_manifest_path
    from pedigree.registry.settings import registry_root
    from pedigree.registry.store import Registry, lock_path

    root = loaded.project.root
    params = root / "params.yaml"
    pipeline = loaded.spec.metadata.name
    try:
        manifest = serving_manifest_path(root, pipeline)
        folder = registry_root(root, params, None)
        log = events_dir(folder)
        if not log.is_dir() or not any(not p.name.startswith(".") for p in log.iterdir()):
            return None
        champion = Registry(folder, lock_path(root, folder), create=False).champion()
    except ParamsError as exc:
        problems = tuple(p.render() for p in exc.problems)
        return CheckItem("serving", False, "release.registry is invalid", None, problems)
    except PedigreeError as exc:
        return CheckItem("serving", False, exc.message, exc.hint)
    rel = manifest.relative_to(root).as_posix()
    found = read_bytes_or_none(manifest)
    if champion is None:
        if found is None:
            return _check_kustomization(root) or CheckItem(
                "serving", True, "no champion in the model registry: nothing served"
            )
        return CheckItem(
            "serving",
            False,
            f"{rel} serves a model, but the registry at {folder} has no champion",
            "promote one with `pedigree models promote VERSION` (it rewrites the manifest), "
            f"or delete {rel}",
        )
    fix = (
        f"run `pedigree models manifest` to rewrite it for the champion v{champion.version}, "
        f"then commit {rel}"
    )
    if found is None:
        return CheckItem(
            "serving", False, f"{rel} is missing: champion v{champion.version} is not served", fix
        )
    expected = _expected_manifest(loaded, champion)
    if isinstance(expected, CheckItem):
        return expected
    if found == expected.encode("utf-8"):
        return _check_kustomization(root) or CheckItem(
            "serving", True, f"{rel} serves the registry's champion v{champion.version}"
        )
    return CheckItem("serving", False, _manifest_difference(rel, found, champion), fix)


def _expected_manifest(loaded: Loaded, champion: ModelVersion) -> str | CheckItem:
    """The champion's manifest text, or the failed item saying why it cannot be made."""
    from pedigree.registry.serving import render_serving_manifest, require_serve
    from pedigree.registry.settings import serving_settings

    project = loaded.project
    try:
        settings = serving_settings(project.params_file)
        serve = require_serve(loaded.spec, project.spec_file, project.spec_path)
        return render_serving_manifest(loaded.spec.metadata.name, champion, settings, serve)
    except ParamsError as exc:
        problems = tuple(p.render() for p in exc.problems)
        return CheckItem("serving", False, "release.serving is invalid", None, problems)
    except SpecError as exc:
        problems = tuple(p.render() for p in exc.problems)
        return CheckItem("serving", False, "the spec has nothing to serve with", None, problems)
    except PedigreeError as exc:  # the champion's record or lineage lacks a file it needs
        return CheckItem("serving", False, exc.message, exc.hint)


def _manifest_difference(rel: str, found: bytes, champion: ModelVersion) -> str:
    """Why the manifest is not the champion's: another model, or the same one served otherwise."""
    from pedigree.registry.serving import served_model

    version, sha = served_model(found.decode("utf-8", errors="replace"))
    if sha != champion.model_sha256:
        served = "an unknown model" if sha is None else f"model {sha[:12]}"
        served += "" if version is None else f" (v{version})"
        return (
            f"{rel} serves {served}, not the registry's champion v{champion.version} "
            f"({champion.model_sha256[:12]})"
        )
    return (
        f"{rel} differs from the manifest of champion v{champion.version} with "
        "release.serving in params.yaml and the spec's serve section (edited by hand, or they "
        "changed)"
    )


def _check_kustomization(root: Path) -> CheckItem | None:
    """A failed item when cluster-conf/serving/kustomization.yaml does not list exactly the
    manifests of its folder (the overlays would sync others, or none); None when it does."""
    from pedigree.registry.serving import (
        kustomization_path,
        render_kustomization,
        serving_manifests,
    )

    path = kustomization_path(root)
    manifests = serving_manifests(root)
    found = read_bytes_or_none(path)
    if found is None and not manifests:
        return None  # nothing served, and no cluster configuration that expects it
    if found == render_kustomization(manifests).encode("utf-8"):
        return None
    rel = path.relative_to(root).as_posix()
    state = "is missing" if found is None else "is stale"
    listed = ", ".join(manifests) or "no manifest"
    return CheckItem(
        "serving",
        False,
        f"{rel} {state}: it must list {listed} (the overlays sync what it lists)",
        f"run `pedigree models manifest` to rewrite it, then commit {rel}",
    )


def _relock_hint(problems: list[str], stage_locks: list[tuple[str, str]]) -> str:
    """`pedigree lock` naming the stages whose locks disagree (all of them when another lock
    does too, the runner's or the replicate image's: only a full `pedigree lock` compiles it)."""
    stages = [name for name, lock in stage_locks if any(p.startswith(lock + ":") for p in problems)]
    named = tuple(lock + ":" for _, lock in stage_locks)
    if not stages or any(not p.startswith(named) for p in problems):
        return "run `pedigree lock` to recompile every lock against the combined one"
    return f"run `pedigree lock {' '.join(stages)}` to recompile them against the combined lock"


def _replicate_sources(loaded: Loaded) -> list[str]:
    """The locks the replicate image's lock must cover: each fold stage's (`fold_stages`), then
    the label audit's. The spec names no image for the label audit (`folds.labels.cmd` is any
    command): its lock is the one `pedigree lock` compiles for it, LABELS_LOCK, counted when
    the folds declare `labels` and that file exists."""
    from pedigree.graph import fold_stages
    from pedigree.locks import LABELS_LOCK, RUNNER_LOCK

    locks = [loaded.spec.stage(name).lock_file for name in fold_stages(loaded.spec)]
    folds = loaded.spec.folds
    if folds is not None and folds.labels is not None:
        locks.append(LABELS_LOCK)
    # the step runner's too: each pod runs `pedigree replicate` with DVC in that one environment
    locks.append(RUNNER_LOCK)
    return [lock for lock in dict.fromkeys(locks) if (loaded.project.root / lock).is_file()]


def _check_replicate_lock(loaded: Loaded) -> CheckItem | None:
    """The replicate image's lock pins every package, at the same version, that a fold stage's
    lock or the label audit's pins. None (no check) without `spec.replicate.folds`, or when the
    project builds no replicate image: its folder has no lock, requirements.in or Dockerfile."""
    from pedigree.locks import LABELS_LOCK, RUNNER_LOCK, missing_pins

    folds = loaded.spec.folds
    if folds is None:
        return None
    root, name, lock, folder = loaded.project.root, "replicate lock", folds.lock_file, folds.image
    fix = (
        f"run `pedigree lock` (it compiles {lock} from {folder}/requirements.in); if a package is "
        f"still missing, include that lock's requirements.in in {folder}/requirements.in"
    )
    if not (root / lock).is_file():
        if (root / folder / "requirements.in").is_file():
            return CheckItem(name, False, f"{lock} is missing", fix)
        if (root / folder / "Dockerfile").is_file():  # generated, with nothing to install
            fix = f"create {folder}/requirements.in (`-r ../STAGE/requirements.in` per fold stage)"
            return CheckItem(name, False, f"{lock} is missing", fix + ", run `pedigree lock`")
        return None
    sources = _replicate_sources(loaded)
    problems = missing_pins(root / lock, lock, [(s, root / s) for s in sources])
    if problems:
        what = f"{lock} misses or mis-pins {len(problems)} packages of the locks it must hold"
        return CheckItem(name, False, what, fix, tuple(problems))
    kinds = ["the fold stages'"] + [
        what
        for lock, what in ((LABELS_LOCK, "the label audit's"), (RUNNER_LOCK, "the step runner's"))
        if lock in sources
    ]
    held = " and ".join([", ".join(kinds[:-1]), kinds[-1]]) if len(kinds) > 1 else kinds[0]
    return CheckItem(name, True, f"{lock} pins every package of {len(sources)} locks ({held})")


def _check_locks(loaded: Loaded, environment: bool) -> list[CheckItem]:
    from pedigree.locks import (
        COMBINED_LOCK,
        disagreements,
        environment_mismatches,
        read_lock,
        shared_locks,
    )

    root = loaded.project.root
    combined_path = root / COMBINED_LOCK
    if not combined_path.is_file():
        return [
            CheckItem(
                "locks",
                False,
                f"{COMBINED_LOCK} is missing",
                "run `pedigree lock` to compile it (and every stage's lock) with uv",
            )
        ]
    combined = read_lock(combined_path)
    problems: list[str] = []
    for stage in loaded.spec.stages:
        problems += disagreements(root / stage.lock_file, combined, stage.lock_file)
    serve = loaded.spec.spec.serve
    if serve is not None and (root / serve.lock_file).is_file():
        problems += disagreements(root / serve.lock_file, combined, serve.lock_file)
    # The shared image locks must agree too: the step runner (images/base) runs DVC next to every
    # stage, the replicate image runs the fold stages.
    folds = loaded.spec.folds
    for lock in shared_locks(root, () if folds is None else (folds.lock_file,)):
        problems += disagreements(root / lock, combined, lock)
    items = [
        CheckItem(
            "locks",
            not problems,
            "stage locks agree with " + COMBINED_LOCK
            if not problems
            else "stage locks disagree with " + COMBINED_LOCK,
            None
            if not problems
            else _relock_hint(problems, [(s.name, s.lock_file) for s in loaded.spec.stages]),
            tuple(problems),
        )
    ]
    replicate = _check_replicate_lock(loaded)
    if replicate is not None:
        items.append(replicate)
    if environment:
        mismatches = environment_mismatches(combined)
        items.append(
            CheckItem(
                "environment",
                not mismatches,
                "this environment matches " + COMBINED_LOCK
                if not mismatches
                else f"this environment differs from {COMBINED_LOCK} in {len(mismatches)} packages",
                None
                if not mismatches
                else "run `make install` (or recreate .venv with `make clean-venv install`)",
                tuple(mismatches[:20]),
            )
        )
    return items
