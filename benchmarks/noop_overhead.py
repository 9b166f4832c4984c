"""No-op overhead of `pedigree run` against `dvc repro` on an up-to-date project.

On a fresh copy of the project, after one full run, times a no-op `pedigree run` and a no-op
`dvc repro` alternately (both as child processes of this script, so they pay the same start-up
costs) and prints the median of each and their ratio. Goal: ratio <= 1.10.

    .venv/bin/python benchmarks/noop_overhead.py [--repeats 11] [--tiny]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import BIN, TINY_PARAMS, make_pets_project, project_env  # noqa: E402

GOAL = 1.10


def _time(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=project_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--tiny", action="store_true", help="tiny data (faster set-up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pedigree-noop-") as tmp:
        root = make_pets_project(Path(tmp) / "pets", TINY_PARAMS if args.tiny else {})
        print(f"set-up: full run in {_time([str(BIN / 'pedigree'), 'run'], root):.1f}s")
        pedigree_argv = [str(BIN / "pedigree"), "run"]
        dvc_argv = [str(BIN / "dvc"), "repro"]
        _time(pedigree_argv, root)  # warm file-system caches for both
        _time(dvc_argv, root)
        ped, dvc = [], []
        for i in range(args.repeats):
            # alternate which goes first so drift in machine load hits both equally
            order = (
                [(pedigree_argv, ped), (dvc_argv, dvc)]
                if i % 2 == 0
                else [(dvc_argv, dvc), (pedigree_argv, ped)]
            )
            for argv, sink in order:
                sink.append(_time(argv, root))
        shutil.rmtree(root, ignore_errors=True)
    p, d = statistics.median(ped), statistics.median(dvc)
    print(f"no-op pedigree run: median {p * 1000:.0f} ms over {args.repeats} runs")
    print(f"no-op dvc repro:    median {d * 1000:.0f} ms over {args.repeats} runs")
    print(
        f"ratio pedigree/dvc: {p / d:.3f} "
        f"(goal <= {GOAL:.2f}: {'met' if p / d <= GOAL else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
