"""Check (d): every stage in dvc.lock has a lineage record, and every hash agrees.

For each stage dvc.lock lists, `lineage/<stage>.json` must exist and be a succeeded run whose
outputs equal dvc.lock's outs (path -> md5), whose inputs equal dvc.lock's deps and whose params
equal dvc.lock's params.yaml values. The outputs in the workspace must still have those hashes
(hashed here exactly as DVC hashes them). A record for a stage dvc.lock does not list is
reported too: it describes nothing that exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pedigree.audit.model import CheckResult, Finding, listing, result
from pedigree.dvclock import read_lock_stages
from pedigree.errors import ToolError
from pedigree.lineage.hashing import Ignore, content_hash
from pedigree.lineage.record import Artifact, LineageRecord
from pedigree.lineage.store import RECORDS_DIR, LineageError, lock_outs, read_current
from pedigree.project import PARAMS_FILE

NAME = "lineage-records"
LOCK = "dvc.lock"


def _rerun(stage: str) -> str:
    return f"re-run the stage (`pedigree run --stage {stage} --force`) to record it again"


def lock_hashes(items: Any) -> dict[str, str]:
    """{path: md5} of a dvc.lock deps or outs list."""
    return lock_outs({"outs": items})


def _artifact_hashes(artifacts: list[Artifact]) -> dict[str, str]:
    return {a.path: a.md5 for a in artifacts}


def compare(what: str, recorded: dict[str, str], locked: dict[str, str]) -> list[str]:
    """Human lines for every path whose hash differs, or that only one side has."""
    lines = []
    for path in sorted(set(recorded) | set(locked)):
        mine, theirs = recorded.get(path), locked.get(path)
        if mine == theirs:
            continue
        if mine is None:
            lines.append(f"{what} {path}: in dvc.lock ({theirs}) but not in the record")
        elif theirs is None:
            lines.append(f"{what} {path}: in the record ({mine}) but not in dvc.lock")
        else:
            lines.append(f"{what} {path}: record has {mine}, dvc.lock has {theirs}")
    return lines


def _param_lines(recorded: dict[str, Any], locked: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(recorded) | set(locked)):
        if recorded.get(key) != locked.get(key):
            lines.append(
                f"params {key}: record has {recorded.get(key)!r}, dvc.lock has {locked.get(key)!r}"
            )
    return lines


def record_findings(stage: str, entry: dict[str, Any], record: LineageRecord) -> list[Finding]:
    """How the record of `stage` disagrees with its dvc.lock `entry`."""
    where = f"{RECORDS_DIR.as_posix()}/{stage}.json"
    lines = []
    if record.stage != stage:
        lines.append(f"the record is of stage '{record.stage}'")
    if record.status != "succeeded":
        lines.append(f"the record is of a {record.status} run (exit code {record.exit_code})")
    lines += compare("output", _artifact_hashes(record.outputs), lock_outs(entry))
    lines += compare("input", _artifact_hashes(record.inputs), lock_hashes(entry.get("deps")))
    params: dict[str, Any] = entry["params"] if isinstance(entry.get("params"), dict) else {}
    locked = params.get(PARAMS_FILE)
    lines += _param_lines(record.params, locked if isinstance(locked, dict) else {})
    return [
        Finding(f"stage '{stage}': {line}", f"{where} vs {LOCK}", _rerun(stage)) for line in lines
    ]


def workspace_findings(root: Path, stage: str, entry: dict[str, Any]) -> list[Finding]:
    """Outputs in the workspace that are missing or no longer have dvc.lock's hash."""
    ignore = Ignore(root)
    findings = []
    for path, md5 in lock_outs(entry).items():
        if Path(path).is_absolute() or ignore.relative(root / path) is None:
            # Never hash what dvc.lock points at outside the project (`/`, `../..`): a broken
            # or hostile lock file must not make the audit walk the whole disk.
            findings.append(
                Finding(
                    f"stage '{stage}': output {path} in {LOCK} lies outside the project",
                    LOCK,
                    f"restore it with `git checkout {LOCK}`, or re-run the pipeline",
                )
            )
            continue
        found = content_hash(root / path, ignore)
        if found is None:
            findings.append(
                Finding(
                    f"stage '{stage}': output {path} is missing from the workspace",
                    path,
                    f"run `dvc checkout {path}` to restore it from the cache",
                )
            )
        elif found.md5 != md5:
            findings.append(
                Finding(
                    f"stage '{stage}': output {path} has changed: workspace {found.md5}, "
                    f"{LOCK} {md5}",
                    path,
                    f"run `dvc checkout {path}` to restore the recorded output, or "
                    f"`pedigree run` to re-make and record it",
                )
            )
    return findings


def _orphans(root: Path, stages: dict[str, Any]) -> list[Finding]:
    folder = root / RECORDS_DIR
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [
        Finding(
            f"lineage record of stage '{name}', which dvc.lock does not list",
            f"{RECORDS_DIR.as_posix()}/{name}.json",
            "delete it (git rm) if the stage was removed, or run the stage so dvc.lock lists it",
        )
        for name in names
        if name not in stages
    ]


def _unreadable(stage: str, exc: LineageError) -> Finding:
    """A corrupt record as a finding: the file is `where`, so the message need not repeat it."""
    where = f"{RECORDS_DIR.as_posix()}/{stage}.json"
    message = exc.message.removeprefix(f"{where}: ")
    return Finding(f"stage '{stage}': {message}", where, exc.hint or _rerun(stage))


def check_records(root: Path) -> CheckResult:
    """Run check (d) on the project at `root`."""
    if not (root / LOCK).exists():
        missing = Finding(f"{LOCK} is missing: nothing has run", LOCK, "run `pedigree run`")
        return result(NAME, "", "no lineage to audit", [missing])
    try:
        stages = read_lock_stages(root / LOCK)
    except ToolError as exc:
        broken = Finding(exc.message, LOCK, exc.hint or f"restore it with `git checkout {LOCK}`")
        return result(NAME, "", f"{LOCK} cannot be read, so no lineage can be audited", [broken])
    findings: list[Finding] = []
    without: list[str] = []
    for stage, entry in stages.items():
        entry = entry if isinstance(entry, dict) else {}
        try:
            record = read_current(root, stage)
        except LineageError as exc:
            findings.append(_unreadable(str(stage), exc))
            record = None
        else:
            if record is None:
                without.append(stage)
                findings.append(
                    Finding(
                        f"stage '{stage}' has outputs in {LOCK} but no lineage record",
                        f"{RECORDS_DIR.as_posix()}/{stage}.json",
                        f"restore it from git (`git checkout -- lineage/{stage}.json`) or "
                        + _rerun(stage),
                    )
                )
        if record is not None:
            findings += record_findings(stage, entry, record)
        findings += workspace_findings(root, stage, entry)
    findings += _orphans(root, stages)
    outputs = sum(len(lock_outs(e)) for e in stages.values() if isinstance(e, dict))
    passed = (
        f"{len(stages)} stages in {LOCK}: every record exists and matches its {outputs} outputs, "
        "inputs and params, and the workspace holds those outputs"
    )
    failed = "lineage records or outputs disagree with dvc.lock"
    failed += f" (no record: {listing(without)})" if without else ""
    return result(NAME, passed, failed, findings)
