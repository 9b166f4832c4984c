"""Generate each stage's images/<stage>/Dockerfile from the pipeline spec, and those of the
serving image (`spec.serve`) and the replicate image (`spec.replicate.folds`).

The stage Dockerfiles differ only in the stage's name, lock and description, so they are
generated like dvc.yaml and the Argo files: deterministic, with a generated-from header, and
`pedigree check` fails when one is stale (`pedigree compile --target images` rewrites them).
The base image's images/base/Dockerfile is one hand-written file and stays so.

Pure functions from spec to text (no I/O).
"""

from __future__ import annotations

from pedigree import __version__
from pedigree.compile.dvc import check_header_path
from pedigree.containers import BASE
from pedigree.errors import Problem, SpecError
from pedigree.spec.model import PipelineSpec, Serving, Stage
from pedigree.spec.replication import Folds

HEADER = (
    "# generated from {spec} by pedigree, do not edit: change {spec} and run "
    "`pedigree compile --target images`\n"
)
BASE_IMAGE_DIR = f"images/{BASE}"
BASE_DOCKERFILE = f"{BASE_IMAGE_DIR}/Dockerfile"  # hand-written: never generated

# `make images` passes the digest of the base it has just built; this default is a digest no
# image has, so a build outside `make images` fails at once (see the comment in the template).
PLACEHOLDER_BASE = (
    "localhost/pedigree/base@sha256:"
    "0000000000000000000000000000000000000000000000000000000000000000"
)

# Shared by the stage and serving templates: the hash-locked install of `{lock}` into an
# environment made --without-pip, then pedigree's wheel from the base; and the OCI labels.
_INSTALL = """\
COPY {lock} /opt/pedigree/locks/{name}.lock
RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=secret,id=pip-ca \\
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \\
    && python3 -m venv --without-pip /opt/pedigree/venv \\
    && /opt/pedigree/installer/bin/pip --python /opt/pedigree/venv/bin/python install \\
       --disable-pip-version-check --require-hashes --no-deps -r /opt/pedigree/locks/{name}.lock
RUN /opt/pedigree/installer/bin/pip --python /opt/pedigree/venv/bin/python install \\
    --disable-pip-version-check --no-cache-dir --no-deps --no-index \\
    /opt/pedigree/wheels/pedigree-*.whl
"""
_LABELS = """\
ARG VERSION={version}
ARG SOURCE=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pedigree-{name}" \\
      org.opencontainers.image.description="{label}" \\
      org.opencontainers.image.version="${{VERSION}}" \\
      org.opencontainers.image.source="${{SOURCE}}" \\
      org.opencontainers.image.revision="${{REVISION}}" \\
      org.opencontainers.image.licenses="Apache-2.0"
"""

# After USER 0:0, shared by the stage and replicate templates: the install, the labels, then the
# environment first on PATH and the non-root user again.
_BODY = (
    _INSTALL
    + """
# Labels last: the revision changes on every commit and must not invalidate the layers above.
"""
    + _LABELS
    + """
ENV PATH=/opt/pedigree/venv/bin:$PATH
WORKDIR /workspace
USER 10001:10001
"""
)

# `{{`/`}}` are the Dockerfile's own braces (`${BASE_IMAGE}`); the rest are filled per stage.
TEMPLATE = (
    """\
# The image of pedigree stage `{name}`{summary}.
# Built by `make images` on top of the base image (images/base/Dockerfile). It holds the stage's
# environment /opt/pedigree/venv, installed from {lock} and nothing else
# (plus pedigree itself, --no-deps), first on PATH, so `python` is the stage's interpreter.
#
# The stage's code is NOT in the image: it comes from the workspace (locally the project mounted
# at /workspace, on a cluster the git checkout of the run's revision). Code and environment are
# versioned apart, as dvc.yaml tracks them ({code} and this lock are separate deps), so a
# code change needs no image build and the image digest names the environment alone.

# `make images` passes pedigree/base@sha256:<digest of the base it has just built>. The default
# is a digest reference too, to a placeholder digest no image has: a build outside `make images`
# fails at once instead of silently using whatever a tag points at today.
ARG BASE_IMAGE={placeholder}
FROM ${{BASE_IMAGE}}

# Installing needs root; the image runs as 10001 again below.
USER 0:0
# Only this stage's lock: its dependencies first (they change rarely), pedigree's wheel (from
# the base) last, installed by the base's installer into an environment made --without-pip, so
# it holds exactly the lock and pedigree. The pip cache mount keeps wheels between builds.
"""
    + _BODY
)


