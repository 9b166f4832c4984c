"""`pedigree.api.serve`: which model is served (champion, a version, a registered file), its
bundle, the files fetched by hash into a private folder that is gone when the server stops."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from dvc.repo import Repo

from pedigree.api import serve as serve_api
from pedigree.bundle import verify_file
from pedigree.errors import RegistryError, ServeError
from pedigree.serve import server
from tests.conftest import VALID_SPEC, make_project
from tests.unit.registry.test_store import GATE, better, make_candidate, never, open_registry

STATS = b'{"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}\n'
SERVE_SECTION = """\
  serve:
    image: images/serve
    predictor: stages.serve
    code: [stages/ingest]
    files: {stats: data/raw}
    params: [ingest]
"""


def cache_object(root: Path, content: bytes) -> Path:
    """Put `content` into the project's DVC cache (DVC 3 layout); the object's path."""
    md5 = hashlib.md5(content).hexdigest()
    path = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def make_served_project(
    folder: Path, model: bytes = b"one", serve: bool = True, gate: Any = better
) -> Path:
    """A DVC project whose pets spec has a serve: section and whose registry holds v1 (model
    `model`, champion unless `gate` says no); the model, calibration and stats in the cache."""
    root = make_project(folder / "proj", VALID_SPEC + (SERVE_SECTION if serve else ""))
    (root / "params.yaml").open("a").write("release:\n  registry: registry/pets\n")
    Repo.init(str(root), no_scm=True).close()
    candidate = make_candidate(folder / "m", model)
    lineage = {
        "ingest": {
            "outs": [{"path": "data/raw", "md5": hashlib.md5(STATS).hexdigest(), "size": 9}],
            "params": {"params.yaml": {"ingest": {"seed": 1}}},
        }
    }
    candidate = dataclasses.replace(candidate, lineage=lineage)
    open_registry(root, root / "registry" / "pets").release(candidate, gate, GATE)
    cache_object(root, model)
    cache_object(root, b'{"temperature": 1.27}\n')
    cache_object(root, STATS)
    return root


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_served_project(tmp_path)


def test_the_champion_is_served_by_default(proj: Path) -> None:
    resolved = serve_api.resolve(proj)
    bundle = resolved.bundle
    assert (bundle.pipeline, bundle.version, bundle.predictor) == ("pets", 1, "stages.serve")
    assert [f.role for f in bundle.files] == ["model", "calibration", "stats"]
    assert bundle.model_sha256 == hashlib.sha256(b"one").hexdigest()
    assert bundle.file("stats").md5 == hashlib.md5(STATS).hexdigest()
    assert dict(bundle.params) == {"ingest": {"seed": 1}}
    assert resolved.model_file is None


@pytest.mark.parametrize("version", ["1", "v1", "V1", 1, "champion"])
def test_a_version_by_number_or_champion(proj: Path, version: str | int) -> None:
    assert serve_api.resolve(proj, version=version).version.version == 1


def test_an_unknown_version_names_the_versions(proj: Path) -> None:
    with pytest.raises(RegistryError, match=r"has no v9 \(versions: v1\)"):
        serve_api.resolve(proj, version="v9")
    with pytest.raises(RegistryError, match="is not a model version"):
        serve_api.resolve(proj, version="latest")


def test_no_champion_is_a_clear_error(tmp_path: Path) -> None:
    root = make_served_project(tmp_path, gate=never)
    with pytest.raises(ServeError, match="has no champion") as caught:
        serve_api.resolve(root)
    assert "--version" in str(caught.value.hint)
    assert serve_api.resolve(root, version="v1").version.status == "rejected"


def test_a_spec_without_a_serve_section_says_what_to_add(tmp_path: Path) -> None:
    root = make_served_project(tmp_path, serve=False)
    with pytest.raises(ServeError, match="has no serve: section") as caught:
        serve_api.resolve(root)
    assert "spec.serve" in str(caught.value.hint)


def test_a_registered_model_file_is_served_as_its_version(proj: Path, tmp_path: Path) -> None:
    given = tmp_path / "elsewhere" / "copy.bin"
    given.parent.mkdir()
    given.write_bytes(b"one")
    resolved = serve_api.resolve(proj, model=given)
    assert (resolved.version.version, resolved.model_file) == (1, given)


def test_a_model_with_no_pedigree_is_refused(proj: Path, tmp_path: Path) -> None:
    stray = tmp_path / "stray.keras"
    stray.write_bytes(b"trained on a laptop")
    sha = hashlib.sha256(b"trained on a laptop").hexdigest()
    with pytest.raises(ServeError, match=rf"stray.keras \(sha256 {sha}\) is not in the model reg"):
        serve_api.resolve(proj, model=stray)
    with pytest.raises(ServeError, match="is not a file"):
        serve_api.resolve(proj, model=tmp_path / "missing.keras")


def test_a_version_and_a_model_together_are_refused(proj: Path, tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="not both"):
        serve_api.resolve(proj, version="v1", model=tmp_path / "m.keras")


def test_fetch_writes_every_file_verified_under_its_own_name(proj: Path, tmp_path: Path) -> None:
    resolved = serve_api.resolve(proj)
    files = serve_api.fetch(resolved, tmp_path / "files")
    assert {f.role: f.path.relative_to(tmp_path / "files").as_posix() for f in files} == {
        "model": f"model/{Path(resolved.version.artifact).name}",
        "calibration": "calibration/" + Path(resolved.bundle.file("calibration").path).name,
        "stats": "stats/raw",
    }
    for item in resolved.bundle.files:
        verify_file(item, next(f.path for f in files if f.role == item.role))


def test_fetch_takes_the_model_from_the_given_file(proj: Path, tmp_path: Path) -> None:
    given = tmp_path / "mine.keras"
    given.write_bytes(b"one")
    (proj / ".dvc" / "cache" / "files").rename(tmp_path / "no-cache")  # the cache is gone
    cache_object(proj, b'{"temperature": 1.27}\n')
    cache_object(proj, STATS)
    files = serve_api.fetch(serve_api.resolve(proj, model=given), tmp_path / "files")
    model = next(f for f in files if f.role == "model")
    assert model.source == "given" and model.path.read_bytes() == b"one"
    assert model.path.name != "mine.keras"  # named as the registry recorded it


Run = Callable[..., None]
NO_LIMITS = server.Limits()


def fake_server(seen: dict[str, Any], stop: BaseException | None = None) -> Run:
    """A stand-in for `server.run`: records its arguments, checks the files, says ready."""

    def run(
        bundle: Any,
        files: Mapping[str, Path],
        code_root: Path,
        host: str,
        port: int,
        on_ready: Callable[[str], None] | None = None,
        limits: server.Limits = NO_LIMITS,
    ) -> None:
        for item in bundle.files:
            verify_file(item, files[item.role])
        seen.update(bundle=bundle, files=dict(files), code_root=code_root, host=host, port=port)
        if on_ready is not None:
            on_ready(f"http://{host}:4321")
        if stop is not None:
            raise stop

    return run


def test_serve_runs_the_server_on_the_fetched_files_and_cleans_up(
    proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    ready: list[serve_api.Serving] = []
    monkeypatch.setattr(server, "run", fake_server(seen))
    serve_api.serve(proj, port=0, on_ready=ready.append)
    assert seen["code_root"] == proj.resolve() and (seen["host"], seen["port"]) == ("127.0.0.1", 0)
    assert set(seen["files"]) == {"model", "calibration", "stats"}
    (serving,) = ready
    assert serving.url == "http://127.0.0.1:4321/v2/models/pets"
    data = serving.to_dict()
    assert data["version"] == 1 and data["pipeline"] == "pets"
    assert data["model_sha256"] == hashlib.sha256(b"one").hexdigest()
    assert data["infer_url"] == serving.url + "/infer"
    folder = seen["files"]["model"].parents[1]
    assert folder.name.startswith(serve_api.TEMP_PREFIX) and not folder.exists()


def test_the_folder_is_removed_when_the_server_is_interrupted(
    proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "run", fake_server(seen, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        serve_api.serve(proj)
    assert not seen["files"]["model"].exists()


def test_a_damaged_cache_object_stops_before_the_server_starts(
    proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "run", fake_server(seen))
    cache_object(proj, b"one").write_bytes(b"bit rot")
    with pytest.raises(RegistryError, match="has sha256 [0-9a-f]{64}, not the"):
        serve_api.serve(proj)
    assert seen == {}


@pytest.mark.parametrize(
    ("reported", "url"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v2/models/pets"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v2/models/pets"),
        ("http://h:1/v2/models/pets", "http://h:1/v2/models/pets"),
        ("http://h:1/v2/models/pets/infer", "http://h:1/v2/models/pets"),
    ],
)
def test_model_url_from_what_the_server_reports(reported: str, url: str) -> None:
    assert serve_api.model_url(reported, "pets") == url
