"""Running the pipeline on Kubernetes with Argo Workflows.

`kube` is the one adapter over the official `kubernetes` client (kubeconfig, API calls, errors);
`runs` submits, inspects and watches runs and reads their logs over it; the steps that run in
the cluster's pods and `pedigree pull` live beside them.
"""
