"""Stage split: data/raw/rows.csv -> data/splits/{train,validation,test}/rows.csv + records.

A row's split is decided by hashing its customer id into one of `buckets` buckets, so every row
of a customer lands in the same split, whatever the order or the number of rows. Under
`pedigree replicate --folds K` a fold's map (params split.groups, read with
`pedigree.stagekit.read_fold_map`) decides each customer's split instead, and the rows of
customers it does not list (the test split's) are left out. (Set
`split.by: row_id` to hash each row on its own instead: customers then straddle splits and
`pedigree audit` reports the leak.) The feature statistics are learned from the train split
only. `write_split_records` writes what `pedigree audit` reads: provenance.jsonl, splits.json,
each split's index.json and stats.json.

Run as `python -m stages.split --params params.yaml --raw data/raw --out data/splits`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pedigree.stagekit import (
    SplitSample,
    atomic_output,
    load_params,
    read_fold_map,
    run_stage,
    sha256_bytes,
    write_split_records,
)
from stages.common.table import DECIMALS, GROUP, Table, read_table, write_table

from .params import SPLITS, Params

TABLE = "rows.csv"


def assign(table: Table, params: Params) -> dict[str, list[int]]:
    """Split name -> positions of its rows, in table order."""
    keys = table.groups if params.by == GROUP else table.ids
    chosen = None if params.groups is None else read_fold_map(Path(params.groups), SPLITS)
    positions: dict[str, list[int]] = {name: [] for name in SPLITS}
    for position, key in enumerate(keys):
        if chosen is None:
            positions[params.split_of(key)].append(position)
        elif table.groups[position] in chosen:
            positions[chosen[table.groups[position]]].append(position)
    return positions


def main(argv: list[str]) -> int:
    """Split the table and write the split records."""
    parser = argparse.ArgumentParser(prog="stages.split")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params("split", Params, args.params)
    table = read_table(args.raw / TABLE)
    positions = assign(table, params)
    train = table.take(positions["train"])
    stats = {
        "features": list(table.features),
        "mean": [round(float(v), DECIMALS) for v in train.x.mean(axis=0)],
        "std": [round(float(v), DECIMALS) for v in train.x.std(axis=0)],
    }
    samples = []
    with atomic_output(args.out) as out:
        for name in SPLITS:
            part = table.take(positions[name])
            (out / name).mkdir()
            write_table(out / name / TABLE, table.header, part.lines)
            samples += [
                SplitSample(row, group, name, sha256_bytes(line.encode("utf-8")), TABLE)
                for row, group, line in zip(part.ids, part.groups, part.lines, strict=True)
            ]
        write_split_records(
            out, samples, splits=SPLITS, group_key=GROUP, stats=stats, train="train"
        )
    counts = ", ".join(f"{name} {len(positions[name])}" for name in SPLITS)
    print(f"split: rows by {params.by}: {counts}")
    return 0


if __name__ == "__main__":
    run_stage(main)
