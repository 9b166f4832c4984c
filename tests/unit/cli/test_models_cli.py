"""`pedigree models`: list, show, promote and rollback through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pedigree.bundle import ServeBundle
from pedigree.cli.main import main
from pedigree.cli.models import GIT_HINT
from pedigree.registry.bundle import remote_object_uri
from pedigree.registry.store import Registry
from tests.conftest import make_project
from tests.unit.registry.serving_data import add_serve_section
from tests.unit.registry.test_store import GATE, better, make_candidate, open_registry

RELEASE = """\
release:
  registry: registry/pets
  serving:
    name: pets-segmentation
    namespace: pedigree
    image: pedigree/serve:0.1.0
    remote: s3://pedigree/dvc
    replicas: 1
    port: 8080
"""


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A project whose registry holds v1 (retired), v2 (champion) and v3 (rejected)."""
    root = make_project(tmp_path / "proj")
    with (root / "params.yaml").open("a", encoding="utf-8") as handle:
        handle.write(RELEASE)
    add_serve_section(root)
    registry = open_registry(root, root / "registry" / "pets")
    for content, score in ((b"one", 0.5), (b"two", 0.7), (b"three", 0.6)):
        registry.release(make_candidate(tmp_path / "models", content, score), better, GATE)
    return root


def store(proj: Path) -> Registry:
    return open_registry(proj, proj / "registry" / "pets")


def run(proj: Path, *args: str) -> int:
    return main(["-C", str(proj), "models", *args])


