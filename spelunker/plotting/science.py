"""The science light curve against the guide-star regressors, on one time axis.

`science_regressors_plot` draws a science light curve (one value per
integration) above the guide-star series binned onto the same integrations
(`spelunker.science.bin_to_integrations`), in stacked panels sharing the
time axis (hours of BJD_TDB since the first integration).  Each regressor
panel gives its correlation with the science light curve and the most
correlated one is drawn in colour; integrations flagged by an event
(``event_<kind>`` columns) are shaded in every panel.  The light curve is
drawn relative to its median, or as given when that median is zero or
negative; a light curve without any finite value is refused.
"""

import logging

import numpy as np
from astropy import units as u

from spelunker._validate import check_float_array
from spelunker.errors import ScienceInputError
from spelunker.events import EVENT_KINDS
from spelunker.plotting._canvas import new_figure
from spelunker.plotting.styles import EVENT_STYLES
from spelunker.science import DEFAULT_REGRESSORS, design_matrix

__all__ = ["science_regressors_plot"]

log = logging.getLogger(__name__)


def _event_spans(flags):
    """``(first, last)`` row ranges of the runs of True in ``flags``."""
    flags = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def science_regressors_plot(binned, flux, *, regressors=DEFAULT_REGRESSORS, flux_err=None,
                            fig=None, events=True, label="science"):
    """Plot a science light curve and the guide-star regressors against time.

    Parameters
    ----------
    binned : astropy.timeseries.TimeSeries
        `spelunker.science.bin_to_integrations` of the same integrations.
    flux : array_like or astropy.units.Quantity
        The science light curve, one value per integration (e.g.
        `spelunker.science.science_light_curve`); drawn relative to the
        median of its finite values, or as given (with a note on the panel
        and a warning in the log) when that median is zero or negative
        (residuals, a background-subtracted curve), where relative flux
        means nothing.
    regressors : sequence of str, optional
        The guide-star columns to draw (default
        `spelunker.science.DEFAULT_REGRESSORS`); those the table lacks are
        left out.
    flux_err : array_like, optional
        Uncertainty of ``flux``, one value per integration (scaled as
        ``flux``).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (default: a new one).
    events : bool, optional
        Shade the integrations flagged by an event.
    label : str, optional
        Name of the science light curve.

    Returns
    -------
    matplotlib.figure.Figure
        One panel for the light curve and one per regressor; the figure's
        ``spelunker_correlation`` attribute holds each regressor's
        correlation with the light curve, and the most correlated
        regressor's panel has the gid ``'best-regressor'``.

    Raises
    ------
    spelunker.errors.ParameterError
        When ``flux`` or ``flux_err`` has not one number per integration, or
        ``fig`` is not a matplotlib Figure.
    spelunker.errors.ScienceInputError
        When no value of ``flux`` is finite (nothing to draw).

    Examples
    --------
    >>> from spelunker.plotting.science import science_regressors_plot
    >>> from matplotlib.figure import Figure
    >>> import numpy as np
    >>> from astropy.time import Time
    >>> from astropy.timeseries import TimeSeries
    >>> table = TimeSeries(time=Time(60000 + np.arange(50) / 8640, format="mjd", scale="tdb"))
    >>> table["x_mean"] = np.sin(np.arange(50) / 5)
    >>> table["y_mean"] = np.cos(np.arange(50) / 3)
    >>> fig = science_regressors_plot(table, 1 + 0.01 * table["x_mean"], fig=Figure())
    >>> max(fig.spelunker_correlation, key=fig.spelunker_correlation.get)
    'x_mean'
    """
    _require_finite(flux, label)
    matrix = design_matrix(binned, columns=regressors)
    correlation = matrix.correlation(flux)  # checks flux: one number per integration
    curve, errors, ylabel, note = _light_curve(flux, flux_err, label)
    best = max(correlation, key=lambda name: abs(np.nan_to_num(correlation[name])))
    hours = (binned.time - binned.time[0]).to_value(u.h)
    fig = new_figure(fig, (9, 1.9 * (1 + len(matrix.names)) + 0.6))
    axes = fig.subplots(1 + len(matrix.names), 1, sharex=True, squeeze=False)[:, 0]
    axes[0].errorbar(hours, curve, yerr=errors, fmt=".", color="k", markersize=3,
                     elinewidth=0.5, label=label)
    axes[0].set_ylabel(ylabel)
    if note:
        axes[0].text(0.99, 0.92, note, transform=axes[0].transAxes, ha="right", va="top",
                     fontsize="small", gid="flux-note")
    for ax, name in zip(axes[1:], matrix.names):
        values = u.Quantity(binned[name])
        err = u.Quantity(binned[f"{name}_err"]).value if f"{name}_err" in binned.colnames \
            else None
        color = "C0" if name == best else "0.45"
        ax.errorbar(hours, values.value, yerr=err, fmt=".", color=color, markersize=3,
                    elinewidth=0.5)
        ax.set_ylabel(f"{name}{_unit_suffix(values.unit)}")
        text = f"r = {correlation[name]:+.2f}" + ("  (highest |r|)" if name == best else "")
        ax.text(0.01, 0.92, text, transform=ax.transAxes, va="top", fontsize="small",
                fontweight="bold" if name == best else "normal")
        if name == best:
            ax.set_gid("best-regressor")
    if events:
        _shade_events(axes, binned, hours)
    first = binned.time[0]
    axes[-1].set_xlabel(f"time since BJD_TDB {first.jd:.6f} [h]")
    axes[0].set_title("Science light curve and guide-star regressors (integration cadence)")
    fig.spelunker_correlation = correlation
    return fig


