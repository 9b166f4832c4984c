"""20 promotions and rollbacks at once in one clone: the manifest always names the champion.

Each writer takes the registry's lock (under .pedigree/locks/), appends its event and rewrites
the serving manifest before it lets go, so after every round the manifest is exactly the one of
the champion the log replays to, and the log still replays.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pedigree.api import models as models_api
from pedigree.registry.serving import (
    project_serve,
    render_serving_manifest,
    serving_manifest_path,
)
from pedigree.registry.settings import serving_settings
from tests.unit.registry.serving_data import add_serve_section
from tests.unit.registry.test_clones import RELEASE
from tests.unit.registry.test_store import GATE, better, make_candidate, open_registry

WORKERS = 10
ROUNDS = 2  # 20 promotions and rollbacks, 10 at a time


@pytest.fixture
def served(checked: Path, tmp_path: Path) -> Path:
    """A checked project whose registry holds v1..v4 (v4 champion) and its manifest."""
    with (checked / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    add_serve_section(checked)
    registry = open_registry(checked, checked / "registry" / "pets")
    for content, score in ((b"one", 0.5), (b"two", 0.6), (b"three", 0.7), (b"four", 0.8)):
        registry.release(make_candidate(tmp_path / "models", content, score), better, GATE)
    models_api.write_manifest(checked)
    return checked


def manifest(root: Path) -> Path:
    return serving_manifest_path(root, "pets")


def expected(root: Path) -> str:
    """The manifest text of the champion the log replays to."""
    champion = open_registry(root, root / "registry" / "pets", create=False).champion()
    assert champion is not None
    settings = serving_settings(root / "params.yaml")
    return render_serving_manifest("pets", champion, settings, project_serve(root, "pets"))


WORKER = textwrap.dedent(
    """
    import random, sys, time
    from pathlib import Path
    from pedigree.api import models as models_api
    from pedigree.errors import RegistryError
    from pedigree.registry import serving

    # a slow disk: the manifest write takes a while, which widens the window in which a write
    # made outside the registry's lock would land after a later champion's
    write = serving.write_serving_manifest

    def slow_write(*args):
        time.sleep(rng.random() * 0.03)
        return write(*args)

    serving.write_serving_manifest = slow_write

    root, barrier, index, rounds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    rng = random.Random(int(index))
    for r in range(rounds):
        deadline = time.monotonic() + 30
        while not (barrier / f"go-{r}").exists():
            if time.monotonic() > deadline:
                sys.exit("barrier timed out")
            time.sleep(0.0005)
        try:
            if rng.random() < 0.5:
                models_api.rollback(root, "race", actor=f"w{index}")
            else:
                models_api.promote(root, rng.randint(1, 4), "race", actor=f"w{index}")
        except RegistryError:
            pass  # already the champion / nothing to roll back to: a normal refusal
        (barrier / f"done-{r}-{index}").touch()
    """
)


def test_concurrent_promotions_and_rollbacks_leave_the_champions_manifest(
    served: Path, tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(served), str(barrier), str(i), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    try:
        for r in range(ROUNDS):
            (barrier / f"go-{r}").touch()
            deadline = time.monotonic() + 30
            while len(list(barrier.glob(f"done-{r}-*"))) < WORKERS:
                assert all(p.poll() in (None, 0) for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline, f"round {r} timed out"
                time.sleep(0.002)
            text = manifest(served).read_text(encoding="utf-8")
            assert text == expected(served), f"round {r}: the manifest is not the champion's"
    except BaseException:
        for proc in procs:
            proc.kill()  # the workers would wait for the next round until they time out
        raise
    finally:
        results = [p.communicate(timeout=60) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    registry = open_registry(served, served / "registry" / "pets")
    history = registry.history()  # the log replays (every file parses, every change is located)
    changes = [e for e in history if e.kind in ("manual-promote", "rolled-back")]
    assert len(changes) > ROUNDS
    # under one lock every change was made against the champion of its time: none superseded
    assert not any(e.superseded for e in history)
    assert expected(served) == manifest(served).read_text(encoding="utf-8")
