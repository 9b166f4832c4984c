# generated from pipelines/pets.yaml by pedigree, do not edit: change pipelines/pets.yaml and run `pedigree compile --target images`
# The serving image: KServe's model server (Open Inference Protocol, V2 REST) with the predictor
# `stages.serve` of spec.serve. Built by `make images` on top of the base image
# (images/base/Dockerfile). Its environment /opt/pedigree/venv is installed from
# images/serve/requirements.lock and nothing else (plus pedigree itself, --no-deps).
#
# Unlike a stage image it holds code: the predictor's folders (spec.serve.code), because a
# serving pod has no checkout. The model is NOT in the image: the pod fetches the released model's
# files by content hash (PEDIGREE_SERVE_BUNDLE, written into the serving manifest) and checks
# every hash before it reports ready. Runs as 10001 on a read-only root file system; /tmp is the
# only writable path (the manifest mounts an emptyDir there).

# `make images` passes pedigree/base@sha256:<digest of the base it has just built>; the default
# is a placeholder digest no image has, so a build outside `make images` fails at once.
ARG BASE_IMAGE=localhost/pedigree/base@sha256:0000000000000000000000000000000000000000000000000000000000000000
FROM ${BASE_IMAGE}

USER 0:0
COPY images/serve/requirements.lock /opt/pedigree/locks/serve.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 -m venv --without-pip /opt/pedigree/venv \
    && /opt/pedigree/installer/bin/pip --python /opt/pedigree/venv/bin/python install \
       --disable-pip-version-check --require-hashes --no-deps -r /opt/pedigree/locks/serve.lock
RUN /opt/pedigree/installer/bin/pip --python /opt/pedigree/venv/bin/python install \
    --disable-pip-version-check --no-cache-dir --no-deps --no-index \
    /opt/pedigree/wheels/pedigree-*.whl

# The predictor's code (owned by root: read-only for the server's user).
COPY stages/__init__.py /opt/pedigree/app/stages/__init__.py
COPY stages/serve/ /opt/pedigree/app/stages/serve/
COPY stages/common/ /opt/pedigree/app/stages/common/
COPY stages/transform/ /opt/pedigree/app/stages/transform/

ARG VERSION=0.1.0
ARG SOURCE=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pedigree-serve" \
      org.opencontainers.image.description="pedigree serving image: predictor stages.serve" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/pedigree/venv/bin:$PATH \
    PYTHONPATH=/opt/pedigree/app \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/pedigree/app
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "pedigree.serve"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--files", "/tmp/models"]
