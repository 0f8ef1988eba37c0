"""Optimal-aperture photometry of fine-guide frames.

The light curve of a guide star is the sum of the pixels of an aperture in
every frame (DN/s).  The sum of all 64 pixels (`full_frame_flux`) carries the
read noise and background of every pixel; a smaller aperture of the brightest
pixels usually gives a steadier light curve.  `optimize_aperture` tries every
aperture made of the N brightest pixels of the median frame and keeps the N
whose light curve, binned in time, scatters least.

The functions here work on plain arrays and know nothing of stpipe;
`run_photometry` runs the search on a `~spelunker.GuideStarModel`, and
`store_photometry` and `lightcurve_table` convert between a result and the
model (`spelunker.stpipe.PhotometryOptimizeStep` and the notebook API share
them).

The method, step by step:

1. **Reference frame.**  The NaN-safe median of the frames (pixels that are
   non-finite or carry a bad DQ bit left out), taken over at most
   ``reference_frames`` evenly spaced frames (20,000 by default: the median
   of a million frames costs seconds and moves by far less than the
   differences between pixels).
2. **Ranking.**  Pixels sorted by their median value, brightest first (ties
   by pixel number, pixels with no finite median last).  The aperture of
   size N is the first N pixels.
3. **Metric.**  For each N, the light curve is binned in time bins of
   ``bin_size`` seconds (bin k holds the frames with
   ``k <= (t - t_first) / bin_size < k + 1``).  A bin is used when at least
   half as many frames as in a typical (median) bin have a finite flux for
   that aperture; emptier bins (gaps, the partial bins at the ends, runs of
   bad frames) are dropped.  The metric is the relative scatter of the bin
   means: their sample standard deviation (``ddof=1``) divided by their
   mean.  An N with fewer than `MIN_BINS` usable bins, or a non-positive
   mean, gets NaN and cannot be chosen.
4. **Choice.**  The N with the smallest metric (the smallest N among
   equals).

Bad data are never summed as zeros: a frame whose aperture contains a
non-finite pixel, or a pixel with one of the ``bad_dq_bits`` set, has a NaN
flux for that aperture and drops out of its bins.  The baseline reported
with every search, and with a user aperture (``full_frame_scatter``), is
the metric of the sum of the *usable* pixels: those not flagged in every
frame and with a finite reference value.

All N are evaluated at once, in chunks of frames: per chunk the pixel
values of the frames are summed per time bin, and a cumulative sum over the
ranked pixels of those bin sums gives the bin sums of every aperture.
Frames with bad pixels are grouped by the rank of their first bad pixel and
contribute only to the apertures smaller than that rank.  The search on a
million frames takes a fraction of a second and never holds more than one
chunk of frames in float64.
"""

import logging
import math
import os
import warnings
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable

from spelunker._validate import check_positive_float, check_positive_int
from spelunker.binning import DEFAULT_BIN_SIZE, time_bin_index
from spelunker.errors import GuideStarInputError, ParameterError

__all__ = [
    "ApertureResult",
    "optimize_aperture",
    "aperture_flux",
    "full_frame_flux",
    "usable_pixels",
    "binned_scatter",
    "reference_frame",
    "run_photometry",
    "read_aperture_mask",
    "store_photometry",
    "lightcurve_table",
    "DEFAULT_REFERENCE_FRAMES",
    "MIN_BINS",
    "MIN_BIN_FRACTION",
    "APERTURE_KINDS",
]

log = logging.getLogger(__name__)

#: Default number of evenly spaced frames whose median is the reference frame.
DEFAULT_REFERENCE_FRAMES = 20_000

#: Fewest usable time bins for a binned scatter.
MIN_BINS = 4

#: A bin is used when it holds at least this fraction of a typical bin's frames.
MIN_BIN_FRACTION = 0.5

#: How an aperture was chosen (``meta.spelunker.photometry_aperture``).
APERTURE_KINDS = ("optimized", "optimized_per_guidestar", "user")

# Frames per chunk: float32 chunks of 32k frames (8 MB) keep the
# temporaries in cache-friendly sizes; results do not depend on it.
_CHUNK_FRAMES = 32768


@dataclass
class ApertureResult:
    """Result of `optimize_aperture` (or of a user aperture).

    Attributes
    ----------
    masks : numpy.ndarray
        uint8 ``(n_masks, rows, columns)``, 1 for pixels in the aperture.
        One plane per group (row = group value, e.g. ``guidestar_index``)
        when the search ran per group, otherwise a single plane used for
        every frame.
    flux : numpy.ndarray
        float64 ``(n_frames,)``: sum of the aperture pixels of each frame
        (DN/s); NaN where the aperture holds a non-finite or flagged pixel.
    flux_err : numpy.ndarray
        float64 ``(n_frames,)``: ``sqrt(sum(ERR**2))`` over the aperture
        (DN/s); NaN where ``flux`` is NaN or no ERR was given.
    n_pixels : numpy.ndarray
        int32 ``(n_frames,)``: number of pixels in the aperture of each frame.
    search : astropy.table.QTable
        Every aperture tried: ``guidestar_index`` (group; -1 when one
        aperture serves all frames), ``n_pixels``, ``binned_scatter``
        (relative scatter of the binned light curve, NaN if unusable) and
        ``selected``.
    summary : astropy.table.QTable
        One row per group searched (``guidestar_index`` -1 for all frames
        together): ``n_frames``, the chosen ``n_pixels``, its
        ``binned_scatter`` and ``full_frame_scatter``, the same metric for
        the sum of all usable pixels (the baseline): pixels not flagged in
        every frame and with a finite reference (median) value, with a
        user aperture too.
    bin_size : float
        Time bin (seconds) of the metric.
    aperture : str
        ``'optimized'``, ``'optimized_per_guidestar'`` or ``'user'``.
    groups : numpy.ndarray or None
        Plane of ``masks`` used by each frame, or None when there is one plane.
    """

    masks: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    n_pixels: np.ndarray
    search: object
    summary: object
    bin_size: float
    aperture: str
    groups: np.ndarray | None = None

    @property
    def selected(self):
        """The rows of `search` that were selected (one per group)."""
        return self.search[np.asarray(self.search["selected"], dtype=bool)]


