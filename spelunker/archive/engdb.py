"""Engineering telemetry of JWST (the engineering database through MAST) and local events.

`mnemonics` fetches one mnemonic over a time range through the JWST
pipeline's own client, `jwst.lib.engdb_mast.EngdbMast` (what
`jwst.lib.engdb_tools.ENGDB_Service` returns for MAST), and can draw it
over a spelunker plot:

- ``SA_ZHGAUPST`` (high-gain antenna, strings ``MOVING`` / ``FINISHED``):
  shaded intervals from each ``MOVING`` sample to the next ``FINISHED``
  one (`hga_intervals`);
- numeric mnemonics (``INIS_FWMTRCURR``, the NIRISS filter-wheel motor
  current, and any other): a line on a twin y axis;
- other string mnemonics: a vertical line at each change of value.

The service needs a MAST token with access to the engineering database
(https://auth.mast.stsci.edu/): the ``token`` argument, else the
``MAST_API_TOKEN`` environment variable.  The server is ``base_url``, else
``ENG_BASE_URL``, else https://mast.stsci.edu.  The token is sent only as
the client's ``Authorization`` header: spelunker never logs, prints or
stores it.  Every request waits at most ``timeout`` seconds (default
`DEFAULT_TIMEOUT`, or ``ENG_TIMEOUT``).  Without a token, with a server URL
that is not http(s), or when the server cannot be reached, does not answer
in time or refuses the request, `EngdbError` says which.

`mnemonics_local` needs no token: it finds guide-star changes, file
boundaries and high-gain-antenna moves in the model itself (the frames,
files and POINTING tables) and draws them the same way.
"""

import functools
import logging
import os

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from spelunker._validate import check_positive_float
from spelunker.archive.tokens import TOKEN_ENV, as_secret, redact
from spelunker.errors import EngdbError

__all__ = [
    "engdb_service",
    "mnemonics",
    "plot_mnemonic",
    "hga_intervals",
    "mnemonics_local",
    "LOCAL_KINDS",
    "HGA_MNEMONIC",
    "MAST_BASE_URL",
    "DEFAULT_TIMEOUT",
]

log = logging.getLogger(__name__)

#: The high-gain-antenna status mnemonic (strings MOVING / FINISHED).
HGA_MNEMONIC = "SA_ZHGAUPST"

#: Server used when neither ``base_url`` nor ``ENG_BASE_URL`` is given.
MAST_BASE_URL = "https://mast.stsci.edu"

#: Seconds the client waits for each answer of the server (jwst's own default is 600 s),
#: when neither ``timeout`` nor ``ENG_TIMEOUT`` is given.
DEFAULT_TIMEOUT = 60.0

#: Event kinds of `mnemonics_local`.
LOCAL_KINDS = ("GUIDESTAR", "FILENAME", "HGA")

#: POINTING ``HGA_motion`` value of a moving antenna ('1' finished, '2' offline).
_POINTING_MOVING = "0"

_TOKEN_HELP = ("create one at https://auth.mast.stsci.edu/token (with access to the JWST "
               "engineering database) and pass token=... or set MAST_API_TOKEN")


# --------------------------------------------------------------------------
# The service


