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

    python benchmarks/bench_survey.py --overhead [--visits 8] [--n-frames 20000] [--workers 2]
        [--base /work/base-2f914da] [--repeat 1]

The third form measures the survey's overhead: the visits' own work (each visit
run by `run_visit`, warm, one after the other, in a process set up as a survey
worker: Dask's worker variables such as ``OMP_NUM_THREADS=1`` and the worker's
share of the fit threads; their sum divided by the workers is the ideal
parallel time) against the ``spelunker-survey``
command on a fresh LocalCluster (import, cluster start and imports on the
workers included), overhead = command wall - own work / workers (target <= 3 s
for 8 visits of 20,000 frames on 2 workers); then the same command again, a
resume with nothing to do (target <= 3 s).  The command's CPU is that of every
process under it (its fork server and workers too), and its phases (`PHASES`:
import + plan, cluster start, a worker's first task's extra, tasks, close +
tables, exit) are read from its log lines and the rows' times: on a shared
machine they say more than the total.  With ``--base`` the command and
the resume are also timed for another checkout (the landed main) in the same
run.  The two figures (``survey_overhead``, ``survey_resume_nothing``) go to
``benchmarks/results/bench_survey.json`` (``--results``) for
``benchmarks/summary.py``.
"""

import argparse
import contextlib
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # summary.py, also under runpy
from bytecode import compile_tree
from summary import RESULTS, figure, write_results

FRAMES_PER_SEGMENT = 50_000

#: The command's phases printed by --overhead: import + plan (command start -> the plan's
#: log line), cluster start (-> "Started a LocalCluster"), first task's extra (a worker's
#: first visit minus the median of its later ones: imports and loads on first use),
#: tasks (cluster ready -> the last row written), close + tables (-> "Survey done"), exit.
PHASES = ("import + plan", "cluster start", "first task's extra",
          "tasks (cluster ready -> last row)", "close + tables", "exit")


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


def own_work(data, output, workers):
    """(wall, CPU) seconds of each visit run by run_visit, warm, as a survey's worker runs it.

    In a process of its own, started with the variables Dask sets for a
    worker process (`spelunker.survey.environment.worker_environment`:
    ``OMP_NUM_THREADS=1``, ...) and with the fit threads a survey of
    ``workers`` workers gives each visit (CPUs // workers): the same work
    the survey's workers do.  In this process, OpenMP (finufft) and the fit
    would use every core, and the sum of the walls divided by the workers
    would count the cores twice.
    """
    from spelunker.survey.environment import worker_environment

    script = f"""
import json, sys, time
from pathlib import Path
from spelunker._validate import available_cpus
from spelunker.survey import plan_survey, run_visit

tasks, _ = plan_survey(input_dir={str(data)!r})
threads = max(1, available_cpus() // {workers})
output = Path({str(output)!r})
run_visit(tasks[0], output=output / "warm-up", threads=threads)  # first use: not counted
seconds = []
for task in tasks:
    start, cpu = time.perf_counter(), time.process_time()
    row = run_visit(task, output=output / "own", threads=threads)
    seconds.append((time.perf_counter() - start, time.process_time() - cpu))
    if row["status"] != "ok":
        sys.exit(f"{{task.visit_id}}: {{row['error']}}")
print(json.dumps(seconds))
"""
    env = {**os.environ, **worker_environment(),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the visits' own work failed:\n{done.stderr[-3000:]}")
    return [tuple(pair) for pair in json.loads(done.stdout.splitlines()[-1])]


def _tree_cpu(family, seen):
    """Record the CPU seconds (user + system) of each process of ``family`` in ``seen``."""
    import psutil

    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = member.cpu_times()
            seen[member.pid] = max(seen.get(member.pid, 0.0), times.user + times.system)


def _family(process, family):
    """``family`` (pid -> psutil.Process) with ``process`` and its descendants added."""
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        for member in [process, *process.children(recursive=True)]:
            family.setdefault(member.pid, member)
    return family


def _stamp(line):
    """The time (epoch s) of a log line of the command (``%(asctime)s``), or None."""
    try:
        return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return None


def _phases(log, output, start, end):
    """The command's phases (s) from its log lines and the rows' times (see `PHASES`)."""
    marks = {}
    for line in log.splitlines():
        for key, text in (("plan", "Survey plan:"), ("cluster", "Started a LocalCluster"),
                          ("done", "Survey done:")):
            if text in line and _stamp(line) is not None:
                marks[key] = _stamp(line)
    rows = []
    for path in sorted((Path(output) / "rows").glob("*.json")):
        row = json.loads(path.read_text())
        finished = datetime.datetime.fromisoformat(row["finished"]).replace(
            tzinfo=datetime.UTC).timestamp()
        rows.append((finished - row["elapsed"], finished, row["elapsed"], row["worker"]))
    if not rows or len(marks) < 3:
        return None
    rows.sort()
    workers, first, later = set(), [], []
    for _, _, elapsed, worker in rows:  # by start time: each worker's first visit first
        (later if worker in workers else first).append(elapsed)
        workers.add(worker)
    steady = statistics.median(later) if later else 0.0
    last = max(finished for _, finished, _, _ in rows)
    return {"import + plan": marks["plan"] - start,
            "cluster start": marks["cluster"] - marks["plan"],
            "first task's extra": statistics.median(first) - steady,
            "tasks (cluster ready -> last row)": last - marks["cluster"],
            "close + tables": marks["done"] - last,
            "exit": end - marks["done"]}


def command(tree, data, output, workers):
    """Wall, CPU and phases of ``spelunker-survey`` with ``tree`` on the path.

    The CPU is that of the command and every process under it (the fork
    server and the workers included), sampled every 50 ms (`psutil`); the
    processes are looked for every 0.25 s only, since finding them reads
    every process of the machine (CPU taken from the command measured).
    """
    import psutil

    script = os.path.join(os.path.dirname(sys.executable), "spelunker-survey")
    argv = [script] if os.path.exists(script) else [sys.executable, "-m", "spelunker.survey"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    seen = {}
    start = time.time()
    with tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen([*argv, "--input", str(data), "--output", str(output),
                                    "--workers", str(workers), "--no-progress"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=err, text=True)
        watched = psutil.Process(process.pid)
        family = {}
        polls = 0
        while process.poll() is None:
            if polls % 5 == 0:
                _family(watched, family)
            _tree_cpu(family.values(), seen)
            polls += 1
            time.sleep(0.05)
        end = time.time()
        err.seek(0)
        log = err.read()
    if process.returncode != 0:
        raise SystemExit(f"spelunker-survey (PYTHONPATH={tree}) exited {process.returncode}:\n"
                         f"{log[-3000:]}")
    return end - start, sum(seen.values()), _phases(log, output, start, end)


def overhead(args, data, tmp):
    """The survey command's overhead beyond the visits' own work, and an empty resume."""
    tree = Path(__file__).resolve().parent.parent
    trees = {"tree": tree}
    if args.base:
        trees["base"] = Path(args.base)
    for path in trees.values():
        compile_tree(path)
    own = own_work(data, Path(tmp) / "in_process", args.workers)
    ideal = sum(w for w, _ in own) / args.workers
    own_cpu = sum(c for _, c in own)
    runs = {(name, kind): [] for name in trees for kind in ("survey", "resume")}
    for k in range(args.repeat):
        for name, path in trees.items():
            output = Path(tmp) / f"{name}-{k}"
            runs[name, "survey"].append(command(path, data, output, args.workers))
            runs[name, "resume"].append(command(path, data, output, args.workers))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of "
          f"{args.repeat}")
    print(f"visits' own work: {len(own)} visits, {sum(w for w, _ in own):.1f} s wall in a "
          f"process set up as a worker (median {statistics.median(w for w, _ in own):.2f} s "
          f"per visit), CPU {own_cpu:.1f} s; wall / {args.workers} workers = {ideal:.1f} s")
    print("overhead = command wall - own wall / workers (target <= 3 s); CPU overhead = CPU of "
          "all the command's processes - the visits' own CPU (insensitive to other load)")
    figures = {}
    for name in trees:
        wall = statistics.median(w for w, _, _ in runs[name, "survey"])
        cpu = statistics.median(c for _, c, _ in runs[name, "survey"])
        resume = statistics.median(w for w, _, _ in runs[name, "resume"])
        resume_cpu = statistics.median(c for _, c, _ in runs[name, "resume"])
        extra = wall - ideal
        print(f"{name:5s} spelunker-survey: {wall:5.1f} s wall, overhead {extra:+5.1f} s "
              f"(target <= 3 s: {'met' if extra <= 3 else 'MISSED'}), CPU {cpu:5.1f} s, "
              f"CPU overhead {cpu - own_cpu:+5.1f} s; resume with nothing to do {resume:4.1f} s "
              f"(CPU {resume_cpu:.1f} s; target <= 3 s: {'met' if resume <= 3 else 'MISSED'})")
        figures[name] = {"survey_overhead": extra, "survey_resume_nothing": resume}
    print("phases of the command (s, medians; from its log lines and the rows' times):")
    print(f"  {'phase':36s}" + "".join(f"{name:>8s}" for name in trees))
    for phase in PHASES:
        values = []
        for name in trees:
            found = [p[phase] for _, _, p in runs[name, "survey"] if p]
            values.append(f"{statistics.median(found):8.2f}" if found else f"{'-':>8s}")
        print(f"  {phase:36s}" + "".join(values))
    note = (f"median of {args.repeat}; {len(own)} visits x {args.n_frames:,} frames, "
            f"{args.workers} workers; baseline: {args.base}")
    write_results("bench_survey", [
        figure(key, round(value, 4), "s", target=3.0, note=note,
               baseline=round(figures["base"][key], 4) if "base" in figures else None)
        for key, value in figures["tree"].items()], folder=args.results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=8)
    parser.add_argument("--n-frames", type=int,
                        help="frames per visit (default 100,000; 20,000 with --overhead)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial-only", action="store_true", help="only the 1-worker survey")
    parser.add_argument("--data-dir", help="keep the generated visits here (reused if present)")
    parser.add_argument("--overhead", action="store_true",
                        help="the command's overhead beyond the visits' own work, and a resume")
    parser.add_argument("--base", help="with --overhead: another checkout timed in the same run")
    parser.add_argument("--repeat", type=int, default=1, help="with --overhead: runs per median")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="with --overhead: folder of the JSON figures for summary.py "
                             "(default: %(default)s)")
    args = parser.parse_args()
    if args.n_frames is None:
        args.n_frames = 20_000 if args.overhead else 100_000

    with tempfile.TemporaryDirectory(prefix="bench_survey_") as tmp:
        data = Path(args.data_dir) if args.data_dir else Path(tmp) / "visits"
        data.mkdir(parents=True, exist_ok=True)
        make_visits(data, args.visits, args.n_frames)
        if args.overhead:
            overhead(args, data, tmp)
            return
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