# --------------------------------------------------------------------------
# Public functions


def optimize_aperture(
    data,
    err=None,
    *,
    times,
    dq=None,
    bad_dq_bits=1,
    bin_size=DEFAULT_BIN_SIZE,
    n_pixels=None,
    groups=None,
    mask=None,
    reference_frames=DEFAULT_REFERENCE_FRAMES,
):
    """Choose the aperture of brightest pixels whose binned light curve scatters least.

    See the module documentation (`spelunker.photometry`) for the method.

    Parameters
    ----------
    data : array_like
        Frames ``(n_frames, rows, columns)`` in DN/s (float32 fine-guide frames).
    err : array_like or None, optional
        1-sigma uncertainties of the pixels, same shape (DN/s); gives
        ``flux_err``.  None: ``flux_err`` is NaN.
    times : array_like
        ``(n_frames,)`` frame times in seconds (any zero point, e.g.
        `GuideStarModel.frame_seconds`); only differences matter.
    dq : array_like or None, optional
        Data-quality bits, ``(n_frames, rows, columns)`` or ``(rows,
        columns)`` for every frame.
    bad_dq_bits : int, optional
        DQ bits that make a pixel unusable (default 1, ``DO_NOT_USE``); 0
        uses every finite pixel.
    bin_size : float, optional
        Time bin (seconds) of the light curve whose scatter is minimised.
    n_pixels : int, sequence of int or None, optional
        Aperture sizes to try (each between 1 and the number of pixels);
        None tries every size, 1 to 64 for 8x8 frames.
    groups : array_like of int or None, optional
        ``(n_frames,)`` non-negative group of each frame (e.g. the
        ``guidestar_index`` of the model's ``frames`` table): one
        independent aperture per group, stored in plane ``group`` of
        ``masks``.  None: one aperture for all frames.
    mask : array_like of bool or None, optional
        ``(rows, columns)`` user aperture (nonzero = in the aperture): no
        search; its scatter (per group if ``groups`` is given) is still
        reported.
    reference_frames : int or None, optional
        The median frame is taken over at most this many evenly spaced
        frames (of each group); None uses every frame.

    Returns
    -------
    ApertureResult
        Masks, per-frame ``flux``, ``flux_err`` and ``n_pixels``, the
        ``search`` table (every size tried) and the ``summary`` (per group:
        the chosen size, its binned scatter and that of the full frame).

    Raises
    ------
    ValueError
        For arrays of the wrong shape, an empty or out-of-range
        ``n_pixels``, a non-positive ``bin_size``, a series too short for
        `MIN_BINS` bins, an empty or mis-shaped ``mask``, or when no
        aperture gives a usable light curve.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.photometry import full_frame_flux, optimize_aperture, binned_scatter
    >>> data, err, _ = simulate_frames(2000, fgs_mag=16.0, seed=3)
    >>> times = np.arange(2000) * 0.0538
    >>> result = optimize_aperture(data, err, times=times, bin_size=2.0)
    >>> int(result.selected["n_pixels"][0]) < 64
    True
    >>> full, _ = full_frame_flux(data)
    >>> bool(binned_scatter(result.flux, times, bin_size=2.0)
    ...      < binned_scatter(full, times, bin_size=2.0))
    True
    """
    data, err, dq = _check_frames(data, err, dq)
    shape = data.shape[1:]
    n_frames, n_pix = data.shape[0], shape[0] * shape[1]
    times = _check_times(times, n_frames)
    bin_size = _check_bin_size(bin_size)
    bits = _check_bits(bad_dq_bits)
    groups = _check_groups(groups, n_frames)
    if mask is not None:
        mask = _check_mask(mask, shape)
        sizes = np.array([int(mask.sum())])
    else:
        sizes = _check_sizes(n_pixels, n_pix)
    if reference_frames is not None:
        reference_frames = check_positive_int(reference_frames, "reference_frames")

    labels = [-1] if groups is None else [int(g) for g in np.unique(groups)]
    n_masks = 1 if (groups is None or mask is not None) else labels[-1] + 1
    masks = np.zeros((n_masks,) + shape, dtype=np.uint8)
    search_rows, summary_rows = [], []
    for label in labels:
        select = _selection(groups, label)
        where = "" if label < 0 else f" of group (guide star) {label}"
        group_times = times if select is None else times[select]
        bins, n_bins, min_count = _time_bins(group_times, bin_size, where=where,
                                             strict=mask is None)
        reference = reference_frame(data, dq, bits, select, reference_frames)
        # Static bad pixels rank last and never enter; the usable pixels (not
        # flagged in every frame, finite reference value) make the full frame.
        static = ~usable_pixels(data.shape, dq=dq, bad_dq_bits=bits, select=select).ravel()
        reference[static] = np.nan
        usable = np.isfinite(reference)
        n_usable = int(usable.sum())
        baseline_order = None
        if mask is None:
            order = _rank_pixels(reference)
        else:
            # The user aperture first, then the other usable pixels: prefix
            # n_usable is the full frame when the aperture holds only usable
            # pixels; otherwise the full frame needs a pass of its own.
            in_mask = mask.ravel()
            order = np.argsort(np.where(in_mask, 0, np.where(usable, 1, 2)), kind="stable")
            if np.any(in_mask & ~usable):
                baseline_order = np.argsort(~usable, kind="stable")
        if n_bins:
            sums, counts = _binned_aperture_sums(data, dq, bits, select, bins, n_bins, order)
            scatter = _relative_scatter(sums, counts, min_count)
            baseline = scatter
            if baseline_order is not None and n_usable:
                sums, counts = _binned_aperture_sums(data, dq, bits, select, bins, n_bins,
                                                     baseline_order)
                baseline = _relative_scatter(sums, counts, min_count)
        else:  # a user aperture on a series too short to bin: no metric
            scatter = baseline = np.full(n_pix, np.nan)
        tried = scatter[sizes - 1]
        if mask is None:
            if not np.any(np.isfinite(tried)):
                msg = (f"no aperture{where} gives a usable binned light curve: every size tried "
                       f"({sizes[0]}..{sizes[-1]} pixels) has fewer than {MIN_BINS} time bins "
                       "with enough frames free of non-finite or flagged pixels")
                raise ValueError(msg)
            chosen = int(sizes[np.nanargmin(tried)])
            plane = max(label, 0)
            masks[plane].flat[order[:chosen]] = 1
        else:
            chosen = int(sizes[0])
        search_rows.extend((label, int(size), float(value), int(size) == chosen)
                           for size, value in zip(sizes, tried))
        full = baseline[n_usable - 1] if n_usable else np.nan
        summary_rows.append((label, int(np.size(bins)), chosen, float(scatter[chosen - 1]),
                             float(full)))
        log.debug("aperture%s: %d of %d usable pixels, binned scatter %.4g (all usable: %.4g)",
                  where, chosen, n_usable, scatter[chosen - 1], full)
    if mask is not None:
        masks[0] = mask

    plane_of_frame = groups if mask is None else None
    flux, flux_err, n_in = aperture_flux(data, err, mask=masks, groups=plane_of_frame, dq=dq,
                                         bad_dq_bits=bits)
    if mask is not None:
        aperture = "user"
    elif groups is None:
        aperture = "optimized"
    else:
        aperture = "optimized_per_guidestar"
    return ApertureResult(
        masks=masks, flux=flux, flux_err=flux_err, n_pixels=n_in,
        search=_table(search_rows, _SEARCH_COLUMNS),
        summary=_table(summary_rows, _SUMMARY_COLUMNS),
        bin_size=bin_size, aperture=aperture, groups=plane_of_frame,
    )


