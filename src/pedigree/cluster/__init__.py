"""Running the pipeline on Kubernetes with Argo Workflows.

`kube` is the one adapter over the official `kubernetes` client (kubeconfig, API calls, errors);
`runs` submits, inspects and watches runs and reads their logs over it; the steps that run in
the cluster's pods and `pedigree pull` live beside them.
"""

# Where cluster-conf's kustomize base puts everything (runs, ServiceAccount, MinIO); a constant
# here, free of imports, so the CLI can name it without loading the kubernetes client.
DEFAULT_NAMESPACE = "pedigree"
