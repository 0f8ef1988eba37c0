"""``python -m spelunker.demo``: the main job on the embedded sample visit.

Takes the seeded synthetic sample visit (three segment files with an
injected transit, a flare, a 3 s centroid wobble, a 47 s flux modulation, a
high-gain-antenna move and a mirror tilt event; no network), runs the
whole pipeline on it through ``strun`` with the shipped ASDF parameter
file, prints a summary (frames, fit success rate, aperture, strongest
periodogram peaks, technical events, the flares and dips found and the
variability classes, products) and writes the visit report (figures, the
time-domain section, one self-contained HTML page) and a PNG of the light
curve next to the products.  It then bins the guide-star series onto the integrations of the
matching synthetic science product (``datasets.sample_science``, a light curve
sharing the guide star's centroid wobble), prints each regressor's
correlation with the science light curve and draws them on one BJD_TDB axis.
``make demo`` runs it.
"""

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy import units as u

from spelunker import GuideStarModel, datasets
from spelunker.datamodels import check_model
from spelunker.plotting import science_regressors_plot, summarize, timeseries_binned_plot
from spelunker.science import bin_to_integrations, design_matrix, science_light_curve
from spelunker.stpipe import parameter_file
from spelunker.variability import dips_table, flares_table, variability_table

__all__ = ["main", "variability_lines"]


def main(argv=None):
    """Run the demo; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m spelunker.demo", description=__doc__)
    parser.add_argument("--output", default="demo_output", type=Path,
                        help="folder for the products and figures (default: demo_output)")
    parser.add_argument("--profile", default="pipeline", choices=["pipeline", "quicklook"],
                        help="shipped parameter file to run (default: pipeline)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    visit = datasets.sample_visit()
    args.output.mkdir(parents=True, exist_ok=True)
    strun = Path(sys.executable).parent / "strun"
    command = [str(strun), parameter_file(args.profile), *map(str, visit.files),
               f"--output_dir={args.output}", "--report=true"]
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
        for line in variability_lines(model):
            print(line)
        figure_path = _plot_light_curve(model, args.output / "light_curve.png")
        science_path = _science(model, args.output)
    print(f"\nproducts written: {products[0]}")
    for page in sorted(args.output.glob("*_report.html")):
        print(f"visit report:     {page}")
    print(f"light curve:      {figure_path}")
    print(f"science figure:   {science_path}")
    return 0


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def variability_lines(model):
    """One line per visit and guide star: the flares and dips found, and the classes.

    E.g. ``variability: 1 flare (peak 2022-...T..., amplitude 2.1 %, ED
    0.18 s), 1 dip (mid ..., depth 1 %, 60 s), classes flaring,dipping``
    (with the visit and guide star when the model holds several), from the
    model's ``flares``, ``dips`` and
    ``variability`` tables (`spelunker.variability.flares_table`, ...);
    technical ones are counted apart.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.demo import variability_lines
    >>> variability_lines(GuideStarModel())
    ['variability: not computed (the run has no GuideStarVariabilityStep)']
    """
    if not check_model(model, where="variability_lines").hasattr("variability"):
        return ["variability: not computed (the run has no GuideStarVariabilityStep)"]
    flares, dips, rows = flares_table(model), dips_table(model), variability_table(model)
    lines = []
    for row in rows:
        parts = []
        for table, kind in ((flares, "flare"), (dips, "dip")):
            mine = table[(table["visit_index"] == row["visit_index"])
                         & (table["guidestar_index"] == row["guidestar_index"])]
            technical = np.char.strip(np.asarray(mine["origin"]).astype(str)) == "technical"
            details = "; ".join(_event_text(event, kind) for event in mine[~technical])
            parts.append(_plural(int(np.count_nonzero(~technical)), kind)
                         + (f" ({details})" if details else ""))
            if technical.any():
                parts.append(_plural(int(technical.sum()), f"technical {kind}"))
        which = (f" {str(row['visit_id']).strip()} guide star {str(row['guidestar_id']).strip()}"
                 if len(rows) > 1 else "")
        lines.append(f"variability{which}: {', '.join(parts)}, "
                     f"classes {str(row['classes']).strip() or '-'}")
    return lines


def _event_text(event, kind):
    """``peak <UTC>, amplitude 2.1 %, ED 0.18 s`` (flare), ``mid <UTC>, depth 1 %, 60 s`` (dip)."""
    if kind == "flare":
        return (f"peak {event['peak'].isot}, amplitude {100 * float(event['amplitude']):.2g} %, "
                f"ED {event['equivalent_duration'].to_value(u.s):.2g} s")
    return (f"mid {event['mid'].isot}, depth {100 * float(event['depth']):.2g} %, "
            f"{event['duration'].to_value(u.s):.3g} s")


def _science(model, output):
    """Bin onto the sample science product; print the correlations; draw the figure."""
    from matplotlib.figure import Figure  # matplotlib loads only when the figure is drawn

    science = datasets.sample_science(output / "science")
    binned = bin_to_integrations(model, science.path)
    flux = science_light_curve(science.path)
    correlation = design_matrix(binned).correlation(flux)
    print(f"\nscience product: {science.path.name}, {len(binned)} integrations, "
          f"times from {binned.meta['TIMESRC']} (BJD_TDB)")
    print(f"guide-star frames per integration: {int(binned['n_frames'].min())}-"
          f"{int(binned['n_frames'].max())}")
    for name, value in sorted(correlation.items(), key=lambda item: -abs(item[1])):
        print(f"correlation with the science light curve: {name} {value:+.3f}")
    figure = science_regressors_plot(binned, flux, fig=Figure(figsize=(10, 8)))
    path = output / "science_regressors.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _plot_light_curve(model, path):
    from matplotlib.figure import Figure  # matplotlib loads only when the figure is drawn

    figure = Figure(figsize=(10, 4))
    timeseries_binned_plot(model, bin_size=1.0, ax=figure.add_subplot())
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
