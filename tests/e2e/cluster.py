"""`make cluster-e2e`: the cluster path end to end on one machine, without Kubernetes.

    python -m tests.e2e.cluster [--engine podman|docker] [--no-build] [--keep]
                                [--python-image REF] [--ca-bundle PEM]

1. Builds the base image and every image the compiled WorkflowTemplate names (`make images`).
2. Pins each step's image by the digest just built, through kustomize with the repository's
   own image configuration (cluster-conf/base/kustomizeconfig), as a cluster config does.
3. Starts an S3 server on 127.0.0.1 with checked credentials (tests/support/s3server.py) as
   the DVC remote, in place of the cluster's MinIO.
4. Executes the DAG of the compiled WorkflowTemplate (the YAML in cluster-conf/, not the spec)
   in dependency order: each step is its container template's image, command, env (parameters,
   Secret keys and the pod's fields resolved as Argo and the kubelet would), working directory,
   security context (user, read-only root, dropped capabilities, no privilege escalation),
   CPU and memory limits and emptyDir volumes, in a fresh clone of the repository at the
   committed revision (Argo's git artifact). Steps hand data to each other only through S3.
5. In another clean clone: `pedigree pull RUN` from S3, then `pedigree verify --all`.
6. Prints one row per step (image digest, seconds, objects pushed to S3, the digest its
   lineage record names) and exits non-zero when anything failed.

What it does not prove (only a real cluster can): scheduling and node resources, RBAC and the
service account, Argo's controller (retries, deadlines, its git artifact and pod GC), MinIO
itself, cluster DNS and network policies. See README.md, "The cluster path end to end".
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pedigree.compile.argo_step import S3_SECRET
from pedigree.containers.engine import Engine, ImageMissingError, find_engine, inspect_image
from pedigree.containers.executor import ULIMITS
from pedigree.errors import PedigreeError
from tests.e2e import dag
from tests.support.s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE_CONFIG = ROOT / "cluster-conf" / "base" / "kustomizeconfig" / "workflowtemplate-images.yaml"
KUBECTL = BIN / "kubectl"
S3_KEYS = {"accesskey": "key", "secretkey": "secret"}  # the Secret's keys -> S3Server's fields
TAIL = 40  # log lines shown for a failed step


class E2EError(Exception):
    """The end-to-end run could not go on; the message says why."""


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    task: str
    digest: str
    seconds: float
    exit_code: int
    pushed: int
    log: Path


def sh(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a command, return its stdout; E2EError with its output when it fails."""
    done = subprocess.run(
        argv, cwd=cwd, env=dict(env) if env else None, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise E2EError(
            f"{' '.join(argv[:3])} ... exited {done.returncode}\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def compiled_template(root: Path) -> Path:
    """The pipeline's compiled WorkflowTemplate (the file `pedigree compile --target argo`
    writes), refused when it is not what the spec compiles to."""
    from pedigree.compile.argo import render_argo
    from pedigree.spec.load import load

    loaded = load(root)
    for rel, text in render_argo(loaded.spec, loaded.project.spec_path).items():
        if yaml.safe_load(text).get("kind") != "WorkflowTemplate":
            continue
        path = root / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            raise E2EError(f"{rel} is missing or stale: run `pedigree compile --target argo`")
        return path
    raise E2EError("the spec compiles to no WorkflowTemplate")


def step_images(template: Mapping[str, Any]) -> list[str]:
    """The images the DAG's steps run, in order, each once."""
    return list(dict.fromkeys(step.image for step in dag.steps(template)))


def build_images(root: Path, engine: Engine, names: list[str], args: argparse.Namespace) -> None:
    """`make images ONLY=base,<names>` with this run's engine and options."""
    argv = [sys.executable, "-m", "pedigree.containers.build", "--engine", engine.name]
    argv += ["--only", ",".join(["base", *names])]
    if args.python_image:
        argv += ["--python-image", args.python_image]
    if args.ca_bundle is not None:
        argv += ["--ca-bundle", args.ca_bundle]
    print("+ " + " ".join(argv), flush=True)
    if subprocess.run(argv, cwd=root, check=False).returncode != 0:
        raise E2EError("the image build failed (see above)")


def pin_by_digest(template_path: Path, digests: Mapping[str, str], work: Path) -> dict[str, Any]:
    """The template as kustomize renders it with each image pinned by `digests` (image name ->
    sha256 digest), using the repository's own image configuration."""
    folder = work / "kustomize"
    folder.mkdir()
    shutil.copy(template_path, folder / "workflowtemplate.yaml")
    shutil.copy(IMAGE_CONFIG, folder / "images-config.yaml")
    kustomization = {
        "resources": ["workflowtemplate.yaml"],
        "configurations": ["images-config.yaml"],
        "images": [{"name": name, "digest": digest} for name, digest in sorted(digests.items())],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(sh([str(KUBECTL), "kustomize", str(folder)], work)) if d]
    if len(docs) != 1:
        raise E2EError(f"kustomize gave {len(docs)} documents, expected the one template")
    return docs[0]


def local_reference(engine: Engine, image: str) -> str:
    """How the engine addresses the pinned `image` (podman keeps local images under
    `localhost/`)."""
    for candidate in (image, f"localhost/{image}"):
        try:
            inspect_image(engine, candidate)
        except ImageMissingError:
            continue
        return candidate
    raise E2EError(f"{engine.name} has no image {image}")


def checkout(origin: Path, revision: str, target: Path, user: int, group: int) -> None:
    """Argo's git artifact: a clone of the project at `revision`, owned by the pod's user."""
    sh(["git", "clone", "-q", str(origin), str(target)], target.parent)
    sh(["git", "checkout", "-q", "--detach", revision], target)
    _own(target, user, group)


def _own(path: Path, user: int, group: int) -> None:
    # fsGroup makes a pod's volumes its user's; as root here, chown does the same.
    if os.geteuid() == 0:
        sh(["chown", "-R", f"{user}:{group}", str(path)], path.parent)


def user_namespace(engine: Engine, step: dag.Step) -> str | None:
    """Rootless podman: map the host user to the pod's user, so the checkout is its own."""
    if os.geteuid() == 0:
        return None
    if engine.name == "podman" and engine.rootless:
        return f"keep-id:uid={step.security.user},gid={step.security.group}"
    raise E2EError("run as root, or with rootless podman: the pod's user must own its checkout")


def run_step(
    engine: Engine,
    step: dag.Step,
    context: dag.PodContext,
    s3: S3Server,
    prefix: str,
    work: Path,
) -> StepResult:
    """Run one step's container in a fresh checkout; what it did."""
    pod = work / "pods" / step.task
    pod.mkdir(parents=True)
    source = pod / "workspace"
    checkout(
        Path(context.parameters["repo"]),
        context.parameters["revision"],
        source,
        step.security.user,
        step.security.group,
    )
    mounts = {step.source_path: str(source)}
    for mount in step.mounts:
        folder = pod / f"volume-{mount.name}"
        folder.mkdir()
        _own(folder, step.security.user, step.security.group)
        mounts[mount.path] = str(folder)
    env = dag.resolve_env(step, context)
    env_file = pod / "env"
    env_file.touch(mode=0o600)
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    image = local_reference(engine, step.image)
    extra = ["--network", "host"]  # the S3 server listens on this host's 127.0.0.1
    for limit in ULIMITS:
        extra += ["--ulimit", limit]
    argv = dag.run_argv(
        engine.argv,
        step,
        image,
        str(env_file),
        mounts,
        context.pod_name,
        user_namespace(engine, step),
        tuple(extra),
    )
    before = set(s3.keys(prefix))
    log = work / "logs" / f"{step.task}.log"
    log.parent.mkdir(exist_ok=True)
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        out.write("+ " + " ".join(argv) + "\n")
        out.flush()
        try:
            code = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=step.deadline_seconds,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    seconds = time.monotonic() - start
    env_file.unlink()
    pushed = len(set(s3.keys(prefix)) - before)
    digest = step.image.rsplit("@", 1)[1] if "@" in step.image else "(tag)"
    return StepResult(step.task, digest, seconds, code, pushed, log)


def pull_and_verify(
    root: Path,
    revision: str,
    workflow: str,
    remote: str,
    s3: S3Server,
    engine: Engine,
    work: Path,
) -> dict[str, Any]:
    """`pedigree pull`, then `pedigree verify --all` twice, in a clean clone: in the stage images
    (the executor `engine`: the environment the steps ran in) and on this host (the process
    executor); their JSON answers and the image digest each pulled lineage record names."""
    home = work / "home"
    sh(["git", "clone", "-q", str(root), str(home)], work)
    sh(["git", "checkout", "-q", "--detach", revision], home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POD_", "PEDIGREE_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": s3.endpoint,
            "AWS_ACCESS_KEY_ID": s3.key,
            "AWS_SECRET_ACCESS_KEY": s3.secret,
            "DVC_NO_ANALYTICS": "1",
        }
    )
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    sh([str(BIN / "dvc"), "remote", "add", "--local", "-d", "cluster", remote], home, env)
    answers: dict[str, Any] = {"home": str(home)}
    for name, argv, extra in (
        ("pull", ["pull", workflow, "--offline", "--json"], {}),
        ("verify in images", ["verify", "--all", "--json"], {"PEDIGREE_EXECUTOR": engine.name}),
        ("verify on host", ["verify", "--all", "--json"], {}),
    ):
        print(f"+ {' '.join(f'{k}={v}' for k, v in extra.items())} pedigree {' '.join(argv)}")
        start = time.monotonic()
        done = subprocess.run(
            [str(BIN / "pedigree"), *argv],
            cwd=home,
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=False,
        )
        answers[name] = {"exit": done.returncode, "seconds": time.monotonic() - start}
        try:
            answers[name]["json"] = json.loads(done.stdout)
        except ValueError:
            answers[name]["output"] = (done.stdout + done.stderr)[-4000:]
    records = {}
    for path in sorted((home / "lineage").glob("*.json")):
        container = json.loads(path.read_text()).get("environment", {}).get("container") or {}
        records[path.stem] = container.get("digest")
    answers["record_digests"] = records
    return answers


def verify_summary(answer: Mapping[str, Any]) -> str:
    """One line: how many stages reproduced, and for each that differs, what differs in its
    environment (the interpreter, the platform)."""
    stages = (answer.get("json") or {}).get("stages") or []
    if not stages:
        return f"exit {answer['exit']}: " + str(answer.get("output", ""))[-2000:]
    same = [s["stage"] for s in stages if s.get("identical")]
    line = f"{len(same)} of {len(stages)} stages bit-identical (exit {answer['exit']})"
    for stage in stages:
        if stage.get("identical"):
            continue
        notes = [
            f"{d['key']} {d['recorded']} -> {d['now']}"
            for d in stage.get("environment_differences", [])
            if not d["key"].startswith("environment.packages")
        ]
        outputs = [o["path"] for o in stage.get("outputs", []) if not o.get("identical")]
        line += f"; {stage['stage']} differs ({', '.join(outputs)}): {'; '.join(notes) or '?'}"
    return line


def table(results: list[StepResult], records: Mapping[str, str | None]) -> str:
    """The steps as a text table."""
    rows = [("step", "image digest", "seconds", "objects pushed", "exit", "record's digest")]
    for r in results:
        named = records.get(r.task)
        same = "same" if named == r.digest else (named or "none")
        rows.append(
            (r.task, r.digest[:19], f"{r.seconds:.1f}", str(r.pushed), str(r.exit_code), same)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    """Build, run the DAG, pull and verify (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--engine", choices=["podman", "docker"], default=None)
    parser.add_argument("--no-build", action="store_true", help="use the images already built")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--python-image", default="", help="passed to make images")
    parser.add_argument("--ca-bundle", default=None, help="passed to make images")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pedigree-e2e-"))
    try:
        ok = _run(args, work)
    except (E2EError, dag.TemplateError, PedigreeError) as exc:
        print(f"cluster-e2e: error: {exc}", file=sys.stderr)
        print(f"cluster-e2e: the work folder is kept: {work}", file=sys.stderr)
        return 1
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"cluster-e2e: the work folder is kept: {work}")
    return 0 if ok else 1


def _run(args: argparse.Namespace, work: Path) -> bool:
    engine = find_engine(args.engine)
    revision = sh(["git", "rev-parse", "HEAD"], ROOT).strip()
    if sh(["git", "status", "--porcelain", "--untracked-files=no"], ROOT).strip():
        print(
            "cluster-e2e: warning: uncommitted changes are not in the run: a cluster checks "
            f"out the committed revision {revision[:12]}",
            flush=True,
        )
    template_path = compiled_template(ROOT)
    template = yaml.safe_load(template_path.read_text(encoding="utf-8"))
    images = step_images(template)
    names = [image.split(":")[0].split("/", 1)[1] for image in images]
    if not args.no_build:
        build_images(ROOT, engine, names, args)
    digests = {image.split(":")[0]: inspect_image(engine, image).digest for image in images}
    pinned = pin_by_digest(template_path, digests, work)
    steps = dag.steps(pinned)
    pipeline = template["metadata"]["name"]
    workflow = f"{pipeline}-e2e-{secrets.token_hex(3)}"
    s3 = S3Server.start()
    try:
        prefix = f"e2e/{workflow}"
        remote = f"s3://{s3.bucket}/{prefix}"
        given = {
            "repo": str(ROOT),
            "revision": revision,
            "remote": remote,
            "s3-endpoint": s3.endpoint,
        }
        parameters = dag.parameters(pinned, given)
        secrets_ = {S3_SECRET: {k: getattr(s3, f) for k, f in S3_KEYS.items()}}
        namespace = pinned["metadata"].get("namespace", "default")
        print(f"cluster-e2e: workflow {workflow} at {revision[:12]}, remote {remote}", flush=True)
        results: list[StepResult] = []
        for step in steps:
            pod = f"{workflow}-{step.task}-{secrets.token_hex(4)}"
            context = dag.PodContext(workflow, parameters, secrets_, pod, namespace)
            print(f"cluster-e2e: step {step.task} ({step.image})", flush=True)
            result = run_step(engine, step, context, s3, prefix, work)
            results.append(result)
            if result.exit_code != 0:
                lines = result.log.read_text(encoding="utf-8", errors="replace").splitlines()
                print("\n".join(lines[-TAIL:]), file=sys.stderr)
                print(table(results, {}))
                print(
                    f"cluster-e2e: step {step.task} failed (exit {result.exit_code}); "
                    f"log: {result.log}",
                    file=sys.stderr,
                )
                return False
        answers = pull_and_verify(ROOT, revision, workflow, remote, s3, engine, work)
    finally:
        s3.stop()
    print(table(results, answers["record_digests"]))
    (work / "result.json").write_text(json.dumps(answers, indent=2, default=str))
    pull = answers["pull"]
    print(f"pedigree pull: exit {pull['exit']} in {pull['seconds']:.1f} s")
    if pull["exit"] != 0:
        print(pull.get("output") or json.dumps(pull.get("json"))[:4000])
    for name in ("verify in images", "verify on host"):
        answer = answers[name]
        print(
            f"pedigree verify --all, {name[7:]}: {verify_summary(answer)}, "
            f"{answer['seconds']:.1f} s"
        )
    same = all(answers["record_digests"].get(r.task) == r.digest for r in results)
    if not same:
        print("cluster-e2e: a lineage record does not name the digest its step ran")
    # The claim: in the environment the steps ran in, every output is reproduced. On this host
    # a stage may differ where its environment does (verify names what), which is reported.
    return pull["exit"] == 0 and answers["verify in images"]["exit"] == 0 and same


if __name__ == "__main__":
    sys.exit(main())
