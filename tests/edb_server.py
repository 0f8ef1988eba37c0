"""A fake JWST engineering database (MAST EDB) on 127.0.0.1 for the tests.

It answers what `jwst.lib.engdb_mast.EngdbMast` sends:

- ``GET /api/``: the aliveness ping (200);
- ``GET /api/v0.1/Download/file?uri=mast:jwstedb/<MNEMONIC>-<YYYYmmddTHHMMSS>-<...>.csv``
  with ``Authorization: token <T>``: the MAST CSV reply, header
  ``theTime,MJD,euvalue,sqldataType``, CRLF line ends, the samples inside
  the requested seconds plus one bracketing sample on each side (as MAST
  sends them);
- 401 for a missing or wrong token, 404 for an unknown mnemonic or path.

Series are built in code (`hga_series`, `current_series`,
`guide_position_series`), their cadence and value style taken from the real
recordings (see `REAL_TELEMETRY_FACTS`), or converted from a real recording
in the EngdbDirect JSON layout (`engdb_direct_series`, for the optional
tests on ``$SPELUNKER_REFERENCE_DIR``; nothing is copied here).  ``raw``
replies serve a given body verbatim (for the optional test on the real
reference reply); mnemonics in ``stall`` get no answer until the server
stops (timeouts).  ``requests`` logs (path, Authorization header) of every
request.
"""

import contextlib
import json
import re
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

DOWNLOAD_PATH = "/api/v0.1/Download/file"
_URI = re.compile(r"^mast:jwstedb/(?P<mnemonic>[A-Z0-9_]+)-(?P<start>\d{8}T\d{6})-"
                  r"(?P<end>\d{8}T\d{6})\.csv$")
_MJD_EPOCH = datetime(1858, 11, 17)
_UNIX_EPOCH_MJD = 40587.0
_OBSTIME = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<zone>[+-]\d{4})?\)/$")

#: What the real recordings (reference/engdb/telemetry_jw01029_2022-05-22, PID 1029,
#: 2022-05-23, EngdbDirect JSON) show, measured once and used by the synthetic series
#: below (the files themselves are not copied):
#:
#: - sample times are whole milliseconds; consecutive samples of one mnemonic differ by
#:   the nominal cadence -1, 0 or +1 ms (SA_ZFGGSPOSX: 89 x 63 ms, 41 x 64 ms, 90 x 65 ms
#:   over 14.1 s, mean 64.00 ms);
#: - cadences: 64 ms for the fine-guidance mnemonics SA_ZFG* (SA_ZFGGSPOSX/Y, SA_ZFGDETID),
#:   256 ms for attitude (SA_ZATTEST1-4, SA_ZADUCMDX/Y), 512 ms for SA_ZFGGSCMDX/Y, 1.024 s
#:   for SA_ZRFGS2J* and for the instrument mnemonic INRSI_GWA_Y_TILT_AVGED;
#: - every sample is stored (AllPoints=1), also when the value does not change:
#:   SA_ZFGDETID is 1 in all 221 samples;
#: - FL32 mnemonics (SQL type REAL) hold float32 values written with 10 decimals
#:   (17.8339118958); SA_ZFGGSPOSX/Y (arcsec) are 0.0 while the guider is not tracking
#:   and hold a value over several samples while it acquires;
#: - types from mnemonic_metadata_subset.json: SA_ZHGAUPST VARCHAR (MOVING / FINISHED),
#:   INIS_FWMTRCURR REAL, SA_ZFGGSPOSX REAL, SA_ZFGDETID TINYINT.
#:
#: SA_ZHGAUPST and INIS_FWMTRCURR are not in the recordings: they are sampled at 1.024 s,
#: the cadence of the recorded slow ACS and instrument mnemonics.
REAL_TELEMETRY_FACTS = {
    "SA_ZFG_CADENCE_S": 0.064,
    "SLOW_CADENCE_S": 1.024,
    "JITTER_MS": (-1, 0, 1),
}


@dataclass
class Series:
    """One mnemonic: MJD (UTC) times, values and the SQL type MAST names."""

    mjd: np.ndarray
    values: list
    sql_type: str

    def rows(self, start, end):
        """Indices of the samples in [start, end] (datetimes) plus one bracket on each side."""
        start_mjd = _to_mjd(start)
        end_mjd = _to_mjd(end)
        inside = np.flatnonzero((self.mjd >= start_mjd) & (self.mjd <= end_mjd))
        before = np.flatnonzero(self.mjd < start_mjd)
        after = np.flatnonzero(self.mjd > end_mjd)
        picked = list(before[-1:]) + list(inside) + list(after[:1])
        return picked


