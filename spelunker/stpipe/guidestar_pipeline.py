"""GuideStarPipeline: fit, photometry and periodogram of a visit in one run."""

import logging
import os

import numpy as np

from spelunker.stpipe.core import SpelunkerPipeline
from spelunker.stpipe.guide_star_fit_step import FIT_TABLES, GuideStarFitStep
from spelunker.stpipe.periodogram_step import PeriodogramStep
from spelunker.stpipe.photometry_optimize_step import PhotometryOptimizeStep

__all__ = ["GuideStarPipeline", "summarize"]

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
            from spelunker.plotting import write_visit_report

            page = write_visit_report(model, self.report_dir or self.output_dir or os.getcwd())
            log.info("quick-look report (open this page): %s", page)
        return model


def summarize(model, *, n_peaks=3):
    """A short text summary of a GuideStarModel and its results.

    Parameters
    ----------
    model : GuideStarModel
        A read model, with or without results.
    n_peaks : int, optional
        Periodogram peaks listed per series.

    Returns
    -------
    str
        Frames, files and guide stars; fit success rate; aperture size (the
        N brightest pixels, or a user aperture, as
        ``meta.spelunker.photometry_aperture`` says) and binned scatter; the
        strongest periodogram peaks.
    """
    lines = []
    times = model.frame_times[[0, -1]]
    span = (times[1] - times[0]).to_value("s")
    lines.append(f"frames: {len(model.data)} from {len(model.files)} file(s), "
                 f"{len(model.guidestars)} guide star(s), {span:.1f} s "
                 f"({times[0].isot} to {times[1].isot} UTC)")
    for method, name in FIT_TABLES.items():
        if model.hasattr(name):
            flags = np.asarray(getattr(model, name)["flags"])
            clean = np.count_nonzero(flags == 0)
            lines.append(f"fit ({method}): {clean} of {len(flags)} frames clean "
                         f"({100.0 * clean / max(len(flags), 1):.2f}%)")
    if model.hasattr("aperture_search"):
        search = np.asarray(model.aperture_search)
        kind = model.meta.spelunker.photometry_aperture
        for row in search[search["selected"] == 1]:
            n_pixels = int(row["n_pixels"])
            if kind == "user":
                what = f"user aperture of {n_pixels} pixels"
            elif kind in ("optimized", "optimized_per_guidestar"):
                what = f"{n_pixels} brightest pixels"
            else:  # a product that does not say how its aperture was chosen
                what = f"aperture of {n_pixels} pixels"
            lines.append(f"aperture: {what}, binned relative scatter "
                         f"{row['binned_scatter']:.3g} (guide star index {row['guidestar_index']})")
    if model.hasattr("periodogram_peaks"):
        peaks = np.asarray(model.periodogram_peaks)
        for series in dict.fromkeys(peaks["series"]):
            mine = peaks[(peaks["series"] == series) & (peaks["rank"] <= n_peaks)]
            text = ", ".join(f"{row['period']:.4g} s (FAP {row['false_alarm_probability']:.1e})"
                             for row in mine)
            lines.append(f"periodogram {series.decode() if isinstance(series, bytes) else series}: "
                         f"{text}")
    return "\n".join(lines)
