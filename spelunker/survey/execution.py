"""Run a survey on a Dask cluster: one task per visit, resumed where an earlier run stopped.

`run_survey` checks every argument and the input before it creates
anything, connects to the cluster (or starts a
`~distributed.LocalCluster`), prepares the output folder (removing the
temporary entries an interrupted survey left there) and maps `run_visit`
over the visits that are not complete yet; the rows gather into
``survey.ecsv`` and ``survey.parquet``, and their guide stars into the
catalogue ``guidestars.ecsv`` and ``guidestars.parquet``
(`spelunker.survey.guidestars`), both rebuilt from every visit's row at the
end of each run, resumed or not.  Every file is written through
`spelunker.atomic`, so a killed survey never leaves a partial product, row
or table under a final name.
"""

import contextlib
import hashlib
import json
import logging
import os
import resource
import secrets
import socket
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pyarrow.parquet as pq
from astropy.time import Time
from distributed import Client, LocalCluster, as_completed
from distributed.comm import get_address_host_port, parse_address
from distributed.comm.registry import backends
from stpipe import config_parser
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from spelunker._validate import available_cpus, check_bool, check_path, check_positive_int
from spelunker.archive import download_products
from spelunker.archive.tokens import resolve_token
from spelunker.atomic import atomic_file, remove_stale_temporaries
from spelunker.errors import GuideStarInputError, ParameterError, SurveyError
from spelunker.stpipe import GuideStarPipeline, parameter_file
from spelunker.stpipe.parameters import PARAMETER_FILES
from spelunker.survey.guidestars import catalogue_arrow, guidestar_catalogue, visit_guidestars
from spelunker.survey.planning import VisitTask, plan_survey
from spelunker.survey.summary import (
    arrow_table,
    empty_row,
    error_text,
    survey_table,
    visit_summary,
)
from spelunker.survey.environment import nanny_overrides
from spelunker.survey.workers import START_METHOD, start_fork_server

__all__ = ["SCHEDULER_TIMEOUT", "THREADED_STEPS", "check_scheduler_address", "run_survey",
           "run_visit"]

log = logging.getLogger(__name__)

#: The steps of the pipeline whose threads (``ncpus``) `run_visit` sets to a worker's share.
THREADED_STEPS = ("fit", "periodogram", "variability")

#: Seconds allowed to reach a running scheduler (``scheduler=``) before the survey gives up.
SCHEDULER_TIMEOUT = 5.0

# Dask's switch of the workers' sampling profiler (on only with the dashboard, see `_client`).
_PROFILER_KEY = "distributed.worker.profile.enabled"

# Schemes whose address is host:port over TCP (the connection can be tried first).
_TCP_SCHEMES = ("tcp", "tls", "ws", "wss")


# --------------------------------------------------------------------------
# One visit


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


def _save_product(model, path):
    """Save the visit's product as the pipeline does: results and tables, frames left out."""
    # keep_name: the product records its own file name (meta.filename).
    with model.without_frames(), atomic_file(path, keep_name=True) as partial:
        model.save(str(partial))
    return path


def _row_path(output, visit_id):
    return Path(output) / "rows" / f"{visit_id}.json"


