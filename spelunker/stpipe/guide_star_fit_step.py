"""GuideStarFitStep: fit the PSF of every fine-guide frame.

Glue in the manner of jwst's small steps: open the input (a copy), check the
parameters, call `spelunker.fitting.run_fit`, store the result with
`spelunker.fitting.store_fit`, log a summary, return the model.
"""

import logging

import numpy as np

from spelunker._validate import check_choice, check_cpus, check_positive_int, parse_dq_bits
from spelunker.datamodels import FIT_TABLES
from spelunker.fitting import flag_counts, run_fit, store_fit
from spelunker.stpipe.core import SpelunkerStep

__all__ = ["GuideStarFitStep"]

log = logging.getLogger(__name__)


class GuideStarFitStep(SpelunkerStep):
    """Fit every fine-guide frame with a 2-D Gaussian or with image moments.

    The input is anything `spelunker.io.open_guidestar` reads: calibrated
    fine-guide products (paths, a glob, a directory, an association), open
    ``GuiderCalModel`` objects, or a `~spelunker.GuideStarModel` (saved or
    in memory; it is copied, never modified).  The result is a
    GuideStarModel with one row per frame in ``gauss_fit`` (method
    ``gauss``) or ``quick_fit`` (method ``quick``): the seven parameters
    ``amplitude, x_mean, y_mean, x_stddev, y_stddev, theta, offset``, their
    1-sigma errors, ``chi2``, ``dof``, ``iterations`` and ``flags``
    (`spelunker.fitting.FitFlag`, 0 for a clean fit).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarFitStep, datasets
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> result = GuideStarFitStep.call(visit.files, method="quick")
    >>> len(result.quick_fit) == len(result.data)
    True
    """

    class_alias = "spelunker_fit"

    spec = """
    method = option('gauss', 'quick', default='gauss')  # 'gauss': least-squares 2-D Gaussian fit of every frame, with errors and chi2; 'quick': image moments, faster, errors for centre and background only
    ncpus = integer(min=1, default=None)  # Number of threads (capped at the CPUs available); default: every CPU this process may use; results do not depend on it
    max_iterations = integer(min=1, default=50)  # Most Levenberg-Marquardt iterations per frame (method 'gauss'); frames that need more are flagged
    bad_dq_bits = pass(default='DO_NOT_USE')  # DQ bits of pixels left out of the fit: an integer, or JWST DQ names joined by '+' or ','; '0' uses every finite pixel
    progress = boolean(default=False)  # Show progress bars while reading and fitting
    suffix = string(default='gsfit')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Fit the frames of ``input_data`` (anything `spelunker.io.open_guidestar` reads).

        Returns a copy of the input with the ``gauss_fit`` or ``quick_fit``
        table and ``meta.spelunker.fit_*`` filled in.
        """
        # The spec checks values given to call/strun; attributes set on an
        # instance afterwards are checked here.
        method = check_choice(self.method, "method", tuple(FIT_TABLES), where=self.name)
        ncpus = check_cpus(self.ncpus, where=self.name, log=log)
        max_iterations = check_positive_int(self.max_iterations, "max_iterations",
                                            where=self.name)
        bad_bits = parse_dq_bits(self.bad_dq_bits, where=self.name)
        model = self.open_input(input_data, progress=bool(self.progress))
        # table=True: the fit writes the model's table itself, which store_fit keeps.
        result, elapsed = run_fit(model, method, ncpus=ncpus, max_iterations=max_iterations,
                                  bad_dq_bits=bad_bits, progress=bool(self.progress),
                                  table=True)
        table = store_fit(model, result, method, ncpus=ncpus)
        _log_summary(table, method, elapsed)
        return model


def _log_summary(table, method, elapsed):
    n_frames = len(table)
    flags = np.asarray(table["flags"])
    n_flagged = int(np.count_nonzero(flags))
    fraction = n_flagged / n_frames if n_frames else 0.0
    rate = n_frames / elapsed if elapsed > 0 else float("inf")
    log.info("%s fit: %d frames in %.2f s (%.0f frames/s); %d flagged (%.2f%%)",
             method, n_frames, elapsed, rate, n_flagged, 100 * fraction)
    for name, count in flag_counts(flags):
        log.info("  %s: %d frame(s)", name, count)
