"""The text summary of a model: frames, fit success, aperture, periodogram peaks, events.

`summarize` is what ``make demo``, the pipeline's log and a notebook print
after a run; it reads the model and draws nothing.
"""

import numpy as np

from spelunker._validate import check_positive_int
from spelunker.datamodels import FIT_TABLES, check_model
from spelunker.datamodels.guidestar import group_rows
from spelunker.events import events_table

__all__ = ["summarize"]


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
        strongest periodogram peaks; the technical events (the first ten).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.plotting import summarize
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> summarize(read_guidestar(visit.files)).split(",")[0]
    'frames: 6000 from 3 file(s)'
    """
    n_peaks = check_positive_int(n_peaks, "n_peaks", where="summarize")
    check_model(model, where="summarize")
    lines = []
    times = model.frame_times_at([0, -1])
    span = (times[1] - times[0]).to_value("s")
    lines.append(f"frames: {len(model.frames)} from {len(model.files)} file(s), "
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
        groups = group_rows(peaks["visit_index"], peaks["guidestar_index"])
        for visit_index, star, rows in groups:
            where = f" (visit {visit_index}, guide star {star})" if len(groups) > 1 else ""
            group = peaks[rows]
            for series in dict.fromkeys(group["series"]):
                mine = group[(group["series"] == series) & (group["rank"] <= n_peaks)]
                text = ", ".join(f"{row['period']:.4g} s (FAP "
                                 f"{row['false_alarm_probability']:.1e})" for row in mine)
                name = series.decode() if isinstance(series, bytes) else series
                lines.append(f"periodogram {name}{where}: {text}")
    if model.hasattr("events"):
        events = events_table(model)
        counts = {}
        for kind in events["kind"]:
            counts[str(kind)] = counts.get(str(kind), 0) + 1
        lines.append(f"events: {len(events)}" + (" (" + ", ".join(
            f"{n} {kind}" for kind, n in counts.items()) + ")" if counts else ""))
        t0 = model.frame_times_at(0)
        for row in events[:10]:
            lines.append(f"  {row['kind']} at {(row['start'] - t0).to_value('s'):.1f} s "
                         f"({row['start'].isot} UTC), {row['duration'].to_value('s'):.1f} s"
                         + (f", {row['parameters']}" if row["parameters"] else ""))
    return "\n".join(lines)
