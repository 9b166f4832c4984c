"""`pedigree lineage` on a real, tiny pipeline run, and the OpenLineage events its stages emitted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prov.model import ProvActivity, ProvDocument

from pedigree.lineage.store import EVENTS_FILE, read_current
from tests.integration.conftest import ALL_STAGES, pedigree
from tests.unit.lineage.olschema import SPEC_FILE, validate_event

pytestmark = pytest.mark.integration

UPSTREAM_OF_MODEL = {"train", "tune", "transform", "ingest"}


def lock_md5(root: Path, stage: str, path: str) -> str:
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    return next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == path)


def check_events(found: list[dict]) -> None:
    """Every event validates against the OpenLineage spec (when the shared copy is there)."""
    if not SPEC_FILE.is_file():
        return
    for event in found:
        assert validate_event(event) == [], (event["job"]["name"], event["eventType"])


@pytest.mark.filterwarnings("ignore:'setParseAction' deprecated")  # pydot's parser
def test_lineage_of_the_model_in_every_format(ran_project: Path) -> None:
    root = ran_project
    raw_md5 = lock_md5(root, "ingest", "data/raw")
    runs = {stage: read_current(root, stage).run_id for stage in UPSTREAM_OF_MODEL}

    tree = pedigree(root, "lineage", "models/model.keras").stdout
    assert tree.startswith("models/model.keras  made by stage train\ntrain  run ")
    for stage in UPSTREAM_OF_MODEL:
        assert f"{stage}  run {runs[stage]}  succeeded" in tree
    assert f"data/raw {raw_md5[:12]}.dir  (from ingest)" in tree
    assert "source:  synthetic data set (count=48, " in tree
    assert "STALE" not in tree and "not checked" not in tree

    data = json.loads(pedigree(root, "lineage", "models/model.keras", "--format", "json").stdout)
    assert {s["stage"] for s in data["steps"]} == UPSTREAM_OF_MODEL
    ingest = next(s for s in data["steps"] if s["stage"] == "ingest")
    assert ingest["outputs"][0]["path"] == "data/raw"
    assert ingest["outputs"][0]["md5"] == raw_md5
    assert ingest["inputs"] == []
    (source,) = data["sources"]
    assert (source["kind"], source["stage"], source["settings"]["count"]) == (
        "synthetic",
        "ingest",
        48,
    )
    # Links into data/prepared are checked against DVC's own cache listing: all current.
    states = {(s["stage"], i["path"]): i["state"] for s in data["steps"] for i in s["inputs"]}
    assert states[("train", "data/prepared/train")] == "current"
    assert set(states.values()) == {"current"}
    assert json.loads(pedigree(root, "lineage", "models/model.keras", "--json").stdout) == data

    lines = pedigree(root, "lineage", "models/model.keras", "--format", "openlineage").stdout
    exported = [json.loads(line) for line in lines.splitlines()]
    assert sorted((e["job"]["name"], e["eventType"]) for e in exported) == sorted(
        (f"pets.{stage}", kind) for stage in UPSTREAM_OF_MODEL for kind in ("START", "COMPLETE")
    )
    assert {e["run"]["runId"] for e in exported} == {runs[s] for s in UPSTREAM_OF_MODEL}
    check_events(exported)

    prov_text = pedigree(root, "lineage", "models/model.keras", "--format", "prov").stdout
    doc = ProvDocument.deserialize(content=prov_text, format="json")
    activities = {str(r.identifier) for r in doc.get_records() if isinstance(r, ProvActivity)}
    assert activities == {f"run:{runs[s]}" for s in UPSTREAM_OF_MODEL}

    import pydot

    dot = pedigree(root, "lineage", "models/model.keras", "--format", "dot").stdout
    (graph,) = pydot.graph_from_dot_data(dot)
    names = {n.get_name().strip('"') for n in graph.get_nodes()}
    assert f"data:data/raw@{raw_md5}" in names
    assert {f"run:{s}:{runs[s]}" for s in UPSTREAM_OF_MODEL} <= names


def test_a_path_inside_an_output_folder(ran_project: Path) -> None:
    data = json.loads(pedigree(ran_project, "lineage", "data/prepared/test", "--json").stdout)

    assert (data["target"], data["output"], data["stage"]) == (
        "data/prepared/test",
        "data/prepared",
        "transform",
    )
    assert [s["stage"] for s in data["steps"]] == ["transform", "ingest"]


def test_every_stage_emitted_start_and_complete_events(ran_project: Path) -> None:
    found = [
        json.loads(line)
        for line in (ran_project / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    ]

    for stage in ALL_STAGES:
        run_id = read_current(ran_project, stage).run_id
        kinds = [e["eventType"] for e in found if e["run"]["runId"] == run_id]
        assert kinds == ["START", "COMPLETE"], stage
        complete = next(
            e for e in found if e["run"]["runId"] == run_id and e["eventType"] == "COMPLETE"
        )
        assert complete["job"]["name"] == f"pets.{stage}"
    check_events(found)


def test_a_path_that_no_stage_outputs_fails_clearly(ran_project: Path) -> None:
    result = pedigree(ran_project, "lineage", "nope/x", check=False)

    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: 'nope/x' is not an output of any stage (nor inside one); outputs: data/prepared, data/raw,"
    )
    assert "hint: pass one of these outputs or a path inside an output folder" in result.stderr
    assert result.stdout == ""
