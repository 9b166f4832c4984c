"""The Dockerfiles and the base locks, read as text: pinned bases, hash-checked installs, a
non-root user, OCI labels, and each stage image holding only its own lock."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from pedigree.locks import COMBINED_LOCK, disagreements, read_lock
from tests.conftest import REPO_ROOT

STAGES = ("ingest", "transform", "tune", "train", "calibrate", "evaluate", "release")
IMAGES = ("base", *STAGES)
DIGEST_REF = re.compile(r"^[a-z0-9./_-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
OCI_LABELS = ("source", "revision", "version", "title", "licenses")


def instructions(name: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of images/<name>/Dockerfile, continuation lines joined."""
    text = (REPO_ROOT / "images" / name / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(args.split())))
    return found


def of(name: str, keyword: str) -> list[str]:
    return [args for kw, args in instructions(name) if kw == keyword]


def arg_defaults(name: str) -> dict[str, str]:
    return dict(a.split("=", 1) for a in of(name, "ARG") if "=" in a)


def labels(name: str) -> dict[str, str]:
    pairs = shlex.split(" ".join(of(name, "LABEL")))
    return dict(p.split("=", 1) for p in pairs)


@pytest.mark.parametrize("name", IMAGES)
def test_every_from_is_pinned_by_digest(name: str) -> None:
    defaults = arg_defaults(name)
    stages_seen: list[str] = []
    for args in of(name, "FROM"):
        image, *alias = args.split()
        if image in stages_seen:
            continue  # an earlier build stage of this file
        variable = re.fullmatch(r"\$\{(\w+)\}", image)
        ref = defaults[variable.group(1)] if variable else image
        assert DIGEST_REF.match(ref), f"{name}: FROM {image} -> {ref} is not pinned by digest"
        if alias:
            stages_seen.append(alias[-1])
    text = (REPO_ROOT / "images" / name / "Dockerfile").read_text()
    assert ":latest" not in text


def test_the_base_builds_on_python_311_bookworm() -> None:
    ref = arg_defaults("base")["PYTHON_IMAGE"]
    assert ref.startswith("docker.io/library/python:3.11.") and "-slim-bookworm@sha256:" in ref


@pytest.mark.parametrize("name", STAGES)
def test_stage_images_build_on_the_base_by_digest(name: str) -> None:
    assert of(name, "FROM") == ["${BASE_IMAGE}"]
    assert arg_defaults(name)["BASE_IMAGE"].startswith("localhost/pedigree/base@sha256:")


@pytest.mark.parametrize("name", IMAGES)
def test_the_image_runs_as_the_non_root_user(name: str) -> None:
    user = of(name, "USER")[-1]
    assert re.fullmatch(r"\d+:\d+", user) and user == "10001:10001"
    assert of(name, "WORKDIR")[-1] == "/workspace"


@pytest.mark.parametrize("name", IMAGES)
def test_every_pip_install_checks_hashes_or_installs_the_built_wheel(name: str) -> None:
    installs = [
        part
        for args in of(name, "RUN")
        for part in re.split(r"&&|;", args)
        if "pip" in part and " install " in f"{part} "
    ]
    assert installs
    for command in installs:
        if "pedigree-*.whl" in command:
            assert "--no-deps" in command and "--no-index" in command, command
        else:
            assert "--require-hashes" in command and "--no-deps" in command, command
            assert re.search(r"-r /\S+\.lock", command), command


@pytest.mark.parametrize("name", STAGES)
def test_a_stage_image_copies_only_its_own_lock(name: str) -> None:
    assert of(name, "COPY") == [f"images/{name}/requirements.lock /opt/pedigree/locks/{name}.lock"]
    run = " ".join(of(name, "RUN"))
    assert f"-r /opt/pedigree/locks/{name}.lock" in run
    assert "python3 -m venv --without-pip /opt/pedigree/venv" in run
    assert of(name, "ENV") == ["PATH=/opt/pedigree/venv/bin:$PATH"]


def test_the_base_copies_its_locks_and_the_package_source_only() -> None:
    sources = {args.rsplit(" ", 1)[0] for args in of("base", "COPY")}
    assert sources == {
        "images/base/build-requirements.lock",
        "images/base/requirements.lock",
        "pyproject.toml README.md",
        "src",
        "--from=wheel /wheels/",
    }
    env = " ".join(of("base", "ENV"))
    assert "HOME=/tmp" in env and "PEDIGREE_IN_CONTAINER=1" in env
    assert "/opt/pedigree/runner" in " ".join(of("base", "RUN"))
    assert "groupadd --gid 10001 pedigree" in " ".join(of("base", "RUN"))


@pytest.mark.parametrize("name", IMAGES)
def test_oci_labels(name: str) -> None:
    found = labels(name)
    for key in OCI_LABELS:
        assert f"org.opencontainers.image.{key}" in found, key
    assert found["org.opencontainers.image.title"] == f"pedigree-{name}"
    assert found["org.opencontainers.image.source"] == "${SOURCE}"
    assert found["org.opencontainers.image.revision"] == "${REVISION}"
    assert found["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_the_build_context_keeps_out_everything_but_the_package_and_stage_code() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {r for r in rules if r.startswith("!")} == {
        "!pyproject.toml",
        "!README.md",
        "!src/",
        "!images/",
        "!stages/",  # the serving image's predictor code (spec.serve.code)
    }


def _names(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {Requirement(line).name for line in lines if line and not line.startswith("#")}


def test_the_runner_needs_exactly_pedigrees_own_dependencies() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {Requirement(d).name for d in project["project"]["dependencies"]}
    assert _names(REPO_ROOT / "images" / "base" / "requirements.in") == wanted


@pytest.mark.parametrize("lock", ["requirements.lock", "build-requirements.lock"])
def test_the_base_locks_agree_with_the_combined_lock(lock: str) -> None:
    combined = read_lock(REPO_ROOT / COMBINED_LOCK)
    path = REPO_ROOT / "images" / "base" / lock
    assert read_lock(path), f"{lock} pins nothing"
    assert disagreements(path, combined, f"images/base/{lock}") == []
    assert "--hash=sha256:" in path.read_text(encoding="utf-8")


def test_make_lock_compiles_the_base_locks() -> None:
    from pedigree.locks import lock_jobs

    # `make lock` is `pedigree lock`, whose plan for this project includes the base image's locks.
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/pedigree lock" in makefile
    assert "pedigree.containers.build" in makefile
    image_dirs = {stage: f"images/{stage}" for stage in STAGES}
    outputs = [job.output for job in lock_jobs(REPO_ROOT, image_dirs, extras=("dev",))]
    assert "images/base/requirements.lock" in outputs
    assert "images/base/build-requirements.lock" in outputs
