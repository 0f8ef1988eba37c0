"""Download JWST guide-star products from MAST.

`download_products` fetches products (as listed by
`spelunker.archive.mast.find_guidestar_products`, or bare names) from
``<server>/api/v0.1/Download/file`` into one flat directory, in parallel,
with retries and backoff, size checks, a progress bar, a cache, and
temporary files (`spelunker.atomic.atomic_file`) that never leave a
partial product behind.

Tokens
    ``token=`` or ``MAST_API_TOKEN``, sent only as the ``Authorization``
    header; masked in every log record while the downloads run
    (`spelunker.archive.tokens`).

Where files land
    Directly in the ``directory`` given to `download_products` (no
    ``mastDownload/JWST/<obs_id>/`` tree): guide-star product names are unique
    across the archive, and a flat folder is what
    `spelunker.read_guidestar` reads.

The cache without MAST
    `cached_products` finds the complete products of a program (observation,
    visit) already in a folder, at any depth (also the original tool's
    ``mastDownload/JWST/<obs_id>/`` tree), without asking MAST: the notebook
    session re-opens a downloaded program with it when MAST cannot be
    reached.
"""

import contextlib
import glob
import logging
import math
import os
import stat
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import requests
from astropy.table import Row, Table
from tqdm import tqdm

from spelunker._validate import (
    check_int_range,
    check_output_dir,
    check_path,
    check_positive_int,
)
from spelunker.archive.mast import RETRY_STATUS, check_request_options, resolve_server
from spelunker.archive.tokens import TOKEN_ENV, masked_logs, resolve_token
from spelunker.atomic import TEMPORARY_PREFIX, atomic_file, is_temporary
from spelunker.errors import CorruptFileError, DownloadError, ParameterError
from spelunker.io import open_complete_fits
from spelunker.names import (
    FINE_GUIDE_GLOB,
    MODE_EXP_TYPES,
    check_product_name,
    guider_name_fields,
    id_number,
    id_number_or_none,
    padded_id,
    parse_product_name,
    selection_text,
)

__all__ = ["cached_products", "download_products"]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_LEVEL_SUFFIX = {1: "uncal", 2: "cal"}
_FATAL_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not found"}


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
    if isinstance(products, (str, os.PathLike, dict, Row)):
        products = [products]
    if isinstance(products, Table):
        if "fileName" not in products.colnames:
            msg = "the products table has no 'fileName' column"
            raise DownloadError(msg)
        sizes = (products["fileSize"] if "fileSize" in products.colnames
                 else [None] * len(products))
        pairs = list(zip(products["fileName"], sizes, strict=True))
    elif not isinstance(products, Iterable) or isinstance(products, (bytes, bytearray)):
        msg = (f"download_products: products={products!r:.60} must be a products table "
               "(find_guidestar_products), a row or mapping with 'fileName', a file name, or "
               "a sequence of these")
        raise ParameterError(msg)
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


def _remove_stale_parts(directory, name, max_age):
    """Delete temporary files of ``name`` left by a killed process (older than max_age s).

    Younger ones may be another process's download in progress: they stay.
    """
    now = time.time()
    for part in directory.glob(f"{glob.escape(TEMPORARY_PREFIX)}*-{glob.escape(name)}"):
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
            for keyword, key in (("PROGRAM", "program"), ("OBSERVTN", "observation"),
                                 ("VISIT", "visit")):
                if id_number_or_none(header.get(keyword), key) != fields[key]:
                    value = str(header.get(keyword, "") or "").strip()
                    return (f"its header {keyword} is {value!r}, the name's "
                            f"{padded_id(fields[key], key)}")
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


#: Where the original spelunker tool (and astroquery) put downloads, below a folder:
#: ``mastDownload/JWST/<obs_id>/<name>``, also inside the original's
#: ``spelunker_outputs`` (or any one) sub-folder.
_ORIGINAL_LAYOUTS = ("mastDownload/JWST/*/{name}", "*/mastDownload/JWST/*/{name}")


def _original_layout_copy(directory, name, size):
    """A complete copy of ``name`` in the original tool's layout below ``directory``, or None.

    Complete as a cached copy in ``directory`` itself: the size the archive
    lists, or, without one, a complete FITS file of this product
    (`_cached_product_problem`).  The copy nearest the top wins.
    """
    for pattern in _ORIGINAL_LAYOUTS:
        for path in sorted(directory.glob(pattern.format(name=glob.escape(name)))):
            try:
                st = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if size is not None and st.st_size == size:
                log.info("Using %s (the original tool's download layout): %d bytes, as the "
                         "archive lists", path, size)
                return path
            if size is None and _cached_product_problem(path, name) is None:
                log.info("Using %s (the original tool's download layout): a complete FITS "
                         "file of this product", path)
                return path
            log.warning("Not using %s (the original tool's download layout): %s", path,
                        f"{st.st_size} bytes, the archive lists {size}" if size is not None
                        else _cached_product_problem(path, name))
    return None


