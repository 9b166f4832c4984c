"""The registry's log: one JSON file per event under `registry/<pipeline>/events/`, in git.

Files are only ever added, never changed. A file's name is `<at>-<kind>-<digest>.json`: the UTC
time in microseconds, the kind, and 12 hex digits of the sha256 of its canonical body, so two
writers (two clones, two branches) never write the same name and git merges their logs without a
conflict. The log is replayed in name order (time, then kind and digest as tie-breakers), which
is the same on every clone (`pedigree.registry.replay`).

Event kinds:
  registered      a model (by sha256) enters the registry, with its files' DVC hashes, its
                  calibration, metrics, test split, git commit, environment and lineage
  scored          a registered model's metrics on a (new) test split
  promoted        the release gate promoted the model; `replaces` names the champion before
  rejected        the release gate rejected it (`replaces`: the champion it was compared with)
  manual-promote  a person made it the champion (`actor`, `note`: who and why)
  rolled-back     a person restored this model as the champion; `replaces` is the demoted one

Champion changes (promoted, manual-promote, rolled-back) are compare-and-set: replaying applies
one only while `replaces` is still the champion; otherwise it is kept and shown as superseded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pedigree.errors import RegistryError

SCHEMA = "pedigree/registry-event/v1"
EVENTS_DIR = "events"
KINDS = ("registered", "scored", "promoted", "rejected", "manual-promote", "rolled-back")
CHAMPION_KINDS = ("promoted", "manual-promote", "rolled-back")  # compare-and-set on `replaces`
DECISION_KINDS = ("promoted", "rejected")  # what the release gate writes
MAX_EVENT_BYTES = 1 << 20
SHA256 = re.compile(r"[0-9a-f]{64}")
FILE_NAME = re.compile(r"(?P<at>\d{8}T\d{12}Z)-(?P<kind>[a-z-]+)-(?P<digest>[0-9a-f]{12})\.json")
FIX = (
    "restore the file from git (`git checkout -- PATH`) or remove it if it was never committed; "
    "event files are written by pedigree and never edited"
)


@dataclass(frozen=True)
class RegistryEvent:
    """One event of the log. `data` holds the kind's own fields (see the module docstring)."""

    kind: str
    at: str  # ISO 8601 UTC with microseconds: 2026-12-02T01:53:03.123456Z
    model_sha256: str
    actor: str
    replaces: str | None = None  # the champion's sha256 this event compares with (or None)
    reasons: tuple[dict[str, Any], ...] = ()  # {check, passed, message} for gate decisions
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the file name, set when written or read

    def body(self) -> dict[str, Any]:
        """The JSON object stored in the file (without the file name)."""
        return {
            "schema": SCHEMA,
            "kind": self.kind,
            "at": self.at,
            "model_sha256": self.model_sha256,
            "actor": self.actor,
            "replaces": self.replaces,
            "reasons": [dict(r) for r in self.reasons],
            "note": self.note,
            "data": self.data,
        }

    def text(self) -> str:
        """The file's bytes as text: canonical, sorted, indented JSON."""
        return json.dumps(self.body(), indent=2, sort_keys=True, ensure_ascii=True) + "\n"

    def file_name(self) -> str:
        """`<at>-<kind>-<digest>.json`: unique per event, ordered by time."""
        stamp = self.at.replace("-", "").replace(":", "").replace(".", "")
        digest = hashlib.sha256(self.text().encode("utf-8")).hexdigest()[:12]
        return f"{stamp}-{self.kind}-{digest}.json"


