"""GuideStarVariabilityStep: flares, dips, periods and classes of each visit and guide star.

Glue in the manner of jwst's small steps: open the input (a copy), check the
parameters, measure the light curve first if the model has none
(`spelunker.photometry.run_photometry`, with a warning), fit first if it has
no fit table (`spelunker.fitting.ensure_fit_table`: the origin check needs
the PSF width), find the technical events first if it has no events table
(`spelunker.events.find_events`, so that tilts, HGA moves and guide-star
changes are masked and never taken for astrophysical signals), call
`spelunker.variability.find_variability`, store the tables with
`spelunker.variability.store_variability`, log a summary.
"""

import logging
import time

from spelunker._validate import check_cpus
from spelunker.events import find_events, store_events
from spelunker.fitting import ensure_fit_table
from spelunker.photometry import run_photometry, store_photometry
from spelunker.stpipe.core import SpelunkerStep

__all__ = ["GuideStarVariabilityStep"]

log = logging.getLogger(__name__)


class GuideStarVariabilityStep(SpelunkerStep):
    """Find flares and dips, their origin, the period, the noise and the classes of the star.

    The input is anything `spelunker.io.open_guidestar` reads, usually the
    output of `~spelunker.GuideStarEventStep` (it is copied, never
    modified).  The result adds the ``flares``, ``dips`` and
    ``variability`` tables (`spelunker.variability.find_variability`: one
    row per flare or dip with its times, size, significance and origin,
    technical or astrophysical; one ``variability`` row per visit and guide
    star with the noise, the period and the classes).  A model without a
    light curve gets the photometry first, one without a fit table the
    moments fit, one without an events table the events (each with a
    warning; the tables are kept in the output).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarVariabilityStep, datasets
    >>> from spelunker.variability import dips_table, variability_table
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=6000, n_segments=1)],
    ...     signals=[datasets.Transit(mid_time=150.0, duration=20.0, depth=0.05)], seed=3)
    >>> result = GuideStarVariabilityStep.call(visit.files)
    >>> dips_table(result)["origin"].tolist(), variability_table(result)["classes"].tolist()
    (['astrophysical'], ['dipping'])
    """

    class_alias = "spelunker_variability"

    spec = """
    fit_table = option('auto', 'gauss_fit', 'quick_fit', default='auto')  # Fit whose flags mask frames and whose PSF width and centroid tell technical from astrophysical signals; 'auto' prefers gauss_fit and runs the quick (moments) fit if the model has neither
    mask_events = boolean(default=True)  # Leave out the frames near technical events of the events table (tilts, centroid jumps, HGA moves, guide-star changes); the events table is computed first when the input has none
    margin = float(default=2.0)  # Seconds left out on each side of a technical event: a mirror tilt completes within about 1.4 s
    flare_threshold = float(default=None)  # Significance (sigma) of a flare; default that of spelunker.variability.find_flares
    dip_threshold = float(default=None)  # Significance (sigma) of a dip; default that of spelunker.variability.find_dips
    ncpus = integer(min=1, default=None)  # Number of threads (capped at the CPUs available; the flare and dip searches and the BoxLeastSquares periods run at most 2 at once); default: every CPU this process may use; results do not depend on it
    suffix = string(default='gsvar')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Flares, dips and variability of ``input_data`` (anything `open_guidestar` reads).

        Returns a copy of the input with the ``flares``, ``dips`` and
        ``variability`` tables (and the light curve, fit and events tables
        if they had to be computed).
        """
        # heavy: spelunker.variability loads scipy.optimize (0.1-0.3 s), imported when the step
        # runs, not by ``strun spelunker_pipeline --help``
        from spelunker.variability.core import (check_variability_options, find_variability,
                                                store_variability)

        fit_table, mask_events, _, margin = check_variability_options(
            self.fit_table, self.mask_events, self.flare_threshold, self.dip_threshold,
            self.margin, where=self.name)
        ncpus = check_cpus(self.ncpus, where=self.name, log=log)
        model = self.open_input(input_data, progress=False)
        if not model.hasattr("lightcurve"):
            model.require_frames("the light curve (photometry)")
            log.warning("the input has no lightcurve table: running the photometry first "
                        "(PhotometryOptimizeStep defaults); the table is kept in the output")
            store_photometry(model, run_photometry(model))
        if model.hasattr("data"):
            fit_table = ensure_fit_table(model, fit_table)
        if not model.hasattr("events"):
            log.warning("the input has no events table: finding the technical events first "
                        "(GuideStarEventStep defaults); the table is kept in the output")
            fit = fit_table if any(model.hasattr(n) for n in ("gauss_fit", "quick_fit")) \
                else "auto"
            store_events(model, find_events(model, fit_table=fit))
        start = time.perf_counter()
        result = find_variability(model, fit_table=fit_table, mask_events=mask_events,
                                  margin=margin, flare_threshold=self.flare_threshold,
                                  dip_threshold=self.dip_threshold, ncpus=ncpus)
        store_variability(model, result)
        log.info("variability: %d flare(s), %d dip(s) in %.2f s", len(result.flares),
                 len(result.dips), time.perf_counter() - start)
        for kind, table, time_column, size in (("flare", result.flares, "peak", "amplitude"),
                                               ("dip", result.dips, "mid", "depth")):
            for row in table:
                log.info("  %-5s %s  %8.1f s  %s %.4g +- %.2g  %5.1f sigma  %s%s", kind,
                         row[time_column].isot, row["duration"].value, size, row[size],
                         row[f"{size}_error"], row["significance"], row["origin"],
                         f" ({row['technical_event']})" if row["technical_event"] else "")
        for row in result.variability:
            log.info("  visit %s, guide star %s: %s", row["visit_id"] or row["visit_index"],
                     row["guidestar_id"] or row["guidestar_index"], row["classes"] or "-")
        return model
