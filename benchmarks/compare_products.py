"""Compare the demo visit's pipeline product made by two source trees (results unchanged?).

Runs ``strun spelunker_pipeline`` with the shipped default parameter file on
the embedded sample visit (`spelunker.datasets.sample_visit`, the demo's)
once with each tree first on PYTHONPATH (the same interpreter), then
compares every result table of the two products column by column -- the fit,
the light curve and aperture, the periodogram and its peaks, the events,
the flares, dips and variability -- and the science table (the guide-star
series binned onto the sample science product's integrations,
`spelunker.science.bin_to_integrations`, computed by this tree's code from
each product).  Prints, per table, ``equal`` or the largest relative
difference of each differing column and says whether it is within
``--rtol``; exits 1 if some table is not.

    python benchmarks/compare_products.py --before /path/to/old/tree [--after .] [--rtol 1e-6]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

#: Product extensions compared (the result tables; the per-frame input tables are copies).
TABLES = ("GAUSS_FIT", "LIGHTCURVE", "APERTURE", "APERSRCH", "PERIODOGRAM", "PGPEAKS",
          "EVENTS", "FLARES", "DIPS", "VARIABILITY")


def run_pipeline(tree, files, output):
    """The product path of ``strun spelunker_pipeline`` run with ``tree`` first on the path.

    Each tree runs its own shipped default parameter file (their parameters may differ).
    """
    env = dict(os.environ, PYTHONPATH=str(tree))
    strun = str(Path(sys.executable).parent / "strun")
    parameters = Path(tree) / "spelunker" / "resources" / "parameters" / "spelunker_pipeline.asdf"
    subprocess.run([strun, str(parameters), *map(str, files),
                    f"--output_dir={output}"], check=True, env=env, capture_output=True)
    (product,) = sorted(Path(output).glob("*_gspipe.fits"))
    return product


def column_difference(a, b):
    """Largest relative difference of two columns (0 if equal, inf if not comparable)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return np.inf
    if a.dtype.kind not in "fc":
        return 0.0 if np.array_equal(a, b) else np.inf
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return 0.0
    if (np.isnan(a) != np.isnan(b)).any():
        return np.inf
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmax(np.where(same, 0.0, np.abs(a - b) / scale)))


def compare_tables(name, a, b, rtol):
    """Print the comparison of one table; return True when within ``rtol``."""
    if a is None or b is None:
        print(f"{name:<12} {'missing in one product' if (a is None) != (b is None) else 'absent'}")
        return (a is None) == (b is None)
    names = a.dtype.names or ()
    if names != (b.dtype.names or ()) or len(a) != len(b):
        print(f"{name:<12} DIFFERENT columns or rows ({len(a)} and {len(b)} rows)")
        return False
    if not names:
        ok = column_difference(a, b) <= rtol
        print(f"{name:<12} {'equal' if column_difference(a, b) == 0 else 'differs'}")
        return ok
    worst = {column: column_difference(a[column], b[column]) for column in names}
    differing = {column: value for column, value in worst.items() if value > 0}
    ok = all(value <= rtol for value in differing.values())
    if not differing:
        print(f"{name:<12} equal ({len(a)} rows, {len(names)} columns)")
    else:
        text = ", ".join(f"{column} {value:.2g}" for column, value in differing.items())
        print(f"{name:<12} {len(a)} rows; largest relative differences: {text} "
              f"({'within' if ok else 'NOT within'} rtol {rtol:g})")
    return ok


def science_table(product, science_path):
    """The product's series binned onto the science integrations, as a structured array."""
    from spelunker import GuideStarModel
    from spelunker.science import bin_to_integrations

    with GuideStarModel(str(product)) as model:
        binned = bin_to_integrations(model, science_path)
    return np.asarray(binned.as_array())


def compare_science(products, science_path, rtol):
    """`compare_tables` of the two products' science tables (`science_table`).

    A product this tree cannot open (one written by an older version,
    without the columns this tree's schema requires) is reported, not
    compared: False.
    """
    from spelunker.errors import SpelunkerError

    try:
        tables = [science_table(product, science_path) for product in products]
    except SpelunkerError as exc:
        print(f"{'SCIENCE':<12} not compared: {exc}")
        return False
    return compare_tables("SCIENCE", *tables, rtol)


def main(argv=None):
    """Compare the products of two trees; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="source tree of the reference version")
    parser.add_argument("--after", default=str(Path(__file__).resolve().parents[1]),
                        help="source tree of the version checked (default: this one)")
    parser.add_argument("--rtol", type=float, default=1e-6,
                        help="largest relative difference accepted (default 1e-6)")
    args = parser.parse_args(argv)
    from spelunker import datasets

    work = Path(tempfile.mkdtemp(prefix="spelunker_compare_"))
    visit = datasets.sample_visit(work / "visit")
    products = [run_pipeline(tree, visit.files, work / label)
                for label, tree in (("before", args.before), ("after", args.after))]
    print(f"demo visit ({len(visit.files)} files); before {args.before}, after {args.after}")
    ok = True
    with fits.open(products[0]) as first, fits.open(products[1]) as second:
        for name in TABLES:
            a = first[name].data if name in first else None
            b = second[name].data if name in second else None
            ok &= compare_tables(name, a, b, args.rtol)
    science = datasets.sample_science(work / "science")
    ok &= compare_science(products, science.path, args.rtol)
    print("all tables within tolerance" if ok else "SOME TABLES DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
