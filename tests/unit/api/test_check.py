"""`pedigree check`'s image digests item: the digests production pins against the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.api.check import check
from pedigree.containers.digests import COMPONENT, PushedImage, write_pushed
from pedigree.containers.inputs import image_inputs
from tests.unit.conftest import check_items

DIGEST = "sha256:" + "ab" * 32


def test_a_project_without_cluster_conf_images_has_no_such_item(checked: Path) -> None:
    assert "image digests" not in {item.name for item in check(checked, environment=False).items}


def test_nothing_pushed_passes(checked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pushed(checked, {})
    code, items = check_items(checked, capsys)
    assert code == 0
    assert items["image digests"]["ok"]
    assert items["image digests"]["message"] == "no image digests recorded; production pulls by tag"


def test_a_stale_digest_fails_the_check_with_3(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pedigree.cli.main import main

    assert main(["-C", str(checked), "compile", "--target", "images"]) == 0
    dockerfile = "images/ingest/Dockerfile"
    inputs = image_inputs(checked, "ingest", dockerfile)
    entry = PushedImage(
        "registry.example.com/pedigree/ingest", DIGEST, inputs, "c0ffee", "2025-01-01T00:00:00Z"
    )
    write_pushed(checked, {"ingest": entry})
    code, items = check_items(checked, capsys)
    assert code == 0, items["image digests"]
    lock = checked / "images" / "ingest" / "requirements.lock"
    lock.write_text(lock.read_text().replace("sha256:00", "sha256:01"))  # same pins, new bytes
    code, items = check_items(checked, capsys)
    assert code == 3
    item = items["image digests"]
    assert not item["ok"]
    assert item["message"].startswith(
        "ingest: the pushed digest is stale: lock changed since it was pushed"
    )
    assert item["hint"] == (
        "run `make images PUSH=registry.example.com/pedigree` (it rewrites both files), then "
        "commit cluster-conf/images"
    )
    (checked / COMPONENT).unlink()
    code, items = check_items(checked, capsys)
    assert items["image digests"]["details"][-1].startswith(
        "cluster-conf/images/kustomization.yaml is missing"
    )
