"""GuideStarFitStep: fit the PSF of every fine-guide frame.

The step is thin: it opens its input as a `~spelunker.GuideStarModel` (a
copy: the caller's model is never modified), checks its parameters, calls
`spelunker.fitting.fit_gaussian_frames` or
`spelunker.fitting.fit_moments_frames`, stores the result with `store_fit`
and logs a summary.
"""

import logging
import os
import time

import numpy as np
from astropy.nddata.bitmask import interpret_bit_flags
from stdatamodels.jwst.datamodels import dqflags

from spelunker.stpipe.core import SpelunkerStep

__all__ = ["GuideStarFitStep", "store_fit", "fit_table", "run_fit", "parse_dq_bits",
           "FIT_TABLES"]

log = logging.getLogger(__name__)

#: Model table written by each fitting method.
FIT_TABLES = {"gauss": "gauss_fit", "quick": "quick_fit"}


class GuideStarFitStep(SpelunkerStep):
    """Fit every fine-guide frame with a 2-D Gaussian or with image moments.

    The input is anything `spelunker.io.open_guidestar` reads: calibrated
    fine-guide products (paths, a glob, a directory, an association), open
    ``GuiderCalModel`` objects, or a `~spelunker.GuideStarModel` (saved or
    in memory; it is copied, never modified).  The result is a
    GuideStarModel with one row per frame in ``gauss_fit`` (method
    ``gauss``) or ``quick_fit`` (method ``quick``): the seven parameters
    ``amplitude, x_mean, y_mean, x_stddev, y_stddev, theta, offset``, their
    1-sigma errors, ``chi2``, ``dof``, ``iterations`` and ``flags``
    (`spelunker.fitting.FitFlag`, 0 for a clean fit).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import GuideStarFitStep, datasets
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), seed=1)
    >>> result = GuideStarFitStep.call(visit.files, method="quick")
    >>> len(result.quick_fit) == len(result.data)
    True
    """

    class_alias = "spelunker_fit"

    spec = """
    method = option('gauss', 'quick', default='gauss')  # 'gauss': least-squares 2-D Gaussian fit of every frame, with errors and chi2; 'quick': image moments, faster, errors for centre and background only
    ncpus = integer(min=1, default=1)  # Number of threads (capped at the CPUs available); results do not depend on it
    max_iterations = integer(min=1, default=50)  # Most Levenberg-Marquardt iterations per frame (method 'gauss'); frames that need more are flagged
    bad_dq_bits = pass(default='DO_NOT_USE')  # DQ bits of pixels left out of the fit: an integer, or JWST DQ names joined by '+' or ','; '0' uses every finite pixel
    progress = boolean(default=False)  # Show progress bars while reading and fitting
    suffix = string(default='gsfit')  # Suffix of the output file name
    """  # noqa: E501

    def process(self, input_data):
        """Fit the frames of ``input_data`` and return a new GuideStarModel.

        Parameters
        ----------
        input_data : object
            Anything `spelunker.io.open_guidestar` accepts.

        Returns
        -------
        GuideStarModel
            A copy of the input with the ``gauss_fit`` or ``quick_fit``
            table and ``meta.spelunker.fit_*`` filled in.
        """
        method, ncpus, max_iterations, bad_bits = self._checked_parameters()
        model = self.open_input(input_data, progress=bool(self.progress))
        result, elapsed = run_fit(
            model, method, ncpus=ncpus, max_iterations=max_iterations,
            bad_dq_bits=bad_bits, progress=bool(self.progress),
        )
        table = store_fit(model, result, method, ncpus=ncpus)
        _log_summary(table, method, elapsed)
        return model

    def _checked_parameters(self):
        """Return ``(method, ncpus, max_iterations, bad_dq_bits)`` or raise ValueError.

        The spec validates parameters given to ``call``, ``strun`` or the
        constructor; attributes set on an instance afterwards are checked
        here.
        """
        method = str(self.method).strip().lower()
        if method not in FIT_TABLES:
            msg = f"{self.name}: method={self.method!r} is not one of {sorted(FIT_TABLES)}"
            raise ValueError(msg)
        ncpus = _positive_int(self.name, "ncpus", self.ncpus)
        max_iterations = _positive_int(self.name, "max_iterations", self.max_iterations)
        bad_bits = parse_dq_bits(self.bad_dq_bits)
        available = _available_cpus()
        if ncpus > available:
            log.warning("%s: ncpus=%d but only %d CPU(s) are available; using %d",
                        self.name, ncpus, available, available)
            ncpus = available
        return method, ncpus, max_iterations, bad_bits


