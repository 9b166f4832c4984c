# Two commands do everything on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint lock check clean-venv benchmarks cluster images cluster-e2e

# The .venv is installed from the one combined lock that every stage lock agrees with, so the
# environment a stage runs in locally is the one its images/<stage>/requirements.lock describes.
$(STAMP): images/requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r images/requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/pedigree run

# The tests run in TEST_WORKERS processes (pytest-xdist), each file whole in one of them;
# TEST_WORKERS=0 runs them in this one. Three on two cores: much of a test's time is spent
# waiting on git, DVC and stage processes (measured: 698 s with 3, 764 s with 2, 1673 s with 1, before the tests shared more runs).
TEST_WORKERS ?= 3
test: install lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# ruff (style), lint-imports (the layers in pyproject.toml's [tool.importlinter]) and mypy
# (the types of src/, [tool.mypy]; its cache is under .venv).
lint: install
	$(BIN)/ruff check src stages tests benchmarks
	$(BIN)/ruff format --check src stages tests benchmarks
	$(BIN)/lint-imports --no-logo --contract layers --contract acyclic --contract click \
		--contract pets-stages
	for example in examples/*/; do \
		(cd $$example && $(CURDIR)/$(BIN)/lint-imports --no-logo --no-cache \
			--contract example-stages $(CURDIR)/pyproject.toml) || exit 1; \
	done
	$(BIN)/mypy

check: install
	$(BIN)/pedigree check

benchmarks: run
	$(BIN)/python benchmarks/noop_overhead.py
	$(BIN)/python benchmarks/transform_scaling.py
	$(BIN)/python benchmarks/input_pipeline.py
	$(BIN)/python benchmarks/determinism_overhead.py
	$(BIN)/python benchmarks/lineage_overhead.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/pipeline_time.py

# Re-resolve every lock (needs the package index) with `pedigree lock`: the combined lock first,
# then each stage's lock constrained by it, so versions can never disagree, then images/base's.
lock: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.9,<1'
	$(BIN)/pedigree lock --extra dev --uv $(BIN)/uv

# A local kind cluster with the kind overlay applied (needs Docker and kind; see
# cluster-conf/README.md). Checks its prerequisites first and says how to install what is
# missing; reuses the cluster when it exists. CLUSTER_NAME=... picks another name.
CLUSTER_NAME ?= pedigree
cluster: install
	cluster-conf/kind/up.sh --name $(CLUSTER_NAME)

# The base image, then every stage's image FROM it by digest, tagged pedigree/<name>:<version>
# and labelled with the source and git revision; prints each digest and notes it in the
# untracked .pedigree/images.json (images/README.md).
# ENGINE=podman|docker (default: whichever works, podman first); ONLY=base,ingest builds a
# subset; PYTHON_IMAGE=<digest reference> replaces the base's Python image (offline builds);
# CA_BUNDLE=<pem> is lent to pip behind a TLS-intercepting proxy (default: $$PIP_CERT);
# PUSH=<registry prefix> (e.g. registry.example.com/pedigree) then pushes every image but the
# base and pins the registry's digests in cluster-conf/images/ (commit it: production pulls them).
ENGINE ?=
ONLY ?=
PYTHON_IMAGE ?=
CA_BUNDLE ?=
PUSH ?=
images: install
	$(BIN)/python -m pedigree.containers.build $(if $(ENGINE),--engine $(ENGINE)) \
	  $(if $(ONLY),--only $(ONLY)) $(if $(PYTHON_IMAGE),--python-image $(PYTHON_IMAGE)) \
	  $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE)) $(if $(PUSH),--push $(PUSH))

# The cluster path end to end on this machine, without Kubernetes (opt-in, not part of
# `make test`; needs podman or docker): builds the images the compiled WorkflowTemplate names,
# runs its DAG step by step as containers against a local S3 server, then `pedigree pull` and
# `pedigree verify --all` in a clean clone (README.md, "The cluster path end to end").
# ENGINE, PYTHON_IMAGE and CA_BUNDLE as for `make images`; E2E_FLAGS=--no-build reuses images.
E2E_FLAGS ?=
cluster-e2e: install
	$(BIN)/python -m tests.e2e.cluster $(strip $(if $(ENGINE),--engine $(ENGINE)) \
	  $(if $(PYTHON_IMAGE),--python-image $(PYTHON_IMAGE)) \
	  $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE)) $(E2E_FLAGS))

clean-venv:
	rm -rf $(VENV)
