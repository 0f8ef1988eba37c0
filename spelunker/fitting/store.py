"""Fitting a `~spelunker.GuideStarModel`: run a fit, store it, read it back.

The functions that `~spelunker.GuideStarFitStep`, the periodogram (which
fits first when a model has no fit table) and the notebook session share:

- `run_fit`: fit the model's frames with a method and time it;
- `store_fit`: write a fit result into the model's ``gauss_fit`` or
  ``quick_fit`` table and ``meta.spelunker.fit_*``;
- `fit_table`: a stored fit table as a QTable with units and frame times;
- `ensure_fit_table`: the fit table to analyse, fitting first if the model
  has none;
- `fit_target`: the model to fit for some frames (the model's own frames
  they select, or the frames alone);
- `which_fit`: which stored fit a table given back is;
- `flag_counts`: how many frames carry each `FitFlag`.

Which table a caller means (``'auto'``, a method or a table name) is
answered by `spelunker.GuideStarModel.fit_table_name`.
"""

import logging
import time

import numpy as np
from astropy.time import Time

from spelunker._validate import check_float_array, check_frames, check_positive_int, check_table
from spelunker.datamodels import FIT_TABLES, GuideStarModel, check_model
from spelunker.datamodels.rows import TIME_MATCH_DAYS, locate_rows
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.fitting.flags import FitFlag
from spelunker.fitting.gaussian import fit_gaussian_frames
from spelunker.fitting.moments import fit_moments_frames
from spelunker.fitting._common import check_column_range
from spelunker.fitting.result import fit_result_table
from spelunker.instrument import FRAME_SHAPE

__all__ = ["run_fit", "store_fit", "fit_table", "ensure_fit_table", "fit_target", "which_fit",
           "flag_counts"]

log = logging.getLogger(__name__)


def _check_method(method):
    if method not in FIT_TABLES:
        msg = f"method={method!r} is not one of {sorted(FIT_TABLES)}"
        raise ParameterError(msg)
    return method


def run_fit(model, method, *, ncpus=1, max_iterations=50, bad_dq_bits=1, progress=False,
            table=False):
    """Fit the frames of ``model`` with ``method`` and time it.

    Parameters
    ----------
    model : GuideStarModel
        The frames (``data``, ``err``, ``dq``); not modified.
    method : {'gauss', 'quick'}
        `~spelunker.fitting.fit_gaussian_frames` or
        `~spelunker.fitting.fit_moments_frames`.
    ncpus : int, optional
        Number of threads.
    max_iterations : int, optional
        Iteration limit of the Gaussian fit (at most what the fit table's
        ``iterations`` column holds: 32767, int16).
    bad_dq_bits : int, optional
        DQ bits of pixels left out of the fit.
    progress : bool, optional
        Progress bar.
    table : bool, optional
        Give the result as a new structured array in the dtype of the
        model's fit table (`spelunker.GuideStarModel.table_dtype`), filled
        block by block (the fitting functions' ``out``), which `store_fit`
        stores without a copy: what `~spelunker.GuideStarFitStep` does.  The
        stored values are the same either way.

    Returns
    -------
    result : FitResult or numpy.ndarray
        The fitting function's result (a structured array with ``table``).
    elapsed : float
        Wall-clock seconds spent fitting.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import run_fit
    >>> data, err, _ = simulate_frames(5, seed=1)
    >>> result, seconds = run_fit(GuideStarModel(data=data, err=err), "quick")
    >>> result.n_frames
    5
    >>> rows, _ = run_fit(GuideStarModel(data=data, err=err), "quick", table=True)
    >>> rows.dtype["x_mean_err"], bool(np.array_equal(rows["x_mean"], result["x_mean"]))
    (dtype('float32'), True)
    """
    check_model(model, where="run_fit")
    _check_method(method)
    ncpus = check_positive_int(ncpus, "ncpus")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    if method == "gauss":  # the moments fit does not iterate
        dtype = model.table_dtype(FIT_TABLES[method])["iterations"]
        if max_iterations > np.iinfo(dtype).max:
            msg = (f"max_iterations={max_iterations} is more than the fit table's iterations "
                   f"column holds ({np.iinfo(dtype).max}, {dtype.name})")
            raise ParameterError(msg)
    model.require_frames("fitting")
    data = np.asarray(model.data)
    err = _usable_err(model)
    dq = np.asarray(model.dq) if model.hasattr("dq") else None
    log.info("fitting %d frames with method %r on %d thread(s)", len(data), method, ncpus)
    start = time.perf_counter()
    out = np.empty(len(data), dtype=model.table_dtype(FIT_TABLES[method])) if table else None
    if method == "gauss":
        result = fit_gaussian_frames(data, err, dq=dq, bad_dq_bits=bad_dq_bits, ncpus=ncpus,
                                     max_iterations=max_iterations, progress=progress, out=out)
    else:
        result = fit_moments_frames(data, err, dq=dq, bad_dq_bits=bad_dq_bits, ncpus=ncpus,
                                    progress=progress, out=out)
    return result, time.perf_counter() - start


