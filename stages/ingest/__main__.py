"""`python -m stages.ingest --params params.yaml --out data/raw`: bring the raw data in.

Resolves `ingest.source` (synthetic, folder, tarball or https URL), loads it with the one
Oxford-IIIT Pet loader, and writes data/raw atomically with a manifest of every sample and
every skipped file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pedigree.stagekit import load_params, run_stage
from stages.ingest.params import IngestParams
from stages.ingest.sources import open_source
from stages.ingest.writer import write_raw

SHOWN_SKIPS = 5
DESCRIPTION = "Bring the Oxford-IIIT Pet data (or a synthetic stand-in) into data/raw."


def main(argv: list[str] | None = None) -> int:
    """Run the ingest stage; return the exit code (errors are raised as PedigreeError)."""
    parser = argparse.ArgumentParser(prog="python -m stages.ingest", description=DESCRIPTION)
    parser.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="params file (default: params.yaml)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data/raw"), help="output folder (default: data/raw)"
    )
    args = parser.parse_args(argv)
    params = load_params("ingest", IngestParams, args.params)
    started = time.monotonic()
    with open_source(params, Path.cwd()) as source:
        manifest = write_raw(source, args.out)
    counts = manifest["counts"]
    where = source.location if source.kind == "synthetic" else f"{source.kind} {source.location}"
    print(f"ingest: source {where}")
    print(
        f"ingest: {counts['samples']} samples ({counts['cats']} cats, {counts['dogs']} dogs, "
        f"{counts['animals']} animals), {counts['skipped']} skipped -> {args.out} "
        f"in {time.monotonic() - started:.1f}s"
    )
    for skip in manifest["skipped"][:SHOWN_SKIPS]:
        print(f"  skipped {skip['file']}: {skip['reason']}")
    if counts["skipped"] > SHOWN_SKIPS:
        print(f"  ... and {counts['skipped'] - SHOWN_SKIPS} more (see manifest.json)")
    return 0


if __name__ == "__main__":
    run_stage(main)
