"""Resolve `ingest.source` to a local folder in the Oxford-IIIT Pet layout.

A source is the built-in synthetic generator, a local folder, a local `.tar.gz`, or an https URL
of a `.tar.gz`. Whatever it is, the result is a folder the loader reads; temporary copies
(generated, downloaded, extracted) live in a temporary directory removed when the `with` ends.

Safety: archives are extracted with tarfile's "data" filter after refusing absolute and `..`
member names outright, so nothing lands outside the scratch folder; a download is verified
against its sha256 pin *before* it is opened as an archive. Sizes are bounded (`ArchiveLimits`,
set in params.yaml `ingest`): a download stops at `max_download_bytes`, and an archive whose
headers announce too many members, too large a member, too much in all or too high an expansion
ratio (a "zip bomb": 1 GiB of zeros is 1 MB compressed) is refused before anything is written;
the same budget is counted again while extracting, where tarfile writes exactly the size each
header announces, so the files written can never exceed the limits even if the archive changes
between the two passes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pedigree.errors import SourceError
from pedigree.stagekit import CHUNK, sha256_file
from stages.ingest.params import IngestParams, SyntheticParams, is_url
from stages.ingest.synthetic import generate

DOWNLOAD_TIMEOUT_S = 60.0
# An archive expanding to less than this is never refused for its ratio: it cannot be a bomb,
# and tiny archives of repetitive text legitimately compress 100-fold and more.
RATIO_FREE_BYTES = 64 << 20
RAISE_HINT = "if you trust the archive, raise `ingest.{key}` in params.yaml (now {limit})"
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")
SPLIT_TARBALLS = ("images.tar.gz", "annotations.tar.gz")  # how the real set is distributed
LAYOUT_HINT = (
    "a source holds images/, annotations/trimaps/ and annotations/list.txt (at the top or under "
    "one folder), or the two archives images.tar.gz and annotations.tar.gz"
)
SOURCE_HINT = "set ingest.source to `synthetic`, a folder, a .tar.gz file or an https:// URL"


@dataclass(frozen=True)
class Source:
    """A resolved source: what the manifest records about it and the folder to load."""

    kind: str  # synthetic | folder | tarball | url
    location: str  # as written in params.yaml (relative paths stay relative: stable manifests)
    sha256: str | None  # of the tarball or download; None for folders and synthetic data
    root: Path
    synthetic: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """The manifest's `source` entry."""
        return {
            "kind": self.kind,
            "location": self.location,
            "sha256": self.sha256,
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class ArchiveLimits:
    """How large a download or one archive may be (see `IngestParams` for each key)."""

    total_bytes: int = 4 << 30
    member_bytes: int = 1 << 30
    members: int = 100_000
    ratio: float = 100
    download_bytes: int = 2 << 30

    @classmethod
    def from_params(cls, params: IngestParams) -> ArchiveLimits:
        """The limits set in params.yaml `ingest` (defaults where not set)."""
        return cls(
            total_bytes=params.max_archive_bytes,
            member_bytes=params.max_member_bytes,
            members=params.max_members,
            ratio=params.max_expansion_ratio,
            download_bytes=params.max_download_bytes,
        )


DEFAULT_LIMITS = ArchiveLimits()


@contextlib.contextmanager
def open_source(params: IngestParams, base: Path) -> Iterator[Source]:
    """Resolve `params.source` (relative paths against `base`) and yield it while in use."""
    limits = ArchiveLimits.from_params(params)
    if params.is_synthetic:
        with open_synthetic(params.synthetic) as source:
            yield source
    elif is_url(params.source):
        with open_url(params.source, params.sha256, limits=limits) as source:
            yield source
    else:
        with open_local(params.source, params.sha256, base, limits=limits) as source:
            yield source


@contextlib.contextmanager
def open_synthetic(params: SyntheticParams) -> Iterator[Source]:
    """Generate the synthetic data set into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="pedigree-ingest-") as tmp:
        generate(params, Path(tmp))
        yield Source("synthetic", "synthetic", None, Path(tmp), params.model_dump(mode="json"))


@contextlib.contextmanager
def open_local(
    location: str, sha256: str | None, base: Path, limits: ArchiveLimits = DEFAULT_LIMITS
) -> Iterator[Source]:
    """A local folder or tarball; a given `sha256` must match the tarball's."""
    path = Path(location).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise SourceError(f"source {location} does not exist (looked for {path})", SOURCE_HINT)
    if not path.is_dir() and not path.is_file():
        # A FIFO or device (/dev/zero) would hang or never end when hashed or opened.
        raise SourceError(f"source {location} is not a regular file or a folder", SOURCE_HINT)
    with tempfile.TemporaryDirectory(prefix="pedigree-ingest-") as tmp:
        scratch = Path(tmp)
        if path.is_dir():
            if sha256 is not None:
                raise SourceError(
                    f"sha256 is set but source {location} is a folder; a pin checks one file",
                    "set `sha256: null`, or point source at the .tar.gz the pin belongs to",
                )
            yield Source("folder", location, None, _layout_root(path, scratch, location, limits))
            return
        if not _looks_like_tarball(path):
            raise SourceError(f"source {location} is a file but not a .tar.gz archive", SOURCE_HINT)
        actual = sha256_file(path)
        _check_pin(location, sha256, actual)
        tree = scratch / "tree"
        extract(path, tree, location, limits)
        yield Source("tarball", location, actual, _layout_root(tree, scratch, location, limits))


@contextlib.contextmanager
def open_url(
    url: str,
    sha256: str | None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[Source]:
    """Download a tarball, verify it against `sha256`, then extract it.

    The https-only rule lives in params validation; this function also serves plain http so
    tests can use a loopback server.
    """
    if sha256 is None:
        raise SourceError(f"a URL source needs sha256: {url}", "add `sha256: <hex>` to ingest")
    with tempfile.TemporaryDirectory(prefix="pedigree-ingest-") as tmp:
        scratch = Path(tmp)
        archive = scratch / "download.tar.gz"
        actual = download(url, archive, timeout, limits.download_bytes)
        _check_pin(url, sha256, actual)  # before extracting: never open unverified bytes
        tree = scratch / "tree"
        extract(archive, tree, url, limits)
        yield Source("url", url, actual, _layout_root(tree, scratch, url, limits))


def download(
    url: str,
    dest: Path,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    max_bytes: int = DEFAULT_LIMITS.download_bytes,
) -> str:
    """Stream `url` into `dest`, at most `max_bytes` of it; return its sha256. Network failures
    and oversized downloads become SourceError."""
    if not url.lower().startswith(("https://", "http://")):
        raise SourceError(f"cannot download {url}: only https:// URLs are supported", SOURCE_HINT)
    hint = "check the URL and the network (proxy settings included), then run again"
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "pedigree-ingest"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            announced = response.headers.get("Content-Length", "")
            if announced.strip().isdigit() and int(announced) > max_bytes:
                _too_large_download(url, f"{_size(int(announced))} (Content-Length)", max_bytes)
            received = 0
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > max_bytes:  # the server may not say, or lie about, the length
                    _too_large_download(url, f"more than {_size(max_bytes)}", max_bytes)
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"cannot download {url}: HTTP {exc.code} {exc.reason}", hint) from None
    except urllib.error.URLError as exc:
        raise SourceError(f"cannot download {url}: {exc.reason}", hint) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, short reads
        raise SourceError(f"cannot download {url}: {exc or type(exc).__name__}", hint) from None
    return digest.hexdigest()


def _too_large_download(url: str, what: str, limit: int) -> None:
    raise SourceError(
        f"refusing {url}: the download is {what}, over the limit of {_size(limit)}",
        f"if you trust the file, raise `ingest.max_download_bytes` in params.yaml (now {limit})",
    )


def _size(count: float) -> str:
    """A byte count people read at a glance: 1.0 GiB, 512.0 KiB, 17 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f} {unit}"
    return f"{int(count)} bytes"


class _Budget:
    """Counts one archive's members and bytes, refusing the first member over a limit."""

    def __init__(self, label: str, archive_bytes: int, limits: ArchiveLimits) -> None:
        self.label = label
        self.archive_bytes = max(archive_bytes, 1)
        self.limits = limits
        self.members = 0
        self.total = 0

    def refuse(self, what: str, key: str, limit: float) -> None:
        raise SourceError(f"refusing {self.label}: {what}", RAISE_HINT.format(key=key, limit=limit))

    def add(self, member: tarfile.TarInfo) -> None:
        """Count `member`; SourceError when the archive goes over a limit with it."""
        limits = self.limits
        self.members += 1
        if self.members > limits.members:
            self.refuse(f"it has more than {limits.members} members", "max_members", limits.members)
        size = member.size if member.isreg() else 0  # links, folders: no data of their own
        if size > limits.member_bytes:
            self.refuse(
                f"member {member.name!r} is {_size(size)}, over the limit of "
                f"{_size(limits.member_bytes)} for one file",
                "max_member_bytes",
                limits.member_bytes,
            )
        self.total += size
        if self.total > limits.total_bytes:
            self.refuse(
                f"it expands to at least {_size(self.total)}, over the limit of "
                f"{_size(limits.total_bytes)}",
                "max_archive_bytes",
                limits.total_bytes,
            )
        ratio = self.total / self.archive_bytes
        if self.total > RATIO_FREE_BYTES and ratio > limits.ratio:
            self.refuse(
                f"it expands to at least {_size(self.total)} from {_size(self.archive_bytes)} "
                f"(a ratio of at least {ratio:.0f}, over the limit of {limits.ratio:g}): "
                "a decompression bomb?",
                "max_expansion_ratio",
                limits.ratio,
            )


def extract(tarball: Path, dest: Path, label: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
    """Extract `tarball` into `dest`, refusing any member that could land outside it and any
    archive over `limits` (checked on the headers before writing, and again while writing)."""
    hint = "only use archives you trust; rebuild it with relative member paths and no links out"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        archive_bytes = tarball.stat().st_size
        with tarfile.open(tarball, "r:*") as tar:
            announced = _Budget(label, archive_bytes, limits)
            members = []
            # Headers are read one by one, so a bomb is refused at its first oversized member,
            # before its data is decompressed, let alone written.
            for member in tar:
                # The "data" filter would silently strip a leading "/"; refuse instead, since an
                # archive written that way was not made for this.
                name = member.name.replace("\\", "/")
                what = f"refusing {label}: member {member.name!r}"
                if name.startswith("/") or PureWindowsPath(member.name).drive:
                    raise SourceError(f"{what} has an absolute path", hint)
                if ".." in PurePosixPath(name).parts:
                    raise SourceError(f"{what} climbs out with '..'", hint)
                announced.add(member)
                members.append(member)
            written = _Budget(label, archive_bytes, limits)

            def guarded(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
                safe = tarfile.data_filter(member, path)
                if safe is not None:
                    written.add(safe)  # tarfile writes exactly safe.size bytes for a file
                return safe

            tar.extractall(dest, members=members, filter=guarded)
    except tarfile.FilterError as exc:  # links pointing outside, device files, ...
        raise SourceError(f"refusing {label}: unsafe member: {exc}", hint) from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise SourceError(
            f"cannot extract {label}: {exc or type(exc).__name__}",
            "check that it is an intact .tar.gz",
        ) from None


def _check_pin(label: str, expected: str | None, actual: str) -> None:
    if expected is not None and expected != actual:
        raise SourceError(
            f"sha256 mismatch for {label}: expected {expected}, got {actual}",
            "the file is not the one pinned; if the new file is trusted, update `sha256:`",
        )


def _looks_like_tarball(path: Path) -> bool:
    return path.name.lower().endswith(TARBALL_SUFFIXES) or tarfile.is_tarfile(path)


def _visible(folder: Path) -> list[Path]:
    """Entries that matter: hidden files and macOS `__MACOSX` debris are ignored."""
    return sorted(
        e for e in folder.iterdir() if not e.name.startswith(".") and e.name != "__MACOSX"
    )


def _layout_root(
    folder: Path, scratch: Path, label: str, limits: ArchiveLimits = DEFAULT_LIMITS, depth: int = 0
) -> Path:
    """The folder holding images/: `folder` itself, its single subfolder, or the extraction of
    the images.tar.gz + annotations.tar.gz pair it holds."""
    if (folder / "images").is_dir():
        return folder
    entries = _visible(folder)
    if not entries and depth == 0:
        raise SourceError(f"source {label} is empty", LAYOUT_HINT)
    if (folder / SPLIT_TARBALLS[0]).is_file() and depth < 2:
        tree = scratch / f"split-{depth}"
        for name in SPLIT_TARBALLS:
            if (folder / name).is_file():
                extract(folder / name, tree, f"{label} ({name})", limits)
        return _layout_root(tree, scratch, label, limits, depth + 1)
    if depth == 0 and len(entries) == 1 and entries[0].is_dir():
        return _layout_root(entries[0], scratch, label, limits, depth + 1)
    raise SourceError(
        f"source {label} is not in the Oxford-IIIT Pet layout: no images/ folder found", LAYOUT_HINT
    )
