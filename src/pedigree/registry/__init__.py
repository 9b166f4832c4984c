"""The model registry: every released model, its evidence, and which one is the champion.

The registry is an append-only log of event files in the repository (`release.registry` in
params.yaml, `registry/<pipeline>`), committed with the run; replaying it gives the versions,
their statuses and the champion on every clone. The release stage calls `Registry.release` with
a gate; people use `pedigree models` to list, inspect, fetch, promote and roll back. The
champion is served through the manifest that `serving` writes to
cluster-conf/serving/<pipeline>.yaml.

Modules: records (the data), events (the files), replay, store (Registry), fetch (a version's
files from DVC by hash), migrate (an old SQLite registry into events, read with database and
rows), bundle (a version's serve bundle: its files by hash, from its record and lineage),
serving and serving_objects (the manifest and its Kubernetes objects), settings. Import from
them directly: this package imports nothing, so reading a record never loads YAML or pydantic.
"""
