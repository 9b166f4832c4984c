"""`make images PUSH=...`: the registry prefix, the push with each engine, the digests pinned in
cluster-conf/images/ only once every push succeeded, and the local build record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pedigree import __version__
from pedigree.containers import build, digests, push
from pedigree.containers.engine import Engine
from pedigree.errors import PedigreeError, ToolError
from tests.conftest import REPO_ROOT, pets_copy
from tests.support import fake_engine

REGISTRY = "registry.example.com/pedigree"


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    """What `make images` reads: the spec, images/, stages/ (the predictor's code),
    pyproject.toml, the production overlay and the committed (empty) cluster-conf/images/."""
    root = pets_copy(tmp_path / "pets")
    shutil.copy2(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    for folder in ("cluster-conf/images", "cluster-conf/overlays/production"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    return root


def _main(root: Path, *args: str) -> int:
    return build.main(["--project", str(root), "--ca-bundle", "", *args])


def _target(name: str) -> str:
    return f"{REGISTRY}/{name}:{__version__}"


def test_make_images_records_every_build_locally(engine, pets: Path, capsys) -> None:
    assert _main(pets, "--engine", "podman", "--only", "base,train") == 0
    record = json.loads((pets / ".pedigree" / "images.json").read_text())
    assert sorted(record["images"]) == ["base", "train"]
    train = record["images"]["train"]
    tag = f"pedigree/train:{__version__}"
    assert train["tag"] == tag
    assert train["digest"] == fake_engine._digest("digest", tag)
    assert train["engine"] == "podman"
    assert train["built"].endswith("Z") and train["revision"] == "unknown"  # not a git checkout
    assert set(train["inputs"]) == {"base", "pedigree", "dockerfile", "lock"}
    assert set(record["images"]["base"]["inputs"]) == {"base", "pedigree"}
    assert "recorded in .pedigree/images.json" in capsys.readouterr().out
    # ONLY= a subset: the other images keep their entries
    assert _main(pets, "--engine", "podman", "--only", "ingest") == 0
    record = json.loads((pets / ".pedigree" / "images.json").read_text())
    assert sorted(record["images"]) == ["base", "ingest", "train"]
    # nothing was pushed, so nothing is pinned
    assert digests.read_pushed(pets) == {}


def test_podman_pushes_with_a_digestfile_and_the_registrys_digest_is_pinned(
    engine, pets: Path, capsys
) -> None:
    assert _main(pets, "--engine", "podman", "--only", "base,train,serve", "--push", REGISTRY) == 0
    pushes = [call for call in engine.calls() if call[0] == "push"]
    assert [call[-2:] for call in pushes] == [
        [f"pedigree/train:{__version__}", _target("train")],
        [f"pedigree/serve:{__version__}", _target("serve")],
    ]  # never the base: a cluster only pulls what is built FROM it
    assert all(call[1] == "--digestfile" for call in pushes)
    entries = digests.read_pushed(pets)
    assert sorted(entries) == ["serve", "train"]
    train = entries["train"]
    registry_digest = fake_engine._digest("registry", _target("train"))
    assert train.repository == f"{REGISTRY}/train" and train.digest == registry_digest
    # the registry's digest, not the local one
    assert train.digest != fake_engine._digest("digest", f"pedigree/train:{__version__}")
    local = json.loads((pets / ".pedigree" / "images.json").read_text())["images"]
    assert train.inputs == local["train"]["inputs"]
    component = yaml.safe_load((pets / digests.COMPONENT).read_text())
    assert component["kind"] == "Component"
    assert component["images"] == [
        {"name": "pedigree/serve", "digest": entries["serve"].digest},
        {"name": "pedigree/train", "digest": registry_digest},
    ]
    out = capsys.readouterr().out
    assert f"pushed {_target('train')} {registry_digest}" in out
    assert "commit cluster-conf/images" in out
    found = digests.check_digests(
        pets, {"train": "images/train/Dockerfile", "serve": "images/serve/Dockerfile"}
    )
    assert found is not None and found.ok, found
    # a later push of another image keeps these entries
    assert _main(pets, "--engine", "podman", "--only", "ingest", "--push", REGISTRY) == 0
    assert sorted(digests.read_pushed(pets)) == ["ingest", "serve", "train"]


def test_docker_pushes_then_reads_the_repo_digest(engine, pets: Path) -> None:
    assert _main(pets, "--engine", "docker", "--only", "base,train", "--push", REGISTRY) == 0
    calls = [call for call in engine.calls() if call[0] in ("tag", "push", "image")]
    target = _target("train")
    assert ["tag", f"pedigree/train:{__version__}", target] in calls
    assert ["push", target] in calls  # docker has no --digestfile
    assert ["image", "inspect", "--format", "{{json .RepoDigests}}", target] in calls
    [entry] = digests.read_pushed(pets).values()
    assert entry.digest == fake_engine._digest("registry", target)


def test_a_failed_push_records_nothing(engine, pets: Path, monkeypatch, capsys) -> None:
    before = {p: (pets / p).read_bytes() for p in (digests.PUSHED, digests.COMPONENT)}
    monkeypatch.setenv("FAKE_ENGINE_PUSH_FAIL", _target("serve"))
    code = _main(pets, "--engine", "podman", "--only", "base,train,serve", "--push", REGISTRY)
    assert code == 4
    err = capsys.readouterr().err
    assert (
        f"error: podman could not push pedigree/serve:{__version__} to {_target('serve')}: "
        "Error: pushing"
    ) in err
    assert "unauthorized" in err and "podman login" in err and "nothing was recorded" in err
    # train was pushed first, but no component pins half a release
    assert {p: (pets / p).read_bytes() for p in before} == before
    # the build itself is recorded: it happened
    assert (pets / ".pedigree" / "images.json").is_file()


def test_a_push_without_a_digest_is_an_error(
    engine, pets: Path, tmp_path: Path, monkeypatch
) -> None:
    silent = fake_engine.install(tmp_path / "silent", names=("podman",))
    (silent / "podman").write_text("#!/bin/sh\nexit 0\n")
    monkeypatch.setenv("PATH", str(silent))
    podman = Engine("podman", (str(silent / "podman"),), rootless=False)
    with pytest.raises(ToolError, match=r"pushed \S+/train:\S+ but reported no registry digest"):
        push.push_one(podman, f"pedigree/train:{__version__}", _target("train"))


def test_a_dry_run_prints_the_pushes_and_writes_nothing(engine, pets: Path, capsys) -> None:
    assert (
        _main(pets, "--engine", "docker", "--only", "base,train", "--push", REGISTRY, "--dry-run")
        == 0
    )
    out = capsys.readouterr().out
    assert f"docker push {_target('train')}" in out
    assert not any(call[0] in ("build", "push") for call in engine.calls())
    assert not (pets / ".pedigree").exists()
    assert digests.read_pushed(pets) == {}


@pytest.mark.parametrize(
    ("prefix", "message", "fix"),
    [
        (
            "https://registry.example.com/pedigree",
            r"has a scheme \(https://\)",
            "PUSH=registry.example.com/pedigree",
        ),
        (
            "registry.example.com/pedigree:0.1.0",
            "ends with a tag",
            "PUSH=registry.example.com/pedigree",
        ),
        (
            f"registry.example.com/pedigree@sha256:{'a' * 64}",
            "holds a digest",
            "PUSH=registry.example.com/pedigree",
        ),
        ("registry.example.com/pedigree/", "ends with '/'", "PUSH=registry.example.com/pedigree"),
        (
            "registry.example.com:5000",
            "is a registry host without a path",
            "PUSH=registry.example.com:5000/pedigree",
        ),
        (
            "registry.example.com/Pedigree",
            "is not a repository prefix",
            "e.g. PUSH=registry.example.com/pedigree",
        ),
        ("registry.example.com/a b", "is not a repository prefix", "e.g. PUSH="),
        ("  ", "is empty", "e.g. PUSH="),
    ],
)
def test_a_bad_registry_prefix_says_what_to_write(prefix: str, message: str, fix: str) -> None:
    with pytest.raises(PedigreeError, match=rf"registry prefix '{prefix}' {message}") as caught:
        push.registry_prefix(prefix)
    assert caught.value.hint is not None and fix in caught.value.hint


@pytest.mark.parametrize(
    "prefix",
    ["registry.example.com/pedigree", "localhost:5000/pedigree", "ghcr.io/org/team-a", "myuser"],
)
def test_good_registry_prefixes(prefix: str) -> None:
    assert push.registry_prefix(prefix) == prefix


def test_a_bad_prefix_stops_before_anything_is_built(engine, pets: Path, capsys) -> None:
    assert _main(pets, "--engine", "podman", "--push", "https://registry.example.com/pedigree") == 2
    err = capsys.readouterr().err
    assert "error: registry prefix 'https://registry.example.com/pedigree' has a scheme" in err
    assert "hint: drop it: PUSH=registry.example.com/pedigree" in err
    assert engine.calls() == []


def test_the_repo_digest_of_the_pushed_repository() -> None:
    digest = "sha256:" + "c" * 64
    other = "sha256:" + "d" * 64
    answer = json.dumps([f"pedigree/train@{other}", f"{REGISTRY}/train@{digest}"])
    assert push.repo_digest(answer, _target("train")) == digest
    # Docker Hub's repositories are listed without their host
    assert push.repo_digest(json.dumps([f"me/train@{digest}"]), "docker.io/me/train:1") == digest
    assert push.repo_digest("[]", _target("train")) is None
    assert push.repo_digest("not json", _target("train")) is None


def test_the_push_commands_of_each_engine() -> None:
    podman = Engine("podman", ("podman",), rootless=False)
    docker = Engine("docker", ("docker",), rootless=False)
    tag, target = "pedigree/train:1", f"{REGISTRY}/train:1"
    assert push.push_commands(podman, tag, target, Path("/d")) == [
        ["podman", "push", "--digestfile", "/d", tag, target]
    ]
    assert push.push_commands(docker, tag, target, Path("/d")) == [
        ["docker", "tag", tag, target],
        ["docker", "push", target],
    ]


def test_the_makefile_passes_push() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(if $(PUSH),--push $(PUSH))" in makefile


def test_a_damaged_record_stops_before_anything_is_pushed(engine, pets: Path, capsys) -> None:
    (pets / digests.PUSHED).write_text("images: [1]\n")
    assert _main(pets, "--engine", "podman", "--only", "base,train", "--push", REGISTRY) == 2
    assert (
        "error: cluster-conf/images/pushed.yaml: `images:` is not a mapping"
        in capsys.readouterr().err
    )
    assert not any(call[0] == "push" for call in engine.calls())
