"""Guide-star properties from the STScI Guide Star Catalog (GSC) web service.

`query_guide_star_catalog` asks the GSC for one guide star by its id (the
GDSTARID header keyword, e.g. ``S1HP081234``) and returns its Gaia DR3 source
id, coordinates and magnitudes; `guide_star_properties` does this once per
distinct guide star of a `~spelunker.GuideStarModel` (the original tool's
``object_properties``) and falls back to the header values when the service
cannot answer.

The service is ``GET <url>?id=<GSID>&format=csv`` with
``<url> = https://gsss.stsci.edu/webservices/vo/CatalogSearch.aspx``; the
``url`` argument, then the ``SPELUNKER_GSC_URL`` environment variable, replace
it (mirrors, tests).  Every request has a timeout.  Replies are cached on disk,
one JSON file per guide star, in ``$SPELUNKER_CACHE/gsc`` (default
``~/.cache/spelunker/gsc``): the cache holds the catalog's own row, so it is
re-parsed on every read and survives changes of this parser.
"""

import csv
import json
import logging
import math
import os
import re
import warnings
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import astropy.units as u
import numpy as np
import requests
from astropy.table import MaskedColumn, QTable, Table
from astropy.time import Time

from spelunker._cache import cache_folder
from spelunker._validate import check_path, check_positive_float
from spelunker.atomic import atomic_file
from spelunker.errors import CatalogError, CatalogFallbackWarning, ParameterError

__all__ = [
    "DEFAULT_GSC_URL",
    "default_cache_dir",
    "guide_star_properties",
    "parse_catalog_reply",
    "query_guide_star_catalog",
]

log = logging.getLogger(__name__)

#: The Guide Star Catalog search service (query ``?id=<GSID>&format=csv``).
DEFAULT_GSC_URL = "https://gsss.stsci.edu/webservices/vo/CatalogSearch.aspx"

#: Environment variable that replaces `DEFAULT_GSC_URL`.
URL_ENVIRONMENT = "SPELUNKER_GSC_URL"

#: Version of the JSON cache layout; other versions are ignored and replaced.
CACHE_FORMAT = 1

# Column names are matched after lower-casing and dropping non-alphanumerics,
# because their casing changes between catalog versions (GSC 2.4.1 tmassJmag,
# GSC 2.4.2 tmassJMag).
_ID_COLUMNS = ("hstid", "gsc2id", "gsid", "gscid")
_GAIA_COLUMNS = ("gaiadr3sourceid", "gaiadr3id", "dr3sourceid", "gaiasourceid")
_BANDS = {"J": ("tmassjmag",), "H": ("tmasshmag",), "K": ("tmassksmag", "tmasskmag")}
_MISSING = {"", "nan", "null", "none", "na", "n/a", "--"}
# Magnitudes outside this range are the catalog's "no measurement" sentinels.
_MAG_RANGE = (-50.0, 50.0)
# Reasons after which the service is assumed unreachable for the next stars.
_UNREACHABLE = {"timeout", "connection"}


def _norm(name):
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _find(columns, candidates):
    """Return the first column of ``columns`` whose normalised name is in ``candidates``."""
    by_norm = {}
    for column in columns:
        by_norm.setdefault(_norm(column), column)
    for candidate in candidates:
        if candidate in by_norm:
            return by_norm[candidate]
    return None


def _to_float(text, *, magnitude=False):
    value = str(text).strip()
    if value.lower() in _MISSING:
        return math.nan
    try:
        number = float(value)
    except ValueError:
        log.debug("GSC value %r is not a number: treated as missing", value)
        return math.nan
    if not math.isfinite(number):
        return math.nan
    if magnitude and not _MAG_RANGE[0] < number < _MAG_RANGE[1]:
        return math.nan
    return number


