"""No credential in params.yaml: a URL with a password or token there would be stored.

Every stage's params are copied into its lineage record, its OpenLineage events and (on a
cluster) the run's arguments, all of which others read. So a params value that is a URL with a
user part (`https://user:TOKEN@host/data.tar.gz`, `s3://KEY:SECRET@bucket/x`) is refused when
the spec is checked, located by file, line and key path; the hint says where credentials go.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pedigree.errors import Problem
from pedigree.redact import has_credentials
from pedigree.spec.params_check import params_section
from pedigree.spec.yamlsource import YamlDocument

HINT = (
    "remove the user and password from the URL; give credentials through the environment "
    "(e.g. a netrc file, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a Kubernetes Secret on "
    "a cluster), never in params.yaml, which is copied into lineage records"
)


KeyPath = tuple[str | int, ...]


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def credential_problems(doc: YamlDocument, sections: Sequence[str]) -> list[Problem]:
    """A located problem for every URL with credentials in the params `sections` (of params.yaml,
    parsed as `doc`) that stages read."""
    problems: list[Problem] = []
    seen: set[KeyPath] = set()
    for section in sorted(set(sections)):
        present, value = params_section(doc.data, section)
        if not present:
            continue
        for path, text in _strings(value, tuple(section.split("."))):
            if path not in seen and "://" in text and has_credentials(text.strip()):
                seen.add(path)
                problems.append(
                    doc.problem(path, "the URL here carries a user name or password", HINT)
                )
    return problems
