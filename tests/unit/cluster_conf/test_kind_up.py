"""`make cluster` (cluster-conf/kind/up.sh): prerequisites checked first, arguments, idempotence.

No Docker here, so docker, kind and kubectl are stand-ins that log their arguments; PATH holds
nothing else, so the script sees exactly the tools each test gives it. The script runs from a
copy of its folder layout, so the project's own .venv/bin/kubectl does not leak in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "cluster-conf" / "kind" / "up.sh"
BASH = shutil.which("bash")
# A stand-in tool: logs "<tool> <args>" and, for `kind get clusters`, prints $STUB_CLUSTERS.
# `docker info` fails when STUB_DOCKER_DOWN is set (the CLI is there, the daemon is not).
STUB = """#!{bash}
printf '%s\\n' "{tool} $*" >> "$STUB_LOG"
if [[ "{tool} $1" == "docker info" && -n "${{STUB_DOCKER_DOWN:-}}" ]]; then exit 1; fi
if [[ "{tool} $1 $2" == "kind get clusters" ]]; then printf '%s\\n' $STUB_CLUSTERS; fi
exit 0
"""

pytestmark = pytest.mark.skipif(BASH is None, reason="bash is needed to run up.sh")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The files up.sh reads, laid out as in the repository, without a .venv."""
    root = tmp_path / "project"
    (root / "cluster-conf" / "kind").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "cluster-conf" / "kind" / "up.sh")
    shutil.copy2(SCRIPT.parent / "cluster.yaml", root / "cluster-conf" / "kind" / "cluster.yaml")
    (root / "cluster-conf" / "overlays" / "kind").mkdir(parents=True)
    (root / "cluster-conf" / "overlays" / "kind" / "kustomization.yaml").write_text("{}\n")
    (root / "src" / "pedigree").mkdir(parents=True)
    (root / "src" / "pedigree" / "__init__.py").write_text('__version__ = "9.8.7"\n')
    return root


def run(
    project: Path,
    tools: tuple[str, ...],
    *args: str,
    clusters: str = "",
    docker_down: bool = False,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run up.sh with only `tools` (stand-ins) on PATH; returns the result and the tool log."""
    bin_dir = project.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        stub = bin_dir / tool
        stub.write_text(STUB.format(bash=BASH, tool=tool))
        stub.chmod(0o755)
    log = project.parent / "tools.log"
    env = {"PATH": str(bin_dir), "STUB_LOG": str(log), "STUB_CLUSTERS": clusters}
    if docker_down:
        env["STUB_DOCKER_DOWN"] = "1"
    done = subprocess.run(
        [str(BASH), str(project / "cluster-conf" / "kind" / "up.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


ALL = ("docker", "kind", "kubectl")


@pytest.mark.parametrize(
    ("tools", "docker_down", "message", "hint"),
    [
        ((), False, "docker not found", "https://docs.docker.com/engine/install/"),
        (ALL, True, "daemon does not answer", "Start Docker"),
        (("docker", "kubectl"), False, "kind not found", "go install sigs.k8s.io/kind@v0.29.0"),
        (("docker", "kind"), False, "kubectl not found", "make install"),
    ],
)
def test_a_missing_prerequisite_stops_before_anything_is_created(
    project: Path, tools: tuple[str, ...], docker_down: bool, message: str, hint: str
) -> None:
    done, calls = run(project, tools, docker_down=docker_down)
    assert done.returncode == 1
    assert message in done.stderr and hint in done.stderr
    assert done.stdout == ""
    # Only the checks ran: nothing was created, applied or even listed.
    assert all(c == "docker info" for c in calls), calls


def test_kubectl_from_the_project_venv_is_used_when_none_is_on_path(project: Path) -> None:
    venv_kubectl = project / ".venv" / "bin" / "kubectl"
    venv_kubectl.parent.mkdir(parents=True)
    venv_kubectl.write_text(STUB.format(bash=BASH, tool="venv-kubectl"))
    venv_kubectl.chmod(0o755)
    done, calls = run(project, ("docker", "kind"))
    assert done.returncode == 0, done.stderr
    assert any(c.startswith("venv-kubectl --context kind-pedigree apply -k") for c in calls)


def test_a_new_cluster_is_created_then_the_overlay_applied_and_awaited(project: Path) -> None:
    done, calls = run(project, ALL, "--name", "demo", "--timeout", "60", clusters="other")
    assert done.returncode == 0, done.stderr
    conf = project / "cluster-conf"
    assert calls == [
        "docker info",
        "kind get clusters",
        f"kind create cluster --name demo --config {conf}/kind/cluster.yaml --wait 60s",
        f"kubectl --context kind-demo apply -k {conf}/base/argo-workflows/crds",
        "kubectl --context kind-demo wait --for condition=established --timeout 60s"
        " crd/workflows.argoproj.io crd/workflowtemplates.argoproj.io"
        " crd/workflowtaskresults.argoproj.io",
        "kubectl --context kind-demo -n pedigree delete job/minio-bucket --ignore-not-found",
        f"kubectl --context kind-demo apply -k {conf}/overlays/kind",
        "kubectl --context kind-demo -n pedigree rollout status deployment/workflow-controller"
        " --timeout 60s",
        "kubectl --context kind-demo -n pedigree rollout status deployment/minio --timeout 60s",
        "kubectl --context kind-demo -n pedigree wait --for condition=complete job/minio-bucket"
        " --timeout 60s",
    ]
    assert "kind load docker-image --name demo pedigree/$stage:9.8.7" in done.stdout
    assert "pedigree submit" in done.stdout and "pedigree pull RUN" in done.stdout


def test_an_existing_cluster_is_reused(project: Path) -> None:
    done, calls = run(project, ALL, clusters="demo-old pedigree")
    assert done.returncode == 0, done.stderr
    assert "reusing it" in done.stdout
    assert not any(c.startswith("kind create") for c in calls)
    assert "kind export kubeconfig --name pedigree" in calls


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--bogus",), 2, "unknown argument: --bogus"),
        (("--name",), 2, "--name needs a value"),
        (("--name", "Not_Valid"), 1, "invalid cluster name 'Not_Valid'"),
        (("--timeout", "soon"), 1, "invalid --timeout 'soon'"),
        (("--config", "/nonexistent/kind.yaml"), 1, "kind config not found"),
        (("--overlay", "/nonexistent"), 1, "no kustomization.yaml in overlay /nonexistent"),
    ],
)
def test_bad_arguments_are_refused_before_any_tool_runs(
    project: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    done, calls = run(project, ALL, *args)
    assert done.returncode == code
    assert message in done.stderr
    assert calls == []


def test_help_lists_the_options(project: Path) -> None:
    done, calls = run(project, ALL, "--help")
    assert done.returncode == 0
    for option in ("--name", "--config", "--overlay", "--timeout"):
        assert option in done.stdout
    assert calls == []


def test_make_cluster_runs_the_script() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    phony = next(line for line in makefile.splitlines() if line.startswith(".PHONY:"))
    assert "cluster" in phony.split()
    assert "\tcluster-conf/kind/up.sh --name $(CLUSTER_NAME)\n" in makefile
    assert SCRIPT.stat().st_mode & 0o111, "up.sh must be executable"