def run_fit(model, method, *, ncpus=1, max_iterations=50, bad_dq_bits=1, progress=False):
    """Fit the frames of ``model`` with ``method`` and time it.

    Parameters
    ----------
    model : GuideStarModel
        The frames (``data``, ``err``, ``dq``); not modified.
    method : {'gauss', 'quick'}
        Fitting method.
    ncpus : int, optional
        Number of threads.
    max_iterations : int, optional
        Iteration limit of `spelunker.fitting.fit_gaussian_frames` (method
        ``gauss``).
    bad_dq_bits : int, optional
        DQ bits of pixels left out of the fit.
    progress : bool, optional
        Progress bar.

    Returns
    -------
    result : dict-like
        The fitting function's result.
    elapsed : float
        Wall-clock seconds spent fitting.
    """
    from spelunker import fitting

    data = np.asarray(model.data)
    err = _usable_err(model)
    dq = np.asarray(model.dq) if model.hasattr("dq") else None
    log.info("fitting %d frames with method %r on %d thread(s)", len(data), method, ncpus)
    start = time.perf_counter()
    if method == "gauss":
        result = fitting.fit_gaussian_frames(
            data, err, dq=dq, bad_dq_bits=bad_dq_bits, ncpus=ncpus,
            max_iterations=max_iterations, progress=progress,
        )
    elif method == "quick":
        result = fitting.fit_moments_frames(data, err, dq=dq, bad_dq_bits=bad_dq_bits,
                                            ncpus=ncpus, progress=progress)
    else:
        msg = f"method={method!r} is not one of {sorted(FIT_TABLES)}"
        raise ValueError(msg)
    return result, time.perf_counter() - start


def store_fit(model, result, method, *, ncpus=None):
    """Write a per-frame fit result into ``model.gauss_fit`` or ``model.quick_fit``.

    The one conversion from a `spelunker.fitting` result to the model's
    table, shared by `GuideStarFitStep` and the notebook API.

    Parameters
    ----------
    model : GuideStarModel
        Modified in place: the table and ``meta.spelunker.fit_method``,
        ``fit_status`` (``COMPLETE``), ``fit_n_flagged`` and, if given,
        ``fit_ncpus``.
    result : mapping
        Result of `spelunker.fitting.fit_gaussian_frames` or
        `spelunker.fitting.fit_moments_frames`: one array per table column
        (``amplitude`` ... ``offset``, their ``_err``, ``chi2``, ``dof``,
        ``iterations``, ``flags``), one value per frame.
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
    ValueError
        For an unknown method, a missing column, or a column whose length
        is not the number of frames.

    Examples
    --------
    >>> from spelunker import GuideStarModel
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_moments_frames
    >>> from spelunker.stpipe.guide_star_fit_step import store_fit
    >>> data, err, _ = simulate_frames(5, seed=1)
    >>> model = GuideStarModel(data=data, err=err)
    >>> table = store_fit(model, fit_moments_frames(data, err), "quick")
    >>> len(model.quick_fit), model.meta.spelunker.fit_method
    (5, 'quick')
    """
    if method not in FIT_TABLES:
        msg = f"method={method!r} is not one of {sorted(FIT_TABLES)}"
        raise ValueError(msg)
    name = FIT_TABLES[method]
    dtype = model.table_dtype(name)
    n_frames = len(model.data)
    table = np.zeros(n_frames, dtype=dtype)
    for column in dtype.names:
        try:
            values = np.asarray(result[column])
        except KeyError:
            msg = f"fit result has no column {column!r} (needed for the {name} table)"
            raise ValueError(msg) from None
        if values.shape != (n_frames,):
            msg = (f"fit result column {column!r} has shape {values.shape}; the model has "
                   f"{n_frames} frames")
            raise ValueError(msg)
        if dtype[column].kind in "iu" and values.dtype.kind not in "iub":
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                msg = f"fit result column {column!r} holds non-integer {values.dtype} values"
                raise ValueError(msg)
        table[column] = values
    setattr(model, name, table)
    spelunker_meta = model.meta.spelunker
    spelunker_meta.fit_method = method
    spelunker_meta.fit_status = "COMPLETE"
    spelunker_meta.fit_n_flagged = int(np.count_nonzero(table["flags"]))
    if ncpus is not None:
        spelunker_meta.fit_ncpus = int(ncpus)
    return table