def test_list_marks_the_champion(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(proj, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "VERSION",
        "STATUS",
        "SHA256",
        "MEAN_IOU",
        "ECE(CAL)",
        "REGISTERED",
        "COMMIT",
    ]
    sha2 = make_candidate(proj / "x", b"two").model_sha256
    row2 = lines[2].split()
    assert row2[:4] == ["v2", "*", "champion", sha2[:12]]
    assert row2[4:6] == ["0.7000", "0.0200"] and row2[-1] == "0123456789"
    assert lines[1].split()[:2] == ["v1", "retired"]
    assert lines[3].split()[:2] == ["v3", "rejected"]


def test_list_json_is_stable_and_complete(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(proj, "list", "--json") == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["champion"] == 2
    assert [v["version"] for v in data["versions"]] == [1, 2, 3]
    assert set(data["versions"][0]) >= {"model_sha256", "scores", "lineage", "environment"}
    assert out == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["registry"] == str((proj / "registry" / "pets").resolve())
    assert data["superseded"] == []


def test_show_prints_every_field_and_history(
    proj: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "show", "v3") == 0
    out = capsys.readouterr().out
    assert out.startswith("v3  rejected\n")
    assert "  scores per test split:\n    aaaaaaaa" in out
    assert "temperature: 1.27" in out and "keras: 3.6.0" in out
    assert "#6 rejected v3 by release (champion was v2)" in out
    assert "FAIL champion/challenger: 0.6 vs 0.7" in out


def test_show_json(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(proj, "show", "2", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"]["version"] == 2 and data["version"]["status"] == "champion"
    assert [e["kind"] for e in data["history"]] == [
        "registered",
        "promoted",
        "registered",  # v3 registered while v2 was champion
        "rejected",
    ]
    model = data["version"]["files"]["model"]
    assert model["sha256"] == make_candidate(proj / "x", b"two").model_sha256
    # kept from the old output: where the model lives in this project (a DVC output now)
    assert data["artifact_path"] == str(proj / data["version"]["artifact"])
    assert set(model) == {"path", "md5", "size", "sha256"}


def test_promote_writes_the_serving_manifest(
    proj: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "promote", "v1", "--reason", "compare in production") == 0
    out = capsys.readouterr().out
    manifest = proj / "cluster-conf" / "serving" / "pets.yaml"
    assert out == f"promoted v1 to champion (was v2)\nwrote {manifest}\n{GIT_HINT}\n"
    deployment, _ = yaml.safe_load_all(manifest.read_text(encoding="utf-8"))
    sha1 = make_candidate(proj / "x", b"one").model_sha256
    assert deployment["metadata"]["annotations"]["pedigree.dev/model-sha256"] == sha1
    # the server gets v1's bundle: the model by its content address in the DVC remote
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    bundle = ServeBundle.from_json(env["PEDIGREE_SERVE_BUNDLE"])
    assert (bundle.version, bundle.model_sha256, bundle.predictor) == (1, sha1, "stages.serve")
    assert bundle.model.uri == remote_object_uri("s3://pedigree/dvc", bundle.model.md5)
    listing = manifest.parent / "kustomization.yaml"
    assert listing.read_text(encoding="utf-8").endswith("resources:\n  - pets.yaml\n")
    history = store(proj).history()
    assert (history[-1].kind, history[-1].note) == ("manual-promote", "compare in production")


def test_promote_json(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(proj, "promote", "3", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["champion_before"]["version"] == 2 and data["champion_after"]["version"] == 3
    assert data["manifest"].endswith("cluster-conf/serving/pets.yaml")


def test_rollback_restores_the_previous_champion(
    proj: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "rollback", "--reason", "bad in production") == 0
    out = capsys.readouterr().out
    assert out.startswith("rolled back v2; champion is now v1\n")
    text = (proj / "cluster-conf" / "serving" / "pets.yaml").read_text(encoding="utf-8")
    assert "model registry version 1," in text
    assert run(proj, "rollback", "--json") == 2
    captured = capsys.readouterr()
    assert (
        json.loads(captured.out)["error"] == "there is no earlier champion to roll back to from v1"
    )
    assert "hint: promote one by hand: `pedigree models promote VERSION`" in captured.err


def test_an_unknown_version_is_one_line_and_exit_2(
    proj: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "show", "v7") == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("error: no model version 7 in the registry at ")
    assert "hint: existing versions: v1, v2, v3" in err and "Traceback" not in err
    assert run(proj, "promote", "seven") == 2
    assert "error: 'seven' is not a model version" in capsys.readouterr().err


def test_promoting_the_champion_is_refused(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(proj, "promote", "v2") == 2
    assert "error: v2 is already the champion" in capsys.readouterr().err
    assert not (proj / "cluster-conf" / "serving" / "pets.yaml").exists()


def test_a_missing_registry_says_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "empty")
    assert run(root, "list") == 2
    err = capsys.readouterr().err
    assert f"error: no model registry at {(root / 'registry').resolve()}" in err
    assert (
        "hint: run the pipeline (`pedigree run`) to release a first model, or pass --registry"
        in err
    )
    assert not (root / ".pedigree").exists() and not (root / "registry").exists()


def test_registry_flag_overrides_params(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "list", "--registry", str(tmp_path / "nowhere"), "--json") == 2
    assert "no model registry at" in json.loads(capsys.readouterr().out)["error"]
    flag = str(proj / "registry" / "pets")
    assert main(["-C", str(tmp_path), "models", "list", "--registry", flag]) == 2  # no project
    assert "no pedigree project" in capsys.readouterr().err


def test_promote_with_invalid_serving_changes_nothing(
    proj: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = proj / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace("replicas: 1", "replicas: 0"))
    assert run(proj, "promote", "v1") == 2
    assert "[release.serving.replicas]" in capsys.readouterr().err
    assert store(proj).champion().version == 2  # type: ignore[union-attr]


def test_promote_without_a_serve_section_says_where_to_add_it(
    proj: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = proj / "pipelines" / "pets.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text[: text.index("  serve:\n")], encoding="utf-8")
    for args in (("promote", "v1"), ("rollback",), ("manifest",)):
        assert run(proj, *args) == 2
        err = capsys.readouterr().err
        assert "pipelines/pets.yaml:5 [spec.serve]: pipeline 'pets' has no 'serve' section" in err
        assert "add a 'serve:' section under 'spec:'" in err
    assert store(proj).champion().version == 2  # type: ignore[union-attr]
    assert not (proj / "cluster-conf" / "serving").exists()


@pytest.mark.parametrize(
    "command", ["list", "show", "get", "promote", "rollback", "manifest", "import"]
)
def test_every_models_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"pedigree models {command}" in out
