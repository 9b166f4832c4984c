"""The inputs fingerprint: which files each image's build copies, hashed per group."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pedigree.containers import inputs
from pedigree.spec.load import load
from tests.conftest import REPO_ROOT, pets_copy

STAGE_DOCKERFILE = """\
FROM ${BASE_IMAGE}
COPY images/train/requirements.lock /opt/pedigree/locks/train.lock
LABEL org.opencontainers.image.revision="${REVISION}"
"""
SERVE_DOCKERFILE = """\
FROM ${BASE_IMAGE}
COPY images/serve/requirements.lock /opt/pedigree/locks/serve.lock
COPY stages/__init__.py /opt/pedigree/app/stages/__init__.py
COPY stages/serve/ /opt/pedigree/app/stages/serve/
COPY --from=wheel /wheels/ /opt/pedigree/wheels/
"""


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A build context: the base, pedigree's sources, a stage image and the serving image."""
    root = tmp_path / "ctx"
    for rel, text in {
        "images/base/Dockerfile": "FROM python\nCOPY src ./src\n",
        "images/base/requirements.lock": "dvc==3\n",
        "images/base/build-requirements.lock": "setuptools==80\n",
        "pyproject.toml": "[project]\nname = 'pedigree'\n",
        "README.md": "readme\n",
        "src/pedigree/__init__.py": "",
        "src/pedigree/schemas/x.json": "{}\n",
        "images/train/Dockerfile": STAGE_DOCKERFILE,
        "images/train/requirements.lock": "numpy==2\n",
        "images/serve/Dockerfile": SERVE_DOCKERFILE,
        "images/serve/requirements.lock": "kserve==0.17\n",
        "stages/__init__.py": "",
        "stages/serve/predictor.py": "x = 1\n",
    }.items():
        _write(root, rel, text)
    return root


def test_the_groups_of_each_kind_of_image(tree: Path) -> None:
    base = inputs.image_inputs(tree, "base", "images/base/Dockerfile")
    train = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    serve = inputs.image_inputs(tree, "serve", "images/serve/Dockerfile")
    assert set(base) == {"base", "pedigree"}
    assert set(train) == {"base", "pedigree", "dockerfile", "lock"}
    # the serving image copies its predictor's code too
    assert set(serve) == {"base", "pedigree", "dockerfile", "lock", "code"}
    assert train["base"] == base["base"] and train["pedigree"] == base["pedigree"]
    assert all(len(v) == 64 for v in serve.values())
    # deterministic
    assert inputs.image_inputs(tree, "serve", "images/serve/Dockerfile") == serve


@pytest.mark.parametrize(
    ("rel", "changed"),
    [
        ("images/train/requirements.lock", ["lock"]),
        ("images/train/Dockerfile", ["dockerfile"]),
        ("images/base/requirements.lock", ["base"]),
        ("images/base/build-requirements.lock", ["base"]),
        ("src/pedigree/__init__.py", ["pedigree"]),
        ("src/pedigree/schemas/x.json", ["pedigree"]),
        ("pyproject.toml", ["pedigree"]),
    ],
)
def test_a_change_names_its_group(tree: Path, rel: str, changed: list[str]) -> None:
    before = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    (tree / rel).write_text((tree / rel).read_text(encoding="utf-8") + "# changed\n")
    after = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    assert inputs.changed_groups(before, after) == changed


def test_the_predictor_code_is_the_serving_images_code_group(tree: Path) -> None:
    before = inputs.image_inputs(tree, "serve", "images/serve/Dockerfile")
    (tree / "stages/serve/predictor.py").write_text("x = 2\n", encoding="utf-8")
    _write(tree, "stages/serve/new.py", "")
    after = inputs.image_inputs(tree, "serve", "images/serve/Dockerfile")
    assert inputs.changed_groups(before, after) == ["code"]
    # the stage images copy no code: stages/ is the workspace's
    train = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    assert "code" not in train


def test_what_does_not_change_what_runs_is_left_out(tree: Path) -> None:
    before = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    # the README only reaches the wheel's metadata text; caches are not in the build context
    (tree / "README.md").write_text("other\n", encoding="utf-8")
    _write(tree, "src/pedigree/__pycache__/x.cpython-311.pyc", "junk")
    _write(tree, "stages/serve/__pycache__/p.pyc", "junk")
    assert inputs.image_inputs(tree, "train", "images/train/Dockerfile") == before


def test_git_decides_what_is_a_source_in_a_checkout(tree: Path) -> None:
    def sh(*args: str) -> None:
        subprocess.run(args, cwd=tree, check=True, capture_output=True)

    sh("git", "init", "-q")
    (tree / ".gitignore").write_text("*.log\n", encoding="utf-8")
    _write(tree, "src/pedigree/notes.log", "ignored")
    _write(tree, "src/pedigree/new_module.py", "")  # untracked, not ignored: it is built
    sh("git", "add", "src/pedigree/__init__.py")
    assert inputs.pedigree_sources(tree) == [
        "pyproject.toml",
        "src/pedigree/__init__.py",
        "src/pedigree/new_module.py",
        "src/pedigree/schemas/x.json",
    ]
    # a tracked file deleted from the work tree is not in the build
    (tree / "src/pedigree/__init__.py").unlink()
    assert "src/pedigree/__init__.py" not in inputs.pedigree_sources(tree)


def test_without_git_the_modules_and_package_data_count(tree: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tree / "no-such-bin"))  # no git at all
    _write(tree, "src/pedigree/notes.txt", "not in the wheel")
    assert inputs.pedigree_sources(tree) == [
        "pyproject.toml",
        "src/pedigree/__init__.py",
        "src/pedigree/schemas/x.json",
    ]


def test_a_missing_file_counts(tree: Path) -> None:
    before = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    (tree / "images/train/requirements.lock").unlink()
    after = inputs.image_inputs(tree, "train", "images/train/Dockerfile")
    assert inputs.changed_groups(before, after) == ["lock"]


def test_copied_sources_reads_copy_and_add_but_not_other_build_stages() -> None:
    text = (
        "COPY a.lock /x\n"
        "copy --chown=1:1 b c/ /y/\n"
        "ADD d /z\n"
        "COPY --from=wheel /wheels/ /w/\n"
        "RUN cp e f\n"
    )
    assert inputs.copied_sources(text) == ["a.lock", "b", "c", "d"]


def test_every_image_of_pets_and_its_dockerfile(tmp_path: Path) -> None:
    loaded = load(pets_copy(tmp_path / "pets"))
    found = inputs.image_dockerfiles(loaded.spec)
    assert list(found)[0] == "base" and list(found)[-2:] == ["serve", "replicate"]
    assert found["train"] == "images/train/Dockerfile"
    # the committed serving image copies the predictor's code: it has a code group
    assert "code" in inputs.image_inputs(REPO_ROOT, "serve", found["serve"])
