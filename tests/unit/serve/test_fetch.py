"""Fetching a bundle's files by URI: checked against their hashes, renamed into place only
when right, so a wrong or partial file never lands in --files."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import fsspec
import pytest

from pedigree.bundle import BundleFile
from pedigree.errors import ExitCode, ServeError
from pedigree.serve.fetch import StoreUnreachableError, fetch_bundle, fetch_file
from tests.unit.serve.fakes import bundle_for, write_files


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_file_uris_and_plain_paths_are_fetched_by_md5(tmp_path: Path) -> None:
    source = write_files(tmp_path / "store")
    uris = {
        "model": source["model"].as_uri(),
        "calibration": str(source["calibration"]),
        "stats": source["stats"].as_uri(),
    }
    bundle = bundle_for(source, uris=uris)
    fetched = fetch_bundle(bundle, tmp_path / "models")
    for item in bundle.files:
        assert fetched[item.role] == tmp_path / "models" / item.md5 / Path(item.path).name
        assert fetched[item.role].read_bytes() == source[item.role].read_bytes()
    assert not [p for p in leftovers(tmp_path / "models") if "partial" in p]


def test_a_file_already_there_is_reused_and_a_damaged_one_replaced(tmp_path: Path) -> None:
    source = write_files(tmp_path / "store")
    bundle = bundle_for(source, uris={role: str(path) for role, path in source.items()})
    first = fetch_bundle(bundle, tmp_path / "models")
    source["stats"].unlink()  # not read again: the copy there matches
    assert fetch_file(bundle.file("stats"), tmp_path / "models") == first["stats"]
    stale = first["model"].parent / ".model.keras.k1ll3d.partial"  # from a killed fetch
    stale.write_bytes(b"half")
    first["model"].write_bytes(b"damaged")
    fetched = fetch_file(bundle.model, tmp_path / "models")
    assert fetched.read_bytes() == source["model"].read_bytes()
    assert not stale.exists()


def test_a_mismatched_file_leaves_nothing_behind(tmp_path: Path) -> None:
    source = write_files(tmp_path / "store")
    bundle = bundle_for(source, uris={role: str(path) for role, path in source.items()})
    source["model"].write_bytes(b"x" * source["model"].stat().st_size)  # same size, other bytes
    with pytest.raises(
        ServeError, match=r"the model file .*\.partial has sha256 [0-9a-f]{64}, not the recorded"
    ) as caught:
        fetch_bundle(bundle, tmp_path / "models")
    assert caught.value.exit_code == ExitCode.USER_ERROR
    assert leftovers(tmp_path / "models") == []


def test_a_longer_file_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    source = write_files(tmp_path / "store")
    bundle = bundle_for(source, uris={role: str(path) for role, path in source.items()})
    with source["model"].open("ab") as grow:
        grow.write(b"\0" * (3 << 20))
    with pytest.raises(
        ServeError, match=r"the model file at .*model.keras holds more than the recorded 2048 bytes"
    ):
        fetch_file(bundle.model, tmp_path / "models")
    assert leftovers(tmp_path / "models") == []


def _item(uri: str | None) -> BundleFile:
    return BundleFile("model", "models/model.keras", "0" * 32, "a" * 64, 10, uri)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (None, r"the bundle's model file \(models/model.keras\) has no uri"),
        (
            "models/model.keras",
            r"has the uri models/model.keras: only s3://, file:// and absolute paths are fetched",
        ),
        ("https://user:secret@example.com/m", r"has the uri https://example.com/m: only s3://"),
        ("/no/such/model.keras", r"the model file /no/such/model.keras does not exist"),
        ("file:///", r"the model file / is a folder, not a file"),
    ],
)
def test_unusable_uris_are_bundle_errors(tmp_path: Path, uri: str | None, message: str) -> None:
    with pytest.raises(ServeError, match=message) as caught:
        fetch_file(_item(uri), tmp_path / "models")
    assert caught.value.exit_code == ExitCode.USER_ERROR
    assert leftovers(tmp_path / "models") == []


class FakeS3:
    """fsspec.open for s3:// URIs, recording what it was asked."""

    def __init__(self, objects: dict[str, bytes | Exception]) -> None:
        self.objects = objects
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, uri: str, mode: str, **options: Any) -> io.BytesIO:
        self.calls.append((uri, options))
        found = self.objects.get(uri, FileNotFoundError(uri))
        if isinstance(found, Exception):
            raise found
        return io.BytesIO(found)


def test_s3_objects_are_read_with_the_environment_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(tmp_path / "store")
    uri = "s3://pedigree/dvc/files/md5/ab/cdef"
    bundle = bundle_for({"model": source["model"]}, uris={"model": uri})
    fake = FakeS3({uri: source["model"].read_bytes()})
    monkeypatch.setattr(fsspec, "open", fake)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.pedigree:9000")
    path = fetch_bundle(bundle, tmp_path / "models")["model"]
    assert path.read_bytes() == source["model"].read_bytes()
    assert fake.calls == [(uri, {"client_kwargs": {"endpoint_url": "http://minio.pedigree:9000"}})]


def test_a_missing_s3_object_is_a_bundle_error_and_a_failing_store_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    fake = FakeS3({"s3://b/denied": PermissionError("Access Denied for s3cr3t-value")})
    monkeypatch.setattr(fsspec, "open", fake)
    with pytest.raises(
        ServeError,
        match=r"the model file is not in the store: s3://b/missing\n  hint: push it to the DVC remote",
    ) as missing:
        fetch_file(_item("s3://b/missing"), tmp_path / "models")
    assert missing.value.exit_code == ExitCode.USER_ERROR
    with pytest.raises(
        StoreUnreachableError,
        match=r"cannot read s3://b/denied: PermissionError: Access Denied for \*\*\*",
    ) as denied:
        fetch_file(_item("s3://b/denied"), tmp_path / "models")
    assert denied.value.exit_code == ExitCode.TOOL_ERROR
    assert fake.calls[0][1] == {}
    assert leftovers(tmp_path / "models") == []


def test_an_unreachable_s3_endpoint_is_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(
        StoreUnreachableError,
        match=r"cannot read s3://b/k at http://127.0.0.1:9: EndpointConnectionError",
    ) as caught:
        fetch_file(_item("s3://b/k"), tmp_path / "models")
    assert caught.value.exit_code == ExitCode.TOOL_ERROR
    assert os.listdir(tmp_path / "models") == []
