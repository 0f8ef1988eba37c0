"""A local fake of the MAST services spelunker uses, for offline tests.

`FakeMast` is a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) that
answers what astroquery, `spelunker.archive.mast` and `spelunker.archive.download` request:

``POST /api/v0/invoke``
    the portal (form field ``request=<JSON>``); service
    ``Mast.Jwst.Filtered.GuideStar`` with ``columns`` and ``filters``
    (exact values, ``freeText`` with ``%`` wildcards, min/max ranges), the
    portal envelope ``{"status", "msg", "data", "fields", "paging"}`` and
    paging over ``pagesize`` / ``page`` (``max_pagesize`` forces several
    pages).  Rows are made from the headers of the synthetic products
    served (`add_files`) or given as they are (`add_row`).
``POST /portal/Mashup/Mashup.asmx/columnsconfig``
    the column configuration astroquery fetches before a service request.
``GET /whoami``
    ``{"anon": false, ...}`` for a token in `tokens` (``mast_token`` cookie
    or ``Authorization: token``), else ``{"anon": true, ...}`` (or HTTP 401
    with ``invalid_whoami="401"``).
``GET /api/v0.1/Download/file?uri=mast:JWST/product/<name>``
    the file's bytes; restricted files need a valid token (else 401).

Every request is appended to `requests` (a bounded log of `LoggedRequest`).
Faults are injected per file name or endpoint (``"invoke"``, ``"whoami"``,
``"columnsconfig"``, ``"download"`` for any file) with `inject`, each for a
number of requests; see `FAULTS`.  Use it as a context manager or call
`start` / `stop`; `stop` also interrupts slow replies.
"""

import hashlib
import http.server
import json
import math
import os
import re
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from astropy.io import fits

__all__ = ["FAULTS", "GUIDESTAR_FIELDS", "SERVICE", "FakeMast", "LoggedRequest", "listing"]

SERVICE = "Mast.Jwst.Filtered.GuideStar"

#: A subset of the guide-star service's columns, with portal field types.
GUIDESTAR_FIELDS = (
    ("ArchiveFileID", "int"),
    ("fileName", "string"),
    ("fileSetName", "string"),
    ("productLevel", "string"),
    ("fileSize", "int"),
    ("checksum", "string"),
    ("ingestStartDate_mjd", "float"),
    ("publicReleaseDate_mjd", "float"),
    ("isRestricted", "boolean"),
    ("apername", "string"),
    ("dataend", "float"),
    ("datastrt", "float"),
    ("detector", "string"),
    ("duration", "float"),
    ("exp_type", "string"),
    ("gdstarid", "string"),
    ("gs_dec", "float"),
    ("gs_mag", "float"),
    ("gs_order", "int"),
    ("gs_ra", "float"),
    ("instrume", "string"),
    ("ngroups", "int"),
    ("nints", "int"),
    ("observtn", "string"),
    ("pcs_mode", "string"),
    ("program", "string"),
    ("readpatt", "string"),
    ("subarray", "string"),
    ("telescop", "string"),
    ("visit", "string"),
    ("visit_id", "string"),
    ("dataURI", "string"),
)

#: Faults `FakeMast.inject` accepts, and what each does.
FAULTS = {
    "http500": "HTTP 500 Internal Server Error",
    "http503": "HTTP 503 Service Unavailable",
    "http429": "HTTP 429 Too Many Requests (Retry-After: `delay` whole seconds, default 0)",
    "http401": "HTTP 401 Unauthorized",
    "http403": "HTTP 403 Forbidden",
    "http404": "HTTP 404 Not Found",
    "reset": "download: half the body, then a TCP reset",
    "truncate": "download: Content-Length of the whole file, half the body, then close",
    "wrong_size": "download: a body (and Content-Length) 1000 bytes longer than the file",
    "short_file": "download: a body (and Content-Length) 1000 bytes shorter than the file",
    "no_length": "download: the whole body without Content-Length (closed after)",
    "slow": "wait `delay` seconds before answering",
    "stall": "download: send half the body, then wait `delay` seconds, then close",
    "executing": "invoke: an EXECUTING envelope (astroquery polls again)",
    "error_envelope": "invoke: a status ERROR envelope",
    "not_json": "any JSON endpoint: an HTML body with status 200",
}

