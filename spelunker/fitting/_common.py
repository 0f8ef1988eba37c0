"""Input checks and the chunked, threaded driver shared by the fitters."""

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from spelunker.errors import ParameterError
from spelunker.fitting.model import PARAMETER_NAMES
from spelunker.fitting.result import RESULT_KEYS, FitResult

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


def check_column_range(values, dtype, column, table):
    """A ParameterError unless the integers ``values`` fit the integer ``dtype`` of a table column.

    The fit tables' narrow integers (int16: ``dof``, ``iterations``,
    ``flags``) hold every value a fit of guider frames gives; anything else
    would wrap silently when stored.  Does nothing for a float ``dtype``.

    Parameters
    ----------
    values : numpy.ndarray
        The column's values (integers).
    dtype : numpy.dtype
        The column's type in the table.
    column, table : str
        Names for the message.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.fitting._common import check_column_range
    >>> check_column_range(np.array([3, 57]), np.dtype(np.int16), "dof", "gauss_fit")
    >>> check_column_range(np.array([40000]), np.dtype(np.int16), "dof", "gauss_fit")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: fit result column 'dof' holds values outside -32768..32767 (the gauss_fit table's int16)
    """  # noqa: E501
    if np.dtype(dtype).kind not in "iu" or not values.size:
        return
    limits = np.iinfo(dtype)
    if values.min() < limits.min or values.max() > limits.max:
        msg = (f"fit result column {column!r} holds values outside "
               f"{limits.min}..{limits.max} (the {table} table's {np.dtype(dtype)})")
        raise ParameterError(msg)


def check_out(out, n_frames):
    """``out`` if it is a table the fitters can fill (`run_blocks`), else a ParameterError.

    A NumPy structured array of shape ``(n_frames,)`` with (at least) the
    fields of `~spelunker.fitting.result.RESULT_KEYS`, all of them numbers.
    """
    if out is None:
        return None
    names = getattr(getattr(out, "dtype", None), "names", None)
    if not isinstance(out, np.ndarray) or names is None:
        msg = (f"out must be a NumPy structured array (a table) with the fields "
               f"{', '.join(RESULT_KEYS)}; got {type(out).__name__}")
        raise ParameterError(msg)
    missing = [key for key in RESULT_KEYS if key not in names]
    if missing:
        msg = f"out lacks the field(s) {', '.join(missing)}"
        raise ParameterError(msg)
    wrong = [key for key in RESULT_KEYS if out.dtype[key].kind not in "iuf"]
    if wrong:
        msg = f"out's field(s) {', '.join(wrong)} do not hold numbers"
        raise ParameterError(msg)
    if out.shape != (n_frames,):
        msg = f"out must have one row per frame ({n_frames}); got shape {out.shape}"
        raise ParameterError(msg)
    return out


def _new_outputs(n):
    """The kernels' output arrays for ``n`` frames (see `run_blocks`)."""
    # Parameter-major so that every result column is a contiguous row.
    return (np.empty((7, n)), np.empty((7, n)), np.empty(n), np.empty(n, dtype=np.int32),
            np.empty(n, dtype=np.int32), np.empty(n, dtype=np.uint32))


def _copy_rows(outputs, rows):
    """Copy one block's kernel outputs into ``rows`` (a slice of the ``out`` table)."""
    out_par, out_err, out_chi2, out_dof, out_iter, out_flags = outputs
    for j, name in enumerate(PARAMETER_NAMES):
        rows[name] = out_par[j]
    for j, name in enumerate(PARAMETER_NAMES):
        rows[name + "_err"] = out_err[j]
    rows["chi2"] = out_chi2
    for name, values in (("dof", out_dof), ("iterations", out_iter), ("flags", out_flags)):
        check_column_range(values, rows.dtype[name], name, "out")
        rows[name] = values


def run_blocks(kernel, extra_args, data, err, dq, bad_dq_bits, dtype, *,
               ncpus, chunk_size, progress, desc, out=None):
    """Run ``kernel`` over frame blocks, on ``ncpus`` threads, into a FitResult (or ``out``).

    ``kernel(data, err, bad, nx, use_err, *extra_args, out_par, out_err,
    out_chi2, out_dof, out_iter, out_flags)`` must be a nogil numba function;
    it sees each block's frames as rows of ``ny * nx`` pixels (C order).

    With ``out`` (a table, see `check_out`) each thread fits a block into
    its own small arrays, reused from block to block, and copies it into
    ``out``'s rows, which is returned: the whole result never exists in
    float64 columns (for a 1M-frame visit 130 MB of new memory, whose first
    writes cost as much as a tenth of the fit, and a copy into the table).
    """
    n, ny, nx = data.shape
    npix = ny * nx
    out = check_out(out, n)
    full = _new_outputs(n) if out is None else None
    local = threading.local()
    use_err = err is not None
    dummy_err = np.ones((1, 1), dtype=dtype)

    # Blocks no larger than chunk_size, and at least one per thread.
    block = max(1, min(chunk_size, math.ceil(n / ncpus))) if n else 1
    starts = list(range(0, n, block))

    def work(start):
        stop = min(start + block, n)
        if full is not None:
            outputs = tuple(array[..., start:stop] for array in full)
        else:
            outputs = getattr(local, "outputs", None)
            if outputs is None or len(outputs[2]) != stop - start:
                outputs = local.outputs = _new_outputs(stop - start)
        d = np.ascontiguousarray(data[start:stop], dtype=dtype).reshape(-1, npix)
        e = (np.ascontiguousarray(err[start:stop], dtype=dtype).reshape(-1, npix) if use_err
             else dummy_err)
        bad = bad_pixel_mask(dq, bad_dq_bits, start, stop, (ny, nx))
        kernel(d, e, bad.reshape(len(bad), npix), nx, use_err, *extra_args, *outputs)
        if full is None:
            _copy_rows(outputs, out[start:stop])
        return stop - start

    bar = None
    if progress and n:
        # heavy: tqdm.auto loads asyncio (~12 ms together), which a command's --help need not pay
        from tqdm.auto import tqdm

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

    if out is not None:
        log.debug("%s: %d frames, %d clean", desc, n, n - int(np.count_nonzero(out["flags"])))
        return out
    out_par, out_err, out_chi2, out_dof, out_iter, out_flags = full
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
