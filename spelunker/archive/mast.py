"""Find and download JWST guide-star products at MAST.

`find_guidestar_products` asks the MAST portal service
``Mast.Jwst.Filtered.GuideStar`` (through astroquery) which guider products a
program, observation or visit has; `download_products` fetches them from
``<server>/api/v0.1/Download/file`` into one flat directory, in parallel, with
retries, size checks and a cache; `mast_server` points astroquery at a mirror
or a test server.

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

Where files land
    Directly in the ``directory`` given to `download_products` (no
    ``mastDownload/JWST/<obs_id>/`` tree): guide-star product names are unique
    across the archive, and a flat folder is what
    `spelunker.read_guidestar` reads.
"""

import contextlib
import logging
import math
import os
import re
import secrets
import stat
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from spelunker.archive.tokens import TOKEN_ENV, masked_logs, resolve_token
from spelunker.errors import (
    ArchiveQueryError,
    AuthenticationError,
    CorruptFileError,
    DownloadError,
)
from spelunker.io import open_complete_fits
from spelunker.names import MODE_EXP_TYPES, check_product_name, guider_name_fields

__all__ = [
    "PRODUCT_COLUMNS",
    "SERVICE",
    "download_products",
    "find_guidestar_products",
    "mast_server",
]

log = logging.getLogger(__name__)

#: MAST portal service listing guider products with their header keywords.
SERVICE = "Mast.Jwst.Filtered.GuideStar"

#: Columns every table from `find_guidestar_products` has.
PRODUCT_COLUMNS = ("fileName", "dataURI", "fileSize", "program", "observtn", "visit",
                   "gdstarid", "datastrt", "dataend", "detector", "exp_type")

_SUFFIX = {1: "uncal", 2: "cal"}
_CHUNK = 64 * 1024
_RETRY_STATUS = (429, 500, 502, 503, 504)
_FATAL_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not found"}


# --------------------------------------------------------------------------
# Servers


def _resolve_server(server):
    """The server base URL: the argument or ``astroquery.mast.conf.server``."""
    if server is None:
        from astroquery.mast import conf

        server = conf.server
    server = str(server).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", server):
        msg = f"MAST server must be an http(s) URL such as https://mast.stsci.edu, got {server!r}"
        raise ValueError(msg)
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
    server = _resolve_server(url)
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
                auth = getattr(getattr(aq_mast, name, None), "_auth_obj", None)
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