def _to_mjd(moment):
    return (moment - _MJD_EPOCH) / timedelta(days=1)


def _the_time(mjd):
    moment = _MJD_EPOCH + timedelta(days=float(mjd))
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def mast_csv(series, rows):
    """The MAST CSV reply (CRLF) for ``rows`` of ``series``."""
    lines = ["theTime,MJD,euvalue,sqldataType"]
    for k in rows:
        value = series.values[k]
        text = f"{value:.10f}" if isinstance(value, float) else str(value)
        lines.append(f"{_the_time(series.mjd[k])},{series.mjd[k]:.10f},{text},{series.sql_type}")
    return "\r\n".join(lines) + "\r\n"


def sample_seconds(first, last, cadence, *, seed=0):
    """Sample times (s) from ``first`` to ``last`` as the EDB records them.

    Whole milliseconds, steps of the nominal ``cadence`` -1, 0 or +1 ms
    (`REAL_TELEMETRY_FACTS`).
    """
    rng = np.random.default_rng(seed)
    nominal = int(round(cadence * 1000.0))
    n_steps = int(np.floor((last - first) * 1000.0 / nominal))
    steps = nominal + rng.choice(REAL_TELEMETRY_FACTS["JITTER_MS"], size=n_steps)
    milliseconds = int(round(first * 1000.0)) + np.concatenate(([0], np.cumsum(steps)))
    return milliseconds[milliseconds <= last * 1000.0] / 1000.0


def _float32(values):
    """Values as an FL32 mnemonic holds them: float32, written with 10 decimals."""
    return [round(float(v), 10) for v in np.asarray(values, dtype=np.float32)]


def hga_series(t0_mjd, moves, *, before=600.0, after=600.0, cadence=1.024, seed=0):
    """SA_ZHGAUPST as the EDB records it: every sample stored, MOVING / FINISHED.

    ``moves`` are (start, stop) seconds after ``t0_mjd``: the samples from
    start (inclusive) to stop (exclusive) are ``MOVING``, the others
    ``FINISHED``.  Samples every ``cadence`` s (ms jitter) from ``before``
    seconds ahead of t0 to ``after`` seconds past the last stop.  A move
    therefore starts at the first sample at or after its start and ends at
    the first sample at or after its stop.
    """
    last = max(stop for _, stop in moves) + after
    seconds = sample_seconds(-before, last, cadence, seed=seed)
    moving = np.zeros(seconds.size, dtype=bool)
    for start, stop in moves:
        moving |= (seconds >= start) & (seconds < stop)
    values = ["MOVING" if m else "FINISHED" for m in moving]
    return Series(t0_mjd + seconds / 86400.0, values, "varchar")


def current_series(t0_mjd, duration, *, cadence=1.024, pulses=((30.0, 8.0),), seed=0):
    """INIS_FWMTRCURR-like motor current (A): noise near 0 with pulses while the wheel moves.

    Samples every ``cadence`` s (ms jitter) from 30 s before ``t0_mjd`` to
    ``duration`` + 30 s, float32 values (REAL); each pulse (start, length)
    in seconds after t0 raises it to about 0.3 A.
    """
    rng = np.random.default_rng(seed)
    seconds = sample_seconds(-30.0, duration + 30.0, cadence, seed=seed)
    values = 0.0025 + rng.normal(0.0, 0.0004, seconds.size)
    for start, length in pulses:
        values[(seconds >= start) & (seconds < start + length)] += 0.3
    return Series(t0_mjd + seconds / 86400.0, _float32(values), "real")


def guide_position_series(t0_mjd, duration, *, position=17.83, track_start=2.0, jitter=0.001,
                          seed=0):
    """SA_ZFGGSPOSX-like guide-star position (arcsec) at the SA_ZFG* cadence of 64 ms.

    From 5 s before ``t0_mjd`` to ``duration`` s after it; 0.0 before
    ``track_start`` (s after t0, the guider not yet tracking), then
    ``position`` with ``jitter`` arcsec rms (about 1 mas); float32 values
    (REAL), as in the recordings.
    """
    rng = np.random.default_rng(seed)
    seconds = sample_seconds(-5.0, duration, REAL_TELEMETRY_FACTS["SA_ZFG_CADENCE_S"],
                             seed=seed)
    values = position + rng.normal(0.0, jitter, seconds.size)
    values[seconds < track_start] = 0.0
    return Series(t0_mjd + seconds / 86400.0, _float32(values), "real")


