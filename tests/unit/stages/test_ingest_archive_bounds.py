"""Ingest refuses archives and downloads over their bounds, before writing anything."""

from __future__ import annotations

import copy
import gzip
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from pedigree.errors import SourceError
from stages.ingest import sources
from stages.ingest.params import IngestParams
from stages.ingest.sources import ArchiveLimits, download, extract, open_local, open_source

GIB = 1 << 30
ZEROS = 16 << 20


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


@pytest.fixture(scope="session")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images.tar.gz holding one 1 GiB file of zeros, about 1 MB compressed.

    Built cheaply: a gzip file may be several gzip members in a row, so 16 MiB of zeros is
    compressed once and the member repeated 64 times; the tar header and the end-of-archive
    blocks are members of their own.
    """
    path = tmp_path_factory.mktemp("bomb") / "images.tar.gz"
    zeros = gzip.compress(bytes(ZEROS), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(_tar_header("images/zeros.jpg", GIB)))
        for _ in range(GIB // ZEROS):
            out.write(zeros)
        out.write(gzip.compress(bytes(2 * tarfile.BLOCKSIZE)))
    return path


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _written(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_the_bomb_is_what_it_claims(bomb: Path) -> None:
    # The fixture must really be a 1 GiB member in a ~1 MB file, or the tests below prove nothing.
    assert bomb.stat().st_size < 2 << 20
    with tarfile.open(bomb, "r:gz") as tar:
        member = tar.next()
    assert member is not None and member.size == GIB and member.isreg()


def test_a_decompression_bomb_is_refused_before_writing(bomb: Path, tmp_path: Path) -> None:
    dest = tmp_path / "tree"
    with pytest.raises(
        SourceError,
        match=r"refusing bomb.tar.gz: it expands to at least 1\.0 GiB from [\d.]+ [KM]iB \(a ratio of "
        r"at least \d+, over the limit of 100\): a decompression bomb\?",
    ) as caught:
        extract(bomb, dest, "bomb.tar.gz")
    assert caught.value.hint == (
        "if you trust the archive, raise `ingest.max_expansion_ratio` in params.yaml (now 100)"
    )
    assert _written(dest) == []


def test_a_bomb_inside_a_source_folder_is_refused(bomb: Path, tmp_path: Path) -> None:
    # The real set is distributed as images.tar.gz + annotations.tar.gz in a folder.
    folder = tmp_path / "pets"
    folder.mkdir()
    os.symlink(bomb, folder / "images.tar.gz")
    params = IngestParams(source=str(folder))
    with pytest.raises(SourceError, match=r"refusing .*pets \(images.tar.gz\): it expands to"):
        with open_source(params, tmp_path):
            pass


def test_a_high_ratio_is_accepted_when_allowed(bomb: Path, tmp_path: Path) -> None:
    limits = ArchiveLimits(ratio=10_000, total_bytes=GIB // 2)
    # Past the ratio the total still holds it, and still before writing.
    with pytest.raises(SourceError, match=r"at least 1\.0 GiB, over the limit of 512\.0 MiB"):
        extract(bomb, tmp_path / "tree", "bomb.tar.gz", limits)
    assert _written(tmp_path / "tree") == []


@pytest.mark.parametrize(
    ("limits", "message", "key"),
    [
        (
            ArchiveLimits(total_bytes=1500),
            r"it expands to at least 2\.0 KiB, over the limit of 1\.5 KiB",
            "max_archive_bytes",
        ),
        (
            ArchiveLimits(member_bytes=999),
            r"member 'pets/a.txt' is 1000 bytes, over the limit of 999 bytes for one file",
            "max_member_bytes",
        ),
        (ArchiveLimits(members=1), "it has more than 1 members", "max_members"),
    ],
    ids=["total", "member", "count"],
)
def test_each_limit_is_enforced(
    tmp_path: Path, limits: ArchiveLimits, message: str, key: str
) -> None:
    tarball = _tarball(
        tmp_path / "small.tar.gz", {"pets/a.txt": b"a" * 1000, "pets/b.txt": b"b" * 1000}
    )
    with pytest.raises(SourceError, match=f"refusing small.tar.gz: {message}") as caught:
        extract(tarball, tmp_path / "tree", "small.tar.gz", limits)
    assert f"raise `ingest.{key}` in params.yaml" in str(caught.value.hint)
    assert _written(tmp_path / "tree") == []


def test_an_archive_exactly_at_the_limits_is_extracted(tmp_path: Path) -> None:
    tarball = _tarball(
        tmp_path / "ok.tar.gz", {"pets/a.txt": b"a" * 1000, "pets/b.txt": b"b" * 1000}
    )
    extract(
        tarball,
        tmp_path / "tree",
        "ok.tar.gz",
        ArchiveLimits(total_bytes=2000, member_bytes=1000, members=2),
    )
    assert (tmp_path / "tree" / "pets" / "b.txt").read_bytes() == b"b" * 1000


def test_the_ratio_applies_only_above_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tarball = _tarball(tmp_path / "text.tar.gz", {"pets/a.txt": b"a" * 100_000})
    # ~100 KB of one letter compresses about 500-fold: fine, it is tiny ...
    extract(tarball, tmp_path / "tree", "text.tar.gz", ArchiveLimits(ratio=2))
    # ... but over the floor the same ratio is refused.
    monkeypatch.setattr(sources, "RATIO_FREE_BYTES", 0)
    with pytest.raises(SourceError, match=r"a ratio of at least \d+, over the limit of 2\)"):
        extract(tarball, tmp_path / "again", "text.tar.gz", ArchiveLimits(ratio=2))


def test_the_bound_is_counted_again_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Headers that differ between the check and the extraction (a file changed in between)
    # are caught by the second count, which sees what tarfile is about to write.
    tarball = _tarball(tmp_path / "lying.tar.gz", {"pets/a.txt": b"a" * 10})
    real = tarfile.data_filter

    def grown(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        safe = copy.copy(real(member, path))
        safe.size = 10_000
        return safe

    monkeypatch.setattr(tarfile, "data_filter", grown)
    with pytest.raises(SourceError, match="at least 9.8 KiB, over the limit of 100 bytes"):
        extract(tarball, tmp_path / "tree", "lying.tar.gz", ArchiveLimits(total_bytes=100))
    assert _written(tmp_path / "tree") == []


def test_params_set_the_limits(tmp_path: Path) -> None:
    _tarball(tmp_path / "pets.tar.gz", {"pets/images/a.txt": b"a" * 5000})
    params = IngestParams(source="pets.tar.gz", max_archive_bytes=4096)
    assert sources.ArchiveLimits.from_params(params).total_bytes == 4096
    with pytest.raises(SourceError, match=r"refusing pets.tar.gz: .*over the limit of 4\.0 KiB"):
        with open_source(params, tmp_path):
            pass


def test_defaults_fit_the_real_oxford_pets_archives() -> None:
    limits = ArchiveLimits.from_params(IngestParams())
    assert limits == ArchiveLimits()
    # images.tar.gz: ~790 MB -> ~800 MB; annotations.tar.gz: ~19 MB -> ~60 MB, ~20k entries
    assert limits.download_bytes > 790e6 and limits.total_bytes > 800e6
    assert limits.ratio > 60 / 19 and limits.members > 20_000


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_archive_bytes", 0, "greater than 0"),
        ("max_members", -1, "greater than 0"),
        ("max_expansion_ratio", "big", "valid"),
        ("max_member_bytes", True, "valid integer"),
    ],
)
def test_limits_in_params_are_validated(key: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IngestParams.model_validate({key: value})


def test_a_fifo_or_device_source_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pets.tar.gz")
    for location in ("pets.tar.gz", "/dev/zero"):
        with pytest.raises(
            SourceError, match=f"source {location} is not a regular file or a folder"
        ):
            with open_local(location, None, tmp_path):
                pass


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b"x" * 5000
    send_length = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.send_response(200)
        if self.send_length:
            self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _NoLength(_Handler):
    send_length = False


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/pets.tar.gz"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(params=[_Handler, _NoLength], ids=["content-length", "no-length"])
def url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "*")
    yield from _serve(request.param)


def test_a_download_over_its_limit_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(
        SourceError, match=r"refusing .*pets.tar.gz: the download is .*, over the limit of 4\.0 KiB"
    ) as caught:
        download(url, tmp_path / "dl", timeout=10, max_bytes=4096)
    assert "raise `ingest.max_download_bytes`" in str(caught.value.hint)


def test_a_download_within_its_limit_is_kept(url: str, tmp_path: Path) -> None:
    download(url, tmp_path / "dl", timeout=10, max_bytes=5000)
    assert (tmp_path / "dl").read_bytes() == b"x" * 5000