def _write_row(output, row):
    path = _row_path(output, row["visit_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(row, indent=1, sort_keys=True)
    with atomic_file(path) as partial:
        partial.write_text(text)


def _config_digest(config_file):
    return hashlib.sha256(Path(config_file).read_bytes()).hexdigest()[:16]


def run_visit(task, *, output, config_file=None, download_dir=None, token=None, server=None,
              keep_downloads=True, threads=None):
    """Download, run and summarise one visit; the task a survey maps onto the cluster.

    Any error of the visit (a MAST or download error, a corrupt or unusable
    product, a pipeline failure) is caught and reported in the row, so a
    survey goes on; after an input error in downloaded files the visit's
    cached downloads are removed, so that a retry downloads them again.
    The row is also written to ``<output>/rows/<visit_id>.json``, with the
    visit's guide stars for the catalogue under ``'_guidestars'``
    (`spelunker.survey.guidestars.visit_guidestars`).

    Parameters
    ----------
    task : VisitTask
        The visit.
    output : str or os.PathLike
        The survey's output folder (shared by the workers).
    config_file : str or os.PathLike, optional
        ASDF parameter file of `~spelunker.GuideStarPipeline` or a shipped
        profile name, as in `run_survey`; default the quick-look profile
        (``parameter_file("quicklook")``).
    download_dir : str or os.PathLike, optional
        Download cache; default ``<output>/downloads``.
    token : str, optional
        MAST API token; default the worker's ``$MAST_API_TOKEN``.
    server : str, optional
        MAST base URL; default astroquery's.
    keep_downloads : bool, optional
        Keep the downloaded products after a successful run.
    threads : int, optional
        Threads of each step of `THREADED_STEPS` whose ``ncpus`` the
        parameter file leaves to its default (every CPU of the process): a
        survey's workers share the machine's cores, so `run_survey` gives
        each its share.  Default: the parameter file's.

    Returns
    -------
    dict
        The visit's row (`COLUMNS`), ``status`` ``'ok'`` or ``'error'``.

    Raises
    ------
    spelunker.errors.ParameterError
        ``task`` is not a `VisitTask`, ``output`` or ``download_dir`` is not
        a path, or ``config_file`` is neither a file nor a profile name
        (checked before anything is written).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.survey import plan_survey, run_visit
    >>> folder = tempfile.mkdtemp()
    >>> _ = datasets.make_guidestar_files(folder, visits=[datasets.VisitSpec(
    ...     n_frames=200, n_segments=2, frame_time=1.0)], seed=1)
    >>> (task,), _ = plan_survey(input_dir=folder)
    >>> row = run_visit(task, output=tempfile.mkdtemp())
    >>> row["status"], row["n_frames"], row["product"].endswith(task.product_name)
    ('ok', 200, True)
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    if not isinstance(task, VisitTask):
        msg = f"run_visit: task={task!r:.60} must be a VisitTask (plan_survey makes them)"
        raise ParameterError(msg)
    output = check_path(output, "output", kind="folder", where="run_visit")
    config_file = _config_path(config_file, where="run_visit")
    if download_dir is not None:
        download_dir = check_path(download_dir, "download_dir", kind="folder", where="run_visit")
    row = empty_row(task.program, task.observation, task.visit)
    row["parameter_file"] = config_file
    row["_config"] = _config_digest(config_file)
    downloads = download_dir if download_dir is not None else output / "downloads"
    paths = []
    model = None
    try:
        if task.source == "mast":
            products = [{"fileName": name, "fileSize": size}
                        for name, size in zip(task.files, task.sizes or [None] * len(task.files),
                                              strict=True)]
            paths = download_products(products, downloads, token=token, server=server,
                                      progress=False)
        else:
            paths = [Path(p) for p in task.files]
        overrides = _thread_overrides(config_file, threads)
        model = GuideStarPipeline.call([str(p) for p in paths], config_file=config_file,
                                       save_results=False, configure_log=False, **overrides)
        row.update(visit_summary(model))
        row["_guidestars"] = visit_guidestars(model)
        products = output / "products"
        products.mkdir(parents=True, exist_ok=True)
        product = _save_product(model, products / task.product_name)
        row.update(product=str(product), product_bytes=product.stat().st_size, status="ok")
        if task.source == "mast" and not keep_downloads:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    except Exception as exc:  # noqa: BLE001 - one visit's failure is its row, not the survey's
        row.update(status="error", error=error_text(exc, token))
        log.error("Survey visit %s failed: %s", task.visit_id, row["error"])
        if task.source == "mast" and isinstance(exc, GuideStarInputError):
            for name in task.files:
                with contextlib.suppress(FileNotFoundError):
                    (downloads / name).unlink()
    finally:
        if model is not None:
            model.close()
    row.update(elapsed=time.perf_counter() - started, cpu_time=time.process_time() - cpu_started,
               worker=f"{socket.gethostname()}:{os.getpid()}",
               worker_peak_rss=_peak_rss_mb(), finished=Time.now().isot)
    _write_row(output, row)
    return row


def _thread_overrides(config_file, threads):
    """The pipeline's overrides giving ``threads`` to the steps the file leaves at every CPU.

    The file is read as stpipe reads it (its ``class`` is not resolved:
    that would import every package's steps, jwst's among them, 0.4 s in a
    worker's first visit).
    """
    if threads is None:
        return {}
    steps = config_parser.load_config_file(config_file).get("steps", {})
    shares = {name: {"ncpus": threads} for name in THREADED_STEPS
              if steps.get(name, {}).get("ncpus") is None}
    return {"steps": shares} if shares else {}


# --------------------------------------------------------------------------
# Checks made before anything is created


def _check_progress(progress):
    if isinstance(progress, (int, np.integer)) and not isinstance(progress, bool):
        progress = bool(progress)
    if progress not in (None, True, False):
        msg = f"progress={progress!r} must be None, True or False"
        raise ParameterError(msg)
    return progress


def _config_path(config_file, *, where=None):
    if config_file is None:
        return parameter_file("quicklook")
    if isinstance(config_file, str) and config_file in PARAMETER_FILES:
        return parameter_file(config_file)
    if not isinstance(config_file, (str, os.PathLike)) or not Path(config_file).is_file():
        msg = (f"config_file={str(config_file)!r} is neither a file nor a shipped profile "
               f"({', '.join(sorted(PARAMETER_FILES))})")
        raise ParameterError(f"{where}: {msg}" if where else msg)
    return str(Path(config_file).resolve())


def check_scheduler_address(scheduler):
    """``scheduler`` if it has the form of a Dask scheduler address, before connecting.

    Parameters
    ----------
    scheduler : str
        ``tcp://host:port`` (or ``host:port``, ``tls://host:port``, ...).

    Returns
    -------
    str
        The address, stripped.

    Raises
    ------
    spelunker.errors.ParameterError
        Not a string, an unknown scheme, or no host or port.

    Examples
    --------
    >>> from spelunker.survey.execution import check_scheduler_address
    >>> check_scheduler_address(" tcp://scheduler:8786 ")
    'tcp://scheduler:8786'
    >>> check_scheduler_address("http://scheduler:8787")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: scheduler='http:...' ... (unknown scheme 'http'; ...)
    """
    address = scheduler.strip() if isinstance(scheduler, str) else ""
    problem = "" if address else "empty or not text"
    if address:
        scheme = parse_address(address, strict=False)[0]
        if scheme not in backends:
            problem = f"unknown scheme {scheme!r}; known: {', '.join(sorted(backends))}"
        elif scheme in _TCP_SCHEMES:
            try:
                host, port = get_address_host_port(address)
            except ValueError as exc:  # distributed's own message: no port, a port not a number
                host, port, problem = None, None, str(exc)
            if not problem and not host:
                problem = "no host"
            elif not problem and not 0 < port < 65536:
                problem = f"port {port} is not in 1..65535"
    if problem:
        msg = (f"scheduler={scheduler!r} is not a Dask scheduler address such as "
               f"tcp://host:8786 ({problem})")
        raise ParameterError(msg)
    return address


def _check_output_folder(value, name):
    """``value`` resolved, as a folder the survey may create and write into; nothing created."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        msg = f"{name}={value!r} must be a folder path"
        raise ParameterError(msg)
    path = Path(value).expanduser().resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is inside {str(existing)!r}, a file"
        msg = f"{name}={str(value)!r} {where}, not a folder; give a folder path"
        raise ParameterError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"{name}={str(value)!r}: the folder {str(existing)!r} is not writable"
        raise ParameterError(msg)
    return path


def _check_output(output, *, downloads):
    """The output folder; its sub-folders and tables must not be of the other kind."""
    output = _check_output_folder(output, "output")
    entries = [("products", True), ("rows", True)]
    entries += [(name, False) for name in ("survey.ecsv", "survey.parquet", "guidestars.ecsv",
                                           "guidestars.parquet")]
    entries += [("downloads", True)] if downloads else []
    for entry, folder in entries:
        path = output / entry
        if path.exists() and path.is_dir() != folder:
            kind = "a file" if folder else "a folder"
            msg = f"output={str(output)!r}: {entry} in it is {kind}; move it away"
            raise ParameterError(msg)
    return output


# --------------------------------------------------------------------------
# The cluster


def _probe_scheduler(address, timeout):
    """Fail at once when nothing answers as a Dask scheduler at ``address``.

    A Dask scheduler sends its handshake as soon as a TCP connection opens;
    a closed port, an unknown host or a server that is not a scheduler (the
    dashboard's port, say) would otherwise make the Client retry or wait.
    """
    scheme = parse_address(address, strict=False)[0]
    if scheme not in _TCP_SCHEMES:
        return
    host, port = get_address_host_port(address)
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        reason = f"unknown host {host!r} ({exc.strerror or exc})"
    except TimeoutError:
        reason = f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        reason = f"{host}:{port}: {(exc.strerror or str(exc)).lower()}"
    else:
        reason = None
        with connection:
            if scheme == "tcp":  # tls: the server speaks only after the client's TLS hello
                try:
                    answered = bool(connection.recv(1))
                except OSError:  # a timeout or a reset
                    answered = False
                if not answered:
                    reason = (f"{host}:{port} accepts connections but does not answer as a "
                              f"Dask scheduler within {timeout:g} s (the dashboard's port?)")
    if reason:
        msg = f"scheduler={address!r}: no Dask scheduler reachable: {reason}"
        raise SurveyError(msg)


def _connect(address):
    """A Client of the scheduler at ``address``, or a SurveyError within `SCHEDULER_TIMEOUT`.

    The Client keeps Dask's own timeout (``distributed.comm.timeouts.connect``):
    it also bounds its reconnections during a long survey, which a short
    value would cut off.
    """
    log.info("Connecting to the Dask scheduler at %s", address)
    _probe_scheduler(address, SCHEDULER_TIMEOUT)
    try:
        return Client(address)
    except OSError as exc:  # distributed: timed out, or the connection closed
        msg = f"scheduler={address!r}: cannot connect to the Dask scheduler: {exc}"
        raise SurveyError(msg) from exc


@contextlib.contextmanager
def _client(workers, scheduler, dashboard=False):
    """A Client of the cluster at ``scheduler``, or of a new LocalCluster.

    The LocalCluster serves Dask's dashboard only when ``dashboard`` is
    True (it needs bokeh, whose import costs the start 0.75 s of CPU).
    Without it, its workers run without Dask's sampling profiler
    (``distributed.worker.profile.enabled``), whose only readers are the
    dashboard's profile pages and performance reports: every 10 ms it takes
    the GIL from the visit to walk its stack, which made the visits about
    10 % slower.

    The workers' ``spelunker`` log records (warnings and errors) are
    forwarded to this process, where they are printed with its own logs
    (and so above the progress bar).
    """
    if scheduler is not None:
        with _connect(scheduler) as client:
            client.forward_logging("spelunker", level=logging.WARNING)
            try:
                yield client
            finally:
                # The scheduler outlives the survey: take the forwarding plugin back.
                with contextlib.suppress(OSError):
                    client.unforward_logging("spelunker")
        return
    # One thread per worker process: a worker holds one visit at a time.  The start method
    # stays set while the cluster lives: a worker that dies is started again the same way.
    # The workers fork from a server started earlier (maybe by an earlier survey): env
    # gives them this process's environment as it is now (MAST_API_TOKEN, ...), as a
    # spawned worker had it.
    start_fork_server()
    with dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD,
                          _PROFILER_KEY: bool(dashboard), **nanny_overrides()}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0" if dashboard else None, preload=[__name__],
                         env=dict(os.environ)) as cluster, \
            Client(cluster) as client:
        log.info("Started a LocalCluster of %d workers%s", workers,
                 f" (dashboard {client.dashboard_link})" if dashboard else "")
        client.forward_logging("spelunker", level=logging.WARNING)
        yield client


def _is_console_handler(handler):
    return isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout,
                                                                             sys.stderr)


