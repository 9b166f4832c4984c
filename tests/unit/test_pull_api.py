"""`pedigree pull`'s checks before anything is restored: the run finished, dvc.yaml is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.api import main as api
from pedigree.api import pull as pull_api
from pedigree.cluster.pull import PullError


class _Quiet:
    def stage_started(self, stage: str) -> None: ...

    def stage_finished(self, result: object) -> None: ...


def test_a_run_that_has_not_succeeded_is_not_pulled(project: Path) -> None:
    api.compile_dvc(project)
    asked = []

    def phase(run: str, namespace: str, context: str | None) -> str:
        asked.append((run, namespace, context))
        return "Running"

    with pytest.raises(
        PullError, match=r"run 'pets-x7k2q' is Running on the cluster, not Succeeded"
    ):
        pull_api.pull(project, "pets-x7k2q", _Quiet(), context="kind-pedigree", phase_of=phase)
    assert asked == [("pets-x7k2q", "pedigree", "kind-pedigree")]


def test_a_stale_dvc_yaml_is_not_the_revision_the_cluster_ran(project: Path) -> None:
    api.compile_dvc(project)
    (project / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(PullError, match=r"dvc.yaml is stale"):
        pull_api.pull(project, "pets-x7k2q", _Quiet(), phase_of=lambda r, n, c: "Succeeded")
