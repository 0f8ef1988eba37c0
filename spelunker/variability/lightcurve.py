"""The relative light curve of one visit and guide star, its masked frames and its PSF series.

`visit_lightcurve` reads one ``(visit_index, guidestar_index, frames)``
group of `spelunker.GuideStarModel.frame_groups` into a `VisitLightCurve`:
the optimal-aperture flux (``lightcurve`` table) divided by its median over
the used frames (apart on each side of a tilt or centroid jump,
`STEP_KINDS`, whose lasting flux step would otherwise pass for a long flare
or dip), the frame times in seconds, the mask of the frames not used (the
fit's flagged frames, NaN flux, and frames within `EVENT_MARGIN` seconds of
a technical event of the ``events`` table), and the PSF width
``(x_stddev + y_stddev) / 2`` and centroid of the fit table, which the
origin check (`spelunker.variability.origin`) compares inside and around
each flare and dip.  `model_events` reads the events table once for all
groups.
"""

import logging
from dataclasses import dataclass

import numpy as np

from spelunker._validate import check_finite_float
from spelunker.datamodels import check_model
from spelunker.datamodels.rows import run_slice
from spelunker.errors import GuideStarInputError, ParameterError

__all__ = ["VisitLightCurve", "visit_lightcurve", "model_events", "MASKED_KINDS",
           "STEP_KINDS", "EVENT_MARGIN"]

log = logging.getLogger(__name__)

#: Kinds of the events table whose frames are masked (and which make a flare or
#: dip technical, `spelunker.variability.origin`).  A ``gap`` holds no frame; a
#: ``flux_excursion`` is a flux change itself, the thing the origin check judges.
MASKED_KINDS = ("tilt", "centroid_jump", "hga_move", "guide_star_change")

#: Kinds of lasting changes: the light curve is normalised apart on each side of them
#: (a tilt that widens the PSF moves light out of the aperture for good).
STEP_KINDS = ("tilt", "centroid_jump")

#: Frames this close (s) to a technical event are masked: a mirror-segment tilt
#: completes within about 1.4 s and the event search places steps to about 1 s.
EVENT_MARGIN = 2.0


@dataclass(frozen=True)
class VisitLightCurve:
    """The series of one visit and guide star (`visit_lightcurve`).

    Attributes
    ----------
    visit_index, guidestar_index : int
        The group of `spelunker.GuideStarModel.frame_groups`.
    frames : numpy.ndarray
        int64 global frame rows of the model, in time order.
    times : numpy.ndarray
        float64 seconds since the model's earliest frame
        (`spelunker.GuideStarModel.frame_seconds`).
    mjd_zero : float
        MJD (UTC) of ``times == 0``.
    flux : numpy.ndarray
        Relative flux: the aperture flux over its median on the used frames
        (of each part between the tilts and centroid jumps when events are masked).
    mask : numpy.ndarray
        bool, True for a frame not used (flagged by the fit, NaN flux, or
        within the margin of a technical event).
    events : numpy.ndarray
        The events-table rows of `MASKED_KINDS` as ``(kind, start, end)``
        records, times in seconds like ``times`` (all of them, masked or not).
    psf : tuple of numpy.ndarray or None
        ``(x_stddev, y_stddev, x_mean, y_mean, flags)`` of the fit table
        for these frames (views, not copies), None without a fit table; read
        them with `psf_window` or `width`, `x`, `y`.
    """

    visit_index: int
    guidestar_index: int
    frames: np.ndarray
    times: np.ndarray
    mjd_zero: float
    flux: np.ndarray
    mask: np.ndarray
    events: np.ndarray
    psf: tuple | None = None

    def psf_window(self, start, stop):
        """PSF width ``(x_stddev + y_stddev) / 2`` and centroid (px) of positions ``start:stop``.

        Returns
        -------
        width, x, y : numpy.ndarray
            float64; NaN for frames flagged by the fit, all NaN without a fit.
        """
        if self.psf is None:
            nan = np.full(len(self.times[start:stop]), np.nan)
            return nan, nan.copy(), nan.copy()
        x_stddev, y_stddev, x_mean, y_mean, flags = (column[start:stop] for column in self.psf)
        width = 0.5 * (x_stddev.astype(np.float64) + y_stddev)
        x, y = x_mean.astype(np.float64), y_mean.astype(np.float64)
        flagged = flags != 0
        if flagged.any():
            width[flagged] = x[flagged] = y[flagged] = np.nan
        return width, x, y

    @property
    def width(self):
        """PSF width (px) of every frame; NaN where flagged or without a fit."""
        return self.psf_window(0, None)[0]

    @property
    def x(self):
        """Centroid column (px) of every frame; NaN where flagged or without a fit."""
        return self.psf_window(0, None)[1]

    @property
    def y(self):
        """Centroid row (px) of every frame; NaN where flagged or without a fit."""
        return self.psf_window(0, None)[2]

    @property
    def n_used(self):
        """Number of frames used (not masked)."""
        return int(np.count_nonzero(~self.mask))


