"""The serving manifest always names the registry's champion.

Whoever changes the champion (a release, `pedigree models promote`, `rollback`) writes the
manifest inside the registry's write transaction, so concurrent changes write their manifests in
the order they commit. `pedigree check` reports a manifest that disagrees with the champion, and
`pedigree models manifest` repairs it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pedigree.api import models as models_api
from pedigree.cli.main import main
from pedigree.errors import RegistryError
from pedigree.registry.records import ModelVersion
from pedigree.registry.serving import (
    render_serving_manifest,
    served_model,
    serving_manifest_path,
)
from pedigree.registry.settings import serving_settings
from pedigree.registry.store import Registry
from tests.unit.conftest import check_items
from tests.unit.registry.test_store import better, make_candidate

RELEASE = """\
release:
  registry: .pedigree/registry
  serving:
    name: pets-segmentation
    image: pedigree-serve:0.1.0
    storage_uri: s3://pedigree/registry
"""
WORKERS = 4
ROUNDS = 20


@pytest.fixture
def served(checked: Path, tmp_path: Path) -> Path:
    """A checked project whose registry holds v1..v4 (v4 champion) and its manifest."""
    with (checked / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    registry = Registry(checked / ".pedigree" / "registry")
    for content, score in ((b"one", 0.5), (b"two", 0.6), (b"three", 0.7), (b"four", 0.8)):
        registry.release(make_candidate(tmp_path / "models", content, score), better)
    models_api.write_manifest(checked)
    return checked


def manifest(root: Path) -> Path:
    return serving_manifest_path(root, "pets")


def expected(root: Path) -> str:
    """The manifest text the registry's champion gives."""
    champion = Registry(root / ".pedigree" / "registry", create=False).champion()
    assert champion is not None
    return render_serving_manifest("pets", champion, serving_settings(root / "params.yaml"))


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
    history = Registry(served / ".pedigree" / "registry").history()
    assert len([e for e in history if e.kind in ("manual-promote", "rolled-back")]) > ROUNDS