def engdb_service(*, token=None, base_url=None, timeout=None):
    """Connect to the engineering database through MAST.

    Parameters
    ----------
    token : str, optional
        MAST API token; default ``MAST_API_TOKEN``.
    base_url : str, optional
        Server, an http(s) URL; default ``ENG_BASE_URL``, else
        https://mast.stsci.edu.
    timeout : float, optional
        Seconds to wait for each answer of the server (the aliveness ping
        and every query); default ``ENG_TIMEOUT`` when set, else
        `DEFAULT_TIMEOUT`.

    Returns
    -------
    jwst.lib.engdb_mast.EngdbMast
        A connected service (it has answered ``GET <base_url>api/``); pass it
        as ``session`` to `mnemonics` to reuse it.  Its ``timeout`` is the
        timeout above.

    Raises
    ------
    EngdbError
        Without a token (nothing is sent), for a server URL that is not
        http(s), an ``ENG_TIMEOUT`` / ``ENG_RETRIES`` that is not a number,
        or when the server does not answer (in time).  The message never
        holds the token.
    ValueError
        For a ``timeout`` that is not a number > 0.

    Notes
    -----
    `jwst.lib.engdb_tools.ENGDB_Service` tries this MAST service and then
    STScI's internal direct service; spelunker asks MAST only, so an
    unreachable server gives one clear error instead of the internal
    service's retries.  The client is jwst's `~jwst.lib.engdb_mast.EngdbMast`
    with its timeout and retries set as numbers (jwst 3.0 passes
    ``ENG_TIMEOUT`` and ``ENG_RETRIES`` on as text, which requests refuses,
    and waits 600 s by default).  Any `jwst.lib.engdb_lib.EngdbABC` service
    (for instance ``ENGDB_Service()`` inside STScI) can be passed to
    `mnemonics` as ``session``.

    Examples
    --------
    >>> from spelunker.archive.engdb import EngdbError, engdb_service
    >>> try:
    ...     engdb_service(token="")
    ... except EngdbError as error:
    ...     print(str(error)[:52])
    no MAST API token for the engineering database (mnem
    """
    import requests

    secret = as_secret(token if token is not None else os.environ.get(TOKEN_ENV))
    if secret is None:
        msg = (f"no MAST API token for the engineering database (mnemonics): {_TOKEN_HELP}. "
               "Plots and mnemonics_local work without it")
        raise EngdbError(msg)
    token = secret.reveal()
    url = _base_url(base_url, token)
    seconds = _timeout(timeout)
    retries = _retries()
    shown = url if url.endswith("/") else url + "/"

    try:
        service = _client_class()(base_url=url, token=token, timeout=seconds, retries=retries)
    except requests.exceptions.Timeout as exc:
        msg = (f"the engineering database server {shown} did not answer GET {shown}api/ within "
               f"{seconds:g} s ({type(exc).__name__}); check the network and base_url / "
               "ENG_BASE_URL, or give a longer timeout")
        raise EngdbError(redact(msg, token)) from None
    except requests.exceptions.RequestException as exc:
        msg = (f"the engineering database server {shown} cannot be used: GET {shown}api/ failed "
               f"({type(exc).__name__}: {_without_query(exc)}); check base_url / ENG_BASE_URL")
        raise EngdbError(redact(msg, token)) from None
    except RuntimeError as exc:
        msg = (f"the engineering database server {shown} cannot be reached or does not answer "
               f"GET {shown}api/ ({exc}); check the network and base_url / ENG_BASE_URL")
        raise EngdbError(redact(msg, token)) from None
    log.debug("engineering database: %s (timeout %g s)", service.base_url, seconds)
    return service


@functools.cache
def _client_class():
    """jwst's EngdbMast with a numeric timeout and retry count, set before its first request."""
    from jwst.lib.engdb_mast import EngdbMast

    class SpelunkerEngdbMast(EngdbMast):
        """`jwst.lib.engdb_mast.EngdbMast` with ``timeout`` (s) and ``retries`` as numbers."""

        def __init__(self, base_url=None, token=None, *, timeout=DEFAULT_TIMEOUT, retries=None):
            self._settings = (float(timeout), retries)
            super().__init__(base_url=base_url, token=token)

        def configure(self, base_url=None, token=None):
            super().configure(base_url=base_url, token=token)
            self.timeout = self._settings[0]
            if self._settings[1] is not None:
                self.retries = self._settings[1]

    return SpelunkerEngdbMast


def _base_url(base_url, token):
    """The server URL (argument, ENG_BASE_URL or MAST), checked to be http(s)."""
    from urllib.parse import urlsplit

    if base_url:
        url, origin = str(base_url).strip(), "base_url"
    elif os.environ.get("ENG_BASE_URL", "").strip():
        url, origin = os.environ["ENG_BASE_URL"].strip(), "ENG_BASE_URL"
    else:
        return MAST_BASE_URL
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        msg = (f"{origin}={url!r} is not an http(s) URL of the engineering database server: "
               "write it with its scheme, e.g. 'https://mast.stsci.edu' (or "
               "'http://127.0.0.1:8080/' for a local server)")
        raise EngdbError(redact(msg, token))
    return url


