"""Names and paths are exactly what they look like (issue 12, class 3).

Full-matched names (no trailing newline), no control or invisible characters, stage and pipeline
names valid where they end up (Kubernetes labels, DNS-1123 names, image names), outputs and state
kept off the files pedigree, DVC and git own, and no Argo `{{` in what reaches the cluster.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from pedigree.errors import SpecError
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec
from pedigree.spec.owned import PEDIGREE_OWNED
from tests.conftest import VALID_SPEC

# The grammars a stage name must satisfy where it ends up (Kubernetes and OCI distribution specs).
K8S_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
OCI_COMPONENT = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")

HIDDEN = {
    "newline": "\n",
    "carriage return": "\r",
    "tab": "\t",
    "NUL": "\0",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "line separator": "\u2028",
    "right-to-left override": "\u202e",
    "zero-width space": "\u200b",
}

STATEFUL = "      retries: 2\n      stateful: true\n      state: [{state}]\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pets.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(_write(tmp_path, text))
    return str(info.value)


def _quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar (JSON is valid YAML)."""
    return json.dumps(value)


def _stage_names(value: str) -> str:
    return VALID_SPEC.replace("- name: ingest", f"- name: {_quoted(value)}")


# --- full matches: a `$` anchor must not let a trailing newline through -----------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("- name: ingest", '- name: "ingest\\n"'),
        ("  name: pets", '  name: "pets\\n"'),
        ("memory: 2Gi", 'memory: "2Gi\\n"'),
        ("cpu: 1", 'cpu: "1\\n"'),
    ],
)
def test_a_trailing_newline_is_refused(tmp_path: Path, old: str, new: str) -> None:
    assert old in VALID_SPEC
    text = _refused(tmp_path, VALID_SPEC.replace(old, new))
    assert re.search(r"U\+000A \(newline\)|is not a valid", text), text


def test_registry_hashes_are_full_matched(tmp_path: Path) -> None:
    from pedigree.errors import RegistryError
    from pedigree.registry.events import RegistryEvent, now, write_event

    for bad in ("a" * 64 + "\n", "A" * 64, "a" * 63, "../" + "a" * 61):
        event = RegistryEvent("registered", now(), bad, "release")
        with pytest.raises(RegistryError, match="is not a sha256"):
            write_event(tmp_path / "registry", event)
    assert not (tmp_path / "registry").exists()


def test_serving_names_are_full_matched() -> None:
    from pedigree.registry.settings import ServingSettings

    good = {"name": "pets", "image": "pedigree/serve:0.1.0", "remote": "s3://b/dvc"}
    ServingSettings.model_validate(good)
    for key in ("name", "namespace", "image", "remote", "s3_endpoint"):
        with pytest.raises(ValidationError, match="is not a"):
            ServingSettings.model_validate({**good, key: good.get(key, "pedigree") + "\n"})


def test_run_names_and_node_names_are_full_matched() -> None:
    from pedigree.cluster.records import check_run_name
    from pedigree.cluster.runs import stage_of
    from pedigree.errors import PedigreeError

    assert check_run_name("pets-x7k2q") == "pets-x7k2q"
    with pytest.raises(PedigreeError, match="is not a run name"):
        check_run_name("pets-x7k2q\n")
    assert stage_of("pets-x7k2q.train(1)", "pets-x7k2q") == ("train", 1)
    assert stage_of("pets-x7k2q.train(1)\n", "pets-x7k2q") is None


# --- control and invisible characters -------------------------------------------------------


FIELDS = {
    "stage name": ("- name: ingest", "- name: {v}"),
    "pipeline name": ("  name: pets", "  name: {v}"),
    "outs": ("outs: [data/prepared]", "outs: [{v}]"),
    "deps": ("deps: [data/raw]", "deps: [{v}]"),
    "params": ("params: [transform]", "params: [{v}]"),
    "image": ("      retries: 2\n", "      retries: 2\n      image: {v}\n"),
    "inputs": ("spec:\n  stages:", "spec:\n  inputs: [{v}]\n  stages:"),
    "state": ("      retries: 2\n", STATEFUL.replace("[{state}]", "[{v}]")),
    "repository": ("  name: pets\n", "  name: pets\n  repository: {v}\n"),
}


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("char", sorted(HIDDEN))
def test_hidden_characters_are_refused_in_names_and_paths(
    tmp_path: Path, field: str, char: str
) -> None:
    old, new = FIELDS[field]
    value = _quoted(f"data/sp{HIDDEN[char]}ot")
    text = _refused(tmp_path, VALID_SPEC.replace(old, new.format(v=value)))
    assert "control or invisible character U+" in text, text
    assert "exactly what they look like" in text


