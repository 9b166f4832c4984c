"""One pipeline step on a cluster: `python -m pedigree.cluster.step --stage NAME`.

Every container of the compiled WorkflowTemplate runs this in the runner environment of its
image (`/opt/pedigree/runner`), in `/workspace`, where Argo has checked the project out at the
run's git revision. It does what a cluster step must (docs/cluster.md, "The workflow"), with
plain DVC:

1. point DVC at the run's remote (`PEDIGREE_REMOTE`, MinIO's `AWS_ENDPOINT_URL`, the
   credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), in the checkout's local config
   only, and check that it answers: a wrong endpoint, credential or bucket fails here (exit 4),
   before anything runs or is written;
2. note the image and digest the pod runs for the lineage record: from the pod's own status,
   else from `PEDIGREE_IMAGE`, the reference the template gives the step (kustomize rewrites it
   with the image, so in production it names the digest the container was pinned to);
3. `dvc repro --pull STAGE`: upstream stages are restored from the remote's run-cache (their own
   steps pushed it), then the stage runs through the launcher as it does locally;
4. copy the lineage records to the remote (see `pedigree.cluster.records`), whatever the outcome;
5. once the stage succeeded, copy the files for git it added or changed (release: the registry's
   event files and the serving manifest) to the remote (see `pedigree.cluster.files`);
6. `dvc push --run-cache STAGE`: the outputs and the run-cache entry, so downstream steps and
   `pedigree pull` restore instead of recomputing; then the objects of its `cache: false`
   outputs (metrics, plots), which the run-cache entry needs and `dvc push` leaves out.

The exit status is DVC's, so Argo's retryStrategy retries a failed stage; 4 when the remote
cannot be reached or refuses the credentials, 2 when the pod's environment is incomplete.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.containers.digests import image_digest
from pedigree.envvars import DIGEST_ENV, IMAGE_ENV, REMOTE_ENV, WORKFLOW_ENV
from pedigree.errors import PedigreeError
from pedigree.redact import redact_text

if TYPE_CHECKING:
    from pedigree.cluster.files import Published

REMOTE_NAME = "pedigree-cluster"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
MAIN_CONTAINER = "main"  # the name Argo gives a container template's container

Dvc = Callable[[list[str], Mapping[str, str]], int]
ImageLookup = Callable[[str, str], "tuple[str, str] | None"]
# (image reference, its digest or None: named by tag only)
StepImage = tuple[str, "str | None"]
# (config, env) -> a function that sends home the files for git changed since the call
Watch = Callable[["StepConfig", Mapping[str, str]], Callable[[], "Published"]]


@dataclass(frozen=True)
class StepConfig:
    """What one step needs to know, read from the pod's environment."""

    stage: str
    root: Path
    remote: str
    endpoint: str | None
    workflow: str
    pod: str | None
    namespace: str | None


def config_from_env(stage: str, root: Path, env: Mapping[str, str]) -> StepConfig:
    """The step's configuration; PedigreeError naming the variable when one is missing."""
    remote = env.get(REMOTE_ENV, "").strip()
    if not remote:
        raise PedigreeError(
            f"{REMOTE_ENV} is not set: the step does not know the DVC remote to use",
            "set it to the remote URL, e.g. s3://pedigree/dvc (the WorkflowTemplate passes "
            "{{workflow.parameters.remote}})",
        )
    if not (root / "dvc.yaml").is_file():
        raise PedigreeError(
            f"{root} has no dvc.yaml: the project is not checked out here",
            "the step runs in the git checkout of the project (Argo's `source` artifact)",
        )
    return StepConfig(
        stage=stage,
        root=root,
        remote=remote,
        endpoint=env.get(ENDPOINT_ENV) or None,
        workflow=env.get(WORKFLOW_ENV) or "local",
        pod=env.get("POD_NAME") or None,
        namespace=env.get("POD_NAMESPACE") or None,
    )


def step_environment(env: Mapping[str, str], image: StepImage | None) -> dict[str, str]:
    """The environment DVC (and so the launcher) runs in. With `image`, PEDIGREE_IMAGE and
    PEDIGREE_IMAGE_DIGEST name it for the lineage record (no digest variable for an image known
    by tag only: the record then names no digest rather than a wrong one)."""
    result = dict(env)
    # The checkout belongs to whoever Argo's init container ran as; git refuses to read a
    # repository owned by another user unless told it is safe, and DVC reads it through git.
    count = int(result.get("GIT_CONFIG_COUNT", "0") or 0)
    result.update(
        {
            "GIT_CONFIG_COUNT": str(count + 1),
            f"GIT_CONFIG_KEY_{count}": "safe.directory",
            f"GIT_CONFIG_VALUE_{count}": "*",
            "DVC_NO_ANALYTICS": "1",
        }
    )
    if image is not None:
        result[IMAGE_ENV] = image[0]
        if image[1]:
            result[DIGEST_ENV] = image[1]
        else:
            result.pop(DIGEST_ENV, None)
    return result


