"""Cross-references of `spec.data` and `spec.replicate`: the stages, splits and params they name
exist in the pipeline (each problem located by file, line and key path, with a hint)."""

from __future__ import annotations

import difflib

from pedigree.errors import Problem
from pedigree.graph import is_within
from pedigree.spec.model import PipelineSpec
from pedigree.spec.yamlsource import KeyPath, YamlDocument


def _unknown_stage(name: str, names: list[str], doc: YamlDocument, where: KeyPath) -> list[Problem]:
    if name in names:
        return []
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "stages: " + ", ".join(names)
    return [doc.problem(where, f"no stage named '{name}' in spec.stages", hint)]


def _unknown_split(
    name: str, names: tuple[str, ...], doc: YamlDocument, where: KeyPath
) -> list[Problem]:
    if name in names:
        return []
    hint = "use one of spec.data.splits.names: " + ", ".join(names)
    return [doc.problem(where, f"'{name}' is not one of the declared splits", hint)]


def check_roles(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    """spec.data and spec.replicate name stages, splits and params that exist."""
    names = [s.name for s in spec.stages]
    problems: list[Problem] = []
    data, rep = spec.spec.data, spec.spec.replicate
    if data is not None:
        splits, base = data.splits, ("spec", "data", "splits")
        problems += _unknown_stage(splits.stage, names, doc, (*base, "stage"))
        if splits.stage in names:
            outs = spec.stage(splits.stage).outs
            if not any(is_within(splits.path, out) for out in outs):
                problems.append(
                    doc.problem(
                        (*base, "path"),
                        f"'{splits.path}' is not an output of stage '{splits.stage}' "
                        f"(its outs: {', '.join(outs) or 'none'})",
                        "name the folder the splits stage writes the splits into",
                    )
                )
        for j, split in enumerate(splits.names):
            if split in splits.names[:j]:
                problems.append(
                    doc.problem((*base, "names", j), f"split '{split}' is named twice", "")
                )
        problems += _unknown_split(splits.train, splits.names, doc, (*base, "train"))
        for split, readers in data.held_out.items():
            where = ("spec", "data", "heldOut", split)
            problems += _unknown_split(split, splits.names, doc, where)
            for j, reader in enumerate(readers):
                problems += _unknown_stage(reader, names, doc, (*where, j))
        for stage, seen in data.model_selection.items():
            where = ("spec", "data", "modelSelection", stage)
            problems += _unknown_stage(stage, names, doc, where)
            for j, split in enumerate(seen):
                problems += _unknown_split(split, splits.names, doc, (*where, j))
    if rep is not None:
        for j, stage in enumerate(rep.stages):
            problems += _unknown_stage(stage, names, doc, ("spec", "replicate", "stages", j))
        reads = {p for s in spec.stages if s.name in rep.stages for p in s.params}
        if all(s in names for s in rep.stages) and rep.seed_section not in reads:
            problems.append(
                doc.problem(
                    ("spec", "replicate", "seed"),
                    f"no replicated stage reads the params section '{rep.seed_section}', "
                    f"so varying {rep.seed} would change nothing",
                    f"add '{rep.seed_section}' to the params of the stages that use the seed",
                )
            )
    return problems + _check_serve(spec, doc)


def _check_serve(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    """spec.serve's files are a stage's deps or outputs (the model's lineage records their
    hashes only then), and its params sections are read by some stage."""
    serve = spec.spec.serve
    if serve is None:
        return []
    problems: list[Problem] = []
    recorded = [p for s in spec.stages for p in (*s.deps, *s.outs)]
    for role, path in serve.files.items():
        if path not in recorded:
            problems.append(
                doc.problem(
                    ("spec", "serve", "files", role),
                    f"'{path}' is no stage's dependency or output, so no lineage records its hash",
                    "name a file that a model stage lists in deps or outs, like "
                    "data/prepared/stats.json",
                )
            )
    read = {section for s in spec.stages for section in s.params}
    for j, section in enumerate(serve.params):
        if section not in read:
            problems.append(
                doc.problem(
                    ("spec", "serve", "params", j),
                    f"no stage reads the params section '{section}', so no lineage records it",
                    "name a section the model's stages list in params, like model",
                )
            )
    return problems
