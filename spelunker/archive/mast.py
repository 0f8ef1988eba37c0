"""Find JWST guide-star products at MAST.

`find_guidestar_products` asks the MAST portal service
``Mast.Jwst.Filtered.GuideStar`` (through astroquery) which guider products a
program, observation or visit has; `mast_server` points astroquery at a mirror
or a test server.  Downloading the products is
`spelunker.archive.download.download_products`.

Tokens
    Exclusive-access data need a MAST API token (https://auth.mast.stsci.edu).
    Both functions take ``token=`` or read ``MAST_API_TOKEN`` (an empty
    ``token=""`` counts as none and falls back to it; `spelunker.archive.tokens`).
    The token is only ever sent to the server: spelunker never logs, prints,
    stores or puts it in an exception message, and while a request with it
    runs, every log record handled in the process (any logger: astroquery's
    debug records, which would otherwise show the session cookie, urllib3,
    requests, spelunker's modules) has it masked as ``<MAST token>``
    (`spelunker.archive.tokens.masked_logs`).
"""

import contextlib
import logging
import math
import re
import warnings

import numpy as np
import requests
from astropy.table import MaskedColumn, Table
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from spelunker._validate import check_finite_float, check_int_range, check_positive_float
from spelunker.archive.tokens import TOKEN_ENV, masked_logs, resolve_token
from spelunker.errors import ArchiveQueryError, AuthenticationError, ParameterError
from spelunker.names import id_number, id_number_or_none, padded_id, selection_text

__all__ = [
    "PRODUCT_COLUMNS",
    "check_request_options",
    "RETRY_STATUS",
    "SERVICE",
    "find_guidestar_products",
    "mast_server",
    "resolve_server",
]

log = logging.getLogger(__name__)

#: MAST portal service listing guider products with their header keywords.
SERVICE = "Mast.Jwst.Filtered.GuideStar"

#: Columns every table from `find_guidestar_products` has.
PRODUCT_COLUMNS = ("fileName", "dataURI", "fileSize", "program", "observtn", "visit",
                   "gdstarid", "datastrt", "dataend", "detector", "exp_type")

#: HTTP statuses worth retrying (also by `spelunker.archive.download`).
RETRY_STATUS = (429, 500, 502, 503, 504)

_SUFFIX = {1: "uncal", 2: "cal"}


# --------------------------------------------------------------------------
# Servers


def resolve_server(server):
    """The MAST base URL: the argument or ``astroquery.mast.conf.server``, checked.

    Parameters
    ----------
    server : str or None
        A base URL, or None for astroquery's configured server.

    Returns
    -------
    str
        The URL without trailing ``/``.

    Raises
    ------
    spelunker.errors.ParameterError
        The URL is not http(s).

    Examples
    --------
    >>> from spelunker.archive.mast import resolve_server
    >>> resolve_server("http://127.0.0.1:8765/")
    'http://127.0.0.1:8765'
    """
    if server is None:
        # astroquery is heavy and optional until MAST is used.
        from astroquery.mast import conf

        server = conf.server
    server = str(server).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", server):
        msg = f"MAST server must be an http(s) URL such as https://mast.stsci.edu, got {server!r}"
        raise ParameterError(msg)
    return server


def _portal_urls(server):
    """The PortalAPI URLs astroquery derives from ``conf.server``."""
    return {
        "MAST_REQUEST_URL": server + "/api/v0/invoke",
        "COLUMNS_CONFIG_URL": server + "/portal/Mashup/Mashup.asmx/columnsconfig",
        "MAST_DOWNLOAD_URL": server + "/api/v0.1/Download/file",
        "MAST_BUNDLE_URL": server + "/api/v0.1/Download/bundle",
    }


def _service_urls(server):
    """The ServiceAPI URLs astroquery derives from ``conf.server``."""
    return {
        "SERVICE_URL": server,
        "REQUEST_URL": server + "/api/v0.1/",
        "MISSIONS_DOWNLOAD_URL": server + "/search/",
        "MAST_DOWNLOAD_URL": server + "/api/v0.1/Download/file",
    }


