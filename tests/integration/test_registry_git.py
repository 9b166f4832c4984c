"""The model registry in git (issue 14), end to end with real dvc and git.

Two runs: the first release (v1 promoted: the shared ran template, built once per test run) and,
on a copy of it, a second model the gate rejects (v2, built once per module). Every test works
on a copy or a `git clone` of them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import (
    ALL_STAGES,
    BIN,
    commit_all,
    pedigree,
    run_outcomes,
    set_params,
    sh,
)
from tests.integration.template import FIRST_RUN_CHANGED, FIRST_RUN_STDOUT

pytestmark = pytest.mark.integration

REGISTRY = "registry/pets"
RELEASE_JSON = "models/release/release.json"
GIT_ADD = "git add "


@dataclass(frozen=True)
class Ran:
    """A committed project after a `pedigree run`, with what that run printed and changed."""

    root: Path
    stdout: str
    changed: tuple[str, ...]  # `git status --porcelain -uall` paths before the commit


def run_and_commit(root: Path, message: str) -> Ran:
    result = pedigree(root, "run")
    return Ran(root, result.stdout, commit_all(root, message))


@pytest.fixture(scope="module")
def first_release(ran_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """The tiny pets project after its first run (v1 promoted), committed: the shared ran
    template, with what its first run printed and changed."""
    root = tmp_path_factory.mktemp("registry-git") / "pets"
    shutil.copytree(ran_template, root, symlinks=True)
    stdout = (ran_template.parent / FIRST_RUN_STDOUT).read_text(encoding="utf-8")
    changed = (ran_template.parent / FIRST_RUN_CHANGED).read_text(encoding="utf-8")
    return Ran(root, stdout, tuple(changed.splitlines()))


@pytest.fixture(scope="module")
def two_versions(first_release: Ran, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """The first release, then a second model (one more epoch) that the gate rejects."""
    root = tmp_path_factory.mktemp("registry-git-v2") / "pets"
    shutil.copytree(first_release.root, root, symlinks=True)
    set_params(
        root, {"train": {"epochs": 3}, "release": {"thresholds": {"mean_iou": {"min": 0.99}}}}
    )
    return run_and_commit(root, "second model, rejected")


def copy_of(ran: Ran, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(ran.root, target, symlinks=True)
    return target


def fresh_clone(ran: Ran, tmp_path: Path) -> Path:
    """`git clone` of the project, sharing its DVC cache (as a DVC remote would provide it)."""
    target = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(ran.root), str(target))
    cache = ran.root / ".dvc" / "cache"
    sh(target, str(BIN / "dvc"), "config", "--local", "cache.dir", str(cache))
    return target


def events(root: Path) -> list[str]:
    """The registry's event file names, in replay order."""
    return sorted(p.name for p in (root / REGISTRY / "events").iterdir())


def kinds(root: Path) -> list[str]:
    """The kind of each event, in replay order (`<time>-<kind>-<digest>.json`)."""
    return [name.split("-", 1)[1].rsplit("-", 1)[0] for name in events(root)]


def porcelain(root: Path) -> str:
    return sh(root, "git", "status", "--porcelain", "--untracked-files=all").stdout


def listing(root: Path) -> dict:
    """`pedigree models list --json` without the registry's absolute path."""
    found = json.loads(pedigree(root, "models", "list", "--json").stdout)
    found.pop("registry")
    return found


def statuses(root: Path) -> dict[int, str]:
    return {v["version"]: v["status"] for v in listing(root)["versions"]}


def served_sha(root: Path) -> str:
    text = (root / "cluster-conf" / "serving" / "pets.yaml").read_text(encoding="utf-8")
    deployment = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment")
    return deployment["metadata"]["annotations"]["pedigree.dev/model-sha256"]


def only(*ran: str) -> dict[str, str]:
    return {stage: "ran" if stage in ran else "skipped" for stage in ALL_STAGES}


def git_add_paths(stdout: str) -> list[str]:
    (line,) = [line for line in stdout.splitlines() if GIT_ADD in line]
    return line.split(GIT_ADD, 1)[1].split()


def test_the_first_release_writes_its_events_and_a_rerun_adds_nothing(
    first_release: Ran, tmp_path: Path
) -> None:
    root = copy_of(first_release, tmp_path)
    assert kinds(root) == ["registered", "promoted"]
    assert statuses(root) == {1: "champion"}
    before = events(root)
    assert run_outcomes(root) == only()
    assert events(root) == before
    assert porcelain(root) == ""


def test_the_run_names_the_registry_in_its_git_add_line(
    first_release: Ran, two_versions: Ran
) -> None:
    for ran in (first_release, two_versions):
        named = git_add_paths(ran.stdout)
        assert REGISTRY in named, ran.stdout
        new_events = [p for p in ran.changed if p.startswith(f"{REGISTRY}/events/")]
        assert len(new_events) == 2, ran.changed  # registered + promoted, registered + rejected
        for path in new_events:
            assert any(path == n or path.startswith(n.rstrip("/") + "/") for n in named), path


