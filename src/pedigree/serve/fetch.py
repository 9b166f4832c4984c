"""Fetch a serve bundle's files by their URIs, each checked against its hashes before use.

The serving image gets the bundle with a `uri` on every file: a DVC remote object
(`s3://bucket/dvc/files/md5/ab/cdef...`, read with the credentials and endpoint of the
environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), a `file://` URI or
an absolute path (a mounted volume). Each lands at `<folder>/<md5>/<basename of its path>`
through a temporary file renamed into place only once its bytes match the recorded hashes, so
the folder never holds a partial or wrong file; one already there is reused if it matches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pedigree.bundle import CHUNK, BundleFile, ServeBundle, verify_file
from pedigree.errors import ExitCode, ServeError
from pedigree.redact import redact_error, url_without_credentials

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
_HINT_BUNDLE = "write the bundle with `pedigree models manifest` (every file needs a uri)"
_HINT_STORE = (
    "check the store's address (AWS_ENDPOINT_URL), the credentials (AWS_ACCESS_KEY_ID, "
    "AWS_SECRET_ACCESS_KEY) and that the pod may reach it"
)


class StoreUnreachableError(ServeError):
    """The store holding a bundle's file could not be read (network, credentials, rights)."""

    exit_code = ExitCode.TOOL_ERROR


def fetch_bundle(bundle: ServeBundle, folder: Path) -> dict[str, Path]:
    """Every file of `bundle` fetched into `folder` and verified: role -> local path.

    ServeError (exit 2) for a file without a usable URI, a missing object or bytes that are
    not the recorded ones; StoreUnreachableError (exit 4) when the store cannot be read.
    """
    return {item.role: fetch_file(item, folder) for item in bundle.files}


def fetch_file(item: BundleFile, folder: Path) -> Path:
    """`item` fetched into `folder/<md5>/<name>` and verified (reused if already there)."""
    if item.uri is None:
        raise ServeError(f"the bundle's {item.role} file ({item.path}) has no uri", _HINT_BUNDLE)
    target = folder / item.md5 / (PurePosixPath(item.path).name or item.role)
    if target.is_file():
        try:
            verify_file(item, target)
            return target
        except ServeError:
            target.unlink()  # a stale or damaged copy: fetch it again
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServeError(
            f"cannot create {target.parent}: {exc.strerror}", "check --files"
        ) from None
    for stale in target.parent.glob(f".{target.name}.*.partial"):
        stale.unlink(missing_ok=True)  # left by a process killed while fetching
    fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            _copy(item, sink)
        verify_file(item, Path(scratch))
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        _remove_if_empty(target.parent)
        raise
    return target


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another file), or already gone
        folder.rmdir()


def _copy(item: BundleFile, sink: IO[bytes]) -> None:
    uri = item.uri or ""
    scheme = urlsplit(uri).scheme
    if scheme == "s3":
        _copy_s3(item, uri, sink)
        return
    if scheme == "file":
        path = Path(unquote(urlsplit(uri).path))
    elif scheme == "" and Path(uri).is_absolute():
        path = Path(uri)
    else:
        raise ServeError(
            f"the bundle's {item.role} file has the uri {url_without_credentials(uri)}: "
            "only s3://, file:// and absolute paths are fetched",
            _HINT_BUNDLE,
        )
    try:
        with path.open("rb") as source:
            _stream(item, source, sink)
    except FileNotFoundError:
        raise ServeError(
            f"the {item.role} file {path} does not exist", "check the volume holding the model"
        ) from None
    except IsADirectoryError:
        raise ServeError(f"the {item.role} file {path} is a folder, not a file") from None
    except OSError as exc:
        raise StoreUnreachableError(
            f"cannot read the {item.role} file {path}: {exc.strerror or exc}"
        ) from None


def _copy_s3(item: BundleFile, uri: str, sink: IO[bytes]) -> None:
    # Imported here: only the serving image reads S3, and s3fs is slow to import.
    import fsspec  # type: ignore[import-untyped]

    endpoint = os.environ.get(ENDPOINT_ENV)
    options: dict[str, Any] = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
    try:
        with fsspec.open(uri, "rb", **options) as source:
            _stream(item, source, sink)
    except ServeError:
        raise
    except FileNotFoundError:
        raise ServeError(
            f"the {item.role} file is not in the store: {uri}",
            "push it to the DVC remote (`dvc push`) before serving this version",
        ) from None
    except Exception as exc:  # each fsspec/botocore layer raises its own errors
        where = f" at {endpoint}" if endpoint else ""
        raise StoreUnreachableError(
            f"cannot read {uri}{where}: {type(exc).__name__}: {redact_error(exc)}", _HINT_STORE
        ) from None


def _stream(item: BundleFile, source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy `source` into `sink`, stopping as soon as it is longer than the recorded size."""
    if item.size is None:
        shutil.copyfileobj(source, sink, CHUNK)
        return
    copied = 0
    while chunk := source.read(CHUNK):
        copied += len(chunk)
        if copied > item.size:
            raise ServeError(
                f"the {item.role} file at {url_without_credentials(item.uri or '')} holds more "
                f"than the recorded {item.size} bytes: refusing bytes the registry does not name",
                "fix the bundle's uri, or restore the store's object",
            )
        sink.write(chunk)