def aperture_flux(data, err=None, *, mask, groups=None, dq=None, bad_dq_bits=1):
    """Sum the pixels of an aperture in every frame.

    The one summing routine of the module: `optimize_aperture` and
    `full_frame_flux` use it for their light curves.

    Parameters
    ----------
    data : array_like
        Frames ``(n_frames, rows, columns)`` (DN/s).
    err : array_like or None, optional
        Uncertainties, same shape (DN/s).
    mask : array_like
        ``(rows, columns)`` aperture (nonzero = in), or ``(n_masks, rows,
        columns)`` with ``groups`` choosing the plane of each frame.
    groups : array_like of int or None, optional
        ``(n_frames,)`` plane of ``mask`` for each frame; needed (and only
        allowed) when ``mask`` has more than one plane.
    dq : array_like or None, optional
        DQ bits, ``(n_frames, rows, columns)`` or ``(rows, columns)``.
    bad_dq_bits : int, optional
        DQ bits that make a pixel unusable (default 1, ``DO_NOT_USE``).

    Returns
    -------
    flux : numpy.ndarray
        float64 ``(n_frames,)`` sum of the aperture pixels (DN/s); NaN for a
        frame whose aperture has a non-finite or flagged pixel (never a
        partial sum), and for a frame whose plane of ``mask`` is empty.
    flux_err : numpy.ndarray
        float64 ``sqrt(sum(err**2))`` over the aperture (DN/s); NaN where
        ``flux`` is NaN, where an ERR value is not finite, or everywhere if
        ``err`` is None.
    n_pixels : numpy.ndarray
        int32 number of pixels in each frame's aperture.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import aperture_flux
    >>> data = np.ones((3, 8, 8), np.float32)
    >>> data[1, 0, 0] = np.nan
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[3:5, 3:5] = True
    >>> flux, flux_err, n_pixels = aperture_flux(data, mask=mask)
    >>> flux.tolist(), n_pixels.tolist()
    ([4.0, 4.0, 4.0], [4, 4, 4])
    >>> aperture_flux(data, mask=np.ones((8, 8), bool))[0].tolist()
    [64.0, nan, 64.0]
    """
    data, err, dq = _check_frames(data, err, dq)
    shape = data.shape[1:]
    n_frames = data.shape[0]
    bits = _check_bits(bad_dq_bits)
    planes = np.asarray(mask)
    if planes.ndim == 2:
        planes = planes[None]
    if planes.ndim != 3 or planes.shape[1:] != shape:
        msg = (f"mask has shape {np.shape(mask)}; expected {shape} or (n_masks, {shape[0]}, "
               f"{shape[1]}) to match the frames")
        raise ValueError(msg)
    if not np.all(np.isfinite(planes)):
        msg = "mask holds non-finite values"
        raise ValueError(msg)
    planes = planes != 0
    groups = _check_groups(groups, n_frames)
    if groups is None and planes.shape[0] > 1:
        msg = (f"mask has {planes.shape[0]} planes: give groups, the plane of each frame")
        raise ValueError(msg)
    if groups is not None and groups.size and groups.max() >= planes.shape[0]:
        msg = (f"groups refers to mask plane {int(groups.max())} but mask has only "
               f"{planes.shape[0]} plane(s)")
        raise ValueError(msg)

    flux = np.full(n_frames, np.nan)
    flux_err = np.full(n_frames, np.nan)
    n_in = np.zeros(n_frames, dtype=np.int32)
    labels = [0] if groups is None else [int(g) for g in np.unique(groups)]
    for label in labels:
        select = _selection(groups, label)
        pixels = np.flatnonzero(planes[label].ravel())
        _fill(n_in, select, len(pixels))
        if pixels.size == 0:
            continue
        for chunk in _chunks(select, n_frames):
            values = _flat(data, chunk)
            total = _pixel_sum(values, pixels, square=False)
            bad = ~np.isfinite(total)
            if dq is not None and bits:
                bad |= _flagged(_flat_dq(dq, chunk, len(total)), bits, pixels)
            total[bad] = np.nan
            _fill(flux, chunk, total)
            if err is not None:
                variance = _pixel_sum(_flat(err, chunk), pixels, square=True)
                variance[bad] = np.nan
                _fill(flux_err, chunk, np.sqrt(variance))
    if err is not None:
        flux_err[~np.isfinite(flux_err)] = np.nan
    return flux, flux_err, n_in


