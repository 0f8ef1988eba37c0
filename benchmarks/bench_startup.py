"""Benchmark how fast spelunker's commands start: medians of 3 against their targets.

Each command runs in a fresh process, 3 times, for this source tree and,
when given (``--base``, default ``/work/base-2f914da`` if it exists), for
another checkout of spelunker (the landed main) in the same run, the two
interleaved so that both see the same load:

- ``python -c "import spelunker"`` (target <= 1.5 s);
- ``spelunker-survey --help`` and a bad argument (``--workers two``, exit 2)
  (targets <= 1 s);
- ``strun --help`` (stpipe's own start-up, the reference), stpipe's alias
  lookup alone (it loads every package's ``stpipe.steps`` entry point, jwst's
  imports jwst.stpipe and stdatamodels: what any ``strun <alias>`` pays before
  it imports a class) and ``strun spelunker_pipeline --help`` (target: <= 0.5 s
  beyond ``strun --help`` measured in the same run; the time beyond the alias
  lookup is printed too).

Printed: one row per command, the medians, the ratio to the base, the target
and whether it is met, with the load average (timings on a loaded machine
are slower; compare the ratios). The issue-23 figures (``import_spelunker``,
``survey_help``, ``survey_bad_argument``, ``strun_help_over_stpipe``) go to
``benchmarks/results/bench_startup.json`` for ``benchmarks/summary.py``.

    python benchmarks/bench_startup.py [--base /path/to/other/checkout] [--repeat 3]
        [--results benchmarks/results]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # summary.py, also under runpy
from bytecode import compile_tree
from summary import RESULTS, figure, write_results

TREE = Path(__file__).resolve().parent.parent
DEFAULT_BASE = Path("/work/base-2f914da")


def _script(name):
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else None


def commands():
    """(label, argv, expected exit codes, target) of each command timed."""
    survey = _script("spelunker-survey")
    survey = [survey] if survey else [sys.executable, "-m", "spelunker.survey"]
    strun = _script("strun")
    strun = [strun] if strun else [sys.executable, "-m", "stpipe", "run"]
    return [
        ("import spelunker", [sys.executable, "-c", "import spelunker"], (0,), ("abs", 1.5)),
        ("spelunker-survey --help", [*survey, "--help"], (0,), ("abs", 1.0)),
        ("spelunker-survey bad argument", [*survey, "--workers", "two", "--output", "x"], (2,),
         ("abs", 1.0)),
        ("strun --help", [*strun, "--help"], (0, 2), None),  # stpipe exits 2 after its usage
        # What stpipe does for any alias before it imports a class: it loads every package's
        # stpipe.steps entry point (jwst's imports jwst.stpipe and stdatamodels).
        ("stpipe alias lookup", [sys.executable, "-c", "import stpipe._cli.strun; from stpipe "
                                 "import entry_points; entry_points.get_steps()"], (0,), None),
        ("strun spelunker_pipeline --help", [*strun, "spelunker_pipeline", "--help"], (0,),
         ("beyond", "strun --help", 0.5)),
    ]


def run_once(argv, tree, codes):
    """Wall and CPU (user + system) seconds of one run."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=tree, capture_output=True, text=True, check=False,
                          timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in codes:
        raise SystemExit(f"{' '.join(argv)} (PYTHONPATH={tree}) exited {done.returncode}:\n"
                         f"{done.stderr[-2000:]}")
    return wall, cpu


#: Figure name in benchmarks/results (summary.py) of each timed command with a target.
FIGURES = {"import spelunker": "import_spelunker", "spelunker-survey --help": "survey_help",
           "spelunker-survey bad argument": "survey_bad_argument",
           "strun spelunker_pipeline --help": "strun_help_over_stpipe"}


def main(argv=None):
    """Time the commands; ``argv`` as on the command line (None: ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=str(DEFAULT_BASE) if DEFAULT_BASE.exists() else None,
                        help="another checkout of spelunker timed in the same run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of the JSON figures for summary.py (default: %(default)s)")
    args = parser.parse_args(argv)
    trees = {"tree": TREE}
    if args.base:
        trees["base"] = Path(args.base)
    for tree in trees.values():
        compile_tree(tree)
    table = commands()
    times = {(label, name): [] for label, *_ in table for name in trees}
    for _ in range(args.repeat):
        for label, argv, codes, _target in table:
            for name, tree in trees.items():
                times[label, name].append(run_once(argv, tree, codes))
    median = {key: statistics.median(w for w, _ in values) for key, values in times.items()}
    cpu = {key: statistics.median(c for _, c in values) for key, values in times.items()}

    print(f"start-up, medians of {args.repeat} (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs); tree {TREE}" + (f", base {trees['base']}" if args.base
                                                     else ""))
    print("wall seconds (CPU seconds, user + system, in parentheses: less sensitive to load)")
    print(f"{'command':34s} {'tree':>14s} {'base':>14s} {'ratio':>6s}  target (on wall)")
    for label, _argv, _codes, target in table:
        mine = median[label, "tree"]
        base = median.get((label, "base"))
        mine_text = f"{mine:6.2f} ({cpu[label, 'tree']:5.2f})"
        base_text = (f"{base:6.2f} ({cpu[label, 'base']:5.2f})" if base is not None
                     else f"{'-':>14s}")
        ratio = f"{mine / base:6.2f}" if base else f"{'-':>6s}"
        if target is None:
            verdict = "(reference)"
        elif target[0] == "abs":
            verdict = f"<= {target[1]:.1f} s: {'met' if mine <= target[1] else 'MISSED'}"
        else:
            reference = median[target[1], "tree"]
            beyond = mine - reference
            beyond_cpu = cpu[label, "tree"] - cpu[target[1], "tree"]
            lookup = mine - median["stpipe alias lookup", "tree"]
            verdict = (f"{beyond:+.2f} s beyond {target[1]} (CPU {beyond_cpu:+.2f} s), "
                       f"<= +{target[2]:.1f} s: {'met' if beyond <= target[2] else 'MISSED'}; "
                       f"{lookup:+.2f} s beyond the alias lookup")
        print(f"{label:34s} {mine_text} {base_text} {ratio}  {verdict}")

    figures = []
    note = f"median of {args.repeat}" + (f"; baseline: {trees['base']}" if args.base else "")
    for label, _argv, _codes, target in table:
        if target is None:
            continue
        if target[0] == "abs":
            value, base, limit = median[label, "tree"], median.get((label, "base")), target[1]
        else:  # seconds beyond the reference command, in each tree
            value = median[label, "tree"] - median[target[1], "tree"]
            base = (median[label, "base"] - median[target[1], "base"]) if args.base else None
            limit = target[2]
        figures.append(figure(FIGURES[label], round(value, 4), "s", target=limit,
                              baseline=None if base is None else round(base, 4), note=note))
    write_results("bench_startup", figures, folder=args.results)


if __name__ == "__main__":
    main()
