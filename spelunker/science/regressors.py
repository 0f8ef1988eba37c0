"""Standardised regressors from the binned guide-star series, and their correlation.

`design_matrix` turns a `spelunker.science.bin_to_integrations` table into
standardised regressors (`Regressors`: an array and names, an astropy table,
a lightkurve ``DesignMatrix``), and `Regressors.correlation` correlates each
with a science light curve.
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.time import Time
from astropy.timeseries import TimeSeries

from spelunker._validate import check_float_array
from spelunker.errors import ParameterError
from spelunker.science.binning import _table_time

__all__ = ["DEFAULT_REGRESSORS", "Regressors", "design_matrix"]

log = logging.getLogger(__name__)

#: Default regressors of `design_matrix`: the centroid (pointing drift and
#: jitter move the science spectrum or image), the PSF widths (wavefront
#: changes such as mirror-segment tilt events) and the guide-star flux.
DEFAULT_REGRESSORS = ("x_mean", "y_mean", "x_stddev", "y_stddev", "flux")


@dataclass(frozen=True)
class Regressors:
    """Standardised guide-star regressors on the science cadence.

    Attributes
    ----------
    values : numpy.ndarray
        ``(n_integrations, n_regressors)``: ``(x - mean) / std`` of each
        column over the valid rows; invalid rows hold 0 (the mean).
    names : tuple of str
    valid : numpy.ndarray
        Rows where every regressor is finite.
    mean, std : tuple of astropy.units.Quantity
        The mean and standard deviation that standardised each column.
    time : astropy.time.Time
        Mid-integration times (BJD_TDB).
    """

    values: np.ndarray
    names: tuple
    valid: np.ndarray
    mean: tuple
    std: tuple
    time: Time

    def to_table(self):
        """The regressors as an `~astropy.timeseries.TimeSeries` (write it as ECSV or FITS).

        Columns: ``time`` (BJD_TDB), one column per regressor
        (dimensionless, standardised) and ``valid``; ``meta`` holds the
        means and standard deviations with their units.
        """
        table = TimeSeries(time=self.time)
        for index, name in enumerate(self.names):
            table[name] = self.values[:, index]
        table["valid"] = self.valid
        table.meta["comments"] = [
            "regressors standardised: (x - mean) / std over the valid rows; invalid rows 0"]
        for name, mean, std in zip(self.names, self.mean, self.std):
            table.meta["comments"].append(f"{name}: mean {mean.value!r} std {std.value!r} "
                                          f"{mean.unit}")
        return table

    def to_lightkurve(self, *, constant=True, name="guide star"):
        """A lightkurve ``DesignMatrix`` of the regressors.

        Parameters
        ----------
        constant : bool, optional
            Append a constant column (lightkurve's ``append_constant``).
        name : str, optional

        Returns
        -------
        lightkurve.correctors.DesignMatrix

        Raises
        ------
        ImportError
            When lightkurve is not installed
            (``pip install 'spelunker[lightkurve]'``).
        """
        design = _lightkurve().correctors.DesignMatrix(
            self.values, columns=list(self.names), name=name)
        return design.append_constant() if constant else design

    def correlation(self, flux):
        """Pearson correlation of every regressor with a light curve.

        Parameters
        ----------
        flux : array_like or astropy.units.Quantity
            One value per integration (e.g. the science white-light curve).

        Returns
        -------
        dict
            Regressor name -> correlation coefficient, over the rows where
            the regressors are valid and ``flux`` is finite (NaN, with a
            warning, when fewer than 3 such rows).
        """
        if isinstance(flux, Time):
            msg = "flux is an astropy Time; give the light curve (one value per integration)"
            raise ParameterError(msg)
        flux = check_float_array(
            flux, "flux", shape=(self.values.shape[0],),
            needed=f"one value per integration ({self.values.shape[0]})")
        rows = self.valid & np.isfinite(flux)
        if np.count_nonzero(rows) < 3:
            log.warning("correlation: only %d integration(s) have a finite flux and every "
                        "regressor; no correlation (NaN)", np.count_nonzero(rows))
            return dict.fromkeys(self.names, np.nan)
        centred = flux[rows] - flux[rows].mean()
        result = {}
        for index, name in enumerate(self.names):
            column = self.values[rows, index]
            column = column - column.mean()  # zero over the valid rows, not over these
            norm = np.sqrt(np.sum(centred**2) * np.sum(column**2))
            result[name] = float(np.sum(centred * column) / norm) if norm > 0 else np.nan
        return result


def design_matrix(binned, *, columns=DEFAULT_REGRESSORS):
    """Standardised regressors from a `bin_to_integrations` table.

    Parameters
    ----------
    binned : astropy.timeseries.TimeSeries
        The result of `bin_to_integrations`.
    columns : sequence of str, optional
        The regressors (default `DEFAULT_REGRESSORS`: ``x_mean``,
        ``y_mean``, ``x_stddev``, ``y_stddev``, ``flux``); columns the table
        lacks are left out with a warning, as are constant columns.

    Returns
    -------
    Regressors

    Raises
    ------
    spelunker.errors.ParameterError
        When none of ``columns`` can be used, one is not numeric, no row has
        every regressor, or ``binned`` has no ``time`` column.

    Examples
    --------
    >>> from spelunker.science import design_matrix
    >>> import numpy as np
    >>> from astropy.time import Time
    >>> from astropy.timeseries import TimeSeries
    >>> table = TimeSeries(time=Time(60000 + np.arange(4) / 86400, format="mjd", scale="tdb"))
    >>> table["x_mean"] = [1.0, 2.0, 3.0, 4.0]
    >>> regressors = design_matrix(table, columns=["x_mean"])
    >>> regressors.values[:, 0].round(3).tolist()
    [-1.342, -0.447, 0.447, 1.342]
    """
    time = _table_time(binned, "binned")
    columns = [columns] if isinstance(columns, str) else columns
    if not isinstance(columns, (list, tuple, np.ndarray)) or not all(
            isinstance(c, str) for c in columns):
        msg = f"design_matrix: columns={columns!r:.60} must be a column name or a list of names"
        raise ParameterError(msg)
    names, arrays, means, stds = [], [], [], []
    for name in columns:
        if name not in binned.colnames:
            log.warning("design_matrix: the table has no column %r; left out", name)
            continue
        try:
            values = np.asarray(u.Quantity(binned[name]).value, dtype=float)
        except (TypeError, ValueError):
            msg = f"columns: {name!r} is not a numeric column; it cannot be a regressor"
            raise ParameterError(msg) from None
        if values.ndim != 1:
            msg = f"columns: {name!r} has shape {values.shape}; a regressor is one number a row"
            raise ParameterError(msg)
        finite = np.isfinite(values)
        if not finite.any() or np.nanstd(values) == 0:
            log.warning("design_matrix: %r is constant or empty over the integrations; "
                        "left out", name)
            continue
        names.append(name)
        arrays.append(values)
    if not arrays:
        msg = f"columns={list(columns)!r}: none of them can be a regressor for this table"
        raise ParameterError(msg)
    raw = np.column_stack(arrays)
    valid = np.all(np.isfinite(raw), axis=1)
    if not valid.any():
        msg = "no integration has every regressor (no guide-star frames inside any of them?)"
        raise ParameterError(msg)
    values = np.zeros_like(raw)
    for index, name in enumerate(names):
        mean = raw[valid, index].mean()
        std = raw[valid, index].std()
        std = std if std > 0 else 1.0
        values[valid, index] = (raw[valid, index] - mean) / std
        unit = u.Quantity(binned[name]).unit
        means.append(mean * unit)
        stds.append(std * unit)
    return Regressors(values=values, names=tuple(names), valid=valid, mean=tuple(means),
                      std=tuple(stds), time=time)



def _lightkurve():
    # lightkurve is an optional extra: importing it costs seconds and pulls
    # pandas, scikit-learn and bokeh, which nothing else here needs.
    try:
        import lightkurve
    except ImportError:
        msg = ("lightkurve is not installed; install the optional extra: "
               "pip install 'spelunker[lightkurve]'")
        raise ImportError(msg) from None
    return lightkurve
