"""The model registry: every released model, its evidence, and which one is the champion.

The embedded default keeps its records in one SQLite file and the models, content-addressed, in
an artifact folder next to it (`release.registry` in params.yaml, default `.pedigree/registry`).
The release stage calls `Registry.release` with a gate; people use `pedigree models` to list,
inspect, promote and roll back. The champion is served through the manifest that `serving`
writes to cluster-conf/serving/<pipeline>.yaml.

Modules: records (the data), store (Registry), database (the SQLite file: schema, creation,
refusing a damaged one), rows (rows back into records), artifacts, serving, settings. Import
from them directly: this package imports nothing, so reading a record never loads YAML or
pydantic.
"""
