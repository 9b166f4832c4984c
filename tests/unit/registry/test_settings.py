"""release.registry and release.serving in params.yaml: defaults, validation, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.errors import ParamsError
from pedigree.registry.settings import ServingSettings, registry_root, serving_settings

SERVING = """\
release:
  registry: models/registry
  min_mean_iou: 0.5          # a gate key owned by the release stage: ignored here
  serving:
    name: pets-segmentation
    namespace: pedigree
    image: pedigree/serve@sha256:{digest}
    remote: s3://pedigree/dvc/
    replicas: 2
    port: 8080
""".format(digest="0123456789abcdef" * 4)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_serving_settings_are_read_and_validated(tmp_path: Path) -> None:
    settings = serving_settings(write(tmp_path, SERVING))
    assert settings == ServingSettings(
        name="pets-segmentation",
        namespace="pedigree",
        image=f"pedigree/serve@sha256:{'0123456789abcdef' * 4}",  # a digest: used as is
        remote="s3://pedigree/dvc",  # trailing slash dropped
        replicas=2,
        port=8080,
    )


def test_serving_defaults(tmp_path: Path) -> None:
    from pedigree import __version__
    from pedigree.compile.argo import DEFAULT_REMOTE, DEFAULT_S3_ENDPOINT

    settings = serving_settings(write(tmp_path, "release:\n  serving:\n    name: x\n"))
    assert (settings.namespace, settings.replicas, settings.port) == ("pedigree", 1, 8080)
    assert settings.kind == "Deployment"
    assert settings.image == f"pedigree/serve:{__version__}"  # what `make images` tags
    # the remote and endpoint the cluster's steps push to (the WorkflowTemplate's defaults)
    assert (settings.remote, settings.s3_endpoint) == (DEFAULT_REMOTE, DEFAULT_S3_ENDPOINT)
    assert settings.remote == "s3://pedigree/dvc" and settings.s3
    assert settings.resources.requests.model_dump() == {"cpu": "500m", "memory": "1Gi"}
    assert settings.resources.limits.model_dump() == {"cpu": "2", "memory": "2Gi"}


def test_serving_kind_endpoint_and_resources(tmp_path: Path) -> None:
    text = SERVING + (
        "    kind: InferenceService\n"
        "    s3_endpoint: null\n"
        "    resources:\n"
        "      requests: {cpu: '1', memory: 512Mi}\n"
        "      limits: {cpu: 1500m, memory: 4Gi}\n"
    )
    settings = serving_settings(write(tmp_path, text))
    assert settings.kind == "InferenceService" and settings.s3_endpoint is None
    assert settings.resources.limits.memory == "4Gi"
    local = serving_settings(write(tmp_path, SERVING.replace("s3://pedigree/dvc/", "file:///d")))
    assert local.remote == "file:///d" and not local.s3


def test_the_old_storage_uri_key_says_what_replaced_it(tmp_path: Path) -> None:
    text = SERVING.replace("remote: s3://pedigree/dvc/", "storage_uri: s3://pedigree/registry")
    with pytest.raises(ParamsError, match=r"'storage_uri' is now 'remote': the DVC remote"):
        serving_settings(write(tmp_path, text))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "replicas: 2",
            "replicas: 0",
            r"params.yaml:9 \[release.serving.replicas\]: .*greater than or equal to 1",
        ),
        ("replicas: 2", "replicas: '2'", r"\[release.serving.replicas\]: Input should be a valid"),
        (
            "port: 8080",
            "port: 70000",
            r"params.yaml:10 \[release.serving.port\]: .*less than or equal to 65535",
        ),
        (
            "name: pets-segmentation",
            "name: Pets_Seg",
            r"params.yaml:5 \[release.serving.name\]: 'Pets_Seg' is not a Kubernetes name",
        ),
        (
            "remote: s3://pedigree/dvc/",
            "remote: /mnt/dvc",
            r"\[release.serving.remote\]: '/mnt/dvc' is not a DVC remote URL: start it "
            "with s3://, gs://, https://, file://",
        ),
        ("remote: s3://pedigree/dvc/", "remote: 's3://a b'", r"'s3://a b' is not a DVC remote"),
        (
            "port: 8080",
            "port: 8080\n    kind: StatefulSet",
            r"params.yaml:11 \[release.serving.kind\]: .*'Deployment' or 'InferenceService'",
        ),
        (
            "port: 8080",
            "port: 8080\n    s3_endpoint: minio:9000",
            r"\[release.serving.s3_endpoint\]: 'minio:9000' is not an S3 endpoint URL",
        ),
        (
            "port: 8080",
            "port: 8080\n    resources: {limits: {cpu: lots, memory: 1Gi}}",
            r"\[release.serving.resources.limits.cpu\]: 'lots' is not a CPU quantity",
        ),
        (
            "port: 8080",
            "port: 8080\n    resources: {requests: {cpu: 1, memory: 1GB}}",
            r"\[release.serving.resources.requests.cpu\]: Input should be a valid string",
        ),
        (
            "port: 8080",
            "port: 8080\n    prot: 1",
            r"params.yaml:11 \[release.serving.prot\]: unknown key 'prot' \(hint: did you mean "
            "'port'",
        ),
        ("image: pedigree/serve@sha256:", "image: 'a b' #", r"'a b' is not a container image"),
    ],
)
def test_invalid_serving_settings_are_located(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write(tmp_path, SERVING.replace(old, new))
    with pytest.raises(ParamsError, match=message):
        serving_settings(path)


def test_missing_serving_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "release:\n  registry: r\n")
    with pytest.raises(ParamsError, match=r"\[release.serving\]: required key 'release.serving'"):
        serving_settings(path)
    path = write(tmp_path, "train:\n  epochs: 1\n")
    with pytest.raises(ParamsError, match="required key 'release.serving' is missing"):
        serving_settings(path)


def test_missing_params_file_for_serving(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found"):
        serving_settings(tmp_path / "params.yaml")


def test_registry_root_from_params_relative_to_the_project(tmp_path: Path) -> None:
    params = write(tmp_path, SERVING)
    assert registry_root(tmp_path, params, None) == (tmp_path / "models" / "registry").resolve()


def test_registry_root_defaults(tmp_path: Path) -> None:
    expected = (tmp_path / "registry").resolve()
    assert registry_root(tmp_path, tmp_path / "params.yaml", None) == expected  # no file
    params = write(tmp_path, "train:\n  epochs: 1\n")
    assert registry_root(tmp_path, params, None) == expected  # no release section
    params = write(tmp_path, "release:\n  gate: {}\n")
    assert registry_root(tmp_path, params, None) == expected  # no registry key


def test_registry_root_absolute_and_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    params = write(tmp_path, f"release:\n  registry: {elsewhere}\n")
    assert registry_root(tmp_path / "proj", params, None) == elsewhere
    monkeypatch.chdir(tmp_path)
    assert registry_root(tmp_path / "proj", params, Path("cli")) == tmp_path / "cli"


def test_registry_root_does_not_need_valid_serving(tmp_path: Path) -> None:
    params = write(tmp_path, "release:\n  registry: r\n  serving: {replicas: 0}\n")
    assert registry_root(tmp_path, params, None) == (tmp_path / "r").resolve()
    with pytest.raises(ParamsError, match=r"release.serving.name\]: required key 'name'"):
        serving_settings(params)


def test_bad_registry_values(tmp_path: Path) -> None:
    params = write(tmp_path, "release:\n  registry: ''\n")
    with pytest.raises(ParamsError, match=r"params.yaml:2 \[release.registry\]: the registry"):
        registry_root(tmp_path, params, None)
    params = write(tmp_path, "release: [1, 2]\n")
    with pytest.raises(ParamsError, match=r"\[release\]: 'release' must be a mapping"):
        registry_root(tmp_path, params, None)


@pytest.mark.parametrize("value", ['"models/reg\\nistry"', '"reg\\u202eistry"', '"reg\\tistry"'])
def test_registry_folder_with_hidden_characters_is_refused(tmp_path: Path, value: str) -> None:
    params = write(tmp_path, f"release:\n  registry: {value}\n")
    with pytest.raises(ParamsError, match=r"release.registry\].*control or invisible character"):
        registry_root(tmp_path, params, None)
