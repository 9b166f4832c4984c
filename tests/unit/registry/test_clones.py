"""Two clones promote different models from the same champion; git merges their logs.

Real git in tmp_path: the merge has no conflict, the replay gives one champion, the other
promotion shows as superseded, and `pedigree check` passes only when the serving manifest names
the replayed champion. Also: a damaged event file fails `check` and `audit` with its name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pedigree.api import models as models_api
from pedigree.cli.main import main
from pedigree.registry.events import events_dir
from tests.unit.conftest import check_items
from tests.unit.registry.serving_data import add_serve_section
from tests.unit.registry.test_store import GATE, better, make_candidate, never, open_registry

RELEASE = """\
release:
  registry: registry/pets
  serving:
    name: pets-segmentation
    image: pedigree/serve:0.1.0
    remote: s3://pedigree/dvc
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def origin(checked: Path, tmp_path: Path) -> Path:
    """A committed project whose registry has v1 champion and v2 registered (rejected)."""
    with (checked / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    add_serve_section(checked)
    registry = open_registry(checked, checked / "registry" / "pets")
    registry.release(make_candidate(tmp_path / "m", b"one", 0.5), better, GATE)
    registry.release(make_candidate(tmp_path / "m", b"two", 0.4), better, GATE)
    models_api.write_manifest(checked)
    (checked / ".gitignore").write_text(".pedigree/\n", encoding="utf-8")
    git(checked, "init", "-q", "-b", "main")
    git(checked, "add", "-A")
    git(checked, "commit", "-q", "-m", "v1 champion, v2 rejected")
    return checked


def clone(origin: Path, where: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(where))
    return where


def test_merged_promotions_give_one_champion_and_a_superseded_one(
    origin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    # clone B registers v3 (a release it rejects), then both promote by hand from v1
    open_registry(b, b / "registry" / "pets").release(
        make_candidate(tmp_path / "m", b"three", 0.3), never, GATE
    )
    assert main(["-C", str(a), "models", "promote", "v2", "--reason", "A wants v2"]) == 0
    assert main(["-C", str(b), "models", "promote", "v3", "--reason", "B wants v3"]) == 0
    for repo, message in ((a, "promote v2"), (b, "promote v3")):
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)
    merge = subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "pull",
            "-q",
            "--no-rebase",
            "--no-edit",
            str(b),
            "main",
        ],
        cwd=a,
        capture_output=True,
        text=True,
    )  # merge B into A
    # the event logs merge without a conflict; only the derived manifest differs on both sides
    conflicts = git(a, "diff", "--name-only", "--diff-filter=U").split()
    assert conflicts == (["cluster-conf/serving/pets.yaml"] if merge.returncode else [])
    capsys.readouterr()
    assert main(["-C", str(a), "models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in data["versions"]] == [1, 2, 3]
    assert [v["status"] for v in data["versions"]].count("champion") == 1
    champion = data["champion"]
    assert len(data["superseded"]) == 1
    loser = data["superseded"][0]
    assert loser["kind"] == "manual-promote" and loser["version"] != champion
    assert loser["previous_champion"] == 1
    assert main(["-C", str(a), "models", "list"]) == 0
    assert f"superseded: v{loser['version']}'s manual promotion from v1" in capsys.readouterr().out
    # the merged manifest (with conflict markers, or one side's) does not serve the champion
    code, items = check_items(a, capsys)
    assert code == 3 and not items["serving"]["ok"]
    assert main(["-C", str(a), "models", "manifest"]) == 0
    code, items = check_items(a, capsys)
    assert items["serving"]["ok"], items["serving"]
    assert f"champion v{champion}" in items["serving"]["message"]
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "merge B: v3's promotion superseded")
    assert git(a, "status", "--porcelain") == ""


def test_check_fails_when_the_manifest_names_another_model(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_items(origin, capsys)[1]["serving"]["ok"]
    registry = open_registry(origin, origin / "registry" / "pets")
    registry.promote(2, "by hand, without the manifest", "alice")  # no on_champion: stale
    code, items = check_items(origin, capsys)
    assert code == 3 and not items["serving"]["ok"]
    assert "not the registry's champion v2" in items["serving"]["message"]
    assert "pedigree models manifest" in items["serving"]["hint"]


def test_a_damaged_event_fails_check_and_audit_with_its_name(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = sorted(events_dir(origin / "registry" / "pets").iterdir())[1]
    first.write_text(first.read_text(encoding="utf-8").replace("true", "false", 1))
    code, items = check_items(origin, capsys)
    assert code == 3 and not items["serving"]["ok"]
    assert first.name in items["serving"]["message"]
    assert main(["-C", str(origin), "audit", "--check", "champions", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)["checks"][0]
    assert result["status"] == "fail" and first.name in result["findings"][0]["where"]


def test_check_flags_a_stale_or_missing_serving_kustomization(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = origin / "cluster-conf" / "serving" / "kustomization.yaml"
    listing.write_text(listing.read_text(encoding="utf-8").replace("pets.yaml", "old.yaml"))
    code, items = check_items(origin, capsys)
    assert code == 3 and not items["serving"]["ok"]
    assert items["serving"]["message"] == (
        "cluster-conf/serving/kustomization.yaml is stale: it must list pets.yaml "
        "(the overlays sync what it lists)"
    )
    assert "pedigree models manifest" in items["serving"]["hint"]
    listing.unlink()
    code, items = check_items(origin, capsys)
    assert "kustomization.yaml is missing" in items["serving"]["message"]
    assert main(["-C", str(origin), "models", "manifest"]) == 0
    assert check_items(origin, capsys)[1]["serving"]["ok"]


def test_check_names_what_changed_the_manifest(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = origin / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8") + "    replicas: 3\n", encoding="utf-8")
    code, items = check_items(origin, capsys)
    assert code == 3 and not items["serving"]["ok"]
    assert (
        "differs from the manifest of champion v1 with release.serving"
        in (items["serving"]["message"])
    )
    spec = origin / "pipelines" / "pets.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").split("  serve:\n")[0], encoding="utf-8")
    code, items = check_items(origin, capsys)
    assert code == 3 and items["serving"]["message"] == "the spec has nothing to serve with"
    assert "[spec.serve]: pipeline 'pets' has no 'serve' section" in items["serving"]["details"][0]
