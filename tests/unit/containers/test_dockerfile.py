"""Generated stage Dockerfiles: the template, `compile --target images`, the `images` check and
`make images` refusing a stale Dockerfile; golden-file pinned."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from pedigree import __version__
from pedigree.api import main as api
from pedigree.cli.main import main
from pedigree.containers import build
from pedigree.containers.dockerfile import (
    PLACEHOLDER_BASE,
    render_dockerfile,
    render_dockerfiles,
)
from pedigree.errors import PedigreeError, SpecError, StaleError
from pedigree.spec.model import Stage
from tests.conftest import REPO_ROOT, VALID_SPEC, make_project
from tests.unit.conftest import check_items

GOLDEN = REPO_ROOT / "tests" / "golden" / "images"
PETS_STAGES = ("ingest", "transform", "tune", "train", "calibrate", "evaluate", "release")
HEADER = (
    "# generated from pipelines/pets.yaml by pedigree, do not edit: change pipelines/pets.yaml "
    "and run `pedigree compile --target images`"
)
INGEST = "images/ingest/Dockerfile"
TRANSFORM = "images/transform/Dockerfile"


def _stage(**fields: object) -> Stage:
    return Stage.model_validate(
        {"name": "train", "cmd": ["python", "-m", "stages.train"], **fields}
    )


def _lines(text: str, start: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.lstrip().startswith(start)]


def test_pets_matches_golden_and_the_committed_dockerfiles_are_current() -> None:
    files = api.render_image_files(api.load(REPO_ROOT))
    assert list(files) == [
        f"images/{name}/Dockerfile" for name in (*PETS_STAGES, "serve", "replicate")
    ]
    for name in ("train", "serve"):
        golden = GOLDEN / f"{name}.Dockerfile"
        if os.environ.get("PEDIGREE_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(files[f"images/{name}/Dockerfile"], encoding="utf-8")
        assert files[f"images/{name}/Dockerfile"] == golden.read_text(encoding="utf-8"), (
            f"{name}.Dockerfile changed; rerun with PEDIGREE_UPDATE_GOLDEN=1 if intended"
        )
    for rel, text in files.items():
        path = REPO_ROOT / rel
        assert path.is_file(), f"{rel} is missing: run `pedigree compile --target images`"
        assert path.read_text(encoding="utf-8") == text, (
            f"{rel} is stale: run `pedigree compile --target images`"
        )


def test_the_header_comes_first_and_the_stage_fills_the_template() -> None:
    text = render_dockerfile(_stage(description="trains the final U-Net"), "pipelines/pets.yaml")
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert lines[1] == "# The image of pedigree stage `train`: trains the final U-Net."
    assert "COPY images/train/requirements.lock /opt/pedigree/locks/train.lock" in lines
    assert 'LABEL org.opencontainers.image.title="pedigree-train" \\' in lines
    assert f"ARG VERSION={__version__}" in lines
    assert text.endswith("USER 10001:10001\n")


def test_rendering_is_deterministic() -> None:
    stage = _stage(description="trains")
    assert render_dockerfile(stage, "p.yaml") == render_dockerfile(stage, "p.yaml")


def test_a_custom_image_folder_names_its_lock_and_path(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    spec = tmp_path / "p.yaml"
    spec.write_text(
        VALID_SPEC.replace("    - name: ingest\n", "    - name: ingest\n      image: envs/io\n"),
        encoding="utf-8",
    )
    files = render_dockerfiles(load_spec(spec), "pipelines/p.yaml")
    assert list(files) == ["envs/io/Dockerfile", TRANSFORM]
    assert (
        "COPY envs/io/requirements.lock /opt/pedigree/locks/ingest.lock"
        in (files["envs/io/Dockerfile"])
    )


def test_without_a_description_the_lines_are_neutral() -> None:
    text = render_dockerfile(_stage(), "p.yaml")
    assert text.splitlines()[1] == "# The image of pedigree stage `train`."
    assert _lines(text, "org.opencontainers.image.description") == [
        'org.opencontainers.image.description="pedigree stage train" \\'
    ]


def test_a_description_is_one_line_and_escaped_in_the_label() -> None:
    stage = _stage(description='fits "$HOME"\n  and\\ more.')
    text = render_dockerfile(stage, "p.yaml")
    assert text.splitlines()[1] == '# The image of pedigree stage `train`: fits "$HOME" and\\ more.'
    assert _lines(text, "org.opencontainers.image.description") == [
        'org.opencontainers.image.description="pedigree stage train: fits \\"\\$HOME\\" and\\\\ '
        'more" \\'
    ]


def _spec_text(extra_ingest: str = "", extra_transform: str = "") -> str:
    return VALID_SPEC.replace(
        "    - name: ingest\n", f"    - name: ingest\n{extra_ingest}"
    ).replace("    - name: transform\n", f"    - name: transform\n{extra_transform}")


def test_stages_sharing_an_image_folder_are_refused(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    spec = tmp_path / "p.yaml"
    spec.write_text(_spec_text(extra_transform="      image: images/ingest\n"), encoding="utf-8")
    with pytest.raises(
        SpecError,
        match=r"stages\[1\]\.image\]: stages 'ingest' and 'transform' share images/ingest/",
    ):
        render_dockerfiles(load_spec(spec), "p.yaml")


def test_a_stage_in_the_base_image_folder_is_refused(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    spec = tmp_path / "p.yaml"
    spec.write_text(_spec_text(extra_ingest="      image: images/base\n"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"stage 'ingest' uses images/base/, the base image's"):
        render_dockerfiles(load_spec(spec), "p.yaml")


SERVE_SPEC = """\
  serve:
    image: images/serve
    predictor: stages.serve.model
    code: [stages/serve, lib/shared/]
    files: {raw: data/raw}
