"""Every `PEDIGREE_*` environment variable pedigree reads or sets: one home for their names.

A leaf module (imports nothing), so the stage launcher and the container and cluster code can
all use it at no start-up cost.
"""

from __future__ import annotations

# Where stages run (`pedigree run --executor`) and how the engine is called.
EXECUTOR_ENV = "PEDIGREE_EXECUTOR"
IN_CONTAINER_ENV = "PEDIGREE_IN_CONTAINER"  # set inside a stage container: run the stage here
ENGINE_FLAGS_ENV = "PEDIGREE_ENGINE_FLAGS"  # extra flags for podman/docker run
NETWORK_ENV = "PEDIGREE_CONTAINER_NETWORK"  # overrides the container's network choice
# The image a stage ran in, recorded in its lineage (set by the container and cluster executors).
IMAGE_ENV = "PEDIGREE_IMAGE"
DIGEST_ENV = "PEDIGREE_IMAGE_DIGEST"
# The stage launcher.
OUTPUT_MODE_ENV = "PEDIGREE_STAGE_OUTPUT"  # "log": keep the stage's output in its log only
LINEAGE_SWITCH_ENV = "PEDIGREE_LINEAGE"  # "off": no lineage record, no events
STATE_ENV = "PEDIGREE_LINEAGE_STATE"  # the file a stage notes its state snapshots in (stagekit)
SERVE_BUNDLE_ENV = "PEDIGREE_SERVE_BUNDLE"  # the serving image's bundle JSON (pedigree.bundle)
RESTORE_ONLY_ENV = "PEDIGREE_RESTORE_ONLY"  # "1": the stage must not run (`pedigree pull`)
# Lineage events and the cluster step.
OPENLINEAGE_NAMESPACE_ENV = "PEDIGREE_OPENLINEAGE_NAMESPACE"
REMOTE_ENV = "PEDIGREE_REMOTE"  # the DVC remote a cluster step restores from and pushes to
WORKFLOW_ENV = "PEDIGREE_WORKFLOW"  # the Argo Workflow (run) a cluster step belongs to
