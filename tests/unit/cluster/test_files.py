"""Files for git a cluster step writes: which travel, the remote round trip, putting them back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pedigree.cluster import files
from pedigree.cluster.files import RemoteFiles, StepFile, StepFilesError

BIN = Path(sys.executable).parent
EVENT = "registry/demo/events/20260101T000000000000Z-registered-0123456789ab.json"
DVC_YAML = """\
stages:
  release:
    cmd: python -m stages.release
    deps: [registry/demo]
    outs: [models/out]
    metrics:
    - models/release.json:
        cache: false
"""


def _sh(root: Path, *argv: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git + DVC project with a local DVC remote and one committed serving manifest."""
    root = tmp_path / "project"
    (root / "cluster-conf" / "serving").mkdir(parents=True)
    (root / "cluster-conf" / "serving" / "demo.yaml").write_text("model: v1\n")
    (root / "registry" / "demo").mkdir(parents=True)
    (root / "registry" / "demo" / "README.md").write_text("the registry\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    _sh(root, "git", "init", "-q")
    _sh(root, str(BIN / "dvc"), "init", "-q")
    _sh(root, str(BIN / "dvc"), "remote", "add", "-d", "--local", "r", str(tmp_path / "remote"))
    _sh(root, "git", "add", "-A")
    _sh(root, "git", "commit", "-q", "-m", "project")
    return root


def _write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def test_what_travels_and_what_is_left_out() -> None:
    outputs = ("models/out", "models/release.json")
    for path in ("dvc.lock", "lineage/release.json", "models/out/x.bin", "data/.gitignore"):
        assert files.remade(path, outputs), path
    assert not files.remade(EVENT, outputs)
    assert files.refusal(EVENT) is None
    assert files.refusal("cluster-conf/serving/demo.yaml") is None
    for path in ("stages/release/x.py", "pipelines/demo.yaml", ".git/config", "params.yaml"):
        assert files.refusal(path) is not None, path
    for path in ("../outside.txt", "/etc/passwd", "a//b", "a/./b", ""):
        assert files.refusal(path) == " is not a relative path inside the project", path


def test_the_work_tree_changes_git_sees(project: Path) -> None:
    _write(project, "cluster-conf/serving/demo.yaml", "model: v2\n")
    _write(project, EVENT, "{}\n")
    _write(project, "models/release.json", "{}\n")
    (project / "registry" / "demo" / "README.md").unlink()
    changes = files.work_tree_changes(project, os.environ)
    assert set(changes) == {"cluster-conf/serving/demo.yaml", EVENT, "models/release.json"}
    assert changes[EVENT] == files._sha256(b"{}\n")


def test_outside_git_the_step_cannot_tell_what_changed(tmp_path: Path) -> None:
    with pytest.raises(StepFilesError, match=r"cannot list the files the stage changed"):
        files.work_tree_changes(tmp_path, {**os.environ, "GIT_CEILING_DIRECTORIES": "/"})


def test_a_step_sends_what_its_stage_wrote_and_pull_reads_it_back(project: Path) -> None:
    _write(project, "notes.txt", "there before the stage ran\n")
    send = files.watch(project, "demo-x7k2q", "release", "r", os.environ)
    _write(project, EVENT, '{"kind": "registered"}\n')
    _write(project, "cluster-conf/serving/demo.yaml", "model: v2\n")
    _write(project, "models/release.json", "{}\n")  # a DVC output: DVC brings it home
    _write(project, "dvc.lock", "schema: '2.0'\n")  # remade by pull
    _write(project, "stages/release/__main__.py", "print('changed')\n")  # code: never sent
    sent = send()
    assert [f.path for f in sent.files] == ["cluster-conf/serving/demo.yaml", EVENT]
    assert len(sent.left_out) == 1 and sent.left_out[0].startswith("stages/release/__main__.py")
    with RemoteFiles(project, "r") as remote:
        listed = remote.listing("demo-x7k2q", "release")
        assert listed == sent.files
        assert remote.fetch("demo-x7k2q", listed[1]) == b'{"kind": "registered"}\n'
        assert remote.listing("demo-x7k2q", "evaluate") == ()
        # A retried step replaces the list: only the attempt that succeeded comes home.
        assert remote.publish("demo-x7k2q", "release", [EVENT]) == (listed[1],)
        assert remote.listing("demo-x7k2q", "release") == (listed[1],)


def test_a_blob_changed_in_the_remote_is_refused(project: Path, tmp_path: Path) -> None:
    _write(project, EVENT, "{}\n")
    with RemoteFiles(project, "r") as remote:
        [file] = remote.publish("demo-x7k2q", "release", [EVENT])
        blob = tmp_path / "remote" / "pedigree" / "files" / "demo-x7k2q" / "blobs" / file.sha256
        blob.write_text("[]\n")
        with pytest.raises(StepFilesError, match=r"is not the file the step wrote"):
            remote.fetch("demo-x7k2q", file)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json", r"is not valid JSON"),
        ({"schema": files.SCHEMA, "stage": "train", "files": []}, r"list for stage 'release'"),
        ({"schema": files.SCHEMA, "stage": "release", "files": [{"path": "x"}]}, r"needs path"),
        (
            {
                "schema": files.SCHEMA,
                "stage": "release",
                "files": [{"path": "../../.bashrc", "sha256": "a" * 64, "size": 1}],
            },
            r"names '../../.bashrc', which is not a relative path inside the project",
        ),
        (
            {
                "schema": files.SCHEMA,
                "stage": "release",
                "files": [{"path": "stages/x.py", "sha256": "a" * 64, "size": 1}],
            },
            r"names 'stages/x.py', which inside stages/",
        ),
    ],
)
def test_an_altered_list_is_refused(doc: object, message: str) -> None:
    raw = (doc if isinstance(doc, str) else json.dumps(doc)).encode()
    with pytest.raises(StepFilesError, match=message):
        files.parse_listing(raw, "remote/pedigree/files/run/release.json", "release")