"""


def test_the_serving_image_holds_the_predictor_code_and_runs_the_server(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    spec = tmp_path / "p.yaml"
    spec.write_text(_spec_text() + SERVE_SPEC, encoding="utf-8")
    text = render_dockerfiles(load_spec(spec), "p.yaml")["images/serve/Dockerfile"]
    assert _lines(text, "COPY") == [
        "COPY images/serve/requirements.lock /opt/pedigree/locks/serve.lock",
        "COPY stages/__init__.py /opt/pedigree/app/stages/__init__.py",
        "COPY lib/__init__.py /opt/pedigree/app/lib/__init__.py",
        "COPY stages/serve/ /opt/pedigree/app/stages/serve/",
        "COPY lib/shared/ /opt/pedigree/app/lib/shared/",
    ]
    assert _lines(text, "FROM") == ["FROM ${BASE_IMAGE}"]
    assert _lines(text, "USER")[-1] == "USER 10001:10001"
    assert 'ENTRYPOINT ["python", "-m", "pedigree.serve"]' in text
    assert "--require-hashes" in text
    assert 'org.opencontainers.image.title="pedigree-serve"' in text


@pytest.mark.parametrize(
    ("image", "match"),
    [
        ("images/base", r"\[spec.serve.image\]: the serving image uses images/base/"),
        ("images/ingest", r"the serving image uses images/ingest/, stage 'ingest''s folder"),
    ],
)
def test_the_serving_image_needs_its_own_folder(tmp_path: Path, image: str, match: str) -> None:
    from pedigree.spec.checks import load_spec

    spec = tmp_path / "p.yaml"
    spec.write_text(_spec_text() + SERVE_SPEC.replace("images/serve", image), encoding="utf-8")
    with pytest.raises(SpecError, match=match):
        render_dockerfiles(load_spec(spec), "p.yaml")


def test_a_stage_named_serve_clashes_with_the_serving_image(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    spec = tmp_path / "p.yaml"
    text = _spec_text().replace("name: transform", "name: serve") + SERVE_SPEC
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=r"a stage is named 'serve'"):
        render_dockerfiles(load_spec(spec), "p.yaml")


# --- the replicate image (spec.replicate.folds) ------------------------------------------------

FOLDS_SPEC = """\
  data:
    splits: {stage: transform, path: data/prepared, names: [train, test], groupKey: animal}
  replicate:
    stages: [transform]
    seed: transform.seed
    folds:
      assignment: transform.groups
      heldOut: test
