"""How the transform stage's time and peak memory grow with the size of the data set.

Builds a synthetic data/raw (random smooth RGB JPEGs and ellipse trimaps, made with Pillow and
described by a manifest that follows the ingest -> transform contract; the ingest stage itself
is not imported) at 1x, 4x and 16x a base size, runs `python -m stages.transform` on each as a
child process, and reads that child's wall time and peak RSS (os.wait4's rusage; ru_maxrss is
in KiB on Linux). The stage streams, so the goals are: time linear in the number of images
(ratio time(16x) / (16 * time(1x)) near 1 once the fixed start-up cost is taken out) and peak
memory flat (ratio 16x / 1x near 1).

A fixed cost (starting Python and importing TensorFlow) is measured separately with the same
method and reported, because at small sizes it dominates the raw wall time.

Everything is written to a temporary folder, which is also the children's working directory:
the project is only read (its code and, by default, its params.yaml).

Usage (from the repository root):  .venv/bin/python benchmarks/transform_scaling.py [--base N]
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
BREEDS = [("Bengal", 6, "cat"), ("Sphynx", 34, "cat"), ("pug", 26, "dog"), ("samoyed", 30, "dog")]
STARTUP_CODE = (
    "from stages.transform.shards import load_tf; load_tf(); import stages.transform.pipeline"
)


@dataclass
class Measure:
    """One child process: wall seconds, peak RSS in MiB, exit code."""

    wall_s: float
    peak_mib: float
    code: int


def child_env() -> dict[str, str]:
    """The children's environment: the project's `stages` importable from any folder, and no
    bytecode written next to its sources."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def measure(cmd: list[str], log: Path) -> Measure:
    """Run `cmd` in the folder of `log` (the benchmark's scratch folder, never the project);
    time it and read its own peak RSS via wait4."""
    with log.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=log.parent, env=child_env(), stdout=sink, stderr=subprocess.STDOUT
        )
        # wait4 reaps exactly this child and returns its rusage (RUSAGE_CHILDREN would mix runs).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped; keep Popen consistent
    return Measure(wall, usage.ru_maxrss / 1024, proc.returncode)


def _image(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    # Smooth colour fields (upscaled 6x6 noise) plus light grain: photo-like JPEG sizes.
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BILINEAR), dtype=np.int16)
    grain = rng.integers(-12, 13, (height, width, 3), dtype=np.int16)
    return Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8), "RGB")


