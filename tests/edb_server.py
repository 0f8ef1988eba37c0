"""A fake JWST engineering database (MAST EDB) on 127.0.0.1 for the tests.

It answers what `jwst.lib.engdb_mast.EngdbMast` sends:

- ``GET /api/``: the aliveness ping (200);
- ``GET /api/v0.1/Download/file?uri=mast:jwstedb/<MNEMONIC>-<YYYYmmddTHHMMSS>-<...>.csv``
  with ``Authorization: token <T>``: the MAST CSV reply, header
  ``theTime,MJD,euvalue,sqldataType``, CRLF line ends, the samples inside
  the requested seconds plus one bracketing sample on each side (as MAST
  sends them);
- 401 for a missing or wrong token, 404 for an unknown mnemonic or path.

Series are built in code (`hga_series`, `current_series`); ``raw`` replies
serve a given body verbatim (for the optional test on the real reference
reply).  ``requests`` logs (path, Authorization header) of every request.
"""

import contextlib
import re
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

DOWNLOAD_PATH = "/api/v0.1/Download/file"
_URI = re.compile(r"^mast:jwstedb/(?P<mnemonic>[A-Z0-9_]+)-(?P<start>\d{8}T\d{6})-"
                  r"(?P<end>\d{8}T\d{6})\.csv$")
_MJD_EPOCH = datetime(1858, 11, 17)


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


def hga_series(t0_mjd, moves, *, before=600.0, after=600.0):
    """SA_ZHGAUPST as the EDB records it: a sample at every state change.

    ``moves`` are (start, stop) seconds after ``t0_mjd``: ``MOVING`` at
    start, ``FINISHED`` at stop; one ``FINISHED`` sample ``before`` seconds
    ahead of t0 and a repeated one ``after`` seconds past the last stop.
    """
    seconds = [-before]
    values = ["FINISHED"]
    for start, stop in moves:
        seconds += [start, stop]
        values += ["MOVING", "FINISHED"]
    seconds.append(max(stop for _, stop in moves) + after)
    values.append("FINISHED")
    return Series(t0_mjd + np.asarray(seconds) / 86400.0, values, "varchar")


def current_series(t0_mjd, duration, *, cadence=1.024, pulses=((30.0, 8.0),), seed=0):
    """INIS_FWMTRCURR-like motor current (A): noise near 0 with pulses while the wheel moves.

    Samples every ``cadence`` s from 30 s before ``t0_mjd`` to ``duration``
    + 30 s; each pulse (start, length) in seconds after t0 raises it to
    about 0.3 A.
    """
    rng = np.random.default_rng(seed)
    seconds = np.arange(-30.0, duration + 30.0, cadence)
    values = 0.0025 + rng.normal(0.0, 0.0004, seconds.size)
    for start, length in pulses:
        values[(seconds >= start) & (seconds < start + length)] += 0.3
    return Series(t0_mjd + seconds / 86400.0, [float(v) for v in values], "real")


class FakeEngdb:
    """The server; ``series[MNEMONIC]`` or ``raw[MNEMONIC]`` (a body) are served."""

    def __init__(self, token):
        self.token = token
        self.series = {}
        self.raw = {}
        self.requests = []
        self._lock = threading.Lock()
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


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
