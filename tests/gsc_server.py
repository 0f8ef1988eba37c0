"""A fake Guide Star Catalog (``CatalogSearch.aspx``) on 127.0.0.1 for the tests.

Replies are built in code in the layout of the real service: one preamble
line, a CSV header, one row; blank cells for missing values; the 2MASS
columns spelled ``tmassJmag`` (GSC 2.4.1) or ``tmassJMag`` (GSC 2.4.2, which
also carries the Gaia DR3 source id).  Unknown ids get an empty reply.
"""

import contextlib
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATH = "/webservices/vo/CatalogSearch.aspx"

_PREAMBLE = {version: f"GSC {version} CatalogSearch results" for version in ("2.4.1", "2.4.2")}


def _cell(value, digits=6):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def gsc_reply(gs_id, *, ra, dec, j=None, h=None, k=None, gaia_id=None, version="2.4.2",
              preamble=True, rows=1):
    """A CatalogSearch.aspx CSV reply for one star (``None`` = blank cell).

    ``rows=0`` gives the header without any row.
    """
    two_mass = ("tmassJMag", "tmassHMag") if version == "2.4.2" else ("tmassJmag", "tmassHmag")
    header = ["hstID", "gsc1ID"]
    values = [gs_id, ""]
    if version == "2.4.2":
        header += ["GAIAdr3sourceID"]
        values += [_cell(gaia_id)]
    header += ["ra", "dec", "raErr", "decErr", "JpgMag", "JpgMagErr", "FpgMag", "FpgMagErr",
               "NpgMag", "NpgMagErr", two_mass[0], two_mass[0] + "Err", two_mass[1],
               two_mass[1] + "Err", "tmassKsMag", "tmassKsMagErr", "SDSSgMag", "SDSSgMagErr"]
    values += [_cell(ra), _cell(dec), "8.1e-05", "0.000172",
               _cell(None if j is None else j + 1.6, 4), "0.29", "", "",
               _cell(None if j is None else j + 0.4, 4), "0.24",
               _cell(j, 3), "" if j is None else "0.025", _cell(h, 3),
               "" if h is None else "0.027", _cell(k, 3), "" if k is None else "0.031", "", ""]
    lines = [_PREAMBLE[version]] if preamble else []
    lines.append(",".join(header))
    lines += [",".join(values)] * rows
    return "\r\n".join(lines) + "\r\n"


class FakeGSC:
    """The server: ``replies[gs_id]`` is served as text/csv.

    ``failures[gs_id]`` (or ``failure`` for every id) makes it answer
    ``'500'`` (HTTP 500) or ``'slow'`` (an answer after ``delay`` seconds).
    ``requests`` logs the ids asked for, in order.
    """

    def __init__(self, delay=3.0):
        self.replies = {}
        self.failures = {}
        self.failure = None
        self.delay = delay
        self.requests = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                gs_id = parse_qs(parts.query).get("id", [""])[0]
                with fake._lock:
                    fake.requests.append(gs_id)
                failure = fake.failures.get(gs_id, fake.failure)
                try:
                    if parts.path != PATH:
                        self._send(404, "Not found")
                    elif failure == "500":
                        self._send(500, "<html><body>Server Error</body></html>", "text/html")
                    elif failure == "slow":
                        fake._stop.wait(fake.delay)
                        self._send(200, fake.replies.get(gs_id, ""))
                    else:
                        self._send(200, fake.replies.get(gs_id, ""))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def _send(self, status, body, content_type="text/csv"):
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def start(self):
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{PATH}"
