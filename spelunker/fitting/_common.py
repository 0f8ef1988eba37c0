"""Input checks and the chunked, threaded driver shared by the fitters."""

import logging
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from spelunker.errors import ParameterError
from spelunker.fitting.model import PARAMETER_NAMES
from spelunker.fitting.result import FitResult

__all__ = []

log = logging.getLogger(__name__)


def _array(value, name):
    """``value`` as a NumPy array, or a ParameterError naming ``name`` (ragged lists...)."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be an array; got {type(value).__name__} ({exc})"
        raise ParameterError(msg) from None


def _is_real(array):
    return np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)


def check_inputs(data, err, dq, bad_dq_bits):
    """Validate and normalise the frame arrays.

    Returns ``(data, err, dq, dtype)`` where ``dtype`` is the float type the
    kernels will see (float32 only when every float input is float32, so
    nothing is ever down-cast).  Unusable arrays raise
    `~spelunker.errors.ParameterError`.
    """
    data = _array(data, "data")
    if data.ndim != 3:
        msg = f"data must be 3-D (n_frames, ny, nx); got shape {data.shape}"
        raise ParameterError(msg)
    if not _is_real(data):
        msg = f"data must hold real numbers; got dtype {data.dtype}"
        raise ParameterError(msg)
    dtypes = [data.dtype]
    if err is not None:
        err = _array(err, "err")
        if err.shape != data.shape:
            msg = f"err must have the shape of data {data.shape}; got {err.shape}"
            raise ParameterError(msg)
        if not _is_real(err):
            msg = f"err must hold real numbers; got dtype {err.dtype}"
            raise ParameterError(msg)
        dtypes.append(err.dtype)
    if dq is not None:
        dq = _array(dq, "dq")
        if dq.shape not in (data.shape, data.shape[1:]):
            msg = (
                f"dq must have shape {data.shape[1:]} or {data.shape} (like data); "
                f"got {dq.shape}"
            )
            raise ParameterError(msg)
        if not (np.issubdtype(dq.dtype, np.integer) or dq.dtype == np.bool_):
            msg = f"dq must be an integer bit mask; got dtype {dq.dtype}"
            raise ParameterError(msg)
    if isinstance(bad_dq_bits, (bool, np.bool_)) or not isinstance(bad_dq_bits,
                                                                   (int, np.integer)):
        msg = f"bad_dq_bits must be an integer bit mask; got {bad_dq_bits!r}"
        raise ParameterError(msg)
    if not 0 <= bad_dq_bits < 2**64:
        msg = f"bad_dq_bits must be a bit mask in 0 .. 2**64 - 1; got {bad_dq_bits}"
        raise ParameterError(msg)
    # float32 of either byte order (FITS data are big-endian) stays float32.
    single = all(d.kind == "f" and d.itemsize == 4 for d in dtypes)
    dtype = np.float32 if single else np.float64
    return data, err, dq, dtype


def bad_pixel_mask(dq, bad_dq_bits, start, stop, shape):
    """Boolean (m or 1, ny, nx) mask of DQ-excluded pixels for frames start:stop."""
    if dq is None or bad_dq_bits == 0:
        return np.zeros((1,) + shape, dtype=np.bool_)
    if dq.ndim == 2:
        block = dq[None]
    else:
        block = dq[start:stop]
    if block.dtype == np.bool_:
        return np.ascontiguousarray(block) if bad_dq_bits & 1 else np.zeros_like(block)
    block = np.asarray(block)
    if block.dtype.kind == "u" and bad_dq_bits < 2 ** (8 * block.dtype.itemsize):
        # Unsigned flags (the reader's uint32) and bits that fit them: no copy.
        return np.ascontiguousarray((block & block.dtype.type(bad_dq_bits)) != 0)
    # Compare in uint64 so any bit pattern of any integer dtype works.
    bits = block.astype(np.uint64, copy=False)
    return np.ascontiguousarray((bits & np.uint64(bad_dq_bits)) != 0)


def run_blocks(kernel, extra_args, data, err, dq, bad_dq_bits, dtype, *,
               ncpus, chunk_size, progress, desc):
    """Run ``kernel`` over frame blocks, on ``ncpus`` threads, into a FitResult.

    ``kernel(data, err, bad, nx, use_err, *extra_args, out_par, out_err,
    out_chi2, out_dof, out_iter, out_flags)`` must be a nogil numba function;
    it sees each block's frames as rows of ``ny * nx`` pixels (C order).
    """
    n, ny, nx = data.shape
    npix = ny * nx
    # Parameter-major so that every result column is a contiguous row.
    out_par = np.empty((7, n))
    out_err = np.empty((7, n))
    out_chi2 = np.empty(n)
    out_dof = np.empty(n, dtype=np.int32)
    out_iter = np.empty(n, dtype=np.int32)
    out_flags = np.empty(n, dtype=np.uint32)
    use_err = err is not None
    dummy_err = np.ones((1, 1), dtype=dtype)

    # Blocks no larger than chunk_size, and at least one per thread.
    block = max(1, min(chunk_size, math.ceil(n / ncpus))) if n else 1
    starts = list(range(0, n, block))

    def work(start):
        stop = min(start + block, n)
        d = np.ascontiguousarray(data[start:stop], dtype=dtype).reshape(-1, npix)
        e = (np.ascontiguousarray(err[start:stop], dtype=dtype).reshape(-1, npix) if use_err
             else dummy_err)
        bad = bad_pixel_mask(dq, bad_dq_bits, start, stop, (ny, nx))
        kernel(
            d, e, bad.reshape(len(bad), npix), nx, use_err, *extra_args,
            out_par[:, start:stop], out_err[:, start:stop], out_chi2[start:stop],
            out_dof[start:stop], out_iter[start:stop], out_flags[start:stop],
        )
        return stop - start

    bar = None
    if progress and n:
        bar = tqdm(total=n, desc=desc, unit="frame")
    try:
        if ncpus == 1 or len(starts) <= 1:
            for start in starts:
                done = work(start)
                if bar is not None:
                    bar.update(done)
        else:
            with ThreadPoolExecutor(max_workers=ncpus) as pool:
                for done in pool.map(work, starts):
                    if bar is not None:
                        bar.update(done)
    finally:
        if bar is not None:
            bar.close()

    result = FitResult()
    for j, name in enumerate(PARAMETER_NAMES):
        result[name] = out_par[j]
    for j, name in enumerate(PARAMETER_NAMES):
        result[name + "_err"] = out_err[j]
    result["chi2"] = out_chi2
    result["dof"] = out_dof
    result["iterations"] = out_iter
    result["flags"] = out_flags
    n_clean = int(np.count_nonzero(out_flags == 0))
    log.debug("%s: %d frames, %d clean", desc, n, n_clean)
    return result