def now() -> str:
    """The current UTC time as events record it (microseconds, so names rarely tie)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events_dir(registry: Path) -> Path:
    """The folder holding the event files of the registry rooted at `registry`."""
    return registry / EVENTS_DIR


def write_event(registry: Path, event: RegistryEvent) -> RegistryEvent:
    """Add `event` as a new file (atomically, never replacing one); returns it with its name.

    The hashes are checked first (full match): a model hash read from a pipeline file must not
    smuggle a newline or a path into the log."""
    if event.kind not in KINDS:
        raise RegistryError(f"'{event.kind}' is not a registry event kind", ", ".join(KINDS))
    for key, value in (("model", event.model_sha256), ("replaces", event.replaces)):
        if value is not None and not SHA256.fullmatch(value):
            raise RegistryError(
                f"the {key} hash {value!r} is not a sha256 (64 lower-case hex digits)",
                "re-run the stage that wrote it (evaluate writes the model's sha256)",
            )
    folder = events_dir(registry)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create the registry's event folder {folder}: {exc.strerror}",
            "check the path and its permissions",
        ) from None
    name = event.file_name()
    final = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        tmp.write_text(event.text(), encoding="utf-8")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # link, not rename: it fails instead of replacing when the name exists
        os.link(tmp, final)
    except FileExistsError:
        raise RegistryError(
            f"the registry event {final} exists already",
            "this exact event was recorded before; nothing to do",
        ) from None
    except OSError as exc:
        raise RegistryError(
            f"cannot write the registry event {final}: {exc.strerror}",
            "check the folder's permissions and free space",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return RegistryEvent(**{**_fields(event), "name": name})


def _fields(event: RegistryEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "at": event.at,
        "model_sha256": event.model_sha256,
        "actor": event.actor,
        "replaces": event.replaces,
        "reasons": event.reasons,
        "note": event.note,
        "data": event.data,
        "name": event.name,
    }


def _bad(path: Path, what: str) -> RegistryError:
    return RegistryError(f"{path}: {what}", FIX.replace("PATH", str(path)))


def _text_field(doc: dict[str, Any], key: str, path: Path, optional: bool = False) -> str | None:
    value = doc.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(path, f"[{key}] must be a non-empty string")
    return value


def parse_event(path: Path, raw: bytes) -> RegistryEvent:
    """One event from its file's bytes; RegistryError naming the file and key when invalid."""
    match = FILE_NAME.fullmatch(path.name)
    if match is None:
        raise _bad(path, "is not named like an event (<time>-<kind>-<digest>.json)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(path, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad(path, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise _bad(path, "must hold a JSON object")
    if doc.get("schema") != SCHEMA:
        raise _bad(path, f"[schema] must be {SCHEMA!r}, not {doc.get('schema')!r}")
    kind = _text_field(doc, "kind", path)
    if kind not in KINDS:
        raise _bad(path, f"[kind] {kind!r} is not one of {', '.join(KINDS)}")
    model = _text_field(doc, "model_sha256", path)
    replaces = _text_field(doc, "replaces", path, optional=True)
    for key, value in (("model_sha256", model), ("replaces", replaces)):
        if value is not None and not SHA256.fullmatch(value):
            raise _bad(path, f"[{key}] is not a sha256 (64 hex digits)")
    reasons = doc.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, dict) for r in reasons):
        raise _bad(path, "[reasons] must be a list of objects")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise _bad(path, "[data] must be an object")
    note = doc.get("note")
    if note is not None and not isinstance(note, str):
        raise _bad(path, "[note] must be a string or null")
    event = RegistryEvent(
        kind=str(kind),
        at=str(_text_field(doc, "at", path)),
        model_sha256=str(model),
        actor=str(_text_field(doc, "actor", path)),
        replaces=replaces,
        reasons=tuple(reasons),
        note=note,
        data=data,
        name=path.name,
    )
    if event.file_name() != path.name:
        raise _bad(
            path,
            "its content does not match its name (the digest or time differs): the file was "
            "edited after it was written",
        )
    return event


def load_events(registry: Path) -> tuple[RegistryEvent, ...]:
    """Every event of the registry at `registry`, in replay order; () when it has none yet."""
    folder = events_dir(registry)
    if not folder.is_dir():
        return ()
    events = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue  # a writer's temporary file
        if path.is_symlink() or not path.is_file():
            raise _bad(path, "is not a plain file")
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_EVENT_BYTES + 1)
        except OSError as exc:
            raise _bad(path, f"cannot be read ({exc.strerror})") from None
        if len(raw) > MAX_EVENT_BYTES:
            raise _bad(path, f"is larger than {MAX_EVENT_BYTES} bytes")
        events.append(parse_event(path, raw))
    return tuple(events)