def _to_source_id(text):
    """A Gaia source id as int (exact for digit strings), None when missing."""
    value = str(text).strip()
    if value.lower() in _MISSING:
        return None
    if value.isdigit():
        number = int(value)
    else:
        try:
            number = int(Decimal(value))
        except (InvalidOperation, ValueError):
            log.debug("GSC Gaia id %r is not a number: treated as missing", value)
            return None
    return number if number > 0 else None


def default_cache_dir():
    """Folder of the catalog cache: ``$SPELUNKER_CACHE/gsc`` or ``~/.cache/spelunker/gsc``.

    Returns
    -------
    pathlib.Path
        The folder (not created here).

    Examples
    --------
    >>> from spelunker.archive.catalog import default_cache_dir
    >>> default_cache_dir().name
    'gsc'
    """
    return cache_folder("gsc")


def _service_url(url):
    if not (url is None or isinstance(url, str)):
        msg = f"url={url!r:.60} must be the Guide Star Catalog service's address (a string)"
        raise ParameterError(msg)
    return url or os.environ.get(URL_ENVIRONMENT) or DEFAULT_GSC_URL


def _check_gs_id(gs_id):
    if not isinstance(gs_id, str) or not gs_id.strip():
        msg = f"guide-star id must be a non-empty string, got {gs_id!r}"
        raise ParameterError(msg)
    return gs_id.strip()


# --------------------------------------------------------------------------
# Reply parsing


def _split_reply(text, gs_id, url=None):
    """Return (header, row) of the reply's row for ``gs_id``."""
    if text is None or not text.strip():
        msg = f"Guide Star Catalog returned an empty reply for {gs_id}"
        if url:
            msg += f" ({url})"
        raise CatalogError(msg, gs_id=gs_id, reason="empty", url=url)
    lines = text.lstrip("\ufeff").splitlines()
    header_index = None
    for index, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = next(csv.reader([line]))
        if {"ra", "dec"} <= {_norm(field) for field in fields}:
            header_index = index
            header = [field.strip() for field in fields]
            break
    if header_index is None:
        first = next((line.strip() for line in lines if line.strip()), "")
        msg = (f"Guide Star Catalog reply for {gs_id} has no CSV header with ra and dec "
               f"columns (first line: {first[:80]!r})")
        raise CatalogError(msg, gs_id=gs_id, reason="bad_reply", url=url)
    rows = []
    for row in csv.reader(lines[header_index + 1:]):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            msg = (f"Guide Star Catalog reply for {gs_id}: a row has {len(row)} fields, "
                   f"the header {len(header)}")
            raise CatalogError(msg, gs_id=gs_id, reason="bad_reply", url=url)
        rows.append(row + [""] * (len(header) - len(row)))
    if not rows:
        msg = f"Guide Star Catalog has no row for guide star {gs_id}"
        raise CatalogError(msg, gs_id=gs_id, reason="no_row", url=url)
    id_columns = [header.index(c) for c in header if _norm(c) in _ID_COLUMNS]
    for row in rows:
        if any(row[i].strip().upper() == gs_id.upper() for i in id_columns):
            return header, row
    if id_columns:
        found = ", ".join(sorted({row[i].strip() for row in rows for i in id_columns}))
        if len(rows) > 1:
            msg = (f"Guide Star Catalog reply for {gs_id} has {len(rows)} rows, none for "
                   f"that id (ids: {found})")
            raise CatalogError(msg, gs_id=gs_id, reason="no_row", url=url)
        log.debug("GSC reply for %s carries id(s) %s; using its only row", gs_id, found)
    elif len(rows) > 1:
        log.debug("GSC reply for %s has %d rows and no id column; using the first",
                  gs_id, len(rows))
    return header, rows[0]


