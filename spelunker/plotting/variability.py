"""Time-domain figures: light curve with flares and dips, rms against bin size, folded curve.

Plain functions on arrays and tables (the results of `spelunker.variability`),
each taking ``ax`` and returning the Axes it drew on:

- `variability_lightcurve_plot`: the relative flux binned for display
  (`spelunker.binning.bin_series`), each flare and dip shaded over its
  duration and marked at its peak or mid-time, astrophysical and technical
  ones in the styles of `VARIABILITY_STYLES`;
- `rms_binning_plot`: the rms of the binned light curve against the bin size
  beside the white-noise expectation (a `spelunker.variability.NoiseModel`),
  log-log, the red-noise factor beta written at 1 min, 10 min and 1 h;
- `folded_lightcurve_plot`: the light curve folded at a period, binned in
  phase.

Times are either an `astropy.time.Time` (UTC; the x axis is then a
`~spelunker.plotting.TimeAxis` and the technical-event overlays of
`spelunker.plotting.telemetry` land on it) or seconds from any zero; the
``start``, ``stop``, ``peak`` and ``mid`` columns of the tables are Times
(the model's tables, `spelunker.variability.flares_table`) or seconds from
the same zero as the times (the arrays' tables,
`spelunker.variability.find_flares`).
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from spelunker._validate import check_float_array, check_int_range, check_positive_float
from spelunker.binning import bin_series, check_times
from spelunker.errors import ParameterError
from spelunker.plotting._canvas import new_axes
from spelunker.plotting.timeaxis import TimeAxis, set_time_axis
from spelunker.plotting.timeseries import _break_at_gaps

__all__ = ["variability_lightcurve_plot", "rms_binning_plot", "folded_lightcurve_plot",
           "VARIABILITY_STYLES", "display_bin_size"]

log = logging.getLogger(__name__)

#: Style of each kind of flare and dip: ``label`` (legend), ``color``, ``gid`` (of the
#: spans and markers, for tests and SVG), ``marker`` (at the peak or mid-time, along the
#: top of the Axes for flares and the bottom for dips) and ``hatch`` (technical ones).
#: A row whose ``origin`` is ``'technical'`` takes the ``*_technical`` style; every
#: other row (``'astrophysical'``, or a table without ``origin``) the plain one.
VARIABILITY_STYLES = {
    "flare": {"label": "flare (astrophysical)", "color": "crimson", "gid": "flare",
              "marker": "v", "hatch": None},
    "flare_technical": {"label": "flare (technical)", "color": "0.45", "gid": "flare_technical",
                        "marker": "v", "hatch": "//"},
    "dip": {"label": "dip (astrophysical)", "color": "C4", "gid": "dip", "marker": "^",
            "hatch": None},
    "dip_technical": {"label": "dip (technical)", "color": "0.45", "gid": "dip_technical",
                      "marker": "^", "hatch": "\\\\"},
}

#: Bins in the light curve shown by `display_bin_size` (a bin never shorter than a frame).
_DISPLAY_BINS = 1000

#: Bin sizes (s) at which `rms_binning_plot` writes beta, with the NoiseModel field suffix.
_BETA_SIZES = ((60.0, "1min", "1 min"), (600.0, "10min", "10 min"), (3600.0, "1h", "1 h"))

#: Fields a noise model must have to be drawn by `rms_binning_plot`.
_NOISE_FIELDS = ("bin_size", "rms", "expected", "white_noise")

#: Seconds per unit of a plain (seconds) time axis; above 2 min minutes, above 2 h hours.
_PLAIN_UNITS = ((2 * 3600.0, "h", 3600.0), (120.0, "min", 60.0), (0.0, "s", 1.0))


def display_bin_size(seconds):
    """The bin (s) the light curve of ``seconds`` is shown in: about 1000 bins, one frame at least.

    Two significant figures (e.g. 21 s for a 6-hour visit); the median
    interval between frames when the series is shorter than 1000 frames.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.plotting import display_bin_size
    >>> display_bin_size(np.arange(0, 6 * 3600, 0.0625))
    22.0
    >>> display_bin_size(np.arange(0, 30, 0.0625))
    0.0625
    """
    seconds = check_times(seconds, name="seconds")
    if seconds.size < 2:
        return 1.0
    cadence = float(np.median(np.diff(np.sort(seconds))))
    size = float(f"{float(np.ptp(seconds)) / _DISPLAY_BINS:.2g}")
    return max(size, cadence) if cadence > 0 else max(size, 1.0)


class _Clock:
    """Seconds of the times of a figure and of its tables, and the x axis they are drawn on."""

    def __init__(self, times, *, where):
        self.where = where
        if isinstance(times, Time):
            utc = times.utc
            if utc.ndim != 1 or len(utc) == 0:
                raise ParameterError(f"{where}: times must be a 1-D Time of the frames, "
                                     f"got shape {utc.shape}")
            self.reference = utc.min()
            self.seconds = (utc - self.reference).to_value(u.s)
        else:
            self.reference = None
            self.seconds = check_times(_as_seconds(times, "times", where=where), name="times")
        span = float(np.ptp(self.seconds)) if self.seconds.size else 0.0
        if self.reference is not None:
            self.axis = TimeAxis.for_span(self.reference, span)
            self.per_unit, self.label = self.axis.seconds_per_unit, self.axis.label
        else:
            self.axis = None
            _, unit, self.per_unit = next(entry for entry in _PLAIN_UNITS if span >= entry[0])
            self.label = f"time ({unit})"

    def column(self, table, name, table_name):
        """The seconds of a time column of a flares or dips table (Time or seconds)."""
        values = table[name]
        if isinstance(values, Time):
            if self.reference is None:
                msg = (f"{self.where}: {table_name}[{name!r}] holds Times but times are "
                       "seconds: give the frame times as a Time (or the table in seconds)")
                raise ParameterError(msg)
            return np.atleast_1d((values.utc - self.reference).to_value(u.s))
        if self.reference is not None:
            msg = (f"{self.where}: {table_name}[{name!r}] holds seconds but times are a "
                   "Time: give both as Times (the model's tables) or both in seconds")
            raise ParameterError(msg)
        return _as_seconds(values, f"{table_name}[{name!r}]", where=self.where)

    def x(self, seconds):
        return np.asarray(seconds, dtype=float) / self.per_unit

    def label_axes(self, ax):
        if self.axis is not None:
            set_time_axis(ax, self.axis)
        else:
            ax.set_xlabel(self.label)


def _as_seconds(values, name, *, where):
    """Seconds of a Quantity of time, or of plain numbers (taken as seconds)."""
    if isinstance(values, u.Quantity):
        if not values.unit.is_equivalent(u.s):
            msg = f"{where}: {name} must be times (a Quantity of time), got unit {values.unit}"
            raise ParameterError(msg)
        values = values.to_value(u.s)
    return np.atleast_1d(check_float_array(values, name, where=where))


def _scalar_seconds(value, name, *, where):
    """One time in seconds (a Quantity of time, or a number taken as seconds)."""
    values = _as_seconds(value, name, where=where)
    if values.shape != (1,):
        raise ParameterError(f"{where}: {name} must be one number (s), got {values.size}")
    return float(values[0])


def _relative_flux(flux, mask, n_times, *, where):
    """``flux`` as floats of ``n_times`` values, NaN where ``mask`` is True."""
    flux = check_float_array(flux, "flux", shape=(n_times,), where=where,
                             needed=f"one relative flux per time ({n_times})")
    if mask is None:
        return flux
    mask = np.asarray(mask)
    if mask.shape != (n_times,) or mask.dtype.kind not in "biu":
        msg = (f"{where}: mask must be {n_times} booleans (True = frame not used), "
               f"got shape {mask.shape}, dtype {mask.dtype}")
        raise ParameterError(msg)
    return np.where(mask.astype(bool), np.nan, flux)


def _check_events(table, name, centre, *, where):
    """``table`` (None or an astropy Table with ``start``, ``stop`` and ``centre``)."""
    if table is None:
        return None
    needed = ("start", "stop", centre)
    if not isinstance(table, Table) or not set(needed) <= set(table.colnames):
        given = (f"a {type(table).__name__} with columns {', '.join(table.colnames) or 'none'}"
                 if isinstance(table, Table) else f"{table!r:.60}")
        msg = (f"{where}: {name} must be an astropy Table with 'start', 'stop' and "
               f"{centre!r} columns (spelunker.variability.{name}_table or find_{name}), "
               f"got {given}")
        raise ParameterError(msg)
    return table


def _draw_events(ax, clock, table, kind, centre):
    """Shade each flare or dip of ``table`` and mark its ``centre``; the artists drawn."""
    from matplotlib import transforms  # matplotlib loads only when a figure is drawn

    if table is None or len(table) == 0:
        return []
    starts = clock.x(clock.column(table, "start", f"{kind}s"))
    stops = clock.x(clock.column(table, "stop", f"{kind}s"))
    centres = clock.x(clock.column(table, centre, f"{kind}s"))
    technical = (np.char.strip(np.asarray(table["origin"]).astype(str)) == "technical"
                 if "origin" in table.colnames else np.zeros(len(table), dtype=bool))
    blend = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    height = 0.97 if kind == "flare" else 0.03
    artists = []
    for is_technical in (False, True):
        rows = np.flatnonzero(technical == is_technical)
        if rows.size == 0:
            continue
        style = VARIABILITY_STYLES[f"{kind}_technical" if is_technical else kind]
        label = style["label"] if "origin" in table.colnames else kind
        for k, row in enumerate(rows):
            artists.append(ax.axvspan(starts[row], stops[row], facecolor=style["color"],
                                      alpha=0.25, hatch=style["hatch"], linewidth=0,
                                      label=label if k == 0 else None, gid=style["gid"]))
        artists += ax.plot(centres[rows], np.full(rows.size, height), style["marker"],
                           color=style["color"], markersize=7, transform=blend,
                           gid=style["gid"] + "_marker")
    return artists


def variability_lightcurve_plot(times, flux, *, flares=None, dips=None, bin_size="auto",
                                mask=None, ax=None, show_frames=True, title=None):
    """The light curve binned for display, its flares and dips shaded and marked.

    Parameters
    ----------
    times : astropy.time.Time or array_like
        Frame times: a Time (UTC; x is time since the first frame on a
        `~spelunker.plotting.TimeAxis`) or seconds from any zero (a
        Quantity of time or numbers).
    flux : array_like
        Relative flux, one per time (NaN allowed).
    flares : astropy.table.Table, optional
        Flares with ``start``, ``stop`` and ``peak`` (Time, or seconds from
        the zero of ``times``) and optionally ``origin``
        (`spelunker.variability.flares_table` or
        `spelunker.variability.find_flares`).
    dips : astropy.table.Table, optional
        Dips with ``start``, ``stop`` and ``mid`` (as ``flares``).
    bin_size : float or 'auto', optional
        Display bin (s); ``'auto'``: `display_bin_size`.
    mask : array_like of bool, optional
        True for frames not used (left out of the bins and not drawn).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    show_frames : bool, optional
        Draw the single frames (grey dots) under the bins.
    title : str, optional
        Axes title; default: the number of flares and dips.

    Returns
    -------
    matplotlib.axes.Axes
        Lines ``gid='frames'`` (if drawn) and ``gid='bins'``; one span per
        flare or dip (``gid`` from `VARIABILITY_STYLES`: ``'flare'``,
        ``'flare_technical'``, ``'dip'``, ``'dip_technical'``) and one
        marker line per style (``gid`` + ``'_marker'``).

    Raises
    ------
    spelunker.errors.ParameterError
        For times that are not times, a flux or mask of another length, a
        table without its time columns (or in seconds beside Time frame
        times), or a ``bin_size`` that is not a number > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astropy import units as u
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import variability_lightcurve_plot
    >>> seconds = np.arange(0.0, 600.0, 0.0625)
    >>> flux = 1 + 0.02 * np.exp(-np.clip(seconds - 300, 0, None) / 20) * (seconds >= 300)
    >>> flares = QTable({"start": [299.0] * u.s, "peak": [300.0] * u.s, "stop": [360.0] * u.s})
    >>> ax = variability_lightcurve_plot(seconds, flux, flares=flares, ax=Figure().add_subplot())
    >>> ax.get_xlabel(), [p.get_gid() for p in ax.patches]
    ('time (min)', ['flare'])
    """
    where = "variability_lightcurve_plot"
    clock = _Clock(times, where=where)
    relative = _relative_flux(flux, mask, clock.seconds.size, where=where)
    flares = _check_events(flares, "flares", "peak", where=where)
    dips = _check_events(dips, "dips", "mid", where=where)
    if isinstance(bin_size, str) and bin_size == "auto":
        bin_size = display_bin_size(clock.seconds)
    bin_size = check_positive_float(bin_size, "bin_size", unit="seconds", where=where)
    if title is not None and not isinstance(title, str):
        raise ParameterError(f"{where}: title={title!r:.60} must be a string or None")
    binned = bin_series(clock.seconds, relative, bin_size)

    ax = new_axes(ax, figsize=(10, 4))
    if show_frames:
        ax.plot(clock.x(clock.seconds), relative, ".", color="0.65", markersize=1.5, alpha=0.5,
                rasterized=True, label="frames", gid="frames")
    bin_x, bin_y = _break_at_gaps(binned)
    ax.plot(clock.x(bin_x), bin_y, "-", color="C0", linewidth=1.0,
            label=f"{bin_size:g} s bins", gid="bins")
    _draw_events(ax, clock, flares, "flare", "peak")
    _draw_events(ax, clock, dips, "dip", "mid")
    clock.label_axes(ax)
    ax.set_ylabel("relative flux")
    if title is None:
        n_flares = 0 if flares is None else len(flares)
        n_dips = 0 if dips is None else len(dips)
        title = (f"{n_flares} flare{'s' if n_flares != 1 else ''}, "
                 f"{n_dips} dip{'s' if n_dips != 1 else ''}")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    log.debug("variability light curve: %d frames in %d bins of %g s", clock.seconds.size,
              len(binned.value), bin_size)
    return ax


def _check_noise(noise, *, where):
    """The bin sizes, rms, expected rms and white noise of a NoiseModel-like object."""
    missing = [field for field in _NOISE_FIELDS if not hasattr(noise, field)]
    if missing:
        msg = (f"{where}: noise={noise!r:.60} must be a spelunker.variability.NoiseModel "
               f"(fields {', '.join(_NOISE_FIELDS)}); missing {', '.join(missing)}")
        raise ParameterError(msg)
    sizes = check_float_array(noise.bin_size, "noise.bin_size", where=where)
    rms = check_float_array(noise.rms, "noise.rms", shape=sizes.shape, where=where,
                            needed=f"one rms per bin size ({sizes.size})")
    expected = check_float_array(noise.expected, "noise.expected", shape=sizes.shape,
                                 where=where, needed=f"one value per bin size ({sizes.size})")
    if sizes.ndim != 1 or not np.any(np.isfinite(sizes) & (sizes > 0) & (rms > 0)):
        msg = f"{where}: noise holds no bin size > 0 with an rms > 0: nothing to draw"
        raise ParameterError(msg)
    return sizes, rms, expected, float(noise.white_noise)


def rms_binning_plot(noise, *, ax=None):
    """The rms of the binned light curve against the bin size, beside white noise (log-log).

    Parameters
    ----------
    noise : spelunker.variability.NoiseModel
        Or any object with the fields ``bin_size`` (s), ``rms``,
        ``expected`` (arrays of one length) and ``white_noise``; its
        ``beta_1min``, ``beta_10min`` and ``beta_1h`` (when present and
        finite) are written at those bin sizes.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Log-log; lines ``gid='rms'`` (measured) and ``gid='expected'``
        (white noise, ``white_noise / sqrt(frames per bin)``), and for each
        finite beta a dotted line ``gid='beta'`` with its value written.

    Raises
    ------
    spelunker.errors.ParameterError
        For a ``noise`` without those fields, with arrays of different
        lengths, or without a positive rms.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import rms_binning_plot
    >>> sizes = np.geomspace(0.0625, 3600, 20)
    >>> expected = 1e-3 / np.sqrt(sizes / 0.0625)
    >>> noise = SimpleNamespace(bin_size=sizes, rms=expected * 1.2, expected=expected,
    ...                         white_noise=1e-3, beta_1min=1.2, beta_10min=1.2,
    ...                         beta_1h=float("nan"))
    >>> ax = rms_binning_plot(noise, ax=Figure().add_subplot())
    >>> ax.get_xscale(), ax.get_yscale(), [t.get_text() for t in ax.texts]
    ('log', 'log', ['β = 1.20 at 1 min', 'β = 1.20 at 10 min'])
    """
    where = "rms_binning_plot"
    sizes, rms, expected, white = _check_noise(noise, where=where)
    ax = new_axes(ax, figsize=(6, 4.5))
    good = np.isfinite(sizes) & (sizes > 0) & np.isfinite(rms) & (rms > 0)
    ax.plot(sizes[good], rms[good], "o-", color="C0", markersize=3, label="binned rms",
            gid="rms")
    shown = np.isfinite(expected) & (expected > 0) & np.isfinite(sizes) & (sizes > 0)
    ax.plot(sizes[shown], expected[shown], "--", color="0.4",
            label=r"white noise $\sigma/\sqrt{N}$", gid="expected")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for size, field, text in _BETA_SIZES:
        beta = getattr(noise, f"beta_{field}", np.nan)
        beta = np.nan if beta is None else float(beta)
        if not np.isfinite(beta):
            continue
        ax.axvline(size, color="C3", linestyle=":", linewidth=0.8, gid="beta")
        ax.text(size, 0.97, f"β = {beta:.2f} at {text}", rotation=90, va="top", ha="right",
                fontsize="x-small", color="C3", transform=ax.get_xaxis_transform())
    ax.set_xlabel("bin size (s)")
    ax.set_ylabel("rms (relative flux)")
    ax.set_title(f"white noise {white:.3g} per frame", fontsize="medium")
    ax.legend(loc="lower left", fontsize="small")
    return ax


def folded_lightcurve_plot(times, flux, *, period, period_error=None, epoch=None, n_bins=50,
                           mask=None, ax=None, show_frames=True):
    """The light curve folded at ``period``, binned in phase.

    Parameters
    ----------
    times : astropy.time.Time or array_like
        Frame times: a Time (UTC) or seconds from any zero.
    flux : array_like
        Relative flux, one per time.
    period : float or astropy.units.Quantity
        Folding period (s, or a Quantity of time), e.g. the ``period`` of
        the model's ``variability`` row.
    period_error : float or astropy.units.Quantity, optional
        Its 1-sigma error (s), written in the title.
    epoch : astropy.time.Time or float, optional
        Time of phase 0 (a Time, or seconds from the zero of ``times``);
        default the first time.
    n_bins : int, optional
        Phase bins (2 to 10000).
    mask : array_like of bool, optional
        True for frames not used.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    show_frames : bool, optional
        Draw the single frames (grey dots) under the bins.

    Returns
    -------
    matplotlib.axes.Axes
        x is the phase (0 to 1); lines ``gid='frames'`` (if drawn) and
        ``gid='bins'`` (``n_bins`` bins at most).

    Raises
    ------
    spelunker.errors.ParameterError
        For times that are not times, a flux or mask of another length, a
        ``period`` that is not a time > 0, an ``epoch`` of the other kind
        than ``times`` or an ``n_bins`` out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting import folded_lightcurve_plot
    >>> seconds = np.arange(0.0, 600.0, 0.0625)
    >>> flux = 1 + 0.01 * np.sin(2 * np.pi * seconds / 47.0)
    >>> ax = folded_lightcurve_plot(seconds, flux, period=47.0, period_error=0.02, n_bins=20,
    ...                             ax=Figure().add_subplot())
    >>> ax.get_title(), len(ax.get_lines()[1].get_xdata())
    ('folded at P = 47 ± 0.02 s', 20)
    """
    where = "folded_lightcurve_plot"
    clock = _Clock(times, where=where)
    relative = _relative_flux(flux, mask, clock.seconds.size, where=where)
    period = check_positive_float(_scalar_seconds(period, "period", where=where), "period",
                                  unit="seconds", where=where)
    error = None
    if period_error is not None:
        error = _scalar_seconds(period_error, "period_error", where=where)
    n_bins = check_int_range(n_bins, "n_bins", 2, 10_000, where=where)
    if epoch is not None:
        if isinstance(epoch, Time) != (clock.reference is not None):
            msg = (f"{where}: epoch={epoch!r:.60} must be a Time when times are Times, and "
                   "seconds when times are seconds")
            raise ParameterError(msg)
        zero = (float((epoch.utc - clock.reference).to_value(u.s)) if isinstance(epoch, Time)
                else _scalar_seconds(epoch, "epoch", where=where))
    else:
        zero = float(np.min(clock.seconds)) if clock.seconds.size else 0.0
    phase = np.mod((clock.seconds - zero) / period, 1.0)
    # bin_series bins from the smallest time: a NaN value at phase 0 anchors bin k at
    # [k/n, (k+1)/n) (the NaN itself is left out).
    binned = bin_series(np.append(0.0, phase), np.append(np.nan, relative), 1.0 / n_bins)

    ax = new_axes(ax, figsize=(6, 4.5))
    if show_frames:
        ax.plot(phase, relative, ".", color="0.65", markersize=1.5, alpha=0.5, rasterized=True,
                label="frames", gid="frames")
    ax.plot(binned.time, binned.value, "o-", color="C0", markersize=3, linewidth=1.0,
            label=f"{n_bins} phase bins", gid="bins")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel(f"phase (period {period:.6g} s)")
    ax.set_ylabel("relative flux")
    text = f"folded at P = {period:.6g}" + (
        f" ± {error:.2g} s" if error is not None and np.isfinite(error) else " s")
    ax.set_title(text, fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return ax
