"""Paths checked where they really lead: no stage reads or writes outside the project via symlinks.

`pedigree.spec.model` checks a path's text (relative, no `..`). That is not enough: with
`data/link -> /tmp/elsewhere`, the textually harmless output `data/link/raw` is written to
/tmp/elsewhere/raw, by the stage and by DVC's checkout (DVC does not refuse it either). So every
path a stage reads or writes (deps, outs, metrics, plots, state, spec.inputs, its code folder and
environment lock) is resolved, and refused when a symlink on the way takes it

- outside the project root (both compared after resolving, so the root itself may be a symlink);
- into files pedigree and DVC own: `.git`, `.dvc`, `.pedigree` (except the stage's own declared
  state), `lineage`, `pipelines`, `dvc.lock`, `dvc.yaml`, `params.yaml`, or the project root
  itself; writes also never into the code and environment folders (`stages`, `images`, `src`,
  `tests`, `cluster-conf`);
- round in a loop.

Symlinks that stay inside the project and land in an ordinary place (e.g. `data/current ->
data/v2`) are allowed: the bytes then live in the project, where DVC hashes and restores them
and where every other check (one producer per output, protected folders) still applies to the
place they land in. Only existing path components can be symlinks; a path that does not exist
yet is checked up to its last existing component.

`check_spec_paths` locates problems in the spec; `check_compiled_paths` checks the stages of the
compiled dvc.yaml for commands that work from it (verify, pull, `pedigree run`'s fast path).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.errors import Problem, SpecError
from pedigree.graph import is_within
from pedigree.spec.yamlsource import KeyPath, YamlDocument, render_path

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec

# Top-level folders and files that pedigree and DVC keep their own state, records and specs in.
OWNED_FOLDERS = (".git", ".dvc", ".pedigree", "lineage", "pipelines")
OWNED_FILES = ("dvc.lock", "dvc.yaml", "params.yaml")
# Code and environment folders: readable through a link, never written through one.
CODE_FOLDERS = ("stages", "images", "src", "tests", "cluster-conf")
WRITE_FIELDS = ("outs", "metrics", "plots", "state")


@dataclass(frozen=True)
class PathUse:
    """One path a stage (or the pipeline, for spec.inputs) reads or writes, and where it is
    declared."""

    what: str  # "stage 'ingest' outs" or "external input"
    path: str
    key: KeyPath
    writes: bool
    state: tuple[str, ...] = ()  # the stage's declared state: its own part of .pedigree/
    file: str = "dvc.yaml"  # the file `key` is in (the compiled variant)


@dataclass(frozen=True)
class Escape:
    """Why a path's real location is refused: the link that leads there and where it lands."""

    link: str
    target: str  # absolute for outside the project, else project-relative
    reason: str  # "outside" | "owned" | "code" | "root" | "loop" | "absolute"
    area: str = ""  # the owned file or folder it lands in


def _judge(root_real: Path, real: Path, use: PathUse) -> tuple[str, str, str] | None:
    """(target, reason, area) when the real location `real` is refused for `use`, else None."""
    try:
        rel = real.relative_to(root_real).as_posix()
    except ValueError:
        return str(real), "outside", ""
    if rel == ".":
        return ".", "root", ""
    if any(is_within(rel, state) for state in use.state):
        return None  # the stage's own declared state (e.g. .pedigree/registry)
    top = rel.split("/", 1)[0]
    if rel in OWNED_FILES or top in OWNED_FOLDERS:
        return rel, "owned", rel if rel in OWNED_FILES else f"{top}/"
    if use.writes and top in CODE_FOLDERS:
        return rel, "code", f"{top}/"
    return None


def find_escape(root_real: Path, use: PathUse) -> Escape | None:
    """Where `use.path` really leads, when a symlink takes it somewhere it must not go.

    `root_real` is the project root with its own symlinks resolved. The link named is the first
    existing component of the path that is a symlink leading somewhere refused.
    """
    normal = posixpath.normpath(use.path)
    if use.path.startswith("/") or normal == ".." or normal.startswith("../"):
        return Escape(use.path, use.path, "absolute")
    textual = root_real / normal
    real = Path(os.path.realpath(textual))
    if real == textual:
        return None  # no symlink on the way (the cheap, common case)
    parts = normal.split("/")
    for n in range(1, len(parts) + 1):
        rel = "/".join(parts[:n])
        candidate = root_real / rel
        if os.path.islink(candidate):
            try:
                target = candidate.resolve(strict=False)
            except RuntimeError:  # Python 3.11 reports a symlink loop this way
                return Escape(rel, rel, "loop")
            verdict = _judge(root_real, target, use)
            if verdict is not None:
                return Escape(rel, *verdict)
        elif not os.path.lexists(candidate):
            break  # nothing below a missing component exists either
    verdict = _judge(root_real, real, use)
    return Escape(normal, *verdict) if verdict is not None else None


def describe(escape: Escape, use: PathUse) -> tuple[str, str]:
    """The message and hint for a refused path."""
    done = "would be written there" if use.writes else "would be read from there"
    what = f"{use.what} '{use.path}'"
    if escape.reason == "absolute":
        return (
            f"{what} is not inside the project",
            "paths are relative to the project root and stay inside it",
        )
    if escape.reason == "loop":
        return (
            f"{escape.link} is a symlink loop: {what} cannot be resolved",
            f"remove the symlink {escape.link} or point it at a real folder inside the project",
        )
    if escape.reason == "outside":
        return (
            f"{escape.link} is a symlink to {escape.target}, outside the project: {what} {done}",
            f"replace the symlink {escape.link} with a real folder inside the project (copy "
            "outside data in, for DVC to track), or use a path that does not go through it",
        )
    if escape.reason == "root":
        return (
            f"{escape.link} is a symlink to the project root: {what} {done}",
            f"remove the symlink {escape.link}; name the path inside the project directly",
        )
    whose = "pedigree and DVC keep their own files" if escape.reason == "owned" else "code lives"
    return (
        f"{escape.link} is a symlink to {escape.target}, inside {escape.area}, where {whose}: "
        f"{what} {done}",
        f"point {escape.link} at an ordinary folder (data/, models/, reports/) or remove it",
    )


