"""Sum the pixels of an aperture in every frame: the light curve of a given aperture.

`aperture_flux` is the one summing routine of `spelunker.photometry`;
`full_frame_flux` sums the usable pixels (`usable_pixels`), and
`reference_frame` is the median image the aperture search ranks pixels by.
Bad data are never summed as zeros: a frame whose aperture holds a
non-finite or flagged pixel gets a NaN flux.
"""

import warnings

import numpy as np

from spelunker._validate import check_positive_int
from spelunker.errors import ParameterError
from spelunker.photometry._frames import (
    check_bits,
    check_dq,
    check_frames,
    check_groups,
    check_shape,
    chunks,
    fill,
    flagged,
    flat,
    flat_dq,
    frame_index,
    pixel_sum,
    selection,
)

__all__ = ["aperture_flux", "full_frame_flux", "usable_pixels", "reference_frame"]


def aperture_flux(data, err=None, *, mask, groups=None, dq=None, bad_dq_bits=1):
    """Sum the pixels of an aperture in every frame.

    The one summing routine of `spelunker.photometry`:
    `~spelunker.photometry.optimize_aperture` and `full_frame_flux` use it
    for their light curves.

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
    data, err, dq = check_frames(data, err, dq)
    shape = data.shape[1:]
    n_frames = data.shape[0]
    bits = check_bits(bad_dq_bits)
    planes = np.asarray(mask)
    if planes.ndim == 2:
        planes = planes[None]
    if planes.ndim != 3 or planes.shape[1:] != shape:
        msg = (f"mask has shape {np.shape(mask)}; expected {shape} or (n_masks, {shape[0]}, "
               f"{shape[1]}) to match the frames")
        raise ParameterError(msg)
    if planes.dtype.kind not in "biuf":
        msg = f"mask must hold numbers or booleans, got {planes.dtype}"
        raise ParameterError(msg)
    if not np.all(np.isfinite(planes)):
        msg = "mask holds non-finite values"
        raise ParameterError(msg)
    planes = planes != 0
    groups = check_groups(groups, n_frames)
    if groups is None and planes.shape[0] > 1:
        msg = (f"mask has {planes.shape[0]} planes: give groups, the plane of each frame")
        raise ParameterError(msg)
    if groups is not None and groups.size and groups.max() >= planes.shape[0]:
        msg = (f"groups refers to mask plane {int(groups.max())} but mask has only "
               f"{planes.shape[0]} plane(s)")
        raise ParameterError(msg)

    flux = np.full(n_frames, np.nan)
    flux_err = np.full(n_frames, np.nan)
    n_in = np.zeros(n_frames, dtype=np.int32)
    labels = [0] if groups is None else [int(g) for g in np.unique(groups)]
    for label in labels:
        select = selection(groups, label)
        pixels = np.flatnonzero(planes[label].ravel())
        fill(n_in, select, len(pixels))
        if pixels.size == 0:
            continue
        for chunk in chunks(select, n_frames):
            values = flat(data, chunk)
            total = pixel_sum(values, pixels, square=False)
            bad = ~np.isfinite(total)
            if dq is not None and bits:
                bad |= flagged(flat_dq(dq, chunk, len(total)), bits, pixels)
            total[bad] = np.nan
            fill(flux, chunk, total)
            if err is not None:
                variance = pixel_sum(flat(err, chunk), pixels, square=True)
                variance[bad] = np.nan
                fill(flux_err, chunk, np.sqrt(variance))
    if err is not None:
        flux_err[~np.isfinite(flux_err)] = np.nan
    return flux, flux_err, n_in


def full_frame_flux(data, err=None, *, dq=None, bad_dq_bits=1):
    """The sum of all pixels of every frame: the baseline light curve.

    The aperture is every pixel not flagged in all frames (`usable_pixels`).

    Parameters
    ----------
    data, err, dq, bad_dq_bits
        As for `aperture_flux`.

    Returns
    -------
    flux, flux_err : numpy.ndarray
        As for `aperture_flux`: NaN for frames with any non-finite or
        flagged pixel (and ``flux_err`` everywhere if ``err`` is None).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.photometry import full_frame_flux
    >>> flux, flux_err = full_frame_flux(np.full((2, 8, 8), 2.0, np.float32))
    >>> flux.tolist()
    [128.0, 128.0]
    """
    data, err, dq = check_frames(data, err, dq)
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
    shape = check_shape(shape)
    dq = check_dq(dq, shape)
    bad_dq_bits = check_bits(bad_dq_bits)
    frame_shape = shape[1:]
    if dq is None or not bad_dq_bits:
        return np.ones(frame_shape, dtype=bool)
    if dq.ndim == 2:
        return (dq & bad_dq_bits) == 0
    index = None if select is None else frame_index(select, shape[0])
    always = np.ones(frame_shape, dtype=bool)
    for chunk in chunks(index, shape[0]):
        always &= np.all((dq[chunk] & bad_dq_bits) != 0, axis=0)
        if not always.any():
            break
    return ~always


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
    data, _, dq = check_frames(data, None, dq)
    bits = check_bits(bits)
    index = frame_index(select, data.shape[0])
    if limit is not None:
        limit = check_positive_int(limit, "limit")
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