def full_frame_flux(data, err=None, *, dq=None, bad_dq_bits=1):
    """The sum of all pixels of every frame: the baseline light curve.

    Parameters
    ----------
    data : array_like
        Frames ``(n_frames, rows, columns)`` (DN/s).
    err : array_like or None, optional
        Uncertainties, same shape (DN/s).
    dq : array_like or None, optional
        DQ bits, ``(n_frames, rows, columns)`` or ``(rows, columns)``.
    bad_dq_bits : int, optional
        DQ bits that make a pixel unusable (default 1, ``DO_NOT_USE``).

    Returns
    -------
    flux : numpy.ndarray
        float64 ``(n_frames,)`` (DN/s), NaN for frames with any non-finite
        or flagged pixel.
    flux_err : numpy.ndarray
        float64 ``sqrt(sum(err**2))`` (DN/s); NaN where ``flux`` is NaN or
        everywhere if ``err`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import full_frame_flux
    >>> flux, flux_err = full_frame_flux(np.full((2, 8, 8), 2.0, np.float32))
    >>> flux.tolist()
    [128.0, 128.0]
    """
    data = np.asarray(data)
    if data.ndim != 3:
        msg = f"data must be (n_frames, rows, columns), got shape {data.shape}"
        raise ValueError(msg)
    mask = usable_pixels(data.shape, dq=dq, bad_dq_bits=bad_dq_bits)
    flux, flux_err, _ = aperture_flux(data, err, mask=mask, dq=dq, bad_dq_bits=bad_dq_bits)
    return flux, flux_err


def usable_pixels(shape, *, dq=None, bad_dq_bits=1, select=None):
    """Pixels that are not flagged in every frame (static bad pixels excluded).

    A pixel whose DQ carries ``bad_dq_bits`` in every frame (a hot or dead
    pixel of the files' DQ plane) can never contribute to a light curve;
    leaving it out of the full frame and of the ranked apertures keeps them
    usable.  Pixels flagged in some frames only stay: those frames get NaN
    flux instead.

    Parameters
    ----------
    shape : tuple of int
        ``(n_frames, rows, columns)`` of the frames.
    dq : array_like or None, optional
        DQ, ``(n_frames, rows, columns)`` or ``(rows, columns)``.
    bad_dq_bits : int, optional
        Bits that make a pixel unusable.
    select : slice, array of int or None, optional
        Frames to consider (default all).

    Returns
    -------
    numpy.ndarray
        bool ``(rows, columns)``, True for usable pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import usable_pixels
    >>> dq = np.zeros((8, 8), np.uint32)
    >>> dq[0, 0] = 1
    >>> int(usable_pixels((5, 8, 8), dq=dq).sum())
    63
    """
    frame_shape = tuple(shape[1:])
    if dq is None or not bad_dq_bits:
        return np.ones(frame_shape, dtype=bool)
    dq = np.asarray(dq)
    if dq.ndim == 2:
        return (dq & bad_dq_bits) == 0
    flagged = np.ones(frame_shape, dtype=bool)
    index = np.arange(shape[0]) if select is None else np.arange(shape[0])[select]
    for start in range(0, index.size, _CHUNK_FRAMES):
        chunk = dq[index[start:start + _CHUNK_FRAMES]]
        flagged &= np.all((chunk & bad_dq_bits) != 0, axis=0)
        if not flagged.any():
            break
    return ~flagged


def binned_scatter(flux, times, *, bin_size=DEFAULT_BIN_SIZE):
    """Relative scatter of a light curve binned in time: the metric of `optimize_aperture`.

    Parameters
    ----------
    flux : array_like
        ``(n_frames,)`` light curve; non-finite values are left out.
    times : array_like
        ``(n_frames,)`` times in seconds.
    bin_size : float, optional
        Time bin in seconds.

    Returns
    -------
    float
        Sample standard deviation of the means of the usable bins divided by
        their mean; NaN with fewer than `MIN_BINS` usable bins or a
        non-positive mean.

    Raises
    ------
    ValueError
        For mismatched lengths, non-finite times, a non-positive
        ``bin_size`` or one that holds fewer than 2 frames per bin.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import binned_scatter
    >>> times = np.arange(400.0)
    >>> flux = np.where(times < 200, 99.0, 101.0)
    >>> round(binned_scatter(flux, times, bin_size=100.0), 4)
    0.0115
    """
    flux = np.asarray(flux, dtype=float)
    if flux.ndim != 1:
        msg = f"flux must be one-dimensional, got shape {flux.shape}"
        raise ValueError(msg)
    times = _check_times(times, flux.size)
    bin_size = _check_bin_size(bin_size)
    bins, n_bins, min_count = _time_bins(times, bin_size, where="", strict=False)
    if not n_bins:
        return float("nan")
    finite = np.isfinite(flux)
    sums = np.bincount(bins[finite], flux[finite], minlength=n_bins)[:, None]
    counts = np.bincount(bins[finite], minlength=n_bins)[:, None]
    return float(_relative_scatter(sums, counts, min_count)[0])