def _record(header, row, gs_id, url):
    values = dict(zip(header, row))
    record = {"gs_id": gs_id}
    gaia = _find(header, _GAIA_COLUMNS)
    record["gaia_dr3_id"] = _to_source_id(values[gaia]) if gaia else None
    for key in ("ra", "dec"):
        column = _find(header, (key,))
        record[key] = _to_float(values[column])
    for band, candidates in _BANDS.items():
        column = _find(header, candidates)
        record[band] = _to_float(values[column], magnitude=True) if column else math.nan
        error = _find(header, tuple(c + "err" for c in candidates))
        record[f"{band}_err"] = _to_float(values[error]) if error else math.nan
    record["magnitudes"] = {
        column: _to_float(values[column], magnitude=True)
        for column in header
        if _norm(column).endswith("mag")
    }
    record["row"] = dict(values)
    record["url"] = url
    return record


def parse_catalog_reply(text, gs_id, *, url=None):
    """Parse a Guide Star Catalog CSV reply into the record of one guide star.

    The reply has one preamble line before its CSV header; the header is
    found as the first line naming ``ra`` and ``dec`` columns, so a reply
    without the preamble parses too.  Column names are matched whatever
    their casing (``tmassJmag`` in GSC 2.4.1, ``tmassJMag`` in 2.4.2); blank
    cells are missing values.

    Parameters
    ----------
    text : str
        The reply body.
    gs_id : str
        The guide-star id asked for (selects the row when there are several).
    url : str, optional
        Where the reply came from (kept in the record and error messages).

    Returns
    -------
    dict
        ``gs_id``; ``gaia_dr3_id`` (int, or None when the catalog has none);
        ``ra``, ``dec`` (deg); ``J``, ``H``, ``K`` (2MASS, mag) and their
        ``J_err``, ``H_err``, ``K_err``; ``magnitudes``, every magnitude
        column under the catalog's own name; ``row``, the raw row (str);
        ``url``.  Missing numbers are NaN.

    Raises
    ------
    CatalogError
        Empty reply, no CSV header, or no row for ``gs_id``.
    spelunker.errors.ParameterError
        ``text`` is neither a string nor None, or an empty ``gs_id``.

    Examples
    --------
    >>> from spelunker.archive.catalog import parse_catalog_reply
    >>> reply = ("Catalog GSC 2.4.2 search\\n"
    ...          "hstID,GAIAdr3sourceID,ra,dec,tmassJMag,tmassHMag,tmassKsMag\\n"
    ...          "S1HP081234,4658012345678901234,80.79312,-69.53877,14.021,13.304,\\n")
    >>> record = parse_catalog_reply(reply, "S1HP081234")
    >>> record["gaia_dr3_id"], record["ra"], record["J"], record["H"]
    (4658012345678901234, 80.79312, 14.021, 13.304)
    >>> record["K"]
    nan
    """
    gs_id = _check_gs_id(gs_id)
    if not (text is None or isinstance(text, str)):
        msg = f"parse_catalog_reply: text must be the reply as a string, got {type(text).__name__}"
        raise ParameterError(msg)
    header, row = _split_reply(text, gs_id, url)
    return _record(header, row, gs_id, url)


# --------------------------------------------------------------------------
# Disk cache


def _cache_path(cache_dir, gs_id):
    """The cache file of ``gs_id`` in ``cache_dir`` (None: `default_cache_dir`)."""
    folder = (default_cache_dir() if cache_dir is None
              else check_path(cache_dir, "cache_dir", kind="folder"))
    return folder / (re.sub(r"[^A-Za-z0-9_-]", "_", gs_id) + ".json")


def _read_cache(path, gs_id):
    """Return the cached (header, row, url), or None (missing or unusable file)."""
    try:
        with open(path, encoding="utf-8") as stream:
            payload = json.load(stream)
        ok = (isinstance(payload, dict) and payload.get("format") == CACHE_FORMAT
              and payload.get("gs_id") == gs_id
              and isinstance(payload.get("header"), list)
              and isinstance(payload.get("row"), list)
              and len(payload["header"]) == len(payload["row"])
              and all(isinstance(v, str) for v in payload["header"] + payload["row"]))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("ignoring unreadable catalog cache file %s (%s)", path, exc)
        ok = False
    if not ok:
        log.warning("ignoring invalid catalog cache file %s; it will be replaced", path)
        try:
            path.unlink()
        except OSError:
            pass
        return None
    log.debug("Guide Star Catalog row of %s read from cache %s", gs_id, path)
    return payload["header"], payload["row"], payload.get("url")


