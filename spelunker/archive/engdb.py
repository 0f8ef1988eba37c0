"""Engineering telemetry of JWST: the engineering database through MAST.

`mnemonics` fetches one mnemonic over a time range through the JWST
pipeline's own client, `jwst.lib.engdb_mast.EngdbMast` (what
`jwst.lib.engdb_tools.ENGDB_Service` returns for MAST), and returns it as a
table; `spelunker.plotting.telemetry.plot_mnemonic` draws it over a
spelunker plot, and `spelunker.events.hga_intervals` turns ``SA_ZHGAUPST``
(high-gain antenna, ``MOVING`` / ``FINISHED``) into intervals.

The service needs a MAST token with access to the engineering database
(https://auth.mast.stsci.edu/): the ``token`` argument, else the
``MAST_API_TOKEN`` environment variable.  The server is ``base_url``, else
``ENG_BASE_URL``, else https://mast.stsci.edu.  The token is sent only as
the client's ``Authorization`` header: spelunker never logs, prints or
stores it (`spelunker.archive.tokens`).  Every request waits at most
``timeout`` seconds (default `DEFAULT_TIMEOUT`, or ``ENG_TIMEOUT``).
Without a token, with a server URL that is not http(s), or when the server
cannot be reached, does not answer in time or refuses the request,
`~spelunker.errors.EngdbError` says which.

Events found in the model itself (guide-star changes, file boundaries,
high-gain-antenna moves from the POINTING table) need no token: they are in
`spelunker.events`.
"""

import functools
import logging
import os
from urllib.parse import urlsplit

import numpy as np
import requests
from astropy.table import QTable
from astropy.time import Time

from spelunker._validate import check_positive_float
from spelunker.archive.tokens import TOKEN_ENV, as_secret, redact
from spelunker.errors import EngdbError, ParameterError
from spelunker.times import as_utc_time

__all__ = [
    "engdb_service",
    "mnemonics",
    "MAST_BASE_URL",
    "DEFAULT_TIMEOUT",
]

log = logging.getLogger(__name__)

#: Server used when neither ``base_url`` nor ``ENG_BASE_URL`` is given.
MAST_BASE_URL = "https://mast.stsci.edu"

