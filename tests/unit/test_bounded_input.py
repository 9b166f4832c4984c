"""Every user file is read with a bound: size, and regular files only (no FIFO, device, folder).

A read that never ends (/dev/zero), blocks forever (a FIFO with no writer) or loads gigabytes
must be refused at once with a located message, whatever the file is: a spec, params.yaml,
dvc.lock, a DVC folder listing, or the list and images of an ingest source.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pedigree.atomic import BoundedReadError, read_bounded, read_bytes_or_none
from pedigree.cli.main import main
from pedigree.dvclock import read_lock_stages
from pedigree.errors import ParamsError, ToolError
from pedigree.lineage.trace import part_hash
from pedigree.spec.yamlsource import MAX_BYTES, YamlLoadError, load_yaml_file
from pedigree.stagekit import load_params
from stages.ingest import loader
from stages.ingest.loader import Sample, Skip, iter_dataset
from stages.ingest.params import IngestParams, SyntheticParams
from stages.ingest.synthetic import generate


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody writes to: opening it for reading the usual way blocks forever."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


# --- the bounded reader --------------------------------------------------------------------------


def test_read_bounded_reads_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 10) == b"x" * 10
    with pytest.raises(BoundedReadError, match="^is over the 9 byte limit$"):
        read_bounded(path, 9)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: os.mkfifo(p), "a FIFO"),
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: p.symlink_to("/dev/zero"), "a character device"),
    ],
    ids=["fifo", "folder", "dev-zero"],
)
def test_read_bounded_refuses_what_is_not_a_regular_file(tmp_path: Path, make, kind: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "f"
    make(path)
    with pytest.raises(BoundedReadError, match=f"^is {kind}.*, not a regular file$"):
        read_bounded(path, 1 << 20)


def test_read_bounded_passes_os_errors_on(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 10)


def test_a_generated_file_that_is_a_fifo_reads_as_unreadable(fifo: Path, tmp_path: Path) -> None:
    # compile and check compare generated files through this: a FIFO must not block them.
    assert read_bytes_or_none(fifo) is None
    assert read_bytes_or_none(tmp_path / "missing") is None
    (tmp_path / "dvc.yaml").write_bytes(b"stages: {}\n")
    assert read_bytes_or_none(tmp_path / "dvc.yaml") == b"stages: {}\n"


# --- YAML: specs and params.yaml -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/dev/zero", "/dev/zero: file is a character device, not a regular file"),
        ("FIFO", "pipe.yaml: file is a FIFO (named pipe), not a regular file"),
        ("HUGE", f"big.yaml: file is over the {MAX_BYTES} byte limit"),
    ],
    ids=["dev-zero", "fifo", "huge"],
)
def test_validate_refuses_unbounded_files_at_once(
    target: str, message: str, fifo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if target == "FIFO":
        target = str(fifo)
    elif target == "HUGE":
        big = tmp_path / "big.yaml"
        with big.open("wb") as out:  # sparse: 1 GiB on paper, nothing on disk
            out.truncate(1 << 30)
        target = str(big)
    assert main(["validate", target]) == 2
    err = capsys.readouterr().err
    assert message in err and "hint:" in err


def test_a_folder_as_yaml_file_is_located(tmp_path: Path) -> None:
    with pytest.raises(YamlLoadError, match="spec: file is a folder, not a regular file"):
        load_yaml_file(tmp_path, "spec")


def test_params_yaml_that_is_a_fifo_is_a_params_error(fifo: Path) -> None:
    with pytest.raises(ParamsError, match=r"pipe\.yaml: file is a FIFO .*pass a regular YAML file"):
        load_params("ingest", IngestParams, fifo)


def test_a_regular_yaml_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("ingest:\n  source: synthetic\n")
    assert load_params("ingest", IngestParams, path).source == "synthetic"


# --- dvc.lock --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff\xfe garbage", r"dvc.lock:1: not a DVC stage file: not UTF-8 \(byte 0xff\)"),
        (b"stages:\n  a: [\n", r"dvc.lock:\d: not a DVC stage file: malformed YAML"),
        (b"- just\n- a list\n", "dvc.lock: not a DVC stage file: the top level is a list"),
        (b"stages: 12\n", "dvc.lock: not a DVC stage file: `stages` is a int, not a mapping"),
        (b"a: " + b"[" * 600 + b"]" * 600, "dvc.lock: not a DVC stage file"),
        (b"t: 2024-13-45 10:00:00\n", "dvc.lock: not a DVC stage file"),
    ],
    ids=["binary", "malformed", "list", "stages-int", "deep", "bad-timestamp"],
)
def test_a_garbage_dvc_lock_is_a_located_tool_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_bytes(content)
    with pytest.raises(ToolError, match=message) as caught:
        read_lock_stages(lock)
    assert caught.value.exit_code == 4
    assert caught.value.hint == (
        "restore it with `git checkout dvc.lock` (or delete it and re-run `pedigree run`)"
    )


def test_dvc_lock_is_bounded_and_regular(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    with lock.open("wb") as out:
        out.truncate(1 << 30)
    with pytest.raises(ToolError, match="dvc.lock: not a DVC stage file: the file is over the"):
        read_lock_stages(lock)
    lock.unlink()
    os.mkfifo(lock)
    with pytest.raises(ToolError, match="the file is a FIFO"):
        read_lock_stages(lock)


def test_dvc_lock_absent_or_empty_has_no_stages(tmp_path: Path) -> None:
    assert read_lock_stages(tmp_path / "dvc.lock") == {}
    (tmp_path / "dvc.lock").write_text("")
    assert read_lock_stages(tmp_path / "dvc.lock") == {}
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  a: {cmd: x}\n")
    assert read_lock_stages(tmp_path / "dvc.lock") == {"a": {"cmd": "x"}}


def test_a_broken_dvc_yaml_says_how_to_regenerate_it(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: [\n")
    with pytest.raises(ToolError) as caught:
        read_lock_stages(tmp_path / "dvc.yaml")
    assert "pedigree compile --target dvc" in str(caught.value.hint)


# --- a DVC folder listing in the cache -------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe", b"[" * 100_000, b"{}", b'[{"relpath": 1}]', None],
    ids=["binary", "deep", "object", "ill-typed", "fifo"],
)
def test_an_unusable_folder_listing_is_unknown_not_a_crash(
    tmp_path: Path, content: bytes | None
) -> None:
    md5 = "ab" + "c" * 30 + ".dir"
    listing = tmp_path / ".dvc" / "cache" / "files" / "md5" / "ab" / md5[2:]
    listing.parent.mkdir(parents=True)
    if content is None:
        os.mkfifo(listing)
    else:
        listing.write_bytes(content)
    assert part_hash(tmp_path, md5, "train") is None


def test_a_good_folder_listing_still_answers(tmp_path: Path) -> None:
    md5 = "ab" + "c" * 30 + ".dir"
    listing = tmp_path / ".dvc" / "cache" / "files" / "md5" / "ab" / md5[2:]
    listing.parent.mkdir(parents=True)
    listing.write_text(json.dumps([{"md5": "d" * 32, "relpath": "stats.json"}]))
    assert part_hash(tmp_path, md5, "stats.json") == "d" * 32


# --- the files of an ingest source -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pets")
    generate(SyntheticParams(seed=3, count=4, images_per_animal=(2, 2), image_size=(32, 40)), root)
    return root


@pytest.fixture
def source(tiny_source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_source, tmp_path / "pets"))


def _walk(root: Path) -> tuple[list[str], dict[str, str]]:
    items = list(iter_dataset(root))
    samples = [i.id for i in items if isinstance(i, Sample)]
    skips = {i.file: i.reason for i in items if isinstance(i, Skip)}
    return samples, skips


def test_a_fifo_image_is_skipped_not_waited_on(source: Path) -> None:
    first = sorted((source / "images").iterdir())[0]
    first.unlink()
    os.mkfifo(first)
    samples, skips = _walk(source)
    rel = f"images/{first.name}"
    assert skips[rel] == "not read: the file is a FIFO (named pipe), not a regular file"
    assert first.stem not in samples and len(samples) == 3


def test_an_oversized_image_or_trimap_is_skipped(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = sorted((source / "images").iterdir())[0]
    limit = image.stat().st_size - 1
    monkeypatch.setattr(loader, "MAX_IMAGE_BYTES", limit)
    _, skips = _walk(source)
    assert skips[f"images/{image.name}"] == f"not read: the file is over the {limit} byte limit"


def test_a_device_or_huge_list_file_is_skipped(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = source / "annotations" / "list.txt"
    listed.unlink()
    listed.symlink_to("/dev/zero")
    samples, skips = _walk(source)
    assert skips["annotations/list.txt"] == (
        "not read: the file is a character device, not a regular file"
    )
    assert len(samples) == 4  # the breed is read from the file names instead
    listed.unlink()
    listed.write_text("# comment\n" * 10)
    monkeypatch.setattr(loader, "MAX_TEXT_BYTES", 50)
    _, skips = _walk(source)
    assert skips["annotations/list.txt"] == "not read: the file is over the 50 byte limit"


def test_a_fifo_trimap_is_a_trimap_skip(source: Path) -> None:
    trimap = sorted((source / "annotations" / "trimaps").iterdir())[0]
    trimap.unlink()
    os.mkfifo(trimap)
    _, skips = _walk(source)
    assert f"trimap annotations/trimaps/{trimap.name} not read: the file is a FIFO" in " ".join(
        skips.values()
    )