def test_the_manifest_is_written_while_the_registry_is_locked(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", timeout=0.1)
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better)
    seen: list[tuple[int, str]] = []

    def writer(champion: ModelVersion) -> None:
        # another writer cannot get in while the champion is being published
        other = sqlite3.connect(registry.database, timeout=0.05, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        seen.append((champion.version, champion.status))

    registry.release(make_candidate(tmp_path / "m", b"two", 0.9), better, on_champion=writer)
    registry.release(make_candidate(tmp_path / "m", b"three", 0.1), better, on_champion=writer)
    registry.promote(1, "", "bob", on_champion=writer)
    registry.rollback("", "bob", on_champion=writer)
    registry.publish(writer)
    # a rejected release still re-publishes the unchanged champion
    assert seen == [(2, "champion"), (2, "champion"), (1, "champion"), (2, "champion")] + [
        (2, "champion")
    ]


def test_a_failing_manifest_write_leaves_the_champion_unchanged(served: Path) -> None:
    target = manifest(served)
    target.unlink()
    target.mkdir()  # a folder where the file belongs: the write fails
    with pytest.raises(RegistryError, match=r"cannot write the serving manifest .*pets\.yaml"):
        models_api.promote(served, 2, "try")
    with pytest.raises(RegistryError, match=r"cannot write the serving manifest"):
        models_api.rollback(served, "try")
    registry = Registry(served / ".pedigree" / "registry")
    champion = registry.champion()
    assert champion is not None and champion.version == 4
    assert [e.kind for e in registry.history()][-1] == "promoted"  # no event recorded either


def test_check_passes_when_the_manifest_serves_the_champion(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, items = check_items(served, capsys)
    assert code == 0, items
    assert items["serving"]["ok"] is True
    assert (
        items["serving"]["message"]
        == "cluster-conf/serving/pets.yaml serves the registry's champion v4"
    )


def test_check_reports_a_manifest_naming_another_model(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry(served / ".pedigree" / "registry")
    v2 = registry.get(2)
    settings = serving_settings(served / "params.yaml")
    manifest(served).write_text(render_serving_manifest("pets", v2, settings), encoding="utf-8")
    code, items = check_items(served, capsys)
    assert code == 3
    item = items["serving"]
    assert item["ok"] is False
    assert item["message"] == (
        f"cluster-conf/serving/pets.yaml serves model {v2.model_sha256[:12]} (v2), not the "
        f"registry's champion v4 ({registry.get(4).model_sha256[:12]})"
    )
    assert item["hint"] == (
        "run `pedigree models manifest` to rewrite it for the champion v4, then commit "
        "cluster-conf/serving/pets.yaml"
    )
    # the suggested fix works and changes nothing in the registry
    before = [e.id for e in registry.history()]
    assert main(["-C", str(served), "models", "manifest"]) == 0
    assert "champion is v4" in capsys.readouterr().out
    assert [e.id for e in registry.history()] == before
    assert check_items(served, capsys)[0] == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", r"^cluster-conf/serving/pets\.yaml is missing: champion v4 is not served$"),
        ("edited", r"differs from the manifest of champion v4 with release\.serving"),
        ("foreign", r"serves an unknown model, not the registry's champion v4"),
        ("settings", r"differs from the manifest of champion v4 with release\.serving"),
    ],
)
def test_check_reports_each_kind_of_disagreement(
    served: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    path = manifest(served)
    if damage == "missing":
        path.unlink()
    elif damage == "edited":
        path.write_text(path.read_text(encoding="utf-8").replace("replicas: 1", "replicas: 3"))
    elif damage == "foreign":
        path.write_text("apiVersion: v1\nkind: Service\n", encoding="utf-8")
    else:
        params = served / "params.yaml"
        params.write_text(params.read_text(encoding="utf-8") + "    replicas: 2\n")
    code, items = check_items(served, capsys)
    assert code == 3
    assert items["serving"]["ok"] is False
    assert items["serving"]["hint"].startswith("run `pedigree models manifest`")
    assert re.search(message, items["serving"]["message"]), items["serving"]["message"]


def test_check_without_a_registry_has_no_serving_item(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, items = check_items(checked, capsys)
    assert code == 0 and "serving" not in items
    assert not (checked / ".pedigree" / "registry").exists()  # check created nothing


def test_check_reports_a_manifest_while_the_registry_has_no_champion(
    checked: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with (checked / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    registry = Registry(checked / ".pedigree" / "registry")
    registry.register(make_candidate(tmp_path / "m", b"one"))
    code, items = check_items(checked, capsys)
    assert code == 0 and items["serving"]["message"].startswith("no champion")
    manifest(checked).parent.mkdir(parents=True)
    manifest(checked).write_text("# stale\n", encoding="utf-8")
    code, items = check_items(checked, capsys)
    assert code == 3
    assert re_match(r"serves a model, but the registry at .* has no champion", items["serving"])


def re_match(pattern: str, item: dict[str, object]) -> bool:
    return item["ok"] is False and re.search(pattern, str(item["message"])) is not None


def test_models_manifest_without_a_champion_is_refused(
    checked: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with (checked / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    Registry(checked / ".pedigree" / "registry").register(make_candidate(tmp_path / "m", b"x"))
    assert main(["-C", str(checked), "models", "manifest"]) == 2
    assert "has no champion to serve" in capsys.readouterr().err
    assert not manifest(checked).exists()


def test_models_manifest_json(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest(served).unlink()
    capsys.readouterr()
    assert main(["-C", str(served), "models", "manifest", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["action"] == "manifest" and data["champion_after"]["version"] == 4
    assert served_model(manifest(served).read_text(encoding="utf-8"))[0] == 4


def test_the_release_stage_writes_the_manifest_before_its_decision_commits(
    tmp_path: Path,
) -> None:
    from tests.unit.stages.release.test_release_main import Project

    proj = Project(tmp_path / "proj")
    proj.model(b"first", 0.8)
    proj.release()
    assert served_model(proj.manifest.read_text(encoding="utf-8"))[0] == 1
    proj.manifest.unlink()
    proj.manifest.mkdir()  # the manifest cannot be written: the promotion must not commit
    proj.model(b"second", 0.9)
    with pytest.raises(RegistryError, match=r"cannot write the serving manifest"):
        proj.release()
    registry = proj.registry
    champion = registry.champion()
    assert champion is not None and champion.version == 1
    assert [e.kind for e in registry.history()] == ["registered", "promoted"]
    proj.manifest.rmdir()
    assert proj.release()["decision"] == "promoted"  # the same release, once it can serve
    assert served_model(proj.manifest.read_text(encoding="utf-8"))[0] == 2
