"""A corrupt lineage record or dvc.lock is a located error (exit 2 or 4), never a traceback.

Every way a record can be broken (random bytes, invalid UTF-8, JSON that is not an object,
missing or ill-typed keys, a huge file, a FIFO, a folder) is tried against every reader: the
store, `pedigree lineage` in every format, the audit's lineage-records check, and the adoption
of restored records by `pedigree run`.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable

import pytest

from pedigree.api import lineage as lineage_api
from pedigree.api import main as api
from pedigree.api.lineage import FORMATS, lineage
from pedigree.audit.records import check_records
from pedigree.cli.main import main
from pedigree.errors import ToolError
from pedigree.executors.dvc import StageResult
from pedigree.lineage import store
from pedigree.lineage.store import LineageError, history, read_current
from tests.unit.lineage.conftest import TinyProject, record

HINT = (
    "restore it with `git checkout lineage/train.json` or re-run the stage with "
    "`pedigree run --stage train --force`"
)


def _good(tiny: TinyProject) -> dict:
    return json.loads(tiny.records["train"].to_json())


def _without(key: str) -> Callable[[TinyProject], bytes]:
    def make(tiny: TinyProject) -> bytes:
        data = _good(tiny)
        del data[key]
        return json.dumps(data).encode()

    return make


def _with(key: str, value: object) -> Callable[[TinyProject], bytes]:
    def make(tiny: TinyProject) -> bytes:
        data = _good(tiny)
        data[key] = value
        return json.dumps(data).encode()

    return make


# (bytes of lineage/train.json, the detail expected in "not a valid lineage record (...)")
CORRUPT: dict[str, tuple[Callable[[TinyProject], bytes], str]] = {
    "random-bytes": (
        lambda _: bytes(random.Random(12).randrange(256) for _ in range(4096)),
        r"line \d+: not UTF-8: byte 0x[0-9a-f]{2}",
    ),
    "latin-1": (
        lambda t: t.records["train"].to_json().replace('"train"', '"tr\u00e4in"').encode("latin-1"),
        r"line \d+: not UTF-8: byte 0xe4",
    ),
    "not-json": (lambda _: b"{not json", "line 1: not valid JSON: Expecting property name"),
    "empty": (lambda _: b"", "line 1: not valid JSON: Expecting value"),
    "list": (lambda _: b"[1, 2]", "line 1: a JSON list, not an object"),
    "string": (lambda _: b'"train"', "line 1: a JSON string, not an object"),
    "null": (lambda _: b"null", "line 1: a JSON null, not an object"),
    "deep": (lambda _: b"[" * 100_000 + b"]" * 100_000, "line 1: JSON nested too deeply"),
    "missing-key": (_without("run_id"), "key run_id: Field required"),
    "ill-typed": (
        _with("outputs", "models/model.keras"),
        "key outputs: Input should be a valid list",
    ),
    "wrong-status": (_with("status", 7), "key status: Input should be"),
    "unknown-key": (_with("extra", 1), "key extra: Extra inputs are not permitted"),
}


def _break(tiny: TinyProject, case: str) -> None:
    make, _ = CORRUPT[case]
    (tiny.root / "lineage" / "train.json").write_bytes(make(tiny))


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_the_store_says_what_is_wrong_and_how_to_fix_it(tiny: TinyProject, case: str) -> None:
    _break(tiny, case)
    detail = CORRUPT[case][1]
    with pytest.raises(
        LineageError, match=rf"^lineage/train.json: not a valid lineage record \({detail}"
    ) as caught:
        read_current(tiny.root, "train")
    assert caught.value.hint == HINT
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda p: p.open("wb").truncate(1 << 30), "the file is over the 16777216 byte limit"),
        (lambda p: os.mkfifo(p), r"the file is a FIFO \(named pipe\), not a regular file"),
        (lambda p: p.mkdir(), "the file is a folder, not a regular file"),
    ],
    ids=["huge", "fifo", "folder"],
)
def test_unbounded_record_files_are_refused_at_once(tiny: TinyProject, make, detail: str) -> None:  # type: ignore[no-untyped-def]
    path = tiny.root / "lineage" / "train.json"
    path.unlink()
    make(path)
    with pytest.raises(
        LineageError, match=rf"lineage/train.json: not a valid lineage record \({detail}\)"
    ):
        read_current(tiny.root, "train")


def test_a_dangling_link_is_a_read_error_not_a_missing_record(tiny: TinyProject) -> None:
    path = tiny.root / "lineage" / "train.json"
    path.unlink()
    path.symlink_to(tiny.root / "nowhere.json")
    with pytest.raises(LineageError, match="lineage/train.json: cannot read: No such file"):
        read_current(tiny.root, "train")


@pytest.mark.parametrize("name", ["../../outside", "a/b", "..", ""])
def test_stage_names_from_dvc_lock_cannot_leave_lineage(tiny: TinyProject, name: str) -> None:
    with pytest.raises(LineageError, match="is not a valid stage name"):
        read_current(tiny.root, name)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["random-bytes", "list", "missing-key"])
def test_lineage_in_every_format_is_a_located_error(tiny: TinyProject, case: str, fmt: str) -> None:
    _break(tiny, case)
    with pytest.raises(LineageError, match=r"^lineage/train.json: not a valid lineage record"):
        lineage(tiny.root, "models/model.keras", fmt)


@pytest.mark.parametrize("case", ["random-bytes", "latin-1", "deep", "ill-typed"])
def test_the_cli_exits_2_with_the_located_message(
    tiny: TinyProject, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(tiny, case)
    assert main(["-C", str(tiny.root), "lineage", "models/model.keras"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: lineage/train.json: not a valid lineage record (")
    assert f"hint: {HINT}" in captured.err and "Traceback" not in captured.err


def test_an_upstream_corrupt_record_is_named(tiny: TinyProject) -> None:
    (tiny.root / "lineage" / "ingest.json").write_bytes(b"\x00\x01")
    with pytest.raises(LineageError, match=r"^lineage/ingest.json: not a valid lineage record"):
        lineage(tiny.root, "models/model.keras")


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\x00", b"stages: [\n", b"stages:\n  train: {outs: 5}\n  x: 3\n"]
)
def test_a_garbage_dvc_lock_is_exit_4_or_a_plain_answer(
    tiny: TinyProject, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny.root / "dvc.lock").write_bytes(content)
    code = main(["-C", str(tiny.root), "lineage", "models/model.keras", "--json"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    # Unreadable: the tool error (4); readable but without that output: the user error (2).
    assert (code, err.startswith("error: dvc.lock")) in ((4, True), (2, False))


def test_the_audit_reports_a_corrupt_record_as_a_finding(tiny: TinyProject) -> None:
    _break(tiny, "random-bytes")
    findings = check_records(tiny.root).findings
    corrupt = [f for f in findings if f.where == "lineage/train.json"]
    assert len(corrupt) == 1
    assert corrupt[0].message.startswith("stage 'train': not a valid lineage record (line ")
    assert corrupt[0].fix == HINT


def test_the_audit_reports_a_garbage_dvc_lock_as_a_finding(tiny: TinyProject) -> None:
    (tiny.root / "dvc.lock").write_bytes(b"\xff\xfe")
    result = check_records(tiny.root)
    (finding,) = result.findings
    assert finding.where == "dvc.lock" and "not UTF-8" in finding.message
    assert result.summary.startswith("dvc.lock cannot be read, so no lineage can be audited")


def test_the_audit_never_hashes_outputs_outside_the_project(tiny: TinyProject) -> None:
    lock = tiny.root / "dvc.lock"
    lock.write_text(
        lock.read_text().replace("path: models/model.keras", "path: /"), encoding="utf-8"
    )
    messages = [f.message for f in check_records(tiny.root).findings]
    assert "stage 'train': output / in dvc.lock lies outside the project" in messages


def test_the_history_skips_corrupt_runs_and_adopts_a_good_one(tiny: TinyProject) -> None:
    folder = tiny.root / store.HISTORY_DIR / "train"
    for name, content in (("0-a.json", b"\xff"), ("1-b.json", b"[]"), ("2-c.json", b"{")):
        (folder / name).write_bytes(content)
    os.mkfifo(folder / "3-d.json")
    assert [r.run_id for r in history(tiny.root, "train")] == [tiny.records["train"].run_id]
    _break(tiny, "not-json")
    outs = {o.path: o.md5 for o in tiny.records["train"].outputs}
    adopted = store.adopt_from_history(tiny.root, "train", outs)
    assert adopted is not None and read_current(tiny.root, "train") == tiny.records["train"]


def test_run_adopting_a_restored_stage_replaces_a_corrupt_record(tiny: TinyProject) -> None:
    _break(tiny, "random-bytes")
    with pytest.raises(LineageError, match=r"^lineage/train.json: not a valid lineage record"):
        read_current(tiny.root, "train")
    restored = (StageResult("train", "restored", 0.1),)
    # The run that made the restored outputs is in the local history: its record comes back.
    assert api.adopt_restored_records(tiny.root, restored) == []
    assert read_current(tiny.root, "train") == tiny.records["train"]


def test_run_adopting_with_a_garbage_dvc_lock_is_a_tool_error(tiny: TinyProject) -> None:
    (tiny.root / "dvc.lock").write_bytes(b"stages: [")
    with pytest.raises(ToolError, match=r"^dvc.lock:\d: not a DVC stage file"):
        api.adopt_restored_records(tiny.root, (StageResult("train", "restored", 0.1),))


def test_odd_but_valid_records_render_in_every_format(tiny: TinyProject) -> None:
    # Valid per the schema but hostile to renderers: deep params, odd characters, empty text.
    deep: object = "leaf"
    for _ in range(200):
        deep = {"k": deep}
    odd = record(
        "train",
        list(tiny.records["train"].inputs),
        list(tiny.records["train"].outputs),
        {"train": deep, 'q"uote\n': "\u202e\x00", "": []},
        started="2024-05-01T10:02:00.000Z",
        cmd="",
        argv=[],
    )
    store.write_record(tiny.root, odd)
    for fmt in FORMATS:
        assert lineage(tiny.root, "models/model.keras", fmt).text


@pytest.mark.parametrize(
    ("key", "value", "fmt", "detail"),
    [
        ("run_id", "not-a-uuid", "openlineage", "key run_id: 'not-a-uuid' is not a UUID"),
        ("started", "yesterday", "openlineage", "key started: 'yesterday' is not an ISO 8601"),
        ("started", "2024-05-01", "prov", "key started: '2024-05-01' is not an ISO 8601"),
        ("ended", "2024-05-01 10:00", "openlineage", "key ended: '2024-05-01 10:00' is not an"),
        ("ended", "", "prov", "key ended: '' is not an ISO 8601 date and time like"),
    ],
)
def test_fields_the_standard_formats_need_are_checked(
    tiny: TinyProject, key: str, value: str, fmt: str, detail: str
) -> None:
    # The schema keeps run ids and times as strings; OpenLineage and PROV need more of them.
    odd = tiny.records["train"].model_copy(update={key: value})
    (tiny.root / "lineage" / "train.json").write_text(odd.to_json())
    with pytest.raises(
        LineageError, match=rf"^lineage/train.json: not a valid lineage record \({detail}"
    ) as caught:
        lineage(tiny.root, "models/model.keras", fmt)
    assert caught.value.hint == HINT
    assert lineage(tiny.root, "models/model.keras", "tree").text  # the plain formats still work


def test_what_the_format_libraries_refuse_is_still_a_located_error(
    tiny: TinyProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> str:
        raise ValueError("eventTime: bad value")

    monkeypatch.setattr(lineage_api, "openlineage_lines", refuse)
    with pytest.raises(
        LineageError,
        match="^the lineage of models/model.keras cannot be written as openlineage: eventTime: bad",
    ):
        lineage(tiny.root, "models/model.keras", "openlineage")