def _timeout(timeout):
    """Seconds per request: the argument, else ENG_TIMEOUT, else DEFAULT_TIMEOUT."""
    if timeout is not None:
        return check_positive_float(timeout, "timeout", unit="seconds", parse_text=True)
    text = os.environ.get("ENG_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        return check_positive_float(text, "ENG_TIMEOUT", unit="seconds", parse_text=True)
    except ValueError:
        msg = (f"ENG_TIMEOUT={os.environ['ENG_TIMEOUT']!r} is not a number of seconds > 0; "
               "correct or unset it, or pass timeout=")
        raise EngdbError(msg) from None


def _retries():
    """ENG_RETRIES as an integer (jwst uses it for https), None when unset."""
    text = os.environ.get("ENG_RETRIES", "").strip()
    if not text:
        return None
    try:
        retries = int(text)
    except ValueError:
        retries = -1
    if retries < 0:
        msg = (f"ENG_RETRIES={os.environ['ENG_RETRIES']!r} is not a whole number >= 0; "
               "correct or unset it")
        raise EngdbError(msg)
    return retries


def mnemonics(mnemonic, start, end, *, token=None, base_url=None, timeout=None, ax=None,
              session=None, include_bracket_values=True):
    """Fetch one engineering mnemonic over a time range, and draw it on ``ax``.

    Parameters
    ----------
    mnemonic : str
        Mnemonic, e.g. ``'SA_ZHGAUPST'`` or ``'INIS_FWMTRCURR'`` (case and
        surrounding blanks do not matter).
    start, end : astropy.time.Time, float or str
        Time range (inclusive): Time, MJD (UTC) or ISO (UTC).  The MAST
        service works to the second.
    token : str, optional
        MAST API token; default ``MAST_API_TOKEN``.  Never logged or stored.
    base_url : str, optional
        Server, an http(s) URL; default ``ENG_BASE_URL``, else
        https://mast.stsci.edu.
    timeout : float, optional
        Seconds to wait for each answer; default ``ENG_TIMEOUT``, else
        `DEFAULT_TIMEOUT` (see `engdb_service`).
    ax : matplotlib.axes.Axes, optional
        Draw the telemetry on it (`plot_mnemonic`).  On a spelunker plot the
        times are converted to its time axis; on other Axes x is MJD.
    session : jwst.lib.engdb_lib.EngdbABC, optional
        A connected service (`engdb_service`) to reuse; ``token``,
        ``base_url`` and ``timeout`` must then be None.
    include_bracket_values : bool, optional
        Keep the samples the service returns just before ``start`` and
        after ``end`` (MAST always sends them); they give the state at the
        start of the range, e.g. an antenna already moving.

    Returns
    -------
    astropy.table.QTable
        ``time`` (`~astropy.time.Time`, UTC) and ``value`` (float for
        numeric mnemonics, str otherwise), in time order; ``meta`` holds
        ``mnemonic``, ``start``, ``end`` and ``base_url`` (never the token).

    Raises
    ------
    EngdbError
        No token, a server URL that is not http(s), server unreachable or
        not answering within the timeout, token rejected (HTTP 401/403),
        unknown mnemonic (HTTP 404) or an unreadable reply.
    ValueError
        For an empty mnemonic, unreadable times, ``end`` before ``start``,
        a bad ``timeout``, or ``session`` together with
        ``token``/``base_url``/``timeout``.

    Examples
    --------
    Without a token nothing is sent:

    >>> from spelunker.archive.engdb import EngdbError, mnemonics
    >>> try:
    ...     mnemonics("SA_ZHGAUPST", 59917.06, 59917.07, token="")
    ... except EngdbError as error:
    ...     print("token" in str(error))
    True
    """
    import requests

    from spelunker.plotting.figures import as_time

    if not isinstance(mnemonic, str) or not mnemonic.strip():
        msg = f"mnemonic={mnemonic!r} must be a non-empty string such as 'SA_ZHGAUPST'"
        raise ValueError(msg)
    name = mnemonic.strip().upper()
    start_time = as_time(start, name="start")
    end_time = as_time(end, name="end")
    if start_time.ndim or end_time.ndim:
        msg = "start and end must be single times"
        raise ValueError(msg)
    if end_time < start_time:
        msg = f"end ({end_time.isot}) is before start ({start_time.isot})"
        raise ValueError(msg)
    if session is not None and (token is not None or base_url is not None
                                or timeout is not None):
        msg = "give either session or token / base_url / timeout, not both"
        raise ValueError(msg)
    service = session if session is not None else engdb_service(
        token=token, base_url=base_url, timeout=timeout)
    url = getattr(service, "base_url", None) or "the engineering database"
    secret = str(getattr(service, "token", None) or "")

    try:
        result = service.get_values(name, start_time, end_time, include_obstime=True,
                                    include_bracket_values=include_bracket_values,
                                    zip_results=False)
    except requests.exceptions.HTTPError as exc:
        raise EngdbError(redact(_http_message(exc, name, url), secret)) from None
    except requests.exceptions.RetryError as exc:
        msg = (f"{url} kept answering errors for mnemonic {name} ({_without_query(exc)}); "
               f"if they were HTTP 401/403, the MAST token was rejected: {_TOKEN_HELP}")
        raise EngdbError(redact(msg, secret)) from None
    except requests.exceptions.Timeout as exc:
        waited = getattr(service, "timeout", None)
        within = f" within {waited:g} s" if isinstance(waited, (int, float)) else " in time"
        msg = (f"the engineering database {url} did not answer{within} for mnemonic {name} "
               f"({type(exc).__name__}); ask for a shorter time range or give a longer timeout")
        raise EngdbError(redact(msg, secret)) from None
    except requests.exceptions.ConnectionError as exc:
        msg = (f"lost the connection to the engineering database {url} while asking for "
               f"mnemonic {name} ({type(exc).__name__}); check the network and base_url / "
               "ENG_BASE_URL")
        raise EngdbError(redact(msg, secret)) from None
    except requests.exceptions.RequestException as exc:
        msg = (f"the request to the engineering database {url} for mnemonic {name} failed "
               f"({type(exc).__name__}: {_without_query(exc)}); check base_url / ENG_BASE_URL")
        raise EngdbError(redact(msg, secret)) from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        problem = _environment_problem(exc)
        if problem is not None:
            raise EngdbError(problem) from None
        msg = (f"the reply of {url} for mnemonic {name} is not the MAST CSV "
               f"(theTime,MJD,euvalue,sqldataType): {type(exc).__name__}: {exc}")
        raise EngdbError(redact(msg, secret)) from None

    table = _telemetry_table(result.obstime, result.value)
    table.meta.update(mnemonic=name, start=start_time.isot, end=end_time.isot, base_url=url)
    log.info("%s: %d value(s) from %s to %s", name, len(table), start_time.isot, end_time.isot)
    if ax is not None:
        plot_mnemonic(table, ax, mnemonic=name)
    return table


def _environment_problem(exc):
    """A message when ENG_TIMEOUT / ENG_RETRIES are set and a given session fails on them.

    jwst 3.0's own client passes them on as text; `engdb_service` sets them
    as numbers, so this concerns sessions made elsewhere.
    """
    names = [f"{name}={os.environ[name]!r}" for name in ("ENG_TIMEOUT", "ENG_RETRIES")
             if name in os.environ]
    if not names:
        return None
    return (f"the engineering database client failed with {' and '.join(names)} set "
            f"({type(exc).__name__}: {exc}): jwst.lib.engdb_mast reads these variables as text, "
            "which requests and urllib3 refuse; unset them or use spelunker's engdb_service")


def _without_query(exc):
    """An exception's text without URL query strings."""
    text = str(exc)
    return text.split("?")[0] + (" ..." if "?" in text else "")


def _http_message(exc, name, url):
    status = getattr(exc.response, "status_code", None)
    if status in (401, 403):
        return (f"the MAST token was rejected by {url} (HTTP {status}) for mnemonic {name}: "
                f"{_TOKEN_HELP}")
    if status == 404:
        return (f"mnemonic {name} was not found at {url} (HTTP 404): check its spelling "
                "(e.g. SA_ZHGAUPST, INIS_FWMTRCURR)")
    return f"{url} answered HTTP {status} for mnemonic {name}"


def _telemetry_table(obstimes, values):
    table = QTable()
    if len(obstimes):
        times = Time(list(obstimes)).utc
        times.format = "isot"
    else:
        times = Time(np.zeros(0), format="mjd", scale="utc")
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        values = values.astype(float)
    elif values.dtype.kind not in "f":
        values = values.astype(str)
    order = np.argsort(times.mjd, kind="stable")
    table["time"] = times[order]
    table["value"] = values[order] if values.size else np.zeros(0)
    return table


# --------------------------------------------------------------------------
# Intervals and drawing


def _state_intervals(times, moving):
    """(start, stop) of each run of ``moving`` samples, ended by the next other sample."""
    times = times.utc
    mjd = np.atleast_1d(times.mjd)
    moving = np.atleast_1d(np.asarray(moving, dtype=bool))
    order = np.argsort(mjd, kind="stable")
    mjd, moving = mjd[order], moving[order]
    table = QTable()
    if mjd.size == 0 or not moving.any():
        empty = Time(np.zeros(0), format="mjd", scale="utc")
        table["start"] = empty
        table["stop"] = empty.copy()
        table["duration"] = np.zeros(0) * u.s
        table["complete"] = np.zeros(0, dtype=bool)
        return table
    change = np.diff(moving.astype(np.int8))
    starts = np.flatnonzero(change == 1) + 1
    stops = np.flatnonzero(change == -1) + 1
    start_seen = np.ones(starts.size, dtype=bool)
    if moving[0]:
        starts = np.concatenate(([0], starts))
        start_seen = np.concatenate(([False], start_seen))
    stop_seen = np.ones(stops.size, dtype=bool)
    if moving[-1]:
        stops = np.concatenate((stops, [mjd.size - 1]))
        stop_seen = np.concatenate((stop_seen, [False]))
    start_time = Time(mjd[starts], format="mjd", scale="utc")
    stop_time = Time(mjd[stops], format="mjd", scale="utc")
    start_time.format = stop_time.format = "isot"
    table["start"] = start_time
    table["stop"] = stop_time
    table["duration"] = (stop_time - start_time).to(u.s)
    table["complete"] = start_seen & stop_seen
    return table


def hga_intervals(table):
    """High-gain-antenna moves from ``SA_ZHGAUPST`` telemetry.

    Parameters
    ----------
    table : astropy.table.Table
        ``time`` (Time or MJD) and ``value`` (``'MOVING'`` / ``'FINISHED'``),
        as returned by `mnemonics`.

    Returns
    -------
    astropy.table.QTable
        One row per move: ``start`` (time of the ``MOVING`` sample that
        starts it), ``stop`` (the next sample that is not ``MOVING``),
        ``duration`` (s) and ``complete`` (False when the data begin or end
        during the move: then ``start``/``stop`` is the first/last sample).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from spelunker.archive.engdb import hga_intervals
    >>> telemetry = Table({"time": [60000.0, 60000.001, 60000.002, 60000.003],
    ...                    "value": ["FINISHED", "MOVING", "MOVING", "FINISHED"]})
    >>> moves = hga_intervals(telemetry)
    >>> moves["start"].mjd.tolist(), moves["stop"].mjd.tolist(), moves["complete"].tolist()
    ([60000.001], [60000.003], [True])
    """
    from spelunker.plotting.figures import as_time

    for column in ("time", "value"):
        if column not in table.colnames:
            msg = f"the telemetry table has no {column!r} column (columns: {table.colnames})"
            raise ValueError(msg)
    values = np.char.upper(np.char.strip(np.asarray(table["value"]).astype(str)))
    return _state_intervals(as_time(table["time"]), values == "MOVING")


def _keep_xlim(ax):
    """Restore the x limits after drawing overlays on an Axes that already shows data."""

    class _Keeper:
        def __enter__(self):
            self.limits = ax.get_xlim() if ax.has_data() else None
            return self

        def __exit__(self, *exc):
            if self.limits is not None:
                ax.set_xlim(self.limits)
            return False

    return _Keeper()


def _draw_intervals(ax, intervals, *, label, color, gid):
    from spelunker.plotting.figures import to_axis_time

    if len(intervals) == 0:
        return []
    starts = to_axis_time(ax, intervals["start"])
    stops = to_axis_time(ax, intervals["stop"])
    patches = []
    with _keep_xlim(ax):
        for k, (x0, x1) in enumerate(zip(starts, stops, strict=True)):
            patches.append(ax.axvspan(x0, x1, color=color, alpha=0.25, linewidth=0,
                                      label=label if k == 0 else None, gid=gid))
    return patches


def _draw_events(ax, times, *, label, color, gid, linestyle="--"):
    from spelunker.plotting.figures import to_axis_time

    if len(times) == 0:
        return []
    lines = []
    with _keep_xlim(ax):
        for k, x in enumerate(to_axis_time(ax, times)):
            lines.append(ax.axvline(x, color=color, linestyle=linestyle, linewidth=1.0,
                                    label=label if k == 0 else None, gid=gid))
    return lines


def plot_mnemonic(table, ax, *, mnemonic=None):
    """Draw telemetry from `mnemonics` on ``ax``.

    Parameters
    ----------
    table : astropy.table.Table
        ``time`` and ``value`` columns.
    ax : matplotlib.axes.Axes
        Target; times are converted with `spelunker.plotting.to_axis_time`
        (the plot's time axis, or MJD).  Its x limits are kept when it
        already shows data.
    mnemonic : str, optional
        Name for labels; default ``table.meta['mnemonic']``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on: ``ax`` for shaded HGA intervals (patches
        ``gid='SA_ZHGAUPST'``) and string events, the new twin Axes (y label
        = mnemonic, line ``gid=<mnemonic>``) for numeric values.  The twin
        shares the x axis and the `~spelunker.plotting.TimeAxis` of ``ax``,
        so overlays drawn on it land at the same times.
    """
    from spelunker.plotting.figures import set_time_axis, time_axis, to_axis_time

    name = (mnemonic or table.meta.get("mnemonic") or "telemetry").upper()
    values = np.asarray(table["value"])
    if name == HGA_MNEMONIC or (values.dtype.kind in "US" and values.size and np.all(
            np.isin(np.char.upper(np.char.strip(values.astype(str))), ["MOVING", "FINISHED"]))):
        _draw_intervals(ax, hga_intervals(table), label=f"HGA moving ({name})", color="C1",
                        gid=name)
        return ax
    if values.dtype.kind in "fiu":
        twin = ax.twinx()
        axis = time_axis(ax)
        if axis is not None:  # further overlays on the twin land at the same times
            set_time_axis(twin, axis, label=False)
        with _keep_xlim(ax):
            twin.plot(to_axis_time(ax, table["time"]) if len(table) else [],
                      values.astype(float), "-", color="C2", linewidth=0.9, label=name, gid=name)
        twin.set_ylabel(name, color="C2")
        twin.tick_params(axis="y", colors="C2")
        return twin
    text = values.astype(str)
    changed = np.concatenate(([True], text[1:] != text[:-1])) if text.size else np.zeros(0, bool)
    times = table["time"][changed]
    lines = _draw_events(ax, times, label=name, color="C4", gid=name, linestyle=":")
    for line, value in zip(lines, text[changed], strict=True):
        ax.annotate(value, (line.get_xdata()[0], 1.0), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", ha="right", fontsize="x-small", color="C4")
    return ax


# --------------------------------------------------------------------------
# Local events


def mnemonics_local(model, kind, *, ax=None):
    """Events found in the model itself: guide-star changes, file boundaries, HGA moves.

    No token and no network.

    Parameters
    ----------
    model : GuideStarModel
        A read model.
    kind : {'GUIDESTAR', 'FILENAME', 'HGA'}
        ``'GUIDESTAR'``: frames where ``guidestar_index`` changes;
        ``'FILENAME'``: the start of every file (DATASTRT);
        ``'HGA'``: high-gain-antenna moves from the POINTING tables'
        ``HGA_motion`` (``'0'`` moving; ``'1'`` finished and ``'2'``
        offline end a move).  Case does not matter.
    ax : matplotlib.axes.Axes, optional
        Draw dashed vertical lines (GUIDESTAR: ``gid='GUIDESTAR'``,
        FILENAME: ``gid='FILENAME'``) or shaded spans (HGA:
        ``gid='HGA'``), at the plot's time axis (MJD on other Axes).

    Returns
    -------
    astropy.table.QTable
        GUIDESTAR: ``time`` (mid-time of the first frame of the new star),
        ``frame``, ``guidestar_index``, ``gs_id``, ``previous_gs_id``.
        FILENAME: ``time`` (DATASTRT), ``stop`` (DATAEND), ``file_index``,
        ``file_name``, ``n_frames``, ``first_frame``.  HGA: ``start``,
        ``stop``, ``duration``, ``complete`` as `hga_intervals`.

    Raises
    ------
    ValueError
        For an unknown kind or a model without the table the kind needs.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.archive.engdb import mnemonics_local
    >>> visit = datasets.make_guidestar_files(
    ...     tempfile.mkdtemp(), visits=[datasets.VisitSpec(n_frames=1200, n_segments=2)],
    ...     signals=[datasets.HgaMove(start=20.0, stop=30.0)], seed=3)
    >>> model = read_guidestar(visit.files)
    >>> len(mnemonics_local(model, "FILENAME")), len(mnemonics_local(model, "guidestar"))
    (2, 0)
    >>> moves = mnemonics_local(model, "HGA")
    >>> print(f"{moves['duration'][0]:.0f}")
    11 s
    """
    if not isinstance(kind, str) or kind.strip().upper() not in LOCAL_KINDS:
        msg = f"kind={kind!r} is not one of {list(LOCAL_KINDS)}"
        raise ValueError(msg)
    kind = kind.strip().upper()
    if kind == "GUIDESTAR":
        table = _guidestar_changes(model)
        if ax is not None:
            _draw_events(ax, table["time"], label="guide-star change", color="C3",
                         gid="GUIDESTAR")
    elif kind == "FILENAME":
        table = _file_boundaries(model)
        if ax is not None:
            _draw_events(ax, table["time"], label="file start", color="0.4", gid="FILENAME",
                         linestyle=":")
    else:
        table = _pointing_hga(model)
        if ax is not None:
            _draw_intervals(ax, table, label="HGA moving (POINTING)", color="C1", gid="HGA")
    log.debug("mnemonics_local(%s): %d row(s)", kind, len(table))
    return table


def _guidestar_changes(model):
    if not model.hasattr("frames") or len(model.frames) == 0:
        msg = "the model has no frames table: no guide-star changes to find"
        raise ValueError(msg)
    index = np.asarray(model.frames["guidestar_index"], dtype=np.int64)
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    frames = np.flatnonzero(np.diff(index) != 0) + 1
    names = np.array([str(n) for n in model.table("guidestars")["gs_id"]]) \
        if model.hasattr("guidestars") and len(model.guidestars) else np.array([], dtype=str)

    def name_of(rows):
        return np.array([names[r] if 0 <= r < names.size else "" for r in rows], dtype=str)

    table = QTable()
    table["time"] = Time(mjd[frames], format="mjd", scale="utc")
    table["time"].format = "isot"
    table["frame"] = frames
    table["guidestar_index"] = index[frames]
    table["gs_id"] = name_of(index[frames])
    table["previous_gs_id"] = name_of(index[frames - 1])
    return table


def _file_boundaries(model):
    if not model.hasattr("files") or len(model.files) == 0:
        msg = "the model has no files table: no file boundaries to find"
        raise ValueError(msg)
    files = model.table("files")
    table = QTable()
    table["time"] = Time(np.asarray(files["data_start_mjd"], dtype=float), format="mjd",
                         scale="utc")
    table["stop"] = Time(np.asarray(files["data_end_mjd"], dtype=float), format="mjd",
                         scale="utc")
    table["time"].format = table["stop"].format = "isot"
    table["file_index"] = np.arange(len(files))
    table["file_name"] = files["file_name"]
    table["n_frames"] = files["n_frames"]
    table["first_frame"] = files["first_frame"]
    table.sort("time")
    return table


def _pointing_hga(model):
    if not model.hasattr("pointing_table") or len(model.pointing_table) == 0:
        msg = "the model has no POINTING table (HGA_motion): no HGA moves to find"
        raise ValueError(msg)
    pointing = model.pointing_table
    motion = np.asarray(pointing["HGA_motion"])
    if motion.dtype.kind == "S":
        motion = np.char.decode(motion, "ascii")
    moving = np.char.strip(motion.astype(str)) == _POINTING_MOVING
    times = Time(np.asarray(pointing["time"], dtype=float), format="mjd", scale="utc")
    return _state_intervals(times, moving)