def step_image(
    config: StepConfig, lookup: ImageLookup, env: Mapping[str, str], say: Callable[[str], None]
) -> StepImage | None:
    """The image (and digest) this step's lineage records, never a reason to fail the step.

    First the pod's own status (`imageID`: the digest the kubelet pulled); where the API gives
    nothing, PEDIGREE_IMAGE, the step's image reference in the compiled template. Kustomize's
    images transformer rewrites that value exactly as it rewrites the container's image, so
    where the production overlay pins the image by digest it names that same digest.
    """
    why = "no pod to ask for its image digest (POD_NAME/POD_NAMESPACE unset)"
    if config.pod and config.namespace:
        found = lookup(config.pod, config.namespace)
        if found is not None:
            return found
        why = "could not read this pod's image digest"
    reference = env.get(IMAGE_ENV, "").strip()
    if not reference:
        if config.pod and config.namespace:
            say(f"warning: {why}; {IMAGE_ENV} is not set either: the record names no image")
        return None
    digest = image_digest(reference)
    if digest is not None:
        say(f"step {config.stage}: image {reference} (from {IMAGE_ENV}: {why})")
        return reference, digest
    say(
        f"warning: {why}; the record names the image by tag without a digest ({reference}): "
        "pin it with `make images PUSH=<registry prefix>` and commit cluster-conf/images "
        "(the production overlay then pulls it by digest)"
    )
    return reference, None


@dataclass(frozen=True)
class StepAdapters:
    """What a step does to the world, one function each (tests swap them)."""

    dvc: Dvc
    image_lookup: ImageLookup
    reach: Callable[[StepConfig], None]  # PedigreeError unless the remote answers
    publish: Callable[[StepConfig], int]
    watch: Watch
    push_uncached: Callable[[StepConfig], int]


