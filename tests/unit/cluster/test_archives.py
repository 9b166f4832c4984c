"""Folders through the DVC remote as tar archives: packed plainly, checked, unpacked all or
nothing, never outside their folder; and `pedigree pull` of a run that left archives."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pedigree.cluster.archives import ArchiveError, RemoteArchives, pack, unpack
from pedigree.cluster.pull import PullError, _pull_archives

RUN = "pets-replicate-ab12c"


def _folder(base: Path) -> Path:
    folder = base / "ws"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "model.bin").write_bytes(b"\x00\x01weights")
    (folder / "params.yaml").write_text("seed: 1\n")
    (folder / "data" / "raw").mkdir(parents=True)
    (folder / "data" / "raw" / "big.bin").write_bytes(b"upstream")
    os.symlink("params.yaml", folder / "link.yaml")
    return folder


def test_pack_is_plain_sorted_and_leaves_out_what_it_is_told(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    packed = pack(folder, tmp_path / "a.tar", exclude=["data/raw"])
    assert packed == ["models/model.bin", "params.yaml"]  # no link, nothing under data/raw
    pack(folder, tmp_path / "b.tar", exclude=["data/raw"])
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert {(m.uid, m.mtime) for m in tar.getmembers()} == {(0, 0)}


def test_unpack_replaces_the_folder_whole(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    pack(folder, tmp_path / "a.tar")
    target = tmp_path / "home" / "ws"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("from before")
    unpack(tmp_path / "a.tar", target, "a.tar")
    assert (target / "models" / "model.bin").read_bytes() == b"\x00\x01weights"
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["ws"]  # no scratch left


def _evil_tar(path: Path, name: str, kind: bytes = tarfile.REGTYPE) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        data = b"x"
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("../escape.txt", tarfile.REGTYPE),
        ("/abs.txt", tarfile.REGTYPE),
        ("a/../../b.txt", tarfile.REGTYPE),
        ("link", tarfile.SYMTYPE),
    ],
)
def test_unpack_refuses_members_that_are_not_plain_files_inside(
    tmp_path: Path, name: str, kind: bytes
) -> None:
    _evil_tar(tmp_path / "evil.tar", name, kind)
    target = tmp_path / "home" / "ws"
    target.mkdir(parents=True)
    (target / "kept.txt").write_text("mine")
    with pytest.raises(ArchiveError, match="not a plain file inside the folder"):
        unpack(tmp_path / "evil.tar", target, "evil.tar")
    assert (target / "kept.txt").read_text() == "mine"
    assert sorted(p.name for p in target.parent.iterdir()) == ["ws"]
    assert not (tmp_path / "escape.txt").exists()


def _project(tmp_path: Path) -> tuple[Path, Path]:
    """A git + DVC project whose default remote is a local folder."""
    root, remote = tmp_path / "proj", tmp_path / "remote"
    root.mkdir()
    remote.mkdir()
    for argv in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "remote", "add", "-d", "cluster", str(remote)],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "init"],
    ):
        exe = argv[0] if argv[0] == "git" else str(Path(sys.executable).with_name("dvc"))
        subprocess.run([exe, *argv[1:]], cwd=root, check=True, capture_output=True)
    return root, remote


def test_archives_round_trip_through_the_remote_and_are_checked(tmp_path: Path) -> None:
    root, remote = _project(tmp_path)
    folder = _folder(tmp_path)
    with RemoteArchives(root, "archives") as archives:
        put = archives.put(RUN, "fold-0-seed-1", folder, ["data/raw"])
        got = archives.get(RUN, "fold-0-seed-1", root / ".pedigree" / "fold")
        assert got == put
        assert (root / ".pedigree" / "fold" / "params.yaml").read_text() == "seed: 1\n"
        # a changed archive is refused, and the folder in place is kept
        tar = remote / "pedigree" / "archives" / RUN / "fold-0-seed-1.tar"
        tar.write_bytes(tar.read_bytes() + b"\0" * 512)
        with pytest.raises(ArchiveError, match="does not match its description"):
            archives.get(RUN, "fold-0-seed-1", root / ".pedigree" / "fold")
        assert (root / ".pedigree" / "fold" / "models" / "model.bin").is_file()
        with pytest.raises(ArchiveError, match="fold-9-seed-1.tar is not in the DVC remote"):
            archives.get(RUN, "fold-9-seed-1", root / ".pedigree" / "other")
        assert archives.read_manifest(RUN) is None
        archives.write_manifest(RUN, {"commit": "abc"})
        assert archives.read_manifest(RUN) == {"commit": "abc"}
        (remote / "pedigree" / "archives" / RUN / "manifest.json").write_text("[1, 2")
        with pytest.raises(ArchiveError, match="manifest.json is not JSON"):
            archives.read_manifest(RUN)
        with pytest.raises(Exception, match="is not a run name"):
            archives.read_manifest("../etc")


def _head(root: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"commit": "0" * 40}, "ran git commit 000000000000, this checkout is at"),
        ({"folders": {"x": "data/prepared"}}, r"puts 'x' at 'data/prepared', outside \.pedigree/"),
        ({"folders": {"x": ".pedigree/../src"}}, r"outside \.pedigree/"),
        ({"folders": ["a"]}, "has no valid 'folders'"),
        ({"step": 3}, "has no valid 'step'"),
    ],
)
def test_pull_refuses_a_manifest_it_cannot_trust(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    root, _ = _project(tmp_path)
    manifest = {"commit": _head(root), "step": "replicate", "folders": {}, **change}
    with RemoteArchives(root, "archives") as archives:
        archives.write_manifest(RUN, manifest)
        with pytest.raises(PullError, match=message):
            _pull_archives(root, RUN, manifest, archives, None)
    assert not (root / "data").exists() and not (root / "src").exists()


def test_pull_of_a_run_that_left_archives_restores_its_folders(tmp_path: Path) -> None:
    root, _ = _project(tmp_path)
    with RemoteArchives(root, "archives") as archives:
        archives.put(RUN, "fold-0-seed-1", _folder(tmp_path), ["data/raw"])
        manifest = {
            "commit": _head(root),
            "step": "replicate",
            "folders": {"fold-0-seed-1": ".pedigree/replicate/fold-0-seed-1"},
        }
        archives.write_manifest(RUN, manifest)
        report = _pull_archives(root, RUN, manifest, archives, None)
    assert report.folders == (".pedigree/replicate/fold-0-seed-1",)
    assert report.files == () and report.git_add is None
    restored = root / ".pedigree" / "replicate" / "fold-0-seed-1"
    assert (restored / "models" / "model.bin").read_bytes() == b"\x00\x01weights"


def test_unpack_without_tarfiles_data_filter_still_checks_every_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian 12's Python 3.11.2 (the images' base) has no extraction filters
    monkeypatch.delattr(tarfile, "data_filter")
    pack(_folder(tmp_path), tmp_path / "a.tar")
    unpack(tmp_path / "a.tar", tmp_path / "home" / "ws", "a.tar")
    assert (tmp_path / "home" / "ws" / "params.yaml").read_text() == "seed: 1\n"
    _evil_tar(tmp_path / "evil.tar", "../escape.txt")
    with pytest.raises(ArchiveError, match="not a plain file inside the folder"):
        unpack(tmp_path / "evil.tar", tmp_path / "home" / "other", "evil.tar")
    assert not (tmp_path / "home" / "escape.txt").exists()