SERVE = "serve"  # the serving image's name: pedigree/serve:<version>
SERVE_CODE_ROOT = "/opt/pedigree/app"

# The serving image: the same install as a stage image, plus the predictor's code, because a
# serving pod has no checkout of the repository. `{{`/`}}` are the Dockerfile's own braces.
SERVE_TEMPLATE = (
    """\
# The serving image: KServe's model server (Open Inference Protocol, V2 REST) with the predictor
# `{predictor}` of spec.serve. Built by `make images` on top of the base image
# (images/base/Dockerfile). Its environment /opt/pedigree/venv is installed from
# {lock} and nothing else (plus pedigree itself, --no-deps).
#
# Unlike a stage image it holds code: the predictor's folders (spec.serve.code), because a
# serving pod has no checkout. The model is NOT in the image: the pod fetches the released model's
# files by content hash (PEDIGREE_SERVE_BUNDLE, written into the serving manifest) and checks
# every hash before it reports ready. Runs as 10001 on a read-only root file system; /tmp is the
# only writable path (the manifest mounts an emptyDir there).

# `make images` passes pedigree/base@sha256:<digest of the base it has just built>; the default
# is a placeholder digest no image has, so a build outside `make images` fails at once.
ARG BASE_IMAGE={placeholder}
FROM ${{BASE_IMAGE}}

USER 0:0
"""
    + _INSTALL
    + """
# The predictor's code (owned by root: read-only for the server's user).
{copies}

"""
    + _LABELS
    + """
ENV PATH=/opt/pedigree/venv/bin:$PATH \\
    PYTHONPATH={code_root} \\
    PYTHONDONTWRITEBYTECODE=1
WORKDIR {code_root}
USER 10001:10001
EXPOSE {port}
ENTRYPOINT ["python", "-m", "pedigree.serve"]
CMD ["--host", "0.0.0.0", "--port", "{port}", "--files", "/tmp/models"]
"""
)
SERVE_PORT = 8080


REPLICATE = "replicate"  # the replicate image's name: pedigree/replicate:<version>

# The image `pedigree replicate --folds` runs in on a cluster. The same install as a stage
# image, from a lock that is the union of the fold stages' locks and the label audit's (every
# pod of the fold x seed runs several stages, and `python` on PATH must import what each needs).
REPLICATE_TEMPLATE = (
    """\
# The image of `pedigree replicate --folds` on a cluster: one pod per fold x seed runs the fold
# stages (the splits stage to the metrics stage) in it, and so does the gather step that writes
# the summary and runs the label audit. Built by `make images` on top of the base image
# (images/base/Dockerfile). Its environment /opt/pedigree/venv is installed from
# {lock} and nothing else (plus pedigree itself, --no-deps):
# the union of the fold stages' environments, the label audit's and the step runner's (dvc),
# compiled against the combined lock, so each package has the version of the stage's own image.
# It is first on PATH: `python` in a stage's command is that environment's interpreter, and so
# is the pod's step (`/opt/pedigree/venv/bin/python -m pedigree.api.foldstep`), which runs
# `pedigree replicate` itself and needs the stages' params modules and DVC in one interpreter.
#
# No code is in the image: the stages' and the label audit's code comes from the git checkout of
# the run's revision, as for a stage image, so a code change needs no image build.

# `make images` passes pedigree/base@sha256:<digest of the base it has just built>; the default
# is a placeholder digest no image has, so a build outside `make images` fails at once.
ARG BASE_IMAGE={placeholder}
FROM ${{BASE_IMAGE}}

USER 0:0
"""
    + _BODY
)


