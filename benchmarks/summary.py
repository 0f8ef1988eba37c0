"""The closing table of ``make bench``: each figure against its target and its baseline.

Every benchmark script that measures an acceptance figure writes its figures
to ``benchmarks/results/<script>.json`` (``make bench`` empties the folder
first); this script reads them all and prints one table, the figures of
issue 23 first (a row says ``missing`` when no script wrote it), then any
other figure found.

The results format
------------------
One JSON file per benchmark script, ``benchmarks/results/<script>.json``::

    {"bench": "bench_startup",            # the script's name
     "load": "load average: 1.20, ...",   # `uptime` (or os.getloadavg()) when measured
     "figures": [
        {"name": "import_spelunker",      # a name below, or any other (printed last)
         "value": 0.92,                   # the measurement (median of the repeats)
         "unit": "s",                     # "s", "GB", "x", "frames/s", ...
         "target": 1.5,                   # absolute target in `unit`, or null
         "baseline": 3.01,                # the baseline measured in the same run, or null
         "ratio": 0.31,                   # value / baseline, or null
         "target_ratio": null,            # optional: target on the ratio, or null
         "better": "lower",               # optional: "lower" (default) or "higher"
         "note": "median of 3; baseline: landed main 2f914da"},   # optional
        ...]}

A bare list of figure objects is accepted too. A figure meets its target when
``value <= target`` (``>=`` when ``better`` is ``"higher"``), and its ratio
target when ``ratio <= target_ratio`` (``>=`` for ``"higher"``); the status
column says ``ok``, ``MISS`` or ``-`` (no target). Scripts may write the file
with `write_results` (``from summary import figure, write_results`` works for
a script run as ``python benchmarks/<script>.py``) or with plain `json`.

    python benchmarks/summary.py [--results benchmarks/results] [--strict]

``--strict`` exits with status 1 when a figure misses its target or is missing.
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: The figures of issue 23 (name, what, the script expected to write it).
#: The targets themselves come from the results files (the script measures them).
ISSUE_FIGURES = [
    ("pipeline_1m_wall", "strun spelunker_pipeline, 1M frames, wall", "bench_pipeline"),
    ("pipeline_1m_rss", "same, peak RSS", "bench_pipeline"),
    ("product_over_input", "product bytes / input bytes", "bench_pipeline"),
    ("fit_over_curve_fit", "fit step speed / scipy curve_fit loop", "bench_pipeline"),
    ("pipeline_2m_over_1m_wall", "2M-frame visit wall / 1M-frame visit wall", "bench_pipeline"),
    ("pipeline_2m_over_1m_rss", "2M-frame visit peak RSS / 1M-frame one", "bench_pipeline"),
    ("survey_help", "spelunker-survey --help", "bench_startup"),
    ("survey_bad_argument", "spelunker-survey with a bad argument", "bench_startup"),
    ("strun_help_over_stpipe", "strun spelunker_pipeline --help minus strun --help",
     "bench_startup"),
    ("import_spelunker", "python -c 'import spelunker'", "bench_startup"),
    ("survey_overhead", "survey of 8 x 20k-frame visits, 2 workers: overhead",
     "bench_survey"),
    ("survey_resume_nothing", "survey resume with nothing to do", "bench_survey"),
]


def figure(name, value, unit, *, target=None, baseline=None, target_ratio=None,
           better="lower", note=None):
    """One figure as the results format wants it (the ratio computed here).

    Examples
    --------
    >>> figure("import_spelunker", 0.9, "s", target=1.5, baseline=3.0)["ratio"]
    0.3
    """
    ratio = None
    if baseline not in (None, 0) and value is not None:
        ratio = round(value / baseline, 4)
    record = {"name": name, "value": value, "unit": unit, "target": target,
              "baseline": baseline, "ratio": ratio, "target_ratio": target_ratio,
              "better": better}
    if note:
        record["note"] = note
    return record


def write_results(bench, figures, *, folder=RESULTS):
    """Write ``<folder>/<bench>.json`` with the figures and the machine's load."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    path = folder / f"{bench}.json"
    path.write_text(json.dumps({"bench": bench, "load": f"load average: {load}",
                                "figures": list(figures)}, indent=1) + "\n")
    return path


def read_results(folder):
    """``{name: figure}`` (with its bench and load) from every ``*.json`` in the folder."""
    found = {}
    for path in sorted(Path(folder).glob("*.json")):
        content = json.loads(path.read_text())
        if isinstance(content, list):
            content = {"figures": content}
        for record in content.get("figures", []):
            record = dict(record, bench=content.get("bench", path.stem),
                          load=content.get("load", ""))
            found[record["name"]] = record
    return found


def _meets(value, limit, better):
    if value is None or limit is None:
        return None
    return value >= limit if better == "higher" else value <= limit


def status(record):
    """``"ok"``, ``"MISS"`` or ``"-"`` (no target) for one figure.

    Examples
    --------
    >>> status(figure("import_spelunker", 0.9, "s", target=1.5, baseline=3.0))
    'ok'
    >>> status(figure("fit", 200.0, "x", target=250.0, better="higher"))
    'MISS'
    """
    better = record.get("better", "lower")
    checks = [_meets(record.get("value"), record.get("target"), better),
              _meets(record.get("ratio"), record.get("target_ratio"), better)]
    checks = [c for c in checks if c is not None]
    if not checks:
        return "-"
    return "ok" if all(checks) else "MISS"


def _number(value):
    if value is None:
        return ""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _target(record):
    sign = ">=" if record.get("better") == "higher" else "<="
    parts = []
    if record.get("target") is not None:
        parts.append(f"{sign} {_number(record['target'])}")
    if record.get("target_ratio") is not None:
        parts.append(f"{sign} {_number(record['target_ratio'])}x base")
    return ", ".join(parts)


def table(found):
    """The rows (header first) of the summary table, and the number of misses."""
    rows = [("figure", "value", "unit", "target", "baseline", "ratio", "status", "bench")]
    misses = 0
    names = [name for name, _, _ in ISSUE_FIGURES]
    for name, _what, bench in ISSUE_FIGURES:
        record = found.get(name)
        if record is None:
            rows.append((name, "", "", "", "", "", "missing", bench))
            misses += 1
            continue
        rows.append(_row(record))
        misses += rows[-1][6] == "MISS"
    for name in sorted(set(found) - set(names)):
        rows.append(_row(found[name]))
        misses += rows[-1][6] == "MISS"
    return rows, misses


def _row(record):
    return (record["name"], _number(record.get("value")), record.get("unit", ""),
            _target(record), _number(record.get("baseline")), _number(record.get("ratio")),
            status(record), record.get("bench", ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of the benchmarks' JSON files (default: %(default)s)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a figure misses its target or is missing")
    args = parser.parse_args(argv)
    found = read_results(args.results)
    rows, misses = table(found)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    print(f"\nIssue 23 figures ({args.results}):")
    for index, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    loads = sorted({f"{r['bench']}: {r['load']}" for r in found.values() if r.get("load")})
    for load in loads:
        print(load)
    return 1 if args.strict and misses else 0


if __name__ == "__main__":
    sys.exit(main())
