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
    return problems + _check_folds(spec, doc) + _check_serve(spec, doc)


def _check_folds(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    """spec.replicate.folds names splits of spec.data, a params section the splits stage reads,
    and outputs that exist; the label audit writes nothing a stage writes."""
    rep = spec.spec.replicate
    folds = None if rep is None else rep.folds
    if rep is None or folds is None:
        return []
    base = ("spec", "replicate", "folds")
    data = spec.spec.data
    if data is None:
        return [
            doc.problem(
                base,
                "folds need to know the splits and the group key, and spec.data is not set",
                "declare spec.data.splits (stage, path, names, train, groupKey)",
            )
        ]
    names, train = data.splits.names, data.splits.train
    problems = _unknown_split(folds.held_out, names, doc, (*base, "heldOut"))
    if folds.held_out == train:
        problems.append(
            doc.problem(
                (*base, "heldOut"),
                f"the held-out fold cannot go to the train split '{train}'",
                "name the split the metrics stage scores, like test",
            )
        )
    for split in folds.inner:
        where = (*base, "inner", split)
        problems += _unknown_split(split, names, doc, where)
        if split in (train, folds.held_out):
            problems.append(
                doc.problem(
                    where,
                    f"'{split}' is the {'train' if split == train else 'held-out'} split; inner "
                    "shares are for the other splits the other folds fill",
                    f"list only the splits besides {train} and {folds.held_out}, like validation",
                )
            )
    section = folds.assignment.split(".", 1)[0]
    stages = {s.name: s for s in spec.stages}
    splitter = stages.get(data.splits.stage)
    if splitter is not None and section not in splitter.params:
        problems.append(
            doc.problem(
                (*base, "assignment"),
                f"the splits stage '{splitter.name}' does not read the params section "
                f"'{section}', so it would never see the fold's assignment",
                f"name a key in a section '{splitter.name}' lists in params",
            )
        )
    outputs = [o for s in spec.stages if s.name in rep.stages for o in s.all_outputs]
    if folds.predictions is not None and not any(is_within(folds.predictions, o) for o in outputs):
        problems.append(
            doc.problem(
                (*base, "predictions"),
                f"'{folds.predictions}' is no output of a replicated stage",
                "name the folder the metrics stage writes its predictions to",
            )
        )
    if folds.labels is not None:
        written = [o for s in spec.stages for o in s.all_outputs]
        for j, out in enumerate(folds.labels.outs):
            if any(is_within(out, o) or is_within(o, out) for o in written):
                problems.append(
                    doc.problem(
                        (*base, "labels", "outs", j),
                        f"'{out}' is also a stage's output: the label audit and the stage would "
                        "overwrite each other",
                        "write the label audit's files next to the stage's, like "
                        "reports/label_issues.csv",
                    )
                )
    return problems


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