@contextlib.contextmanager
def mast_server(url):
    """Point astroquery's MAST portal at another server, then restore it.

    astroquery builds its MAST URLs from ``astroquery.mast.conf.server`` once,
    when ``astroquery.mast`` is imported: changing ``conf.server`` later moves
    nothing.  Inside this context ``conf.server`` is ``url`` and so are the
    URLs astroquery really uses: the ``PortalAPI`` and ``ServiceAPI`` class
    attributes (portal queries, column configs, downloads) and the login
    (``/whoami``) URL of the module's ``Mast``, ``Observations``, ``Catalogs``
    and ``MastMissions`` objects.  Everything is restored on exit, also after
    an error.  Catalogs and mission-search services, which have their own
    servers, are not moved.

    `find_guidestar_products` and `download_products` follow ``conf.server``
    on every call (or take ``server=``), so this is only needed to aim other
    astroquery calls at the same mirror.  It changes process-wide state: do
    not use it while other threads query MAST.

    Parameters
    ----------
    url : str
        Base URL of the server, e.g. ``http://127.0.0.1:8765``.

    Examples
    --------
    >>> from astroquery.mast import conf
    >>> from astroquery.mast.discovery_portal import PortalAPI
    >>> from spelunker.archive import mast_server
    >>> with mast_server("http://127.0.0.1:8765"):
    ...     print(conf.server)
    ...     print(PortalAPI.MAST_REQUEST_URL)
    http://127.0.0.1:8765
    http://127.0.0.1:8765/api/v0/invoke
    >>> PortalAPI.MAST_REQUEST_URL == conf.server + "/api/v0/invoke"
    True
    """
    server = resolve_server(url)
    # astroquery is heavy and optional until MAST is used.
    import astroquery.mast as aq_mast
    from astroquery.mast.discovery_portal import PortalAPI
    from astroquery.mast.services import ServiceAPI

    saved = []

    def patch(obj, attr, value):
        saved.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    with contextlib.ExitStack() as stack:
        stack.enter_context(aq_mast.conf.set_temp("server", server))
        try:
            for attr, value in _portal_urls(server).items():
                patch(PortalAPI, attr, value)
            for attr, value in _service_urls(server).items():
                patch(ServiceAPI, attr, value)
            for name in ("Mast", "Observations", "Catalogs", "MastMissions"):
                _, _, auth = _astroquery_parts(getattr(aq_mast, name, None))
                if auth is not None and hasattr(auth, "SESSION_INFO_URL"):
                    patch(auth, "SESSION_INFO_URL", server + "/whoami")
            yield server
        finally:
            for obj, attr, value in reversed(saved):
                setattr(obj, attr, value)


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request a timeout (astroquery's portal sets none)."""

    def __init__(self, timeout, **kwargs):
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, timeout=None, **kwargs):
        return super().send(request, timeout=self._timeout if timeout is None else timeout,
                            **kwargs)


def _astroquery_parts(client):
    """The HTTP session, portal connection and login object of an astroquery MAST client.

    astroquery has no public route to them: its ``MastClass`` (and
    ``ObservationsClass``...) keep them as ``_session``,
    ``_portal_api_connection`` and ``_auth_obj``.  They are needed to give the
    session retries and timeouts, aim the portal and login URLs at a server,
    see login statuses and drop the cookies afterwards; this is the only
    place that names them.  Missing parts are None.
    """
    return (getattr(client, "_session", None), getattr(client, "_portal_api_connection", None),
            getattr(client, "_auth_obj", None))


