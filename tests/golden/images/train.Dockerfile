# generated from pipelines/pets.yaml by pedigree, do not edit: change pipelines/pets.yaml and run `pedigree compile --target images`
# The image of pedigree stage `train`: trains the final U-Net.
# Built by `make images` on top of the base image (images/base/Dockerfile). It holds the stage's
# environment /opt/pedigree/venv, installed from images/train/requirements.lock and nothing else
# (plus pedigree itself, --no-deps), first on PATH, so `python` is the stage's interpreter.
#
# The stage's code is NOT in the image: it comes from the workspace (locally the project mounted
# at /workspace, on a cluster the git checkout of the run's revision). Code and environment are
# versioned apart, as dvc.yaml tracks them (stages/train and this lock are separate deps), so a
# code change needs no image build and the image digest names the environment alone.

# `make images` passes pedigree/base@sha256:<digest of the base it has just built>. The default
# is a digest reference too, to a placeholder digest no image has: a build outside `make images`
# fails at once instead of silently using whatever a tag points at today.
ARG BASE_IMAGE=localhost/pedigree/base@sha256:0000000000000000000000000000000000000000000000000000000000000000
FROM ${BASE_IMAGE}

# Installing needs root; the image runs as 10001 again below.
USER 0:0
# Only this stage's lock: its dependencies first (they change rarely), pedigree's wheel (from
# the base) last, installed by the base's installer into an environment made --without-pip, so
# it holds exactly the lock and pedigree. The pip cache mount keeps wheels between builds.
COPY images/train/requirements.lock /opt/pedigree/locks/train.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 -m venv --without-pip /opt/pedigree/venv \
    && /opt/pedigree/installer/bin/pip --python /opt/pedigree/venv/bin/python install \
       --disable-pip-version-check --require-hashes --no-deps -r /opt/pedigree/locks/train.lock
RUN /opt/pedigree/installer/bin/pip --python /opt/pedigree/venv/bin/python install \
    --disable-pip-version-check --no-cache-dir --no-deps --no-index \
    /opt/pedigree/wheels/pedigree-*.whl

# Labels last: the revision changes on every commit and must not invalidate the layers above.
ARG VERSION=0.1.0
ARG SOURCE=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pedigree-train" \
      org.opencontainers.image.description="pedigree stage train: trains the final U-Net" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/pedigree/venv/bin:$PATH
WORKDIR /workspace
USER 10001:10001
