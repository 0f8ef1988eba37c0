"""GuideStarEventStep: technical events found in a visit's series and tables.

Glue in the manner of jwst's small steps: open the input (a copy), check the
parameters, fit first if the model has no fit table
(`spelunker.fitting.ensure_fit_table`), call `spelunker.events.find_events`,
store the table with `spelunker.events.store_events`, log a summary.
"""

import logging
import time
from collections import Counter

from spelunker._validate import check_choice, check_positive_float
from spelunker.changepoints import check_step_options
from spelunker.events import find_events, store_events
from spelunker.fitting import ensure_fit_table
from spelunker.stpipe.core import SpelunkerStep

__all__ = ["GuideStarEventStep"]

log = logging.getLogger(__name__)


class GuideStarEventStep(SpelunkerStep):
    """Find technical events: mirror tilts, centroid jumps, flux excursions, HGA moves, gaps.

    The input is anything `spelunker.io.open_guidestar` reads, usually the
    output of `~spelunker.PhotometryOptimizeStep` (it is copied, never
    modified).  The result adds the ``events`` table
    (`spelunker.events.find_events`: one row per event with its kind, times,
    frames, the change of each series with its error, significance and
    source).  A model without a fit table is fitted first (moments), with a
    warning.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarEventStep, datasets
    >>> from spelunker.events import events_table
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=4000, n_segments=1)],
    ...     signals=[datasets.PsfWidthStep(time=100.0, factor=1.05),
    ...              datasets.HgaMove(start=150.0, stop=160.0)], seed=2)
    >>> result = GuideStarEventStep.call(visit.files)
    >>> events_table(result)["kind"].tolist()
    ['tilt', 'hga_move']
    """

    class_alias = "spelunker_events"

    spec = """
    fit_table = option('auto', 'gauss_fit', 'quick_fit', default='auto')  # Fit whose parameters are searched for steps; 'auto' prefers gauss_fit and runs the quick (moments) fit if the model has neither
    bin_size = float(default=1.0)  # Bin (s) of the step search: 1 s holds 16-19 frames; a tilt completes within about 1.4 s
    window = integer(min=2, default=10)  # Bins on each side of a boundary compared by the step statistic
    threshold = float(default=5.5)  # Smallest significance (sigma) of a step; 5.5 gives about 0.05 false steps per 10 hours of white noise
    gap = float(default=1.0)  # Shortest gap between frames reported as an event (s)
    suffix = string(default='gsevents')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Events of ``input_data`` (anything `spelunker.io.open_guidestar` reads).

        Returns a copy of the input with the ``events`` table (and a fit
        table if one had to be computed).
        """
        name = self.name
        fit_table = check_choice(self.fit_table, "fit_table", ("auto", "gauss_fit", "quick_fit"),
                                 where=name)
        bin_size, window, threshold = check_step_options(self.bin_size, self.window,
                                                         self.threshold, where=name)
        options = dict(bin_size=bin_size, window=window, threshold=threshold,
                       gap=check_positive_float(self.gap, "gap", unit="seconds", where=name))
        model = self.open_input(input_data, progress=False)
        if model.hasattr("data"):
            fit_table = ensure_fit_table(model, fit_table)
        start = time.perf_counter()
        events = find_events(model, fit_table=fit_table, **options)
        store_events(model, events)
        counts = Counter(events["kind"])
        log.info("events: %d found in %.2f s (%s)", len(events), time.perf_counter() - start,
                 ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none")
        for row in events:
            log.info("  %-17s %s  %6.1f s  %s  %s", row["kind"], row["start"].isot,
                     row["duration"].value, row["parameters"] or "-",
                     f"{row['significance']:.1f} sigma" if row["significance"] == row[
                         "significance"] else row["source"])
        return model