def _mast_client(server, timeout, retries, backoff):
    """A fresh astroquery ``MastClass`` aimed at ``server``, with its own session.

    A private instance keeps the token out of the shared ``astroquery.mast.Mast``
    session and makes concurrent calls independent.
    """
    # astroquery is heavy and optional until MAST is used.
    from astroquery.mast import MastClass

    client = MastClass()
    session, portal, auth = _astroquery_parts(client)
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                  allowed_methods=None, status_forcelist=RETRY_STATUS,
                  backoff_factor=backoff, raise_on_status=False,
                  respect_retry_after_header=True)
    adapter = _TimeoutAdapter((timeout, timeout), max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    for attr, value in _portal_urls(server).items():
        setattr(portal, attr, value)
    auth.SESSION_INFO_URL = server + "/whoami"
    return client


# --------------------------------------------------------------------------
# Query


def check_request_options(timeout, retries, backoff, *, where):
    """``(timeout, retries, backoff)`` of a MAST query or download, checked.

    Parameters
    ----------
    timeout : float
        Seconds > 0.
    retries : int
        Further attempts, 0 to 100.
    backoff : float
        Seconds >= 0.
    where : str
        The function, for the message.

    Raises
    ------
    spelunker.errors.ParameterError

    Examples
    --------
    >>> from spelunker.archive.mast import check_request_options
    >>> check_request_options(60, 2, 0.5, where="download_products")
    (60.0, 2, 0.5)
    """
    return (check_positive_float(timeout, "timeout", unit="seconds", where=where),
            check_int_range(retries, "retries", 0, 100, where=where),
            check_finite_float(backoff, "backoff", minimum=0.0, where=where))


def _id_values(number, kind):
    """Both spellings of an id ('1534' and '01534'): MAST matches strings exactly."""
    return list(dict.fromkeys([str(number), padded_id(number, kind)]))


def _login(client, secret, server):
    """Log the client in with the token; AuthenticationError if MAST refuses it."""
    # astroquery is heavy and optional until MAST is used.
    from astroquery.exceptions import LoginError

    where = f"MAST at {server}"
    statuses = []

    def record_status(response, *args, **kwargs):
        statuses.append(response.status_code)

    session, _, _ = _astroquery_parts(client)
    hooks = session.hooks["response"]
    hooks.append(record_status)
    try:
        client.login(token=secret.reveal())
    except (LoginError, requests.exceptions.JSONDecodeError, KeyError, TypeError):
        status = statuses[-1] if statuses else None
        if status is not None and status >= 500:
            msg = f"could not check the MAST API token: {where} answered HTTP {status}"
            raise ArchiveQueryError(msg, reason="http") from None
        msg = (f"{where} rejected the MAST API token (from the token argument or "
               f"{TOKEN_ENV}{f'; HTTP {status}' if status and status != 200 else ''}); "
               "check it, or create a new one at https://auth.mast.stsci.edu/token")
        raise AuthenticationError(msg) from None
    except requests.exceptions.RequestException as exc:
        msg = f"could not check the MAST API token with {where}: {type(exc).__name__}"
        raise ArchiveQueryError(msg, reason="unreachable") from None
    finally:
        hooks.remove(record_status)


def _floats(column):
    """A column as floats, inf where masked or not a number (sorts last)."""
    out = np.full(len(column), np.inf)
    for i, value in enumerate(column):
        if value is np.ma.masked or value is None:
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(out[i]):
            out[i] = np.inf
    return out


def find_guidestar_products(program, *, observation=None, visit=None, calib_level=2,
                            exp_type="FGS_FINEGUIDE", token=None, server=None, timeout=120,
                            retries=2, backoff=0.5):
    """List the guide-star products of a program, observation or visit at MAST.

    Queries the MAST portal service ``Mast.Jwst.Filtered.GuideStar`` through
    astroquery (a private ``astroquery.mast.MastClass``) with filters on
    ``program``, ``observtn``, ``visit`` and ``exp_type``, keeps the products
    of the requested calibration level, removes duplicate file names and sorts
    by DATASTRT.

    Parameters
    ----------
    program : int or str
        Program (proposal) number, e.g. ``1534``.
    observation, visit : int or str, optional
        Observation and visit numbers; None selects all.
    calib_level : {2, 1}
        2: calibrated ``_cal.fits`` products; 1: uncalibrated
        ``_uncal.fits``.  When the service lists only calibrated products,
        level 1 names are derived from them (``fileSize`` then masked, the
        size being checked against the download's Content-Length).
    exp_type : str or None
        EXP_TYPE to select (``FGS_FINEGUIDE``, ``FGS_TRACK``, ``FGS_ACQ1``,
        ...); None selects all guider products.
    token : str, optional
        MAST API token for exclusive-access data; default (also for an empty
        string) ``$MAST_API_TOKEN``.
        Checked through astroquery's login (``/whoami``).
    server : str, optional
        MAST base URL; default ``astroquery.mast.conf.server``
        (https://mast.stsci.edu).  A mirror or a test server may be given
        here or through `mast_server`.
    timeout : float
        Seconds to wait for the server to connect or send data, per request.
    retries : int
        Further attempts after connection errors, timeouts, HTTP 429 and 5xx.
    backoff : float
        Seconds before the second retry, doubling after each further one.

    Returns
    -------
    astropy.table.Table
        One row per product with the service's columns (at least
        ``fileName``, ``dataURI``, ``fileSize``, ``program``, ``observtn``,
        ``visit``, ``gdstarid``, ``datastrt``, ``dataend``, ``detector`` and
        ``exp_type``), sorted by ``datastrt``; ``meta`` records the query.

    Raises
    ------
    ArchiveQueryError
        No product matches (naming the program, observation and visit), the
        service failed or could not be reached.
    AuthenticationError
        MAST rejected the token.
    spelunker.errors.ParameterError
        A number that is not a whole number in range (`spelunker.names.id_number`),
        a ``calib_level`` other than 1 or 2, a server that is not an http(s) URL.

    Examples
    --------
    >>> from spelunker.archive import find_guidestar_products
    >>> products = find_guidestar_products(1534, observation=1)  # doctest: +SKIP
    >>> products["fileName"][0]  # doctest: +SKIP
    'jw01534001001_gs-fg_2022340000825_cal.fits'
    """
    where = "find_guidestar_products"
    program = id_number(program, "program", where=where)
    observation = None if observation is None else id_number(observation, "observation",
                                                             where=where)
    visit = None if visit is None else id_number(visit, "visit", where=where)
    calib_level = check_int_range(calib_level, "calib_level", 1, 2, where=where)
    timeout, retries, backoff = check_request_options(timeout, retries, backoff, where=where)
    if exp_type is not None:
        exp_type = str(exp_type).strip().upper()
    server = resolve_server(server)
    secret = resolve_token(token)
    what = selection_text(program, observation, visit)

    filters = [{"paramName": "program", "values": _id_values(program, "program")}]
    if observation is not None:
        filters.append({"paramName": "observtn",
                        "values": _id_values(observation, "observation")})
    if visit is not None:
        filters.append({"paramName": "visit", "values": _id_values(visit, "visit")})
    if exp_type is not None:
        filters.append({"paramName": "exp_type", "values": [exp_type]})
    params = {"columns": "*", "filters": filters}

    # astroquery is heavy and optional until MAST is used.
    from astroquery.exceptions import NoResultsWarning, RemoteServiceError

    log.info("Querying %s at %s for %s", SERVICE, server, what)
    client = _mast_client(server, timeout, retries, backoff)
    try:
        with masked_logs(secret):
            if secret is not None:
                _login(client, secret, server)
            try:
                with warnings.catch_warnings():
                    # An empty reply is reported below as an ArchiveQueryError.
                    warnings.simplefilter("ignore", NoResultsWarning)
                    table = client.service_request(SERVICE, params)
            except RemoteServiceError as exc:
                msg = f"MAST service {SERVICE} at {server} failed for {what}: {exc}"
                raise ArchiveQueryError(msg) from None
            except requests.exceptions.HTTPError as exc:
                code = getattr(exc.response, "status_code", "?")
                msg = (f"MAST service {SERVICE} at {server} failed for {what}: HTTP {code} "
                       f"(after {retries} retries)")
                raise ArchiveQueryError(msg, reason="http") from None
            except (requests.exceptions.JSONDecodeError, ValueError, KeyError,
                    TypeError) as exc:
                msg = (f"MAST service {SERVICE} at {server} sent a malformed reply for "
                       f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
                raise ArchiveQueryError(msg, reason="bad_reply") from None
            except (requests.exceptions.RequestException, TimeoutError) as exc:
                msg = (f"could not reach MAST service {SERVICE} at {server} for {what}: "
                       f"{type(exc).__name__} (after {retries} retries, timeout {timeout} s)")
                raise ArchiveQueryError(msg, reason="unreachable") from None
    finally:
        session, _, _ = _astroquery_parts(client)
        session.cookies.clear()
        session.close()

    return _select_products(table, program=program, observation=observation, visit=visit,
                            calib_level=calib_level, exp_type=exp_type, what=what,
                            server=server)


def _select_products(table, *, program, observation, visit, calib_level, exp_type, what,
                     server):
    """Filter, complete, de-duplicate and sort the service's rows."""
    kind = f"{exp_type} " if exp_type else ""
    if len(table) == 0 or "fileName" not in table.colnames:
        msg = (f"MAST has no {kind}guide-star products for {what} "
               f"(service {SERVICE} at {server}); check the numbers, or whether the data "
               "are public yet")
        raise ArchiveQueryError(msg, reason="not_found")
    table = Table(table, masked=True, copy=True)

    keep = np.ones(len(table), dtype=bool)
    for name, kind, wanted in (("program", "program", program),
                               ("observtn", "observation", observation),
                               ("visit", "visit", visit)):
        if wanted is not None and name in table.colnames:
            keep &= np.array([id_number_or_none(v, kind) == wanted for v in table[name]],
                             dtype=bool)
    if exp_type is not None and "exp_type" in table.colnames:
        keep &= np.array([str(v).strip().upper() == exp_type for v in table["exp_type"]])
    table = table[keep]

    names = [str(n) for n in table["fileName"]]
    suffix = _SUFFIX[calib_level]
    level = np.array([n.endswith(f"_{suffix}.fits") for n in names], dtype=bool)
    derived = False
    if not level.any() and calib_level == 1:
        cal = np.array([n.endswith("_cal.fits") for n in names], dtype=bool)
        if cal.any():
            # The keyword service may list only the highest calibration level:
            # the uncalibrated product of a _cal file has the same stem.
            table = table[cal]
            new = [n[: -len("_cal.fits")] + "_uncal.fits" for n in names if n.endswith("_cal.fits")]
            table.replace_column("fileName", MaskedColumn(new, name="fileName"))
            if "fileSize" in table.colnames:
                table["fileSize"].mask = True
            if "dataURI" in table.colnames:
                table.replace_column(
                    "dataURI", MaskedColumn([f"mast:JWST/product/{n}" for n in new],
                                            name="dataURI"))
            derived = True
            log.info("%s lists only calibrated products for %s: derived %d _uncal names "
                     "(sizes unknown until download)", SERVICE, what, len(new))
            level = np.ones(len(table), dtype=bool)
    if not level.any():
        msg = (f"MAST has no {kind}guide-star products at calib_level {calib_level} "
               f"(_{suffix}.fits) for {what} (service {SERVICE} at {server})")
        raise ArchiveQueryError(msg, reason="not_found")
    table = table[level]

    # One row per file name (a product can be listed once per science exposure).
    seen = set()
    first = []
    for i, name in enumerate(table["fileName"]):
        if str(name) not in seen:
            seen.add(str(name))
            first.append(i)
    if len(first) < len(table):
        log.debug("Removed %d duplicate rows", len(table) - len(first))
    table = table[first]

    for name in PRODUCT_COLUMNS:
        if name in table.colnames:
            continue
        if name == "dataURI":
            table["dataURI"] = [f"mast:JWST/product/{n}" for n in table["fileName"]]
        else:
            log.warning("%s reply has no %r column; it is left masked", SERVICE, name)
            dtype = float if name in ("datastrt", "dataend", "fileSize") else str
            table[name] = MaskedColumn(np.zeros(len(table), dtype=dtype),
                                       mask=np.ones(len(table), dtype=bool))

    start = _floats(table["datastrt"])
    order = np.lexsort((np.asarray([str(n) for n in table["fileName"]]), start))
    table = table[order]
    table.meta.update({"service": SERVICE, "server": server, "program": program,
                       "observation": observation, "visit": visit,
                       "calib_level": calib_level, "exp_type": exp_type,
                       "uncal_names_derived": derived})
    log.info("Found %d guide-star products for %s", len(table), what)
    return table
