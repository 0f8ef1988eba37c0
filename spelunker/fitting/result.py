"""Per-frame fit results and their conversion to an astropy table."""

import astropy.units as u
import numpy as np
from astropy.table import QTable
from astropy.time import Time

from spelunker._validate import check_float_array, check_table
from spelunker.errors import ParameterError
from spelunker.fitting.model import PARAMETER_NAMES

__all__ = ["FitResult", "fit_result_table", "PARAMETER_UNITS"]

#: Unit of each model parameter (and of its uncertainty).
PARAMETER_UNITS = {
    "amplitude": u.DN / u.s,
    "x_mean": u.pix,
    "y_mean": u.pix,
    "x_stddev": u.pix,
    "y_stddev": u.pix,
    "theta": u.rad,
    "offset": u.DN / u.s,
}

#: Keys of a FitResult, in table column order.
RESULT_KEYS = (
    PARAMETER_NAMES
    + tuple(name + "_err" for name in PARAMETER_NAMES)
    + ("chi2", "dof", "iterations", "flags")
)


class FitResult(dict):
    """Per-frame fit results: a dict of 1-D NumPy arrays, one entry per frame.

    Keys (in this order):

    - the seven parameters of `spelunker.fitting.model.PARAMETER_NAMES`
      (float64; amplitude and offset in DN/s like the data, centres and
      widths in pixels, theta in radians; canonical form);
    - ``<name>_err``: their 1-sigma uncertainties (float64);
    - ``chi2`` (float64), ``dof`` (int32), ``iterations`` (int32);
    - ``flags`` (uint32), a `~spelunker.fitting.FitFlag` bit mask, 0 for a
      clean fit.

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_gaussian_frames
    >>> data, err, truth = simulate_frames(5, seed=2)
    >>> result = fit_gaussian_frames(data, err)
    >>> result.n_frames, int(result.clean.sum())
    (5, 5)
    """

    @property
    def n_frames(self):
        """Number of frames."""
        return len(self["flags"])

    @property
    def clean(self):
        """Boolean array: True where ``flags == 0``."""
        return self["flags"] == 0

    def __repr__(self):
        return f"<FitResult: {self.n_frames} frames, {int(self.clean.sum())} clean>"

    @classmethod
    def from_table(cls, table, *, where="FitResult.from_table"):
        """A fit result from a fit table (the original notebook tool's seven columns).

        Parameters
        ----------
        table : astropy.table.Table
            One row per frame with the columns of `PARAMETER_NAMES`: with
            units (converted to `PARAMETER_UNITS`) or plain numbers in those
            units.  ``<name>_err``, ``chi2`` and ``flags`` are read when
            present (else NaN and 0); ``dof`` and ``iterations`` are 0.
        where : str, optional
            Who asks, at the start of the error message.

        Returns
        -------
        FitResult

        Raises
        ------
        spelunker.errors.ParameterError
            ``table`` is not a table, a parameter column is missing, or a
            column is not numbers in a unit convertible to its parameter's.

        Examples
        --------
        >>> from astropy.table import Table
        >>> from spelunker.fitting import FitResult
        >>> from spelunker.fitting.model import PARAMETER_NAMES
        >>> table = Table({name: [1.0, 2.0] for name in PARAMETER_NAMES})
        >>> FitResult.from_table(table)
        <FitResult: 2 frames, 2 clean>
        """
        check_table(table, "table", where=where)
        missing = [name for name in PARAMETER_NAMES if name not in table.colnames]
        if missing:
            msg = (f"{where}: the table lacks the column(s) {', '.join(missing)} (it needs "
                   f"{', '.join(PARAMETER_NAMES)})")
            raise ParameterError(msg)
        n = len(table)
        result = cls()
        for name in PARAMETER_NAMES:
            column = table[name]
            unit = getattr(column, "unit", None)
            if unit is not None and unit != "" and hasattr(column, "to_value"):
                try:
                    values = column.to_value(PARAMETER_UNITS[name])
                except (u.UnitsError, TypeError, ValueError):
                    msg = (f"{where}: column {name} is in {unit}, which is not convertible to "
                           f"{PARAMETER_UNITS[name]}")
                    raise ParameterError(msg) from None
                result[name] = np.asarray(values, dtype=np.float64)
            else:
                result[name] = check_float_array(column, name, where=where)
        for name in PARAMETER_NAMES:
            result[name + "_err"] = (check_float_array(table[name + "_err"], name + "_err",
                                                       where=where)
                                     if name + "_err" in table.colnames else np.full(n, np.nan))
        result["chi2"] = (check_float_array(table["chi2"], "chi2", where=where)
                          if "chi2" in table.colnames else np.full(n, np.nan))
        result["dof"] = np.zeros(n, dtype=np.int32)
        result["iterations"] = np.zeros(n, dtype=np.int32)
        result["flags"] = np.zeros(n, dtype=np.uint32)
        if "flags" in table.colnames:
            try:
                result["flags"] = np.asarray(table["flags"], dtype=np.uint32)
            except (TypeError, ValueError, OverflowError):
                msg = f"{where}: column flags must hold FitFlag bits (integers >= 0)"
                raise ParameterError(msg) from None
        return result


def fit_result_table(result, time=None):
    """Turn a fit result into an astropy QTable, one row per frame.

    Parameters
    ----------
    result : FitResult or dict of array_like
        Output of `fit_gaussian_frames` or `fit_moments_frames` (or any
        mapping with the same keys).
    time : astropy.time.Time, optional
        Frame times; becomes the first column ``time`` when given.

    Returns
    -------
    astropy.table.QTable
        Columns ``time`` (optional), the seven parameters with units
        (amplitude and offset DN/s, centres and widths pix, theta rad),
        ``<name>_err`` with the same units, ``chi2``, ``dof``,
        ``iterations`` and ``flags``.

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> from spelunker.fitting import fit_gaussian_frames, fit_result_table
    >>> data, err, truth = simulate_frames(3, seed=1)
    >>> table = fit_result_table(fit_gaussian_frames(data, err))
    >>> len(table), table["x_mean"].unit
    (3, Unit("pix"))
    """
    missing = [key for key in RESULT_KEYS if not hasattr(result, "keys") or key not in result]
    if missing:
        msg = f"result lacks the keys {missing}"
        raise ParameterError(msg)
    n = len(np.asarray(result["flags"]))
    table = QTable()
    if time is not None:
        if not isinstance(time, Time):
            msg = f"time must be an astropy Time; got {type(time).__name__}"
            raise ParameterError(msg)
        if time.shape != (n,):
            msg = f"time must have one entry per frame ({n}); got shape {time.shape}"
            raise ParameterError(msg)
        table["time"] = time
    for name in PARAMETER_NAMES:
        table[name] = np.asarray(result[name], dtype=np.float64) * PARAMETER_UNITS[name]
    for name in PARAMETER_NAMES:
        key = name + "_err"
        table[key] = np.asarray(result[key], dtype=np.float64) * PARAMETER_UNITS[name]
    table["chi2"] = np.asarray(result["chi2"], dtype=np.float64)
    table["dof"] = np.asarray(result["dof"], dtype=np.int32)
    table["iterations"] = np.asarray(result["iterations"], dtype=np.int32)
    table["flags"] = np.asarray(result["flags"], dtype=np.uint32)
    return table
