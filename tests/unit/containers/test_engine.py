"""Finding a container engine and asking it about images (against a fake engine on PATH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.containers.engine import (
    EngineError,
    ImageMissingError,
    find_engine,
    inspect_image,
    missing_images,
)
from tests.support import fake_engine


def test_the_named_engine_is_checked_with_info(engine) -> None:
    found = find_engine("podman")
    assert found.name == "podman"
    assert found.argv == (str(engine.bin_dir / "podman"),)
    assert found.rootless is False
    assert engine.calls() == [["info", "--format", "{{.Host.Security.Rootless}}"]]


def test_podman_comes_first_when_none_is_named(engine) -> None:
    assert find_engine().name == "podman"


def test_docker_when_podman_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = fake_engine.install(tmp_path / "bin", names=("docker",))
    monkeypatch.setenv("PATH", str(bin_dir))
    assert find_engine().name == "docker"


@pytest.mark.parametrize("name", ["podman", "docker"])
def test_a_rootless_engine_is_recognised(engine, monkeypatch, name: str) -> None:
    monkeypatch.setenv("FAKE_ENGINE_ROOTLESS", "true" if name == "podman" else "rootless")
    assert find_engine(name).rootless is True


def test_global_flags_come_from_the_environment(engine, monkeypatch) -> None:
    monkeypatch.setenv("PEDIGREE_ENGINE_FLAGS", "--runtime runc")
    found = find_engine("podman")
    assert found.command("run") == [str(engine.bin_dir / "podman"), "--runtime", "runc", "run"]


def test_no_engine_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        EngineError,
        match=r"no working container engine: podman is not installed \(not on PATH\); "
        r"docker is not installed",
    ) as caught:
        find_engine()
    assert "apt-get install podman runc" in str(caught.value.hint)
    assert caught.value.exit_code == 4


def test_an_engine_that_does_not_work(engine, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_BROKEN", "1")
    with pytest.raises(
        EngineError,
        match=r"docker is installed but does not work: `docker info`: Cannot connect to the "
        r"engine: is the daemon running\?",
    ) as caught:
        find_engine("docker")
    assert "start the engine" in str(caught.value.hint)


def test_an_unknown_engine_name(engine) -> None:
    with pytest.raises(EngineError, match="unknown container engine 'containerd'"):
        find_engine("containerd")


def test_inspect_gives_id_and_digest(engine) -> None:
    info = inspect_image(find_engine("podman"), "pedigree/ingest:0.1.0")
    assert info.ref == "pedigree/ingest:0.1.0"
    assert info.id == fake_engine._digest("id", "pedigree/ingest:0.1.0")
    assert info.digest == fake_engine._digest("digest", "pedigree/ingest:0.1.0")


def test_a_missing_image_names_make_images(engine, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MISSING", "pedigree/ingest:0.1.0")
    with pytest.raises(
        ImageMissingError, match=r"image pedigree/ingest:0\.1\.0 is not in podman's image store"
    ) as caught:
        inspect_image(find_engine("podman"), "pedigree/ingest:0.1.0")
    assert caught.value.hint == "build the images first: `make images ENGINE=podman`"


def test_missing_images_in_one_call(engine, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MISSING", "pedigree/train:0.1.0,pedigree/tune:0.1.0")
    podman = find_engine("podman")
    refs = ["pedigree/ingest:0.1.0", "pedigree/tune:0.1.0", "pedigree/train:0.1.0"]
    assert missing_images(podman, refs) == ["pedigree/tune:0.1.0", "pedigree/train:0.1.0"]
    assert engine.calls()[-1][:4] == ["image", "inspect", "--format", "{{json .RepoTags}}"]
    assert missing_images(podman, []) == []
