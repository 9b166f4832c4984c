"""The text tree, JSON and dot renderings of a lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pydot
import pytest

from pedigree.lineage.formats import flat, render_dot, render_json, render_tree, short
from pedigree.lineage.record import Artifact, Container
from pedigree.lineage.trace import Lineage, trace
from tests.unit.lineage.conftest import (
    COMMIT,
    MODEL,
    PREPARED,
    RAW,
    RUN_IDS,
    TinyProject,
    environment,
    records,
    write_project,
)


def model_lineage(tiny: TinyProject) -> Lineage:
    return trace(tiny.root, tiny.lock, "models/model.keras")


def test_tree_shows_every_step_with_code_environment_params_and_hashes(tiny: TinyProject) -> None:
    text = render_tree(model_lineage(tiny))
    lines = text.splitlines()

    assert lines[0] == "models/model.keras  made by stage train"
    assert lines[1] == f"train  run {RUN_IDS['train']}  succeeded"
    assert "  time:    2024-05-01T10:02:00.000Z -> 2024-05-01T10:02:30.000Z" in lines
    assert (
        f"  code:    git {COMMIT[:12]} (dirty: uncommitted changes); stages/train 777777777777.dir"
        in lines
    )
    assert (
        "  env:     python 3.11.9, lock images/train/requirements.lock sha256 555555555555, "
        "numpy 1.26.4, tensorflow-cpu 2.16.1" in lines
    )
    assert "  params:  determinism.seed=1234, train.epochs=2" in lines
    assert f"  outputs: models/model.keras {MODEL[:12]}" in lines
    assert (
        f"  ├─ data/prepared/train {short(records()['train'].inputs[0].md5)}  "
        "(in data/prepared, from transform)" in lines
    )
    # transform is drawn once, under its first use, indented; the second use points back.
    assert f"  │  transform  run {RUN_IDS['transform']}  succeeded" in lines
    assert (
        "  ├─ data/prepared/stats.json dddddddddddd  (in data/prepared, from transform)  "
        "(run shown above)" in lines
    )
    assert text.count(f"transform  run {RUN_IDS['transform']}") == 1
    assert f"  │    outputs: data/prepared {PREPARED[:12]}.dir" in lines
    assert f"  │    └─ data/raw {RAW[:12]}.dir  (from ingest)" in lines
    assert "  │         source:  synthetic data set (count=48, seed=42)" in lines
    assert "  └─ data/labels.csv cccccccccccc  (raw input, no stage produces it)" in lines
    assert lines[-3:] == [
        "sources:",
        "  raw input data/labels.csv md5 cccccccccccc (no stage produces it)",
        "  synthetic data set (count=48, seed=42)",
    ]


def test_tree_marks_stale_links_and_shows_the_container(tmp_path: Path) -> None:
    recs = records()
    recs["ingest"] = recs["ingest"].model_copy(
        update={"outputs": [Artifact(path="data/raw", md5="1" * 32 + ".dir", size=1, nfiles=1)]}
    )
    image = Container(image="ghcr.io/acme/transform:1", digest="sha256:" + "ab" * 32)
    recs["transform"] = recs["transform"].model_copy(
        update={"environment": environment(container=image)}
    )
    project = write_project(tmp_path / "p", recs)

    text = render_tree(trace(project.root, project.lock, "data/prepared"))

    assert (
        f"  └─ data/raw {RAW[:12]}.dir  (from ingest)  [STALE: the producer's output has changed since]"
        in text.splitlines()
    )
    assert f"image ghcr.io/acme/transform:1@sha256:{'ab' * 32}" in text


def test_tree_cuts_long_params_and_points_to_json(tmp_path: Path) -> None:
    recs = records()
    many = {f"k{i:02d}": i for i in range(13)}
    recs["train"] = recs["train"].model_copy(update={"params": {"train": many}})
    project = write_project(tmp_path / "p", recs)

    text = render_tree(trace(project.root, project.lock, "models/model.keras"))

    assert (
        "  params:  train.k00=0, train.k01=1, train.k02=2, train.k03=3, train.k04=4, "
        "train.k05=5, train.k06=6, train.k07=7, train.k08=8, train.k09=9, ... (3 more: --format json)"
        in text.splitlines()
    )


def test_json_is_stable_and_complete(tiny: TinyProject) -> None:
    lineage = model_lineage(tiny)
    text = render_json(lineage)
    data = json.loads(text)

    assert text == render_json(model_lineage(tiny))
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert (data["target"], data["output"], data["stage"]) == (
        "models/model.keras",
        "models/model.keras",
        "train",
    )
    assert [s["stage"] for s in data["steps"]] == ["train", "transform", "ingest"]
    train = data["steps"][0]
    assert train["run_id"] == RUN_IDS["train"]
    assert train["code"]["git_dirty"] is True
    assert train["environment"]["lock"]["sha256"] == "5" * 64
    assert train["params"] == {"train": {"epochs": 2}, "determinism": {"seed": 1234}}
    assert train["inputs"][0] == {
        "path": "data/prepared/train",
        "md5": records()["train"].inputs[0].md5,
        "producer": "transform",
        "within": "data/prepared",
        "state": "current",
    }
    assert [a["path"] for a in train["code_and_environment_inputs"]] == [
        "stages/train",
        "images/train/requirements.lock",
    ]
    assert train["outputs"] == [
        {"path": "models/model.keras", "md5": MODEL, "size": 4000, "nfiles": None, "kind": "data"}
    ]
    assert data["sources"][1] == {
        "kind": "synthetic",
        "location": "synthetic",
        "stage": "ingest",
        "sha256": None,
        "md5": None,
        "settings": {"count": 48, "seed": 42},
    }


@pytest.mark.filterwarnings("ignore:'setParseAction' deprecated")  # pydot's parser
def test_dot_parses_and_links_datasets_runs_and_sources(tiny: TinyProject) -> None:
    text = render_dot(model_lineage(tiny))

    assert text == render_dot(model_lineage(tiny))
    (graph,) = pydot.graph_from_dot_data(text)
    names = {n.get_name().strip('"') for n in graph.get_nodes()} - {"node"}
    assert names == {
        "data:data/labels.csv@" + "c" * 32,
        "data:data/prepared/stats.json@" + "d" * 32,
        f"data:data/prepared/train@{records()['train'].inputs[0].md5}",
        f"data:data/prepared@{PREPARED}",
        f"data:data/raw@{RAW}",
        f"data:models/model.keras@{MODEL}",
        f"run:ingest:{RUN_IDS['ingest']}",
        f"run:transform:{RUN_IDS['transform']}",
        f"run:train:{RUN_IDS['train']}",
        "source:ingest:synthetic",
    }
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in graph.get_edges()}
    assert (f"run:train:{RUN_IDS['train']}", f"data:models/model.keras@{MODEL}") in edges
    assert (f"data:data/raw@{RAW}", f"run:transform:{RUN_IDS['transform']}") in edges
    assert ("source:ingest:synthetic", f"run:ingest:{RUN_IDS['ingest']}") in edges
    assert (
        f"data:data/prepared@{PREPARED}",
        f"data:data/prepared/train@{records()['train'].inputs[0].md5}",
    ) in edges
    assert len(edges) == 10


def test_flat_and_short() -> None:
    assert flat({"b": {"y": 1, "x": [1]}, "a": None}) == [("a", None), ("b.x", [1]), ("b.y", 1)]
    assert short("0123456789abcdef0123456789abcdef.dir") == "0123456789ab.dir"
    assert short(None) == "-"
