"""``python -m spelunker.demo``: the main job on the embedded sample visit.

Reads the seeded synthetic sample visit (no network), prints a summary of
its files, frames, guide stars and time span, and writes a PNG of the raw
(full-frame) light curve.  ``make demo`` runs it.
"""

import argparse
import logging
from pathlib import Path

import numpy as np

__all__ = ["main"]


def main(argv=None):
    """Run the demo; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m spelunker.demo", description=__doc__)
    parser.add_argument("--output", default="demo_output", type=Path,
                        help="folder for the figures (default: demo_output)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spelunker import datasets, read_guidestar

    visit = datasets.sample_visit()
    model = read_guidestar(visit.files)
    times = model.frame_times
    files = model.table("files")
    stars = model.table("guidestars")
    span = (times[-1] - times[0]).to_value("s")

    print(f"sample visit: {visit.files[0].parent}")
    print(f"files:        {len(files)}")
    for row in files:
        print(f"  {row['file_name']}  {row['n_frames']:6d} frames  {row['detector']}  "
              f"gs {row['gs_id']}  times from {row['time_source']}")
    print(f"frames:       {len(model.data)} ({np.mean(np.diff(times.mjd)) * 86400 * 1e3:.1f} ms apart)")
    star_list = ", ".join(f"{star['gs_id']} (FGS mag {star['gs_mag']:.2f})" for star in stars)
    print(f"guide stars:  {star_list}")
    print(f"time span:    {times[0].isot} to {times[-1].isot} UTC ({span:.1f} s)")

    flux = np.nansum(model.data, axis=(1, 2))
    elapsed = (times - times[0]).to_value("s")
    args.output.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(10, 4))
    axes.plot(elapsed, flux / np.nanmedian(flux), ",", color="0.6", label="frames")
    n_bin = max(1, int(round(1.0 / np.median(np.diff(elapsed)))))
    n_full = len(flux) // n_bin * n_bin
    axes.plot(elapsed[:n_full].reshape(-1, n_bin).mean(axis=1),
              flux[:n_full].reshape(-1, n_bin).mean(axis=1) / np.nanmedian(flux),
              "-", color="C0", label="1 s bins")
    axes.set_xlabel(f"time since {times[0].isot} UTC (s)")
    axes.set_ylabel("full-frame flux / median")
    axes.set_title(f"raw light curve, guide star {stars['gs_id'][0]}")
    axes.legend(loc="lower left")
    path = args.output / "raw_light_curve.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    print(f"light curve:  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
