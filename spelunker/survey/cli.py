"""The ``spelunker-survey`` command: its arguments, its messages and its exit codes.

Every error the survey reports (`spelunker.errors.SpelunkerError`) is
printed as one ``spelunker-survey: error: ...`` line on stderr, without a
traceback, and sets the exit code (`EXIT_CODES`).  The survey itself
(Dask, jwst, the compiled kernels) is imported only once the arguments are
parsed, so ``--help`` and usage errors answer at once.
"""

import argparse
import atexit
import contextlib
import logging
import os
import sys
from pathlib import Path

from spelunker.errors import SpelunkerError

__all__ = ["EXIT_CODES", "main"]

#: Exit codes of ``spelunker-survey``: code -> meaning.
EXIT_CODES = {
    0: "every visit is ok",
    1: "the survey could not run: a bad argument value, an unusable input or output folder, "
       "no scheduler at --scheduler (the message says which)",
    2: "command-line usage error (an unknown option, --output missing, a number that is not one)",
    3: "the survey ran but some visits failed (the table and the printed list say which and why)",
    130: "interrupted (Ctrl-C); run the same command again to resume",
}

_PROG = "spelunker-survey"

#: The --scheduler help's timeout: `spelunker.survey.execution.SCHEDULER_TIMEOUT`
#: (tests/test_survey.py checks they agree), written here so --help imports no Dask.
_SCHEDULER_TIMEOUT_TEXT = "5"


def _parser():
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=_PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the spelunker pipeline on every visit of JWST programs (or of a\n"
                    "folder of guide-star products) on a Dask cluster; write one product per\n"
                    "visit, the survey table (survey.ecsv, survey.parquet) and the guide-star\n"
                    "catalogue (guidestars.ecsv, guidestars.parquet).  The MAST token, if\n"
                    "needed, is read from MAST_API_TOKEN.",
        epilog=f"exit codes:\n{codes}")
    parser.add_argument("--program", action="append", default=[], metavar="P",
                        help="program number (repeatable)")
    parser.add_argument("--observation", action="append", default=[], metavar="P:O",
                        help="one observation, e.g. 1534:2 (repeatable)")
    parser.add_argument("--visit", action="append", default=[], metavar="P:O:V",
                        help="one visit, e.g. 1534:2:1 (repeatable)")
    parser.add_argument("--input", metavar="DIR",
                        help="survey the fine-guide _cal products in this folder instead of MAST")
    parser.add_argument("--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--config", metavar="FILE",
                        help="pipeline parameter file or profile (default: quicklook)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="LocalCluster worker processes (default: the CPUs)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="use the running cluster at this address (tcp://host:8786); "
                             f"an error if it does not answer within {_SCHEDULER_TIMEOUT_TEXT} s")
    parser.add_argument("--download-dir", metavar="DIR",
                        help="download cache (default: OUTPUT/downloads)")
    parser.add_argument("--server", metavar="URL", help="MAST base URL (default: MAST)")
    parser.add_argument("--delete-downloads", action="store_true",
                        help="delete a visit's downloads once its product is written")
    parser.add_argument("--rerun", action="store_true",
                        help="run every visit again, also those already complete")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dashboard", action="store_true",
                        help="serve Dask's dashboard from the LocalCluster (needs bokeh; its "
                             "address is logged)")
    return parser


def main(argv=None):
    """The ``spelunker-survey`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments.  Without them (the command's own process: the console
        script, ``python -m spelunker.survey``) ``sys.argv[1:]``, and the
        process ends with the exit code as soon as its exit handlers have
        run, without the interpreter's tear-down of jwst, astropy and Dask
        (0.4-1.5 s).

    Returns
    -------
    int
        With ``argv``, the exit code (`EXIT_CODES`): 0 when every visit is ``ok``; 3 when
        the survey ran but visits failed (the table says which and why); 1
        when it could not run (one ``spelunker-survey: error: ...`` line on
        stderr says why); 130 when interrupted.  Usage errors exit with 2
        (``SystemExit``, from argparse).

    Examples
    --------
    >>> from spelunker.survey import main
    >>> main(["--program", "1534", "--program", "1541", "--output", "survey"])  # doctest: +SKIP
    0
    >>> main(["--program", "15x4", "--output", "survey"])  # doctest: +SKIP
    spelunker-survey: error: programs='15x4' must be a whole number in 1..99999
    1
    """
    code = _run(_parser().parse_args(argv))
    if argv is None:  # the command's own process (the console script, python -m)
        _exit(code)
    return code


def _exit(code):
    """End the command's process with ``code`` at once, once its exit handlers have run.

    The interpreter's tear-down of what a survey imported (jwst, astropy,
    Dask) takes 0.4-1.5 s and writes nothing: the atexit handlers (logging's
    flush among them) run, the standard streams are flushed, and the
    process ends there.
    """
    atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter's exit runs first
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _visits_ahead(args):
    """Whether the survey of ``args`` will run visits on a LocalCluster, as far as cheap
    checks tell: a new survey (or ``--rerun``) of an input folder that exists, or of MAST."""
    if args.scheduler is not None or (args.input is not None and not Path(args.input).is_dir()):
        return False
    return args.rerun or not (Path(args.output) / "rows").is_dir()


def _run(args):
    """The survey of the parsed arguments ``args``; the exit code."""
    # heavy: imported only once the arguments are parsed, so --help and usage errors answer
    # at once: the fork server's module first (multiprocessing, about 7 ms; the standard
    # library only, so neither numpy nor dask is imported before the server starts), then
    # the survey (distributed, jwst datamodels, stpipe, the compiled kernels, seconds) while
    # the server imports the pipeline.
    from spelunker.survey.workers import start_fork_server

    if _visits_ahead(args):
        # The workers' fork server imports the pipeline now, while this process imports
        # the survey and plans the visits.
        start_fork_server()
    from spelunker.survey.execution import run_survey

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        table = run_survey(args.output, programs=args.program, observations=args.observation,
                           visits=args.visit, input_dir=args.input, config_file=args.config,
                           workers=args.workers, scheduler=args.scheduler,
                           download_dir=args.download_dir, server=args.server,
                           keep_downloads=not args.delete_downloads, rerun=args.rerun,
                           progress=False if args.no_progress else None,
                           dashboard=args.dashboard)
    except SpelunkerError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted; run the same command again to resume (complete visits "
              f"are kept)", file=sys.stderr)
        return 130
    failed = [row for row in table if row["status"] != "ok"]
    print(f"{len(table)} visits: {len(table) - len(failed)} ok, {len(failed)} failed; "
          f"table {Path(args.output) / 'survey.ecsv'}, guide stars "
          f"{Path(args.output) / 'guidestars.ecsv'}")
    for row in failed:
        print(f"  {row['visit_id'] or row['program']}: {row['error']}")
    return 3 if failed else 0
