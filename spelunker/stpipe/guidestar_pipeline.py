"""GuideStarPipeline: fit, photometry and periodogram of a visit in one run."""

import logging
import os

from spelunker.plotting import summarize, write_visit_report
from spelunker.stpipe.core import SpelunkerPipeline
from spelunker.stpipe.guide_star_fit_step import GuideStarFitStep
from spelunker.stpipe.periodogram_step import PeriodogramStep
from spelunker.stpipe.photometry_optimize_step import PhotometryOptimizeStep

__all__ = ["GuideStarPipeline"]

log = logging.getLogger(__name__)


class GuideStarPipeline(SpelunkerPipeline):
    """Fit every frame, optimise the aperture and compute periodograms.

    Runs `GuideStarFitStep` (``steps.fit``), `PhotometryOptimizeStep`
    (``steps.photometry``) and `PeriodogramStep` (``steps.periodogram``) on
    one `~spelunker.GuideStarModel` and saves one product with the suffix
    ``gspipe``.  Each step's own product is saved too when its
    ``save_results`` is set (``--steps.fit.save_results=true``).

    The package ships parameter files for it (see
    `spelunker.stpipe.parameter_file`): ``spelunker_pipeline.asdf`` (the
    defaults, 2-D Gaussian fit) and ``spelunker_pipeline_quicklook.asdf``
    (moments fit)::

        strun spelunker_pipeline jw01534001001_gs-fg_*_cal.fits
        strun "$(python -c 'import spelunker.stpipe as s; print(s.parameter_file("quicklook"))')" visit/

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
    suffix = string(default='gspipe')  # Suffix of the output file name
    """  # noqa: E501

    step_defs = {
        "fit": GuideStarFitStep,
        "photometry": PhotometryOptimizeStep,
        "periodogram": PeriodogramStep,
    }

    def process(self, input_data):
        """Run the three steps on ``input_data`` and return the model.

        Parameters
        ----------
        input_data : object
            Anything `spelunker.io.open_guidestar` accepts.

        Returns
        -------
        GuideStarModel
            With the fit table, the light curve and aperture, and the
            periodograms.
        """
        model = self.open_input(input_data, progress=bool(self.progress))
        model = self.fit.run(model)
        model = self.photometry.run(model)
        model = self.periodogram.run(model)
        for line in summarize(model).splitlines():
            log.info(line)
        if self.report:
            page = write_visit_report(model, self.report_dir or self.output_dir or os.getcwd())
            log.info("quick-look report (open this page): %s", page)
        return model
