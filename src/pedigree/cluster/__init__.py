"""Running the pipeline on Kubernetes with Argo Workflows.

`kube` is the one adapter over the official `kubernetes` client (kubeconfig, API calls, errors);
`runs` submits, inspects and watches runs and reads their logs over it; the steps that run in
the cluster's pods and `pedigree pull` live beside them.
"""

# The namespace runs go to by default (cluster-conf's kustomize base); it lives with the compiler
# that writes it into the Argo files. Importing it loads no compiler and no kubernetes client.
from pedigree.compile import DEFAULT_NAMESPACE

__all__ = ["DEFAULT_NAMESPACE"]