def replicate_dockerfile_path(folds: Folds) -> str:
    """Repo-relative path of the replicate image's generated Dockerfile."""
    return f"{folds.image_dir}/Dockerfile"


def render_replicate_dockerfile(folds: Folds, spec_path: str) -> str:
    """The replicate image's Dockerfile text: the header, then the template filled for `folds`."""
    body = REPLICATE_TEMPLATE.format(
        name=REPLICATE,
        lock=folds.lock_file,
        placeholder=PLACEHOLDER_BASE,
        version=__version__,
        label=_label_value(
            "pedigree replicate --folds: the fold stages' and the label audit's environments"
        ),
    )
    check_header_path(spec_path)
    return HEADER.format(spec=spec_path) + body


def serve_dockerfile_path(serve: Serving) -> str:
    """Repo-relative path of the serving image's generated Dockerfile."""
    return f"{serve.image_dir}/Dockerfile"


def _package_inits(folders: tuple[str, ...]) -> list[str]:
    """The `__init__.py` of every package above the code folders (`stages/__init__.py` for
    stages/serve): without them the copied folders would not import as `stages.serve`."""
    inits = []
    for folder in folders:
        parts = folder.strip("/").split("/")
        for depth in range(1, len(parts)):
            init = "/".join(parts[:depth]) + "/__init__.py"
            if init not in inits:
                inits.append(init)
    return inits


def render_serve_dockerfile(serve: Serving, spec_path: str) -> str:
    """The serving image's Dockerfile text: the header, then the template filled for `serve`."""
    folders = tuple(folder.rstrip("/") for folder in serve.code)
    copies = [f"COPY {path} {SERVE_CODE_ROOT}/{path}" for path in _package_inits(folders)]
    copies += [f"COPY {folder}/ {SERVE_CODE_ROOT}/{folder}/" for folder in folders]
    body = SERVE_TEMPLATE.format(
        name=SERVE,
        predictor=serve.predictor,
        lock=serve.lock_file,
        placeholder=PLACEHOLDER_BASE,
        copies="\n".join(copies),
        version=__version__,
        label=_label_value(f"pedigree serving image: predictor {serve.predictor}"),
        code_root=SERVE_CODE_ROOT,
        port=SERVE_PORT,
    )
    check_header_path(spec_path)
    return HEADER.format(spec=spec_path) + body


def dockerfile_path(stage: Stage) -> str:
    """Repo-relative path of the stage's generated Dockerfile."""
    return f"{stage.image_dir}/Dockerfile"


def _one_line(description: str | None) -> str:
    """The description on one line, without a final period (the template adds its own)."""
    return " ".join((description or "").split()).rstrip(".").rstrip()