def run_step(
    config: StepConfig,
    io: StepAdapters,
    say: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one step (see the module docstring) in `environ` (default: this process's); the exit
    status for Argo."""
    dvc = io.dvc
    environ = os.environ if environ is None else environ
    env = step_environment(environ, step_image(config, io.image_lookup, environ, say))
    problem = point_at_remote(config, dvc, env)
    if problem:
        return _failed(say, problem)
    # Before anything runs or is written: a wrong endpoint, credential or bucket would otherwise
    # surface only at the push, after the stage's work (exit 4, as `pedigree` gives).
    try:
        io.reach(config)
    except PedigreeError as exc:
        return _failed(say, str(exc), exc.exit_code)
    # The checkout's dvc.lock describes the last local run, not this cluster run: with it, DVC
    # would look for that run's outputs in the remote and, not finding them, recompute upstream
    # stages here. Without it, each stage is restored from the run-cache entry its own step
    # pushed (keyed by its inputs, command and params), and this stage runs unless an identical
    # run already exists.
    (config.root / "dvc.lock").unlink(missing_ok=True)
    try:
        send_files = io.watch(config, env)
    except PedigreeError as exc:
        return _failed(say, str(exc))
    say(f"step {config.stage}: restoring inputs from {config.remote}, then running the stage")
    code = dvc(["repro", "--pull", config.stage], env)
    try:
        published = io.publish(config)
    except (PedigreeError, OSError) as exc:
        say(f"error: cannot copy lineage records to the remote: {exc}")
        published = -1
    if published > 0:
        say(f"step {config.stage}: {published} lineage record(s) copied to the remote")
    if code != 0:
        return _failed(say, f"stage '{config.stage}' failed (dvc exited {code})", code)
    try:
        sent = send_files()
    except (PedigreeError, OSError) as exc:
        return _failed(say, f"cannot copy the stage's files for git to the remote: {exc}")
    for line in sent.left_out:
        say(f"warning: {line}: the stage changed it, it is not sent home")
    if sent.files:
        names = ", ".join(f.path for f in sent.files)
        say(f"step {config.stage}: {len(sent.files)} file(s) for git copied to the remote: {names}")
    say(f"step {config.stage}: pushing outputs and run-cache to {config.remote}")
    pushed = dvc(["push", "--run-cache", "--remote", REMOTE_NAME, config.stage], env)
    if pushed != 0:
        return _failed(say, f"cannot push the outputs of '{config.stage}'", pushed)
    try:
        io.push_uncached(config)
    except Exception as exc:  # noqa: BLE001 - DVC and its remotes raise their own errors
        return _failed(say, f"cannot push the uncached outputs of '{config.stage}': {exc}")
    if published < 0:
        return _failed(say, f"the lineage record of '{config.stage}' did not reach the remote")
    if published == 0:
        # Restored from an identical earlier run: that run's record is already in the remote.
        say(f"step {config.stage}: restored from the run-cache, no new lineage record")
    say(f"step {config.stage}: done")
    return 0


def point_at_remote(config: StepConfig, dvc: Dvc, env: Mapping[str, str]) -> str | None:
    """Make the run's remote (and its endpoint) the checkout's default DVC remote, in the local
    config only; what went wrong, or None."""
    remote = ["remote", "add", "--local", "--force", "--default", REMOTE_NAME, config.remote]
    if dvc(remote, env) != 0:
        return "cannot configure the DVC remote " + config.remote
    if config.endpoint and dvc(
        ["remote", "modify", "--local", REMOTE_NAME, "endpointurl", config.endpoint], env
    ):
        return "cannot set the remote's endpoint " + config.endpoint
    return None


def check_remote(config: StepConfig) -> None:
    """ToolError unless the step's remote accepts its credentials and has its bucket."""
    from pedigree.cluster.records import RemoteFolder

    with RemoteFolder(config.root, REMOTE_NAME, (), "the step's remote") as remote:
        remote.check_reachable()


def publish_records(config: StepConfig) -> int:
    """Copy the lineage records this step wrote to the remote; how many."""
    from pedigree.cluster.records import RemoteRecords

    with RemoteRecords(config.root, REMOTE_NAME) as remote:
        return len(remote.publish(config.workflow))


def push_uncached_outputs(config: StepConfig) -> int:
    """Push the objects of the stage's `cache: false` outputs (metrics, plots), which its
    run-cache entry needs and `dvc push` leaves out; how many."""
    from pedigree.executors.dvc_private import push_uncached_outputs as push

    return push(str(config.root), config.stage, REMOTE_NAME)


def watch_files(config: StepConfig, env: Mapping[str, str]) -> Callable[[], Published]:
    """Note the checkout's work tree now; the function returned sends home the files for git
    the stage added or changed since (`pedigree.cluster.files`)."""
    from pedigree.cluster.files import watch

    return watch(config.root, config.workflow, config.stage, REMOTE_NAME, env)


def _failed(say: Callable[[str], None], message: str, code: int = 1) -> int:
    say(f"error: {message}")
    return code or 1


def subprocess_dvc(args: list[str], env: Mapping[str, str]) -> int:
    """Run the runner environment's `dvc` (never the stage's: it may not have DVC)."""
    dvc = Path(sys.executable).with_name("dvc")
    argv = [str(dvc)] if dvc.exists() else [sys.executable, "-m", "dvc"]
    return subprocess.run([*argv, *args], env=dict(env), check=False).returncode


def pod_image(pod: str, namespace: str) -> tuple[str, str] | None:
    """(image, sha256 digest) of this pod's main container, from its status; None if unknown.

    The kubelet reports the digest it actually pulled (`imageID`), which is what lineage must
    record: a tag can move, a digest cannot.
    """
    try:
        from kubernetes import client, config

        config.load_incluster_config()
        status = client.CoreV1Api().read_namespaced_pod(pod, namespace).status
    except Exception:  # noqa: BLE001 - no digest is a warning, never a failed stage
        return None
    for container in (status.container_statuses if status is not None else None) or []:
        if container.name == MAIN_CONTAINER and container.image_id and "@" in container.image_id:
            return container.image, container.image_id.rsplit("@", 1)[1]
    return None


ADAPTERS = StepAdapters(
    dvc=subprocess_dvc,
    image_lookup=pod_image,
    reach=check_remote,
    publish=publish_records,
    watch=watch_files,
    push_uncached=push_uncached_outputs,
)


def main(argv: list[str] | None = None) -> int:
    """`python -m pedigree.cluster.step --stage NAME` in the project checkout."""
    parser = argparse.ArgumentParser(
        prog="python -m pedigree.cluster.step",
        description="Run one pipeline stage on a cluster: restore, run, push (docs/cluster.md).",
    )
    parser.add_argument("--stage", required=True, help="the stage to run")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        # Pod logs are read by anyone with access to the namespace: no remote URL or exception
        # text may carry a credential into them.
        print(f"pedigree: {redact_text(line)}", file=sys.stderr, flush=True)

    try:
        config = config_from_env(args.stage, Path.cwd(), os.environ)
    except PedigreeError as exc:
        say(f"error: {exc}")
        return 2
    return run_step(config, ADAPTERS, say)


if __name__ == "__main__":
    sys.exit(main())