def test_promote_and_rollback_rerun_release_which_writes_nothing_new(
    two_versions: Ran, tmp_path: Path
) -> None:
    root = copy_of(two_versions, tmp_path)
    assert statuses(root) == {1: "champion", 2: "rejected"}
    v1, v2 = (v["model_sha256"] for v in listing(root)["versions"])
    release = (root / RELEASE_JSON).read_bytes()

    pedigree(root, "models", "promote", "2", "--reason", "reviewed by hand")
    assert served_sha(root) == v2
    logged = events(root)
    assert kinds(root)[-1] == "manual-promote"
    # the registry is a dependency of release by content: it re-runs, finds its decision in
    # the log, and writes no event and the same release.json
    assert run_outcomes(root) == only("release")
    assert events(root) == logged
    assert (root / RELEASE_JSON).read_bytes() == release
    assert served_sha(root) == v2
    assert statuses(root) == {1: "retired", 2: "champion"}
    assert pedigree(root, "check", "--no-env").returncode == 0

    rolled = json.loads(pedigree(root, "models", "rollback", "--reason", "bad", "--json").stdout)
    assert rolled["champion_after"]["version"] == 1
    assert served_sha(root) == v1
    logged = events(root)
    assert kinds(root)[-1] == "rolled-back"
    assert run_outcomes(root) == only("release")
    assert events(root) == logged
    assert (root / RELEASE_JSON).read_bytes() == release
    assert statuses(root) == {1: "champion", 2: "rolled-back"}
    assert pedigree(root, "check", "--no-env").returncode == 0
    assert run_outcomes(root) == only()


def test_a_fresh_clone_runs_nothing_and_lists_the_same_versions(
    two_versions: Ran, tmp_path: Path
) -> None:
    clone = fresh_clone(two_versions, tmp_path)
    outcomes = run_outcomes(clone)
    # outputs kept in DVC come back from the cache; nothing is computed, release is up to date
    assert "ran" not in outcomes.values(), outcomes
    assert outcomes["release"] == "skipped"
    assert porcelain(clone) == ""
    assert listing(clone) == listing(two_versions.root)
    assert statuses(clone) == {1: "champion", 2: "rejected"}
    assert run_outcomes(clone) == only()
    assert porcelain(clone) == ""


def test_verify_release_passes_in_a_fresh_clone(two_versions: Ran, tmp_path: Path) -> None:
    clone = fresh_clone(two_versions, tmp_path)
    result = pedigree(clone, "verify", "release", "--json")
    found = json.loads(result.stdout)
    assert result.returncode == 0 and found["ok"], found
    (stage,) = found["stages"]
    assert stage["stage"] == "release" and stage["replayed"] and stage["identical"], stage
    assert [o["path"] for o in stage["outputs"] if o["identical"]] == [RELEASE_JSON]
    # the registry is replayed as the clone's working tree holds it
    assert {i["path"]: i["from"] for i in stage["inputs"]}[REGISTRY] == "workspace"
    assert porcelain(clone) == ""


def test_a_tampered_event_file_is_detected(two_versions: Ran, tmp_path: Path) -> None:
    clone = fresh_clone(two_versions, tmp_path)
    name = next(n for n in events(clone) if "-promoted-" in n)
    path = clone / REGISTRY / "events" / name
    raw = path.read_bytes()
    at = raw.index(b'"actor": "') + len(b'"actor": "')
    path.write_bytes(raw[:at] + (b"X" if raw[at : at + 1] != b"X" else b"Y") + raw[at + 1 :])
    assert porcelain(clone) == f" M {REGISTRY}/events/{name}\n"

    checked = pedigree(clone, "check", "--no-env", check=False)
    assert checked.returncode == 3, checked.stdout + checked.stderr
    failing = [line for line in checked.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and "serving" in failing[0] and name in failing[0], checked.stdout
    assert "edited after it was written" in checked.stdout

    audited = pedigree(clone, "audit", "--check", "champions", check=False)
    assert audited.returncode == 1, audited.stdout + audited.stderr
    assert "FAIL champions" in audited.stdout and name in audited.stdout

    listed = pedigree(clone, "models", "list", check=False)
    assert listed.returncode == 2 and name in listed.stderr
    # release depends on the log: the run re-runs it, which refuses the log, naming the file,
    # and leaves its previous outputs in place
    ran = pedigree(clone, "run", check=False)
    assert ran.returncode == 1 and name in ran.stderr
    assert porcelain(clone) == f" M {REGISTRY}/events/{name}\n"


def test_audit_passes_lineage_records_after_releases_that_wrote_events(
    first_release: Ran, two_versions: Ran, tmp_path: Path
) -> None:
    for number, ran in enumerate((first_release, two_versions)):
        root = copy_of(ran, tmp_path / str(number))
        result = pedigree(root, "audit", "--check", "lineage-records", "--json", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["ok"] is True
        # the record hashes the registry as the run left it (with the events release wrote),
        # as dvc.lock does
        record = json.loads((root / "lineage" / "release.json").read_text(encoding="utf-8"))
        (recorded,) = [i for i in record["inputs"] if i["path"] == REGISTRY]
        lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
        (locked,) = [d for d in lock["stages"]["release"]["deps"] if d["path"] == REGISTRY]
        assert recorded["md5"] == locked["md5"]
        assert recorded["nfiles"] == len(events(root)) + 1  # the events and README.md