def _label_value(text: str) -> str:
    """`text` inside a double-quoted LABEL value: `\\`, `"` and `$` (variable expansion) escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def render_dockerfile(stage: Stage, spec_path: str) -> str:
    """The Dockerfile text of one stage: the header, then the template filled for `stage`."""
    summary = _one_line(stage.description)
    label = f"pedigree stage {stage.name}" + (f": {summary}" if summary else "")
    body = TEMPLATE.format(
        name=stage.name,
        summary=f": {summary}" if summary else "",
        lock=stage.lock_file,
        code=stage.code_dir,
        placeholder=PLACEHOLDER_BASE,
        version=__version__,
        label=_label_value(label),
    )
    check_header_path(spec_path)  # a line break in it would end the header's comment line
    return HEADER.format(spec=spec_path) + body


def _problem(spec_path: str, index: int, stage: Stage, message: str) -> Problem:
    key = "image" if stage.image else "name"
    return Problem(
        spec_path,
        None,
        f"spec.stages[{index}].{key}",
        message,
        "give the stage its own image folder (`image: images/<stage>`)",
    )


def render_dockerfiles(spec: PipelineSpec, spec_path: str) -> dict[str, str]:
    """Repo-relative path (`<stage.image_dir>/Dockerfile`) -> text, in the spec's stage order.

    Raises SpecError when a stage's image folder is the base's, or is shared with another stage:
    a generated Dockerfile names its stage (lock, title), so one file cannot serve two stages.
    """
    files: dict[str, str] = {}
    owner: dict[str, str] = {}
    problems: list[Problem] = []
    for i, stage in enumerate(spec.stages):
        path = dockerfile_path(stage)
        if stage.image_dir.rstrip("/") == BASE_IMAGE_DIR:
            problems.append(
                _problem(
                    spec_path,
                    i,
                    stage,
                    f"stage '{stage.name}' uses {BASE_IMAGE_DIR}/, the base image's folder",
                )
            )
        elif path in owner:
            problems.append(
                _problem(
                    spec_path,
                    i,
                    stage,
                    f"stages '{owner[path]}' and '{stage.name}' share {stage.image_dir}/: "
                    "each stage needs its own generated Dockerfile",
                )
            )
        else:
            owner[path] = stage.name
            files[path] = render_dockerfile(stage, spec_path)
    serve = spec.spec.serve
    if serve is not None:
        path = serve_dockerfile_path(serve)
        if SERVE in owner.values():
            problems.append(
                Problem(
                    spec_path,
                    None,
                    "spec.serve",
                    f"a stage is named '{SERVE}': its image would be the serving image's "
                    f"(pedigree/{SERVE})",
                    "rename the stage",
                )
            )
        elif serve.image_dir == BASE_IMAGE_DIR or path in owner:
            taken = "the base image's" if path not in owner else f"stage '{owner[path]}''s"
            problems.append(
                Problem(
                    spec_path,
                    None,
                    "spec.serve.image",
                    f"the serving image uses {serve.image_dir}/, {taken} folder",
                    "give the serving image its own folder (`image: images/serve`)",
                )
            )
        else:
            files[path] = render_serve_dockerfile(serve, spec_path)
    folds = spec.folds
    if folds is not None:
        problems += _replicate_problems(folds, spec, spec_path, owner)
        if not problems:
            files[replicate_dockerfile_path(folds)] = render_replicate_dockerfile(folds, spec_path)
    if problems:
        raise SpecError(problems)
    return files


def _replicate_problems(
    folds: Folds, spec: PipelineSpec, spec_path: str, owner: dict[str, str]
) -> list[Problem]:
    """Why the replicate image cannot have its own Dockerfile: a stage takes its name (both
    would be pedigree/replicate), or its folder is the base's, a stage's or the serving image's
    (one generated Dockerfile cannot be two images)."""
    if REPLICATE in (s.name for s in spec.stages):
        return [
            Problem(
                spec_path,
                None,
                "spec.replicate.folds",
                f"a stage is named '{REPLICATE}': its image would be the replicate image's "
                f"(pedigree/{REPLICATE})",
                "rename the stage",
            )
        ]
    path = replicate_dockerfile_path(folds)
    serve = spec.spec.serve
    if folds.image_dir == BASE_IMAGE_DIR:
        taken = "the base image's"
    elif path in owner:
        taken = f"stage '{owner[path]}''s"
    elif serve is not None and serve.image_dir == folds.image_dir:
        taken = "the serving image's"
    else:
        return []
    return [
        Problem(
            spec_path,
            None,
            "spec.replicate.folds.image",
            f"the replicate image uses {folds.image_dir}/, {taken} folder",
            f"give the replicate image its own folder (`image: images/{REPLICATE}`, the default)",
        )
    ]
