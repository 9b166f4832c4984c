"""Stage images and the container executor.

Names shared by `make images` (`pedigree.containers.build`), the executor that runs a stage in
its image (`pedigree.containers.executor`) and the stage launcher. Import-light on purpose: the
launcher reads these before every stage.

- `pedigree/<stage>:<version>` is the image of a stage, `pedigree/base:<version>` the base of
  them all (images/base/Dockerfile, images/<stage>/Dockerfile);
- `PEDIGREE_EXECUTOR` (process, podman or docker) tells the launcher where a stage runs;
  `pedigree run --executor` sets it for its run, and plain `dvc repro` honours it too;
- `PEDIGREE_IN_CONTAINER=1` (set in every image, and by the executor) means "already inside a
  container": the launcher then runs the stage itself and never hands it on again;
- `PEDIGREE_ENGINE_FLAGS`: extra global flags for the engine (e.g. `--runtime runc`).
"""

from __future__ import annotations

from pedigree import __version__

PROCESS = "process"
ENGINES = ("podman", "docker")
EXECUTORS = (PROCESS, *ENGINES)
IMAGE_NAMESPACE = "pedigree"
BASE = "base"
WORKSPACE = "/workspace"  # where the project is mounted (and checked out, on a cluster)


def image_ref(name: str, version: str = __version__) -> str:
    """The reference of image `name` (a stage, or `base`): `pedigree/<name>:<version>`."""
    return f"{IMAGE_NAMESPACE}/{name}:{version}"
