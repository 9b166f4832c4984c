"""OpenLineage run events for stage runs, built and sent with the openlineage-python client.

`pedigree.launch` calls `emit` with START before a stage runs and COMPLETE or FAIL after it.

Where events go:

- always: appended, one JSON event per line, to `.pedigree/lineage/openlineage.jsonl`
  (the client's FileTransport in append mode);
- also, when `OPENLINEAGE_URL` is set (the client's own variable): POSTed to
  `$OPENLINEAGE_URL/$OPENLINEAGE_ENDPOINT` (default `api/v1/lineage`, Marquez's) with the client's
  HttpTransport, authenticated with `OPENLINEAGE_API_KEY` when set. `OPENLINEAGE_DISABLED=true`
  turns the HTTP copy off. An endpoint that fails never fails the stage: one warning line goes to
  stderr and the stage carries on; the file copy is written first, whatever happens.

The transports are called directly rather than through `OpenLineageClient`: the client would add
facets of its own (so the HTTP copy could differ from the file copy) and, when `OPENLINEAGE_URL`
is set, writes `OPENLINEAGE__TRANSPORT__*` variables into `os.environ`, which the launcher passes
on to the stage it runs.

What an event says (`run_event`, pure: the same record gives the same event):

- job: namespace `pedigree` (or `$PEDIGREE_OPENLINEAGE_NAMESPACE`), name `<pipeline>.<stage>`
  (`pets.train`); facets `jobType` (BATCH, integration PEDIGREE, jobType STAGE) and
  `sourceCodeLocation` (git, the repository, path `stages/<stage>`, version = the commit);
- run: runId = the record's run id; facets `processing_engine` (pedigree and the client's
  version), `executionParameters` (every param, dotted key -> JSON value), the custom
  `pedigree_environment` and `pedigree_code` facets (`pedigree.lineage.facets`), and
  `errorMessage` on FAIL or ABORT;
- inputs and outputs: the record's data artifacts as datasets in the same namespace, named by
  their path in the project, each with the `version` facet = its DVC md5 (what dvc.lock holds);
  outputs also carry `outputStatistics` (bytes, files). Code folders and locks are not datasets:
  they are in `pedigree_code` and `pedigree_environment`.
- eventTime: the record's start (START) or end (other events).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pedigree.envvars import OPENLINEAGE_NAMESPACE_ENV
from pedigree.gitstate import git
from pedigree.lineage.record import Artifact, LineageRecord, key_paths
from pedigree.lineage.store import EVENTS_FILE
from pedigree.redact import redact_error, redact_text, url_without_credentials

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent
    from openlineage.client.generated.base import InputDataset, OutputDataset

NAMESPACE = "pedigree"
NAMESPACE_ENV = OPENLINEAGE_NAMESPACE_ENV
URL_ENV = "OPENLINEAGE_URL"
ENDPOINT_ENV = "OPENLINEAGE_ENDPOINT"
API_KEY_ENV = "OPENLINEAGE_API_KEY"
DISABLED_ENV = "OPENLINEAGE_DISABLED"
DEFAULT_ENDPOINT = "api/v1/lineage"
# A stage waits on the endpoint twice per run: keep a dead one from costing more than seconds.
HTTP_TIMEOUT = 5.0
HTTP_RETRY = {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.2}
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
INTEGRATION = "PEDIGREE"


def namespace() -> str:
    """The namespace of pedigree's jobs and datasets: `pedigree` unless overridden."""
    return os.environ.get(NAMESPACE_ENV, "").strip() or NAMESPACE


def job_name(record: LineageRecord) -> str:
    """`<pipeline>.<stage>`, the pipeline named by its spec file (`pipelines/pets.yaml` -> pets)."""
    if not record.pipeline:
        return record.stage
    return f"{Path(record.pipeline).stem}.{record.stage}"


