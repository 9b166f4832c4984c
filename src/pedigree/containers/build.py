"""`make images`: build the base image, then each stage's image, the serving image and the
replicate image on it, with podman or docker; with `--push`, push them and pin their digests.

    python -m pedigree.containers.build [--engine podman|docker] [--only base,ingest]
                                        [--python-image REF] [--push REGISTRY_PREFIX]
                                        [--no-cache] [--dry-run]

Every image is tagged `pedigree/<name>:<version>` (version: pedigree's) and labelled with the
source repository and git revision. A stage image is built FROM the base by digest
(`pedigree/base@sha256:...`, the base just built), never by tag. The build context is the
repository root (.dockerignore keeps it to pyproject.toml, README.md, src/, images/ and stages/).
Each image's digest is printed and noted, with its inputs fingerprint, in the untracked local
record `.pedigree/images.json` (`pedigree.containers.digests`). `--push` pushes every image but
the base under the prefix and writes the registry's digests into `cluster-conf/images/`, the
component the production overlay pins them with (`pedigree.containers.push`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree import __version__
from pedigree.containers import BASE, IMAGE_NAMESPACE, image_ref
from pedigree.containers.dockerfile import BASE_DOCKERFILE
from pedigree.containers.engine import Engine, ImageMissingError, find_engine, inspect_image
from pedigree.containers.executor import ULIMITS
from pedigree.containers.inputs import image_dockerfiles
from pedigree.errors import PedigreeError, StaleError, ToolError
from pedigree.gitstate import git
from pedigree.redact import url_without_credentials

if TYPE_CHECKING:
    from pedigree.spec.load import Loaded

CA_SECRET = "pip-ca"  # the Dockerfiles' `--mount=type=secret,id=pip-ca`
CA_ENV = "PIP_CERT"  # pip's own variable: the host's CA bundle, lent to builds by default
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ImageBuild:
    """One image to build: its name (base or a stage), Dockerfile and build arguments."""

    name: str
    dockerfile: str
    build_args: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """`pedigree/<name>:<version>`."""
        return image_ref(self.name)


def labels(root: Path, repository: str | None) -> dict[str, str]:
    """VERSION, SOURCE (the spec's metadata.repository, else git's origin) and REVISION.

    SOURCE never carries credentials: a label is readable by anyone who can pull the image, and
    the build argv that passes it is printed.
    """
    source = repository or git(root, "remote", "get-url", "origin")
    return {
        "VERSION": __version__,
        "SOURCE": url_without_credentials(source) if source else UNKNOWN,
        "REVISION": git(root, "rev-parse", "HEAD") or UNKNOWN,
    }


def plan(
    root: Path, only: Sequence[str] | None = None, python_image: str | None = None
) -> list[ImageBuild]:
    """The images to build, base first, then every stage of the spec, the serving image and the
    replicate image (when the spec declares `replicate.folds`), or those in `only`."""
    from pedigree.spec.load import load

    loaded = load(root)
    common = labels(root, loaded.spec.metadata.repository)
    # base, every stage, the serving image (FROM the base like a stage's), and the replicate
    # image (what a cluster runs `pedigree replicate --folds` in, FROM the base too)
    stages = [(n, d) for n, d in image_dockerfiles(loaded.spec).items() if n != BASE]
    known = [BASE, *(name for name, _ in stages)]
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise PedigreeError("no image named " + ", ".join(unknown), "images: " + ", ".join(known))
    base_args = dict(common)
    if python_image:
        base_args["PYTHON_IMAGE"] = python_image
    builds = [ImageBuild(BASE, BASE_DOCKERFILE, base_args)]
    builds += [ImageBuild(name, dockerfile, dict(common)) for name, dockerfile in stages]
    missing = [b.dockerfile for b in builds if not (root / b.dockerfile).is_file()]
    if missing:
        hint = (
            f"restore {BASE_DOCKERFILE} from git (it is hand-written)"
            if BASE_DOCKERFILE in missing
            else "run `pedigree compile --target images` (and commit images/)"
        )
        raise PedigreeError("missing Dockerfile: " + ", ".join(missing), hint)
    selected = [b for b in builds if not only or b.name in only]
    _require_current_dockerfiles(root, [b for b in selected if b.name != BASE], loaded)
    return selected


def _require_current_dockerfiles(root: Path, builds: list[ImageBuild], loaded: Loaded) -> None:
    """Refuse to build a stage image from a stale generated Dockerfile: the image would not be
    the one the spec describes."""
    from pedigree.containers.dockerfile import render_dockerfiles

    expected = render_dockerfiles(loaded.spec, loaded.project.spec_path)
    stale = [
        b.dockerfile
        for b in builds
        if (root / b.dockerfile).read_bytes() != expected[b.dockerfile].encode("utf-8")
    ]
    if stale:
        raise StaleError(
            f"stale Dockerfile: {', '.join(stale)} (not what {loaded.project.spec_path} "
            "compiles to)",
            "run `pedigree compile --target images` (and commit images/), then build again",
        )


def build_command(
    engine: Engine, build: ImageBuild, no_cache: bool = False, ca_bundle: Path | None = None
) -> list[str]:
    """`ENGINE build ...` for one image; the context is the repository root (`.`)."""
    args = ["build", "--file", build.dockerfile, "--tag", build.tag]
    if ca_bundle is not None:
        # pip's CA bundle, lent to the RUN steps that download (never stored in a layer).
        args += ["--secret", f"id={CA_SECRET},src={ca_bundle}"]
    # RUN steps start containers too: the same limits as `pedigree run --executor`.
    for limit in ULIMITS:
        args += ["--ulimit", limit]
    if no_cache:
        args.append("--no-cache")
    for key, value in sorted(build.build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    return engine.command(*args, ".")


def base_reference(engine: Engine) -> tuple[str, str]:
    """(FROM reference of the built base by digest, its digest). Falls back to the tag only where
    the engine cannot address a local image by digest (docker's classic image store)."""
    tag = image_ref(BASE)
    try:
        info = inspect_image(engine, tag)
    except ImageMissingError:
        raise ImageMissingError(
            f"image {tag} is not in {engine.name}'s image store",
            "build the base first: `make images` (without ONLY, or with ONLY=base,...)",
        ) from None
    name = tag.rsplit(":", 1)[0]
    for candidate in (f"{name}@{info.digest}", f"localhost/{name}@{info.digest}"):
        try:
            inspect_image(engine, candidate)
        except ImageMissingError:
            continue
        return candidate, info.digest
    sys.stderr.write(
        f"warning: {engine.name} cannot address {name}@{info.digest} by digest here; stage "
        f"images are built FROM {tag}, the base built just now\n"
    )
    return tag, info.digest


def build_all(
    root: Path,
    engine: Engine,
    builds: list[ImageBuild],
    no_cache: bool = False,
    dry_run: bool = False,
    ca_bundle: Path | None = None,
) -> list[tuple[str, str]]:
    """Build `builds` in order; [(tag, digest)] of each (no digests in a dry run)."""
    built: list[tuple[str, str]] = []
    base_from: str | None = None
    for build in builds:
        if build.name != BASE:
            if base_from is None:
                base_from = (
                    "pedigree/base@sha256:<digest>" if dry_run else base_reference(engine)[0]
                )
            build = ImageBuild(
                build.name, build.dockerfile, {**build.build_args, "BASE_IMAGE": base_from}
            )
        command = build_command(engine, build, no_cache, ca_bundle)
        print("+ " + " ".join(command), flush=True)
        if dry_run:
            continue
        if subprocess.run(command, cwd=root, check=False).returncode != 0:
            raise ToolError(
                f"{engine.name} could not build {build.tag} ({build.dockerfile})",
                "read the build output above; `make images` resumes from the cached layers",
            )
        digest = inspect_image(engine, build.tag).digest
        built.append((build.tag, digest))
        print(f"built {build.tag} {digest}", flush=True)
    return built


def _revision(builds: list[ImageBuild]) -> str:
    """The git revision the images were built at: the REVISION label `plan` gave them."""
    return builds[0].build_args.get("REVISION", UNKNOWN) if builds else UNKNOWN


def record_builds(
    root: Path,
    engine: Engine,
    builds: list[ImageBuild],
    built: list[tuple[str, str]],
    inputs: dict[str, dict[str, str]],
) -> Path:
    """Note each image just built in the local record `.pedigree/images.json` (merged: images
    not built this time keep their entry); its path."""
    from pedigree.containers.digests import BuiltImage, utc_now, write_local_record

    now, revision = utc_now(), _revision(builds)
    names = {b.tag: b.name for b in builds}
    return write_local_record(
        root,
        {
            names[tag]: BuiltImage(tag, digest, engine.name, now, revision, inputs[names[tag]])
            for tag, digest in built
        },
    )


def push_and_pin(
    root: Path,
    engine: Engine,
    prefix: str,
    builds: list[ImageBuild],
    inputs: dict[str, dict[str, str]],
    dry_run: bool = False,
) -> None:
    """Push every image built but the base under `prefix`, then (only once all succeeded) record
    the registry's digests in cluster-conf/images/ (pushed.yaml and the component)."""
    from pedigree.containers.digests import (
        COMPONENT,
        PUSHED,
        PushedImage,
        overlay_repositories,
        read_pushed,
        utc_now,
        write_pushed,
    )
    from pedigree.containers.push import push_all
    from pedigree.spec.load import load

    read_pushed(root)  # a damaged record stops here, before anything is pushed
    pushed = push_all(engine, prefix, [(b.name, b.tag) for b in builds], dry_run)
    if dry_run:
        return
    revision, now = _revision(builds), utc_now()
    entries = {
        name: PushedImage(repository, digest, inputs[name], revision, now)
        for name, (repository, digest) in pushed.items()
    }
    write_pushed(root, entries, set(image_dockerfiles(load(root).spec)))
    print(f"recorded {len(entries)} digest(s) in {PUSHED.as_posix()} and {COMPONENT.as_posix()}")
    overlay = overlay_repositories(root) or {}
    for name, (repository, _) in sorted(pushed.items()):
        pulls = overlay.get(f"{IMAGE_NAMESPACE}/{name}")
        if pulls is not None and pulls != repository:
            sys.stderr.write(
                f"warning: the production overlay pulls {IMAGE_NAMESPACE}/{name} from {pulls}, not "
                f"{repository}: `pedigree check` fails until they agree\n"
            )
    print("commit cluster-conf/images: the production overlay then pulls these digests")


def _ca_bundle(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value).resolve()
    if not path.is_file():
        raise PedigreeError(
            f"CA bundle {value} does not exist", f"point --ca-bundle (or {CA_ENV}) at a PEM file"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the options, build the images, print and record their digests; push them."""
    parser = argparse.ArgumentParser(
        prog="python -m pedigree.containers.build",
        description="Build pedigree's base image and its stage images (what `make images` runs).",
    )
    parser.add_argument(
        "--engine",
        choices=["podman", "docker"],
        default=None,
        help="container engine (default: podman, else docker, whichever works)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated images to build (base, stage names, serve, replicate)",
    )
    parser.add_argument(
        "--python-image",
        default="",
        help="the base's FROM (a digest reference), e.g. an imported debootstrap",
    )
    parser.add_argument(
        "--ca-bundle",
        default=os.environ.get(CA_ENV, ""),
        help="CA bundle pip needs behind a TLS-intercepting proxy (default: $PIP_CERT); "
        "'' for none",
    )
    parser.add_argument(
        "--push",
        metavar="REGISTRY_PREFIX",
        default=None,
        help="after building, push every image but the base as REGISTRY_PREFIX/<name>:<version> "
        "(e.g. registry.example.com/pedigree) and pin the registry's digests in "
        "cluster-conf/images/",
    )
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="repository root")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    try:
        from pedigree.containers.inputs import images_inputs
        from pedigree.containers.push import registry_prefix

        # a bad prefix stops here, before an hour of building
        prefix = None if args.push is None else registry_prefix(args.push)
        engine = find_engine(args.engine)
        root = args.project.resolve()
        builds = plan(root, only or None, args.python_image or None)
        ca_bundle = _ca_bundle(args.ca_bundle)
        # what the build context holds as the build starts
        inputs = images_inputs(root, {b.name: b.dockerfile for b in builds})
        built = build_all(root, engine, builds, args.no_cache, args.dry_run, ca_bundle)
        if not args.dry_run:
            record = record_builds(root, engine, builds, built, inputs)
            print(f"recorded in {record.relative_to(root).as_posix()}", flush=True)
        if prefix is not None:
            push_and_pin(root, engine, prefix, builds, inputs, args.dry_run)
    except PedigreeError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    for tag, digest in built:
        print(f"{tag}@{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