def fit_table(model, method="gauss", *, time=True):
    """Return a fit table of ``model`` as a QTable with units (and frame times).

    Parameters
    ----------
    model : GuideStarModel
        A model that has been through `GuideStarFitStep` (or `store_fit`).
    method : {'gauss', 'quick'}, optional
        Which table: ``gauss_fit`` or ``quick_fit``.
    time : bool, optional
        Add the mid-frame times (`astropy.time.Time`, UTC) as column ``time``.

    Returns
    -------
    astropy.table.QTable
        `spelunker.fitting.fit_result_table` of the stored table: amplitude
        and offset (and their errors) in DN/s, centres and widths in pix,
        theta in rad.

    Raises
    ------
    ValueError
        For an unknown method or a model without that table.
    """
    from spelunker.fitting import fit_result_table

    if method not in FIT_TABLES:
        msg = f"method={method!r} is not one of {sorted(FIT_TABLES)}"
        raise ValueError(msg)
    name = FIT_TABLES[method]
    if not model.hasattr(name):
        msg = f"the model has no {name} table; run GuideStarFitStep with method={method!r}"
        raise ValueError(msg)
    stored = getattr(model, name)
    # Field access: numpy.asarray of a FITS_rec that has been saved returns
    # its raw storage, in which uint32 columns carry FITS's 2**31 offset.
    columns = {column: np.asarray(stored[column]) for column in stored.dtype.names}
    return fit_result_table(columns, time=model.frame_times if time else None)


def parse_dq_bits(value):
    """Turn a ``bad_dq_bits`` parameter into an integer bit mask.

    Parameters
    ----------
    value : int, str or None
        An integer, or JWST DQ names (`stdatamodels.jwst.datamodels.dqflags`)
        joined by ``+`` or ``,``, optionally preceded by ``~`` (every bit
        except those).  None, ``''`` and ``'0'`` mean no bit.

    Returns
    -------
    int
        Non-negative 32-bit mask.

    Raises
    ------
    ValueError
        For unknown names or a malformed value.

    Examples
    --------
    >>> from spelunker.stpipe.guide_star_fit_step import parse_dq_bits
    >>> parse_dq_bits("DO_NOT_USE+SATURATED")
    3
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return 0
    if isinstance(value, (bool, np.bool_)):
        msg = f"bad_dq_bits={value!r}: give an integer or DQ flag names, not a boolean"
        raise ValueError(msg)
    if isinstance(value, (int, np.integer)):
        mask = int(value)
    else:
        try:
            mask = interpret_bit_flags(str(value).strip(), flag_name_map=dqflags.pixel)
        except (KeyError, ValueError, TypeError) as exc:
            names = ", ".join(sorted(dqflags.pixel)[:6])
            msg = (f"bad_dq_bits={value!r} is not an integer or a combination of JWST DQ "
                   f"flag names ({names}, ...): {exc}")
            raise ValueError(msg) from None
        mask = 0 if mask is None else int(mask)
    return mask & 0xFFFFFFFF


def _positive_int(step_name, parameter, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        msg = f"{step_name}: {parameter}={value!r} must be an integer >= 1"
        raise ValueError(msg)
    if value < 1:
        msg = f"{step_name}: {parameter}={value!r} must be >= 1"
        raise ValueError(msg)
    return int(value)


def _available_cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _usable_err(model):
    """The model's ERR, or None (unweighted fit) when it has no usable value."""
    if not model.hasattr("err"):
        log.warning("input has no ERR array; fitting without weights")
        return None
    err = np.asarray(model.err)
    if err.shape != np.shape(model.data) or not np.any(np.isfinite(err) & (err > 0)):
        log.warning("input ERR has no positive finite value; fitting without weights")
        return None
    return err


def _log_summary(table, method, elapsed):
    n_frames = len(table)
    flags = np.asarray(table["flags"])
    n_flagged = int(np.count_nonzero(flags))
    fraction = n_flagged / n_frames if n_frames else 0.0
    rate = n_frames / elapsed if elapsed > 0 else float("inf")
    log.info("%s fit: %d frames in %.2f s (%.0f frames/s); %d flagged (%.2f%%)",
             method, n_frames, elapsed, rate, n_flagged, 100 * fraction)
    if n_flagged:
        for name, count in _flag_counts(flags):
            log.info("  %s: %d frame(s)", name, count)


def _flag_counts(flags):
    """(name, count) of every flag bit set in ``flags``, by `FitFlag` name when it has one."""
    from spelunker.fitting import FitFlag

    flags = flags.astype(np.uint32)
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
