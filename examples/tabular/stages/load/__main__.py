"""Stage load: generates the synthetic customer table, data/raw/rows.csv (seeded).

Each customer has a hidden trait that shifts its features and its label, so rows of one
customer resemble each other: a model that saw a customer in training scores that customer's
other rows too well. That is why `split` keeps every customer in one split.

Run as `python -m stages.load --params params.yaml --out data/raw`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pedigree.stagekit import atomic_output, load_params, run_stage
from stages.common.table import GROUP, ID, LABEL, row_line, sigmoid, write_table

from .params import Params

TABLE = "rows.csv"


def generate(params: Params) -> tuple[str, list[str]]:
    """The CSV header and lines of the table."""
    rng = np.random.default_rng(params.seed)
    weights = rng.normal(0.0, 1.0, params.features)
    names = [f"x{i + 1}" for i in range(params.features)]
    lines = []
    low, high = params.rows_per_customer
    for customer in range(params.customers):
        trait = rng.normal(0.0, 1.0)
        for _ in range(int(rng.integers(low, high + 1))):
            x = rng.normal(0.0, 1.0, params.features) + params.trait * trait
            label = int(rng.random() < sigmoid(x @ weights + params.trait * trait))
            lines.append(row_line(f"r{len(lines):06d}", f"c{customer:05d}", x, label))
    return ",".join((ID, GROUP, *names, LABEL)), lines


def main(argv: list[str]) -> int:
    """Generate the table into the output folder."""
    parser = argparse.ArgumentParser(prog="stages.load")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params("load", Params, args.params)
    header, lines = generate(params)
    with atomic_output(args.out) as out:
        write_table(out / TABLE, header, lines)
    print(f"load: {len(lines)} rows of {params.customers} customers -> {args.out / TABLE}")
    return 0


if __name__ == "__main__":
    run_stage(main)
