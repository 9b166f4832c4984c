"""cluster-conf/base/argo-workflows: upstream's files vendored byte-for-byte (UPSTREAM.json),
our changes only as patches, images pinned to the recorded tag, and vendor.py re-deriving the
files from upstream (against a git dir of argoproj/argo-workflows when one is available)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.unit.cluster_conf.builds import CLUSTER_CONF, OVERLAYS, kustomize, one

ARGO = CLUSTER_CONF / "base" / "argo-workflows"
SCRIPT = ARGO / "vendor.py"
# A git dir (or clone) of argoproj/argo-workflows; CI has no network, so without one the tests
# that need upstream itself skip. The fallback is where this project's tooling mirrors it.
SOURCE_ENV = "ARGO_WORKFLOWS_UPSTREAM"
DEFAULT_SOURCE = Path("/work/.mirror/argoproj+argo-workflows/repo")
PLANTED = (
    "upstream/manifests/namespace-install/workflow-controller-rbac/workflow-controller-role.yaml"
)


def _load_vendor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("argo_vendor", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


vendor = _load_vendor()
RECORD: dict[str, Any] = json.loads((ARGO / "UPSTREAM.json").read_text(encoding="utf-8"))
TAG: str = RECORD["tag"]


def _copy(tmp_path: Path) -> Path:
    """A copy of the vendored folder to plant changes in."""
    return Path(shutil.copytree(ARGO, tmp_path / "argo-workflows"))


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _upstream_source() -> Path:
    source = Path(os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE)
    if not source.is_dir():
        pytest.skip(f"no upstream checkout at {source}: set {SOURCE_ENV} to a git dir of it")
    return source


def _strings(node: object) -> list[str]:
    """Every string value anywhere in `node` (documents, lists, mappings)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


# --- always: the record, the files, the build ---------------------------------------------


def test_the_record_names_a_v4_1_tag_a_commit_and_every_file() -> None:
    assert RECORD["repository"] == "https://github.com/argoproj/argo-workflows"
    assert TAG.startswith("v4.1.")
    assert len(RECORD["commit"]) == 40 and int(RECORD["commit"], 16) >= 0
    assert [e["path"] for e in RECORD["files"]] == sorted(vendor.FILES)
    assert all(e["vendored_as"] == f"upstream/{e['path']}" for e in RECORD["files"])
    assert RECORD["images"] == {image: TAG for image in vendor.IMAGES}


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    assert vendor.verify(ARGO) == []
    assert vendor.main(["--verify"]) == 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_argo_images_are_pinned_to_the_recorded_tag(overlay: str) -> None:
    docs = kustomize(overlay)
    [container] = one(docs, "Deployment", "workflow-controller")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == f"quay.io/argoproj/workflow-controller:{TAG}"
    executor = [a for a in container["args"] if a.startswith("--executor-image=")]
    assert executor == [f"--executor-image=quay.io/argoproj/argoexec:{TAG}"]
    # Any other mention (a configmap, another container, a flag) is at the tag too.
    mentions = [s for s in _strings(docs) if any(image in s for image in vendor.IMAGES)]
    assert len(mentions) >= 2
    for text in mentions:
        for image in vendor.IMAGES:
            for after in text.split(image)[1:]:
                assert after.startswith(f":{TAG}"), text


def test_upstream_objects_reach_the_build_unchanged_but_for_our_patches() -> None:
    docs = kustomize("base")
    upstream = ARGO / "upstream" / "manifests"
    role = _load(
        upstream / "namespace-install/workflow-controller-rbac/workflow-controller-role.yaml"
    )
    assert one(docs, "Role", "argo-role")["rules"] == role["rules"]
    crds = sorted((upstream / "base/crds/minimal").glob("argoproj.io_*.yaml"))
    assert len(crds) == 8
    for path in crds:
        crd = _load(path)
        built = one(docs, "CustomResourceDefinition", crd["metadata"]["name"])
        assert built["spec"] == crd["spec"], path.name
        assert "annotations" not in built["metadata"], path.name
        # Client-side `kubectl apply` stores the object as JSON in an annotation limited to
        # 256 KiB: the CRDs must stay under it, or up.sh and Argo CD need server-side apply.
        size = len(json.dumps(crd, separators=(",", ":")))
        assert size < 262144 - 4096, f"{path.name}: {size} bytes"
    args = one(docs, "Deployment", "workflow-controller")["spec"]["template"]["spec"]["containers"][
        0
    ]["args"]
    assert args == ["--namespaced", f"--executor-image=quay.io/argoproj/argoexec:{TAG}"]


def test_nothing_outside_upstream_copies_an_upstream_file() -> None:
    # Our side holds kustomizations and patches only: no second copy of an upstream manifest.
    ours = [
        p.relative_to(ARGO).as_posix()
        for p in ARGO.rglob("*.yaml")
        if "upstream" not in p.relative_to(ARGO).parts
    ]
    assert sorted(ours) == [
        "crds/kustomization.yaml",
        "kustomization.yaml",
        "patches/workflow-controller-deployment.yaml",
    ]
    readme = (ARGO / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme and "/work/" not in readme and TAG in readme


# --- always: vendor.py's checks on planted changes ----------------------------------------


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        ("flip", "sha256 differs"),
        ("delete", "missing"),
        ("extra", "not recorded"),
    ],
)
def test_verify_catches_a_planted_change(tmp_path: Path, plant: str, message: str) -> None:
    root = _copy(tmp_path)
    target = root / PLANTED
    if plant == "flip":
        _flip_one_byte(target)
    elif plant == "delete":
        target.unlink()
    else:
        (root / "upstream" / "manifests" / "ours.yaml").write_text("kind: X\n", encoding="utf-8")
    problems = vendor.verify(root)
    assert len(problems) == 1 and message in problems[0]
    assert vendor.main(["--verify", "--root", str(root)]) == vendor.EXIT_STALE