def _mast_client(server, timeout, retries, backoff):
    """A fresh astroquery ``MastClass`` aimed at ``server``, with its own session.

    A private instance keeps the token out of the shared ``astroquery.mast.Mast``
    session and makes concurrent calls independent.
    """
    from astroquery.mast import MastClass

    client = MastClass()
    session = client._session
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                  allowed_methods=None, status_forcelist=_RETRY_STATUS,
                  backoff_factor=backoff, raise_on_status=False,
                  respect_retry_after_header=True)
    adapter = _TimeoutAdapter((timeout, timeout), max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    portal = client._portal_api_connection
    for attr, value in _portal_urls(server).items():
        setattr(portal, attr, value)
    client._auth_obj.SESSION_INFO_URL = server + "/whoami"
    return client


# --------------------------------------------------------------------------
# Query


def _as_id(value, name, digits):
    """An integer program / observation / visit number, validated."""
    if isinstance(value, bool) or value is None:
        msg = f"{name} must be a number, got {value!r}"
        raise TypeError(msg)
    try:
        number = int(str(value).strip())
    except ValueError:
        msg = f"{name} must be a number, got {value!r}"
        raise ValueError(msg) from None
    if not 0 < number < 10**digits:
        msg = f"{name} must be in 1..{10**digits - 1}, got {value!r}"
        raise ValueError(msg)
    return number


def _id_values(number, digits):
    """Both spellings of an id ('1534' and '01534'): MAST matches strings exactly."""
    return list(dict.fromkeys([str(number), f"{number:0{digits}d}"]))


def _cell_int(value):
    if value is None or value is np.ma.masked:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _describe(program, observation, visit):
    parts = [f"program {program}"]
    if observation is not None:
        parts.append(f"observation {observation}")
    if visit is not None:
        parts.append(f"visit {visit}")
    return ", ".join(parts)


def _login(client, secret, server):
    """Log the client in with the token; AuthenticationError if MAST refuses it."""
    from astroquery.exceptions import LoginError

    where = f"MAST at {server}"
    statuses = []

    def record_status(response, *args, **kwargs):
        statuses.append(response.status_code)

    hooks = client._session.hooks["response"]
    hooks.append(record_status)
    try:
        client.login(token=secret.reveal())
    except (LoginError, requests.exceptions.JSONDecodeError, KeyError, TypeError):
        status = statuses[-1] if statuses else None
        if status is not None and status >= 500:
            msg = f"could not check the MAST API token: {where} answered HTTP {status}"
            raise ArchiveQueryError(msg) from None
        msg = (f"{where} rejected the MAST API token (from the token argument or "
               f"{TOKEN_ENV}{f'; HTTP {status}' if status and status != 200 else ''}); "
               "check it, or create a new one at https://auth.mast.stsci.edu/token")
        raise AuthenticationError(msg) from None
    except requests.exceptions.RequestException as exc:
        msg = f"could not check the MAST API token with {where}: {type(exc).__name__}"
        raise ArchiveQueryError(msg) from None
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

    Examples
    --------
    >>> from spelunker.archive import find_guidestar_products
    >>> products = find_guidestar_products(1534, observation=1)  # doctest: +SKIP
    >>> products["fileName"][0]  # doctest: +SKIP
    'jw01534001001_gs-fg_2022340000825_cal.fits'
    """
    program = _as_id(program, "program", 5)
    observation = None if observation is None else _as_id(observation, "observation", 3)
    visit = None if visit is None else _as_id(visit, "visit", 3)
    if calib_level not in _SUFFIX:
        msg = f"calib_level must be 1 (_uncal) or 2 (_cal), got {calib_level!r}"
        raise ValueError(msg)
    if exp_type is not None:
        exp_type = str(exp_type).strip().upper()
    server = _resolve_server(server)
    secret = resolve_token(token)
    what = _describe(program, observation, visit)

    filters = [{"paramName": "program", "values": _id_values(program, 5)}]
    if observation is not None:
        filters.append({"paramName": "observtn", "values": _id_values(observation, 3)})
    if visit is not None:
        filters.append({"paramName": "visit", "values": _id_values(visit, 3)})
    if exp_type is not None:
        filters.append({"paramName": "exp_type", "values": [exp_type]})
    params = {"columns": "*", "filters": filters}

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
                raise ArchiveQueryError(msg) from None
            except (requests.exceptions.JSONDecodeError, ValueError, KeyError,
                    TypeError) as exc:
                msg = (f"MAST service {SERVICE} at {server} sent a malformed reply for "
                       f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
                raise ArchiveQueryError(msg) from None
            except (requests.exceptions.RequestException, TimeoutError) as exc:
                msg = (f"could not reach MAST service {SERVICE} at {server} for {what}: "
                       f"{type(exc).__name__} (after {retries} retries, timeout {timeout} s)")
                raise ArchiveQueryError(msg) from None
    finally:
        client._session.cookies.clear()
        client._session.close()

    return _select_products(table, program=program, observation=observation, visit=visit,
                            calib_level=calib_level, exp_type=exp_type, what=what,
                            server=server)


def _select_products(table, *, program, observation, visit, calib_level, exp_type, what,
                     server):
    """Filter, complete, de-duplicate and sort the service's rows."""
    from astropy.table import MaskedColumn, Table

    kind = f"{exp_type} " if exp_type else ""
    if len(table) == 0 or "fileName" not in table.colnames:
        msg = (f"MAST has no {kind}guide-star products for {what} "
               f"(service {SERVICE} at {server}); check the numbers, or whether the data "
               "are public yet")
        raise ArchiveQueryError(msg)
    table = Table(table, masked=True, copy=True)

    def ints(name):
        if name not in table.colnames:
            return None
        return [_cell_int(v) for v in table[name]]

    keep = np.ones(len(table), dtype=bool)
    for name, wanted in (("program", program), ("observtn", observation), ("visit", visit)):
        values = ints(name)
        if wanted is not None and values is not None:
            keep &= np.array([v == wanted for v in values])
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
        raise ArchiveQueryError(msg)
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


# --------------------------------------------------------------------------
# Download


class _Retryable(Exception):
    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class _Fatal(Exception):
    pass


class _Cancelled(Exception):
    pass


def _size_of(value):
    if value is None or value is np.ma.masked:
        return None
    try:
        size = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(size) or size < 0:
        return None
    return int(size)


def _product_items(products):
    """(name, expected size or None) per product, validated and de-duplicated."""
    from astropy.table import Row, Table

    if isinstance(products, (str, os.PathLike, dict, Row)):
        products = [products]
    if isinstance(products, Table):
        if "fileName" not in products.colnames:
            msg = "the products table has no 'fileName' column"
            raise DownloadError(msg)
        sizes = (products["fileSize"] if "fileSize" in products.colnames
                 else [None] * len(products))
        pairs = list(zip(products["fileName"], sizes, strict=True))
    else:
        pairs = []
        for item in products:
            if isinstance(item, (str, os.PathLike)):
                pairs.append((os.fspath(item), None))
            else:
                try:
                    name = item["fileName"]
                except (KeyError, TypeError, IndexError):
                    msg = f"a product has no 'fileName': {item!r}"
                    raise DownloadError(msg) from None
                try:
                    size = item["fileSize"]
                except (KeyError, TypeError, IndexError):
                    size = None
                pairs.append((name, size))
    items = {}
    for name, size in pairs:
        name = check_product_name(None if name is None or name is np.ma.masked else str(name))
        size = _size_of(size)
        if name in items and items[name] != size and size is not None:
            if items[name] is None:
                items[name] = size
            else:
                msg = f"{name} is listed twice with different sizes ({items[name]}, {size})"
                raise DownloadError(msg, failures={name: "conflicting sizes"})
        items.setdefault(name, size)
    return list(items.items())


def _part_name(name):
    return f".{name}.part-{secrets.token_hex(6)}"


def _remove_stale_parts(directory, name, max_age):
    """Delete temporary files of ``name`` left by a killed process (older than max_age s)."""
    now = time.time()
    for part in directory.glob(f".{name}.part-*"):
        try:
            if now - part.stat().st_mtime > max_age:
                part.unlink()
                log.info("Removed stale temporary file %s", part.name)
        except FileNotFoundError:
            pass


def _identity(st):
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _cached_product_problem(path, name):
    """Why a local file is not the complete product ``name``; None if it is.

    Used for cached files whose size the archive does not list (derived
    ``_uncal`` names, bare names).  The file must open as a FITS file whose
    every HDU lies wholly inside it and whose last HDU is the ASDF extension
    that ends every JWST product (so a copy cut at an HDU boundary fails
    too); its primary header must be this product's: FILENAME (when
    present) equal to ``name``, PROGRAM / OBSERVTN / VISIT those of the
    name, EXP_TYPE that of the name's guider mode; it must have a SCI
    extension, 3-D (``_cal``) or 4-D (``_uncal``) for fine-guide products.
    Only headers are read.
    """
    fields = guider_name_fields(name)
    mode = fields["mode"]
    uncal = fields["level"] == "uncal"
    try:
        with open_complete_fits(path) as hdul:
            if len(hdul) < 2 or str(hdul[-1].header.get("EXTNAME", "")).strip() != "ASDF":
                return "incomplete JWST product (no ASDF extension at its end)"
            header = hdul[0].header
            filename = str(header.get("FILENAME", "") or "").strip()
            if filename and filename != name:
                return f"its header FILENAME is {filename!r}"
            for keyword, key, digits in (("PROGRAM", "program", 5),
                                         ("OBSERVTN", "observation", 3), ("VISIT", "visit", 3)):
                value = str(header.get(keyword, "") or "").strip()
                if not value.isdigit() or int(value) != fields[key]:
                    return (f"its header {keyword} is {value!r}, the name's "
                            f"{fields[key]:0{digits}d}")
            exp_type = str(header.get("EXP_TYPE", "") or "").strip().upper()
            if exp_type not in MODE_EXP_TYPES[mode]:
                return f"its header EXP_TYPE is {exp_type!r}, not {MODE_EXP_TYPES[mode][0]}"
            if "SCI" not in hdul:
                return "it has no SCI extension"
            ndim = hdul["SCI"].header.get("NAXIS")
            if mode == "fg" and ndim != (4 if uncal else 3):
                return (f"its SCI extension has {ndim} axes, not {4 if uncal else 3} as a "
                        f"{'_uncal' if uncal else '_cal'} fine-guide product")
    except CorruptFileError as exc:
        return str(exc)[:300]
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        return f"not a readable FITS file ({type(exc).__name__}: {str(exc)[:200]})"
    return None


class _Progress:
    """Thread-safe byte counter feeding a tqdm bar or a user's ``update(n)`` object."""

    def __init__(self, progress, total, n_files):
        self._lock = threading.Lock()
        self._own = None
        if progress is None or isinstance(progress, bool):
            from tqdm import tqdm

            self._own = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=f"MAST download ({n_files} files)", leave=False,
                             disable=None if progress is None else not progress)
            self._target = self._own
        elif hasattr(progress, "update"):
            self._target = progress
        else:
            msg = "progress must be None, True, False or an object with an update(n) method"
            raise TypeError(msg)

    def update(self, n):
        if n:
            with self._lock:
                self._target.update(n)

    def close(self):
        if self._own is not None:
            self._own.close()


