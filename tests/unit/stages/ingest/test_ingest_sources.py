"""Resolving a source: folders, tarballs (safely), and pinned downloads from a loopback server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from pedigree.errors import SourceError
from stages.ingest.loader import Sample, iter_dataset
from stages.ingest.params import IngestParams, SyntheticParams
from stages.ingest.sources import Source, open_local, open_source, open_url


def _count(source: Source) -> int:
    return sum(isinstance(item, Sample) for item in iter_dataset(source.root))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tar(path: Path, folder: Path, arcname: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return path


def _tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def test_folder(synthetic_root: Path, small: SyntheticParams) -> None:
    with open_local(str(synthetic_root), None, Path("/")) as source:
        assert (source.kind, source.sha256, source.root) == ("folder", None, synthetic_root)
        assert _count(source) == small.count


def test_relative_folder_is_relative_to_the_project(synthetic_root: Path) -> None:
    with open_local(synthetic_root.name, None, synthetic_root.parent) as source:
        assert source.location == synthetic_root.name and source.root == synthetic_root


def test_folder_with_the_layout_one_level_down(pets_folder: Path, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    pets_folder.rename(outer / "oxford-iiit-pet")
    with open_local(str(outer), None, tmp_path) as source:
        assert source.root == outer / "oxford-iiit-pet"


@pytest.mark.parametrize("arcname", [".", "oxford-iiit-pet"], ids=["top-level", "one-folder"])
def test_tarball(
    synthetic_root: Path, tmp_path: Path, small: SyntheticParams, arcname: str
) -> None:
    tarball = _tar(tmp_path / "pets.tar.gz", synthetic_root, arcname)
    with open_local(str(tarball), _sha(tarball), tmp_path) as source:
        assert (source.kind, source.sha256) == ("tarball", _sha(tarball))
        assert _count(source) == small.count
        extracted = source.root
    assert not extracted.exists()  # the temporary copy is gone after use


def test_tarball_without_pin_records_its_hash(synthetic_root: Path, tmp_path: Path) -> None:
    tarball = _tar(tmp_path / "pets.tgz", synthetic_root, ".")
    with open_local("pets.tgz", None, tmp_path) as source:
        assert source.sha256 == _sha(tarball) and source.location == "pets.tgz"


def test_split_tarballs_like_the_real_distribution(
    synthetic_root: Path, tmp_path: Path, small: SyntheticParams
) -> None:
    folder = tmp_path / "download"
    folder.mkdir()
    _tar(folder / "images.tar.gz", synthetic_root / "images", "images")
    _tar(folder / "annotations.tar.gz", synthetic_root / "annotations", "annotations")
    with open_local(str(folder), None, tmp_path) as source:
        assert source.kind == "folder" and _count(source) == small.count


def test_tarball_sha256_mismatch_is_refused(synthetic_root: Path, tmp_path: Path) -> None:
    tarball = _tar(tmp_path / "pets.tar.gz", synthetic_root, ".")
    with pytest.raises(
        SourceError,
        match=f"sha256 mismatch for .*pets.tar.gz: expected {'0' * 64}, got {_sha(tarball)}",
    ):
        with open_local(str(tarball), "0" * 64, tmp_path):
            pass


def test_sha256_for_a_folder_is_refused(synthetic_root: Path) -> None:
    with pytest.raises(SourceError, match="sha256 is set but source .* is a folder"):
        with open_local(str(synthetic_root), "0" * 64, Path("/")):
            pass


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tarfile.TarInfo("../evil.txt"), "climbs out with '..'"),
        (tarfile.TarInfo("pets/../../evil.txt"), "climbs out with '..'"),
        (tarfile.TarInfo("/tmp/evil.txt"), "has an absolute path"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute"],
)
def test_unsafe_members_are_refused(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    tarball = _tar_with(tmp_path / "evil.tar.gz", member)
    with pytest.raises(SourceError, match=f"refusing .*evil.tar.gz: member .*{message}"):
        with open_local(str(tarball), None, tmp_path):
            pass
    assert not (tmp_path.parent / "evil.txt").exists()


def test_links_escaping_the_folder_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("images")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc"
    tarball = _tar_with(tmp_path / "link.tar.gz", link)
    with pytest.raises(SourceError, match="refusing .*link.tar.gz: unsafe member"):
        with open_local(str(tarball), None, tmp_path):
            pass


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "source .* is empty"),
        (lambda p: None, "source .* does not exist"),
        (
            lambda p: (p.mkdir(), (p / "readme.txt").write_text("hi")),
            "not in the Oxford-IIIT Pet layout",
        ),
        (lambda p: p.write_text("not a tarball"), "is a file but not a .tar.gz archive"),
    ],
    ids=["empty", "missing", "no-layout", "not-tar"],
)
def test_unusable_local_sources(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    make(tmp_path / "src")
    with pytest.raises(SourceError, match=message):
        with open_local("src", None, tmp_path):
            pass


def test_corrupt_tarball(tmp_path: Path) -> None:
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip")
    with pytest.raises(SourceError, match="cannot extract broken.tar.gz"):
        with open_local("broken.tar.gz", None, tmp_path):
            pass


def test_url_without_sha256_is_refused_by_params() -> None:
    with pytest.raises(ValidationError, match=r"a URL source needs sha256: .*add `sha256: <hex>`"):
        IngestParams(source="https://example.org/pets.tar.gz")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def server(synthetic_root: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server on an ephemeral port serving pets.tar.gz; yields (base URL, file)."""
    served = tmp_path / "served"
    served.mkdir()
    tarball = _tar(served / "pets.tar.gz", synthetic_root, "pets")
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", tarball
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_url_is_downloaded_and_verified(server: tuple[str, Path], small: SyntheticParams) -> None:
    base, tarball = server
    url = f"{base}/pets.tar.gz"
    with open_url(url, _sha(tarball), timeout=10) as source:
        assert (source.kind, source.location, source.sha256) == ("url", url, _sha(tarball))
        assert _count(source) == small.count


def test_url_with_wrong_sha256_is_refused_before_extraction(server: tuple[str, Path]) -> None:
    base, tarball = server
    with pytest.raises(
        SourceError, match=f"sha256 mismatch for .*: expected {'a' * 64}, got {_sha(tarball)}"
    ):
        with open_url(f"{base}/pets.tar.gz", "a" * 64, timeout=10):
            pass


def test_url_not_found(server: tuple[str, Path]) -> None:
    base, _ = server
    with pytest.raises(SourceError, match=f"cannot download {base}/missing.tar.gz: HTTP 404"):
        with open_url(f"{base}/missing.tar.gz", "a" * 64, timeout=10):
            pass


def test_unreachable_url() -> None:
    with socket.socket() as sock:  # grab a free loopback port, then close it: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/pets.tar.gz"
    with pytest.raises(SourceError, match=f"cannot download {url}: .*refused"):
        with open_url(url, "a" * 64, timeout=5):
            pass


def test_open_source_dispatches_on_params(small: SyntheticParams, tmp_path: Path) -> None:
    with open_source(IngestParams(synthetic=small), tmp_path) as source:
        assert (source.kind, source.location, source.sha256) == ("synthetic", "synthetic", None)
        assert source.synthetic == {
            "seed": 7,
            "count": 24,
            "images_per_animal": [2, 4],
            "image_size": [64, 96],
        }
        assert _count(source) == small.count
