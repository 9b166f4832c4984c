"""What lineage capture costs: the full pipeline with and without it.

On a fresh copy of the project, runs the whole pipeline (`pedigree run --force`, every stage
executed) alternately with lineage capture on (the default) and off (`PEDIGREE_LINEAGE=off`:
no record, no OpenLineage events), and prints the median wall time of each and their ratio.
Goal: ratio <= 1.02. The order alternates so that drift in machine load hits both equally.

    .venv/bin/python benchmarks/lineage_overhead.py [--repeats 3] [--tiny]

With the default data each run takes minutes (the whole pipeline: tune and train dominate);
--tiny uses the test suite's tiny data, where fixed costs weigh far more than they do at scale.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import BIN, TINY_PARAMS, make_pets_project, project_env  # noqa: E402

GOAL = 1.02
SWITCH = "PEDIGREE_LINEAGE"


def _run(root: Path, lineage: bool) -> float:
    env = project_env()
    env.pop(SWITCH, None)
    if not lineage:
        env[SWITCH] = "off"
    argv = [str(BIN / "pedigree"), "run", "--force"]
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind")
    parser.add_argument("--tiny", action="store_true", help="tiny data (fixed costs dominate)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pedigree-lineage-") as tmp:
        root = make_pets_project(Path(tmp) / "pets", TINY_PARAMS if args.tiny else {})
        print(f"set-up: first full run in {_run(root, True):.1f}s", flush=True)
        on: list[float] = []
        off: list[float] = []
        for i in range(args.repeats):
            order = [(True, on), (False, off)] if i % 2 == 0 else [(False, off), (True, on)]
            for lineage, sink in order:
                sink.append(_run(root, lineage))
                label = "with" if lineage else "without"
                print(f"  run {i + 1}: {label} lineage {sink[-1]:.1f}s", flush=True)
        records = sorted(p.name for p in (root / "lineage").glob("*.json"))
        print(f"lineage records kept: {', '.join(records)}")
    with_, without = statistics.median(on), statistics.median(off)
    print(f"with lineage:    median {with_:.1f}s over {args.repeats} runs")
    print(f"without lineage: median {without:.1f}s over {args.repeats} runs")
    ratio = with_ / without
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"ratio with/without: {ratio:.3f} (goal <= {GOAL:.2f}: {verdict})")
    return 0


if __name__ == "__main__":
    os.environ.pop(SWITCH, None)
    sys.exit(main())