def _check_progress(progress):
    """``progress`` if it is None, a bool or an object with ``update(n)``; else ParameterError."""
    if not (progress is None or isinstance(progress, bool) or hasattr(progress, "update")):
        msg = (f"progress={progress!r} must be None, True, False or an object with an "
               "update(n) method")
        raise ParameterError(msg)
    return progress


class _Progress:
    """Thread-safe byte counter feeding a tqdm bar or a user's ``update(n)`` object."""

    def __init__(self, progress, total, n_files):
        self._lock = threading.Lock()
        self._own = None
        if _check_progress(progress) is None or isinstance(progress, bool):
            self._own = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=f"MAST download ({n_files} files)", leave=False,
                             disable=None if progress is None else not progress)
            self._target = self._own
        else:
            self._target = progress

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
    """One GET of one file into a temporary file (`atomic_file`), renamed when complete."""
    name, size, directory = job["name"], job["size"], job["directory"]
    final = directory / name
    progress, cancel = job["progress"], job["cancel"]
    received = 0
    complete = False
    try:
        session = job["session"]()
        headers = {"Accept-Encoding": "identity"}
        if job["secret"] is not None:
            headers["Authorization"] = f"token {job['secret'].reveal()}"
        with atomic_file(final) as tmp, session.get(
                job["url"], params={"uri": f"mast:JWST/product/{name}"}, headers=headers,
                stream=True, timeout=(job["timeout"], job["timeout"])) as resp:
            status = resp.status_code
            if status in _FATAL_STATUS:
                if status in (401, 403):
                    hint = ("MAST rejected the token" if job["secret"] is not None else
                            f"exclusive-access data need a MAST API token (token= or {TOKEN_ENV})")
                    raise _Fatal(f"HTTP {status} ({_FATAL_STATUS[status]}): {hint}")
                raise _Fatal(f"HTTP 404 (not found): MAST has no file mast:JWST/product/{name}")
            if status in RETRY_STATUS or 500 <= status < 600:
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
                raise _Retryable(f"incomplete transfer: {received} of {size} bytes "
                                 "(no Content-Length)")
        complete = True
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
        if not complete:  # atomic_file has removed the temporary file
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
    name, a SCI extension).  A file missing from ``directory`` itself is
    also looked for, under the same conditions, in the original spelunker
    tool's (and astroquery's) layout ``directory/mastDownload/JWST/<obs_id>/``
    (also one sub-folder deeper, as the original's ``spelunker_outputs``):
    a complete copy there is used where it is, not downloaded again.  Any
    other local copy is downloaded again; it is
    never deleted before its replacement is complete (the new file is
    renamed over it), and removed only if the new download fails, so a
    failed download never loses a usable file and never keeps an unusable
    one.  Each download streams into a hidden temporary file
    (`spelunker.atomic.atomic_file`: ``.spelunker-partial-<random>-<name>``)
    in the same directory, synced to disk, and is renamed only once
    complete with the expected size (the archive's ``fileSize`` and the
    reply's Content-Length): an interrupted or failed download never leaves
    a partial file under the product's name, and its temporary file is
    removed on every error path, including KeyboardInterrupt.  A temporary
    file of a killed process is removed by the next download of the same
    product once it is older than ``max(600, 2 * timeout)`` seconds (a
    younger one may be another process's download in progress).

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
    spelunker.errors.ParameterError
        An unusable ``directory``, ``max_workers``, ``retries``,
        ``backoff``, ``timeout``, ``progress`` or ``server`` (before any
        request).

    Examples
    --------
    >>> from spelunker.archive import download_products, find_guidestar_products
    >>> products = find_guidestar_products(1534, observation=1, visit=1)  # doctest: +SKIP
    >>> paths = download_products(products, "guidestars")  # doctest: +SKIP
    """
    where = "download_products"
    items = _product_items(products)
    max_workers = check_positive_int(max_workers, "max_workers", where=where)
    timeout, retries, backoff = check_request_options(timeout, retries, backoff, where=where)
    _check_progress(progress)
    directory = check_output_dir(directory, "directory", where=where)
    server = resolve_server(server)
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
        _remove_stale_parts(directory, name, max_age=max(600.0, 2 * timeout))
        final = directory / name
        try:
            st = final.lstat()
        except FileNotFoundError:
            found = _original_layout_copy(directory, name, size)
            if found is not None:
                done[name] = found
            else:
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
    executor = ThreadPoolExecutor(max_workers=min(max_workers, len(todo)),
                                  thread_name_prefix="spelunker-download")
    try:
        with masked_logs(secret):
            futures = {}
            for name, size in todo:
                job = {"name": name, "size": size, "directory": directory, "url": url,
                       "secret": secret, "timeout": timeout, "retries": retries,
                       "backoff": backoff, "progress": bar, "cancel": cancel,
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


def cached_products(directory, program, *, observation=None, visit=None, calib_level=2):
    """The complete fine-guide products of a program already in a folder (no request).

    Looks through ``directory`` and its sub-folders (so both the flat
    folder `download_products` fills and the original tool's
    ``mastDownload/JWST/<obs_id>/<file>`` tree are covered) for fine-guide
    products (``jw..._gs-fg_..._cal.fits``, or ``_uncal.fits`` with
    ``calib_level=1``) whose name (`spelunker.names.parse_product_name`)
    has this program, and this observation and visit when given.  Each
    file must be a complete product of its name, as for a cached download
    whose size the archive does not list (headers only: every HDU inside
    the file, the closing ASDF extension, FILENAME, PROGRAM, OBSERVTN,
    VISIT and EXP_TYPE matching the name, a SCI extension of the right
    shape); a file that is not is left out with a logged warning.  A
    product found several times (the original tool downloads a product
    into the folder of every exposure that lists it) is returned once: the
    copy nearest the top of ``directory`` that is complete.

    Only the folder is looked at: whether it holds *every* product of the
    program only MAST can tell.

    Parameters
    ----------
    directory : str or os.PathLike
        The download folder.  A folder that does not exist holds nothing.
    program : int or str
        Program number (``1534`` or ``'01534'``).
    observation, visit : int or str, optional
        Observation and visit numbers; None selects all.
    calib_level : {2, 1}, optional
        Calibrated (``_cal``) or uncalibrated (``_uncal``) products.

    Returns
    -------
    list of pathlib.Path
        The products, sorted by file name (program, observation, visit,
        then the end of the data): `spelunker.read_guidestar` reads them in
        time order.  Empty when the folder holds none.

    Raises
    ------
    spelunker.errors.ParameterError
        A number that is not an integer (or digits) in range
        (`spelunker.names.id_number`), another ``calib_level``, or a
        ``directory`` that is not a path.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.archive.download import cached_products
    >>> folder = tempfile.mkdtemp()
    >>> visits = [datasets.VisitSpec(observation=1, n_frames=20, n_segments=1),
    ...           datasets.VisitSpec(observation=2, n_frames=20, n_segments=1)]
    >>> _ = datasets.make_guidestar_files(folder, visits=visits, seed=1)
    >>> [p.name[:13] for p in cached_products(folder, 1534)]
    ['jw01534001001', 'jw01534002001']
    >>> [p.name[:13] for p in cached_products(folder, "1534", observation="2")]
    ['jw01534002001']
    >>> cached_products(folder, 1535)
    []
    """
    where = "cached_products"
    program = id_number(program, "program", where=where)
    observation = None if observation is None else id_number(observation, "observation",
                                                             where=where)
    visit = None if visit is None else id_number(visit, "visit", where=where)
    suffix = _LEVEL_SUFFIX[check_int_range(calib_level, "calib_level", 1, 2, where=where)]
    directory = check_path(directory, "directory", kind="folder", where=where)
    if not directory.is_dir():
        log.debug("No cached products: %s is not a folder", directory)
        return []
    wanted = {"program": program, "observation": observation, "visit": visit}
    copies = {}
    for path in directory.rglob(FINE_GUIDE_GLOB):
        if is_temporary(path):
            log.debug("Ignoring %s: a download or copy in progress (or interrupted)", path)
            continue
        try:
            info = parse_product_name(path.name)
        except ParameterError:
            log.debug("Ignoring %s: not a product name", path)
            continue
        if (info["kind"] != "guider" or info["mode"] != "fg" or info["suffix"] != suffix
                or any(value is not None and info[key] != value
                       for key, value in wanted.items())
                or not path.is_file()):
            continue
        copies.setdefault(path.name, []).append(path)
    found = []
    for name, paths in copies.items():
        paths.sort(key=lambda p: (len(p.relative_to(directory).parts), str(p)))
        for path in paths:
            problem = _cached_product_problem(path, name)
            if problem is None:
                found.append(path)
                if len(paths) > 1:
                    log.debug("%s is in %s %d times; using %s", name, directory, len(paths),
                              path)
                break
            log.warning("Leaving out %s: not a complete product (%s)", path, problem)
    found.sort(key=lambda p: (p.name, str(p)))
    log.info("%d cached fine-guide product(s) of %s in %s", len(found),
             selection_text(program, observation, visit), directory)
    return found
