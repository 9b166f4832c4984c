"""The paths pedigree, DVC and git own in a project: no stage output or state may touch them.

`pedigree.spec.checks` refuses outputs (outs, metrics, plots) and `state` paths that are, lie
inside or contain one of them, located in the spec.
"""

from __future__ import annotations

from pedigree.graph import is_within

# Outputs may never be, lie inside or contain these top-level paths: they hold code, specs and the
# files pedigree, DVC and git own, which outputs would clobber. Path -> what it holds.
PROTECTED: dict[str, str] = {
    "stages": "the stages' code",
    "images": "the stage images' definitions",
    "pipelines": "the pipeline specs",
    "src": "pedigree's source",
    "tests": "the tests",
    "cluster-conf": "the cluster configuration",
    ".dvc": "DVC's configuration and cache",
    ".git": "the git repository",
    ".venv": "the project's Python environment",
    ".pedigree": "pedigree's local state (stage logs, lineage history, the registry)",
    "lineage": "the committed lineage records",
    "dvc.yaml": "the pipeline compiled for DVC",
    "dvc.lock": "DVC's record of what each stage ran with",
    "params.yaml": "the pipeline's parameters",
    "Makefile": "the project's make targets",
    "pyproject.toml": "the project's package metadata",
    ".dockerignore": "what image builds leave out",
}
# Files git and DVC own wherever they are: DVC writes a .gitignore next to every output.
PROTECTED_NAMES = (".gitignore", ".dvcignore", ".gitattributes", ".git")
# State may live under .pedigree/ (the registry does), but not in what pedigree keeps there:
# pedigree.stagerun.LOG_DIR, pedigree.lineage.store.HISTORY_DIR and EVENTS_FILE,
# pedigree.replicate.workspace.SCRATCH and pedigree.compile.header.STAMP.
PEDIGREE_OWNED: dict[str, str] = {
    ".pedigree/logs": "the stage logs",
    ".pedigree/lineage": "the local lineage history",
    ".pedigree/replicate": "the replicate workspaces",
    ".pedigree/compiled.json": "the stamp of the compiled dvc.yaml",
}
# What state paths may not touch: everything above except .pedigree/ itself.
STATE_PROTECTED = {
    **{path: what for path, what in PROTECTED.items() if path != ".pedigree"},
    **PEDIGREE_OWNED,
}


def protected_clash(path: str, protected: dict[str, str] = PROTECTED) -> str | None:
    """Why a stage may not write `path` (the end of a sentence naming it), or None if it may.

    `path` clashes when it is, lies inside or contains a `protected` path, or when any part of
    it is a file git or DVC own (PROTECTED_NAMES).
    """
    owned_name = next((part for part in path.split("/") if part in PROTECTED_NAMES), None)
    if owned_name is not None:
        return (
            f": '{owned_name}' is a file git and DVC own, wherever it is "
            "(DVC writes a .gitignore next to every output)"
        )
    for other, what in protected.items():
        if path == other:
            return f", which holds {what}"
        if is_within(path, other):
            return f" inside {other}/, which holds {what}"
        if is_within(other, path):
            return f", which contains {other} ({what})"
    return None
