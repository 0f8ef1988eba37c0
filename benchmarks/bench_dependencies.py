"""Measure whether photutils and multiprocess could do real work in spelunker.

Part 1, photutils vs spelunker on the same seeded 8x8 frames: per-frame
centroids (``centroid_2dg``, ``centroid_com``, and ``centroid_sources`` on
all frames laid side by side in one image, photutils' best case) against
`~spelunker.fitting.fit_gaussian_frames` and
`~spelunker.fitting.fit_moments_frames`, and aperture sums
(``aperture_photometry`` per frame, ``ApertureStats`` per frame and one
``aperture_photometry`` call with one aperture per frame on the side-by-side
image) against `~spelunker.photometry.aperture_flux`.

Part 2, a process pool against one process (and a thread pool) where
matplotlib holds the GIL: (a) rendering the frames of the animation of
`~spelunker.plotting.flux_spatial_timelapse_animation` to PNG buffers, half
the frames in each worker; (b) the per-visit pages of
`~spelunker.plotting.write_visit_report` for a model of several visits, one
visit per worker.  Each is run with ``multiprocess.Pool`` (dill; left out
when multiprocess is not installed) and with
the standard library's ``concurrent.futures.ProcessPoolExecutor`` (fork
context, module-level functions), the pool start-up included in the time.
Workers receive indices only: the model is inherited through fork, never
pickled.  The start-up of a 2-process pool and the cost of pickling the
frames with dill (what passing arrays instead of indices would cost) are
reported separately.  This part uses the private ``_Scene`` of
`spelunker.plotting.animation` (one animation frame at a time), and
`spelunker.visits.split_visits` with `write_visit_report` (one page per
visit), to split the work: a prototype, not package code.

Every method runs in turn in each of ``--repeat`` rounds and the median is
reported, because the shared 2-core machines are noisy.

Usage::

    python benchmarks/bench_dependencies.py [--n-frames 2000] [--anim-frames 40] [--visits 2]
"""

import argparse
import concurrent.futures
import io
import logging
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
import warnings
from multiprocessing.pool import ThreadPool
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from photutils.aperture import (  # noqa: E402
    ApertureStats,
    RectangularAperture,
    aperture_photometry,
)
from photutils.centroids import centroid_2dg, centroid_com, centroid_sources  # noqa: E402

from spelunker import GuideStarPipeline, datasets  # noqa: E402
from spelunker.datasets import simulate_frames  # noqa: E402
from spelunker.fitting import fit_gaussian_frames, fit_moments_frames  # noqa: E402
from spelunker.photometry import aperture_flux  # noqa: E402
from spelunker.plotting.animation import _Scene  # noqa: E402
from spelunker.plotting import write_visit_report  # noqa: E402
from spelunker.visits import split_visits  # noqa: E402

try:  # optional, so that the script still runs once the dependency is dropped
    import dill
    import multiprocess
except ImportError:
    import pickle as dill
    multiprocess = None

BACKGROUND = 20.0

# State the pool workers inherit through fork (set before a pool starts).
_STATE = {}