def spec_path_uses(spec: PipelineSpec) -> list[PathUse]:
    """Every path the spec's stages read or write, with its key path in the spec."""
    uses: list[PathUse] = []
    for i, stage in enumerate(spec.stages):
        own = f"stage '{stage.name}'"
        for field in ("deps", *WRITE_FIELDS):
            for j, path in enumerate(getattr(stage, field)):
                uses.append(
                    PathUse(
                        f"{own} {field}",
                        path,
                        ("spec", "stages", i, field, j),
                        field in WRITE_FIELDS,
                        stage.state,
                    )
                )
        uses.append(
            PathUse(f"{own} code folder", stage.code_dir, ("spec", "stages", i, "name"), False)
        )
        lock_key = ("spec", "stages", i, "image" if stage.image else "name")
        uses.append(PathUse(f"{own} environment lock", stage.lock_file, lock_key, False))
    for k, path in enumerate(spec.spec.inputs):
        uses.append(PathUse("external input", path, ("spec", "inputs", k), False))
    return uses


def check_uses(root: Path, uses: list[PathUse]) -> list[tuple[PathUse, Escape]]:
    """The uses whose real location is refused, each with why."""
    root_real = root.resolve()
    found = []
    for use in uses:
        escape = find_escape(root_real, use)
        if escape is not None:
            found.append((use, escape))
    return found


def check_spec_paths(spec: PipelineSpec, doc: YamlDocument, root: Path) -> list[Problem]:
    """Problems, located in the spec, for every path a symlink takes where it must not go."""
    return [
        doc.problem(use.key, *describe(esc, use))
        for use, esc in check_uses(root, spec_path_uses(spec))
    ]


def _paths(items: Any) -> list[str]:
    """Paths of a dvc.yaml list: plain strings or `{path: options}` mappings."""
    found: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(str(k) for k in item)
    return found


def compiled_path_uses(stages: dict[str, Any]) -> list[PathUse]:
    """Every path the stages of a compiled dvc.yaml read or write (code folder and lock are
    among its deps), with its key path in dvc.yaml."""
    uses: list[PathUse] = []
    for name, entry in stages.items():
        if not isinstance(entry, dict):
            continue
        for field in ("deps", "outs", "metrics", "plots"):
            for j, path in enumerate(_paths(entry.get(field))):
                uses.append(
                    PathUse(
                        f"stage '{name}' {field}",
                        path,
                        ("stages", str(name), field, j),
                        field != "deps",
                    )
                )
    return uses


def spec_state_uses(root: Path, spec_path: str) -> list[PathUse]:
    """The `state` paths of the spec's stages, which dvc.yaml does not carry (state lives
    outside DVC). Read as plain YAML, no models: only called when the spec is unchanged since it
    was compiled (the stamp), so it was validated then."""
    import yaml

    try:
        data = yaml.safe_load((root / spec_path).read_text(encoding="utf-8"))
        stages = data["spec"]["stages"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return []  # unreadable now: the next validating command says why
    uses: list[PathUse] = []
    for i, stage in enumerate(stages if isinstance(stages, list) else []):
        state = stage.get("state") if isinstance(stage, dict) else None
        for j, path in enumerate(state if isinstance(state, list) else []):
            if isinstance(path, str):
                key = ("spec", "stages", i, "state", j)
                what = f"stage '{stage.get('name')}' state"
                uses.append(PathUse(what, path, key, True, tuple(state or ()), spec_path))
    return uses


def check_compiled_paths(
    root: Path, stages: dict[str, Any] | None = None, spec_path: str | None = None
) -> list[Problem]:
    """Problems, located in dvc.yaml, for every path of its stages that a symlink takes where it
    must not go. `stages` is dvc.yaml's `stages` mapping (read here when not given); with
    `spec_path`, the spec's `state` paths are checked too (located in the spec)."""
    if stages is None:
        from pedigree.dvclock import read_lock_stages

        stages = read_lock_stages(root / "dvc.yaml")
    uses = compiled_path_uses(stages)
    if spec_path is not None:
        uses += spec_state_uses(root, spec_path)
    refused = check_uses(root, uses)
    docs: dict[str, YamlDocument | None] = {}
    problems = []
    for use, esc in refused:
        message, hint = describe(esc, use)
        if use.file not in docs:
            docs[use.file] = _located(root, use.file)
        doc = docs[use.file]
        if doc is not None:
            problems.append(doc.problem(use.key, message, hint))
        else:
            problems.append(Problem(use.file, None, render_path(use.key), message, hint))
    return problems


def _located(root: Path, rel: str) -> YamlDocument | None:
    """A YAML file with the line of every key (read only when there is something to report)."""
    from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file

    try:
        return load_yaml_file(root / rel, rel)
    except YamlLoadError:
        return None


def refuse_escaping_compiled_paths(
    root: Path, stages: dict[str, Any] | None = None, spec_path: str | None = None
) -> None:
    """Raise SpecError when a path of dvc.yaml's stages (or, with `spec_path`, a state path of
    the spec) leads where it must not (see module)."""
    problems = check_compiled_paths(root, stages, spec_path)
    if problems:
        raise SpecError(problems)