_EVENT_DTYPE = np.dtype([("kind", "U24"), ("start", "f8"), ("end", "f8")])


def model_events(model, mjd_zero):
    """The model's technical events (`MASKED_KINDS`) as ``(kind, start, end)`` in seconds.

    Parameters
    ----------
    model : GuideStarModel
        Its ``events`` table is read when present (none: an empty array).
    mjd_zero : float
        MJD (UTC) of time 0.

    Returns
    -------
    numpy.ndarray
        Records ``kind`` (str), ``start`` and ``end`` (s since ``mjd_zero``).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.variability.lightcurve import model_events
    >>> len(model_events(GuideStarModel(), 60000.0))
    0
    """
    check_model(model, where="model_events")
    mjd_zero = check_finite_float(mjd_zero, "mjd_zero", where="model_events")
    if not model.hasattr("events") or len(model.events) == 0:
        return np.zeros(0, dtype=_EVENT_DTYPE)
    stored = np.asarray(model.events)
    kinds = np.char.strip(np.char.decode(stored["kind"], "ascii")
                          if stored["kind"].dtype.kind == "S" else stored["kind"].astype(str))
    keep = np.isin(kinds, MASKED_KINDS)
    events = np.zeros(int(np.count_nonzero(keep)), dtype=_EVENT_DTYPE)
    events["kind"] = kinds[keep]
    events["start"] = (np.asarray(stored["start_mjd"], dtype=float)[keep] - mjd_zero) * 86400.0
    events["end"] = (np.asarray(stored["end_mjd"], dtype=float)[keep] - mjd_zero) * 86400.0
    return events


