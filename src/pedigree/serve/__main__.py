"""The serving image's entry point: fetch the bundle's files, check them, serve.

    python -m pedigree.serve --host 0.0.0.0 --port 8080 --files /tmp/models \\
        [--bundle FILE] [--code-root DIR]

The bundle is the JSON in PEDIGREE_SERVE_BUNDLE (or `--bundle FILE`), with a `uri` on every
file. Refuses to start, with one line on stderr, when anything is wrong: exit 2 for a bad
bundle or a file whose bytes are not the recorded ones, 4 when the store cannot be read. Exits
0 after SIGTERM, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pedigree.bundle import BUNDLE_ENV, ServeBundle
from pedigree.errors import ExitCode, PedigreeError, ServeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pedigree.serve",
        description="Serve a released model (Open Inference Protocol V2 over REST). The bundle "
        f"comes from ${BUNDLE_ENV} or --bundle; its files are fetched by their uri into --files "
        "and checked against their hashes before the server reports ready.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (%(default)s)")
    parser.add_argument(
        "--files",
        type=Path,
        default=Path("/tmp/models"),
        help="folder the bundle's files are fetched into (%(default)s)",
    )
    parser.add_argument(
        "--bundle", type=Path, default=None, help=f"the bundle JSON file (default: ${BUNDLE_ENV})"
    )
    parser.add_argument(
        "--code-root",
        type=Path,
        default=None,
        help="folder holding the predictor module (default: the working directory)",
    )
    return parser


def _bundle(path: Path | None) -> ServeBundle:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ServeError(f"cannot read the bundle {path}: {exc}") from None
        return ServeBundle.from_json(text, str(path))
    text = os.environ.get(BUNDLE_ENV, "")
    if not text.strip():
        raise ServeError(
            f"no serve bundle: ${BUNDLE_ENV} is not set",
            "the serving manifest sets it (`pedigree models manifest`); or pass --bundle FILE",
        )
    return ServeBundle.from_json(text)


def _one_line(exc: PedigreeError) -> str:
    return exc.message if not exc.hint else f"{exc.message} (hint: {exc.hint})"


def main(argv: list[str] | None = None) -> int:
    """Run the entry point; the exit code."""
    args = _parser().parse_args(argv)
    try:
        bundle = _bundle(args.bundle)
        from pedigree.serve.fetch import fetch_bundle
        from pedigree.serve.server import run

        files = fetch_bundle(bundle, args.files)
        run(bundle, files, args.code_root or Path.cwd(), args.host, args.port)
    except PedigreeError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
