"""The cluster actions the CLI (and any script) calls: submit a run, its status, watch, logs.

Each function takes plain arguments, connects through the kubeconfig (the current context
unless `context` names one), returns data and raises a PedigreeError subclass on failure:
ClusterError (exit 4) when the cluster cannot be used, RunNotFoundError (exit 2) when the run,
stage or log does not exist. `pedigree pull RUN` uses `run_status` to check that a run succeeded
and to read the git revision it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.cluster import DEFAULT_NAMESPACE, runs
from pedigree.cluster.kube import Kube, connect
from pedigree.cluster.runs import Change, RunStatus, StageLog
from pedigree.errors import ProjectError
from pedigree.gitstate import git
from pedigree.redact import has_credentials, redact_text, url_without_credentials

__all__ = [
    "DEFAULT_NAMESPACE",
    "Change",
    "Kube",
    "RunStatus",
    "StageLog",
    "Submitted",
    "connect",
    "logs",
    "run_status",
    "submit",
    "watch",
]

COMPILE_HINT = "pedigree compile --target argo, then commit and push cluster-conf/"


@dataclass(frozen=True)
class Submitted:
    """A run just created: its name, where, from which file, with which arguments."""

    run: str
    namespace: str
    context: str
    workflow_file: str
    parameters: dict[str, str]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "run": self.run,
            "namespace": self.namespace,
            "context": self.context,
            "workflow_file": self.workflow_file,
            "parameters": dict(self.parameters),
            "warnings": list(self.warnings),
        }


def submit(
    start: Path,
    *,
    spec: str | Path | None = None,
    namespace: str | None = None,
    context: str | None = None,
    revision: str | None = None,
    repo: str | None = None,
    folds: int | str | None = None,
    seeds: str | None = None,
) -> Submitted:
    """Create a run of the project's pipeline from its compiled Workflow; with `folds`, a run
    of `pedigree replicate --folds` (cluster-conf/workflows/<pipeline>-replicate.yaml) with
    the arguments `folds` and `seeds` (default: the project's seed).

    Posts cluster-conf/workflows/<pipeline>.yaml exactly as `kubectl create -f` would, plus the
    arguments `revision` (`revision`, else the local HEAD commit) and `repo` (`repo`, else the
    spec's metadata.repository as the template's default, else the `origin` remote). The
    namespace is `namespace`, else the file's, else `pedigree`.

    Credentials in the repository URL (`https://user:TOKEN@host/r.git`) are never sent: they
    would be readable by anyone who can list Workflows. They are removed, with a warning that
    names the Secret a private repository's credentials belong in.
    """
    from pedigree.compile import argo, argo_replicate
    from pedigree.spec.load import load

    loaded = load(start, spec)
    root = loaded.project.root
    replicating = _replicate_arguments(loaded, folds, seeds)
    paths = argo_replicate if replicating else argo
    rel = paths.workflow_path(loaded.spec.metadata.name)
    workflow = _read_workflow(root / rel, rel)
    warnings: list[str] = _stale_cluster_files(loaded)
    parameters: dict[str, str] = {}
    declared = loaded.spec.metadata.repository
    url = repo or _repo_url(root, declared, warnings)
    if url:
        parameters["repo"] = _without_credentials(url, warnings)
    elif declared:
        _without_credentials(declared, warnings)  # compiled without them: say so all the same
    parameters["revision"] = revision or _head_revision(root, warnings)
    parameters.update(replicating)
    body = runs.with_arguments(workflow, parameters)
    meta = body.setdefault("metadata", {})
    target = namespace or meta.get("namespace") or DEFAULT_NAMESPACE
    if meta.get("namespace") and meta["namespace"] != target:
        meta["namespace"] = target  # as if the file named it: the API refuses a mismatch
    with connect(context) as kube:
        name = runs.submit(kube, target, body)
        return Submitted(name, target, kube.context, rel, parameters, tuple(warnings))


def _replicate_arguments(loaded: Any, folds: int | str | None, seeds: str | None) -> dict[str, str]:
    """The replicate template's `folds` and `seeds`, checked as `pedigree replicate` checks
    them; none without `folds`."""
    from pedigree.api.replicate import parse_seeds
    from pedigree.replicate.foldruns import parse_folds
    from pedigree.replicate.upstream import FOLDS_HINT, ReplicateError

    if folds is None:
        if seeds is not None:
            raise ReplicateError("--seeds goes with --folds", "submit --folds 5 --seeds 1,2")
        return {}
    if loaded.spec.folds is None:
        raise ReplicateError(
            f"{loaded.project.spec_path} declares no spec.replicate.folds: there is no fold "
            "replicate to submit",
            FOLDS_HINT,
        )
    chosen = "" if seeds is None else ",".join(map(str, parse_seeds(seeds, least=1)))
    return {"folds": str(parse_folds(folds)), "seeds": chosen}


def _stale_cluster_files(loaded: Any) -> list[str]:
    """A warning when the compiled Argo files differ from the spec: the cluster runs the
    WorkflowTemplate Argo CD synced from git, not the pipeline as the spec says now."""
    from pedigree.compile.render import differing_files, render_argo_files

    missing, different = differing_files(loaded.project.root, render_argo_files(loaded))
    stale = missing + different
    if not stale:
        return []
    return [
        f"{', '.join(stale)} differ from what {loaded.project.spec_path} compiles to: the "
        f"cluster runs the template as last synced from git; run `{COMPILE_HINT}`"
    ]


def run_status(run: str, *, namespace: str | None = None, context: str | None = None) -> RunStatus:
    """The status of cluster run `run` (a Workflow name such as `pets-x7k2q`).

    `RunStatus.phase` is Argo's (Succeeded when every stage is done), `RunStatus.revision` the
    git revision it checked out, `RunStatus.stages` one row per stage in DAG order. Raises
    RunNotFoundError when the namespace (default `pedigree`) has no such run, ClusterError when
    the cluster cannot be asked.
    """
    _check_run_name(run)
    with connect(context) as kube:
        return runs.run_status(kube, namespace or DEFAULT_NAMESPACE, run)


def watch(
    run: str,
    on_change: Callable[[Change], None],
    *,
    namespace: str | None = None,
    context: str | None = None,
    interval: float = 5.0,
    sleep: Callable[[float], None] | None = None,
) -> RunStatus:
    """Follow run `run` until it ends, calling `on_change` for every phase change; its last
    status. Interrupting (Ctrl-C) stops the watching only: the run goes on in the cluster."""
    _check_run_name(run)
    with connect(context) as kube:
        return runs.watch(
            kube,
            namespace or DEFAULT_NAMESPACE,
            run,
            on_change,
            interval=interval,
            sleep=sleep,
        )


def logs(
    run: str,
    stage: str | None = None,
    *,
    namespace: str | None = None,
    context: str | None = None,
    tail: int | None = None,
) -> tuple[StageLog, ...]:
    """The log of `stage` of run `run` (each attempt), or of every stage in DAG order."""
    _check_run_name(run)
    with connect(context) as kube:
        return runs.read_logs(kube, namespace or DEFAULT_NAMESPACE, run, stage, tail)


def _check_run_name(run: str) -> None:
    # Imported here: records pulls in the lineage models, which only pull needs at start-up.
    from pedigree.cluster.records import check_run_name

    check_run_name(run)


def _read_workflow(path: Path, rel: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"no compiled Workflow at {rel}", COMPILE_HINT) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ProjectError(f"{rel} cannot be read: {exc}", COMPILE_HINT) from None
    if not isinstance(data, dict) or data.get("kind") != "Workflow":
        raise ProjectError(f"{rel} is not an Argo Workflow", COMPILE_HINT)
    return data


def _head_revision(root: Path, warnings: list[str]) -> str:
    """HEAD's commit; warns when the cluster, which clones from git, would not see the same."""
    head = git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not head:
        raise ProjectError(
            f"no git commit to run in {root}: the cluster checks the project out from git",
            "commit the project and push it (or pass --revision REV of a pushed commit)",
        )
    if git(root, "status", "--porcelain", "--untracked-files=no"):
        warnings.append(
            f"uncommitted changes are not part of the run: the cluster checks out {head[:12]} "
            "from git (commit and push them first to run them)"
        )
    if not git(root, "branch", "--remotes", "--contains", head):
        warnings.append(
            f"commit {head[:12]} is on no remote branch: push it, or the cluster cannot check "
            "it out"
        )
    return head


def _without_credentials(url: str, warnings: list[str]) -> str:
    """`url` without its user part; a warning (never repeating them) when it had one."""
    from pedigree.compile.argo_step import GIT_SECRET

    if not has_credentials(url):
        return url
    safe = url_without_credentials(url)
    warnings.append(
        f"the repository URL carried credentials; they were removed and the cluster clones "
        f"{safe}: a private repository's credentials belong in the Secret {GIT_SECRET} (keys "
        "username and password) in the run's namespace, never in the URL "
        "(cluster-conf/README.md, 'Private repositories')"
    )
    return safe


def _repo_url(root: Path, declared: str | None, warnings: list[str]) -> str | None:
    """The repository to pass: None when the spec declares one (the template's default)."""
    if declared:
        return None
    origin = git(root, "remote", "get-url", "origin")
    if origin and not origin.startswith(("/", ".", "file:")):
        return origin
    warnings.append(
        "no repository for the cluster to clone: the spec has no metadata.repository and "
        + (
            f"origin is a local path ({redact_text(origin)})"
            if origin
            else "there is no `origin` remote"
        )
        + "; pass --repo URL"
    )
    return None
