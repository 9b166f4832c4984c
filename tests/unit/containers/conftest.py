"""A fake container engine on PATH for the executor's unit tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import fake_engine


@dataclass
class FakeEngine:
    """Where the fake engine lives and what it was asked."""

    bin_dir: Path
    log: Path

    def calls(self) -> list[list[str]]:
        """Every call's argv, without the binary."""
        return fake_engine.calls(self.log)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """podman and docker (fakes) first on PATH, recording their calls."""
    bin_dir = fake_engine.install(tmp_path / "engine-bin")
    log = tmp_path / "engine.log"
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    for name in ("FAKE_ENGINE_MISSING", "FAKE_ENGINE_BROKEN", "FAKE_ENGINE_ROOTLESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PEDIGREE_ENGINE_FLAGS", raising=False)
    return FakeEngine(bin_dir, log)