def median_times(methods, repeat):
    """Median wall-clock seconds of each method over ``repeat`` interleaved rounds."""
    times = {name: [] for name in methods}
    for _ in range(repeat):
        for name, func in methods.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _cpu_seconds():
    """CPU seconds used so far by this process and its reaped children (pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_wall_cpu(methods, repeat):
    """Median wall-clock and CPU seconds of each method over ``repeat`` interleaved rounds.

    CPU time counts the workers of a process pool once they have exited, so
    it shows whether a pool that gains little wall time did the same work
    (the other cores were busy) or more work (start-up, copies).
    """
    wall = {name: [] for name in methods}
    cpu = {name: [] for name in methods}
    for _ in range(repeat):
        for name, func in methods.items():
            cpu0, start = _cpu_seconds(), time.perf_counter()
            func()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(_cpu_seconds() - cpu0)
    return ({name: statistics.median(v) for name, v in wall.items()},
            {name: statistics.median(v) for name, v in cpu.items()})


# --------------------------------------------------------------------------
# Part 1: photutils vs spelunker


def side_by_side(data):
    """Frames ``(n, 8, 8)`` as one ``(8, 8 n)`` image, frame k in columns 8k .. 8k+7."""
    n, ny, nx = data.shape
    return np.ascontiguousarray(data.transpose(1, 0, 2).reshape(ny, n * nx))


def part_photutils(args):
    data, err, _ = simulate_frames(args.n_frames, fgs_mag=13.3, x_mean=3.3, y_mean=3.8,
                                   background=BACKGROUND, seed=args.seed)
    n = len(data)
    n_2dg = min(args.n_2dg, n)
    data64, err64 = data.astype(float), err.astype(float)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 2:6] = True                      # a 4x4 box: rows 2..5, columns 2..5
    box = RectangularAperture((3.5, 3.5), w=4, h=4)  # the same whole pixels
    image = side_by_side(data64) - BACKGROUND
    xs, ys = np.arange(n) * 8 + 3.5, np.full(n, 3.5)
    boxes = RectangularAperture(np.column_stack([xs, ys]), w=4, h=4)

    # Warm up the compiled kernels (numba compile or cache load).
    fit_gaussian_frames(data[:64], err[:64])
    fit_moments_frames(data[:64], err[:64])

    results = {}

    def run(name, func):
        def call():
            results[name] = func()
        return call

    methods = {
        "spelunker fit_gaussian_frames": run("gauss", lambda: fit_gaussian_frames(data, err)),
        "spelunker fit_moments_frames": run("moments", lambda: fit_moments_frames(data, err)),
        "spelunker aperture_flux": run("flux", lambda: aperture_flux(data, err, mask=mask)),
        "photutils centroid_2dg / frame": run("2dg", lambda: np.array(
            [centroid_2dg(d - BACKGROUND, error=e)
             for d, e in zip(data64[:n_2dg], err64[:n_2dg])])),
        "photutils centroid_com / frame": run("com", lambda: np.array(
            [centroid_com(d - BACKGROUND) for d in data64])),
        "photutils centroid_sources (1 image)": run("sources", lambda: np.column_stack(
            centroid_sources(image, xs, ys, box_size=7, centroid_func=centroid_com))),
        "photutils aperture_photometry / frame": run("phot", lambda: np.array(
            [aperture_photometry(d, box, error=e)["aperture_sum"][0]
             for d, e in zip(data, err)])),
        "photutils ApertureStats / frame": run("stats", lambda: np.array(
            [ApertureStats(d, box, error=e, sum_method="exact").sum
             for d, e in zip(data, err)])),
        "photutils aperture_photometry (1 image)": run("phot1", lambda: np.asarray(
            aperture_photometry(image + BACKGROUND, boxes)["aperture_sum"])),
    }
    frames = {name: (n_2dg if "2dg" in name else n) for name in methods}
    print(f"\n== photutils vs spelunker: {n} frames 8x8 float32 (centroid_2dg on {n_2dg}), "
          f"median of {args.repeat} ==")
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a photutils warning would be worth knowing
        seconds = median_times(methods, args.repeat)
    rates = {name: frames[name] / t for name, t in seconds.items()}
    for name, rate in rates.items():
        print(f"{name:>42}: {rate:12,.0f} frames/s  ({seconds[name] * 1e3:9.1f} ms)")
    pairs = [
        ("fit_gaussian_frames / centroid_2dg", "spelunker fit_gaussian_frames",
         "photutils centroid_2dg / frame"),
        ("fit_moments_frames / centroid_com", "spelunker fit_moments_frames",
         "photutils centroid_com / frame"),
        ("fit_moments_frames / centroid_sources", "spelunker fit_moments_frames",
         "photutils centroid_sources (1 image)"),
        ("aperture_flux / aperture_photometry", "spelunker aperture_flux",
         "photutils aperture_photometry / frame"),
        ("aperture_flux / ApertureStats", "spelunker aperture_flux",
         "photutils ApertureStats / frame"),
        ("aperture_flux / aperture_photometry 1 image", "spelunker aperture_flux",
         "photutils aperture_photometry (1 image)"),
    ]
    print("speed ratios (spelunker / photutils, frames/s):")
    for label, ours, theirs in pairs:
        print(f"  {label:>45}: {rates[ours] / rates[theirs]:10,.0f}x")

    # The same answers (the test suite checks these properly).
    dx = np.abs(results["gauss"]["x_mean"][:n_2dg] - results["2dg"][:, 0]).max()
    dflux = np.abs(results["flux"][0] / results["phot"] - 1).max()
    dflux1 = np.abs(results["flux"][0] / results["phot1"] - 1).max()
    dsrc = np.abs(results["sources"][:, 0] - xs + 3.5 - results["com"][:, 0]).max()
    print(f"agreement: max|gauss x - centroid_2dg x| = {dx:.2g} px; "
          f"max rel |aperture_flux - aperture_photometry| = {dflux:.2g} (per frame), "
          f"{dflux1:.2g} (1 image); centroid_sources(7x7 box) vs centroid_com(8x8) "
          f"differ by up to {dsrc:.2g} px (different cutout)")
    print("one 10-hour visit at ~19 frames/s is ~700,000 frames; on one core that takes "
          + ", ".join(f"{name.split(maxsplit=1)[1]} {700_000 / rates[name]:,.0f} s"
                      for name in ("spelunker fit_gaussian_frames",
                                   "spelunker aperture_flux",
                                   "photutils centroid_2dg / frame",
                                   "photutils aperture_photometry / frame")))


# --------------------------------------------------------------------------
# Part 2: processes vs threads vs one process for matplotlib work


def _png(figure, dpi):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def render_frames(ks):
    """Render animation frames ``ks`` (indices into the clip) to PNG bytes.

    Builds its own figure (one per worker): figures are not shared between
    threads or processes.
    """
    scene = _Scene(_STATE["model"], _STATE["frames"])
    out = []
    for k in ks:
        scene.draw(k)
        out.append(_png(scene.figure, _STATE["dpi"]))
    return out


def report_visit(i):
    """Write the page (figures and HTML) of visit ``i`` of the model; returns its path."""
    part = _STATE["visits"][i]
    return str(write_visit_report(part, _STATE["directory"], dpi=100))


def _noop(i):
    return i


def _halves(n):
    return [list(range(0, n // 2)), list(range(n // 2, n))]


def _with_pool(kind, func, items):
    """Map ``func`` over ``items`` with a fresh 2-worker pool of ``kind`` (start-up included)."""
    if kind == "multiprocess":
        with multiprocess.Pool(2) as pool:
            return pool.map(func, items)
    if kind == "stdlib":
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
            return list(pool.map(func, items))
    if kind == "threads":
        with ThreadPool(2) as pool:
            return pool.map(func, items)
    return [func(item) for item in items]  # serial


def part_processes(args):
    workdir = Path(tempfile.mkdtemp(prefix="bench_dependencies_"))
    specs = [datasets.VisitSpec(observation=k + 1, n_frames=args.visit_frames, n_segments=1)
             for k in range(args.visits)]
    visit = datasets.make_guidestar_files(workdir / "data", visits=specs, seed=args.seed)
    logging.disable(logging.INFO)  # stpipe's step logs
    try:
        model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    finally:
        logging.disable(logging.NOTSET)
    n_anim = args.anim_frames
    _STATE.update(model=model, frames=range(0, 2 * n_anim, 2), dpi=80,
                  visits=split_visits(model), directory=workdir / "report")
    _STATE["directory"].mkdir()
    assert len(_STATE["visits"]) == args.visits
    render_frames([0])  # warm-up: fonts, colormaps and the first draw in this process
    pools = ("multiprocess", "stdlib", "threads") if multiprocess else ("stdlib", "threads")
    method = (f"{multiprocess.get_start_method()} (multiprocess) / fork (stdlib)" if multiprocess
              else "fork (stdlib); multiprocess not installed")
    print(f"\n== processes vs one process: {os.cpu_count()} CPUs, start method {method}, "
          f"median of {args.repeat} ==")

    # Start-up of a 2-worker pool (map of a no-op) and the cost of pickling frames.
    startup = median_times({kind: lambda kind=kind: _with_pool(kind, _noop, [0, 1])
                            for kind in pools}, args.repeat)
    print("pool of 2, start + map(no-op) + join: "
          + ", ".join(f"{kind} {t * 1e3:.0f} ms" for kind, t in startup.items()))
    data = np.asarray(model.data)
    start = time.perf_counter()
    blob = dill.dumps(data)
    dill_s = time.perf_counter() - start
    start = time.perf_counter()
    index_blob = dill.dumps(list(range(n_anim)))
    index_s = time.perf_counter() - start
    print(f"{dill.__name__}.dumps of the model's {len(data)} frames: {len(blob) / 1e6:.1f} MB in "
          f"{dill_s * 1e3:.1f} ms ({len(blob) / 1e6 / max(dill_s, 1e-9):,.0f} MB/s); "
          f"of {n_anim} indices: {len(index_blob)} bytes in {index_s * 1e6:.0f} us")

    # (a) animation frames; (b) report pages.  Check the outputs agree.
    kinds = ("serial", "threads", "multiprocess", "stdlib") if multiprocess else (
        "serial", "threads", "stdlib")
    outputs = {}

    def anim(kind):
        def call():
            outputs[("anim", kind)] = [png for part in _with_pool(kind, render_frames,
                                                                    _halves(n_anim))
                                       for png in part]
        return call

    def report(kind):
        def call():
            outputs[("report", kind)] = _with_pool(kind, report_visit, range(args.visits))
        return call

    for task, maker, label in (("anim", anim, f"(a) render {n_anim} animation frames to PNG "
                                                f"(dpi 80), 2 workers x {n_anim // 2}"),
                               ("report", report, f"(b) report pages of {args.visits} visits "
                                                  f"x {args.visit_frames} frames, 1 visit "
                                                  "per task")):
        load = os.getloadavg()[0]
        seconds, cpu = median_wall_cpu({kind: maker(kind) for kind in kinds}, args.repeat)
        print(f"{label} (1-min load before: {load:.2f})")
        for kind in kinds:
            print(f"  {kind:>12}: wall {seconds[kind]:6.2f} s, CPU {cpu[kind]:6.2f} s   "
                  f"serial / {kind} (wall): {seconds['serial'] / seconds[kind]:5.2f}x")
        reference = outputs[(task, "serial")]
        same = all(len(outputs[(task, kind)]) == len(reference) for kind in kinds)
        print(f"  outputs: {len(reference)} per run, same count in every mode: {same}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-frames", type=int, default=2000,
                        help="frames for part 1 (default 2000)")
    parser.add_argument("--n-2dg", type=int, default=500,
                        help="frames for photutils centroid_2dg, the slowest (default 500)")
    parser.add_argument("--anim-frames", type=int, default=40,
                        help="animation frames rendered in part 2a (default 40)")
    parser.add_argument("--visits", type=int, default=2, help="visits in part 2b (default 2)")
    parser.add_argument("--visit-frames", type=int, default=1200,
                        help="frames per visit in part 2 (default 1200)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per method (median)")
    parser.add_argument("--seed", type=int, default=2024, help="simulation seed")
    parser.add_argument("--skip", choices=["photutils", "processes"], action="append",
                        default=[], help="skip a part")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average before: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    start = time.perf_counter()
    if "photutils" not in args.skip:
        part_photutils(args)
    if "processes" not in args.skip:
        part_processes(args)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; load average after: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