@pytest.mark.parametrize("char", ["newline", "carriage return", "NUL", "escape", "line separator"])
def test_cmd_items_refuse_line_breaks_and_nul(tmp_path: Path, char: str) -> None:
    value = _quoted(f"--note=a{HIDDEN[char]}b")
    text = VALID_SPEC.replace("stages.transform]", f"stages.transform, {value}]")
    assert "cmd item" in _refused(tmp_path, text)


def test_cmd_items_may_hold_a_tab(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("stages.transform]", 'stages.transform, "--sep=\\t"]')
    assert load_spec(_write(tmp_path, text)).stage("transform").cmd[-1] == "--sep=\t"


def test_descriptions_may_hold_line_breaks_but_not_nul(tmp_path: Path) -> None:
    lines = VALID_SPEC.replace("  name: pets\n", '  name: pets\n  description: "two\\nlines"\n')
    lines = lines.replace(
        "      retries: 2\n", '      retries: 2\n      description: "a\\tb\\nc"\n'
    )
    spec = load_spec(_write(tmp_path, lines))
    assert spec.metadata.description == "two\nlines"
    for text in (lines.replace("two\\nlines", "two\\0lines"), lines.replace("a\\tb", "a\\0b")):
        assert "NUL character" in _refused(tmp_path, text)


# --- stage and pipeline names are valid where they end up -----------------------------------


CANDIDATES = [
    "a",
    "ingest",
    "a-b",
    "a--b",
    "a1",
    "a" * 41,
    "a" * 42,
    "a-",
    "-a",
    "1a",
    "Ab",
    "a_b",
    "a.b",
    "a b",
    "ä",
    "",
    "a" * 40 + "-",
]


@pytest.mark.parametrize("name", CANDIDATES)
def test_stage_names_are_valid_labels_dns_names_and_image_names(tmp_path: Path, name: str) -> None:
    everywhere = bool(
        K8S_LABEL_VALUE.fullmatch(name)
        and DNS1123_LABEL.fullmatch(name)
        and OCI_COMPONENT.fullmatch(name)
        and name[:1].isalpha()
        and len(name) <= 41
    )
    text = _stage_names(name)
    if everywhere:
        assert load_spec(_write(tmp_path, text)).stages[0].name == name
    else:
        assert "is not a valid stage name" in _refused(tmp_path, text)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a-", r"it ends with '-'; .* which must end with a letter or digit"),
        ("-a", r"it starts with '-'; .* which must start with a lowercase letter"),
        ("9a", r"it starts with '9'"),
        ("a_b", r"it contains '_'; .*lowercase letters, digits and '-'"),
        ("a" * 42, r"it is 42 characters long \(at most 41\)"),
    ],
)
def test_a_refused_stage_name_says_why(tmp_path: Path, name: str, why: str) -> None:
    text = _refused(tmp_path, _stage_names(name))
    assert re.search(f"'{name}' is not a valid stage name: {why}", text), text
    assert "a Kubernetes label, an Argo task name and an image name" in text
    assert "hint: use a name like 'transform'" in text


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("pets", True),
        ("1pets", True),
        ("p-2", True),
        ("p" * 52, True),
        ("pets-", False),
        ("-pets", False),
        ("Pets", False),
        ("pets.v2", False),
        ("p" * 53, False),
    ],
)
def test_pipeline_names_are_valid_labels_and_workflow_names(
    tmp_path: Path, name: str, ok: bool
) -> None:
    text = VALID_SPEC.replace("  name: pets", f"  name: {_quoted(name)}")
    if ok:
        assert load_spec(_write(tmp_path, text)).metadata.name == name
        # `<pipeline>-` plus Argo's 5 random characters is a Workflow name and a label value
        assert K8S_LABEL_VALUE.fullmatch(name + "-x7k2q") and len(name + "-x7k2q") <= 63
    else:
        assert re.search(
            "is not a valid pipeline name: it .*Kubernetes label", _refused(tmp_path, text)
        )


# --- outputs and state stay off what pedigree, DVC and git own --------------------------------


