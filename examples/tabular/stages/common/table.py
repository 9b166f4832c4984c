"""The customer table as CSV, and stable JSON: the same data always gives the same bytes.

A table is a header (`row_id`, `customer_id`, the feature columns, `label`) and its rows, kept
as the exact CSV lines they were read from, so a row's sha256 names its content wherever it is
copied. Numbers are written with a fixed number of decimals, JSON with sorted keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ID, GROUP, LABEL = "row_id", "customer_id", "label"
DECIMALS = 6


@dataclass(frozen=True)
class Table:
    """Rows of the customer table: ids, groups, features (n x d), labels and the CSV lines."""

    features: tuple[str, ...]
    ids: tuple[str, ...]
    groups: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    lines: tuple[str, ...]

    @property
    def header(self) -> str:
        """The CSV header line."""
        return ",".join((ID, GROUP, *self.features, LABEL))

    def take(self, rows: list[int]) -> Table:
        """The table of the rows at these positions, in this order."""
        return Table(
            self.features,
            tuple(self.ids[i] for i in rows),
            tuple(self.groups[i] for i in rows),
            self.x[rows],
            self.y[rows],
            tuple(self.lines[i] for i in rows),
        )


def row_line(row_id: str, group: str, values: np.ndarray, label: int) -> str:
    """One CSV line (without its newline), numbers with DECIMALS decimals."""
    numbers = ",".join(f"{v:.{DECIMALS}f}" for v in values)
    return f"{row_id},{group},{numbers},{label}"


def write_table(path: Path, header: str, lines: tuple[str, ...] | list[str]) -> None:
    """Write a CSV file: the header, then one line per row, each ending in a newline."""
    path.write_text("".join(f"{line}\n" for line in (header, *lines)), encoding="utf-8")


def read_table(path: Path) -> Table:
    """Read a CSV file written by write_table; ValueError naming the file and line if it is not."""
    text = path.read_text(encoding="utf-8").splitlines()
    if not text:
        raise ValueError(f"{path} is empty")
    columns = text[0].split(",")
    if columns[:2] != [ID, GROUP] or columns[-1] != LABEL or len(columns) < 4:
        raise ValueError(f"{path}:1: expected columns {ID},{GROUP},<features>,{LABEL}")
    ids, groups, x, y = [], [], [], []
    for number, line in enumerate(text[1:], start=2):
        cells = line.split(",")
        if len(cells) != len(columns):
            raise ValueError(f"{path}:{number}: {len(cells)} cells, expected {len(columns)}")
        try:
            x.append([float(v) for v in cells[2:-1]])
            y.append(int(cells[-1]))
        except ValueError:
            raise ValueError(f"{path}:{number}: a feature or the label is not a number") from None
        ids.append(cells[0])
        groups.append(cells[1])
    width = len(columns) - 3
    return Table(
        tuple(columns[2:-1]),
        tuple(ids),
        tuple(groups),
        np.array(x, dtype=np.float64).reshape(-1, width),
        np.array(y, dtype=np.int64),
        tuple(text[1:]),
    )


def dumps(document: Any) -> str:
    """`document` as indented, key-sorted JSON ending in a newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_json_atomically(path: Path, document: Any) -> None:
    """Write a JSON file that appears complete or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.partial-{os.getpid()}")
    scratch.write_text(dumps(document), encoding="utf-8")
    os.replace(scratch, path)


def standardize(x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Features scaled with the train split's mean and std (stats.json)."""
    return (x - np.array(stats["mean"])) / np.array(stats["std"])


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, safe for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))
