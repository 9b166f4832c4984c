"""The cluster step's sequence (remote, image digest, repro, records, push) with a fake DVC."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pedigree.cluster import step
from pedigree.cluster.files import Published, StepFile, StepFilesError
from pedigree.errors import PedigreeError, ToolError


def _config(tmp_path: Path, **env: str) -> step.StepConfig:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    base = {"PEDIGREE_REMOTE": "s3://pedigree/dvc", "PEDIGREE_WORKFLOW": "pets-x7k2q"}
    return step.config_from_env("train", tmp_path, {**base, **env})


class FakeDvc:
    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []
        self.fail = fail

    def __call__(self, args: list[str], env: Mapping[str, str]) -> int:
        self.calls.append(args)
        self.envs.append(dict(env))
        return 1 if self.fail and args[0] == self.fail else 0


NOTHING = Published((), ())


class FakeWatch:
    """Notes when the work tree was watched (how many dvc calls before) and what was sent."""

    def __init__(self, dvc: FakeDvc, sent: Published | Exception = NOTHING) -> None:
        self.dvc = dvc
        self.sent = sent
        self.watched_after: int | None = None
        self.sent_after: int | None = None

    def __call__(self, config: step.StepConfig, env: Mapping[str, str]):
        self.watched_after = len(self.dvc.calls)

        def send() -> Published:
            self.sent_after = len(self.dvc.calls)
            if isinstance(self.sent, Exception):
                raise self.sent
            return self.sent

        return send


def _run(
    config: step.StepConfig,
    dvc: FakeDvc,
    image=None,
    published: int = 1,
    watch: FakeWatch | None = None,
) -> tuple[int, list[str]]:
    said: list[str] = []
    io = adapters(dvc, watch or FakeWatch(dvc), image=image, publish=lambda c: published)
    return step.run_step(config, io, said.append), said


def adapters(
    dvc: FakeDvc,
    watch: step.Watch,
    image: tuple[str, str] | None = None,
    publish: Callable[[step.StepConfig], int] = lambda c: 1,
    reach: Callable[[step.StepConfig], None] = lambda c: None,
) -> step.StepAdapters:
    """The step's adapters, every one a fake."""
    return step.StepAdapters(
        dvc=dvc,
        image_lookup=lambda pod, ns: image,
        reach=reach,
        publish=publish,
        watch=watch,
        push_uncached=lambda c: 0,
    )


def test_a_step_configures_the_remote_runs_and_pushes(tmp_path: Path) -> None:
    config = _config(tmp_path, AWS_ENDPOINT_URL="http://minio:9000")
    dvc = FakeDvc()
    code, said = _run(config, dvc)
    assert code == 0
    assert dvc.calls == [
        [
            "remote",
            "add",
            "--local",
            "--force",
            "--default",
            "pedigree-cluster",
            "s3://pedigree/dvc",
        ],
        ["remote", "modify", "--local", "pedigree-cluster", "endpointurl", "http://minio:9000"],
        ["repro", "--pull", "train"],
        ["push", "--run-cache", "--remote", "pedigree-cluster", "train"],
    ]
    # The checkout's dvc.lock (the last local run) is not what the cluster run restores from.
    assert not (tmp_path / "dvc.lock").exists()
    env = dvc.envs[2]
    assert env["GIT_CONFIG_KEY_0"] == "safe.directory" and env["GIT_CONFIG_VALUE_0"] == "*"
    assert said[-1] == "step train: done"


def test_the_pods_image_digest_reaches_the_launcher(tmp_path: Path) -> None:
    config = _config(tmp_path, POD_NAME="pets-x7k2q-train-1", POD_NAMESPACE="pedigree")
    dvc = FakeDvc()
    image = ("registry.example.com/pedigree/train:0.1.0", "sha256:" + "a" * 64)
    code, _ = _run(config, dvc, image=image)
    assert code == 0
    assert dvc.envs[1]["PEDIGREE_IMAGE"] == image[0]
    assert dvc.envs[1]["PEDIGREE_IMAGE_DIGEST"] == image[1]


