"""``python -m spelunker.demo``: the main job on the embedded sample visit.

Takes the seeded synthetic sample visit (three segment files with an
injected transit, a 3 s centroid wobble and a 47 s flux modulation; no
network), runs the whole pipeline on it through ``strun`` with the shipped
ASDF parameter file, prints a summary (frames, fit success rate, aperture,
strongest periodogram peaks, products) and writes a PNG of the raw
full-frame light curve next to the products.  ``make demo`` runs it.
"""

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["main"]


def main(argv=None):
    """Run the demo; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m spelunker.demo", description=__doc__)
    parser.add_argument("--output", default="demo_output", type=Path,
                        help="folder for the products and figures (default: demo_output)")
    parser.add_argument("--profile", default="pipeline", choices=["pipeline", "quicklook"],
                        help="shipped parameter file to run (default: pipeline)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    from spelunker import GuideStarModel, datasets
    from spelunker.stpipe import parameter_file
    from spelunker.stpipe.guidestar_pipeline import summarize

    visit = datasets.sample_visit()
    args.output.mkdir(parents=True, exist_ok=True)
    strun = Path(sys.executable).parent / "strun"
    command = [str(strun), parameter_file(args.profile), *map(str, visit.files),
               f"--output_dir={args.output}"]
    print("running: strun", " ".join(Path(c).name if i < 2 else c
                                     for i, c in enumerate(command[1:], start=1)))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        print(completed.stderr[-5000:], file=sys.stderr)
        print(f"strun failed with exit status {completed.returncode}", file=sys.stderr)
        return completed.returncode
    products = sorted(args.output.glob("*_gspipe.fits"))
    if len(products) != 1:
        print(f"expected one _gspipe.fits product in {args.output}, found {products}",
              file=sys.stderr)
        return 1

    with GuideStarModel(products[0]) as model:
        print(f"\nsample visit: {len(visit.files)} files in {visit.files[0].parent}")
        print(summarize(model))
        figure_path = _plot_raw_light_curve(model, args.output / "raw_light_curve.png")
    print(f"\nproducts written: {products[0]}")
    print(f"raw light curve:  {figure_path}")
    return 0


def _plot_raw_light_curve(model, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spelunker.photometry import frame_seconds, full_frame_flux

    elapsed = frame_seconds(model)
    flux, _ = full_frame_flux(np.asarray(model.data))
    relative = flux / np.nanmedian(flux)
    figure, axes = plt.subplots(figsize=(10, 4))
    axes.plot(elapsed, relative, ",", color="0.6", label="frames")
    n_bin = max(1, int(round(1.0 / np.median(np.diff(elapsed)))))
    n_full = len(relative) // n_bin * n_bin
    axes.plot(elapsed[:n_full].reshape(-1, n_bin).mean(axis=1),
              np.nanmean(relative[:n_full].reshape(-1, n_bin), axis=1), "-", color="C0",
              label="1 s bins")
    start = model.frame_times[0].isot
    axes.set_xlabel(f"time since {start} UTC (s)")
    axes.set_ylabel("full-frame flux / median")
    axes.set_title(f"raw light curve, guide star {model.table('guidestars')['gs_id'][0]}")
    axes.legend(loc="lower left")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
