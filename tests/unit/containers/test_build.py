"""`make images`: what is built, in what order, FROM what, with which labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pedigree import __version__
from pedigree.containers import build
from pedigree.containers.engine import Engine, ImageMissingError, find_engine
from pedigree.errors import PedigreeError
from tests.conftest import REPO_ROOT
from tests.support import fake_engine

STAGES = ["ingest", "transform", "tune", "train", "calibrate", "evaluate", "release"]
BASE_DIGEST = fake_engine._digest("digest", f"pedigree/base:{__version__}")


def test_the_base_first_then_every_stage_of_the_spec_then_serving_and_replicate() -> None:
    builds = build.plan(REPO_ROOT)
    assert [b.name for b in builds] == ["base", *STAGES, "serve", "replicate"]
    assert builds[-2].dockerfile == "images/serve/Dockerfile"
    assert builds[-2].tag == f"pedigree/serve:{__version__}"
    # pets declares spec.replicate.folds: the image a cluster runs `replicate --folds` in
    assert builds[-1].dockerfile == "images/replicate/Dockerfile"
    assert builds[-1].tag == f"pedigree/replicate:{__version__}"
    assert set(builds[-1].build_args) == {"VERSION", "SOURCE", "REVISION"}
    assert builds[0].dockerfile == "images/base/Dockerfile"
    assert builds[1].dockerfile == "images/ingest/Dockerfile"
    assert builds[1].tag == f"pedigree/ingest:{__version__}"
    assert builds[1].build_args["VERSION"] == __version__
    assert set(builds[1].build_args) == {"VERSION", "SOURCE", "REVISION"}


def test_only_some_images(tmp_path: Path) -> None:
    builds = build.plan(
        REPO_ROOT, ["ingest", "base"], python_image="localhost/py@sha256:" + "a" * 64
    )
    assert [b.name for b in builds] == ["base", "ingest"]
    assert builds[0].build_args["PYTHON_IMAGE"] == "localhost/py@sha256:" + "a" * 64
    with pytest.raises(PedigreeError, match="no image named nope") as caught:
        build.plan(REPO_ROOT, ["nope"])
    assert caught.value.hint is not None and caught.value.hint.endswith("serve, replicate")


def test_only_the_replicate_image(engine, capsys) -> None:
    # `make images ONLY=replicate`: the replicate image alone, FROM the base already built
    builds = build.plan(REPO_ROOT, ["replicate"])
    assert [(b.name, b.dockerfile) for b in builds] == [
        ("replicate", "images/replicate/Dockerfile")
    ]
    assert [b.name for b in build.plan(REPO_ROOT, ["base", "replicate"])] == ["base", "replicate"]
    built = build.build_all(REPO_ROOT, find_engine("podman"), builds)
    tag = f"pedigree/replicate:{__version__}"
    assert built == [(tag, fake_engine._digest("digest", tag))]
    [call] = [call for call in engine.calls() if call[0] == "build"]
    assert call[call.index("--file") + 1] == "images/replicate/Dockerfile"
    assert f"BASE_IMAGE=pedigree/base@{BASE_DIGEST}" in call


def test_the_production_overlay_rewrites_every_image_make_images_pushes() -> None:
    # Each image a cluster pulls (all but the base, which is only built FROM) has its registry
    # entry in cluster-conf/overlays/production, the replicate image's too.
    kustomization = REPO_ROOT / "cluster-conf/overlays/production/kustomization.yaml"
    entries = yaml.safe_load(kustomization.read_text(encoding="utf-8"))["images"]
    names = {e["name"]: e.get("newName") for e in entries}
    pushed = [b.name for b in build.plan(REPO_ROOT) if b.name != "base"]
    assert "replicate" in pushed
    assert names == {f"pedigree/{n}": f"registry.example.com/pedigree/{n}" for n in pushed}
    # no newTag: it would replace the digest the component cluster-conf/images pins
    assert not any("newTag" in e or "digest" in e for e in entries)


def test_labels_come_from_the_spec_and_git() -> None:
    found = build.labels(REPO_ROOT, "https://example.org/pets.git")
    assert found["SOURCE"] == "https://example.org/pets.git"
    assert len(found["REVISION"]) == 40
    assert build.labels(Path("/"), None)["REVISION"] == "unknown"


def test_the_build_command() -> None:
    engine = Engine("podman", ("podman",), rootless=False)
    image = build.ImageBuild("ingest", "images/ingest/Dockerfile", {"VERSION": "1", "SOURCE": "s"})
    assert build.build_command(engine, image, no_cache=True, ca_bundle=Path("/ca.pem")) == [
        "podman",
        "build",
        "--file",
        "images/ingest/Dockerfile",
        "--tag",
        f"pedigree/ingest:{__version__}",
        "--secret",
        "id=pip-ca,src=/ca.pem",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--no-cache",
        "--build-arg",
        "SOURCE=s",
        "--build-arg",
        "VERSION=1",
        ".",
    ]


def test_stages_are_built_from_the_base_by_digest(engine, capsys) -> None:
    builds = build.plan(REPO_ROOT, ["base", "ingest"])
    built = build.build_all(REPO_ROOT, find_engine("podman"), builds)
    assert built == [
        (f"pedigree/base:{__version__}", BASE_DIGEST),
        (
            f"pedigree/ingest:{__version__}",
            fake_engine._digest("digest", f"pedigree/ingest:{__version__}"),
        ),
    ]
    builds_run = [call for call in engine.calls() if call[0] == "build"]
    assert f"BASE_IMAGE=pedigree/base@{BASE_DIGEST}" in builds_run[1]
    assert not any(arg.startswith("BASE_IMAGE") for arg in builds_run[0])
    assert f"built pedigree/base:{__version__} {BASE_DIGEST}" in capsys.readouterr().out


def test_the_tag_when_the_engine_cannot_address_the_base_by_digest(
    engine, monkeypatch, capsys
) -> None:
    missing = f"pedigree/base@{BASE_DIGEST},localhost/pedigree/base@{BASE_DIGEST}"
    monkeypatch.setenv("FAKE_ENGINE_MISSING", missing)
    assert build.base_reference(find_engine("docker")) == (
        f"pedigree/base:{__version__}",
        BASE_DIGEST,
    )
    assert "cannot address" in capsys.readouterr().err


def test_stages_alone_need_a_built_base(engine, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MISSING", f"pedigree/base:{__version__}")
    with pytest.raises(ImageMissingError, match=r"image pedigree/base:\S+ is not in podman's"):
        build.build_all(REPO_ROOT, find_engine("podman"), build.plan(REPO_ROOT, ["ingest"]))


def test_a_failed_build_names_the_image(engine, monkeypatch, tmp_path: Path) -> None:
    failing = fake_engine.install(tmp_path / "failing", names=("podman",))
    (failing / "podman").write_text('#!/bin/sh\n[ "$1" = info ] && echo false && exit 0\nexit 1\n')
    monkeypatch.setenv("PATH", str(failing))
    with pytest.raises(
        PedigreeError, match=r"podman could not build pedigree/base:\S+ \(images/base/Dockerfile\)"
    ):
        build.build_all(REPO_ROOT, find_engine("podman"), build.plan(REPO_ROOT, ["base"]))


def test_main_dry_run_prints_the_commands(engine, capsys) -> None:
    assert (
        build.main(
            ["--project", str(REPO_ROOT), "--engine", "podman", "--dry-run", "--ca-bundle", ""]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("+ ") == 10  # base, 7 stages, the serving image, the replicate image
    assert "BASE_IMAGE=pedigree/base@sha256:<digest>" in out
    assert not any(call[0] == "build" for call in engine.calls())


def test_main_reports_a_missing_engine(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert build.main(["--project", str(REPO_ROOT)]) == 4
    assert "error: no working container engine" in capsys.readouterr().err


def test_main_refuses_a_missing_ca_bundle(engine, tmp_path: Path, capsys) -> None:
    assert build.main(["--project", str(REPO_ROOT), "--ca-bundle", str(tmp_path / "no.pem")]) == 2
    assert "CA bundle" in capsys.readouterr().err