def run_photometry(model, *, bin_size=DEFAULT_BIN_SIZE, n_pixels=None, per_guidestar=True,
                   mask=None, bad_dq_bits=1):
    """Run `optimize_aperture` on the frames of a `~spelunker.GuideStarModel`.

    The computation behind `~spelunker.PhotometryOptimizeStep`, shared with
    the notebook API; store the result with `store_photometry`.

    Parameters
    ----------
    model : GuideStarModel
        Frames (``data``, ``err``, ``dq``) and their times (``frames``); not
        modified.
    bin_size : float, optional
        Time bin (seconds) of the metric.
    n_pixels : int, sequence of int or None, optional
        Aperture sizes to try; None tries all.
    per_guidestar : bool, optional
        One aperture per ``guidestar_index`` of the ``frames`` table (the
        default) when the model holds several guide stars: stars of other
        brightness and at other places on the detector need their own.
        With one star, or False, one aperture serves every frame.
    mask : array_like of bool or None, optional
        User aperture (no search).
    bad_dq_bits : int, optional
        DQ bits of unusable pixels.

    Returns
    -------
    ApertureResult

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.photometry import run_photometry
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1500, n_segments=1)],
    ...     seed=1)
    >>> result = run_photometry(read_guidestar(visit.files), bin_size=5.0)
    >>> result.aperture, len(result.flux)
    ('optimized', 1500)
    """
    model.require_frames("photometry")
    data = np.asarray(model.data)
    err = np.asarray(model.err) if model.hasattr("err") else None
    if err is not None and err.shape != data.shape:
        log.warning("input ERR has shape %s, not that of the frames %s; flux_err will be NaN",
                    err.shape, data.shape)
        err = None
    if err is None:
        log.warning("input has no usable ERR array; flux_err will be NaN")
    dq = np.asarray(model.dq) if model.hasattr("dq") else None
    if dq is not None and dq.shape not in (data.shape, data.shape[1:]):
        log.warning("input DQ has shape %s, neither that of the frames %s nor of one frame "
                    "%s; it is ignored and only non-finite pixels count as bad", dq.shape,
                    data.shape, data.shape[1:])
        dq = None
    groups = None
    if per_guidestar:
        groups = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
        if np.unique(groups).size < 2:  # one star: one aperture for all frames
            per_guidestar, groups = False, None
    times = model.frame_seconds()
    if mask is None:
        bin_size = _bin_size_for_spans(times, groups, check_positive_float(
            bin_size, "bin_size", unit="seconds"))
    log.info("photometry of %d frames: %s, %s s bins", len(data),
             "user aperture" if mask is not None
             else "one aperture per guide star" if per_guidestar else "one aperture",
             f"{bin_size:g}")
    return optimize_aperture(data, err, times=times, dq=dq, bad_dq_bits=bad_dq_bits,
                             bin_size=bin_size, n_pixels=n_pixels, groups=groups, mask=mask)


def _bin_size_for_spans(times, groups, bin_size):
    """``bin_size``, or a smaller one (with a warning) when a series is too short for it.

    The search needs `MIN_BINS` usable bins in every series (each guide
    star's with ``groups``); when one is too short (a short visit or
    guide-star interval), the bin becomes the largest that gives them, as
    long as a bin still holds a few frames.
    """
    series = [times] if groups is None else [times[groups == label] for label in
                                              np.unique(groups)]
    if all(s.size > 1 and _bin_layout(s, bin_size)[3] >= MIN_BINS for s in series):
        return bin_size
    shortest = min(float(np.ptp(s)) if s.size else 0.0 for s in series)
    limit = shortest / (2.5 * MIN_BINS)
    cadence = float(np.median(np.diff(np.sort(times)))) if times.size > 1 else np.inf
    if limit >= bin_size or limit < 4 * cadence:
        return bin_size  # no bin size helps: optimize_aperture says why
    log.warning("the shortest light curve (guide star interval) spans %.4g s: bin_size "
                "reduced from %g s to %.3g s so that it gives %d usable bins", shortest,
                bin_size, limit, MIN_BINS)
    return limit


