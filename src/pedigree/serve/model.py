"""The served model: a KServe `Model` around a serve bundle and a pipeline's predictor module.

`load()` checks every file of the bundle against its recorded hashes before any project code
runs, then imports the predictor module (spec.serve.predictor) with the code root first on
sys.path, calls its `load(files, params)` and runs one warm-up prediction; only then is the
model ready, and any failure on the way is a ServeError (the server never reports ready).

`predict` turns the V2 request into the predictor's inputs (`protocol`), runs the predictor
in a worker thread, one call at a time (a predictor need not be thread-safe, and the event
loop keeps answering health checks meanwhile), and answers with the requested outputs,
encoded in a worker thread too (KServe passes an encoded body through as it is).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from pedigree.bundle import ServeBundle, verify_file
from pedigree.errors import BadRequestError, PedigreeError, ServeError
from pedigree.serve import protocol
from pedigree.serve._kserve import (
    DataPlane,
    InferInput,
    InferRequest,
    InvalidInput,
    Model,
    RequestedOutput,
)
from pedigree.serve.binary import HEADER_LENGTH, parse_binary_request
from pedigree.serve.limits import Limits

log = logging.getLogger("pedigree.serve")

# The warm-up input: one mid-grey RGB image, small enough for any model to take quickly.
WARM_UP_SIDE = 64


def one_line(exc: PedigreeError) -> str:
    """An error as one line for an HTTP error body: the message, then the hint if any."""
    return exc.message if not exc.hint else f"{exc.message} ({exc.hint})"


class ServedModel(Model):
    """The bundle's model under its pipeline's name (`/v2/models/<pipeline>`)."""

    def __init__(
        self, bundle: ServeBundle, files: Mapping[str, Path], code_root: Path, limits: Limits
    ) -> None:
        # Response headers: predict() sets Inference-Header-Content-Length for binary outputs.
        super().__init__(bundle.pipeline, return_response_headers=True)
        self.bundle = bundle
        self.files = dict(files)
        self.code_root = code_root
        self.limits = limits
        self.predictor: Any = None
        self.warm_up: dict[str, protocol.ResponseTensor] = {}
        # One predictor call at a time (created lazily: it binds to the server's event loop).
        self._lock: asyncio.Lock | None = None

    def load(self) -> bool:
        """Verify the files, import and load the predictor, warm it up; ServeError on failure."""
        local = self._verified_files()
        module = _import_predictor(self.bundle.predictor, self.code_root)
        loader = getattr(module, "load", None)
        if not callable(loader):
            raise ServeError(
                f"the predictor module {self.bundle.predictor} ({module.__file__}) defines "
                "no load(files, params)",
                "see pedigree.stagekit.Predictor for the contract",
            )
        try:
            predictor = loader(MappingProxyType(local), MappingProxyType(dict(self.bundle.params)))
        except ServeError:
            raise  # the predictor's own words (a file or param it cannot use)
        except PedigreeError as exc:
            raise ServeError(f"{self.bundle.predictor}.load: {exc.message}", exc.hint) from exc
        except Exception as exc:
            raise ServeError(
                f"{self.bundle.predictor}.load failed: {type(exc).__name__}: {exc}"
            ) from exc
        _check_predictor(predictor, self.bundle.predictor)
        self.predictor = predictor
        self.warm_up = self._warm_up()
        self.ready = True
        log.info(
            "model %s %s (sha256 %s) loaded: predictor %s, outputs %s",
            self.name,
            self.bundle.version_label,
            self.bundle.model_sha256,
            self.bundle.predictor,
            ", ".join(predictor.outputs),
        )
        return True

    def _verified_files(self) -> dict[str, Path]:
        local = {}
        for item in self.bundle.files:
            path = self.files.get(item.role)
            if path is None:
                raise ServeError(
                    f"no local copy of the bundle's {item.role} file ({item.path})",
                    "fetch every file of the bundle before serving it",
                )
            verify_file(item, path)
            local[item.role] = path
        return local

    def _warm_up(self) -> dict[str, protocol.ResponseTensor]:
        # The first prediction of a TensorFlow model builds its graph (seconds): done here, the
        # first request does not pay for it, and a predictor that breaks its contract (missing
        # output, wrong batch size, dtype V2 cannot carry) never reports ready.
        image = np.full((WARM_UP_SIDE, WARM_UP_SIDE, 3), 128, dtype=np.uint8)
        try:
            results = self.predictor.predict([image])
        except BadRequestError as exc:
            log.info("no warm-up: the predictor refused a grey image: %s", one_line(exc))
            return {}
        except Exception as exc:
            raise ServeError(
                f"the predictor failed on a warm-up image ({WARM_UP_SIDE}x{WARM_UP_SIDE} grey "
                f"RGB): {type(exc).__name__}: {exc}"
            ) from exc
        outputs = protocol.response_tensors(results, self.predictor.outputs, 1)
        return {tensor.name: tensor for tensor in outputs}

    def get_input_types(self) -> list[dict[str, Any]]:
        """V2 model metadata `inputs`: the accepted forms of the one input."""
        return protocol.input_metadata()

    def get_output_types(self) -> list[dict[str, Any]]:
        """V2 model metadata `outputs`: every output the predictor gives."""
        outputs = self.predictor.outputs if self.predictor is not None else ()
        return protocol.output_metadata(outputs, self.warm_up)

    async def predict(
        self,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> bytes:
        """Answer one V2 request (an InferRequest): the encoded response body; InvalidInput
        (a 400) for a bad request. The work runs in worker threads, off the event loop."""
        if not isinstance(payload, InferRequest):
            raise InvalidInput("this server speaks the Open Inference Protocol (V2) only")
        tensors = [_request_tensor(item) for item in payload.inputs]
        requested = [item.name for item in payload.request_outputs or ()]
        try:
            names = protocol.select_outputs(
                requested, self.predictor.outputs, self.predictor.default_outputs
            )
            images = await asyncio.to_thread(protocol.predictor_inputs, tensors, self.limits)
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                results = await asyncio.to_thread(self.predictor.predict, images)
        except BadRequestError as exc:
            raise InvalidInput(one_line(exc)) from None
        body, header_length = await asyncio.to_thread(
            self._encode, payload, results, names, len(images)
        )
        if header_length is not None and response_headers is not None:
            response_headers[HEADER_LENGTH] = str(header_length)
        return body

    def _encode(
        self, payload: Any, results: Mapping[str, Any], names: tuple[str, ...], batch: int
    ) -> tuple[bytes, int | None]:
        return protocol.encode_response(
            model_name=self.name,
            model_version=self.bundle.version_label,
            request_id=payload.id or str(uuid.uuid4()),  # V2 answers with an id, always
            parameters=protocol.response_parameters(self.bundle),
            outputs=protocol.response_tensors(results, names, batch),
            binary=_binary_choices(payload, names),
        )


def _request_tensor(item: Any) -> protocol.RequestTensor:
    return protocol.RequestTensor(
        name=item.name,
        datatype=item.datatype,
        shape=tuple(item.shape),
        data=item.data,
        parameters=dict(item.parameters or {}),
    )


def _binary_choices(payload: Any, names: tuple[str, ...]) -> dict[str, bool]:
    """Which outputs go as raw bytes (V2's binary data extension): an output's own
    `binary_data` parameter, else the request's `binary_data_output`, else none."""
    default = bool((payload.parameters or {}).get("binary_data_output", False))
    asked = {item.name: item.binary_data for item in payload.request_outputs or ()}
    return {name: default if asked.get(name) is None else bool(asked[name]) for name in names}


def _import_predictor(name: str, code_root: Path) -> ModuleType:
    """Import the predictor module from `code_root` (put first on sys.path, and kept there:
    the predictor may import more of the project's code while it serves)."""
    root = str(code_root.resolve())
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        raise ServeError(
            f"cannot import the predictor module {name} from {root}: {type(exc).__name__}: {exc}",
            "check the code root (the project's root; --code-root in the serving image)",
        ) from exc
    where = getattr(module, "__file__", None)
    if where is None or not Path(where).resolve().is_relative_to(root):
        raise ServeError(
            f"the predictor module {name} was imported from {where}, not from {root}",
            "another module of that name was imported first; serve in a fresh process",
        )
    return module


def _check_predictor(predictor: Any, name: str) -> None:
    outputs = getattr(predictor, "outputs", None)
    default = getattr(predictor, "default_outputs", None)
    fix = "see pedigree.stagekit.Predictor for the contract"
    if not callable(getattr(predictor, "predict", None)):
        raise ServeError(f"{name}.load returned {type(predictor).__name__}, no predictor", fix)
    if (
        not isinstance(outputs, tuple)
        or not outputs
        or not all(isinstance(n, str) for n in outputs)
    ):
        raise ServeError(f"{name}'s predictor: `outputs` must be a non-empty tuple of names", fix)
    if not isinstance(default, tuple) or not default or not set(default) <= set(outputs):
        raise ServeError(
            f"{name}'s predictor: `default_outputs` must be a non-empty tuple of its outputs "
            f"({', '.join(outputs)})",
            fix,
        )


class ServeDataPlane(DataPlane):
    """KServe's data plane, with the model's version in its metadata and binary-extension
    requests read by `binary.py` (each input's bytes kept whole)."""

    def metadata(self) -> dict[str, Any]:
        """V2 server metadata: KServe's, without the model repository extension (it is off)."""
        metadata: dict[str, Any] = super().metadata()
        metadata["extensions"] = []
        return metadata

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        """V2 model metadata, plus `versions` and `platform`."""
        metadata: dict[str, Any] = await super().model_metadata(model_name)
        model = self.get_model_from_registry(model_name)
        if isinstance(model, ServedModel):
            metadata["versions"] = [model.bundle.version_label]
            metadata["platform"] = "pedigree"
        return metadata

    def decode_inference_request(
        self, body: Any, headers: Mapping[str, str], model_name: str
    ) -> Any:
        """An InferRequest from a JSON body (KServe) or a binary-extension body (ours)."""
        if not isinstance(body, bytes):
            return super().decode_inference_request(body, headers, model_name)
        try:
            request = parse_binary_request(body, headers.get(HEADER_LENGTH))
        except BadRequestError as exc:
            raise InvalidInput(one_line(exc)) from None
        return InferRequest(
            model_name=model_name,
            infer_inputs=[
                InferInput(t.name, list(t.shape), t.datatype, data=t.data, parameters=t.parameters)
                for t in request.inputs
            ],
            request_id=request.id,
            parameters=dict(request.parameters),
            request_outputs=[RequestedOutput(o.name, dict(o.parameters)) for o in request.outputs]
            or None,
        )
