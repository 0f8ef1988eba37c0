"""The ``spelunker-jitter`` command: a jitter file beside each science exposure.

``spelunker-jitter GUIDER_INPUT SCIENCE [SCIENCE ...]`` reads the guide-star
data (a spelunker product with a fit, or guider products, a glob or a folder,
fitted first with the quick fit when they hold none), measures the pointing
stability over each science exposure and its integrations
(`spelunker.pointing.exposure.exposure_stability`) and writes
``<science rootname>_gsjit.fits`` beside each science product, or in
``--output-dir`` (`spelunker.pointing.exposure.write_jitter_file`).

The arguments, the inputs' existence and the output files are checked
before anything heavy is imported or read: ``--help`` and a bad argument
answer at once, without loading jwst or the compiled kernels.  Every error
(`spelunker.errors.SpelunkerError`) is printed as one
``spelunker-jitter: error: ...`` line on stderr and sets the exit code
(`EXIT_CODES`), as ``spelunker-survey`` does; a failure never leaves a
partial file (`spelunker.atomic`).
"""

import argparse
import glob
import logging
import sys
from pathlib import Path

from spelunker._validate import check_output_dir
from spelunker.errors import ParameterError, SpelunkerError
from spelunker.names import jitter_file_name

__all__ = ["EXIT_CODES", "main"]

log = logging.getLogger(__name__)

#: Exit codes of ``spelunker-jitter``: code -> meaning.
EXIT_CODES = {
    0: "every jitter file is written",
    1: "nothing was written: a bad argument value, a missing input, an existing output "
       "without --overwrite, unusable guide-star data, or every science product failed "
       "(the messages say which)",
    2: "command-line usage error (an unknown option, a missing argument)",
    3: "some science products failed (the messages say which and why); the others are written",
    130: "interrupted (Ctrl-C); no partial file is left",
}

_PROG = "spelunker-jitter"

_FITS = ("auto", "gauss", "quick")


def _parser():
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=_PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure the pointing stability (milliarcseconds, V2/V3) over each science\n"
                    "exposure and its integrations (INT_TIMES) from the guide star that guided\n"
                    "it, and write <science rootname>_gsjit.fits beside each science product:\n"
                    "the metrics in the primary header, the 3-second averages (JIT), one row\n"
                    "per integration (INTEGRATIONS) and the 2-D histogram of excursions (JIF).",
        epilog=f"exit codes:\n{codes}")
    parser.add_argument("guider_input", metavar="GUIDER_INPUT",
                        help="a spelunker product with a fit (*_gspipe.fits), or fine-guide "
                             "products: a file, a glob pattern in quotes or a folder")
    parser.add_argument("science", metavar="SCIENCE", nargs="+",
                        help="science products with an INT_TIMES table (*_rateints.fits, "
                             "*_calints.fits, *_x1dints.fits)")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="write the jitter files here (created if missing; default: "
                             "beside each science product)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing jitter files")
    parser.add_argument("--fit", choices=_FITS, default="auto",
                        help="fit table of the centroids: auto (the product's, else the "
                             "quick fit is run), gauss or quick (run if missing)")
    parser.add_argument("--keep-events", action="store_true",
                        help="keep the frames of technical events in the statistics "
                             "(default: left out)")
    return parser


def _check_guider_input(text):
    """The guider input exists (a file, a folder, or a glob matching something)."""
    if Path(text).expanduser().exists():
        return
    if glob.has_magic(text):
        if not glob.glob(str(Path(text).expanduser())):
            msg = f"GUIDER_INPUT={text!r}: the pattern matches no file"
            raise ParameterError(msg)
        return
    msg = f"GUIDER_INPUT={text!r}: no such file or folder"
    raise ParameterError(msg)


def _plan(args):
    """``[(science path, jitter path)]``, every input and output checked; nothing read."""
    _check_guider_input(args.guider_input)
    plan, seen = [], {}
    for text in args.science:
        science = Path(text).expanduser()
        if not science.is_file():
            what = "is a folder, not a science product" if science.is_dir() else "no such file"
            msg = f"SCIENCE={text!r}: {what}"
            raise ParameterError(msg)
        folder = Path(args.output_dir).expanduser() if args.output_dir else science.parent
        target = folder / jitter_file_name(science)
        if target in seen:
            msg = (f"SCIENCE={text!r} and {seen[target]!r} would both write {str(target)!r} "
                   "(the same exposure twice?); give one of them")
            raise ParameterError(msg)
        seen[target] = text
        if target.exists() and not args.overwrite:
            msg = (f"SCIENCE={text!r}: the jitter file {str(target)!r} exists; pass "
                   "--overwrite to replace it")
            raise ParameterError(msg)
        plan.append((science, target))
    if args.output_dir:
        check_output_dir(args.output_dir, "--output-dir")
    else:
        for folder in {target.parent for _, target in plan}:
            check_output_dir(folder, "the science product's folder", create=False)
    return plan


def _run(args, plan):
    """Read (and fit) the guide-star data once, then one jitter file per science product."""
    # heavy: the reader, the fits and the analysis (stdatamodels among them, 0.8 s; numba
    # and pysiaf load later, on first use) are imported only once the arguments are
    # checked, so --help and argument errors answer at once.
    from spelunker.fitting import ensure_fit_table
    from spelunker.io import open_guidestar
    from spelunker.pointing.exposure import exposure_stability, write_jitter_file

    model = open_guidestar(args.guider_input)
    fit_table = ensure_fit_table(model, args.fit) if model.hasattr("data") \
        else model.fit_table_name(args.fit)
    failed = 0
    for science, target in plan:
        try:
            result = exposure_stability(model, science, fit_table=fit_table,
                                        mask_events=not args.keep_events)
            write_jitter_file(result, target, overwrite=args.overwrite)
        except SpelunkerError as exc:
            failed += 1
            print(f"{_PROG}: error: {exc}", file=sys.stderr)
            continue
        summary = result.summary
        print(f"{target}: {len(result.integrations)} integrations, "
              f"{summary.get('n_frames', 0):.0f} frames; stability "
              f"{summary.get('stability_mas', float('nan')):.3g} mas (15 s), NEA "
              f"{summary.get('nea_v2_mas', float('nan')):.3g} / "
              f"{summary.get('nea_v3_mas', float('nan')):.3g} mas (V2 / V3)")
    if failed == len(plan):
        return 1
    return 3 if failed else 0


def main(argv=None):
    """The ``spelunker-jitter`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code (`EXIT_CODES`): 0 when every jitter file is written;
        1 when nothing was written (``spelunker-jitter: error: ...`` lines
        on stderr say why); 3 when some science products failed and the
        others are written; 130 when interrupted.  Usage errors exit with 2 (``SystemExit``, from
        argparse).

    Examples
    --------
    >>> from spelunker.jitter import main
    >>> main(["visit_gspipe.fits", "jw01366003001_04101_00001-seg001_nrs1_rateints.fits"])
    ... # doctest: +SKIP
    0
    >>> main(["no_such_folder", "science_rateints.fits"])  # and on stderr:
    1

    ``spelunker-jitter: error: GUIDER_INPUT='no_such_folder': no such file or folder``
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        plan = _plan(args)
        return _run(args, plan)
    except SpelunkerError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted; no partial file is left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