def _wait(cancel, delay):
    """Sleep ``delay`` seconds before a retry; True if the downloads were cancelled."""
    return cancel.wait(delay)


def _download_one(job):
    """Fetch one file with retries; return its path or raise _Fatal / _Retryable."""
    name = job["name"]
    retries, backoff = job["retries"], job["backoff"]
    cancel = job["cancel"]
    last = None
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            if last is not None and last.retry_after is not None:
                delay = max(delay, min(last.retry_after, 60.0))
            log.info("Retrying %s in %.2g s (attempt %d of %d) after: %s", name, delay,
                     attempt + 1, retries + 1, last)
            if _wait(cancel, delay):
                raise _Cancelled
        if cancel.is_set():
            raise _Cancelled
        try:
            return _attempt(job)
        except _Retryable as exc:
            last = exc
    msg = f"failed after {retries + 1} attempts; last error: {last}"
    raise _Fatal(msg)


def _attempt(job):
    """One GET of one file into a temporary name, renamed when complete."""
    name, size, directory = job["name"], job["size"], job["directory"]
    final = directory / name
    tmp = directory / _part_name(name)
    progress, cancel = job["progress"], job["cancel"]
    received = 0
    try:
        session = job["session"]()
        headers = {"Accept-Encoding": "identity"}
        if job["secret"] is not None:
            headers["Authorization"] = f"token {job['secret'].reveal()}"
        with session.get(job["url"], params={"uri": f"mast:JWST/product/{name}"},
                         headers=headers, stream=True,
                         timeout=(job["timeout"], job["timeout"])) as resp:
            status = resp.status_code
            if status in _FATAL_STATUS:
                if status in (401, 403):
                    hint = ("MAST rejected the token" if job["secret"] is not None else
                            f"exclusive-access data need a MAST API token (token= or {TOKEN_ENV})")
                    raise _Fatal(f"HTTP {status} ({_FATAL_STATUS[status]}): {hint}")
                raise _Fatal(f"HTTP 404 (not found): MAST has no file mast:JWST/product/{name}")
            if status in _RETRY_STATUS or 500 <= status < 600:
                after = resp.headers.get("Retry-After", "")
                raise _Retryable(f"HTTP {status} {resp.reason}",
                                 retry_after=float(after) if after.isdigit() else None)
            if status != 200:
                raise _Fatal(f"unexpected HTTP {status} {resp.reason}")
            if resp.headers.get("Content-Type", "").lower().startswith("text/html"):
                raise _Fatal("the server sent an HTML page instead of the file")
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if size is not None and length is not None and length != size:
                raise _Fatal(f"MAST lists {size} bytes but the server sends {length} bytes")
            limit = size if size is not None else length
            with open(tmp, "xb") as fh:
                for chunk in resp.iter_content(_CHUNK):
                    if cancel.is_set():
                        raise _Cancelled
                    fh.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
                    if limit is not None and received > limit:
                        raise _Fatal(f"the server sent more than the expected {limit} bytes")
                fh.flush()
                os.fsync(fh.fileno())
        if length is not None and received != length:
            raise _Retryable(f"incomplete transfer: {received} of {length} bytes")
        if size is not None and received != size:
            raise _Retryable(f"incomplete transfer: {received} of {size} bytes (no Content-Length)")
        os.replace(tmp, final)
        tmp = None
        log.debug("Downloaded %s (%d bytes)", name, received)
        return final
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError) as exc:
        raise _Retryable(_error_text(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise _Fatal(_error_text(exc)) from None
    except OSError as exc:
        raise _Fatal(f"cannot write into {directory}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            progress.update(-received)


def _error_text(exc):
    """A short description of a requests exception (these never hold headers)."""
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{type(exc).__name__}: no data within the timeout"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def download_products(products, directory, *, token=None, server=None, max_workers=4,
                      retries=4, backoff=0.5, timeout=60, progress=None):
    """Download guide-star products from MAST into ``directory``.

    Files land directly in ``directory`` under their archive names.  A file
    already there is reused without any request when it has the size the
    archive lists, or, when the archive lists no size (derived ``_uncal``
    names, bare names), when it opens as a complete FITS file of this very
    product (headers only: every HDU inside the file, the closing ASDF
    extension, FILENAME, PROGRAM, OBSERVTN, VISIT and EXP_TYPE matching the
    name, a SCI extension).  Any other local copy is downloaded again; it is
    never deleted before its replacement is complete (the new file is
    renamed over it), and removed only if the new download fails, so a
    failed download never loses a usable file and never keeps an unusable
    one.  Each download streams into a hidden temporary file
    (``.<name>.part-<random>``) in the same directory and is renamed only
    once complete with the expected size (the archive's ``fileSize`` and
    the reply's Content-Length): an interrupted or failed download never
    leaves a partial file under the product's name, and its temporary file
    is removed on every error path, including KeyboardInterrupt.

    Connection errors, timeouts, truncated transfers and HTTP 429 / 5xx are
    retried with exponential backoff (``backoff``, ``2 * backoff``, ...; a
    longer Retry-After in seconds is honoured, up to 60 s); HTTP 401, 403
    and 404 and a size that differs from the archive's fail at once.  A
    failed file does not stop the others.

    Parameters
    ----------
    products : astropy.table.Table, sequence of mappings or of str
        Rows with ``fileName`` and ``fileSize`` (as returned by
        `find_guidestar_products`), or bare file names (size then unknown:
        a download is checked against Content-Length, a cached copy as
        described above).
    directory : str or os.PathLike
        Destination folder (created if missing).
    token : str, optional
        MAST API token, sent as ``Authorization: token <T>``; default (also
        for an empty string) ``$MAST_API_TOKEN``.
    server : str, optional
        MAST base URL; default ``astroquery.mast.conf.server``.
    max_workers : int
        Files downloaded at once.
    retries : int
        Further attempts per file after a retryable failure.
    backoff : float
        Seconds before the first retry, doubling after each further one.
    timeout : float
        Seconds to wait for the server to connect or send the next data.
    progress : None, bool or object with ``update(n)``
        None: a tqdm bar of bytes when stderr is a terminal; True / False:
        always / never; or an object (e.g. a ``tqdm``) whose ``update`` gets
        byte counts (negative when a failed attempt is rolled back).

    Returns
    -------
    list of pathlib.Path
        The local files, in the order of ``products`` (duplicates once).

    Raises
    ------
    DownloadError
        A file name is not a bare guider product name or is taken by a
        directory in ``directory`` (both raised before any request), or
        files failed after all retries; the message names each
        file and its last error, ``failures`` maps them and ``paths`` lists
        the files that are complete.

    Examples
    --------
    >>> from spelunker.archive import download_products, find_guidestar_products
    >>> products = find_guidestar_products(1534, observation=1, visit=1)  # doctest: +SKIP
    >>> paths = download_products(products, "guidestars")  # doctest: +SKIP
    """
    items = _product_items(products)
    if int(max_workers) < 1:
        msg = f"max_workers must be >= 1, got {max_workers!r}"
        raise ValueError(msg)
    if int(retries) < 0:
        msg = f"retries must be >= 0, got {retries!r}"
        raise ValueError(msg)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    server = _resolve_server(server)
    secret = resolve_token(token)
    url = server + "/api/v0.1/Download/file"

    folders = [name for name, _ in items
               if (directory / name).is_dir() and not (directory / name).is_symlink()]
    if folders:
        msg = (f"cannot download into {directory}: "
               + "; ".join(f"{directory / name} is a directory, not a file" for name in folders)
               + "; move or remove it")
        raise DownloadError(msg, failures=dict.fromkeys(folders, "a directory has its name"))

    done = {}
    todo = []
    stale = {}  # name -> identity of a local copy found unusable, replaced once a new one is done
    for name, size in items:
        _remove_stale_parts(directory, name, max_age=max(600.0, 2 * float(timeout)))
        final = directory / name
        try:
            st = final.lstat()
        except FileNotFoundError:
            todo.append((name, size))
            continue
        regular = stat.S_ISREG(st.st_mode)
        if size is not None and regular and st.st_size == size:
            log.debug("Using cached %s (%d bytes)", name, size)
            done[name] = final
            continue
        if size is None:
            problem = (_cached_product_problem(final, name) if regular
                       else "not a regular file")
            if problem is None:
                log.info("Using cached %s: the archive lists no size, but it is a complete "
                         "FITS file of this product", name)
                done[name] = final
                continue
        elif regular:
            problem = f"{st.st_size} bytes on disk, the archive lists {size}"
        else:
            problem = "not a regular file"
        log.warning("Downloading %s again (%s); the local copy stays until the new one is "
                    "complete", name, problem)
        stale[name] = _identity(st)
        todo.append((name, size))
    log.info("%d of %d products cached in %s; downloading %d from %s", len(done), len(items),
             directory, len(todo), server)
    if not todo:
        return [done[name] for name, _ in items]

    total = None if any(s is None for _, s in todo) else sum(s for _, s in todo)
    bar = _Progress(progress, total, len(todo))
    cancel = threading.Event()
    local = threading.local()
    sessions = []
    sessions_lock = threading.Lock()

    def session():
        if getattr(local, "session", None) is None:
            local.session = requests.Session()
            with sessions_lock:
                sessions.append(local.session)
        return local.session

    failures = {}
    executor = ThreadPoolExecutor(max_workers=min(int(max_workers), len(todo)),
                                  thread_name_prefix="spelunker-download")
    try:
        with masked_logs(secret):
            futures = {}
            for name, size in todo:
                job = {"name": name, "size": size, "directory": directory, "url": url,
                       "secret": secret, "timeout": float(timeout), "retries": int(retries),
                       "backoff": float(backoff), "progress": bar, "cancel": cancel,
                       "session": session}
                futures[executor.submit(_download_one, job)] = name
            for future in as_completed(futures):
                name = futures[future]
                try:
                    done[name] = future.result()
                except _Fatal as exc:
                    failures[name] = str(exc)
                    log.error("Download of %s failed: %s", name, exc)
    except BaseException:
        # KeyboardInterrupt or a bug: stop the workers (each removes its own
        # temporary file) before letting the exception through.
        cancel.set()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        executor.shutdown(wait=True)
        bar.close()
        for s in sessions:
            s.close()

    for name in failures:
        # A local copy found unusable, and not replaced: do not keep it.
        final = directory / name
        with contextlib.suppress(FileNotFoundError):
            if name in stale and _identity(final.lstat()) == stale[name]:
                final.unlink()
                log.warning("Removed the unusable local copy of %s", name)
    if failures:
        lines = "; ".join(f"{name}: {reason}" for name, reason in sorted(failures.items()))
        msg = (f"{len(failures)} of {len(items)} guide-star products could not be downloaded "
               f"from {server} into {directory}: {lines}")
        raise DownloadError(msg, failures=failures,
                            paths=[done[name] for name, _ in items if name in done])
    return [done[name] for name, _ in items]
