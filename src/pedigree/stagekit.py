"""Helpers for stage code: typed params with located errors, atomic outputs, hashing, main().

A stage is a plain Python module run as `python -m stages.NAME`; these helpers give every stage
the same guarantees: bad params are reported with file, line and key path; an output appears
only when complete (a killed stage leaves at most a clearly named `.NAME.partial-PID` folder that
the next run removes); errors end in one clear line and a documented exit code.

A stage that writes the data splits (`spec.data.splits`) calls `write_split_records` with one
`SplitSample` per sample: it writes provenance.jsonl, splits.json, each split's index.json and
stats.json exactly as `pedigree audit` reads them (see `pedigree.splitrecords`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from pedigree.atomic import (  # noqa: F401 - for stages
    BoundedReadError,
    read_bounded,
    sha256_file,
)
from pedigree.dvclock import read_lock_stages  # noqa: F401 - for stages
from pedigree.envvars import STATE_ENV
from pedigree.errors import BadRequestError, ParamsError, PedigreeError, Problem  # noqa: F401
from pedigree.foldmap import read_fold_map  # noqa: F401 - for splits stages under --folds
from pedigree.spec.errors import problems_from_validation
from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file
from pedigree.splitrecords import (  # noqa: F401 - for stages: their one import
    SplitRecordsError,
    SplitSample,
    samples_digest,
    write_split_records,
)

M = TypeVar("M", bound=BaseModel)
CHUNK = 1 << 20


def dvc_md5(path: Path, root: Path) -> str | None:
    """The md5 DVC records for `path` (a file, or a folder's `.dir` hash) as it is now, honouring
    the project's .dvcignore; None when it is missing. Compare it with dvc.lock's `md5`."""
    # Imported here: most stages never hash a path, and stage start-up stays light.
    from pedigree.lineage.hashing import Ignore, content_hash

    found = content_hash(path, Ignore(root))
    return None if found is None else found.md5


def load_params(section: str, model: type[M], path: Path = Path("params.yaml")) -> M:
    """Validate `section` of params.yaml with `model`; raise ParamsError located by line."""
    try:
        doc = load_yaml_file(path, path.name if path.parent == Path(".") else str(path))
    except YamlLoadError as exc:
        raise ParamsError([exc.problem]) from None
    data = doc.data if isinstance(doc.data, dict) else {}
    if section not in data:
        raise ParamsError(
            [
                Problem(
                    doc.file,
                    None,
                    section,
                    f"section '{section}' is missing",
                    f"add '{section}:' to {doc.file}",
                )
            ]
        )
    try:
        return model.model_validate(data[section])
    except ValidationError as exc:
        raise ParamsError(problems_from_validation(exc, model, doc, (section,))) from None


def sha256_tree(path: Path) -> str:
    """Hex sha256 naming a file's or folder's content: every file's relative path and sha256.

    For a folder, the digest covers `relpath NUL sha256 LF` for each file, sorted by POSIX
    relative path, so two folders with the same files (names and bytes) get the same hash
    wherever they live. A single file gets its plain sha256.
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    files = sorted(
        (p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix()
    )
    for file in files:
        rel = file.relative_to(path).as_posix()
        digest.update(f"{rel}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def _partial_name(target: Path) -> str:
    return f".{target.name}.partial-"


def remove_stale_partials(target: Path) -> None:
    """Delete `.NAME.partial-*` folders left next to `target` by killed runs."""
    if not target.parent.is_dir():
        return
    for leftover in target.parent.glob(_partial_name(target) + "*"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(
            missing_ok=True
        )


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a scratch folder; on success it replaces `target` in one rename.

    On any exception (Ctrl-C included) the scratch folder is removed and `target` is left
    absent, never half-written. A SIGKILL cannot run cleanup: the scratch folder keeps its
    `.partial-PID` name, is never mistaken for `target`, and the next run deletes it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target)
    scratch = target.parent / f"{_partial_name(target)}{os.getpid()}"
    scratch.mkdir()
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    os.replace(scratch, target)


def _project_relative(path: Path, root: Path) -> str:
    # The path as the project names it, not where a symlink leads: records must name what
    # dvc.yaml and the spec name (a resolved target would leak a folder outside the project).
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return str(absolute)


def note_state(name: str, path: Path, snapshot: Path, sha256: str, root: Path) -> None:
    """Tell the launcher that the stage read state `name` at `path`, copied to `snapshot`.

    The launcher puts it in the run's lineage record, so that `pedigree verify` can replay the
    stage against the state it saw. Outside the launcher (no PEDIGREE_LINEAGE_STATE) it does
    nothing.
    """
    import json

    target = os.environ.get(STATE_ENV)
    if not target:
        return
    file = Path(target)
    data = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    data[name] = {
        "path": _project_relative(path, root),
        "snapshot": _project_relative(snapshot, root),
        "sha256": sha256,
    }
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")


def run_stage(main: Callable[[list[str]], int | None], argv: list[str] | None = None) -> None:
    """Run a stage's `main(argv)` and exit with a documented code and a one-line error."""
    try:
        code = main(sys.argv[1:] if argv is None else argv)
    except PedigreeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: no output was kept", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


class Predictor(Protocol):
    """What a pipeline's serving module (spec.serve.predictor) returns from its `load`.

    The module defines `load(files: Mapping[str, Path], params: Mapping[str, Any]) -> Predictor`:
    `files` maps each role ("model", "calibration" and the spec's serve.files) to a local file
    already checked against its recorded hash, `params` holds the spec's serve.params sections
    as the model's lineage recorded them. The server (pedigree.serve) speaks the protocol; the
    predictor only turns inputs into outputs.
    """

    #: every output `predict` returns, by name
    outputs: tuple[str, ...]
    #: the outputs a response carries when the request names none
    default_outputs: tuple[str, ...]

    def predict(self, inputs: Sequence[bytes | Any]) -> dict[str, Any]:
        """One result per input, batch first in every output array.

        Each input is an encoded image file (`bytes`) or a uint8 numpy array of RGB pixels
        (height, width, 3). Raise BadRequestError for an input the model cannot take (the
        client gets 400 with the message); any other exception is a server error.
        """
        ...
