"""Choose the aperture of brightest pixels whose binned light curve scatters least.

`optimize_aperture` ranks the pixels of the median frame, evaluates the
binned scatter (`spelunker.photometry.scatter`) of every aperture of the N
brightest at once, in chunks of frames, and keeps the best N (one per group
of frames, e.g. per guide star, if asked); the method is described in
`spelunker.photometry`.  `ApertureResult` holds what it found.
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy.table import QTable

from spelunker._validate import check_positive_float, check_positive_int
from spelunker.binning import DEFAULT_BIN_SIZE
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.photometry._frames import (
    check_bits,
    check_frames,
    check_groups,
    check_mask,
    chunks,
    flat,
    flat_dq,
    selection,
)
from spelunker.photometry.scatter import MIN_BINS, _check_times, _relative_scatter, _time_bins
from spelunker.photometry.sums import aperture_flux, reference_frame, usable_pixels

__all__ = ["ApertureResult", "optimize_aperture", "DEFAULT_REFERENCE_FRAMES"]

log = logging.getLogger(__name__)

#: Default number of evenly spaced frames whose median is the reference frame.
DEFAULT_REFERENCE_FRAMES = 20_000


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
    spelunker.errors.ParameterError
        For arrays of the wrong shape, an empty or out-of-range
        ``n_pixels``, a non-positive ``bin_size`` or one that leaves fewer
        than `~spelunker.photometry.MIN_BINS` usable bins, or an empty or
        mis-shaped ``mask``.
    spelunker.errors.GuideStarInputError
        For a series too short for any bin size, or when no aperture gives
        a usable light curve.

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
    data, err, dq = check_frames(data, err, dq)
    shape = data.shape[1:]
    n_frames, n_pix = data.shape[0], shape[0] * shape[1]
    times = _check_times(times, n_frames)
    bin_size = check_positive_float(bin_size, "bin_size", unit="seconds")
    bits = check_bits(bad_dq_bits)
    groups = check_groups(groups, n_frames)
    if mask is not None:
        mask = check_mask(mask, shape)
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
        select = selection(groups, label)
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
                raise GuideStarInputError(msg)
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
    for chunk in chunks(select, data.shape[0]):
        values = flat(data, chunk)
        size = values.shape[0]
        chunk_bins = bins[offset: offset + size]
        offset += size
        # A float32 sum is non-finite when a pixel is (or, harmlessly, on
        # overflow: such a frame then takes the exact path below).
        bad = ~np.isfinite(values.sum(axis=1))
        flags = None
        if dq is not None and bits:
            flags = flat_dq(dq, chunk, size)
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


def _rank_pixels(reference):
    """Pixel numbers from the brightest to the faintest; non-finite last, ties by number."""
    key = np.where(np.isfinite(reference), -reference, np.inf)
    return np.argsort(key, kind="stable")


def _check_sizes(n_pixels, n_pix):
    """The aperture sizes to try, unique and sorted (every size for None)."""
    if n_pixels is None:
        return np.arange(1, n_pix + 1)
    values = np.atleast_1d(np.asarray(n_pixels))
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        msg = f"n_pixels={n_pixels!r} must be an integer or a sequence of integers"
        raise ParameterError(msg)
    if values.size == 0:
        msg = f"n_pixels is empty: give at least one aperture size between 1 and {n_pix}"
        raise ParameterError(msg)
    if values.min() < 1 or values.max() > n_pix:
        msg = (f"n_pixels must lie between 1 and {n_pix} (the pixels of a frame), got "
               f"{int(values.min())}..{int(values.max())}")
        raise ParameterError(msg)
    return np.unique(values.astype(np.int64))


_SEARCH_COLUMNS = (("guidestar_index", np.int32), ("n_pixels", np.int32),
                   ("binned_scatter", np.float64), ("selected", bool))

_SUMMARY_COLUMNS = (("guidestar_index", np.int32), ("n_frames", np.int64),
                    ("n_pixels", np.int32), ("binned_scatter", np.float64),
                    ("full_frame_scatter", np.float64))


def _table(rows, columns):
    """A QTable of ``rows`` with the ``(name, dtype)`` ``columns``."""
    table = QTable()
    for k, (name, dtype) in enumerate(columns):
        table[name] = np.array([row[k] for row in rows], dtype=dtype)
    return table