def dask_setup(worker):
    """Preload of the survey's LocalCluster workers (Dask calls it as each worker starts).

    A worker inherits the console log handlers of the process it is forked
    from (the fork server, `spelunker.survey.workers`, has none unless an
    import added one): they are removed, so that its records reach the
    console once, forwarded to this process (``forward_logging``), above the
    progress bar.
    """
    del worker  # the same for every worker
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _is_console_handler(h)]:
        root.removeHandler(handler)


@contextlib.contextmanager
def _logs_above(bar):
    """While ``bar`` shows, print this process's console log lines above it (tqdm.write)."""
    if bar.disable:
        yield
        return
    loggers = [logging.getLogger()]
    dask_logger = logging.getLogger("distributed")  # Dask's own handler (nanny, scheduler)
    if any(_is_console_handler(h) for h in dask_logger.handlers):
        loggers.append(dask_logger)
    with logging_redirect_tqdm(loggers=loggers, tqdm_class=tqdm):
        yield


# --------------------------------------------------------------------------
# The survey


def _read_row(output, visit_id):
    try:
        return json.loads(_row_path(output, visit_id).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _complete(row, digest):
    """Whether a previous row (run with the parameter file of ``digest``) is still good."""
    if row is None or row.get("status") != "ok" or not row.get("product"):
        return False
    if row.get("_config") != digest:
        return False
    try:
        return Path(row["product"]).stat().st_size == row.get("product_bytes")
    except OSError:
        return False


def _prepare_output(output, download_dir):
    """Create the output folders; remove what an interrupted survey left half-written.

    Only the survey's own folders are cleaned: a ``download_dir`` given
    elsewhere may be a cache other runs write into (the downloader removes
    its own stale files there).
    """
    folders = [output, output / "products", output / "rows"]
    if download_dir is None:
        folders.append(output / "downloads")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"output={str(output)!r}: the folder cannot be created ({exc.strerror or exc})"
        raise SurveyError(msg) from exc
    removed = [entry for folder in folders for entry in remove_stale_temporaries(folder)]
    if removed:
        log.info("Removed %d temporary entries left by an interrupted survey in %s",
                    len(removed), output)


def _write_tables(output, rows):
    """survey.* and guidestars.* of ``rows``, every visit's row (those of earlier runs too)."""
    table = survey_table(rows)
    catalogue = guidestar_catalogue(rows)
    for name, astropy_table, arrow in (("survey", table, arrow_table(rows)),
                                       ("guidestars", catalogue, catalogue_arrow(catalogue))):
        with atomic_file(output / f"{name}.ecsv") as partial:
            astropy_table.write(partial, format="ascii.ecsv", overwrite=True)
        with atomic_file(output / f"{name}.parquet") as partial:
            pq.write_table(arrow, partial)
    return table


def _failed_task_row(task, exc, token, config_file):
    row = empty_row(task.program, task.observation, task.visit)
    row.update(status="error", error=error_text(exc, token), parameter_file=config_file,
               finished=Time.now().isot)
    row["_config"] = _config_digest(config_file)
    return row


def _worker_share(workers, scheduler):
    """Threads of each visit's threaded steps (`run_visit`'s ``threads``).

    A LocalCluster's workers share this machine's CPUs: each gets CPUs //
    workers.  On an existing cluster this machine's CPUs say nothing of the
    workers': the parameter file decides (None).
    """
    return None if scheduler is not None else max(1, available_cpus() // workers)


def _run_tasks(client, todo, bar, *, output, config_file, download_dir, token, server,
               keep_downloads, threads):
    """Map `run_visit` over ``todo``; the rows by visit id, as the tasks end."""
    rows = {}
    failed = 0
    bar.set_postfix(failed=failed)
    futures = client.map(run_visit, todo, output=str(output), config_file=config_file,
                         download_dir=download_dir, token=token, server=server,
                         keep_downloads=keep_downloads, threads=threads,
                         key=[f"spelunker-survey-{t.visit_id}-{secrets.token_hex(4)}"
                              for t in todo], pure=False)
    owner = {future.key: task for future, task in zip(futures, todo, strict=True)}
    for future in as_completed(futures):
        task = owner[future.key]
        try:
            row = future.result()
        except Exception as exc:  # noqa: BLE001 - a dead worker fails one visit
            log.error("Survey visit %s failed on the cluster: %s", task.visit_id, exc)
            row = _failed_task_row(task, exc, token, config_file)
            _write_row(output, row)
        future.release()
        rows[task.visit_id] = row
        failed += row["status"] != "ok"
        bar.set_postfix(failed=failed, refresh=False)
        bar.update(1)
    return rows


def run_survey(output, *, programs=(), observations=(), visits=(), input_dir=None,
               config_file=None, workers=None, scheduler=None, download_dir=None, token=None,
               server=None, keep_downloads=True, rerun=False, progress=None, dashboard=False):
    """Run the pipeline on every visit of programs, observations, visits or a folder.

    One task per visit (`run_visit`) is mapped onto a ``dask.distributed``
    cluster; the rows gather into the survey table, written to
    ``<output>/survey.ecsv`` and ``<output>/survey.parquet``, and the
    guide-star catalogue of all the rows
    (`~spelunker.survey.guidestars.guidestar_catalogue`), written to
    ``<output>/guidestars.ecsv`` and ``<output>/guidestars.parquet``.  A second
    run into the same ``output`` skips the visits already complete (see the
    module) and runs the others again, failed ones included.

    Every argument, the input folder and the MAST queries are checked
    before anything is created; a ``scheduler`` that does not answer is an
    error within `SCHEDULER_TIMEOUT` seconds.  Before the tasks are sent,
    the temporary entries a killed survey left in the output folders are
    removed (and logged).  While the progress bar shows, log lines (this
    process's and the workers' warnings, forwarded) print above it.

    Parameters
    ----------
    output : str or os.PathLike
        Output folder (created if missing).  On an existing cluster it must
        be on a file system the workers share.
    programs, observations, visits, input_dir
        What to survey, as in `plan_survey`.
    config_file : str or os.PathLike, optional
        A `~spelunker.GuideStarPipeline` parameter file or a shipped profile
        name (``'quicklook'``, ``'pipeline'``); default ``'quicklook'``.
    workers : int, optional
        Worker processes of the `~distributed.LocalCluster` (one thread
        each); default the available CPUs.  Not used with ``scheduler``.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``): run there
        instead of on a new LocalCluster.
    download_dir : str or os.PathLike, optional
        Download cache; default ``<output>/downloads``.
    token : str, optional
        MAST API token; default ``$MAST_API_TOKEN`` (on the workers too:
        a token given here travels with the tasks).
    server : str, optional
        MAST base URL; default astroquery's.
    keep_downloads : bool, optional
        Keep downloaded products after a visit's successful run.
    rerun : bool, optional
        Run every visit again, complete or not.
    progress : bool or None, optional
        A bar of visits done / total with the failures; None shows it when
        stderr is a terminal.
    dashboard : bool, optional
        Serve Dask's dashboard (the workers, their tasks and memory) from
        the LocalCluster; its address is logged.  It needs bokeh.  Not used
        with ``scheduler`` (that cluster has its own).

    Returns
    -------
    astropy.table.Table
        The survey table (`COLUMNS`), one row per visit (and per failed MAST
        query), sorted by program, observation, visit.

    Raises
    ------
    ParameterError
        A bad argument (naming it): a malformed selection or scheduler
        address, an ``output`` that is a file, ...
    SurveyError
        ``input_dir`` is not a folder or holds nothing to survey, or no
        scheduler answers at ``scheduler``.

    Examples
    --------
    >>> from spelunker.survey import run_survey
    >>> table = run_survey("survey_1534", programs=[1534], workers=2)  # doctest: +SKIP
    >>> table["visit_id", "n_frames", "centroid_rms_x_mas", "status"]  # doctest: +SKIP
    """
    progress = _check_progress(progress)
    dashboard = check_bool(dashboard, "dashboard")
    if scheduler is None:
        workers = available_cpus() if workers is None else check_positive_int(workers, "workers")
    else:
        scheduler = check_scheduler_address(scheduler)
    config_file = _config_path(config_file)
    output = _check_output(output, downloads=download_dir is None)
    if download_dir is not None:
        download_dir = str(_check_output_folder(download_dir, "download_dir"))
    if token is not None:
        secret = resolve_token(token)
        token = None if secret is None else secret.reveal()

    tasks, failures = plan_survey(programs=programs, observations=observations, visits=visits,
                                  input_dir=input_dir, token=token, server=server)
    rows = {}
    todo = []
    digest = _config_digest(config_file)  # read once, not once per visit
    for task in tasks:
        previous = None if rerun else _read_row(output, task.visit_id)
        if _complete(previous, digest):
            rows[task.visit_id] = previous
        else:
            todo.append(task)
    log.info("Survey of %d visits: %d complete from a previous run, %d to run", len(tasks),
             len(rows), len(todo))

    if todo:
        with _client(workers, scheduler, dashboard) as client:
            _prepare_output(output, download_dir)
            bar = tqdm(total=len(tasks), initial=len(rows), unit="visit", desc="survey",
                       disable=None if progress is None else not progress)
            with bar, _logs_above(bar):
                rows.update(_run_tasks(client, todo, bar, output=output,
                                       config_file=config_file, download_dir=download_dir,
                                       token=token, server=server,
                                       keep_downloads=keep_downloads,
                                       threads=_worker_share(workers, scheduler)))
    else:
        _prepare_output(output, download_dir)

    ordered = [rows[t.visit_id] for t in tasks if t.visit_id in rows] + failures
    ordered.sort(key=lambda r: (r["program"], r["observation"] or 0, r["visit"] or 0))
    table = _write_tables(output, ordered)
    n_error = int(np.count_nonzero(np.asarray(table["status"]) != "ok"))
    log.info("Survey done: %d rows, %d errors; %s", len(table), n_error, output / "survey.ecsv")
    return table
