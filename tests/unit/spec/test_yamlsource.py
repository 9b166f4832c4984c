"""Safe YAML loading: lines, duplicates, hostile input."""

from __future__ import annotations

import time

import pytest

from pedigree.spec.yamlsource import YamlLoadError, load_yaml_bytes, render_path


def test_lines_are_tracked_for_keys_and_items() -> None:
    doc = load_yaml_bytes(b"a: 1\nb:\n  - x\n  - y: 2\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"y": 2}]}
    assert doc.line_of(("a",)) == 1
    assert doc.line_of(("b", 1, "y")) == 4
    assert doc.line_of(("b", 1, "missing")) == 4  # nearest ancestor


def test_render_path() -> None:
    assert render_path(("spec", "stages", 0, "cmd")) == "spec.stages[0].cmd"


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(YamlLoadError, match=r"duplicate key 'a' \(first at line 1\)") as info:
        load_yaml_bytes(b"a: 1\nb: 2\na: 3\n", "f.yaml")
    assert info.value.problem.line == 3


def test_empty_and_comment_only_files() -> None:
    for raw in (b"", b"   \n", b"# only a comment\n"):
        with pytest.raises(YamlLoadError, match="file is empty"):
            load_yaml_bytes(raw, "f.yaml")


def test_non_utf8_reports_line_and_column() -> None:
    with pytest.raises(YamlLoadError, match=r"not valid UTF-8: byte 0xff at column 7") as info:
        load_yaml_bytes(b"a: 1\nkind: \xff\n", "f.yaml")
    assert info.value.problem.line == 2


def test_malformed_yaml_reports_line() -> None:
    with pytest.raises(YamlLoadError, match="malformed YAML") as info:
        load_yaml_bytes(b"a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert info.value.problem.line is not None


def test_multiple_documents_are_refused() -> None:
    with pytest.raises(YamlLoadError, match="malformed YAML: .*single document"):
        load_yaml_bytes(b"a: 1\n---\nb: 2\n", "f.yaml")


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a: &a [1,1,1,1,1,1,1,1,1]"]
    prev = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    started = time.monotonic()
    with pytest.raises(YamlLoadError, match="alias bomb"):
        load_yaml_bytes("\n".join(lines).encode(), "bomb.yaml")
    assert time.monotonic() - started < 5


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(YamlLoadError, match="nested"):
        load_yaml_bytes(b"[" * 5000 + b"]" * 5000, "deep.yaml")


def test_python_tags_are_refused() -> None:
    with pytest.raises(YamlLoadError, match="unsupported YAML tag .*python"):
        load_yaml_bytes(b"a: !!python/object/apply:os.system ['true']\n", "f.yaml")


def test_huge_file_is_refused() -> None:
    with pytest.raises(YamlLoadError, match="byte limit"):
        load_yaml_bytes(b"a: " + b"x" * (2 << 20), "f.yaml")


def test_merge_keys_work() -> None:
    doc = load_yaml_bytes(b"base: &b {cpu: '1'}\nuse:\n  <<: *b\n  memory: 1Gi\n", "f.yaml")
    assert doc.data["use"] == {"cpu": "1", "memory": "1Gi"}
