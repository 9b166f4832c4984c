"""KServe, imported once with a clean sys.argv (the only module of pedigree that imports it).

`kserve` imports `kserve.model_server`, which parses sys.argv with its own argparse parser at
import time: `pedigree serve --port 9000` would hand it our flags. So the import runs with
argv cut to the program name, and every other module takes KServe's names from here. KServe
ships no type information; its names are `Any` to mypy.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from pedigree.errors import ToolError


@contextlib.contextmanager
def _program_name_only() -> Iterator[None]:
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


try:
    import kserve  # type: ignore[import-untyped]  # noqa: F401 - present, or a clear error
except ModuleNotFoundError as exc:
    raise ToolError(
        f"serving needs KServe's model server, which is not installed ({exc.msg})",
        "install pedigree with its serving extra: pip install 'pedigree[serve]' "
        "(`make install` includes it)",
    ) from None

with _program_name_only():
    import kserve.model_server as model_server  # type: ignore[import-untyped]
    from kserve import (
        InferInput,
        InferRequest,
        Model,
        ModelServer,
    )
    from kserve import logging as kserve_logging
    from kserve.errors import (  # type: ignore[import-untyped]
        InferenceError,
        InvalidInput,
        ModelNotFound,
        ModelNotReady,
        ServerNotLive,
        ServerNotReady,
        UnsupportedProtocol,
    )
    from kserve.protocol.dataplane import DataPlane  # type: ignore[import-untyped]
    from kserve.protocol.infer_type import RequestedOutput  # type: ignore[import-untyped]
    from kserve.protocol.rest.server import metrics_handler  # type: ignore[import-untyped]
    from kserve.protocol.rest.v2_endpoints import (  # type: ignore[import-untyped]
        register_v2_endpoints,
    )

__all__ = [
    "DataPlane",
    "InferInput",
    "InferRequest",
    "InferenceError",
    "InvalidInput",
    "Model",
    "ModelNotFound",
    "ModelNotReady",
    "ModelServer",
    "RequestedOutput",
    "ServerNotLive",
    "ServerNotReady",
    "UnsupportedProtocol",
    "kserve_logging",
    "metrics_handler",
    "model_server",
    "register_v2_endpoints",
]