def obstime_ms(text):
    """Milliseconds since 1970 (UTC) of an EngdbDirect ``ObsTime``: ``/Date(<ms>+0000)/``."""
    match = _OBSTIME.match(str(text))
    if not match or match["zone"] not in (None, "+0000"):
        msg = f"ObsTime {text!r} is not /Date(<ms since 1970>+0000)/"
        raise ValueError(msg)
    return int(match["ms"])


def engdb_direct_series(source, *, sql_type=None):
    """A served `Series` from a recording in the EngdbDirect JSON layout.

    Parameters
    ----------
    source : str, os.PathLike or dict
        A file such as ``sa_zfggsposx_data.json``, or its parsed content:
        ``{"TlmMnemonic", "AllPoints", "Count", "Data": [{"ObsTime":
        "/Date(<ms>+0000)/", "EUValue": v}, ...]}``.
    sql_type : str, optional
        MAST's ``sqldataType`` for the CSV (``real``, ``float``, ``tinyint``,
        ``int``, ``varchar``); default from the values (float: ``real``,
        int: ``int``, else ``varchar``).

    Returns
    -------
    mnemonic : str
        ``TlmMnemonic``.
    series : Series
        MJD (UTC) of every sample, in time order, and its ``EUValue``.
    milliseconds : numpy.ndarray
        The recorded ``ObsTime`` in ms since 1970, in the same order (the
        exact times, to check what a client gets back).
    """
    content = source if isinstance(source, dict) else json.loads(
        Path(source).read_text(encoding="utf-8"))
    data = content["Data"]
    if int(content.get("Count", len(data))) != len(data):
        msg = f"{content.get('TlmMnemonic')}: Count {content.get('Count')} != {len(data)} samples"
        raise ValueError(msg)
    milliseconds = np.array([obstime_ms(entry["ObsTime"]) for entry in data], dtype=np.int64)
    values = [entry["EUValue"] for entry in data]
    order = np.argsort(milliseconds, kind="stable")
    milliseconds = milliseconds[order]
    values = [values[k] for k in order]
    if sql_type is None:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            sql_type = "int"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            sql_type = "real"
        else:
            sql_type = "varchar"
    if sql_type in ("real", "float"):
        values = [float(v) for v in values]
    mjd = _UNIX_EPOCH_MJD + milliseconds / 86_400_000.0
    return str(content["TlmMnemonic"]).strip().upper(), Series(mjd, values, sql_type), \
        milliseconds


class FakeEngdb:
    """The server; ``series[MNEMONIC]`` or ``raw[MNEMONIC]`` (a body) are served."""

    def __init__(self, token):
        self.token = token
        self.series = {}
        self.raw = {}
        self.stall = set()
        self.requests = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                with fake._lock:
                    fake.requests.append((self.path, self.headers.get("Authorization")))
                if parts.path == "/api/":
                    self._reply(200, "text/plain", "MAST API")
                    return
                if parts.path != DOWNLOAD_PATH:
                    self._reply(404, "text/plain", "not found")
                    return
                if self.headers.get("Authorization") != f"token {fake.token}":
                    self._reply(401, "text/plain", "401 Unauthorized: bad or missing token")
                    return
                uri = parse_qs(parts.query).get("uri", [""])[0]
                match = _URI.match(uri)
                if not match:
                    self._reply(404, "text/plain", f"no such file {uri}")
                    return
                name = match["mnemonic"]
                if name in fake.stall:  # no answer until the server stops
                    fake._release.wait(10.0)
                    return
                if name in fake.raw:
                    self._reply(200, "text/csv", fake.raw[name])
                    return
                if name not in fake.series:
                    self._reply(404, "text/plain", f"unknown mnemonic {name}")
                    return
                start = datetime.strptime(match["start"], "%Y%m%dT%H%M%S")
                end = datetime.strptime(match["end"], "%Y%m%dT%H%M%S")
                series = fake.series[name]
                self._reply(200, "text/csv", mast_csv(series, series.rows(start, end)))

            def _reply(self, status, kind, text):
                body = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    def served(self, mnemonic, start, end):
        """The (mjd, values) sent for a request of start..end (datetimes, to the second)."""
        series = self.series[mnemonic]
        rows = series.rows(start.replace(microsecond=0), end.replace(microsecond=0))
        return series.mjd[rows], [series.values[k] for k in rows]

    def downloads(self):
        """The requests for data (not the pings)."""
        return [entry for entry in self.requests if entry[0].startswith(DOWNLOAD_PATH)]

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def running_engdb(token):
    """A started FakeEngdb accepting ``token``; stopped on exit (use it in a fixture)."""
    server = FakeEngdb(token).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def silent_server_url():
    """A URL on 127.0.0.1 that accepts connections and never answers (read timeouts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