#: Seconds the client waits for each answer of the server (jwst's own default is 600 s),
#: when neither ``timeout`` nor ``ENG_TIMEOUT`` is given.
DEFAULT_TIMEOUT = 60.0

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
    spelunker.errors.ParameterError
        For a ``timeout`` that is not a number > 0, or a ``base_url`` that
        is not a string.

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
    >>> from spelunker.archive.engdb import engdb_service
    >>> from spelunker.errors import EngdbError
    >>> try:
    ...     engdb_service(token="")
    ... except EngdbError as error:
    ...     print(str(error)[:52])
    no MAST API token for the engineering database (mnem
    """
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
    except (requests.exceptions.RequestException, RuntimeError) as exc:
        raise _request_error(exc, url=shown, request=f"GET {shown}api/", secret=token,
                             timeout=seconds) from None
    log.debug("engineering database: %s (timeout %g s)", service.base_url, seconds)
    return service


@functools.cache
def _client_class():
    """jwst's EngdbMast with a numeric timeout and retry count, set before its first request."""
    # jwst.lib.engdb_mast pulls in much of the jwst package: only when the database is used.
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
    if not (base_url is None or isinstance(base_url, str)):
        msg = f"base_url={base_url!r:.60} must be the server's address (a string) or None"
        raise ParameterError(msg)
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
    except ParameterError:
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


def mnemonics(mnemonic, start, end, *, token=None, base_url=None, timeout=None, session=None,
              include_bracket_values=True):
    """Fetch one engineering mnemonic over a time range.

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
        `spelunker.plotting.telemetry.plot_mnemonic` draws it.

    Raises
    ------
    EngdbError
        No token, a server URL that is not http(s), server unreachable or
        not answering within the timeout, token rejected (HTTP 401/403),
        unknown mnemonic (HTTP 404) or an unreadable reply.
    spelunker.errors.ParameterError
        For an empty mnemonic, unreadable times, ``end`` before ``start``,
        a bad ``timeout``, a ``base_url`` that is not a string, a
        ``session`` that is no service, or ``session`` together with
        ``token``/``base_url``/``timeout``.

    Examples
    --------
    Without a token nothing is sent:

    >>> from spelunker.archive.engdb import mnemonics
    >>> from spelunker.errors import EngdbError
    >>> try:
    ...     mnemonics("SA_ZHGAUPST", 59917.06, 59917.07, token="")
    ... except EngdbError as error:
    ...     print("token" in str(error))
    True
    """
    if not isinstance(mnemonic, str) or not mnemonic.strip():
        msg = f"mnemonic={mnemonic!r} must be a non-empty string such as 'SA_ZHGAUPST'"
        raise ParameterError(msg)
    name = mnemonic.strip().upper()
    start_time = as_utc_time(start, name="start")
    end_time = as_utc_time(end, name="end")
    if start_time.ndim or end_time.ndim:
        msg = "start and end must be single times"
        raise ParameterError(msg)
    if end_time < start_time:
        msg = f"end ({end_time.isot}) is before start ({start_time.isot})"
        raise ParameterError(msg)
    if session is not None and (token is not None or base_url is not None
                                or timeout is not None):
        msg = "give either session or token / base_url / timeout, not both"
        raise ParameterError(msg)
    if session is not None and not callable(getattr(session, "get_values", None)):
        msg = (f"session={session!r:.60} must be an engineering-database service "
               "(engdb_service()) or None")
        raise ParameterError(msg)
    service = session if session is not None else engdb_service(
        token=token, base_url=base_url, timeout=timeout)
    url = getattr(service, "base_url", None) or "the engineering database"
    secret = str(getattr(service, "token", None) or "")

    try:
        result = service.get_values(name, start_time, end_time, include_obstime=True,
                                    include_bracket_values=include_bracket_values,
                                    zip_results=False)
    except requests.exceptions.RequestException as exc:
        raise _request_error(exc, url=url, request=f"mnemonic {name}", secret=secret,
                             timeout=getattr(service, "timeout", None)) from None
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


def _request_error(exc, *, url, request, secret, timeout=None):
    """The EngdbError of a request to the database that failed with ``exc``.

    The one mapping of network failures, for connecting (``request`` is
    ``'GET <url>api/'``; jwst's client raises RuntimeError when the server
    is unreachable or answers its aliveness check with an error) and for a
    query (``'mnemonic <NAME>'``).  ``secret`` (the token) is removed from
    the message.
    """
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.HTTPError):
        status = getattr(exc.response, "status_code", None)
        if status in (401, 403):
            msg = (f"the MAST token was rejected by {url} (HTTP {status}) for {request}: "
                   f"{_TOKEN_HELP}")
        elif status == 404:
            msg = (f"{request} was not found at {url} (HTTP 404): check its spelling "
                   "(e.g. SA_ZHGAUPST, INIS_FWMTRCURR)")
        else:
            msg = f"{url} answered HTTP {status} for {request}"
    elif isinstance(exc, requests.exceptions.RetryError):
        msg = (f"{url} kept answering errors for {request} ({_without_query(exc)}); "
               f"if they were HTTP 401/403, the MAST token was rejected: {_TOKEN_HELP}")
    elif isinstance(exc, requests.exceptions.Timeout):
        within = f" within {timeout:g} s" if isinstance(timeout, (int, float)) else " in time"
        msg = (f"the engineering database {url} did not answer{within} for {request} ({kind}); "
               "check the network and base_url / ENG_BASE_URL, ask for a shorter time range "
               "or give a longer timeout")
    elif isinstance(exc, (requests.exceptions.ConnectionError, RuntimeError)):
        msg = (f"the engineering database {url} cannot be reached or does not answer for "
               f"{request} ({kind}: {_without_query(exc)}); check the network and base_url / "
               "ENG_BASE_URL")
    else:
        msg = (f"the request to the engineering database {url} for {request} failed "
               f"({kind}: {_without_query(exc)}); check base_url / ENG_BASE_URL")
    return EngdbError(redact(msg, secret))


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
