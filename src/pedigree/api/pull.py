"""The API behind `pedigree pull RUN`: check the run on the cluster, then restore its results.

The restoring itself is `pedigree.cluster.pull` (DVC remote, run-cache, lineage records); this
module adds what a user expects around it: the run must have finished on the cluster (asked
through the kubeconfig's context unless `offline`), and dvc.yaml must follow the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.compile.render import dvc_yaml_is_current
from pedigree.lineage.adopt import adopt_restored_records
from pedigree.spec.load import load

if TYPE_CHECKING:
    from pedigree.cluster.pull import PullReport
    from pedigree.executors.dvc import RunObserver

# (run, namespace, context) -> the run's phase on the cluster ("Succeeded", "Running", ...)
PhaseLookup = Callable[[str, str, str | None], str]


def pull(
    start: Path,
    run: str,
    observer: RunObserver,
    namespace: str = "pedigree",
    context: str | None = None,
    remote: str | None = None,
    phase_of: PhaseLookup | None = None,
) -> PullReport:
    """Bring run `run`'s results home; `phase_of=None` skips asking the cluster (offline)."""
    # Imported here: every `pedigree` command imports this module, few of them pull.
    from pedigree.cluster import pull as puller
    from pedigree.cluster.pull import PullError
    from pedigree.spec.realpaths import refuse_escaping_compiled_paths

    loaded = load(start)
    # Restoring writes every output of dvc.yaml: none may lead out of the project via a symlink
    # (the spec's paths were checked by `load`; these are the ones DVC will write).
    refuse_escaping_compiled_paths(loaded.project.root)
    if not dvc_yaml_is_current(loaded):
        raise PullError(
            f"dvc.yaml is stale: {loaded.project.spec_path} changed since it was compiled, so "
            "this checkout is not the revision the cluster ran",
            "check out the commit the run used (`pedigree pull` names it), or "
            "`pedigree compile --target dvc` if you only forgot to compile",
        )
    if phase_of is not None:
        phase = phase_of(run, namespace, context)
        if phase != "Succeeded":
            raise PullError(
                f"run '{run}' is {phase or 'not started'} on the cluster, not Succeeded: there is "
                "nothing complete to pull",
                f"wait with `pedigree status {run}`, or read `pedigree logs {run}`; "
                "--offline pulls whatever the remote holds",
            )
    return puller.pull(
        loaded.project.root, loaded.spec, run, observer, adopt_restored_records, remote
    )