def _plain_source(tmp_path: Path) -> Path:
    """A plain directory laid out like upstream (an unpacked archive), from the vendored copy."""
    return Path(shutil.copytree(ARGO / "upstream", tmp_path / "source"))


def test_check_against_a_plain_source_passes_and_catches_one_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, root = _plain_source(tmp_path), _copy(tmp_path)
    assert vendor.main(["--check", str(source), "--root", str(root)]) == 0
    assert "commit cannot be verified" in capsys.readouterr().err
    _flip_one_byte(source / PLANTED.removeprefix("upstream/"))
    assert vendor.main(["--check", str(source), "--root", str(root)]) == vendor.EXIT_STALE
    err = capsys.readouterr().err
    assert f"{PLANTED}: differs from {TAG}:" in err
    upstream_path = PLANTED.removeprefix("upstream/")
    assert f"UPSTREAM.json: `files` entries differ from upstream's: {upstream_path}" in err


def test_write_rederives_the_files_and_the_record(tmp_path: Path) -> None:
    source, root = _plain_source(tmp_path), _copy(tmp_path)
    _flip_one_byte(source / PLANTED.removeprefix("upstream/"))
    (root / "upstream" / "stale.yaml").write_text("kind: X\n", encoding="utf-8")
    assert vendor.main(["--write", str(source), "--root", str(root)]) == 0
    assert (root / PLANTED).read_bytes() == (
        source / PLANTED.removeprefix("upstream/")
    ).read_bytes()
    assert not (root / "upstream" / "stale.yaml").exists()
    assert vendor.main(["--check", str(source), "--root", str(root)]) == 0
    record = json.loads((root / "UPSTREAM.json").read_text(encoding="utf-8"))
    assert record["commit"] == RECORD["commit"] and record["files"] != RECORD["files"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--check", "missing-dir"], 2, "not a directory"),
        (["--check", "empty"], 2, "cannot read it"),
        (["--verify", "--tag", "v4.1.0"], 2, "--tag goes with --write only"),
    ],
)
def test_bad_sources_and_arguments_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    (tmp_path / "empty").mkdir()
    root = _copy(tmp_path)
    args = [str(tmp_path / a) if a in ("missing-dir", "empty") else a for a in args]
    assert vendor.main([*args, "--root", str(root)]) == code
    assert message in capsys.readouterr().err
    assert vendor.verify(root) == []  # nothing was written


# --- with upstream's git dir: the real re-derivation --------------------------------------


def test_check_against_upstream_passes() -> None:
    done = _run("--check", str(_upstream_source()))
    assert done.returncode == 0, done.stderr
    assert f"in sync with {TAG} ({RECORD['commit']})" in done.stdout


def test_check_against_upstream_fails_on_a_planted_byte(tmp_path: Path) -> None:
    source, root = _upstream_source(), _copy(tmp_path)
    _flip_one_byte(root / PLANTED)
    done = _run("--check", str(source), "--root", str(root))
    assert done.returncode == vendor.EXIT_STALE
    assert f"{PLANTED}: differs from {TAG}:" in done.stderr
    assert f"{PLANTED}: sha256 differs" in done.stderr


def test_check_against_upstream_refuses_a_commit_the_tag_does_not_name(tmp_path: Path) -> None:
    source, root = _upstream_source(), _copy(tmp_path)
    record = json.loads((root / "UPSTREAM.json").read_text(encoding="utf-8"))
    record["commit"] = "0" * 40
    (root / "UPSTREAM.json").write_text(json.dumps(record), encoding="utf-8")
    done = _run("--check", str(source), "--root", str(root))
    assert done.returncode == 2
    assert f"tag {TAG} names {RECORD['commit']}" in done.stderr


@pytest.mark.parametrize(
    "record",
    ["not json", '{"tag": "v4.1.2"}', '{"tag": "v4.1.2", "files": [{"path": "LICENSE"}]}'],
)
def test_a_broken_record_is_refused_with_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record: str
) -> None:
    root = _copy(tmp_path)
    (root / "UPSTREAM.json").write_text(record, encoding="utf-8")
    assert vendor.main(["--verify", "--root", str(root)]) == 2
    assert "restore it from git or run --write" in capsys.readouterr().err


def test_write_refuses_a_tag_upstream_does_not_have(tmp_path: Path) -> None:
    source, root = _upstream_source(), _copy(tmp_path)
    done = _run("--write", str(source), "--tag", "v0.0.0-none", "--root", str(root))
    assert done.returncode == 2
    assert "has no tag v0.0.0-none" in done.stderr
    assert (
        vendor.verify(root) == []
        and (root / "UPSTREAM.json").read_bytes() == (ARGO / "UPSTREAM.json").read_bytes()
    )
