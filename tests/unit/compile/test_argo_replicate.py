"""The replicate WorkflowTemplate: plan -> one fold-run pod per fold x seed -> gather; schema-valid,
deterministic, golden-file pinned, and only for a spec that declares folds."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from pedigree import __version__
from pedigree.api.foldstep import _parser
from pedigree.cli.main import cli, main
from pedigree.compile.argo_replicate import (
    OWN_EXPRESSION,
    render_replicate,
    step_command,
    workflow_object,
    workflow_path,
    workflow_template_object,
    workflow_template_path,
)
from pedigree.compile.render import render_argo_files
from pedigree.errors import SpecError
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec
from tests.conftest import REPO_ROOT, pets_copy
from tests.support.k8s_schemas import argo_errors, kubernetes_errors, step_pod
from tests.unit.compile.test_argo import FANOUT_SPEC, _golden, _spec, _steps

PETS = REPO_ROOT / "pipelines" / "pets.yaml"


def _pets() -> PipelineSpec:
    return load_spec(PETS)


def test_pets_matches_golden_and_the_committed_files_are_current() -> None:
    files = render_replicate(_pets(), "pipelines/pets.yaml")
    assert list(files) == [workflow_template_path("pets"), workflow_path("pets")]
    _golden("pets-replicate.workflowtemplate.yaml", files[workflow_template_path("pets")])
    _golden("pets-replicate.workflow.yaml", files[workflow_path("pets")])
    for rel, text in files.items():
        assert (REPO_ROOT / rel).read_text(encoding="utf-8") == text, f"{rel} is stale"
    # the base kustomization ships it, like the pipeline's template
    kustomization = yaml.safe_load((REPO_ROOT / "cluster-conf/base/kustomization.yaml").read_text())
    assert Path(workflow_template_path("pets")).name in kustomization["resources"]


def test_the_dag_plans_fans_out_and_gathers() -> None:
    template = workflow_template_object(_pets())
    assert argo_errors(template) == []
    assert argo_errors(workflow_object(_pets())) == []
    dag = template["spec"]["templates"][0]
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    assert list(tasks) == ["plan", "fold-run", "gather"]
    assert tasks["fold-run"]["withParam"] == "{{tasks.plan.outputs.result}}"
    assert tasks["fold-run"]["dependencies"] == ["plan"]
    assert tasks["gather"]["dependencies"] == ["fold-run"]
    given = {p["name"]: p["value"] for p in tasks["fold-run"]["arguments"]["parameters"]}
    assert given == {"fold": "{{item.fold}}", "seed": "{{item.seed}}", "plan": "{{item.plan}}"}
    params = {p["name"]: p.get("value") for p in template["spec"]["arguments"]["parameters"]}
    assert params["folds"] == "5" and params["seeds"] == ""
    for name, step in _steps(template).items():
        assert step["container"]["image"] == f"pedigree/replicate:{__version__}"
        # the fold runs' lineage names the image too, where the pod's status gives no digest
        env = {e["name"]: e for e in step["container"]["env"]}
        assert env["PEDIGREE_IMAGE"]["value"] == f"pedigree/replicate:{__version__}"
        assert step["container"]["securityContext"]["readOnlyRootFilesystem"] is True
        assert kubernetes_errors(step_pod(template, name, step)) == [], name


def test_every_command_is_one_the_fold_step_accepts() -> None:
    # what the template runs parses with foldstep's own parser (the interpreter aside)
    for step, sub in (("plan", "plan"), ("fold-run", "run"), ("gather", "gather")):
        argv = step_command(step)
        assert argv[1:3] == ["-m", "pedigree.api.foldstep"] and argv[3] == sub
        filled = [
            "7" if "{{" in a and ("fold}}" in a or "seed}}" in a or "folds}}" in a) else a
            for a in argv[3:]
        ]
        filled = [a.replace("{{inputs.parameters.plan}}", "ab" * 32) for a in filled]
        args = _parser().parse_args(
            [a.replace("{{workflow.parameters.seeds}}", "") for a in filled]
        )
        assert args.step == sub and args.folds == "7"


def test_a_fold_pod_gets_the_largest_resources_and_retries_of_the_fold_stages(
    tmp_path: Path,
) -> None:
    text = PETS.read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    for stage in spec["spec"]["stages"]:
        if stage["name"] == "train":
            stage["resources"] = {"cpu": "3500m", "memory": "6Gi", "gpu": 1}
            stage["retries"] = 4
        if stage["name"] == "tune":
            stage["resources"] = {"cpu": "4", "memory": "1500Mi"}
    path = tmp_path / "pipelines" / "pets.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    template = workflow_template_object(load_spec(path))
    step = _steps(template)["fold-run"]
    assert step["container"]["resources"]["limits"] == {
        "cpu": "4",
        "memory": "6Gi",
        "nvidia.com/gpu": "1",
    }
    assert step["retryStrategy"]["limit"] == "4"


def test_a_spec_without_folds_has_no_replicate_workflow(tmp_path: Path) -> None:
    spec = _spec(tmp_path, FANOUT_SPEC)
    with pytest.raises(SpecError, match=r"spec\.replicate\.folds.*declares no folds"):
        render_replicate(spec, "pipelines/fanout.yaml")
    # and the pipeline's compile writes only its own two files
    loaded = SimpleNamespace(spec=spec, project=SimpleNamespace(spec_path="pipelines/fanout.yaml"))
    assert list(render_argo_files(loaded)) == [  # type: ignore[arg-type]
        "cluster-conf/base/workflowtemplate-fanout.yaml",
        "cluster-conf/workflows/fanout.yaml",
    ]
    with pytest.raises(SpecError, match="declares no folds"):
        render_argo_files(loaded, replicate_only=True)  # type: ignore[arg-type]


def test_only_its_own_expressions_are_allowed() -> None:
    for own in ("{{tasks.plan.outputs.result}}", "{{item.fold}}", "{{inputs.parameters.plan}}"):
        assert OWN_EXPRESSION.fullmatch(own)
    for other in ("{{item.other}}", "{{tasks.gather.outputs.result}}", "{{=sprig.env('X')}}"):
        assert not OWN_EXPRESSION.fullmatch(other)


def test_a_pipeline_name_with_an_expression_is_refused(tmp_path: Path) -> None:
    spec = _pets().model_copy(deep=True)
    object.__setattr__(spec.metadata, "description", "see {{workflow.uid}}")
    with pytest.raises(SpecError, match=r"metadata\.description.*'\{\{'"):
        workflow_template_object(spec, "pipelines/pets.yaml")


def test_compile_replicate_writes_only_the_replicate_files(tmp_path: Path) -> None:
    root = pets_copy(tmp_path / "pets")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["-C", str(root), "compile", "--target", "argo", "--replicate", "--json"]
    )
    assert result.exit_code == 0, result.output
    written = [f["path"] for f in json.loads(result.output)["files"]]
    assert written == [workflow_template_path("pets"), workflow_path("pets")]
    assert not (root / "cluster-conf" / "base" / "workflowtemplate-pets.yaml").exists()
    wrong = runner.invoke(cli, ["-C", str(root), "compile", "--target", "dvc", "--replicate"])
    assert wrong.exit_code == 2
    assert "--replicate goes with --target argo" in wrong.output


def test_compile_replicate_without_folds_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["-C", str(project), "compile", "--target", "argo", "--replicate"])
    assert code == 2
    assert "[spec.replicate.folds]: the spec declares no folds" in capsys.readouterr().err
    assert not (project / "cluster-conf").exists()