def store_fit(model, result, method, *, ncpus=None):
    """Write a per-frame fit result into ``model.gauss_fit`` or ``model.quick_fit``.

    The one conversion from a `spelunker.fitting` result to the model's
    table, shared by `~spelunker.GuideStarFitStep` and the notebook API.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place: the table and ``meta.spelunker.fit_method``,
        ``fit_status`` (``COMPLETE``), ``fit_n_flagged`` and, if given,
        ``fit_ncpus``.
    result : mapping or numpy.ndarray
        Result of `~spelunker.fitting.fit_gaussian_frames` or
        `~spelunker.fitting.fit_moments_frames`: one array per table column
        (``amplitude`` ... ``offset``, their ``_err``, ``chi2``, ``dof``,
        ``iterations``, ``flags``), one value per frame.  A structured array
        in the table's own dtype (``run_fit(..., table=True)``) is stored
        as it is, not copied.
    method : {'gauss', 'quick'}
        Selects the table: ``gauss_fit`` or ``quick_fit``.
    ncpus : int, optional
        Threads used by the fit, recorded in ``meta.spelunker.fit_ncpus``.

    Returns
    -------
    numpy.ndarray
        The structured array stored (the schema's dtype).

    Raises
    ------
    spelunker.errors.ParameterError
        For an unknown method, a missing column, or a column whose length
        is not the number of frames.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_moments_frames, store_fit
    >>> data, err, _ = simulate_frames(5, seed=1)
    >>> model = GuideStarModel(data=data, err=err)
    >>> table = store_fit(model, fit_moments_frames(data, err), "quick")
    >>> len(model.quick_fit), model.meta.spelunker.fit_method
    (5, 'quick')
    """
    check_model(model, where="store_fit")
    name = FIT_TABLES[_check_method(method)]
    dtype = model.table_dtype(name)
    n_frames = len(model.data)
    if isinstance(result, np.ndarray) and result.dtype == dtype and result.shape == (n_frames,):
        # Already the table (run_fit(..., table=True)): stored as it is.
        table = result
    else:
        table = _fill_table(result, dtype, n_frames, name)
    setattr(model, name, table)
    spelunker_meta = model.meta.spelunker
    spelunker_meta.fit_method = method
    spelunker_meta.fit_status = "COMPLETE"
    spelunker_meta.fit_n_flagged = int(np.count_nonzero(table["flags"]))
    if ncpus is not None:
        spelunker_meta.fit_ncpus = int(ncpus)
    return table


def _fill_table(result, dtype, n_frames, name, chunk=32768):
    """A new table of ``dtype`` holding the columns of ``result`` (checked first)."""
    columns = {}
    for column in dtype.names:
        try:
            values = np.asarray(result[column])
        except (KeyError, TypeError, IndexError, ValueError):
            msg = f"fit result has no column {column!r} (needed for the {name} table)"
            raise ParameterError(msg) from None
        if values.shape != (n_frames,):
            msg = (f"fit result column {column!r} has shape {values.shape}; the model has "
                   f"{n_frames} frames")
            raise ParameterError(msg)
        if dtype[column].kind in "iu" and values.dtype.kind not in "iub":
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                msg = f"fit result column {column!r} holds non-integer {values.dtype} values"
                raise ParameterError(msg)
        check_column_range(values, dtype[column], column, name)
        columns[column] = values
    table = np.empty(n_frames, dtype=dtype)
    # A chunk of rows at a time: every column of a chunk is written while its
    # rows are in the cache (a whole column at a time would pass over the
    # table once per column).
    for start in range(0, n_frames, chunk):
        rows = table[start:start + chunk]
        for column, values in columns.items():
            rows[column] = values[start:start + chunk]
    return table