def _without_credentials(url: str) -> str:
    """`url` as the job's source location: credentials removed (`pedigree.redact`), an scp-like
    `git@host:org/repo.git` written as `ssh://host/org/repo.git`, no ssh user either."""
    if url.startswith("git@") and ":" in url:  # scp-like git@host:org/repo.git
        host, path = url[len("git@") :].split(":", 1)
        return f"ssh://{host}/{path}"
    parts = urlsplit(url_without_credentials(url))
    if not parts.scheme:
        return url_without_credentials(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def repository_url(root: Path) -> str:
    """The project's git remote `origin` (credentials removed), else the project folder's URI."""
    remote = git(root, "remote", "get-url", "origin")
    return _without_credentials(remote) if remote else root.resolve().as_uri()


def _code_url(repo_url: str, commit: str | None, path: str) -> str:
    """A browsable URL of `path` at `commit` for https remotes (GitHub, GitLab), else the repo."""
    if repo_url.startswith("https://") and commit:
        return f"{repo_url.removesuffix('.git')}/tree/{commit}/{path}"
    return repo_url


def flat_params(params: dict[str, Any]) -> dict[str, str]:
    """Every param as dotted key -> JSON text (`transform.split.buckets` -> `10`).

    A URL with credentials in a param (`source: https://user:TOKEN@host/data.zip`) is published
    without them: events leave the machine, to whoever reads the lineage server.
    """
    return {
        key: redact_text(json.dumps(value, sort_keys=True), environ={})
        for key, value in key_paths(params).items()
    }


def _inputs(record: LineageRecord, space: str) -> list[InputDataset]:
    from openlineage.client.generated.base import InputDataset
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet

    return [
        InputDataset(
            namespace=space,
            name=item.path,
            facets={
                "version": DatasetVersionDatasetFacet(datasetVersion=item.md5, producer=_producer())
            },
        )
        for item in record.data_inputs
    ]


def _outputs(record: LineageRecord, space: str) -> list[OutputDataset]:
    from openlineage.client.generated.base import OutputDataset
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.output_statistics_output_dataset import (
        OutputStatisticsOutputDatasetFacet,
    )

    def stats(item: Artifact) -> OutputStatisticsOutputDatasetFacet:
        return OutputStatisticsOutputDatasetFacet(
            size=item.size, fileCount=item.nfiles or 1, producer=_producer()
        )

    return [
        OutputDataset(
            namespace=space,
            name=item.path,
            facets={
                "version": DatasetVersionDatasetFacet(datasetVersion=item.md5, producer=_producer())
            },
            outputFacets={"outputStatistics": stats(item)},
        )
        for item in record.outputs
        if item.kind == "data"
    ]


def _producer() -> str:
    from pedigree.lineage.facets import PRODUCER

    return PRODUCER


def _run_facets(record: LineageRecord, event_type: str) -> dict[str, Any]:
    import openlineage.client.constants as ol
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
    from openlineage.client.generated.execution_parameters_run import (
        ExecutionParameter,
        ExecutionParametersRunFacet,
    )
    from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet

    from pedigree import __version__
    from pedigree.lineage.facets import (
        CODE_FACET,
        ENVIRONMENT_FACET,
        CodeRunFacet,
        EnvironmentRunFacet,
    )

    env = record.environment
    code = record.code
    finished = event_type not in ("START", "RUNNING")
    facets: dict[str, Any] = {
        "processing_engine": ProcessingEngineRunFacet(
            version=__version__,
            name="pedigree",
            openlineageAdapterVersion=ol.__version__,
            producer=_producer(),
        ),
        "executionParameters": ExecutionParametersRunFacet(
            parameters=[
                ExecutionParameter(key=key, value=value)
                for key, value in flat_params(record.params).items()
            ],
            producer=_producer(),
        ),
        ENVIRONMENT_FACET: EnvironmentRunFacet(
            python=env.python,
            implementation=env.implementation,
            platform=env.platform,
            machine=env.machine,
            cpuCount=env.cpu_count,
            lock=dict(env.lock) or None,
            packages=dict(env.packages),
            threads=dict(env.threads),
            determinism=dict(env.determinism),
            container=env.container.model_dump(exclude_none=True) if env.container else None,
            producer=_producer(),
        ),
        CODE_FACET: CodeRunFacet(
            folders=dict(code.folders),
            pedigreeVersion=code.pedigree_version,
            command=record.cmd,
            argv=list(record.argv),
            gitCommit=code.git_commit,
            gitDirty=code.git_dirty,
            exitCode=record.exit_code if finished else None,
            seeds=dict(record.seeds),
            producer=_producer(),
        ),
    }
    if event_type in ("FAIL", "ABORT"):
        facets["errorMessage"] = ErrorMessageRunFacet(
            message=f"stage '{record.stage}' {record.status} (exit code {record.exit_code})",
            programmingLanguage="python",
            producer=_producer(),
        )
    return facets


def build_event(
    record: LineageRecord, event_type: str, *, repo_url: str | None = None, space: str = NAMESPACE
) -> RunEvent:
    """The client's RunEvent for `record` at `event_type` (see the module docstring)."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.generated.job_type_job import JobTypeJobFacet
    from openlineage.client.generated.source_code_location_job import (
        SourceCodeLocationJobFacet,
    )

    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown OpenLineage event type {event_type!r}; use one of {EVENT_TYPES}")
    job_facets: dict[str, Any] = {
        "jobType": JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType="STAGE", producer=_producer()
        )
    }
    if repo_url:
        path = f"stages/{record.stage}"
        job_facets["sourceCodeLocation"] = SourceCodeLocationJobFacet(
            type="git",
            url=_code_url(repo_url, record.code.git_commit, path),
            repoUrl=repo_url,
            path=path,
            version=record.code.git_commit,
            producer=_producer(),
        )
    return RunEvent(
        eventType=RunState(event_type),
        eventTime=record.started if event_type == "START" else record.ended,
        run=Run(runId=record.run_id, facets=_run_facets(record, event_type)),
        job=Job(namespace=space, name=job_name(record), facets=job_facets),
        inputs=_inputs(record, space),
        outputs=_outputs(record, space) if event_type != "START" else [],
        producer=_producer(),
    )


def run_event(
    record: LineageRecord, event_type: str, *, repo_url: str | None = None, space: str = NAMESPACE
) -> dict[str, Any]:
    """The OpenLineage run event for `record` as JSON-ready data (no I/O)."""
    from openlineage.client.serde import Serde

    return Serde.to_dict(build_event(record, event_type, repo_url=repo_url, space=space))


def _http_transport() -> Any | None:
    """The client's HttpTransport configured from the environment; None when not configured."""
    url = os.environ.get(URL_ENV, "").strip()
    if not url or os.environ.get(DISABLED_ENV, "").strip().lower() == "true":
        return None
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    config: dict[str, Any] = {
        "url": url,
        "endpoint": os.environ.get(ENDPOINT_ENV, "").strip() or DEFAULT_ENDPOINT,
        "timeout": HTTP_TIMEOUT,
        "retry": dict(HTTP_RETRY),
    }
    if api_key := os.environ.get(API_KEY_ENV, "").strip():
        config["auth"] = {"type": "api_key", "apiKey": api_key}
    return HttpTransport(HttpConfig.from_dict(config))


def _one_line(exc: BaseException) -> str:
    """The exception in one line, without credentials: the client's and requests' messages
    repeat the URL they failed on, user and password included."""
    text = redact_error(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def emit(root: Path, record: LineageRecord, event_type: str) -> None:
    """Emit one OpenLineage run event for `record`: to the events file, and to HTTP if set.

    A file that cannot be written raises (the launcher reports it); an HTTP endpoint that fails
    only prints one warning line to stderr.
    """
    from openlineage.client.transport.file import FileConfig, FileTransport

    event = build_event(record, event_type, repo_url=repository_url(root), space=namespace())
    path = root / EVENTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    FileTransport(FileConfig(log_file_path=str(path), append=True)).emit(event)
    try:
        http = _http_transport()
        if http is None:
            return
        try:
            http.emit(event)
        finally:
            http.close()
    except Exception as exc:  # noqa: BLE001 - a lineage server being down must not fail the stage
        target = url_without_credentials(os.environ.get(URL_ENV, "").strip())
        sys.stderr.write(
            f"pedigree: warning: OpenLineage endpoint {target} did not take the {event_type} "
            f"event of stage '{record.stage}' ({_one_line(exc)}); it is kept in {EVENTS_FILE}\n"
        )
