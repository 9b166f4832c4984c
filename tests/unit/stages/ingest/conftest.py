"""Shared fixtures for the ingest tests: one small synthetic data set, generated once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stages.ingest.params import SyntheticParams
from stages.ingest.synthetic import generate

SMALL = SyntheticParams(seed=7, count=24, images_per_animal=(2, 4), image_size=(64, 96))


@pytest.fixture(scope="session")
def small() -> SyntheticParams:
    """The small synthetic params every ingest test uses (fast: 24 images of 64-96 px)."""
    return SMALL


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention synthetic data set in the Oxford-IIIT Pet layout."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(SMALL, root)
    return root


@pytest.fixture
def pets_folder(synthetic_root: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic data set that a test may damage."""
    return Path(shutil.copytree(synthetic_root, tmp_path / "pets"))


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback test servers must be reached directly, never through a configured proxy.
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "*")
