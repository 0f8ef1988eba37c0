"""A fake hips2fits sky-image service on 127.0.0.1 for the tests.

It answers ``GET /hips-image-services/hips2fits`` as the CDS service does
for the parameters `spelunker.plotting.sky.guidestar_plot` sends through
astroquery (``hips``, ``width``, ``height``, ``projection``, ``ra``,
``dec``, ``fov``, ``coordsys``, ``rotation_angle``, ``format=fits``): a
small synthetic FITS image (float32, ``height`` x ``width``) with a valid
celestial WCS centred on ``ra``, ``dec`` whose largest side spans ``fov``
degrees, with a few Gaussian "stars" (one at the centre).  Errors are
answered as hips2fits answers them: HTTP 400 with a JSON body ``{"title",
"description"}`` for a missing parameter.
"""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
from astropy.io import fits

import gsc_server

__all__ = ["PATH", "FakeSkyImages", "closed_port_url", "sky_image"]

PATH = "/hips-image-services/hips2fits"

#: The parameters a hips2fits ``query`` (not ``query_with_wcs``) sends.
REQUIRED = ("hips", "width", "height", "projection", "ra", "dec", "fov")


def sky_image(*, width, height, ra, dec, fov, projection="TAN", rotation_angle=0.0, seed=0):
    """The FITS bytes of a synthetic image in the hips2fits layout.

    North up, east left (``CDELT1 < 0``) for ``rotation_angle=0``; the
    pixel scale is ``fov / max(width, height)`` degrees, the reference
    pixel the image centre.
    """
    scale = float(fov) / max(int(width), int(height))
    header = fits.Header()
    header["CTYPE1"] = f"RA---{projection}"
    header["CTYPE2"] = f"DEC--{projection}"
    header["CRPIX1"] = (int(width) + 1) / 2.0
    header["CRPIX2"] = (int(height) + 1) / 2.0
    header["CRVAL1"] = float(ra)
    header["CRVAL2"] = float(dec)
    header["CDELT1"] = -scale
    header["CDELT2"] = scale
    angle = np.deg2rad(float(rotation_angle))
    header["PC1_1"], header["PC1_2"] = np.cos(angle), -np.sin(angle)
    header["PC2_1"], header["PC2_2"] = np.sin(angle), np.cos(angle)
    header["CUNIT1"] = header["CUNIT2"] = "deg"
    header["RADESYS"] = "ICRS"
    header["EQUINOX"] = 2000.0
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:int(height), 0:int(width)]
    image = rng.normal(100.0, 3.0, (int(height), int(width)))
    centres = [((int(width) - 1) / 2.0, (int(height) - 1) / 2.0)]
    centres += list(zip(rng.uniform(0, int(width), 6), rng.uniform(0, int(height), 6),
                        strict=True))
    for cx, cy in centres:
        image += 2000.0 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.5**2))
    buffer = io.BytesIO()
    fits.PrimaryHDU(image.astype(np.float32), header=header).writeto(buffer)
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    """Answers for the `FakeSkyImages` it serves (``self.server.fake``)."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        fake = self.server.fake
        with fake.lock:
            fake.requests.append(query)
        try:
            self._answer(fake.failure, parts.path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up

    def _answer(self, failure, path, query):
        missing = [name for name in REQUIRED if name not in query]
        if path != PATH:
            self._send(404, b"Not found", "text/plain")
        elif failure == "html":
            self._send(500, b"<html><body>Server Error</body></html>", "text/html")
        elif failure == "garbage":
            self._send(200, b"SIMPLE  = nonsense" * 10, "application/fits")
        elif failure == "json" or missing:
            body = {"title": "Bad request", "description": f"missing parameter(s): {missing}"}
            self._send(400, json.dumps(body).encode(), "application/json")
        else:
            data = sky_image(width=int(query["width"]), height=int(query["height"]),
                             ra=float(query["ra"]), dec=float(query["dec"]),
                             fov=float(query["fov"]), projection=query["projection"],
                             rotation_angle=float(query.get("rotation_angle", 0.0)))
            self._send(200, data, "application/fits")

    def _send(self, status, data, content_type):
        self.send_response(status)
        for key, value in (("Content-Type", content_type), ("Content-Length", str(len(data)))):
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class FakeSkyImages:
    """The server, started and stopped as a context manager.

    ``failure`` makes every reply fail: ``'json'`` (HTTP 400 with the
    service's JSON error), ``'html'`` (HTTP 500 with an HTML page),
    ``'garbage'`` (HTTP 200 with bytes that are not FITS).  ``requests``
    logs the query parameters of each request.
    """

    def __init__(self):
        self.failure = None
        self.requests = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        host, port = self._server.server_address[:2]
        #: The service's address (what ``url=`` or ``SPELUNKER_HIPS2FITS_URL`` takes).
        self.url = f"http://{host}:{port}{PATH}"
        self._thread = None

    def __enter__(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        return False


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    return gsc_server.closed_port_url().replace(gsc_server.PATH, PATH)
