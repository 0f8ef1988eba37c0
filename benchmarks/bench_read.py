"""Benchmark: read a long visit (default 1,000,000 frames in 50 segment files).

Each reader runs in a fresh subprocess, three times; medians are printed.
Peak memory is the process's own high-water mark (``VmHWM``), which unlike
``ru_maxrss`` does not inherit the parent's size across ``exec``.  The
first datamodel a process creates loads every installed asdf extension (a
one-time cost of about a second, paid by any jwst datamodel); each worker
pays it before the clock starts and it is printed separately.  The baseline,
measured in the same run, is the naive way: open every file as a
``GuiderCalModel`` and ``np.concatenate`` the arrays; ``--before TREE``
also times spelunker's read from another source tree (e.g. a worktree of
the commit before a change) in the same run, the readers taking turns.  Wall and CPU seconds
(``time.process_time``: less sensitive to a busy machine) are printed.
Targets (issue 2): spelunker's read <= 3 s and peak RSS <= 2x the size of
SCI + ERR.

    python benchmarks/bench_read.py [--n-frames 1000000] [--n-files 50] [--repeat 3]
                                    [--before ../before]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worker(reader, directory):
    """Run one reader in this process; print wall time and peak RSS as JSON."""
    import numpy as np

    files = sorted(Path(directory).glob("*_cal.fits"))
    import spelunker
    from stdatamodels.jwst.datamodels import GuiderCalModel

    setup_start = time.perf_counter()
    spelunker.GuideStarModel().close()  # the process's one-time asdf extension loading
    setup = time.perf_counter() - setup_start
    cpu = time.process_time()
    if reader == "imports":
        start = time.perf_counter()
        n_frames = 0
    elif reader == "spelunker":
        start = time.perf_counter()
        model = spelunker.read_guidestar(files, progress=False)
        n_frames = model.data.shape[0]
    elif reader == "baseline":
        start = time.perf_counter()
        data, err = [], []
        for path in files:
            with GuiderCalModel(path) as product:
                data.append(product.data)
                err.append(product.err)
        data = np.concatenate(data)
        err = np.concatenate(err)
        n_frames = data.shape[0]
    else:
        raise SystemExit(f"unknown reader {reader}")
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "cpu": time.process_time() - cpu, "setup": setup,
                      "peak_mib": _peak_rss_mib(), "n_frames": n_frames}))


def _peak_rss_mib():
    """This process's peak resident set size (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _run(reader, directory, tree=None):
    env = dict(os.environ, PYTHONPATH=str(tree)) if tree else None
    output = subprocess.run(
        [sys.executable, __file__, "--worker", reader, str(directory)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-frames", type=int, default=1_000_000)
    parser.add_argument("--n-files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--directory", type=Path, default=None,
                        help="where the synthetic visit is written (reused if complete)")
    parser.add_argument("--before", type=Path, default=None,
                        help="another source tree whose read is timed in the same run")
    parser.add_argument("--worker", nargs=2, metavar=("READER", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return

    from spelunker import datasets

    directory = args.directory or Path(tempfile.gettempdir()) / (
        f"spelunker_bench_read_{args.n_frames}_{args.n_files}")
    marker = directory / "complete"
    if not marker.exists():
        print(f"writing a {args.n_frames}-frame visit in {args.n_files} files to {directory} ...")
        start = time.perf_counter()
        directory.mkdir(parents=True, exist_ok=True)
        datasets.make_guidestar_files(
            directory, visits=[datasets.VisitSpec(n_frames=args.n_frames, n_segments=args.n_files)],
            seed=2026)
        marker.write_text("ok")
        print(f"  generated in {time.perf_counter() - start:.1f} s")
    sci_err_mib = args.n_frames * 8 * 8 * 4 * 2 / 2**20
    total_mib = sum(p.stat().st_size for p in directory.glob("*.fits")) / 2**20
    print(f"visit: {args.n_frames} frames, {args.n_files} files, {total_mib:.0f} MiB on disk, "
          f"SCI+ERR {sci_err_mib:.0f} MiB in memory; {os.cpu_count()} cores")

    results = {}
    readers = [("imports", "imports", None), ("spelunker", "spelunker", None),
               ("baseline", "baseline", None)]
    if args.before:
        readers.append(("before", "spelunker", args.before))
    # Round robin (one run of each reader in turn): a load that comes and
    # goes on a shared machine falls on every reader alike.
    all_runs = {label: [] for label, _, _ in readers}
    for _ in range(args.repeat):
        for label, reader, tree in readers:
            all_runs[label].append(_run(reader, directory, tree))
    for label, reader, _ in readers:
        runs = all_runs[label]
        results[label] = {
            "wall": statistics.median(r["wall"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs),
            "peak_mib": statistics.median(r["peak_mib"] for r in runs),
            "walls": [round(r["wall"], 2) for r in runs],
            "setup": statistics.median(r["setup"] for r in runs),
        }
        if reader != "imports" and runs[0]["n_frames"] != args.n_frames:
            raise SystemExit(f"{reader} read {runs[0]['n_frames']} frames")

    s, b, i = results["spelunker"], results["baseline"], results["imports"]
    print(f"imports only          peak RSS {i['peak_mib']:7.0f} MiB  "
          f"(one-time datamodel setup, not timed below: median {i['setup']:.2f} s)")
    print(f"spelunker read        median {s['wall']:6.2f} s  (runs {s['walls']}; CPU "
          f"{s['cpu']:.2f} s)  peak RSS {s['peak_mib']:7.0f} MiB")
    if args.before:
        before = results["before"]
        print(f"spelunker read of {args.before}: median {before['wall']:6.2f} s (CPU "
              f"{before['cpu']:.2f} s)  peak RSS {before['peak_mib']:7.0f} MiB; this tree / "
              f"that one: wall {s['wall'] / before['wall']:.2f}x, CPU "
              f"{s['cpu'] / before['cpu']:.2f}x")
    print(f"baseline (GuiderCalModel per file + concatenate) median {b['wall']:6.2f} s  "
          f"(runs {b['walls']})  peak RSS {b['peak_mib']:7.0f} MiB")
    print(f"speed ratio baseline/spelunker: {b['wall'] / s['wall']:.2f}x")
    print(f"peak RSS / (SCI+ERR): spelunker {s['peak_mib'] / sci_err_mib:.2f} "
          f"(target <= 2), baseline {b['peak_mib'] / sci_err_mib:.2f}")
    print(f"targets: wall <= 3 s {'met' if s['wall'] <= 3 else 'MISSED'}; "
          f"peak RSS <= 2x SCI+ERR {'met' if s['peak_mib'] <= 2 * sci_err_mib else 'MISSED'}")


if __name__ == "__main__":
    main()