_PRODUCT_PREFIX = "mast:JWST/product/"
_MAX_LOG = 10_000
_MAX_BODY = 1 << 20


@dataclass
class LoggedRequest:
    """One request the fake server received."""

    method: str
    path: str
    endpoint: str
    query: dict = field(default_factory=dict)
    service: str | None = None
    filters: list | None = None
    file: str | None = None
    status: int | None = None
    fault: str | None = None
    token_valid: bool | None = None
    has_token: bool = False


@dataclass
class _Fault:
    kind: str
    times: int
    delay: float


def _row_from_file(path, *, restricted=False):
    """A service row from a synthetic product's primary header."""
    path = Path(path)
    header = fits.getheader(path, 0)
    name = path.name
    level = "1b" if name.endswith("_uncal.fits") else "2b"
    start, end = float(header["DATASTRT"]), float(header["DATAEND"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "ArchiveFileID": int(digest[:7], 16),
        "fileName": name,
        "fileSetName": name.rsplit("_", 1)[0],
        "productLevel": level,
        "fileSize": path.stat().st_size,
        "checksum": digest,
        "ingestStartDate_mjd": end + 1.5,
        "publicReleaseDate_mjd": end + (365.0 if restricted else 2.0),
        "isRestricted": bool(restricted),
        "apername": str(header.get("APERNAME", "")),
        "dataend": end,
        "datastrt": start,
        "detector": str(header["DETECTOR"]).strip(),
        "duration": round((end - start) * 86400.0, 3),
        "exp_type": str(header["EXP_TYPE"]).strip(),
        "gdstarid": str(header["GDSTARID"]).strip(),
        "gs_dec": float(header["GS_DEC"]),
        "gs_mag": float(header["GS_MAG"]),
        "gs_order": int(header.get("GS_ORDER", 1)),
        "gs_ra": float(header["GS_RA"]),
        "instrume": "FGS",
        "ngroups": int(header.get("NGROUPS", 8)),
        "nints": int(header["NINTS"]),
        "observtn": str(header["OBSERVTN"]).strip(),
        "pcs_mode": str(header.get("PCS_MODE", "FINEGUIDE")).strip(),
        "program": str(header["PROGRAM"]).strip(),
        "readpatt": str(header.get("READPATT", "FINEGUIDE")).strip(),
        "subarray": str(header.get("SUBARRAY", "8X8")).strip(),
        "telescop": "JWST",
        "visit": str(header["VISIT"]).strip(),
        "visit_id": str(header.get("VISIT_ID", "")).strip(),
        "dataURI": _PRODUCT_PREFIX + name,
    }


def _matches(row, flt):
    """Whether a row passes one portal filter."""
    wanted = str(flt.get("paramName", "")).lower()
    key = next((k for k in row if k.lower() == wanted), None)
    if key is None:
        return False
    value = row[key]
    values = flt.get("values", [])
    free = flt.get("freeText")
    hit = not values and free is None
    for v in values:
        if isinstance(v, dict):
            try:
                if float(v["min"]) <= float(value) <= float(v["max"]):
                    hit = True
            except (KeyError, TypeError, ValueError):
                pass
        elif str(value) == str(v):
            hit = True
    if free is not None:
        pattern = "^" + ".*".join(re.escape(p) for p in str(free).split("%")) + "$"
        hit = hit or re.match(pattern, str(value), re.IGNORECASE) is not None
    return hit


class FakeMast:
    """A fake MAST portal, login check and download service on 127.0.0.1.

    Parameters
    ----------
    tokens : iterable of str
        Tokens that ``/whoami`` and restricted downloads accept.
    invalid_whoami : {'anon', '401'}
        How ``/whoami`` answers an unknown token: ``{"anon": true}`` with
        status 200 (as MAST does) or a non-JSON 401.
    max_pagesize : int or None
        Serve at most this many rows per page, whatever the client asks.
    handler_timeout : float
        Socket timeout of each connection (seconds).
    """

    def __init__(self, *, tokens=(), invalid_whoami="anon", max_pagesize=None,
                 handler_timeout=5.0):
        self.tokens = set(tokens)
        self.invalid_whoami = invalid_whoami
        self.max_pagesize = max_pagesize
        self.handler_timeout = handler_timeout
        self._rows = []
        self._files = {}
        self._restricted = set()
        self._faults = {}
        self._log = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connections = set()
        #: Tracebacks of errors inside the fake itself (not client disconnects).
        self.errors = []
        self._active_downloads = 0
        self.max_active_downloads = 0
        self._server = None
        self._thread = None

    # -- content ------------------------------------------------------------

    def add_files(self, paths, *, restricted=False, serve=True, list_rows=True, **overrides):
        """Serve these files and list them in the guide-star service.

        ``overrides`` replace row values (e.g. ``exp_type``); ``list_rows=False``
        serves a file without listing it, ``serve=False`` lists without serving.
        Returns the rows added.
        """
        rows = []
        for path in paths:
            path = Path(path)
            row = _row_from_file(path, restricted=restricted)
            row.update(overrides)
            if serve:
                self._files[row["fileName"]] = path
                if restricted:
                    self._restricted.add(row["fileName"])
            if list_rows:
                self._rows.append(row)
            rows.append(row)
        return rows

    def add_row(self, **row):
        """List a row as given (e.g. a hostile file name); returns it."""
        self._rows.append(dict(row))
        return row

    def serve_file(self, name, path, *, restricted=False):
        """Serve ``path`` under the archive name ``name`` without listing it."""
        self._files[name] = Path(path)
        if restricted:
            self._restricted.add(name)

    def inject(self, target, kind, *, times=1, delay=0.0):
        """Make the next ``times`` requests of ``target`` fail with ``kind``.

        ``target`` is a file name or one of ``"invoke"``, ``"whoami"``,
        ``"columnsconfig"``, ``"download"`` (any file).
        """
        if kind not in FAULTS:
            msg = f"unknown fault {kind!r}; known: {sorted(FAULTS)}"
            raise ValueError(msg)
        with self._lock:
            self._faults.setdefault(target, []).append(_Fault(kind, int(times), float(delay)))

    def _take_fault(self, *targets):
        with self._lock:
            for target in targets:
                queue = self._faults.get(target) or []
                while queue and queue[0].times <= 0:
                    queue.pop(0)
                if queue:
                    queue[0].times -= 1
                    return queue[0]
        return None

    # -- log ------------------------------------------------------------------

    @property
    def requests(self):
        """A copy of the request log."""
        with self._lock:
            return list(self._log)

    def endpoint_requests(self, endpoint):
        return [r for r in self.requests if r.endpoint == endpoint]

    def downloads(self, name=None):
        return [r for r in self.endpoint_requests("download") if name is None or r.file == name]

    def clear_log(self):
        with self._lock:
            self._log.clear()

    def _record(self, entry):
        with self._lock:
            if len(self._log) < _MAX_LOG:
                self._log.append(entry)

    # -- server ---------------------------------------------------------------

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(_Handler):
            server_fake = fake
            timeout = fake.handler_timeout

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-mast", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._lock:
                connections = list(self._connections)
            for sock in connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def token_ok(self, token):
        return token is not None and token in self.tokens


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake = None

    def handle_error(self, request, client_address):
        # A client closing or resetting its connection is expected (timeouts,
        # pooled keep-alive connections); anything else is a bug in the fake.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        if self.fake is not None:
            self.fake.errors.append(traceback.format_exc())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake = None

    def setup(self):
        super().setup()
        with self.server_fake._lock:
            self.server_fake._connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server_fake._lock:
                self.server_fake._connections.discard(self.connection)

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    # -- helpers ----------------------------------------------------------------

    def _token(self):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith(("token ", "bearer ")):
            return auth.split(None, 1)[1].strip()
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "mast_token":
                return value
        return None

    def _send(self, status, body=b"", content_type="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, obj, status=200):
        self._send(status, json.dumps(obj))

    def _wait(self, seconds):
        """Sleep, but return at once when the server stops."""
        self.server_fake._stop.wait(seconds)

    def _common_fault(self, fault):
        """Serve faults shared by all endpoints; True if the reply was sent."""
        if fault is None:
            return False
        if fault.kind == "slow":
            self._wait(fault.delay)
            return False
        if fault.kind.startswith("http"):
            status = int(fault.kind[4:])
            headers = {"Retry-After": str(int(fault.delay))} if status == 429 else None
            self._send(status, f"<html><body>{status}</body></html>", "text/html", headers)
            return True
        if fault.kind == "not_json":
            self._send(200, "<html><body>maintenance</body></html>", "text/html")
            return True
        return False

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    # -- dispatch ---------------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        fake = self.server_fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        token = self._token()
        entry = LoggedRequest(method=self.command, path=parts.path, endpoint="unknown",
                              query=query, has_token=token is not None,
                              token_valid=fake.token_ok(token) if token is not None else None)
        # Logged on arrival (and completed in place), so a slow reply is seen at once.
        fake._record(entry)
        try:
            body = self._read_body() if self.command == "POST" else b""
            if self.command == "POST" and parts.path == "/api/v0/invoke":
                entry.endpoint = "invoke"
                self._invoke(entry, body)
            elif self.command == "POST" and parts.path.endswith("/Mashup.asmx/columnsconfig"):
                entry.endpoint = "columnsconfig"
                self._columnsconfig(entry, body)
            elif self.command == "GET" and parts.path == "/whoami":
                entry.endpoint = "whoami"
                self._whoami(entry, token)
            elif self.command == "GET" and parts.path == "/api/v0.1/Download/file":
                entry.endpoint = "download"
                with fake._lock:
                    fake._active_downloads += 1
                    fake.max_active_downloads = max(fake.max_active_downloads,
                                                    fake._active_downloads)
                try:
                    self._download(entry, query, token)
                finally:
                    with fake._lock:
                        fake._active_downloads -= 1
            else:
                entry.status = 404
                self._send_json({"status": "ERROR", "msg": f"no such endpoint {parts.path}"},
                                404)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _invoke(self, entry, body):
        fake = self.server_fake
        form = parse_qs(body.decode("utf-8", "replace"))
        try:
            request = json.loads(form["request"][-1])
        except (KeyError, ValueError):
            entry.status = 400
            self._send_json({"status": "ERROR", "msg": "missing or invalid request"}, 400)
            return
        entry.service = request.get("service")
        params = request.get("params") or {}
        entry.filters = params.get("filters")
        fault = fake._take_fault("invoke")
        entry.fault = fault.kind if fault else None
        if self._common_fault(fault):
            entry.status = int(fault.kind[4:]) if fault.kind.startswith("http") else 200
            return
        entry.status = 200
        if fault is not None and fault.kind == "executing":
            self._send_json({"status": "EXECUTING", "msg": "", "data": [], "fields": [],
                             "paging": {"page": 1, "pageSize": 0, "pagesFiltered": 1,
                                        "rows": 0, "rowsFiltered": 0, "rowsTotal": 0}})
            return
        if fault is not None and fault.kind == "error_envelope":
            self._send_json({"status": "ERROR", "msg": "Error converting data type nvarchar "
                             "to int.", "data": [], "fields": []})
            return
        if entry.service != SERVICE:
            self._send_json({"status": "ERROR", "msg": f"Unknown service {entry.service}"})
            return
        filters = params.get("filters") or []
        if not filters:
            self._send_json({"status": "ERROR", "msg": "At least one filter is required"})
            return
        rows = [r for r in fake._rows if all(_matches(r, f) for f in filters)]
        names = [n for n, _ in GUIDESTAR_FIELDS]
        columns = str(params.get("columns", "*")).strip()
        if columns not in ("*", "c.*"):
            wanted = [c.strip() for c in columns.split(",") if c.strip()]
            names = [n for n in names if n in wanted]
        types = dict(GUIDESTAR_FIELDS)
        fields = [{"name": n, "type": types[n]} for n in names]
        fields.append({"name": "_selected_", "type": "boolean"})
        pagesize = int(request.get("pagesize") or 50000)
        if fake.max_pagesize:
            pagesize = min(pagesize, fake.max_pagesize)
        page = max(1, int(request.get("page") or 1))
        pages = math.ceil(len(rows) / pagesize)
        chunk = rows[(page - 1) * pagesize: page * pagesize]
        data = [{**{n: r.get(n) for n in names}, "_selected_": None} for r in chunk]
        self._send_json({
            "status": "COMPLETE",
            "msg": "",
            "data": data,
            "fields": fields,
            "paging": {"page": page, "pageSize": pagesize, "pagesFiltered": pages,
                       "rows": len(data), "rowsFiltered": len(rows), "rowsTotal": len(rows)},
        })

    def _columnsconfig(self, entry, body):
        fault = self.server_fake._take_fault("columnsconfig")
        entry.fault = fault.kind if fault else None
        entry.service = parse_qs(body.decode()).get("colConfigId", [None])[-1]
        if self._common_fault(fault):
            entry.status = int(fault.kind[4:]) if fault.kind.startswith("http") else 200
            return
        entry.status = 200
        vot = {"string": "char", "int": "long", "float": "double", "boolean": "boolean"}
        config = {"_selected_": {"text": "selected", "type": "boolean", "hidden": True}}
        for name, kind in GUIDESTAR_FIELDS:
            config[name] = {"text": name, "vot.datatype": vot[kind], "vot.ID": name,
                            "vot.name": name}
        self._send_json(config)

    def _whoami(self, entry, token):
        fake = self.server_fake
        fault = fake._take_fault("whoami")
        entry.fault = fault.kind if fault else None
        if self._common_fault(fault):
            entry.status = int(fault.kind[4:]) if fault.kind.startswith("http") else 200
            return
        if fake.token_ok(token):
            entry.status = 200
            self._send_json({
                "eppn": "alice@example.org", "ezid": "alice", "anon": False,
                "attrib": {"display_name": "A. User", "first_name": "A.", "last_name": "User"},
                "scopes": ["mast:user:info", "mast:exclusive_access"], "session": None,
                "token": token[:4] + "...",
            })
        elif token is not None and fake.invalid_whoami == "401":
            entry.status = 401
            self._send(401, "<html><body>401 Unauthorized</body></html>", "text/html")
        else:
            entry.status = 200
            self._send_json({"eppn": None, "ezid": "anonymous", "anon": True, "attrib": {},
                             "scopes": [], "session": None, "token": None})

    def _download(self, entry, query, token):
        fake = self.server_fake
        uri = query.get("uri", "")
        name = uri[len(_PRODUCT_PREFIX):] if uri.startswith(_PRODUCT_PREFIX) else None
        entry.file = name
        fault = fake._take_fault(name, "download") if name else None
        entry.fault = fault.kind if fault else None
        if self._common_fault(fault):
            entry.status = int(fault.kind[4:]) if fault.kind.startswith("http") else 200
            return
        path = fake._files.get(name)
        if path is None:
            entry.status = 404
            self._send(404, f"File not found: {uri}", "text/plain")
            return
        if name in fake._restricted and not fake.token_ok(token):
            entry.status = 401
            self._send(401, "Unauthorized: exclusive access data", "text/plain")
            return
        data = Path(path).read_bytes()
        kind = fault.kind if fault else None
        if kind == "wrong_size":
            data = data + b"\0" * 1000
        elif kind == "short_file":
            data = data[:-1000]
        entry.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        if kind == "no_length":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        half = len(data) // 2
        if kind == "truncate":
            self.wfile.write(data[:half])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
            return
        if kind == "reset":
            self.wfile.write(data[:half])
            self.wfile.flush()
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if kind == "stall":
            self.wfile.write(data[:half])
            self.wfile.flush()
            self._wait(fault.delay)
            self.close_connection = True
            return
        self.wfile.write(data)


def wait_until(predicate, timeout=5.0, interval=0.01):
    """Poll ``predicate`` until true or ``timeout``; return its last value."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


def listing(directory):
    """Every entry of a directory (hidden ones too), sorted."""
    return sorted(os.listdir(directory))
