"""The compilers: the pipeline spec to dvc.yaml, to the Argo Workflows files, and the
generated-file header and stamp; `render` ties them to a loaded project."""

# Where cluster-conf's kustomize base puts everything (runs, ServiceAccount, MinIO): the namespace
# the compiled Argo files name, and the one `pedigree submit` uses by default. A constant here,
# free of imports, so the CLI and `pedigree.cluster` can name it without loading a compiler.
DEFAULT_NAMESPACE = "pedigree"