def fit_table(model, method="gauss", *, time=True):
    """A stored fit table of ``model`` as a QTable with units (and frame times).

    Parameters
    ----------
    model : GuideStarModel
        A model that has been through `~spelunker.GuideStarFitStep` (or
        `store_fit`).
    method : {'gauss', 'quick', 'auto', 'gauss_fit', 'quick_fit'}, optional
        Which table (see `spelunker.GuideStarModel.fit_table_name`).
    time : bool, optional
        Add the mid-frame times (`astropy.time.Time`, UTC) as column ``time``.

    Returns
    -------
    astropy.table.QTable
        `~spelunker.fitting.fit_result_table` of the stored table: amplitude
        and offset (and their errors) in DN/s, centres and widths in pix,
        theta in rad.

    Raises
    ------
    spelunker.errors.ParameterError
        For an unknown method.
    spelunker.errors.GuideStarInputError
        For a model without that table (run `~spelunker.GuideStarFitStep`
        or `store_fit` first).

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_moments_frames, fit_table, store_fit
    >>> data, err, _ = simulate_frames(5, seed=1)
    >>> model = GuideStarModel(data=data, err=err)
    >>> _ = store_fit(model, fit_moments_frames(data, err), "quick")
    >>> fit_table(model, "quick", time=False)["x_mean"].unit
    Unit("pix")
    """
    stored = getattr(model, check_model(model, where="fit_table").fit_table_name(method))
    # Field access: numpy.asarray of a FITS_rec that has been saved returns
    # its raw storage, in which uint32 columns carry FITS's 2**31 offset.
    columns = {column: np.asarray(stored[column]) for column in stored.dtype.names}
    return fit_result_table(columns, time=model.frame_times if time else None)


def ensure_fit_table(model, fit="auto"):
    """The fit table to analyse; fits the frames first (with a warning) if the model lacks it.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place when a fit has to be run (the table is kept).
    fit : {'auto', 'gauss_fit', 'quick_fit', 'gauss', 'quick'}, optional
        ``'auto'`` uses the table `spelunker.GuideStarModel.fit_table_name`
        finds, or runs the quick (moments) fit when there is none.

    Returns
    -------
    str
        The table's name, ``'gauss_fit'`` or ``'quick_fit'``.

    Raises
    ------
    spelunker.errors.ParameterError
        ``model`` is not a GuideStarModel, or ``fit`` is not one of the names.
    """
    check_model(model, where="ensure_fit_table")
    if fit == "auto":
        present = [name for name in FIT_TABLES.values() if model.hasattr(name)]
        if present:
            return present[0]
        method = "quick"
    else:
        try:
            return model.fit_table_name(fit, name="fit_table")
        except GuideStarInputError:  # the model lacks that table: fit it
            method = fit if fit in FIT_TABLES else next(
                m for m, t in FIT_TABLES.items() if t == fit)
    name = FIT_TABLES[method]
    log.warning("the input has no %s table: running the %s fit first (GuideStarFitStep "
                "method=%r); the table is kept in the output", name,
                "moments (quick)" if method == "quick" else "2-D Gaussian", method)
    result, elapsed = run_fit(model, method)
    table = store_fit(model, result, method, ncpus=1)
    log.info("%s fit of %d frames in %.2f s; %d flagged", method, len(table), elapsed,
             int(np.count_nonzero(np.asarray(table["flags"]))))
    return name


def fit_target(model, frames, *, where=None):
    """The model to fit for ``frames``: the model's own frames they select, or the frames alone.

    How the original notebook tool's ``gauss2d_fit(fg_array)`` is fitted: a
    selection of the model's frames (found by
    `spelunker.datamodels.rows.locate_rows`) is fitted with its errors, DQ
    and times (`spelunker.GuideStarModel.select`: the step's result on those
    frames); other frames are fitted on their own, in a model holding only
    them (no errors, DQ or times).

    Parameters
    ----------
    model : GuideStarModel
        The model whose frames are looked among.
    frames : array_like
        One frame ``(8, 8)`` or frames ``(n, 8, 8)``.
    where : str, optional
        The caller's name, at the start of error messages.

    Returns
    -------
    GuideStarModel
        A new model; ``model`` is not modified.

    Raises
    ------
    spelunker.errors.ParameterError
        ``frames`` are not frames (n, 8, 8).

    Examples
    --------
    >>> from spelunker.fitting import fit_target
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker import GuideStarModel
    >>> data, err, _ = simulate_frames(5, seed=1)
    >>> model = GuideStarModel(data=data, err=err)
    >>> fit_target(model, data[1:3]).hasattr("err"), fit_target(model, data[:2] + 1).hasattr("err")
    (True, False)
    """
    check_model(model, where=where or "fit_target")
    frames = check_frames(frames, "fg_array", shape=FRAME_SHAPE, where=where)
    model.require_frames("fitting")
    index = locate_rows(np.asarray(model.data), frames)
    if index is not None:
        return model.select(index)
    log.info("fitting %d frames that are not the model's own: no errors, DQ or times",
             len(frames))
    return GuideStarModel(data=frames.astype(np.float32))