def test_an_unknown_digest_is_a_warning(tmp_path: Path) -> None:
    config = _config(tmp_path, POD_NAME="p", POD_NAMESPACE="pedigree")
    code, said = _run(config, FakeDvc())
    assert code == 0
    assert any("could not read this pod's image digest" in line for line in said)


PINNED = "registry.example.com/pedigree/train@sha256:" + "b" * 64
TAGGED = "registry.example.com/pedigree/train:0.1.0"


def _run_in(config: step.StepConfig, environ: dict[str, str], image=None):
    """run_step in `environ` (the pod's environment), with a fake DVC; (dvc, what it said)."""
    said: list[str] = []
    dvc = FakeDvc()
    io = adapters(dvc, FakeWatch(dvc), image=image)
    assert step.run_step(config, io, said.append, environ) == 0
    return dvc, said


def test_without_the_pods_digest_the_templates_pinned_image_is_recorded(tmp_path: Path) -> None:
    # what kustomize made of PEDIGREE_IMAGE in production: the container's image, by digest
    config = _config(tmp_path, POD_NAME="p", POD_NAMESPACE="pedigree")
    dvc, said = _run_in(config, {"PEDIGREE_IMAGE": PINNED})
    repro = dvc.envs[2]
    assert repro["PEDIGREE_IMAGE"] == PINNED
    assert repro["PEDIGREE_IMAGE_DIGEST"] == "sha256:" + "b" * 64
    assert not any(line.startswith("warning") for line in said)
    assert (
        f"step train: image {PINNED} (from PEDIGREE_IMAGE: could not read this pod's image digest)"
        in said
    )


def test_the_pods_own_digest_comes_first(tmp_path: Path) -> None:
    config = _config(tmp_path, POD_NAME="p", POD_NAMESPACE="pedigree")
    pod = ("registry.example.com/pedigree/train:0.1.0", "sha256:" + "c" * 64)
    dvc, said = _run_in(config, {"PEDIGREE_IMAGE": PINNED}, image=pod)
    assert (dvc.envs[2]["PEDIGREE_IMAGE"], dvc.envs[2]["PEDIGREE_IMAGE_DIGEST"]) == pod
    assert not any("PEDIGREE_IMAGE" in line for line in said)


def test_a_tag_only_image_is_recorded_without_a_digest_and_a_warning(tmp_path: Path) -> None:
    config = _config(tmp_path, POD_NAME="p", POD_NAMESPACE="pedigree")
    # a digest variable left in the environment must not be paired with another image
    dvc, said = _run_in(config, {"PEDIGREE_IMAGE": TAGGED, "PEDIGREE_IMAGE_DIGEST": "sha256:old"})
    repro = dvc.envs[2]
    assert repro["PEDIGREE_IMAGE"] == TAGGED and "PEDIGREE_IMAGE_DIGEST" not in repro
    [warning] = [line for line in said if line.startswith("warning")]
    assert warning == (
        "warning: could not read this pod's image digest; the record names the image by tag "
        f"without a digest ({TAGGED}): pin it with `make images PUSH=<registry prefix>` and "
        "commit cluster-conf/images (the production overlay then pulls it by digest)"
    )
    assert said[-1] == "step train: done"  # never a failed step


def test_outside_a_pod_the_template_image_is_still_recorded(tmp_path: Path) -> None:
    dvc, said = _run_in(_config(tmp_path), {"PEDIGREE_IMAGE": PINNED})
    assert dvc.envs[2]["PEDIGREE_IMAGE_DIGEST"] == "sha256:" + "b" * 64
    assert any("POD_NAME/POD_NAMESPACE unset" in line for line in said)
    # and with nothing to go on, nothing is said and nothing recorded (a local test run)
    dvc, said = _run_in(_config(tmp_path), {})
    assert "PEDIGREE_IMAGE" not in dvc.envs[2]
    assert not any("image" in line for line in said)


def test_a_pod_without_either_warns(tmp_path: Path) -> None:
    config = _config(tmp_path, POD_NAME="p", POD_NAMESPACE="pedigree")
    _, said = _run_in(config, {})
    assert (
        "warning: could not read this pod's image digest; PEDIGREE_IMAGE is not set either: "
        "the record names no image"
    ) in said


