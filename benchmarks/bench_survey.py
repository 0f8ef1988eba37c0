"""Benchmark a survey on Dask: the same visits with 1 worker and with N workers.

8 visits of 100,000 frames (2 segment files each, seeded synthetic
products on disk) go through `spelunker.survey.run_survey` (quick-look
profile, files read where they are, no download) on a fresh LocalCluster of
1 worker, then of ``--workers`` workers, in the same run.  Printed: the wall
time of each survey on a ready cluster (its start-up, a few seconds paid once
per survey whatever its size, is timed and printed apart), the ratio (target >= 1.7x
with 2 workers on the 2-core machines), visits per hour per worker, the
median task wall and CPU time per visit and the peak RSS of each worker
process.  The machine must be otherwise idle: with other work on the cores
the ratio measures the contention, not the survey (compare the task CPU
time with its wall time).

    python benchmarks/bench_survey.py [--visits 8] [--n-frames 100000] [--workers 2]
    python benchmarks/bench_survey.py --visits 1 --n-frames 1000000 --serial-only

The second form measures one 1M-frame visit: the per-worker peak memory of a
survey (one visit per worker at a time).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

FRAMES_PER_SEGMENT = 50_000


def make_visits(directory, n_visits, n_frames):
    from spelunker import datasets

    if sorted(Path(directory).glob("*_cal.fits")):
        return
    segments = max(1, -(-n_frames // FRAMES_PER_SEGMENT))
    specs = [datasets.VisitSpec(observation=k + 1, visit=1, n_frames=n_frames,
                                n_segments=segments) for k in range(n_visits)]
    start = time.perf_counter()
    datasets.make_guidestar_files(directory, visits=specs, program=1534, seed=8)
    print(f"generated {n_visits} visits x {n_frames:,} frames in "
          f"{time.perf_counter() - start:.0f} s into {directory}")


def _warm():
    """Import what a visit task needs (what a worker does once, on its first task)."""
    import spelunker.stpipe  # noqa: F401

    return True


def survey(data, output, workers):
    """The survey on a ready LocalCluster of ``workers``; start-up timed apart."""
    from distributed import Client, LocalCluster

    from spelunker.survey import run_survey

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(_warm)
        ready = time.perf_counter() - start
        start = time.perf_counter()
        table = run_survey(output, input_dir=data, scheduler=cluster.scheduler_address,
                           rerun=True, progress=False)
        wall = time.perf_counter() - start
    print(f"{workers} worker(s): cluster start-up and imports {ready:.1f} s (once per survey)")
    bad = [f"{r['visit_id']}: {r['error']}" for r in table if r["status"] != "ok"]
    if bad:
        raise SystemExit("visits failed:\n" + "\n".join(bad))
    peaks = {}
    for row in table:
        peaks[row["worker"]] = max(peaks.get(row["worker"], 0.0), float(row["worker_peak_rss"]))
    elapsed = np.asarray(table["elapsed"], dtype=float)
    cpu = np.asarray(table["cpu_time"], dtype=float)
    per_hour = len(table) / (wall / 3600.0) / workers
    print(f"{workers} worker(s): {len(table)} visits in {wall:.1f} s wall "
          f"({per_hour:.0f} visits/hour/worker; task time per visit median "
          f"{statistics.median(elapsed):.1f} s, CPU {statistics.median(cpu):.1f} s); "
          f"peak RSS per worker "
          + ", ".join(f"{mb:.0f} MB" for mb in sorted(peaks.values())))
    return wall, table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=8)
    parser.add_argument("--n-frames", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial-only", action="store_true", help="only the 1-worker survey")
    parser.add_argument("--data-dir", help="keep the generated visits here (reused if present)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_survey_") as tmp:
        data = Path(args.data_dir) if args.data_dir else Path(tmp) / "visits"
        data.mkdir(parents=True, exist_ok=True)
        make_visits(data, args.visits, args.n_frames)
        print(f"survey of {args.visits} visits x {args.n_frames:,} frames (quick-look profile, "
              "files on disk)")
        serial, table = survey(data, Path(tmp) / "one", 1)
        frames = int(np.sum(table["n_frames"]))
        product_mb = float(np.median(np.asarray(table["product_bytes"], dtype=float))) / 1e6
        cpu = float(np.sum(table["cpu_time"]))
        print(f"  per visit: {serial / args.visits:.1f} s wall; {serial / frames * 1e6:.1f} us "
              f"wall and {cpu / frames * 1e6:.1f} us CPU per frame (1 worker); product "
              f"{product_mb:.0f} MB ({product_mb * 1e6 / args.n_frames:.0f} bytes per frame)")
        if args.serial_only:
            return
        parallel, _ = survey(data, Path(tmp) / "many", args.workers)
        ratio = serial / parallel
        target = 1.7 if args.workers == 2 else 0.85 * args.workers
        print(f"speed-up 1 -> {args.workers} workers: {ratio:.2f}x  target >= {target:.2f}x: "
              f"{'met' if ratio >= target else 'MISSED'}")


if __name__ == "__main__":
    main()
