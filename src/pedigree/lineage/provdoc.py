"""A lineage as a W3C PROV document (PROV-JSON), built with the `prov` library.

- entities: every dataset version (`data:<path>@<md5>`, with `pedigree:md5`), every shared code
  folder version (`code:<path>@<md5>`), every environment lock (`env:<path>@<md5>`), and the
  external sources (`source:<stage>/<kind>`);
- activities: every stage run (`run:<run id>`, with start and end times, stage, status, git
  commit, dirty flag, python, lock hash and the params as JSON);
- agents: pedigree itself (a prov:SoftwareAgent) and the code of each stage (the stage's code
  folder at the hash it ran), both associated with the runs;
- relations: used (run <- inputs, code, lock, source), wasGeneratedBy (output <- run),
  wasDerivedFrom (each output from each data input, through the run), hadMember (an output
  folder has the parts of it other stages read).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pedigree import __version__
from pedigree.lineage.trace import Lineage, Source

if TYPE_CHECKING:
    from prov.model import ProvDocument, ProvEntity

NAMESPACES = {
    "pedigree": "urn:pedigree:",
    "data": "urn:pedigree:data:",
    "code": "urn:pedigree:code:",
    "env": "urn:pedigree:env:",
    "run": "urn:pedigree:run:",
    "source": "urn:pedigree:source:",
}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _source(source: Source) -> tuple[str, dict[str, Any]]:
    """The id and attributes of the entity standing for an external source."""
    attributes: dict[str, Any] = {
        "prov:type": "pedigree:Source",
        "pedigree:kind": source.kind,
        "prov:location": source.location,
    }
    if source.sha256:
        attributes["pedigree:sha256"] = source.sha256
    if source.md5:
        attributes["pedigree:md5"] = source.md5
    if source.settings:
        attributes["pedigree:settings"] = json.dumps(dict(source.settings), sort_keys=True)
    return f"source:{source.stage}/{source.kind}", attributes


def build_document(lineage: Lineage) -> ProvDocument:
    """The PROV document of `lineage` (see the module docstring)."""
    from prov.model import ProvDocument

    doc = ProvDocument()
    for prefix, uri in NAMESPACES.items():
        doc.add_namespace(prefix, uri)
    tool = doc.agent(
        "pedigree:pedigree",
        {"prov:type": "prov:SoftwareAgent", "pedigree:version": __version__},
    )

    entities: dict[str, ProvEntity] = {}

    def entity(identifier: str, attributes: dict[str, Any]) -> ProvEntity:
        # One record per id: a dataset read by several runs is still one entity.
        if identifier not in entities:
            entities[identifier] = doc.entity(identifier, attributes)
        return entities[identifier]

    def dataset(path: str, md5: str) -> ProvEntity:
        attributes = {"prov:type": "pedigree:Dataset", "pedigree:path": path, "pedigree:md5": md5}
        return entity(f"data:{path}@{md5}", attributes)

    for step in lineage.runs_upstream_first():
        record = step.record
        env = record.environment
        activity = doc.activity(
            f"run:{record.run_id}",
            _time(record.started),
            _time(record.ended),
            {
                "prov:type": "pedigree:StageRun",
                "pedigree:stage": record.stage,
                "pedigree:status": record.status,
                "pedigree:exitCode": record.exit_code,
                "pedigree:cmd": record.cmd,
                "pedigree:gitCommit": record.code.git_commit or "",
                "pedigree:gitDirty": bool(record.code.git_dirty),
                "pedigree:python": env.python,
                "pedigree:lockSha256": env.lock.get("sha256", ""),
                "pedigree:params": json.dumps(record.params, sort_keys=True),
            },
        )
        doc.wasAssociatedWith(activity, tool)
        code_folder = f"stages/{record.stage}"
        code_hash = record.code.folders.get(code_folder)
        if code_hash:
            code_agent = doc.agent(
                f"code:{code_folder}@{code_hash}",
                {"prov:type": "prov:SoftwareAgent", "pedigree:path": code_folder},
            )
            doc.wasAssociatedWith(activity, code_agent)
        for item in record.inputs:
            if item.kind == "data" or item.path == code_folder:  # its own code is the agent
                continue
            attributes = {"prov:type": f"pedigree:{item.kind}", "pedigree:path": item.path}
            prefix = "code" if item.kind == "code" else "env"
            doc.used(activity, entity(f"{prefix}:{item.path}@{item.md5}", attributes))
        inputs = []
        for link in step.links:
            read = dataset(link.path, link.md5)
            inputs.append(read)
            doc.used(activity, read)
            if link.producer and link.within and link.within != link.path:
                whole = lineage.step(link.producer).record.output(link.within)
                if whole is not None:
                    doc.hadMember(dataset(whole.path, whole.md5), read)
        for source in lineage.sources:
            if source.stage == record.stage:
                identifier, attributes = _source(source)
                doc.used(activity, entity(identifier, attributes))
        for out in record.outputs:
            made = dataset(out.path, out.md5)
            doc.wasGeneratedBy(made, activity, _time(record.ended))
            for used in inputs:
                doc.wasDerivedFrom(made, used, activity)
    return doc


def render_prov(lineage: Lineage) -> str:
    """PROV-JSON text of `lineage` (stable: keys sorted)."""
    text = io.StringIO()
    build_document(lineage).serialize(text, format="json")
    data = json.loads(text.getvalue())
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