def which_fit(model, table, *, time=None, methods=("gauss", "quick"), where=None):
    """Which of the model's stored fits ``table`` is: ``'gauss'``, ``'quick'`` or None.

    How a fit table given back is recognised (the original notebook tool's
    ``periodogram(table, time)``): a table with one row per frame whose
    ``x_mean`` values are those of the model's stored table, bit for bit
    (NaN matching NaN).

    Parameters
    ----------
    model : GuideStarModel
        The model holding the fits.
    table : astropy.table.Table
        The table given (units or plain numbers).
    time : array_like or astropy.time.Time, optional
        The table's times: they must be the model's frame times (MJD UTC,
        within `spelunker.datamodels.rows.TIME_MATCH_DAYS`), all of them in
        order.
    methods : sequence of str, optional
        The methods whose tables are looked at, in this order.
    where : str, optional
        The caller's name, at the start of error messages.

    Returns
    -------
    str or None
        The method of the matching table; None when none matches.

    Raises
    ------
    spelunker.errors.ParameterError
        ``model`` or ``table`` of the wrong type, or ``time`` that is not
        the model's frame times.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_moments_frames, fit_table, store_fit, which_fit
    >>> data, err, _ = simulate_frames(5, seed=1)
    >>> model = GuideStarModel(data=data, err=err)
    >>> _ = store_fit(model, fit_moments_frames(data, err), "quick")
    >>> which_fit(model, fit_table(model, "quick", time=False)), which_fit(model, fit_table(
    ...     model, "quick", time=False)[:2])
    ('quick', None)
    """
    where = where or "which_fit"
    check_model(model, where=where)
    check_table(table, "table", where=where)
    if time is not None:
        times = (time.utc.mjd if isinstance(time, Time)
                 else check_float_array(time, "time", where=where))
        ours = np.asarray(model.frames["mid_time_mjd"], dtype=np.float64)
        index = locate_rows(ours, times, atol=TIME_MATCH_DAYS)
        if index is None or not np.array_equal(index, np.arange(len(ours))):
            msg = (f"{where}: time must be the times of all the model's frames, in order (a "
                   f"part of the frames: select them first, then fit)")
            raise ParameterError(msg)
    if "x_mean" not in table.colnames:
        return None
    theirs = check_float_array(table["x_mean"], "x_mean", where=where)
    for method in methods:
        name = FIT_TABLES[_check_method(method)]
        if not model.hasattr(name):
            continue
        stored = np.asarray(getattr(model, name)["x_mean"], dtype=np.float64)
        if stored.shape == theirs.shape and np.array_equal(stored, theirs, equal_nan=True):
            return method
    return None


def flag_counts(flags):
    """(name, count) of every flag bit set in ``flags``, by `FitFlag` name when it has one.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.fitting import FitFlag, flag_counts
    >>> flag_counts(np.array([0, FitFlag.EDGE, FitFlag.EDGE | FitFlag.AT_BOUND]))
    [('AT_BOUND', 1), ('EDGE', 2)]
    """
    try:
        flags = np.asarray(flags).astype(np.uint32)
    except (TypeError, ValueError) as exc:
        msg = f"flags must be an array of FitFlag bits; got {flags!r} ({exc})"
        raise ParameterError(msg) from None
    counts = []
    for bit in range(32):
        count = int(np.count_nonzero(flags & np.uint32(1 << bit)))
        if count:
            try:
                name = FitFlag(1 << bit).name
            except ValueError:
                name = None
            counts.append((name or f"bit {bit}", count))
    return counts


def _any_usable(err, chunk=65536):
    """Whether some value of ``err`` is finite and positive, looked for a chunk at a time.

    Usually the first chunk answers; the whole array is never copied into
    temporaries (a 1M-frame visit's ERR is 256 MB).
    """
    flat = err.reshape(-1)
    return any(np.any(np.isfinite(part) & (part > 0))
               for part in (flat[start:start + chunk] for start in range(0, flat.size, chunk)))


def _usable_err(model):
    """The model's ERR, or None (unweighted fit) when it has no usable value."""
    if not model.hasattr("err"):
        log.warning("input has no ERR array; fitting without weights")
        return None
    err = np.asarray(model.err)
    if err.shape != np.shape(model.data) or not _any_usable(err):
        log.warning("input ERR has no positive finite value; fitting without weights")
        return None
    return err
