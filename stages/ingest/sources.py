"""Resolve `ingest.source` to a local folder in the Oxford-IIIT Pet layout.

A source is the built-in synthetic generator, a local folder, a local `.tar.gz`, or an https URL
of a `.tar.gz`. Whatever it is, the result is a folder the loader reads; temporary copies
(generated, downloaded, extracted) live in a temporary directory removed when the `with` ends.

Safety: archives are extracted with tarfile's "data" filter after refusing absolute and `..`
member names outright, so nothing lands outside the scratch folder; a download is verified
against its sha256 pin *before* it is opened as an archive.
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


@contextlib.contextmanager
def open_source(params: IngestParams, base: Path) -> Iterator[Source]:
    """Resolve `params.source` (relative paths against `base`) and yield it while in use."""
    if params.is_synthetic:
        with open_synthetic(params.synthetic) as source:
            yield source
    elif is_url(params.source):
        with open_url(params.source, params.sha256) as source:
            yield source
    else:
        with open_local(params.source, params.sha256, base) as source:
            yield source


@contextlib.contextmanager
def open_synthetic(params: SyntheticParams) -> Iterator[Source]:
    """Generate the synthetic data set into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="pedigree-ingest-") as tmp:
        generate(params, Path(tmp))
        yield Source("synthetic", "synthetic", None, Path(tmp), params.model_dump(mode="json"))


@contextlib.contextmanager
def open_local(location: str, sha256: str | None, base: Path) -> Iterator[Source]:
    """A local folder or tarball; a given `sha256` must match the tarball's."""
    path = Path(location).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise SourceError(f"source {location} does not exist (looked for {path})", SOURCE_HINT)
    with tempfile.TemporaryDirectory(prefix="pedigree-ingest-") as tmp:
        scratch = Path(tmp)
        if path.is_dir():
            if sha256 is not None:
                raise SourceError(
                    f"sha256 is set but source {location} is a folder; a pin checks one file",
                    "set `sha256: null`, or point source at the .tar.gz the pin belongs to",
                )
            yield Source("folder", location, None, _layout_root(path, scratch, location))
            return
        if not _looks_like_tarball(path):
            raise SourceError(f"source {location} is a file but not a .tar.gz archive", SOURCE_HINT)
        actual = sha256_file(path)
        _check_pin(location, sha256, actual)
        tree = scratch / "tree"
        extract(path, tree, location)
        yield Source("tarball", location, actual, _layout_root(tree, scratch, location))


@contextlib.contextmanager
def open_url(url: str, sha256: str | None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Iterator[Source]:
    """Download a tarball, verify it against `sha256`, then extract it.

    The https-only rule lives in params validation; this function also serves plain http so
    tests can use a loopback server.
    """
    if sha256 is None:
        raise SourceError(f"a URL source needs sha256: {url}", "add `sha256: <hex>` to ingest")
    with tempfile.TemporaryDirectory(prefix="pedigree-ingest-") as tmp:
        scratch = Path(tmp)
        archive = scratch / "download.tar.gz"
        actual = download(url, archive, timeout)
        _check_pin(url, sha256, actual)  # before extracting: never open unverified bytes
        tree = scratch / "tree"
        extract(archive, tree, url)
        yield Source("url", url, actual, _layout_root(tree, scratch, url))


def download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> str:
    """Stream `url` into `dest`; return its sha256. Network failures become SourceError."""
    if not url.lower().startswith(("https://", "http://")):
        raise SourceError(f"cannot download {url}: only https:// URLs are supported", SOURCE_HINT)
    hint = "check the URL and the network (proxy settings included), then run again"
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "pedigree-ingest"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"cannot download {url}: HTTP {exc.code} {exc.reason}", hint) from None
    except urllib.error.URLError as exc:
        raise SourceError(f"cannot download {url}: {exc.reason}", hint) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, short reads
        raise SourceError(f"cannot download {url}: {exc or type(exc).__name__}", hint) from None
    return digest.hexdigest()


def extract(tarball: Path, dest: Path, label: str) -> None:
    """Extract `tarball` into `dest`, refusing any member that could land outside it."""
    hint = "only use archives you trust; rebuild it with relative member paths and no links out"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                # The "data" filter would silently strip a leading "/"; refuse instead, since an
                # archive written that way was not made for this.
                name = member.name.replace("\\", "/")
                what = f"refusing {label}: member {member.name!r}"
                if name.startswith("/") or PureWindowsPath(member.name).drive:
                    raise SourceError(f"{what} has an absolute path", hint)
                if ".." in PurePosixPath(name).parts:
                    raise SourceError(f"{what} climbs out with '..'", hint)
            tar.extractall(dest, members=members, filter="data")
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


def _layout_root(folder: Path, scratch: Path, label: str, depth: int = 0) -> Path:
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
                extract(folder / name, tree, f"{label} ({name})")
        return _layout_root(tree, scratch, label, depth + 1)
    if depth == 0 and len(entries) == 1 and entries[0].is_dir():
        return _layout_root(entries[0], scratch, label, depth + 1)
    raise SourceError(
        f"source {label} is not in the Oxford-IIIT Pet layout: no images/ folder found", LAYOUT_HINT
    )
