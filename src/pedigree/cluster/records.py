"""Lineage records travel with a cluster run's results through the DVC remote.

A pod's `.pedigree/lineage/runs/` is gone when the pod is. The step therefore copies the records
it wrote to `<remote>/pedigree/lineage/<run>/<stage>/<file>`, next to the outputs and run-cache
it pushes, and `pedigree pull` copies them back into the local history. There they are what
`pedigree run` already uses after a run-cache restore: the record whose outputs match dvc.lock
becomes `lineage/<stage>.json`, so lineage and verify work on cluster results.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pedigree.errors import PedigreeError, ToolError
from pedigree.lineage.store import HISTORY_DIR
from pedigree.redact import redact_error, redact_text, url_without_credentials

PREFIX = ("pedigree", "lineage")
RUN_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_Folder = TypeVar("_Folder", bound="RemoteFolder")
REMOTE_HINT = (
    "check that the remote is reachable and its URL, endpoint and credentials are right "
    "(`dvc remote list`, `dvc config --local --list`)"
)


@dataclass(frozen=True)
class RemoteRecord:
    """One record file in the remote: which run and stage it belongs to, and its file name."""

    run: str
    stage: str
    name: str


def check_run_name(run: str) -> str:
    """A Workflow name (a Kubernetes object name); refuse anything that could escape a path."""
    if not RUN_NAME.fullmatch(run):  # `$` alone would accept a final newline
        raise PedigreeError(
            f"'{run}' is not a run name",
            "give the Workflow's name as `pedigree submit` printed it, e.g. pets-x7k2q",
        )
    return run


class RemoteFolder:
    """A folder of pedigree's own under one DVC remote (the project's default one unless
    named): `<remote>/<prefix...>`, reached through DVC's filesystem for that remote."""

    def __init__(
        self, root: Path, remote: str | None, prefix: tuple[str, ...], purpose: str
    ) -> None:
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        self.root = root
        try:
            self._repo = Repo(str(root))
            self._remote = self._repo.cloud.get_remote(remote, purpose)
        except DvcException as exc:
            raise ToolError(
                f"no usable DVC remote: {redact_text(str(exc))}",
                "add the cluster's remote: `dvc remote add -d cluster s3://pedigree/dvc` "
                "(and `dvc remote modify cluster endpointurl URL` for MinIO)",
            ) from None
        self.fs: Any = self._remote.fs
        self.base: str = self.fs.join(self._remote.path, *prefix)

    def close(self) -> None:
        """Release the DVC repository."""
        self._repo.close()

    def __enter__(self: _Folder) -> _Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """Where the folder is, for messages (a remote URL's user part left out)."""
        return url_without_credentials(str(self.base))

    def check_reachable(self) -> None:
        """ToolError (exit 4) unless the remote answers: its credentials are accepted and its
        bucket (the first existing folder above its path) exists. Call it before anything is
        run or written, so a wrong endpoint, credential or bucket fails first and leaves nothing
        half-done. A path not yet created is fine: the first push creates it."""
        path = str(self._remote.path).rstrip("/")
        where = url_without_credentials(self.fs.unstrip_protocol(path))
        while True:
            try:
                self.fs.ls(path)
                return
            except FileNotFoundError as exc:
                parent = self.fs.parent(path).rstrip("/")
                if parent and parent != path:
                    path = parent
                    continue
                raise ToolError(
                    f"the DVC remote ({where}) has no bucket or folder '{path}': "
                    + redact_error(exc, "it does not exist"),
                    "create the bucket (e.g. `mc mb` for MinIO, `aws s3 mb`), or correct the "
                    "remote's URL",
                ) from None
            except PermissionError as exc:
                raise ToolError(
                    f"the DVC remote ({where}) refused the credentials: " + redact_error(exc, ""),
                    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the remote's own "
                    "credentials in `dvc config --local --list`) and that they may use the bucket",
                ) from None
            except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own errors
                raise ToolError(
                    f"cannot reach the DVC remote ({where}): "
                    f"{type(exc).__name__}: {redact_error(exc)}",
                    "check the remote's endpoint (AWS_ENDPOINT_URL, or `dvc remote modify NAME "
                    "endpointurl URL` for MinIO) and that this machine may reach it",
                ) from None

    @contextmanager
    def using(self, doing: str) -> Iterator[None]:
        """A failure of the remote's filesystem (any backend: S3, HTTP, SSH...) as a ToolError
        whose message has no credentials (backends repeat the URL, user and password too)."""
        try:
            yield
        except PedigreeError:
            raise
        except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own errors
            raise ToolError(
                f"cannot {doing} the DVC remote ({self.url}): "
                f"{type(exc).__name__}: {redact_error(exc)}",
                REMOTE_HINT,
            ) from None


class RemoteRecords(RemoteFolder):
    """The lineage records folder of one DVC remote (the project's default one unless named)."""

    def __init__(self, root: Path, remote: str | None = None) -> None:
        super().__init__(root, remote, PREFIX, "pedigree lineage records")

    def publish(self, run: str) -> list[str]:
        """Copy every local history record to the remote under `run`; the remote paths."""
        check_run_name(run)
        history = self.root / HISTORY_DIR
        copied = []
        with self.using("copy lineage records to"):
            for path in sorted(history.glob("*/*.json")) if history.is_dir() else []:
                target = self.fs.join(self.base, run, path.parent.name, path.name)
                self.fs.makedirs(self.fs.parent(target), exist_ok=True)
                self.fs.put_file(str(path), target)
                copied.append(target)
        return copied

    def listing(self, run: str | None = None) -> list[RemoteRecord]:
        """Records in the remote: those of `run`, or of every run."""
        top = self.base if run is None else self.fs.join(self.base, check_run_name(run))
        found = []
        with self.using("list lineage records in"):
            if not self.fs.exists(top):
                return []
            for path in sorted(self.fs.find(top)):
                parts = self.fs.relparts(path, self.base)
                if len(parts) == 3 and parts[2].endswith(".json"):
                    found.append(RemoteRecord(*parts))
        return found

    def fetch(self, records: list[RemoteRecord]) -> list[Path]:
        """Copy `records` into the local history (existing files are kept); the local paths."""
        written = []
        with self.using("copy lineage records from"):
            for record in records:
                local = self.root / HISTORY_DIR / record.stage / record.name
                if not local.exists():
                    local.parent.mkdir(parents=True, exist_ok=True)
                    source = self.fs.join(self.base, record.run, record.stage, record.name)
                    self.fs.get_file(source, str(local))
                written.append(local)
        return written
