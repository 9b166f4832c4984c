"""A URL with a user name or password in params.yaml is refused, located: params are copied into
lineage records, events and cluster runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pedigree.errors import ProblemsError
from pedigree.spec.checks import load_spec
from pedigree.spec.params_secrets import credential_problems
from pedigree.spec.yamlsource import YamlDocument, load_yaml_file
from tests.conftest import make_project

SECRET = "CANARY-params-token"


def _params(root: Path) -> YamlDocument:
    return load_yaml_file(root / "params.yaml", "params.yaml")


@pytest.mark.parametrize(
    ("params", "where", "line"),
    [
        (f"ingest:\n  url: https://user:{SECRET}@data.example/pets.tar.gz\n", "ingest.url", 2),
        (f"ingest:\n  source:\n    url: s3://KEY:{SECRET}@bucket/pets\n", "ingest.source.url", 3),
        (
            f"ingest:\n  mirrors:\n    - https://a.example/x\n    - https://{SECRET}@b.example/x\n",
            "ingest.mirrors[1]",
            4,
        ),
    ],
)
def test_a_url_with_credentials_in_params_is_refused_with_its_line(
    tmp_path: Path, params: str, where: str, line: int
) -> None:
    root = make_project(tmp_path / "proj")
    (root / "params.yaml").write_text(params + "transform:\n  size: 8\n", encoding="utf-8")
    problems = credential_problems(_params(root), ["ingest", "transform"])
    assert [(p.file, p.line, p.path) for p in problems] == [("params.yaml", line, where)]
    assert SECRET not in problems[0].render()
    located = re.escape(f"params.yaml:{line} [{where}]: the URL")
    with pytest.raises(ProblemsError, match=located):
        load_spec(root / "pipelines" / "pets.yaml", root)


@pytest.mark.parametrize(
    "value",
    [
        "https://data.example/pets.tar.gz",
        "git@github.com:org/repo.git",
        "user@example.com",
        "a plain: string with @ and ://",
    ],
)
def test_urls_without_credentials_and_other_text_pass(tmp_path: Path, value: str) -> None:
    root = make_project(tmp_path / "proj")
    (root / "params.yaml").write_text(
        f"ingest:\n  url: '{value}'\ntransform:\n  size: 8\n", encoding="utf-8"
    )
    assert credential_problems(_params(root), ["ingest", "transform"]) == []


def test_only_sections_a_stage_reads_are_checked(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    (root / "params.yaml").write_text(
        f"ingest:\n  seed: 1\ntransform:\n  size: 8\nunused:\n  url: https://u:{SECRET}@x.example/\n",
        encoding="utf-8",
    )
    assert credential_problems(_params(root), ["ingest", "transform"]) == []