def _file(rel: str, data: bytes) -> tuple[StepFile, bytes]:
    return StepFile(rel, files._sha256(data), len(data)), data


def test_placed_writes_changed_files_and_undoes_them_on_failure(project: Path) -> None:
    manifest = project / "cluster-conf" / "serving" / "demo.yaml"
    wanted = [
        _file(EVENT, b"{}\n"),
        _file("cluster-conf/serving/demo.yaml", b"model: v2\n"),
        _file("registry/demo/README.md", b"the registry\n"),  # the same bytes: left alone
    ]
    with files.placed(project, wanted, lambda rel: False) as written:
        assert written == [EVENT, "cluster-conf/serving/demo.yaml"]
        assert manifest.read_bytes() == b"model: v2\n"
    assert (project / EVENT).read_bytes() == b"{}\n"
    (project / EVENT).unlink()
    manifest.write_text("model: v1\n")
    with pytest.raises(RuntimeError, match=r"restore failed"):
        with files.placed(project, wanted, lambda rel: False):
            raise RuntimeError("restore failed")
    assert not (project / EVENT).exists()
    assert manifest.read_bytes() == b"model: v1\n"


def test_placed_never_replaces_a_change_made_here(project: Path) -> None:
    wanted = [_file("cluster-conf/serving/demo.yaml", b"model: v2\n")]
    with pytest.raises(StepFilesError, match=r"has changes here that are not committed"):
        with files.placed(project, wanted, lambda rel: True):
            pass


def test_placed_never_follows_a_symlink_out_of_the_project(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "registry" / "other").symlink_to(outside)
    wanted = [_file("registry/other/x.json", b"{}\n")]
    with pytest.raises(StepFilesError, match=r"leads out of the project through a symlink"):
        with files.placed(project, wanted, lambda rel: False):
            pass
    assert not (outside / "x.json").exists()


def test_placed_refuses_what_dvc_or_pull_make(project: Path) -> None:
    with pytest.raises(StepFilesError, match=r"is made by DVC or by pull itself"):
        with files.placed(project, [_file("models/out/x.bin", b"x")], lambda rel: False):
            pass


def test_git_add_names_a_folder_for_several_files() -> None:
    paths = [EVENT, EVENT.replace("registered", "promoted"), "cluster-conf/serving/demo.yaml"]
    assert files.git_add_paths(paths) == [
        "cluster-conf/serving/demo.yaml",
        "registry/demo/events",
    ]
