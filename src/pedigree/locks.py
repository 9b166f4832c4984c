"""Environment locks: each stage's `requirements.lock` must agree with the combined lock the
local .venv is installed from, and the running environment must match it. Otherwise a stage's
cache key (which hashes its lock) would not describe the environment it really ran in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

COMBINED_LOCK = "images/requirements.lock"
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;\\]+)\s*(;(?P<marker>[^\\]*))?"
)


@dataclass(frozen=True)
class Pin:
    """One `name==version` line of a lock, with its environment marker if any."""

    name: str
    version: str
    marker: str | None
    line: int

    def applies(self) -> bool:
        """True when the marker (if any) holds for this interpreter and platform."""
        if not self.marker:
            return True
        try:
            return Marker(self.marker).evaluate()
        except InvalidMarker:
            return True


def read_lock(path: Path) -> dict[str, Pin]:
    """Pins of a requirements lock, keyed by canonical package name."""
    pins: dict[str, Pin] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _PIN.match(line.strip())
        if match:
            name = canonicalize_name(match["name"])
            marker = (match["marker"] or "").strip() or None
            pins[name] = Pin(name, match["version"], marker, number)
    return pins


def disagreements(stage_lock: Path, combined: dict[str, Pin], display: str) -> list[str]:
    """Lines saying where `stage_lock` pins a version the combined lock does not."""
    found = []
    for name, pin in read_lock(stage_lock).items():
        other = combined.get(name)
        if other is None:
            found.append(f"{display}:{pin.line}: {name}=={pin.version} is not in {COMBINED_LOCK}")
        elif other.version != pin.version:
            found.append(
                f"{display}:{pin.line}: {name}=={pin.version} but {COMBINED_LOCK}:{other.line} "
                f"pins {other.version}"
            )
    return found


def environment_mismatches(combined: dict[str, Pin]) -> list[str]:
    """Lines saying where the running environment differs from the combined lock."""
    found = []
    for name, pin in sorted(combined.items()):
        if not pin.applies():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            found.append(f"{name}=={pin.version} is locked but not installed")
            continue
        if installed != pin.version:
            found.append(f"{name} {installed} is installed but the lock pins {pin.version}")
    return found
