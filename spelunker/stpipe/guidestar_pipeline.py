"""GuideStarPipeline: fit, photometry, periodogram, events and variability of a visit in one run."""

import logging
import os

from spelunker.datamodels import GuideStarModel
from spelunker.errors import ParameterError
from spelunker.io import open_visits
from spelunker.names import selection_text, visit_id
from spelunker.plotting.summary import summarize
from spelunker.stpipe.core import SpelunkerPipeline
from spelunker.stpipe.event_step import GuideStarEventStep
from spelunker.stpipe.guide_star_fit_step import GuideStarFitStep
from spelunker.stpipe.periodogram_step import PeriodogramStep
from spelunker.stpipe.photometry_optimize_step import PhotometryOptimizeStep
from spelunker.stpipe.variability_step import GuideStarVariabilityStep

__all__ = ["GuideStarPipeline"]

log = logging.getLogger(__name__)


class GuideStarPipeline(SpelunkerPipeline):
    """Fit every frame, optimise the aperture, compute periodograms, find events and variability.

    Runs `GuideStarFitStep` (``steps.fit``), `PhotometryOptimizeStep`
    (``steps.photometry``), `PeriodogramStep` (``steps.periodogram``),
    `GuideStarEventStep` (``steps.events``) and `GuideStarVariabilityStep`
    (``steps.variability``: flares, dips, periods, classes) on each visit
    (program, observation, visit) of its input and saves one product per
    visit with the suffix ``gspipe``
    (``jw<ppppp><ooo><vvv>_gs-fg_<first stamp>_gspipe.fits``).  Visits are
    read and processed one at a time, so memory is that of the largest
    visit.  Each step's own product is saved too when its ``save_results``
    is set (``--steps.fit.save_results=true``).

    The package ships parameter files for it (see
    `spelunker.stpipe.parameter_file`): ``spelunker_pipeline.asdf`` (the
    defaults, 2-D Gaussian fit) and ``spelunker_pipeline_quicklook.asdf``
    (moments fit)::

        strun spelunker_pipeline jw01534001001_gs-fg_*_cal.fits
        strun "$(python -c 'import spelunker.stpipe as s; print(s.parameter_file("quicklook"))')" \
            visit/

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.stpipe import GuideStarPipeline
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    >>> sorted(name for name in ("quick_fit", "lightcurve", "periodogram") if model.hasattr(name))
    ['lightcurve', 'periodogram', 'quick_fit']
    """

    class_alias = "spelunker_pipeline"

    spec = """
    progress = boolean(default=False)  # Show progress bars while reading and fitting
    report = boolean(default=False)  # Also write the quick-look report: the standard figures as PNG and one self-contained HTML page per visit (<stem>_report.html; several visits also get an index page)
    report_dir = string(default=None)  # Folder of the report; default: output_dir, else the current folder
    save_frames = boolean(default=False)  # Also keep the frames (SCI, ERR, DQ) in the saved product; by default it holds the results and the per-frame, file and on-board tables only, since the frames are in the input products its files table names (about 0.45x their size instead of 1.8x)
    suffix = string(default='gspipe')  # Suffix of the output file name
    """  # noqa: E501

    step_defs = {
        "fit": GuideStarFitStep,
        "photometry": PhotometryOptimizeStep,
        "periodogram": PeriodogramStep,
        "events": GuideStarEventStep,
        "variability": GuideStarVariabilityStep,
    }

    def process(self, input_data):
        """Run the five steps on each visit of ``input_data`` (anything `open_guidestar` reads).

        One visit: returns the model, with the fit table, the light curve and
        aperture, the periodograms, the events and the variability tables
        (stpipe saves it).  Several visits:
        one model per visit, in time order; when results are saved
        (``strun``, ``save_results``) each visit's product is written as
        soon as it is done and the list holds the product paths instead, so
        memory stays that of one visit.
        """
        visits = open_visits(self.make_input_path(input_data), progress=bool(self.progress))
        if len(visits) == 1:
            model = self._run_visit(visits[0].read(progress=bool(self.progress)))
            if self.report:
                self._report([model])
            return model
        if self.output_file:
            msg = (f"{self.name}: output_file={self.output_file!r} names one product, but the "
                   f"input holds {len(visits)} visits ({[v.key for v in visits]}); give "
                   "output_dir instead (each visit gets its own product)")
            raise ParameterError(msg)
        log.info("%d visits: one product each (%s)", len(visits),
                 ", ".join(visit_id(*v.key) for v in visits))
        results, entries = [], []
        for visit in visits:
            log.info("%s: %d frames in %d file(s)", selection_text(*visit.key), visit.n_frames,
                     len(visit.names))
            model = self._run_visit(visit.read(progress=bool(self.progress)))
            model.meta.filename = visit.name
            if self.report:
                entries.extend(self._report([model]))
            if self.save_results:
                results.append(self.save_model(model, output_file=visit.name, force=True))
                model.close()
            else:
                results.append(model)
        if self.report:
            # heavy: the presentation layer (the report and figure modules, 0.2 s),
            # imported when a report is written
            from spelunker.plotting import write_report_index

            page = write_report_index(entries, self._report_dir())
            log.info("quick-look report index (open this page): %s", page)
        return results

    def save_model(self, model, *args, **kwargs):
        """Save a product; without ``save_frames`` the frames stay out of it.

        ``model`` itself keeps its frames.
        """
        if self.save_frames or not isinstance(model, GuideStarModel):
            return super().save_model(model, *args, **kwargs)
        with model.without_frames():
            return super().save_model(model, *args, **kwargs)

    def _run_visit(self, model):
        model = self.fit.run(model)
        model = self.photometry.run(model)
        model = self.periodogram.run(model)
        model = self.events.run(model)
        model = self.variability.run(model)
        for line in summarize(model).splitlines():
            log.info(line)
        return model

    def _report_dir(self):
        return self.report_dir or self.output_dir or os.getcwd()

    def _report(self, models):
        """Write the report page of each visit model; returns their index entries."""
        # heavy: the presentation layer (the report and figure modules, 0.2 s),
        # imported when a report is written
        from spelunker.plotting import write_visit_report
        from spelunker.plotting.report import report_entry

        entries = []
        for model in models:
            page = write_visit_report(model, self._report_dir())
            log.info("quick-look report (open this page): %s", page)
            entries.append(report_entry(model, page))
        return entries
