"""Cost of determinism: train the default model with and without op determinism, alternating.

Each run is a fresh `python -m stages.train` process through the stage launcher (same seeds,
same fixed threads; only `determinism.op_determinism` differs) on the project's data/prepared
(run `make run` first). The figure is the training time the stage reports (model.fit, without
interpreter start-up and TensorFlow import); the script prints the medians and their ratio.
Goal: ratio <= 1.15 (the published reference for a fully deterministic TensorFlow run was
3.75x: 28 min -> 105 min).

The runs only read the project (params.yaml, data/prepared, models/tune): they work in a
temporary folder, which is their working directory and holds their params, models and logs, and
they record no lineage (`PEDIGREE_LINEAGE=off`), so the project's lineage/, dvc.lock and outputs
are never touched.

    .venv/bin/python benchmarks/determinism_overhead.py [--repeats 3] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.15
FIT_TIME = re.compile(r"train: (\d+) epochs in ([0-9.]+)s")


def train_command(params_file: Path, work: Path, tag: str) -> tuple[list[str], dict[str, str]]:
    """The launcher command line of one run and its environment; it runs with `work` as its
    working directory and writes only under `work` (absolute paths for everything it reads)."""
    out = work / tag
    argv = [sys.executable, "-m", "pedigree.launch", "--stage", f"bench-{tag}", "--"]
    argv += [sys.executable, "-m", "stages.train", "--params", str(params_file)]
    argv += ["--prepared", str(ROOT / "data" / "prepared")]
    argv += ["--best-params", str(ROOT / "models" / "tune" / "best_params.json")]
    argv += ["--model", str(out / "model.keras"), "--out", str(out / "train")]
    argv += ["--logs", str(out / "tensorboard")]
    env = dict(os.environ)
    # the stages package comes from the project; the working directory is the scratch folder
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PEDIGREE_LINEAGE"] = "off"  # a benchmark run is no pipeline run: no lineage record
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return argv, env


def train_seconds(params: dict, work: Path, tag: str) -> float:
    """Run train once with `params` in `work`; return the fit time it reports."""
    params_file = work / f"params-{tag}.yaml"
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    argv, env = train_command(params_file, work, tag)
    result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    match = FIT_TIME.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"train failed ({result.returncode}):\n{result.stdout[-3000:]}")
    return float(match.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (no early stop)")
    args = parser.parse_args()
    if not (ROOT / "data" / "prepared" / "stats.json").is_file():
        raise SystemExit("no data/prepared: run `make run` (or `pedigree run`) first")
    if not (ROOT / "models" / "tune" / "best_params.json").is_file():
        raise SystemExit("no models/tune/best_params.json: run `pedigree run` first")
    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    base["train"]["epochs"] = args.epochs
    base["train"]["patience"] = args.epochs  # never stop early: equal work in every run
    on = dict(base, determinism=dict(base["determinism"], op_determinism=True))
    off = dict(base, determinism=dict(base["determinism"], op_determinism=False))
    times: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="pedigree-det-") as tmp:
        work = Path(tmp)
        for i in range(args.repeats):
            # alternate which goes first so drift in machine load hits both alike
            order = [("on", on), ("off", off)] if i % 2 == 0 else [("off", off), ("on", on)]
            for tag, params in order:
                seconds = train_seconds(params, work, tag)
                times[tag].append(seconds)
                print(f"run {i + 1}: op determinism {tag:>3}: {seconds:.1f}s", flush=True)
    det, nondet = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"median fit time, op determinism on:  {det:.1f}s ({args.epochs} epochs)")
    print(f"median fit time, op determinism off: {nondet:.1f}s")
    verdict = "met" if det / nondet <= GOAL else "NOT met"
    print(
        f"ratio deterministic / non-deterministic: {det / nondet:.3f} (goal <= {GOAL}: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