def _trimap(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    trimap = Image.new("L", (width, height), 2)
    draw = ImageDraw.Draw(trimap)
    x0, y0 = int(rng.integers(0, width // 3)), int(rng.integers(0, height // 3))
    x1, y1 = int(rng.integers(2 * width // 3, width)), int(rng.integers(2 * height // 3, height))
    draw.ellipse((x0, y0, x1, y1), fill=3)
    draw.ellipse((x0 + 3, y0 + 3, x1 - 3, y1 - 3), fill=1)
    return trimap


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_pool(raw: Path, count: int, seed: int) -> list[dict[str, object]]:
    """Write `count` samples into `raw` (images/, annotations/trimaps/); return manifest entries."""
    rng = np.random.default_rng(seed)
    (raw / "images").mkdir(parents=True)
    (raw / "annotations" / "trimaps").mkdir(parents=True)
    samples: list[dict[str, object]] = []
    animal, left_for_animal = 0, 0
    for n in range(count):
        breed, class_id, species = BREEDS[animal % len(BREEDS)]
        if left_for_animal == 0:  # 2..5 photos per animal, like the real data set
            animal += 1
            left_for_animal = int(rng.integers(2, 6))
            breed, class_id, species = BREEDS[animal % len(BREEDS)]
        left_for_animal -= 1
        sample_id = f"{breed}_{n + 1}"
        height, width = int(rng.integers(160, 321)), int(rng.integers(160, 321))
        image_rel, trimap_rel = f"images/{sample_id}.jpg", f"annotations/trimaps/{sample_id}.png"
        _image(rng, height, width).save(raw / image_rel, quality=90)
        _trimap(rng, height, width).save(raw / trimap_rel)
        image_sha, trimap_sha = _sha(raw / image_rel), _sha(raw / trimap_rel)
        samples.append(
            {
                "id": sample_id,
                "animal_id": f"{breed}-a{animal:05d}",
                "breed": breed,
                "class_id": class_id,
                "species": species,
                "image": image_rel,
                "trimap": trimap_rel,
                "image_sha256": image_sha,
                "trimap_sha256": trimap_sha,
                "raw_image_sha256": image_sha,
                "raw_trimap_sha256": trimap_sha,
                "width": width,
                "height": height,
                "conversions": [],
            }
        )
    return samples


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_raw(pool: Path, samples: list[dict[str, object]], raw: Path) -> None:
    """A data/raw holding `samples` from `pool` (hard links: no extra disk), with its manifest."""
    if raw != pool:
        (raw / "images").mkdir(parents=True)
        (raw / "annotations" / "trimaps").mkdir(parents=True)
        for sample in samples:
            for key in ("image", "trimap"):
                _link_or_copy(pool / str(sample[key]), raw / str(sample[key]))
    manifest = {
        "source": {"kind": "benchmark"},
        "samples": samples,
        "skipped": [],
        "counts": {"samples": len(samples)},
    }
    (raw / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def _folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    """Build the data sets, run the stage on each, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=int, default=100, help="images at 1x (default 100)")
    parser.add_argument("--scales", default="1,4,16", help="comma-separated multiples of --base")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"), help="params file to use")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--repeats", type=int, default=3, help="runs per scale; medians are used")
    args = parser.parse_args(argv)
    scales = sorted({int(s) for s in args.scales.split(",")})
    work = Path(tempfile.mkdtemp(prefix="transform-scaling-"))
    try:
        started = time.perf_counter()
        largest = work / f"raw-{scales[-1]}x"
        pool = build_pool(largest, args.base * scales[-1], args.seed)
        print(f"generated {len(pool)} images in {time.perf_counter() - started:.1f} s ({work})")
        for scale in scales:
            write_raw(largest, pool[: args.base * scale], work / f"raw-{scale}x")
        startups: list[Measure] = []
        runs: dict[int, list[Measure]] = {scale: [] for scale in scales}
        out_mib: dict[int, float] = {}
        # Round-robin over the scales so drift in machine load hits every scale alike.
        for _ in range(args.repeats):
            startups.append(measure([sys.executable, "-c", STARTUP_CODE], work / "startup.log"))
            for scale in scales:
                out = work / f"prepared-{scale}x"
                cmd = [
                    sys.executable,
                    "-m",
                    "stages.transform",
                    "--params",
                    str(Path(args.params).resolve()),
                    "--raw",
                    str(work / f"raw-{scale}x"),
                    "--out",
                    str(out),
                ]
                result = measure(cmd, work / f"run-{scale}x.log")
                if result.code != 0:
                    print((work / f"run-{scale}x.log").read_text(), file=sys.stderr)
                    print(f"stage failed at {scale}x (exit {result.code})", file=sys.stderr)
                    return 1
                runs[scale].append(result)
                out_mib[scale] = _folder_mib(out)
                shutil.rmtree(out)
        rows = [
            (scale, args.base * scale, _median(runs[scale]), out_mib[scale]) for scale in scales
        ]
        report(_median(startups), rows)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _median(measures: list[Measure]) -> Measure:
    """Median wall time and the largest peak over repeated runs."""
    return Measure(
        statistics.median(m.wall_s for m in measures), max(m.peak_mib for m in measures), 0
    )


def report(startup: Measure, rows: list[tuple[int, int, Measure, float]]) -> None:
    """Print the table and the linearity / flatness ratios."""
    print(
        f"\nfixed start-up (python + TensorFlow import): {startup.wall_s:.2f} s, "
        f"peak RSS {startup.peak_mib:.0f} MiB"
    )
    print(
        f"\n{'scale':>5} {'images':>7} {'wall s':>8} {'ms/img':>8} {'net ms/img':>11} "
        f"{'peak MiB':>9} {'out MiB':>8}"
    )
    for scale, images, m, out_mib in rows:
        net = max(m.wall_s - startup.wall_s, 0.0)
        print(
            f"{scale:>4}x {images:>7} {m.wall_s:>8.2f} {1000 * m.wall_s / images:>8.2f} "
            f"{1000 * net / images:>11.2f} {m.peak_mib:>9.0f} {out_mib:>8.1f}"
        )
    (s1, n1, m1, _), (sk, nk, mk, _) = rows[0], rows[-1]
    factor = nk / n1
    net1, netk = m1.wall_s - startup.wall_s, mk.wall_s - startup.wall_s
    label = f"time({sk}x) / ({factor:g} * time({s1}x))"
    print(
        f"\n{label}, raw wall time:    {mk.wall_s / (factor * m1.wall_s):.3f}"
        "   (the fixed start-up pulls this below 1)"
    )
    if net1 > 0:
        print(f"{label}, net of start-up: {netk / (factor * net1):.3f}   (goal ~1: linear)")
    if len(rows) >= 3:
        # Marginal cost per image between consecutive scales: the start-up cancels out.
        (_, na, ma, _), (_, nb, mb, _), (_, nc, mc, _) = rows[0], rows[1], rows[2]
        low = (mb.wall_s - ma.wall_s) / (nb - na)
        high = (mc.wall_s - mb.wall_s) / (nc - nb)
        print(
            f"marginal ms/img {na}->{nb}: {1000 * low:.2f}, {nb}->{nc}: {1000 * high:.2f}; "
            f"ratio {high / low:.3f}   (goal ~1: linear)"
        )
    print(f"peak RSS {sk}x / {s1}x: {mk.peak_mib / m1.peak_mib:.3f}   (goal ~1: flat)")
    above1, abovek = m1.peak_mib - startup.peak_mib, mk.peak_mib - startup.peak_mib
    print(f"peak RSS above start-up, {s1}x -> {sk}x: {above1:.0f} MiB -> {abovek:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
