"""Time axes of the time-series plots: time since the first frame, and any time put on an Axes.

Time-series plots use time since the first frame in s, min or h (chosen
from the span, `TimeAxis.for_span`), labelled with the UTC time of the
first frame.  A plot records its `TimeAxis` on the Axes (`set_time_axis`),
and every overlay (`spelunker.plotting.telemetry`: telemetry from
`spelunker.archive.engdb.mnemonics`, events from `spelunker.events`)
converts its times with `to_axis_time`, so telemetry lands at the right
place.  On Axes without a `TimeAxis` (a plot made with matplotlib
directly), overlays use MJD (UTC), as the original spelunker did.
`KeepXlim` keeps the x limits of an Axes that already shows data while
overlays are drawn.
"""

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.time import Time

from spelunker._validate import check_choice
from spelunker.errors import ParameterError
from spelunker.plotting._canvas import check_axes
from spelunker.times import as_utc_time

__all__ = ["TimeAxis", "time_axis", "set_time_axis", "to_axis_time", "KeepXlim"]

#: Seconds per unit of the time axes.
_SECONDS_PER = {"s": 1.0, "min": 60.0, "h": 3600.0}

#: Above this span (s) the time axis is in minutes, and above `_HOURS_FROM` in hours.
_MINUTES_FROM = 120.0
_HOURS_FROM = 2 * 3600.0

#: Attribute of a matplotlib Axes holding its TimeAxis.
_TIME_AXIS_ATTRIBUTE = "_spelunker_time_axis"


@dataclass(frozen=True)
class TimeAxis:
    """A time axis in a unit of time since a reference time (UTC).

    Parameters
    ----------
    reference : astropy.time.Time
        Time of the axis origin (scalar), normally the first frame.
    unit : {'s', 'min', 'h'}
        Unit of the axis.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from spelunker.plotting import TimeAxis
    >>> axis = TimeAxis.for_span(Time(60000.0, format="mjd"), 600.0)
    >>> axis.unit, axis.label
    ('min', 'time since 2023-02-25T00:00:00.000 UTC (min)')
    >>> round(float(axis.to_axis(60000.0 + 90.0 / 86400.0)[0]), 6)
    1.5
    """

    reference: Time
    unit: str

    def __post_init__(self):
        object.__setattr__(self, "unit", check_choice(self.unit, "TimeAxis.unit",
                                                      tuple(_SECONDS_PER)))
        object.__setattr__(self, "reference", as_utc_time(self.reference, name="reference"))

    @classmethod
    def for_span(cls, reference, span):
        """The axis for data spanning ``span`` seconds: s below 2 min, min below 2 h, else h."""
        span = float(span)
        if span < _MINUTES_FROM:
            unit = "s"
        elif span < _HOURS_FROM:
            unit = "min"
        else:
            unit = "h"
        return cls(reference, unit)

    @property
    def seconds_per_unit(self):
        """Seconds in one unit of the axis."""
        return _SECONDS_PER[self.unit]

    @property
    def label(self):
        """Axis label naming the reference time (UTC) and the unit."""
        return f"time since {self.reference.isot} UTC ({self.unit})"

    def to_axis(self, times):
        """Axis coordinates of ``times`` (Time, MJD numbers or ISO strings).

        Returns
        -------
        numpy.ndarray
            float64, at least 1-D.
        """
        times = as_utc_time(times)
        seconds = np.atleast_1d((times - self.reference).to_value(u.s))
        return seconds / self.seconds_per_unit

    def from_seconds(self, seconds, origin):
        """Axis coordinates of ``seconds`` counted from the time ``origin``."""
        shift = float((as_utc_time(origin, name="origin") - self.reference).to_value(u.s))
        return (np.asarray(seconds, dtype=float) + shift) / self.seconds_per_unit


def time_axis(ax):
    """The `TimeAxis` recorded on a matplotlib Axes by the spelunker plots, or None."""
    return getattr(ax, _TIME_AXIS_ATTRIBUTE, None)


def set_time_axis(ax, axis, *, label=True):
    """Record ``axis`` (a `TimeAxis`) on the Axes ``ax`` and label its x axis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    axis : TimeAxis
    label : bool, optional
        Set the x-axis label to ``axis.label``.

    Raises
    ------
    spelunker.errors.ParameterError
        When ``ax`` is not a matplotlib Axes or ``axis`` not a `TimeAxis`.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import TimeAxis, set_time_axis, time_axis
    >>> ax = Figure().add_subplot()
    >>> set_time_axis(ax, TimeAxis(Time(60000.0, format="mjd"), "min"))
    >>> time_axis(ax).unit, ax.get_xlabel()
    ('min', 'time since 2023-02-25T00:00:00.000 UTC (min)')
    """
    check_axes(ax, where="set_time_axis")
    if not isinstance(axis, TimeAxis):
        msg = (f"set_time_axis: axis={axis!r:.60} must be a TimeAxis "
               "(spelunker.plotting.TimeAxis)")
        raise ParameterError(msg)
    setattr(ax, _TIME_AXIS_ATTRIBUTE, axis)
    if label:
        ax.set_xlabel(axis.label)


def to_axis_time(ax, times):
    """x coordinates of ``times`` on the Axes ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        An Axes drawn by a spelunker plot (with a `TimeAxis`) or any other.
    times : astropy.time.Time, float or array_like
        Times (Time, MJD in UTC or ISO strings).

    Returns
    -------
    numpy.ndarray
        Time since the axis reference in the axis unit; MJD (UTC) when the
        Axes has no `TimeAxis`.

    Raises
    ------
    spelunker.errors.ParameterError
        When ``ax`` is not a matplotlib Axes or ``times`` are not times.
    """
    axis = time_axis(check_axes(ax, where="to_axis_time"))
    if axis is not None:
        return axis.to_axis(times)
    return np.atleast_1d(as_utc_time(times).mjd).astype(float)


def model_time_axis(model, ax, seconds):
    """The TimeAxis to draw ``model`` on ``ax``: the one already there, or a new one.

    ``seconds`` are the frame times since the first frame (their span picks
    the unit of a new axis).
    """
    existing = time_axis(ax) if ax is not None else None
    if existing is not None:
        return existing
    span = float(np.nanmax(seconds) - np.nanmin(seconds)) if len(seconds) else 0.0
    return TimeAxis.for_span(first_frame_time(model), span)


def first_frame_time(model):
    """Mid-time of the model's first frame (UTC), the origin of its time axes."""
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    return Time(mjd.min(), format="mjd", scale="utc")


class KeepXlim:
    """Context manager: restore the x limits after drawing overlays on an Axes with data.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting.timeaxis import KeepXlim
    >>> ax = Figure().add_subplot()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> with KeepXlim(ax):
    ...     _ = ax.axvline(5.0)
    >>> bool(ax.get_xlim()[1] < 5)
    True
    """

    def __init__(self, ax):
        self.ax = check_axes(ax, where="KeepXlim")
        self.limits = None

    def __enter__(self):
        self.limits = self.ax.get_xlim() if self.ax.has_data() else None
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.ax.set_xlim(self.limits)
        return False