"""
REPLICATE = "images/replicate/Dockerfile"


def _folds_spec(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "p.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def test_the_replicate_image_installs_its_union_lock_on_the_base(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    spec = load_spec(_folds_spec(tmp_path, _spec_text() + FOLDS_SPEC))
    files = render_dockerfiles(spec, "pipelines/pets.yaml")
    assert list(files) == [INGEST, TRANSFORM, REPLICATE]  # after the stages'
    lines = files[REPLICATE].splitlines()
    assert lines[0] == HEADER
    assert lines[1] == (
        "# The image of `pedigree replicate --folds` on a cluster: one pod per fold x seed runs "
        "the fold"
    )
    assert "summary and runs the label audit" in files[REPLICATE]
    assert (
        "# the union of the fold stages' environments, the label audit's and the step runner's (dvc),"
        in lines
    )
    assert _lines(files[REPLICATE], "COPY") == [
        "COPY images/replicate/requirements.lock /opt/pedigree/locks/replicate.lock"
    ]
    assert _lines(files[REPLICATE], "--disable-pip-version-check --require-hashes") == [
        "--disable-pip-version-check --require-hashes --no-deps -r "
        "/opt/pedigree/locks/replicate.lock"
    ]
    assert _lines(files[REPLICATE], "ARG BASE_IMAGE") == [f"ARG BASE_IMAGE={PLACEHOLDER_BASE}"]
    assert _lines(files[REPLICATE], "FROM") == ["FROM ${BASE_IMAGE}"]
    assert _lines(files[REPLICATE], "LABEL") == [
        'LABEL org.opencontainers.image.title="pedigree-replicate" \\'
    ]
    assert _lines(files[REPLICATE], "ENV") == ["ENV PATH=/opt/pedigree/venv/bin:$PATH"]
    assert lines[-2:] == ["WORKDIR /workspace", "USER 10001:10001"]
    assert "ENTRYPOINT" not in files[REPLICATE]  # the runner is the pod's command
    # the code comes from the checkout: nothing but the lock is copied in
    assert "from the git checkout" in files[REPLICATE]


def test_the_replicate_image_follows_folds_image(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    text = _spec_text() + FOLDS_SPEC + "      image: envs/folds\n"
    files = render_dockerfiles(load_spec(_folds_spec(tmp_path, text)), "p.yaml")
    assert list(files)[-1] == "envs/folds/Dockerfile"
    assert _lines(files["envs/folds/Dockerfile"], "COPY") == [
        "COPY envs/folds/requirements.lock /opt/pedigree/locks/replicate.lock"
    ]


@pytest.mark.parametrize(
    ("image", "extra", "match"),
    [
        (
            "images/base",
            "",
            r"\[spec\.replicate\.folds\.image\]: the replicate image uses "
            r"images/base/, the base image's folder \(hint: give the replicate image its own folder",
        ),
        ("images/ingest", "", r"the replicate image uses images/ingest/, stage 'ingest''s folder"),
        (
            "images/serve",
            SERVE_SPEC,
            r"the replicate image uses images/serve/, the serving image's",
        ),
    ],
)
def test_the_replicate_image_needs_its_own_folder(
    tmp_path: Path, image: str, extra: str, match: str
) -> None:
    from pedigree.spec.checks import load_spec

    text = _spec_text() + extra + FOLDS_SPEC + f"      image: {image}\n"
    with pytest.raises(SpecError, match=match):
        render_dockerfiles(load_spec(_folds_spec(tmp_path, text)), "p.yaml")


def test_a_stage_named_replicate_clashes_with_the_replicate_image(tmp_path: Path) -> None:
    from pedigree.spec.checks import load_spec

    text = _spec_text(extra_ingest="      image: images/io\n").replace(
        "name: ingest", "name: replicate"
    )
    spec = load_spec(_folds_spec(tmp_path, text + FOLDS_SPEC))
    with pytest.raises(
        SpecError,
        match=r"p\.yaml \[spec\.replicate\.folds\]: a stage is named 'replicate': its image "
        r"would be the replicate image's \(pedigree/replicate\)",
    ):
        render_dockerfiles(spec, "p.yaml")


# --- compile and check, through the CLI --------------------------------------------------------


def test_compile_images_writes_the_stage_dockerfiles_then_leaves_them_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["-C", str(project), "compile", "--target", "images"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {INGEST}", f"wrote {TRANSFORM}"]
    assert (project / INGEST).read_text(encoding="utf-8").startswith(HEADER + "\n")
    mtime = (project / INGEST).stat().st_mtime_ns
    assert main(["-C", str(project), "compile", "--target", "images", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "target": "images",
        "changed": False,
        "files": [{"path": INGEST, "changed": False}, {"path": TRANSFORM, "changed": False}],
    }
    assert (project / INGEST).stat().st_mtime_ns == mtime
    assert not (project / "images" / "base" / "Dockerfile").exists()


def test_compile_all_writes_dvc_argo_and_images(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["-C", str(project), "compile", "--target", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == "all" and data["changed"]
    assert [f["path"] for f in data["files"]] == [
        "dvc.yaml",
        "cluster-conf/base/workflowtemplate-pets.yaml",
        "cluster-conf/workflows/pets.yaml",
        INGEST,
        TRANSFORM,
    ]


def test_check_has_no_images_item_without_dockerfiles(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, items = check_items(checked, capsys)
    assert code == 0 and "images" not in items


def test_check_fails_when_stage_dockerfiles_are_missing_then_passes_after_compile(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checked / "images" / "base").mkdir()
    (checked / "images" / "base" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    code, items = check_items(checked, capsys)
    assert code == 3
    assert items["images"]["message"] == "the stage Dockerfiles are missing"
    assert items["images"]["details"] == [f"{INGEST} is missing", f"{TRANSFORM} is missing"]
    assert items["images"]["hint"] == "run `pedigree compile --target images` and commit images/"
    assert main(["-C", str(checked), "compile", "--target", "images"]) == 0
    code, items = check_items(checked, capsys)
    assert code == 0 and items["images"]["ok"]


def test_check_fails_when_a_dockerfile_is_edited_or_the_spec_changed(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(checked), "compile", "--target", "images"]) == 0
    path = checked / INGEST
    path.write_text(path.read_text(encoding="utf-8") + "RUN true\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["-C", str(checked), "check", "--no-env"]) == 3
    out = capsys.readouterr().out
    assert "FAIL images: the stage Dockerfiles are stale" in out
    assert f"{INGEST} differs from what pipelines/pets.yaml compiles to" in out
    assert main(["-C", str(checked), "compile", "--target", "images"]) == 0
    spec = checked / "pipelines" / "pets.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "    - name: transform\n", "    - name: transform\n      description: resizes\n"
        ),
        encoding="utf-8",
    )
    assert main(["-C", str(checked), "compile"]) == 0  # dvc.yaml current, the Dockerfile not
    code, items = check_items(checked, capsys)
    assert code == 3 and items["dvc.yaml"]["ok"] and not items["images"]["ok"]
    assert items["images"]["details"] == [
        f"{TRANSFORM} differs from what pipelines/pets.yaml compiles to"
    ]


def test_check_reports_a_spec_the_dockerfiles_cannot_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(
        tmp_path / "proj",
        textwrap.dedent(_spec_text(extra_transform="      image: images/ingest\n")),
    )
    (root / "images" / "requirements.lock").write_text("pyyaml==6.0.3 \\\n", encoding="utf-8")
    (root / INGEST).write_text("FROM scratch\n", encoding="utf-8")
    assert main(["-C", str(root), "compile"]) == 0
    code, items = check_items(root, capsys)
    assert code == 3 and not items["images"]["ok"]
    assert "share images/ingest/" in items["images"]["message"]


def test_check_fails_when_the_replicate_dockerfile_is_missing_or_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "proj", _spec_text() + FOLDS_SPEC)
    (root / "images" / "requirements.lock").write_text("pyyaml==6.0.3 \\\n", encoding="utf-8")
    (root / "images" / "base").mkdir()
    (root / "images" / "base" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    assert main(["-C", str(root), "compile", "--target", "images"]) == 0
    assert (root / REPLICATE).is_file()
    assert main(["-C", str(root), "compile"]) == 0
    code, items = check_items(root, capsys)
    # a replicate Dockerfile with no lock to install
    assert code == 3 and items["images"]["ok"] and not items["replicate lock"]["ok"]
    assert items["replicate lock"]["message"] == "images/replicate/requirements.lock is missing"
    assert items["replicate lock"]["hint"] == (
        "create images/replicate/requirements.in (`-r ../STAGE/requirements.in` per fold stage), "
        "run `pedigree lock`"
    )
    lock = root / "images" / "replicate" / "requirements.lock"
    lock.write_text("pyyaml==6.0.3 \\\n", encoding="utf-8")
    code, items = check_items(root, capsys)
    assert code == 0 and items["images"]["ok"] and items["replicate lock"]["ok"]
    path = root / REPLICATE
    path.write_text(path.read_text(encoding="utf-8").replace("USER 0:0", "USER 1:1"))
    code, items = check_items(root, capsys)
    assert code == 3 and not items["images"]["ok"]
    assert items["images"]["details"] == [
        f"{REPLICATE} differs from what pipelines/pets.yaml compiles to"
    ]
    with pytest.raises(StaleError, match=r"stale Dockerfile: images/replicate/Dockerfile"):
        build.plan(root, ["replicate"])  # `make images ONLY=replicate` refuses it too
    path.unlink()
    code, items = check_items(root, capsys)
    assert code == 3 and items["images"]["details"] == [f"{REPLICATE} is missing"]
    with pytest.raises(PedigreeError, match=r"missing Dockerfile: images/replicate/Dockerfile"):
        build.plan(root, ["replicate"])


# --- make images ---------------------------------------------------------------------------------


@pytest.fixture
def buildable(project: Path) -> Path:
    """A project with a base Dockerfile and current stage Dockerfiles."""
    (project / "images" / "base").mkdir()
    (project / "images" / "base" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    api.compile_images(project)
    return project


def test_make_images_builds_from_current_dockerfiles(buildable: Path) -> None:
    names = [b.name for b in build.plan(buildable)]
    assert names == ["base", "ingest", "transform"]


def test_make_images_refuses_a_stale_dockerfile(buildable: Path) -> None:
    path = buildable / TRANSFORM
    path.write_text(path.read_text(encoding="utf-8").replace("USER 0:0", "USER 1:1"))
    assert [b.name for b in build.plan(buildable, ["ingest"])] == ["ingest"]
    with pytest.raises(
        StaleError,
        match=r"stale Dockerfile: images/transform/Dockerfile \(not what pipelines/pets\.yaml",
    ) as caught:
        build.plan(buildable)
    assert caught.value.hint is not None and "pedigree compile --target images" in caught.value.hint


def test_make_images_says_how_to_generate_a_missing_dockerfile(buildable: Path) -> None:
    (buildable / INGEST).unlink()
    with pytest.raises(PedigreeError, match=r"missing Dockerfile: images/ingest/Dockerfile") as e:
        build.plan(buildable, ["transform"])
    assert e.value.hint == "run `pedigree compile --target images` (and commit images/)"
