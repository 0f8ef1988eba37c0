"""Frame checks and chunked pixel access shared by the photometry modules.

Private to `spelunker.photometry`: the checks of the frame, DQ, group and
mask arrays (each raising `~spelunker.errors.ParameterError`) and the
chunking that keeps at most `_CHUNK_FRAMES` frames in float64 at a time.
"""

import operator

import numpy as np

from spelunker.errors import ParameterError

__all__ = ["check_bits", "check_dq", "check_frames", "check_groups", "check_mask", "check_shape",
           "chunks", "fill", "flagged", "flat", "flat_dq", "frame_index", "pixel_sum",
           "selection"]

# Frames per chunk: float32 chunks of 32k frames (8 MB) keep the
# temporaries in cache-friendly sizes; results do not depend on it.
_CHUNK_FRAMES = 32768


def chunks(select, n_frames):
    """Slices (or index arrays) of at most `_CHUNK_FRAMES` frames covering ``select``."""
    if select is None:
        select = slice(0, n_frames)
    if isinstance(select, slice):
        for start in range(select.start, select.stop, _CHUNK_FRAMES):
            yield slice(start, min(start + _CHUNK_FRAMES, select.stop))
    else:
        for start in range(0, select.size, _CHUNK_FRAMES):
            yield select[start: start + _CHUNK_FRAMES]


def flat(array, chunk):
    """Frames of ``chunk`` as a (frames, pixels) array (a view for slices)."""
    part = array[chunk]
    return part.reshape(part.shape[0], -1)


def flat_dq(dq, chunk, size):
    """DQ of ``chunk`` (``size`` frames) as (frames, pixels); one DQ plane is broadcast."""
    if dq.ndim == 2:
        return np.broadcast_to(dq.reshape(1, -1), (size, dq.size))
    return flat(dq, chunk)


def flagged(flags, bits, pixels):
    """True for the frames whose ``pixels`` carry one of ``bits``."""
    return (np.bitwise_or.reduce(flags[:, pixels], axis=1) & bits) != 0


def pixel_sum(values, pixels, *, square):
    """float64 sum over ``pixels`` of each frame (of the squares when ``square``)."""
    if pixels.size != values.shape[1]:
        values = values[:, pixels]
    if square:
        values = np.square(values, dtype=np.float64)
    return values.sum(axis=1, dtype=np.float64)


def fill(target, chunk, values):
    """``target[chunk] = values`` (``target[...]`` for ``chunk`` None)."""
    if chunk is None:
        target[...] = values
    else:
        target[chunk] = values


def selection(groups, label):
    """Frames of group ``label``: None (all), a slice (contiguous) or an index array."""
    if groups is None:
        return None
    index = np.flatnonzero(groups == label)
    if index.size and index[-1] - index[0] + 1 == index.size:
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


# --------------------------------------------------------------------------
# Checks


def check_frames(data, err, dq):
    """``data``, ``err``, ``dq`` as arrays of consistent shapes (float frames, integer DQ)."""
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[1] < 1 or data.shape[2] < 1:
        msg = f"data must be (n_frames, rows, columns), got shape {data.shape}"
        raise ParameterError(msg)
    if data.shape[0] == 0:
        msg = "data has no frames"
        raise ParameterError(msg)
    data = _floating(data, "data")
    if err is not None:
        err = np.asarray(err)
        if err.shape != data.shape:
            msg = f"err has shape {err.shape}; data has {data.shape}"
            raise ParameterError(msg)
        err = _floating(err, "err")
    return data, err, check_dq(dq, data.shape)


def _floating(values, name):
    """``values`` as floating-point numbers (other numbers converted to float64)."""
    if values.dtype.kind not in "biuf":
        msg = f"{name} must hold numbers, got {values.dtype}"
        raise ParameterError(msg)
    return values if values.dtype.kind == "f" else values.astype(np.float64)


def check_dq(dq, shape):
    """None, or ``dq`` as integer bits of the frames' ``shape`` or of one frame."""
    if dq is None:
        return None
    dq = np.asarray(dq)
    if dq.shape not in (tuple(shape), tuple(shape[1:])):
        msg = f"dq has shape {dq.shape}; expected {tuple(shape)} or {tuple(shape[1:])}"
        raise ParameterError(msg)
    if dq.dtype.kind not in "iu":
        msg = f"dq must hold integers (DQ bits), got {dq.dtype}"
        raise ParameterError(msg)
    if dq.dtype.kind == "i":
        dq = dq.astype(np.int64, copy=False)
    return dq


def check_shape(shape):
    """``shape`` as a tuple ``(n_frames, rows, columns)`` of non-negative ints."""
    try:
        values = tuple(operator.index(n) for n in shape)
    except TypeError:
        values = ()
    if len(values) != 3 or min(values) < 0:
        msg = f"shape={shape!r:.60} must be (n_frames, rows, columns), three integers"
        raise ParameterError(msg)
    return values


def frame_index(select, n_frames):
    """``select`` (None, a slice, frame numbers or a boolean mask) as frame numbers."""
    if select is None:
        return np.arange(n_frames)
    try:
        index = np.arange(n_frames)[select]
    except (IndexError, TypeError, ValueError):
        index = None
    if index is None or np.ndim(index) != 1 or np.size(index) == 0:
        msg = (f"select={select!r:.60} must be None, a slice, frame numbers or a boolean mask "
               f"selecting some of the {n_frames} frames")
        raise ParameterError(msg)
    return index


def check_bits(bits):
    """``bad_dq_bits`` as a non-negative int (names are turned into bits by the callers)."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        msg = (f"bad_dq_bits={bits!r} must be an integer bit mask "
               "(spelunker._validate.parse_dq_bits converts names)")
        raise ParameterError(msg)
    if bits < 0:
        msg = f"bad_dq_bits={bits!r} must be >= 0"
        raise ParameterError(msg)
    return int(bits)


def check_groups(groups, n_frames):
    """None, or ``groups`` as int64 ``(n_frames,)`` of non-negative group numbers."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_frames,):
        msg = f"groups has shape {groups.shape}; expected ({n_frames},), one per frame"
        raise ParameterError(msg)
    if groups.dtype.kind not in "iu":
        msg = f"groups must hold integers, got {groups.dtype}"
        raise ParameterError(msg)
    if groups.size and groups.min() < 0:
        msg = f"groups must be >= 0, got {int(groups.min())}"
        raise ParameterError(msg)
    return groups.astype(np.int64)


def check_mask(mask, shape):
    """A user aperture as a bool array of the frame ``shape`` selecting at least one pixel."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        msg = f"the aperture mask has shape {mask.shape}; the frames are {tuple(shape)}"
        raise ParameterError(msg)
    if mask.dtype.kind not in "biuf":
        msg = f"the aperture mask must hold 0/1 or booleans, got {mask.dtype}"
        raise ParameterError(msg)
    if mask.dtype.kind != "b" and not np.all((mask == 0) | (mask == 1)):
        msg = "the aperture mask must hold only 0 and 1 (or booleans)"
        raise ParameterError(msg)
    mask = mask.astype(bool)
    if not mask.any():
        msg = "the aperture mask is empty: it selects no pixel"
        raise ParameterError(msg)
    return mask