def _write_cache(path, gs_id, header, row, url):
    payload = {"format": CACHE_FORMAT, "gs_id": gs_id, "url": url,
               "retrieved": datetime.now(UTC).isoformat(timespec="seconds"),
               "header": list(header), "row": list(row)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as temporary:
            temporary.write_text(json.dumps(payload), encoding="utf-8")
    except (OSError, ParameterError) as exc:  # a cache that cannot be written is no error
        log.warning("could not write the catalog cache file %s (%s)", path, exc)


# --------------------------------------------------------------------------
# Service


def _fetch(gs_id, url, timeout, session):
    params = {"id": gs_id, "format": "csv"}
    getter = session.get if session is not None else requests.get
    log.info("querying the Guide Star Catalog for %s (%s)", gs_id, url)
    try:
        response = getter(url, params=params, timeout=(timeout, timeout))
    except requests.exceptions.Timeout as exc:
        msg = (f"Guide Star Catalog query for {gs_id} timed out after {timeout:g} s "
               f"({url})")
        raise CatalogError(msg, gs_id=gs_id, reason="timeout", url=url) from exc
    except requests.exceptions.RequestException as exc:
        msg = f"cannot reach the Guide Star Catalog at {url} for {gs_id}: {exc}"
        raise CatalogError(msg, gs_id=gs_id, reason="connection", url=url) from exc
    with response:
        if response.status_code >= 400:
            msg = (f"Guide Star Catalog query for {gs_id} failed: HTTP "
                   f"{response.status_code} {response.reason or ''}".rstrip()
                   + f" ({response.url})")
            raise CatalogError(msg, gs_id=gs_id, reason="http", url=url)
        return response.content.decode("utf-8", errors="replace"), response.url


def query_guide_star_catalog(gs_id, *, url=None, timeout=10.0, cache_dir=None, session=None):
    """Look up one guide star in the Guide Star Catalog (one request, cached on disk).

    Parameters
    ----------
    gs_id : str
        Guide-star id (the GDSTARID header keyword), e.g. ``'S1HP081234'``.
    url : str, optional
        Service address; default the ``SPELUNKER_GSC_URL`` environment
        variable, else `DEFAULT_GSC_URL`.  ``?id=<gs_id>&format=csv`` is
        appended.
    timeout : float
        Seconds allowed for connecting and for each read.
    cache_dir : str or os.PathLike or False, optional
        Cache folder (default `default_cache_dir`); ``False`` disables the
        cache.  A cached star makes no request; an unreadable cache file is
        ignored and replaced.  Files are written atomically
        (`spelunker.atomic.atomic_file`).
    session : requests.Session, optional
        Session to send the request with (connection reuse).

    Returns
    -------
    dict
        As `parse_catalog_reply`: ``gs_id``, ``gaia_dr3_id``, ``ra``,
        ``dec``, ``J``, ``H``, ``K``, ``magnitudes``, ...

    Raises
    ------
    CatalogError
        Timeout, connection failure, HTTP error, empty reply, or no row for
        ``gs_id`` (nothing is cached then).
    spelunker.errors.ParameterError
        Empty ``gs_id``, a non-positive ``timeout``, a ``url`` that is not
        a string or a ``session`` that is not a `requests.Session`.

    Examples
    --------
    Without a network the examples use `parse_catalog_reply`, which reads
    the same replies; ``query_guide_star_catalog('S1HP081234')`` returns the
    same kind of record.
    """
    gs_id = _check_gs_id(gs_id)
    timeout = check_positive_float(timeout, "timeout", unit="seconds", parse_text=True)
    service = _service_url(url)
    if not (session is None or isinstance(session, requests.Session)):
        msg = f"session={session!r:.60} must be a requests.Session or None"
        raise ParameterError(msg)
    path = None
    if cache_dir is not False:
        path = _cache_path(cache_dir, gs_id)
        cached = _read_cache(path, gs_id)
        if cached is not None:
            header, row, cached_url = cached
            return _record(header, row, gs_id, cached_url)
    text, reply_url = _fetch(gs_id, service, timeout, session)
    header, row = _split_reply(text, gs_id, reply_url)
    if path is not None:
        _write_cache(path, gs_id, header, row, reply_url)
    return _record(header, row, gs_id, reply_url)


def _cached_record(gs_id, cache_dir):
    if cache_dir is False:
        return None
    path = _cache_path(cache_dir, gs_id)
    cached = _read_cache(path, gs_id)
    if cached is None:
        return None
    header, row, cached_url = cached
    return _record(header, row, gs_id, cached_url)


# --------------------------------------------------------------------------
# One row per guide star

_REQUIRED = ("gs_id", "gs_ra", "gs_dec", "gs_mag", "detector", "start_mjd", "stop_mjd",
             "n_files", "n_frames")


def _plain(column, unit=None):
    """Column values as a numpy array (Quantity in ``unit``, Time as MJD)."""
    if isinstance(column, Time):
        return np.asarray(column.utc.mjd, dtype=float)
    if isinstance(column, u.Quantity):
        return np.asarray(column.to_value(unit) if unit is not None else column.value)
    if hasattr(column, "filled") and getattr(column, "mask", None) is not None:
        kind = np.asarray(column).dtype.kind
        return np.asarray(column.filled(np.nan if kind == "f" else column.fill_value))
    return np.asarray(column)


def _guidestar_rows(source):
    """Merge the rows of a guide-star table by gs_id, in order of first use."""
    if hasattr(source, "guidestars") and callable(getattr(source, "table", None)):
        table = source.table("guidestars")
    elif isinstance(source, Table):
        table = source
    else:
        msg = ("guide_star_properties needs a GuideStarModel or its guidestars table "
               f"(model.table('guidestars')), got {type(source).__name__}")
        raise ParameterError(msg)
    missing = [name for name in _REQUIRED if name not in table.colnames]
    if missing:
        msg = (f"guide_star_properties: the table lacks column(s) {', '.join(missing)}; "
               "pass a GuideStarModel or model.table('guidestars')")
        raise ParameterError(msg)
    values = {
        "gs_id": [str(v).strip() for v in _plain(table["gs_id"])],
        "gs_ra": _plain(table["gs_ra"], u.deg).astype(float),
        "gs_dec": _plain(table["gs_dec"], u.deg).astype(float),
        "gs_mag": _plain(table["gs_mag"], u.mag).astype(float),
        "detector": [str(v).strip() for v in _plain(table["detector"])],
        "start_mjd": _plain(table["start_mjd"]).astype(float),
        "stop_mjd": _plain(table["stop_mjd"]).astype(float),
        "n_files": _plain(table["n_files"]).astype(np.int64),
        "n_frames": _plain(table["n_frames"]).astype(np.int64),
    }
    stars = {}
    for index, gs_id in enumerate(values["gs_id"]):
        star = stars.get(gs_id)
        if star is None:
            stars[gs_id] = {
                "gs_id": gs_id,
                "gs_ra": values["gs_ra"][index],
                "gs_dec": values["gs_dec"][index],
                "gs_mag": values["gs_mag"][index],
                "detectors": [values["detector"][index]],
                "start_mjd": values["start_mjd"][index],
                "stop_mjd": values["stop_mjd"][index],
                "n_files": int(values["n_files"][index]),
                "n_frames": int(values["n_frames"][index]),
            }
            continue
        star["start_mjd"] = np.fmin(star["start_mjd"], values["start_mjd"][index])
        star["stop_mjd"] = np.fmax(star["stop_mjd"], values["stop_mjd"][index])
        star["n_files"] += int(values["n_files"][index])
        star["n_frames"] += int(values["n_frames"][index])
        if values["detector"][index] not in star["detectors"]:
            star["detectors"].append(values["detector"][index])
        for key in ("gs_ra", "gs_dec", "gs_mag"):
            if not np.isfinite(star[key]):
                star[key] = values[key][index]
    return list(stars.values())


def _has_id(gs_id):
    return bool(gs_id) and gs_id.upper() != "UNKNOWN"


def guide_star_properties(model_or_guidestars_table, *, url=None, timeout=10.0, cache_dir=None,
                          offline=False):
    """Catalog properties of every guide star of a visit or program (``object_properties``).

    One row per distinct guide star, in order of first use, with its Gaia
    DR3 source id, coordinates and 2MASS magnitudes from the Guide Star
    Catalog (one request per star, cached on disk: see
    `query_guide_star_catalog`) next to its header values and the interval
    it guided.

    When the catalog cannot give a star (service down or slow, HTTP error,
    no row for the id), the row holds the header values instead (GS_RA,
    GS_DEC; catalog-only columns NaN or masked), its ``source`` is
    ``'header'``, and one `CatalogFallbackWarning` names every such star and
    why.  After a timeout or connection failure the remaining stars that are
    not cached are not requested (the warning says so), so an unreachable
    service costs one timeout, not one per star.

    Parameters
    ----------
    model_or_guidestars_table : GuideStarModel or astropy.table.Table
        A model, or its ``model.table('guidestars')`` (several such tables
        stacked are fine: rows of the same star are merged).
    url : str, optional
        Catalog service (default ``SPELUNKER_GSC_URL`` or `DEFAULT_GSC_URL`).
    timeout : float
        Seconds allowed for connecting and for each read, per request.
    cache_dir : str or os.PathLike or False, optional
        Catalog cache folder (default `default_cache_dir`); ``False``
        disables the cache.
    offline : bool
        Never use the network: cached stars get their catalog values, the
        others their header values, without a warning.

    Returns
    -------
    astropy.table.QTable
        Columns ``gs_id``; ``gaia_dr3_id`` (int64, masked when unknown);
        ``ra``, ``dec`` (deg: the catalog's, else the header's); ``J``,
        ``H``, ``K`` (2MASS, mag, NaN when unknown); ``fgs_mag`` (GS_MAG,
        mag); ``detector``; ``start``, ``stop`` (`~astropy.time.Time`, UTC:
        first and last data of the star over all its files); ``n_files``;
        ``n_frames``; ``source`` (``'catalog'`` or ``'header'``).

    Raises
    ------
    spelunker.errors.ParameterError
        The input is not a model or a guide-star table, or ``timeout`` is
        not a number > 0.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from spelunker.archive.catalog import guide_star_properties
    >>> stars = QTable({"gs_id": ["S1HP081234"], "gs_ra": [80.7931], "gs_dec": [-69.5388],
    ...                 "gs_mag": [13.4], "detector": ["GUIDER2"], "start_mjd": [59917.0664],
    ...                 "stop_mjd": [59917.0752], "n_files": [2], "n_frames": [31000]})
    >>> props = guide_star_properties(stars, offline=True, cache_dir=False)
    >>> print(" ".join(props.colnames))
    gs_id gaia_dr3_id ra dec J H K fgs_mag detector start stop n_files n_frames source
    >>> print(props["source"][0], props["fgs_mag"][0], props["start"][0].isot)
    header 13.4 mag 2022-12-04T01:35:36.960
    """
    stars = _guidestar_rows(model_or_guidestars_table)
    if not offline:
        timeout = check_positive_float(timeout, "timeout", unit="seconds", parse_text=True)
    service = _service_url(url)
    records = {}
    failures = {}
    unreachable = None
    session = None if offline else requests.Session()
    try:
        for star in stars:
            gs_id = star["gs_id"]
            if not _has_id(gs_id):
                if not offline:
                    failures[gs_id or "''"] = "no guide-star id (GDSTARID) in the header"
                continue
            if offline:
                records[gs_id] = _cached_record(gs_id, cache_dir)
                continue
            if unreachable is not None:
                records[gs_id] = _cached_record(gs_id, cache_dir)
                if records[gs_id] is None:
                    failures[gs_id] = f"not requested after the failure for {unreachable}"
                continue
            try:
                records[gs_id] = query_guide_star_catalog(
                    gs_id, url=service, timeout=timeout, cache_dir=cache_dir, session=session)
            except CatalogError as exc:
                failures[gs_id] = str(exc)
                if exc.reason in _UNREACHABLE:
                    unreachable = gs_id
    finally:
        if session is not None:
            session.close()

    table = _build_table(stars, records)
    table.meta["catalog_url"] = service
    if failures:
        reasons = "; ".join(f"{gs_id}: {reason}" for gs_id, reason in failures.items())
        msg = (f"Guide Star Catalog values unavailable for {len(failures)} of {len(stars)} "
               f"guide star(s); using the header values (GS_RA, GS_DEC, GS_MAG) for them "
               f"({reasons})")
        warnings.warn(msg, CatalogFallbackWarning, stacklevel=2)
    return table


def _build_table(stars, records):
    n = len(stars)
    gaia = np.zeros(n, dtype=np.int64)
    gaia_mask = np.ones(n, dtype=bool)
    ra = np.full(n, np.nan)
    dec = np.full(n, np.nan)
    bands = {band: np.full(n, np.nan) for band in _BANDS}
    source = []
    for index, star in enumerate(stars):
        record = records.get(star["gs_id"])
        if record is None:
            ra[index], dec[index] = star["gs_ra"], star["gs_dec"]
            source.append("header")
            continue
        source.append("catalog")
        if record["gaia_dr3_id"] is not None:
            gaia[index] = record["gaia_dr3_id"]
            gaia_mask[index] = False
        ra[index] = record["ra"] if np.isfinite(record["ra"]) else star["gs_ra"]
        dec[index] = record["dec"] if np.isfinite(record["dec"]) else star["gs_dec"]
        for band in _BANDS:
            bands[band][index] = record[band]

    table = QTable()
    table["gs_id"] = np.array([s["gs_id"] for s in stars], dtype=str)
    table["gaia_dr3_id"] = MaskedColumn(gaia, mask=gaia_mask, dtype=np.int64)
    table["ra"] = ra * u.deg
    table["dec"] = dec * u.deg
    for band in _BANDS:
        table[band] = bands[band] * u.mag
    table["fgs_mag"] = np.array([s["gs_mag"] for s in stars], dtype=float) * u.mag
    table["detector"] = np.array([",".join(s["detectors"]) for s in stars], dtype=str)
    start = Time(np.array([s["start_mjd"] for s in stars], dtype=float), format="mjd",
                 scale="utc")
    stop = Time(np.array([s["stop_mjd"] for s in stars], dtype=float), format="mjd",
                scale="utc")
    start.format = stop.format = "isot"
    table["start"] = start
    table["stop"] = stop
    table["n_files"] = np.array([s["n_files"] for s in stars], dtype=np.int64)
    table["n_frames"] = np.array([s["n_frames"] for s in stars], dtype=np.int64)
    table["source"] = np.array(source, dtype="U7")
    table["gaia_dr3_id"].description = "Gaia DR3 source_id (from the Guide Star Catalog)"
    table["ra"].info.description = "Right ascension (catalog, else GS_RA)"
    table["dec"].info.description = "Declination (catalog, else GS_DEC)"
    table["J"].info.description = "2MASS J (catalog)"
    table["H"].info.description = "2MASS H (catalog)"
    table["K"].info.description = "2MASS Ks (catalog)"
    table["fgs_mag"].info.description = "FGS magnitude of the guide star (GS_MAG)"
    table["start"].info.description = "Start of the star's data over all its files (UTC)"
    table["stop"].info.description = "End of the star's data over all its files (UTC)"
    table["source"].info.description = "'catalog' or 'header' (catalog unavailable)"
    return table
