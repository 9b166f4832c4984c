"""`python -m stages.labels`: audit the given labels against out-of-fold predictions.

Reads params.yaml `labels`, every run folder under --predictions (one per fold x seed of
`pedigree replicate --folds K`) and --provenance; writes label_issues.csv and label_issues.json
into --out, both or neither (see stages.labels.outputs). Same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pedigree.stagekit import load_params, run_stage
from stages.labels import figure, outputs
from stages.labels.audit import audit
from stages.labels.params import LabelsParams
from stages.labels.provenance import read_sources
from stages.labels.runs import read_run, run_folders
from stages.labels.samples import combine


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.labels",
        description="Rank images by label quality with cleanlab and flag likely label errors.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--predictions",
        type=Path,
        default=Path("predictions"),
        help="a folder of run folders (index.json, probabilities.npy, labels.npy, images.npy)",
    )
    parser.add_argument("--provenance", type=Path, default=Path("data/prepared/provenance.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("reports"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the stage; return 0 on success (errors are raised as PedigreeError)."""
    args = _parser().parse_args(argv)
    params = load_params("labels", LabelsParams, args.params)
    started = time.monotonic()
    # Every input is read and checked before cleanlab is imported or anything is written.
    samples = combine([read_run(folder) for folder in run_folders(args.predictions)])
    sources = read_sources(args.provenance, samples.ids)
    result = audit(samples)
    rows = outputs.rank(samples, result, params.threshold)
    worst = [row.index for row in rows[: params.examples]]
    doc = outputs.document(
        rows,
        samples,
        params.threshold,
        params.examples,
        result.cleanlab_version,
        figure.png_base64(samples, worst),
    )
    outputs.write_files(
        args.out,
        {
            outputs.ISSUES_CSV: outputs.csv_bytes(rows, sources),
            outputs.ISSUES_JSON: outputs.json_bytes(doc),
        },
    )
    seconds = time.monotonic() - started
    flagged = len(doc["flagged"])
    print(
        f"labels: {len(rows)} images from {len(samples.run_names)} run(s) in {seconds:.1f}s, "
        f"{flagged} flagged (estimated wrong-pixel fraction > {params.threshold:g}); "
        f"cleanlab {result.cleanlab_version}\n"
        f"  worst: {', '.join(f'{r.id} ({r.wrong_pixel_fraction:.3f})' for r in rows[:3])}\n"
        f"  -> {args.out / outputs.ISSUES_CSV}, {args.out / outputs.ISSUES_JSON}"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
