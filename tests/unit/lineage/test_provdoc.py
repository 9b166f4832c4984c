"""The W3C PROV rendering: parses back with `prov`, with the runs, datasets and relations."""

from __future__ import annotations

import json

from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvDerivation,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    ProvMembership,
    ProvUsage,
)

from pedigree.lineage.provdoc import render_prov
from pedigree.lineage.trace import trace
from tests.unit.lineage.conftest import MODEL, PREPARED, RAW, RUN_IDS, TinyProject, records


def test_prov_json_parses_back_with_runs_datasets_and_relations(tiny: TinyProject) -> None:
    text = render_prov(trace(tiny.root, tiny.lock, "models/model.keras"))

    doc = ProvDocument.deserialize(content=text, format="json")
    records_of = {
        kind: [r for r in doc.get_records() if isinstance(r, kind)]
        for kind in (
            ProvActivity,
            ProvEntity,
            ProvAgent,
            ProvUsage,
            ProvGeneration,
            ProvDerivation,
            ProvAssociation,
            ProvMembership,
        )
    }
    activities = {str(a.identifier): a for a in records_of[ProvActivity]}
    assert set(activities) == {f"run:{run_id}" for run_id in RUN_IDS.values()}
    train = activities[f"run:{RUN_IDS['train']}"]
    assert train.get_startTime().isoformat() == "2024-05-01T10:02:00+00:00"
    assert train.get_endTime().isoformat() == "2024-05-01T10:02:30+00:00"
    assert set(train.get_attribute("pedigree:stage")) == {"train"}
    assert set(train.get_attribute("pedigree:gitDirty")) == {True}

    entities = {str(e.identifier) for e in records_of[ProvEntity]}
    assert {
        f"data:models/model.keras@{MODEL}",
        f"data:data/raw@{RAW}",
        "source:ingest/synthetic",
    } <= entities
    # Every record appears once: a dataset read by several runs is one entity.
    assert len(entities) == len(records_of[ProvEntity])

    def pairs(kind: type, first: str, second: str) -> set[tuple[str, str]]:
        return {
            (str(r.get_attribute(first).pop()), str(r.get_attribute(second).pop()))
            for r in records_of[kind]
        }

    generated = pairs(ProvGeneration, "prov:entity", "prov:activity")
    assert (f"data:models/model.keras@{MODEL}", f"run:{RUN_IDS['train']}") in generated
    used = pairs(ProvUsage, "prov:activity", "prov:entity")
    assert (f"run:{RUN_IDS['ingest']}", "source:ingest/synthetic") in used
    assert (f"run:{RUN_IDS['transform']}", f"data:data/raw@{RAW}") in used
    derived = pairs(ProvDerivation, "prov:generatedEntity", "prov:usedEntity")
    train_part = records()["train"].inputs[0].md5
    assert (f"data:models/model.keras@{MODEL}", f"data:data/prepared/train@{train_part}") in derived
    members = pairs(ProvMembership, "prov:collection", "prov:entity")
    assert (f"data:data/prepared@{PREPARED}", f"data:data/prepared/train@{train_part}") in members
    associated = pairs(ProvAssociation, "prov:activity", "prov:agent")
    assert (f"run:{RUN_IDS['train']}", "pedigree:pedigree") in associated
    assert (f"run:{RUN_IDS['train']}", "code:stages/train@" + "7" * 32 + ".dir") in associated


def test_prov_json_is_stable(tiny: TinyProject) -> None:
    first = render_prov(trace(tiny.root, tiny.lock, "models/model.keras"))
    second = render_prov(trace(tiny.root, tiny.lock, "models/model.keras"))

    assert first == second
    assert first == json.dumps(json.loads(first), indent=2, sort_keys=True) + "\n"
