"""Command line of the transform stage: `python -m stages.transform [--params --raw --out]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pedigree.stagekit import load_params, run_stage
from stages.transform.params import SPLITS, TransformParams
from stages.transform.pipeline import run_transform


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.transform",
        description="Split, resize and shard data/raw into TFRecords under data/prepared.",
    )
    parser.add_argument("--params", default="params.yaml", help="params file (section 'transform')")
    parser.add_argument("--raw", default="data/raw", help="ingest's output folder")
    parser.add_argument("--out", default="data/prepared", help="folder to (re)create")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the stage; return 0 on success (errors are raised as PedigreeError)."""
    args = _parser().parse_args(argv)
    params = load_params("transform", TransformParams, Path(args.params))
    summary = run_transform(params, Path(args.raw), Path(args.out))
    height, width = params.image_size
    total = sum(summary.samples.values())
    print(f"transform: {total} samples from {args.raw} -> {args.out} ({height}x{width})")
    for split in SPLITS:
        count, shards = summary.samples[split], summary.shards[split]
        print(f"  {split:<12} {count:>7} samples  {shards:>4} shards")
    if params.split.groups is not None:
        print(f"  split by {params.split.groups}: {summary.left_out} samples left out")
    print(f"  train mean {summary.mean}  std {summary.std}")
    return 0


if __name__ == "__main__":
    run_stage(main)