@pytest.mark.parametrize("field", ["outs", "metrics", "plots"])
@pytest.mark.parametrize(
    ("out", "why"),
    [
        ("dvc.lock", "which holds DVC's record"),
        ("dvc.yaml", "which holds the pipeline compiled for DVC"),
        ("params.yaml", "which holds the pipeline's parameters"),
        ("Makefile", "which holds the project's make targets"),
        ("lineage", "which holds the committed lineage records"),
        ("lineage/x.json", "inside lineage/"),
        (".pedigree/registry", "inside .pedigree/"),
        (".venv/lib", "inside .venv/"),
        (".dvc/cache", "inside .dvc/"),
        ("pipelines/other.yaml", "inside pipelines/"),
        ("dvc.lock/x", "inside dvc.lock/"),
        (".gitignore", "'.gitignore' is a file git and DVC own"),
        ("data/.gitignore", "'.gitignore' is a file git and DVC own"),
        ("data/sub/.dvcignore", "'.dvcignore' is a file git and DVC own"),
    ],
)
def test_outputs_may_not_touch_owned_files(tmp_path: Path, field: str, out: str, why: str) -> None:
    text = VALID_SPEC.replace("outs: [data/prepared]", f"{field}: [{out}]")
    problems = _refused(tmp_path, text)
    assert f"stage 'transform' writes '{out}'" in problems and why in problems, problems


@pytest.mark.parametrize(
    "out", ["data/lineage", "models/dvc.lock.json", "data/gitignore", "reports"]
)
def test_outputs_that_only_look_alike_are_fine(tmp_path: Path, out: str) -> None:
    text = VALID_SPEC.replace("outs: [data/prepared]", f"outs: [{out}]")
    assert load_spec(_write(tmp_path, text)).stage("transform").outs == (out,)


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("dvc.lock", "which holds DVC's record"),
        ("params.yaml", "which holds the pipeline's parameters"),
        ("lineage", "which holds the committed lineage records"),
        ("lineage/db", "inside lineage/"),
        (".pedigree", "which contains .pedigree/"),
        (".pedigree/lineage", "which holds the local lineage history"),
        (".pedigree/lineage/runs", "inside .pedigree/lineage/"),
        (".pedigree/logs", "which holds the stage logs"),
        (".pedigree/replicate/seed-1", "inside .pedigree/replicate/"),
        (".pedigree/compiled.json", "the stamp of the compiled dvc.yaml"),
        ("stages/db", "inside stages/"),
        (".git/db", "'.git' is a file git and DVC own"),
        ("state/.gitignore", "'.gitignore' is a file git and DVC own"),
        ("data/source.txt", "overlaps the external input 'data/source.txt'"),
    ],
)
def test_state_may_not_touch_owned_files(tmp_path: Path, state: str, why: str) -> None:
    text = VALID_SPEC.replace("spec:\n  stages:", "spec:\n  inputs: [data/source.txt]\n  stages:")
    text = text.replace("      retries: 2\n", STATEFUL.format(state=state))
    problems = _refused(tmp_path, text)
    assert f"state path '{state}'" in problems and why in problems, problems
    assert "hint: keep state in its own folder, for example .pedigree/registry" in problems


@pytest.mark.parametrize("state", [".pedigree/registry", ".pedigree/db", "registry"])
def test_state_under_pedigree_is_fine(tmp_path: Path, state: str) -> None:
    text = VALID_SPEC.replace("      retries: 2\n", STATEFUL.format(state=state))
    assert load_spec(_write(tmp_path, text)).stage("transform").state == (state,)


def test_pedigree_owned_matches_what_pedigree_writes() -> None:
    from pedigree.compile.header import STAMP
    from pedigree.lineage.store import EVENTS_FILE, HISTORY_DIR
    from pedigree.replicate.workspace import SCRATCH
    from pedigree.stagerun import LOG_DIR

    for path in (STAMP, LOG_DIR, EVENTS_FILE, HISTORY_DIR, SCRATCH):
        assert any(path.as_posix().startswith(owned) for owned in PEDIGREE_OWNED), path


# --- Argo expressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("      retries: 2\n", STATEFUL.format(state="'{{workflow.name}}'"), "state path"),
        ("      retries: 2\n", STATEFUL.format(state="'db/{{x}}'"), "state path"),
        (
            "  name: pets\n",
            "  name: pets\n  repository: 'https://h/{{workflow.name}}'\n",
            "repository",
        ),
        ("  name: pets\n", "  name: pets\n  description: 'see {{inputs.x}}'\n", "description"),
    ],
)
def test_argo_expressions_are_refused_where_they_reach_argo(
    tmp_path: Path, old: str, new: str, what: str
) -> None:
    text = _refused(tmp_path, VALID_SPEC.replace(old, new))
    assert f"{what} '" in text and "contains '{{': Argo would evaluate" in text, text


def test_braces_elsewhere_are_plain_text(tmp_path: Path) -> None:
    """Stage descriptions and cmd items never reach the WorkflowTemplate."""
    text = VALID_SPEC.replace(
        "stages.transform]", "stages.transform, '--fmt={{name}}']\n      description: 'a {{b}}'"
    )
    spec = load_spec(_write(tmp_path, text))
    assert isinstance(spec, PipelineSpec) and spec.stage("transform").cmd[-1] == "--fmt={{name}}"
