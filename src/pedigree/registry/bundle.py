"""The serve bundle of a registered version: its model and calibration as the registry recorded
them, plus the files and params the pipeline's predictor reads (spec.serve), looked up in the
version's recorded lineage. Pure: the registry record and the spec in, a ServeBundle out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pedigree.bundle import CALIBRATION, MD5, MODEL, BundleFile, ServeBundle
from pedigree.errors import ServeError
from pedigree.project import PARAMS_FILE
from pedigree.registry.records import ModelVersion
from pedigree.spec.model import Serving

SPEC_HINT = "name a file that one of the model's stages read or wrote (spec.serve.files)"


def remote_object_uri(remote: str, md5: str) -> str:
    """Where DVC 3 keeps the object `md5` in the remote `remote` (its content address)."""
    return f"{remote.rstrip('/')}/files/md5/{md5[:2]}/{md5[2:]}"


def _registered(version: ModelVersion, role: str, required: bool) -> BundleFile | None:
    record = version.files.get(role) or {}
    md5, sha = record.get("md5"), record.get("sha256")
    if not (isinstance(md5, str) and MD5.fullmatch(md5)) or not isinstance(sha, str):
        if not required and not record:
            return None
        raise ServeError(
            f"v{version.version}'s {role} file has no DVC md5 and sha256 in the registry: "
            "it cannot be fetched and checked by content",
            "serve a version registered by pedigree's release stage (see `pedigree models list`)",
        )
    size = record.get("size")
    return BundleFile(
        role=role,
        path=str(record.get("path") or version.artifact),
        md5=md5,
        sha256=sha,
        size=size if isinstance(size, int) else None,
    )


def _from_lineage(lineage: Mapping[str, Any], role: str, path: str, label: str) -> BundleFile:
    """The file `path` as the lineage recorded it (a dep or out of any of its stages)."""
    for stage in sorted(lineage):
        record = lineage[stage] if isinstance(lineage[stage], dict) else {}
        for entry in [*(record.get("deps") or []), *(record.get("outs") or [])]:
            md5 = entry.get("md5") if isinstance(entry, dict) else None
            if entry.get("path") == path and isinstance(md5, str) and MD5.fullmatch(md5):
                size = entry.get("size")
                return BundleFile(role, path, md5, None, size if isinstance(size, int) else None)
    raise ServeError(
        f"{label}'s lineage records no file {path} (spec.serve.files.{role}): "
        "the predictor cannot get the bytes the model was made with",
        SPEC_HINT,
    )


def _params(lineage: Mapping[str, Any], sections: tuple[str, ...], label: str) -> dict[str, Any]:
    """Each section as the model's stages recorded it; sections must agree between stages."""
    found: dict[str, Any] = {}
    for section in sections:
        values = []
        for stage in sorted(lineage):
            record = lineage[stage] if isinstance(lineage[stage], dict) else {}
            params = (record.get("params") or {}).get(PARAMS_FILE) or {}
            if section in params:
                values.append((stage, params[section]))
        if not values:
            raise ServeError(
                f"{label}'s lineage records no params section '{section}' (spec.serve.params)",
                "name a params.yaml section one of the model's stages reads",
            )
        first_stage, first = values[0]
        for stage, value in values[1:]:
            if value != first:
                raise ServeError(
                    f"{label}'s stages '{first_stage}' and '{stage}' recorded different "
                    f"'{section}' params: the model's lineage is inconsistent",
                    "re-run the pipeline (`pedigree run`) so one run made the model",
                )
        found[section] = first
    return found


def bundle_for_version(pipeline: str, serve: Serving, version: ModelVersion) -> ServeBundle:
    """The bundle serving registered `version` of `pipeline` with `serve`'s predictor."""
    label = f"v{version.version}"
    model = _registered(version, MODEL, required=True)
    calibration = _registered(version, CALIBRATION, required=False)
    files = [f for f in (model, calibration) if f is not None]
    for role, path in sorted(serve.files.items()):
        files.append(_from_lineage(version.lineage, role, path, label))
    return ServeBundle(
        pipeline=pipeline,
        version=version.version,
        predictor=serve.predictor,
        files=tuple(files),
        params=_params(version.lineage, serve.params, label),
    )


def with_remote_uris(bundle: ServeBundle, remote: str) -> ServeBundle:
    """`bundle` with every file's `uri` set to its object in the DVC remote `remote`."""
    from dataclasses import replace

    files = tuple(replace(f, uri=remote_object_uri(remote, f.md5)) for f in bundle.files)
    return replace(bundle, files=files)