def _require_finite(flux, label):
    """Refuse a numeric light curve without any finite value: there is nothing to draw."""
    values = np.asarray(getattr(flux, "value", flux))
    if np.issubdtype(values.dtype, np.number) and values.size \
            and not np.isfinite(values).any():
        msg = (f"flux ({label!r}): none of its {values.size} values is finite (an "
               "integration without any finite pixel sums to NaN); there is no light curve "
               "to draw")
        raise ScienceInputError(msg)


def _light_curve(flux, flux_err, label):
    """The values, errors, y label and note of the light-curve panel.

    Relative to the median of the finite values when that median is
    positive; otherwise (a zero or negative median, e.g. residuals or a
    background-subtracted curve) relative flux means nothing and the flux is
    drawn as given, with a note.
    """
    values = np.asarray(getattr(flux, "value", flux), dtype=float)  # checked by correlation
    errors = None
    if flux_err is not None:
        errors = check_float_array(flux_err, "flux_err", shape=values.shape,
                                   needed=f"one value per integration ({values.size}), as flux")
    median = np.median(values[np.isfinite(values)])
    if median > 0:
        return (values / median, None if errors is None else errors / median,
                f"{label}\n(relative flux)", None)
    log.warning("science_regressors_plot: the median of flux (%r) is %g; relative flux "
                "means nothing, the flux is drawn as given", label, median)
    return (values, errors, f"{label}{_unit_suffix(getattr(flux, 'unit', None))}\n(flux)",
            f"median {median:.3g}: flux as given")


def _unit_suffix(unit):
    """`` [unit]`` for a y label, or nothing for no unit or a dimensionless one."""
    return f" [{unit.to_string()}]" if unit not in (None, u.one) else ""


def _shade_events(axes, binned, hours):
    """Shade the runs of integrations flagged by each event kind, in every panel."""
    if len(hours) == 0:
        return
    step = np.median(np.diff(hours)) if len(hours) > 1 else 0.0
    for kind in EVENT_KINDS:
        column = f"event_{kind}"
        if column not in binned.colnames or not np.any(binned[column]):
            continue
        for number, (first, last) in enumerate(_event_spans(binned[column])):
            for index, ax in enumerate(axes):
                ax.axvspan(hours[first] - step / 2, hours[last] + step / 2, alpha=0.25,
                           color=EVENT_STYLES[kind]["color"], linewidth=0,
                           gid=f"event-{kind}",
                           label=EVENT_STYLES[kind]["label"] if number == 0 and index == 0
                           else None)
    if any(patch.get_gid() and patch.get_gid().startswith("event-")
           for patch in axes[0].patches):
        axes[0].legend(loc="lower left", fontsize="small")