def test_a_failed_stage_keeps_its_exit_status_and_pushes_nothing(tmp_path: Path) -> None:
    dvc = FakeDvc(fail="repro")
    code, said = _run(_config(tmp_path), dvc)
    assert code == 1
    assert not any(call[0] == "push" for call in dvc.calls)
    assert said[-1] == "error: stage 'train' failed (dvc exited 1)"


def test_records_that_cannot_be_published_fail_the_step(tmp_path: Path) -> None:
    def publish(config: step.StepConfig) -> int:
        raise OSError("bucket gone")

    said: list[str] = []
    dvc = FakeDvc()
    code = step.run_step(
        _config(tmp_path), adapters(dvc, FakeWatch(dvc), publish=publish), said.append
    )
    assert code == 1
    assert "error: cannot copy lineage records to the remote: bucket gone" in said


def test_files_for_git_are_sent_after_the_stage_and_before_the_push(tmp_path: Path) -> None:
    dvc = FakeDvc()
    event = StepFile("registry/pets/events/x.json", "a" * 64, 10)
    watch = FakeWatch(dvc, Published((event,), ("stages/x.py, which holds code: left out",)))
    code, said = _run(_config(tmp_path), dvc, watch=watch)
    assert code == 0
    # watched once the remote is set, right before repro; sent after repro, before the push
    assert dvc.calls[watch.watched_after or 0] == ["repro", "--pull", "train"]
    assert dvc.calls[watch.sent_after or 0][0] == "push"
    assert any(
        "1 file(s) for git copied to the remote: registry/pets/events/x.json" in s for s in said
    )
    assert any(s.startswith("warning: stages/x.py") for s in said)


def test_files_that_cannot_be_sent_fail_the_step_before_the_push(tmp_path: Path) -> None:
    dvc = FakeDvc()
    watch = FakeWatch(dvc, StepFilesError("bucket gone", "check it"))
    code, said = _run(_config(tmp_path), dvc, watch=watch)
    assert code == 1
    assert not any(call[0] == "push" for call in dvc.calls)
    assert any(
        "cannot copy the stage's files for git to the remote: bucket gone" in s for s in said
    )


def test_a_failed_stage_sends_no_files(tmp_path: Path) -> None:
    dvc = FakeDvc(fail="repro")
    watch = FakeWatch(dvc)
    code, _ = _run(_config(tmp_path), dvc, watch=watch)
    assert code == 1
    assert watch.watched_after is not None and watch.sent_after is None


def test_a_work_tree_git_cannot_read_fails_the_step_before_it_runs(tmp_path: Path) -> None:
    def watch(config: step.StepConfig, env: Mapping[str, str]):
        raise StepFilesError("cannot list the files the stage changed", "install git")

    said: list[str] = []
    dvc = FakeDvc()
    code = step.run_step(_config(tmp_path), adapters(dvc, watch), said.append)
    assert code == 1
    assert not any(call[0] == "repro" for call in dvc.calls)
    assert any("cannot list the files the stage changed" in s for s in said)


def test_a_remote_that_does_not_answer_fails_the_step_before_it_runs(tmp_path: Path) -> None:
    def reach(config: step.StepConfig) -> None:
        raise ToolError("the DVC remote (s3://pedigree/dvc) refused the credentials", "check")

    said: list[str] = []
    dvc = FakeDvc()
    watch = FakeWatch(dvc)
    code = step.run_step(_config(tmp_path), adapters(dvc, watch, reach=reach), said.append)
    assert code == 4
    assert [call[0] for call in dvc.calls] == ["remote"]  # configured, then nothing ran
    assert watch.watched_after is None
    assert (tmp_path / "dvc.lock").exists()  # the checkout as it was
    assert said[-1].startswith("error: the DVC remote (s3://pedigree/dvc) refused the credentials")


def test_missing_remote_is_named(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(PedigreeError, match=r"PEDIGREE_REMOTE is not set"):
        step.config_from_env("train", tmp_path, {})


def test_a_folder_without_the_project_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PedigreeError, match=r"has no dvc.yaml: the project is not checked out"):
        step.config_from_env("train", tmp_path, {"PEDIGREE_REMOTE": "s3://b/p"})