def visit_lightcurve(model, visit_index, guidestar_index, frames, *, fit_table=None,
                     mask_events=True, margin=EVENT_MARGIN, seconds=None, events=None):
    """The relative light curve of one visit and guide star, with its mask and PSF series.

    Parameters
    ----------
    model : GuideStarModel
        With a ``lightcurve`` table (PhotometryOptimizeStep); not modified.
    visit_index, guidestar_index : int
        The group (`spelunker.GuideStarModel.frame_groups`).
    frames : array_like of int
        Its global frame rows, in time order.
    fit_table : {'gauss_fit', 'quick_fit'} or None, optional
        The fit whose flags mask frames and whose PSF width and centroid are
        kept; None: no fit (flags and PSF series unknown).
    mask_events : bool, optional
        Mask the frames within ``margin`` seconds of a technical event, and
        normalise the flux apart on each side of a tilt or centroid jump.
    margin : float, optional
        Seconds masked on each side of an event.
    seconds : numpy.ndarray, optional
        `spelunker.GuideStarModel.frame_seconds` of the model, when the
        caller has it (computed otherwise).
    events : numpy.ndarray, optional
        `model_events` of the model, when the caller has it.

    Returns
    -------
    VisitLightCurve

    Raises
    ------
    spelunker.errors.GuideStarInputError
        The model has no light curve of its frames (run PhotometryOptimizeStep).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import PhotometryOptimizeStep, datasets
    >>> from spelunker.variability.lightcurve import visit_lightcurve
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1500, n_segments=1)], seed=1)
    >>> model = PhotometryOptimizeStep.call(visit.files, bin_size=5.0)
    >>> import numpy as np
    >>> lc = visit_lightcurve(model, *model.frame_groups()[0])
    >>> lc.n_used, round(float(np.nanmedian(lc.flux[~lc.mask])), 6)
    (1500, 1.0)
    """
    check_model(model, where="visit_lightcurve")
    if not model.hasattr("lightcurve") or not model.hasattr("frames") \
            or len(model.lightcurve) != len(model.frames):
        msg = ("the model has no light curve of its frames; run PhotometryOptimizeStep "
               "(strun spelunker_photometry) first")
        raise GuideStarInputError(msg)
    margin = check_finite_float(margin, "margin", minimum=0, where="visit_lightcurve")
    try:
        frames = np.asarray(frames, dtype=np.int64)
    except (TypeError, ValueError):
        frames = np.zeros((0, 0), dtype=np.int64)
    if frames.ndim != 1 or (frames.size and not (0 <= frames.min() and frames.max()
                                                   < len(model.frames))):
        msg = (f"visit_lightcurve: frames must be rows of the model's {len(model.frames)} "
               "frames (one group of GuideStarModel.frame_groups)")
        raise ParameterError(msg)
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=np.float64)
    mjd_zero = float(mjd.min()) if mjd.size else 0.0
    if seconds is None:
        seconds = model.frame_seconds()
    rows = run_slice(frames)  # usually one run of rows: read without a gather
    times = np.asarray(seconds, dtype=np.float64)[rows]
    raw = np.asarray(model.lightcurve["flux"])[rows]
    mask = ~np.isfinite(raw)
    psf = None
    if fit_table is not None:
        fit = getattr(model, fit_table)
        psf = tuple(np.asarray(fit[column])[rows] for column in (
            "x_stddev", "y_stddev", "x_mean", "y_mean", "flags"))
        mask |= psf[-1] != 0
    if events is None:
        events = model_events(model, mjd_zero)
    if times.size:
        near = (events["end"] >= times[0] - margin) & (events["start"] <= times[-1] + margin)
        inside = events[near]
    else:
        inside = events[:0]
    if mask_events and inside.size:
        low = np.searchsorted(times, inside["start"] - margin, side="left")
        high = np.searchsorted(times, inside["end"] + margin, side="right")
        change = np.zeros(times.size + 1, dtype=np.int64)
        np.add.at(change, low, 1)
        np.add.at(change, high, -1)
        mask |= np.cumsum(change[:-1]) > 0
    flux = np.array(raw, dtype=np.float64)
    edges = [0, times.size]
    if mask_events and inside.size:
        steps = inside["start"][np.isin(inside["kind"], STEP_KINDS)]
        edges = [0, *np.searchsorted(times, np.sort(steps)).tolist(), times.size]
    for first, last in zip(edges[:-1], edges[1:], strict=True):
        used = ~mask[first:last]
        level = float(np.median(flux[first:last][used])) if used.any() else np.nan
        if level > 0:
            flux[first:last] /= level
        elif last > first:
            log.warning("visit %d, guide star %d: no positive median flux over the %d used "
                        "frame(s) from %.1f s; not searched", visit_index, guidestar_index,
                        int(used.sum()), times[first])
            mask[first:last] = True
    return VisitLightCurve(visit_index=int(visit_index), guidestar_index=int(guidestar_index),
                           frames=frames, times=times, mjd_zero=mjd_zero, flux=flux, mask=mask,
                           events=inside, psf=psf)