def read_aperture_mask(path, *, shape=(8, 8)):
    """Read a user aperture from a ``.npy`` file or a FITS image.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy`` file, or FITS file whose first image HDU with data is the
        mask.
    shape : tuple of int, optional
        Expected shape (the frame shape).

    Returns
    -------
    numpy.ndarray
        bool ``shape``; True for pixels in the aperture.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it cannot be read, has no image, has the wrong shape, holds
        values other than 0 and 1 (or True/False), or selects no pixel.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from spelunker.photometry import read_aperture_mask
    >>> path = os.path.join(tempfile.mkdtemp(), "mask.npy")
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[3:5, 3:5] = True
    >>> np.save(path, mask)
    >>> int(read_aperture_mask(path).sum())
    4
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        msg = f"aperture mask file {path!r}: no such file"
        raise FileNotFoundError(msg)
    lower = path.lower()
    try:
        if lower.endswith(".npy"):
            values = np.load(path, allow_pickle=False)
        elif lower.endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")):
            values = _read_fits_image(path)
        else:
            msg = f"aperture mask file {path!r}: use a .npy file or a FITS image (.fits)"
            raise ValueError(msg)
    except (OSError, ValueError, TypeError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("aperture mask file"):
            raise
        msg = f"aperture mask file {path!r} cannot be read: {exc}"
        raise ValueError(msg) from exc
    try:
        return _check_mask(values, tuple(shape))
    except ValueError as exc:
        msg = f"aperture mask file {path!r}: {exc}"
        raise ValueError(msg) from None


def store_photometry(model, result, *, bin_size=None, aperture=None):
    """Write an `ApertureResult` into a `~spelunker.GuideStarModel`.

    The one conversion from a photometry result to the model, shared by
    `~spelunker.stpipe.PhotometryOptimizeStep` and the notebook API.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place: ``lightcurve`` (``flux``, ``flux_err`` in DN/s,
        ``n_pixels``; one row per frame), ``aperture_mask``,
        ``aperture_search``, ``meta.spelunker.photometry_bin_size`` and
        ``meta.spelunker.photometry_aperture``.
    result : ApertureResult
        From `optimize_aperture` on the model's frames.
    bin_size : float or None, optional
        Time bin (seconds) of the metric; None takes ``result.bin_size``.
    aperture : {'optimized', 'optimized_per_guidestar', 'user'} or None, optional
        How the aperture was chosen; None takes ``result.aperture``.

    Returns
    -------
    numpy.ndarray
        The ``lightcurve`` structured array stored.

    Raises
    ------
    ValueError
        When the result does not match the model's frames or ``aperture``
        is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.photometry import optimize_aperture, store_photometry
    >>> data, err, _ = simulate_frames(500, seed=2)
    >>> model = GuideStarModel(data=data, err=err)
    >>> result = optimize_aperture(data, err, times=np.arange(500) * 0.0538, bin_size=2.0)
    >>> table = store_photometry(model, result)
    >>> len(model.lightcurve), model.meta.spelunker.photometry_aperture
    (500, 'optimized')
    """
    bin_size = result.bin_size if bin_size is None else _check_bin_size(bin_size)
    aperture = result.aperture if aperture is None else aperture
    if aperture not in APERTURE_KINDS:
        msg = f"aperture={aperture!r} is not one of {list(APERTURE_KINDS)}"
        raise ValueError(msg)
    n_frames = len(model.data)
    for name in ("flux", "flux_err", "n_pixels"):
        if np.shape(getattr(result, name)) != (n_frames,):
            msg = (f"result.{name} has shape {np.shape(getattr(result, name))}; the model has "
                   f"{n_frames} frames")
            raise ValueError(msg)
    masks = np.asarray(result.masks)
    if masks.ndim != 3 or masks.shape[1:] != np.shape(model.data)[1:]:
        msg = (f"result.masks has shape {masks.shape}; expected (n_masks,) + the frame shape "
               f"{np.shape(model.data)[1:]}")
        raise ValueError(msg)
    lightcurve = np.zeros(n_frames, dtype=model.table_dtype("lightcurve"))
    lightcurve["flux"] = result.flux
    lightcurve["flux_err"] = result.flux_err
    lightcurve["n_pixels"] = result.n_pixels
    search = np.zeros(len(result.search), dtype=model.table_dtype("aperture_search"))
    for column in search.dtype.names:
        search[column] = np.asarray(result.search[column])
    with model.trusted_assignment():
        model.lightcurve = lightcurve
        model.aperture_search = search
    model.aperture_mask = (masks != 0).astype(np.uint8)
    model.meta.spelunker.photometry_bin_size = float(bin_size)
    model.meta.spelunker.photometry_aperture = aperture
    return lightcurve


def lightcurve_table(model):
    """The light curve of a model as a `~astropy.table.QTable` with units and times.

    Parameters
    ----------
    model : GuideStarModel
        A model with a ``lightcurve`` table (`store_photometry`).

    Returns
    -------
    astropy.table.QTable
        ``time`` (`~astropy.time.Time`, UTC, mid-frame; when the model has a
        ``frames`` table), ``flux`` and ``flux_err`` (DN/s), ``n_pixels``
        and ``guidestar_index`` (when known).

    Raises
    ------
    ValueError
        When the model has no ``lightcurve`` table.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.photometry import lightcurve_table, optimize_aperture, store_photometry
    >>> data, err, _ = simulate_frames(500, seed=2)
    >>> model = GuideStarModel(data=data, err=err)
    >>> _ = store_photometry(model, optimize_aperture(
    ...     data, err, times=np.arange(500) * 0.0538, bin_size=2.0))
    >>> lightcurve_table(model)["flux"].unit
    Unit("DN / s")
    """
    if not model.hasattr("lightcurve"):
        msg = "the model has no lightcurve table; run PhotometryOptimizeStep (or store_photometry)"
        raise ValueError(msg)
    stored = model.lightcurve
    table = QTable()
    if model.hasattr("frames") and len(model.frames) == len(stored):
        table["time"] = model.frame_times
    # Field access: numpy.asarray of a saved FITS_rec gives its raw storage.
    table["flux"] = np.asarray(stored["flux"], dtype=np.float64) * (u.DN / u.s)
    table["flux_err"] = np.asarray(stored["flux_err"], dtype=np.float64) * (u.DN / u.s)
    table["n_pixels"] = np.asarray(stored["n_pixels"], dtype=np.int32)
    if model.hasattr("frames") and len(model.frames) == len(stored):
        table["guidestar_index"] = np.asarray(model.frames["guidestar_index"], dtype=np.int32)
    return table


# --------------------------------------------------------------------------
# The search: per-bin sums of every aperture


def _binned_aperture_sums(data, dq, bits, select, bins, n_bins, order):
    """Per-bin sums and finite-frame counts of every aperture of ranked pixels.

    Column j of the returned arrays is the aperture of the first ``j + 1``
    pixels of ``order``.  A frame contributes to the apertures smaller than
    the rank of its first bad (non-finite or flagged) pixel.

    Returns
    -------
    sums : numpy.ndarray
        float64 ``(n_bins, n_pixels)``.
    counts : numpy.ndarray
        int64 ``(n_bins, n_pixels)``.
    """
    n_pix = order.size
    sums = np.zeros((n_bins, n_pix))
    counts = np.zeros((n_bins, n_pix), dtype=np.int64)
    offset = 0
    for chunk in _chunks(select, data.shape[0]):
        values = _flat(data, chunk)
        size = values.shape[0]
        chunk_bins = bins[offset: offset + size]
        offset += size
        # A float32 sum is non-finite when a pixel is (or, harmlessly, on
        # overflow: such a frame then takes the exact path below).
        bad = ~np.isfinite(values.sum(axis=1))
        flags = None
        if dq is not None and bits:
            flags = _flat_dq(dq, chunk, size)
            bad |= (np.bitwise_or.reduce(flags, axis=1) & bits) != 0
        if not bad.any():
            _add_runs(values, chunk_bins, order, n_pix, sums, counts)
            continue
        bad_rows = np.flatnonzero(bad)
        good_rows = np.flatnonzero(~bad)
        if good_rows.size:
            _add_runs(values[good_rows], chunk_bins[good_rows], order, n_pix, sums, counts)
        bad_values = values[bad_rows].astype(np.float64)
        bad_pixels = ~np.isfinite(bad_values)
        if flags is not None:
            bad_pixels |= (flags[bad_rows] & bits) != 0
        bad_values[bad_pixels] = 0.0
        ranked = bad_pixels[:, order]
        first_bad = np.where(ranked.any(axis=1), ranked.argmax(axis=1), n_pix)
        for rank in np.unique(first_bad):
            if rank == 0:
                continue
            rows = first_bad == rank
            _add_runs(bad_values[rows], chunk_bins[bad_rows[rows]], order, int(rank), sums,
                      counts)
    return sums, counts


def _add_runs(values, bins, order, n_ranks, sums, counts):
    """Add the frames ``values`` (frames x pixels) to the apertures of the first ``n_ranks``."""
    if values.shape[0] == 0:
        return
    starts = np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))
    lengths = np.diff(np.append(starts, bins.size))
    run_sums = np.add.reduceat(values, starts, axis=0, dtype=np.float64)
    ranked = np.cumsum(run_sums[:, order[:n_ranks]], axis=1)
    run_bins = bins[starts]
    np.add.at(sums[:, :n_ranks], run_bins, ranked)
    np.add.at(counts[:, :n_ranks], run_bins, lengths[:, None])


def _relative_scatter(sums, counts, min_count):
    """Relative scatter (std ddof=1 / mean) of the usable bin means, per column."""
    usable = counts >= min_count
    n_usable = usable.sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros(sums.shape), where=usable)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = means.sum(axis=0) / n_usable
        deviation = np.where(usable, means - centre, 0.0)
        variance = (deviation**2).sum(axis=0) / (n_usable - 1)
        scatter = np.sqrt(variance) / centre
    bad = (n_usable < MIN_BINS) | ~(centre > 0) | ~np.isfinite(scatter)
    scatter[bad] = np.nan
    return scatter


def _bin_layout(times, bin_size):
    """``(bins, n_bins, min_count, n_usable, typical)`` of ``times`` in ``bin_size`` bins."""
    raw = time_bin_index(times, bin_size)
    if raw.max() >= times.size:  # more bins than frames: number the occupied ones only
        _, bins = np.unique(raw, return_inverse=True)
        bins = bins.astype(np.int64).ravel()
    else:
        bins = raw
    n_bins = int(bins.max()) + 1
    total = np.bincount(bins, minlength=n_bins)
    typical = float(np.median(total[total > 0]))
    min_count = max(2, math.ceil(MIN_BIN_FRACTION * typical))
    n_usable = int(np.count_nonzero(total >= min_count))
    return bins, n_bins, min_count, n_usable, typical


def _time_bins(times, bin_size, *, where, strict):
    """Bin index of every frame, the number of bins and the usable-bin threshold.

    ``strict``: raise when the series is too short for `MIN_BINS` bins;
    otherwise warn and return ``n_bins = 0``.
    """
    n = times.size
    if n == 0:
        msg = f"no frames{where}"
        raise ValueError(msg)
    bins, n_bins, min_count, n_usable, typical = _bin_layout(times, bin_size)
    span = float(times.max() - times.min())
    cadence = float(np.median(np.diff(np.sort(times)))) if n > 1 else float("nan")
    largest = span / (2.5 * MIN_BINS)  # the largest bin giving MIN_BINS usable bins
    if (typical < 2 or n_usable < MIN_BINS) and not largest >= 2 * cadence:
        # No bin size works: a bin must hold 2 frames and MIN_BINS bins must fit.
        needed = int(np.ceil(5 * MIN_BINS)) + 1
        msg = (f"the light curve{where} is too short to bin: {n} frame(s) over {span:.4g} s; "
               f"the scatter of the binned light curve needs {MIN_BINS} usable bins of at "
               f"least 2 frames, i.e. a series of at least {needed} frames")
        if strict or n < 2:
            raise GuideStarInputError(msg)
        log.warning("%s; no binned scatter computed", msg)
        return bins, 0, min_count
    if typical < 2:
        msg = (f"bin_size={bin_size:g} s holds {typical:g} frame per bin{where} (median); at "
               f"least 2 are needed: use a bin_size of a few seconds (the frames are "
               f"{cadence:.3g} s apart)")
        raise ValueError(msg)
    if n_usable < MIN_BINS:
        msg = (f"the light curve{where} spans {span:.4g} s ({n} frames): bin_size={bin_size:g} "
               f"s gives {n_usable} usable bin(s), at least {MIN_BINS} are needed; use a "
               f"smaller bin_size (at most {span / (2.5 * MIN_BINS):.3g} s)")
        if strict:
            raise ValueError(msg)
        log.warning("%s; no binned scatter computed", msg)
        return bins, 0, min_count
    return bins, n_bins, min_count


def reference_frame(data, dq, bits, select, limit):
    """NaN-safe median frame over at most ``limit`` evenly spaced frames of ``select``.

    The reference image the aperture search ranks pixels by (step 1 of the
    method above); `spelunker.plotting.frame_plot` shows the same image.

    Parameters
    ----------
    data : numpy.ndarray
        ``(n_frames, rows, columns)`` frames.
    dq : numpy.ndarray or None
        Their DQ, ``(n_frames, rows, columns)`` or ``(rows, columns)``.
    bits : int
        DQ bits of unusable pixels (left out of the median).
    select : slice, numpy.ndarray of int or None
        The frames to use (None: all).
    limit : int or None
        Most frames used, evenly spaced (None: all).

    Returns
    -------
    numpy.ndarray
        float64 ``(rows * columns,)``; NaN for pixels with no usable value.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import reference_frame
    >>> data = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    >>> reference_frame(data, None, 1, None, None).tolist()
    [4.0, 5.0, 6.0, 7.0]
    """
    if isinstance(select, slice):
        index = np.arange(select.start, select.stop)
    elif select is None:
        index = np.arange(data.shape[0])
    else:
        index = select
    if limit is not None and index.size > limit:
        index = index[np.round(np.linspace(0, index.size - 1, limit)).astype(np.int64)]
    frames = data[index].reshape(index.size, -1).astype(np.float64)
    frames[~np.isfinite(frames)] = np.nan
    if dq is not None and bits:
        flags = dq.reshape(-1) if dq.ndim == 2 else dq[index].reshape(index.size, -1)
        frames[np.broadcast_to((flags & bits) != 0, frames.shape)] = np.nan
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return np.nanmedian(frames, axis=0)


def _rank_pixels(reference):
    """Pixel numbers from the brightest to the faintest; non-finite last, ties by number."""
    key = np.where(np.isfinite(reference), -reference, np.inf)
    return np.argsort(key, kind="stable")


# --------------------------------------------------------------------------
# Chunks and sums


def _chunks(select, n_frames):
    """Slices (or index arrays) of at most `_CHUNK_FRAMES` frames covering ``select``."""
    if select is None:
        select = slice(0, n_frames)
    if isinstance(select, slice):
        for start in range(select.start, select.stop, _CHUNK_FRAMES):
            yield slice(start, min(start + _CHUNK_FRAMES, select.stop))
    else:
        for start in range(0, select.size, _CHUNK_FRAMES):
            yield select[start: start + _CHUNK_FRAMES]


def _flat(array, chunk):
    """Frames of ``chunk`` as a (frames, pixels) array (a view for slices)."""
    part = array[chunk]
    return part.reshape(part.shape[0], -1)


def _flat_dq(dq, chunk, size):
    if dq.ndim == 2:
        return np.broadcast_to(dq.reshape(1, -1), (size, dq.size))
    return _flat(dq, chunk)


def _flagged(flags, bits, pixels):
    return (np.bitwise_or.reduce(flags[:, pixels], axis=1) & bits) != 0


def _pixel_sum(values, pixels, *, square):
    """float64 sum over ``pixels`` of each frame (of the squares when ``square``)."""
    if pixels.size != values.shape[1]:
        values = values[:, pixels]
    if square:
        values = np.square(values, dtype=np.float64)
    return values.sum(axis=1, dtype=np.float64)


def _fill(target, chunk, values):
    if chunk is None:
        target[...] = values
    else:
        target[chunk] = values


def _selection(groups, label):
    """Frames of group ``label``: None (all), a slice (contiguous) or an index array."""
    if groups is None:
        return None
    index = np.flatnonzero(groups == label)
    if index.size and index[-1] - index[0] + 1 == index.size:
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


# --------------------------------------------------------------------------
# Checks


def _check_frames(data, err, dq):
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[1] < 1 or data.shape[2] < 1:
        msg = f"data must be (n_frames, rows, columns), got shape {data.shape}"
        raise ValueError(msg)
    if data.shape[0] == 0:
        msg = "data has no frames"
        raise ValueError(msg)
    if data.dtype.kind != "f":
        data = data.astype(np.float64)
    if err is not None:
        err = np.asarray(err)
        if err.shape != data.shape:
            msg = f"err has shape {err.shape}; data has {data.shape}"
            raise ValueError(msg)
        if err.dtype.kind != "f":
            err = err.astype(np.float64)
    if dq is not None:
        dq = np.asarray(dq)
        if dq.shape not in (data.shape, data.shape[1:]):
            msg = f"dq has shape {dq.shape}; expected {data.shape} or {data.shape[1:]}"
            raise ValueError(msg)
        if dq.dtype.kind not in "iu":
            msg = f"dq must hold integers (DQ bits), got {dq.dtype}"
            raise ValueError(msg)
        if dq.dtype.kind == "i":
            dq = dq.astype(np.int64)
    return data, err, dq


def _check_times(times, n_frames):
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (n_frames,):
        msg = f"times has shape {times.shape}; expected ({n_frames},), one per frame"
        raise ValueError(msg)
    if not np.all(np.isfinite(times)):
        msg = f"times holds {np.count_nonzero(~np.isfinite(times))} non-finite value(s)"
        raise ValueError(msg)
    return times


def _check_bin_size(bin_size):
    return check_positive_float(bin_size, "bin_size", unit="seconds")


def _check_bits(bits):
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        msg = (f"bad_dq_bits={bits!r} must be an integer bit mask "
               "(spelunker._validate.parse_dq_bits converts names)")
        raise ParameterError(msg)
    if bits < 0:
        msg = f"bad_dq_bits={bits!r} must be >= 0"
        raise ParameterError(msg)
    return int(bits)


def _check_groups(groups, n_frames):
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_frames,):
        msg = f"groups has shape {groups.shape}; expected ({n_frames},), one per frame"
        raise ValueError(msg)
    if groups.dtype.kind not in "iu":
        msg = f"groups must hold integers, got {groups.dtype}"
        raise ValueError(msg)
    if groups.size and groups.min() < 0:
        msg = f"groups must be >= 0, got {int(groups.min())}"
        raise ValueError(msg)
    return groups.astype(np.int64)


def _check_sizes(n_pixels, n_pix):
    if n_pixels is None:
        return np.arange(1, n_pix + 1)
    values = np.atleast_1d(np.asarray(n_pixels))
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        msg = f"n_pixels={n_pixels!r} must be an integer or a sequence of integers"
        raise ValueError(msg)
    if values.size == 0:
        msg = f"n_pixels is empty: give at least one aperture size between 1 and {n_pix}"
        raise ValueError(msg)
    if values.min() < 1 or values.max() > n_pix:
        msg = (f"n_pixels must lie between 1 and {n_pix} (the pixels of a frame), got "
               f"{int(values.min())}..{int(values.max())}")
        raise ValueError(msg)
    return np.unique(values.astype(np.int64))


def _check_mask(mask, shape):
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        msg = f"the aperture mask has shape {mask.shape}; the frames are {tuple(shape)}"
        raise ValueError(msg)
    if mask.dtype.kind not in "biuf":
        msg = f"the aperture mask must hold 0/1 or booleans, got {mask.dtype}"
        raise ValueError(msg)
    if mask.dtype.kind != "b" and not np.all((mask == 0) | (mask == 1)):
        msg = "the aperture mask must hold only 0 and 1 (or booleans)"
        raise ValueError(msg)
    mask = mask.astype(bool)
    if not mask.any():
        msg = "the aperture mask is empty: it selects no pixel"
        raise ValueError(msg)
    return mask


def _read_fits_image(path):
    with fits.open(path, memmap=False) as hdulist:
        for hdu in hdulist:
            if hdu.is_image and hdu.data is not None:
                return np.array(hdu.data)
    msg = f"aperture mask file {path!r}: no image HDU with data"
    raise ValueError(msg)


_SEARCH_COLUMNS = (("guidestar_index", np.int32), ("n_pixels", np.int32),
                   ("binned_scatter", np.float64), ("selected", bool))
_SUMMARY_COLUMNS = (("guidestar_index", np.int32), ("n_frames", np.int64),
                    ("n_pixels", np.int32), ("binned_scatter", np.float64),
                    ("full_frame_scatter", np.float64))


def _table(rows, columns):
    table = QTable()
    for k, (name, dtype) in enumerate(columns):
        table[name] = np.array([row[k] for row in rows], dtype=dtype)
    return table
