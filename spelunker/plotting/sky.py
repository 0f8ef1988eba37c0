"""The guide star on the sky: a survey image with the star, the FGS aperture and the 8x8 window.

The original tool's ``guidestar_plot`` drew the guide stars on a DSS image
from SkyView.  Here the image comes from the CDS hips2fits service through
astroquery (`astroquery.hips2fits`): one HTTP GET returns a FITS cutout
of any HiPS survey (DSS2, 2MASS, ...) on the WCS asked for (centre, size,
projection), so the image is centred on the star at the scale the FGS
field needs.  SkyView's astroquery client scrapes an HTML form and
fetches each image in a second request; hips2fits has a documented mirror
(``alaskybis``) and is one request to replace by a local server in tests.
The service's address is the ``url`` argument, else the environment
variable ``SPELUNKER_HIPS2FITS_URL``, else `DEFAULT_SKY_URL`.

The geometry (`guidestar_sky`) comes from pysiaf: the FGS1/FGS2 aperture
outline (its SIAF vertices in the ideal frame, to V2/V3) and the 8x8
window (its pixel edges, science frame -> V2/V3 through
`spelunker.pointing.window_to_sky`) are put on the sky with the attitude
that places the guide star's V2/V3 at its RA/Dec with the V3 axis at
position angle PA_V3 at V1 (the product keyword ``PA_V3``).
"""

import io
import logging
import os
import warnings
from dataclasses import dataclass

import numpy as np
import requests
from astropy import units as u
from astropy.coordinates import Angle, Latitude, Longitude
from astropy.io import fits
from astropy.wcs import WCS

from spelunker._validate import check_finite_float, check_positive_float
from spelunker.datamodels import check_model
from spelunker.errors import (GuideStarInputError, OrientationAssumedWarning, ParameterError,
                              SkyImageError)
from spelunker.instrument import FRAME_SHAPE, guider_aperture
from spelunker.plotting._canvas import new_figure
from spelunker.plotting._model import require_frames_table
from spelunker.pointing import window_to_sky

__all__ = ["DEFAULT_SKY_URL", "MIRROR_SKY_URL", "SKY_URL_ENVIRONMENT", "DEFAULT_SURVEY",
           "GuideStarSky", "guidestar_sky", "sky_image", "guidestar_plot", "draw_guidestar_sky"]

log = logging.getLogger(__name__)

#: The CDS hips2fits service (`MIRROR_SKY_URL` is its mirror).
DEFAULT_SKY_URL = "https://alasky.cds.unistra.fr/hips-image-services/hips2fits"

#: The CDS mirror of `DEFAULT_SKY_URL`.
MIRROR_SKY_URL = "https://alaskybis.cds.unistra.fr/hips-image-services/hips2fits"

#: Environment variable that replaces `DEFAULT_SKY_URL`.
SKY_URL_ENVIRONMENT = "SPELUNKER_HIPS2FITS_URL"

#: HiPS survey of the image: the second Digitized Sky Survey, red plates (as the original's DSS).
DEFAULT_SURVEY = "CDS/P/DSS2/red"

#: Pixels on each side of the image asked for.
IMAGE_PIXELS = 400

#: PA_V3 (deg) used when neither the argument nor the product gives one.
ASSUMED_PA_V3 = 0.0

#: Figure elements: artist label -> style (the tests find the artists by these labels).
SKY_STYLES = {
    "guide star": {"color": "C1", "marker": "o", "markersize": 14, "fillstyle": "none",
                   "linestyle": "none", "markeredgewidth": 1.5},
    "aperture": {"color": "C0", "linewidth": 1.2},
    "window": {"color": "C3", "linewidth": 1.5},
    "other guide stars": {"color": "C2", "marker": "s", "markersize": 9, "fillstyle": "none",
                          "linestyle": "none"},
}


@dataclass(frozen=True)
class GuideStarSky:
    """Where the guide star, the FGS aperture and its 8x8 window lie on the sky.

    Attributes
    ----------
    ra, dec : float
        The guide star (deg, ICRS).
    detector : str
        ``'GUIDER1'`` or ``'GUIDER2'``.
    aperture_name : str
        The SIAF aperture outlined (``'FGS1_FULL'``, ``'FGS2_FULL'``).
    pa_v3 : float
        Position angle of V3 at V1 (deg, east of north) used.
    pa_v3_source : str
        ``'argument'``, ``'product'``, ``'GS_V3_PA'`` (from the position
        angle of V3 at the guide star) or ``'assumed'`` (`ASSUMED_PA_V3`).
    star_v2, star_v3 : float
        The guide star's telescope coordinates (arcsec).
    aperture_ra, aperture_dec : numpy.ndarray
        Closed outline of the aperture (deg).
    window_ra, window_dec : numpy.ndarray or None
        Closed outline of the 8x8 window (deg); None when the window's
        place on the detector is unknown.
    attitude : numpy.ndarray
        The 3x3 attitude matrix (pysiaf convention) from V2/V3 to RA/Dec.
    """

    ra: float
    dec: float
    detector: str
    aperture_name: str
    pa_v3: float
    pa_v3_source: str
    star_v2: float
    star_v3: float
    aperture_ra: np.ndarray
    aperture_dec: np.ndarray
    window_ra: np.ndarray | None
    window_dec: np.ndarray | None
    attitude: np.ndarray

    @property
    def notes(self):
        """What the figure states about assumptions (empty when there is none)."""
        notes = []
        if self.pa_v3_source == "assumed":
            notes.append(f"PA_V3 unknown: aperture drawn at PA_V3 = {self.pa_v3:g} deg "
                         "(give pa_v3=)")
        if self.window_ra is None:
            notes.append("window position unknown (no XSTART/YSTART): star at the "
                         "aperture's reference point")
        return notes


def _attitude(v2, v3, ra, dec, pa_v3):
    """Attitude placing (v2, v3) at (ra, dec) with V3 at position angle ``pa_v3`` at V1.

    pysiaf's ``attitude`` takes the roll at (v2, v3); the position angle at
    V1 differs from it by the convergence of the meridians, so the roll is
    corrected until V3's position angle at V1 is ``pa_v3`` (to 1e-10 deg).
    """
    # heavy: pysiaf costs ~0.45 s to import; guidestar_sky has imported it offline first
    # (spelunker.instrument.guider_aperture skips pysiaf's online version check)
    from pysiaf.utils import rotations

    roll = pa_v3
    for _ in range(20):
        attitude = rotations.attitude(v2, v3, ra, dec, roll)
        error = (pa_v3 - float(rotations.posangle(attitude, 0.0, 0.0)) + 180.0) % 360.0 - 180.0
        if abs(error) < 1e-10:
            break
        roll += error
    return attitude


def _roll_attitude(v2, v3, ra, dec, roll):
    """Attitude placing (v2, v3) at (ra, dec) with V3 at position angle ``roll`` there."""
    from pysiaf.utils import rotations  # heavy: pysiaf, ~0.45 s to import (as _attitude)

    return rotations.attitude(v2, v3, ra, dec, roll)


def _pa_at_v1(attitude):
    """Position angle of V3 at V1 (deg, 0-360) of an attitude."""
    from pysiaf.utils import rotations  # heavy: pysiaf, ~0.45 s to import (as _attitude)

    return float(rotations.posangle(attitude, 0.0, 0.0)) % 360.0


def _to_sky(attitude, v2, v3):
    from pysiaf.utils import rotations  # heavy: pysiaf, ~0.45 s to import (as _attitude)

    ra, dec = rotations.pointing(attitude, np.asarray(v2, float), np.asarray(v3, float))
    return np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))


def _closed(values):
    values = np.asarray(values, dtype=float)
    return np.append(values, values[:1])


def guidestar_sky(ra, dec, *, detector, xstart=0, ystart=0, x=None, y=None, pa_v3=None,
                  pa_v3_source=None, gs_v3_pa=None):
    """The guide star, the FGS aperture and the 8x8 window on the sky.

    Parameters
    ----------
    ra, dec : float
        The guide star (deg, ICRS).
    detector : str
        ``'GUIDER1'`` or ``'GUIDER2'`` (also ``'FGS1'``, ``'FGS2'``).
    xstart, ystart : int, optional
        1-based science-frame corner of the 8x8 window (the ``xstart`` and
        ``ystart`` of the FILES table); 0 (unknown) puts the star at the
        aperture's reference point and leaves the window out.
    x, y : float, optional
        The star's position in the window (0-based pixels, e.g. the median
        fitted centroid); default the window's centre (3.5, 3.5).
    pa_v3 : float, optional
        Position angle (deg, east of north) of the V3 axis at V1, the
        product keyword ``PA_V3``; None: `ASSUMED_PA_V3` with an
        `~spelunker.errors.OrientationAssumedWarning`.
    pa_v3_source : str, optional
        Where ``pa_v3`` came from (``'argument'`` by default, ``'product'``).
    gs_v3_pa : float, optional
        Position angle (deg, east of north) of the V3 axis at the guide
        star, the guider products' ``GS_V3_PA``; used when ``pa_v3`` is
        None: the attitude then places the guide star at its V2/V3 with
        that roll, exactly (pysiaf's ``attitude``), and ``pa_v3`` is the
        position angle it gives at V1.

    Returns
    -------
    GuideStarSky

    Raises
    ------
    spelunker.errors.ParameterError
        For a position, window corner or angle that is not a finite number,
        or an unknown detector.

    Examples
    --------
    >>> from spelunker.plotting.sky import guidestar_sky
    >>> sky = guidestar_sky(150.0, 2.0, detector="GUIDER1", xstart=1021, ystart=1021, pa_v3=30.0)
    >>> sky.aperture_name, len(sky.aperture_ra), len(sky.window_ra)
    ('FGS1_FULL', 5, 5)
    """
    where = "guidestar_sky"
    ra = check_finite_float(ra, "ra", where=where)
    dec = check_finite_float(dec, "dec", where=where)
    if not -90.0 <= dec <= 90.0:
        raise ParameterError(f"{where}: dec={dec!r} must be between -90 and 90 degrees")
    xstart = int(check_finite_float(xstart, "xstart", minimum=0, where=where))
    ystart = int(check_finite_float(ystart, "ystart", minimum=0, where=where))
    centre = ((FRAME_SHAPE[1] - 1) / 2.0, (FRAME_SHAPE[0] - 1) / 2.0)
    x = centre[0] if x is None else check_finite_float(x, "x", where=where)
    y = centre[1] if y is None else check_finite_float(y, "y", where=where)
    if gs_v3_pa is not None:
        gs_v3_pa = check_finite_float(gs_v3_pa, "gs_v3_pa", where=where)
    if pa_v3 is None and gs_v3_pa is not None:
        source = "GS_V3_PA"
    elif pa_v3 is None:
        pa_v3, source = ASSUMED_PA_V3, "assumed"
        warnings.warn(f"{where}: no PA_V3 given or in the product; the FGS aperture is drawn "
                      f"at PA_V3 = {ASSUMED_PA_V3:g} deg, its orientation on the sky is not "
                      "known (give pa_v3=)", OrientationAssumedWarning, stacklevel=2)
    else:
        pa_v3 = check_finite_float(pa_v3, "pa_v3", where=where)
        source = pa_v3_source or "argument"
    aperture = guider_aperture(detector)
    name = "GUIDER1" if str(aperture.AperName).startswith("FGS1") else "GUIDER2"
    known = xstart > 0 and ystart > 0
    if known:
        star = window_to_sky(x, y, detector=name, xstart=xstart, ystart=ystart)
        star_v2, star_v3 = float(np.ravel(star.v2)[0]), float(np.ravel(star.v3)[0])
    else:
        star_v2, star_v3 = float(aperture.V2Ref), float(aperture.V3Ref)
    if source == "GS_V3_PA":
        attitude = _roll_attitude(star_v2, star_v3, ra, dec, gs_v3_pa)
        pa_v3 = _pa_at_v1(attitude)
    else:
        attitude = _attitude(star_v2, star_v3, ra, dec, pa_v3)
    vertices = [[getattr(aperture, f"{axis}IdlVert{k}") for k in range(1, 5)]
                for axis in ("X", "Y")]
    aperture_ra, aperture_dec = _to_sky(attitude, *aperture.idl_to_tel(*(
        _closed(values) for values in vertices)))
    window_ra = window_dec = None
    if known:
        # The window's outer pixel edges, 0-based pixel centres: -0.5 and 7.5.
        edges_x = _closed([-0.5, FRAME_SHAPE[1] - 0.5, FRAME_SHAPE[1] - 0.5, -0.5])
        edges_y = _closed([-0.5, -0.5, FRAME_SHAPE[0] - 0.5, FRAME_SHAPE[0] - 0.5])
        corners = window_to_sky(edges_x, edges_y, detector=name, xstart=xstart, ystart=ystart)
        window_ra, window_dec = _to_sky(attitude, corners.v2, corners.v3)
    return GuideStarSky(ra, dec, name, str(aperture.AperName), float(pa_v3), source, star_v2,
                        star_v3, aperture_ra, aperture_dec, window_ra, window_dec, attitude)


def _service_url(url):
    if url is not None and not isinstance(url, str):
        raise ParameterError(f"url={url!r:.60} must be the hips2fits service's address (a "
                             "string)")
    return url or os.environ.get(SKY_URL_ENVIRONMENT) or DEFAULT_SKY_URL


def sky_image(ra, dec, fov, *, survey=DEFAULT_SURVEY, url=None, timeout=30.0,
              pixels=IMAGE_PIXELS):
    """A FITS image of the sky around (ra, dec) from a hips2fits service.

    Parameters
    ----------
    ra, dec : float
        Centre of the image (deg, ICRS).
    fov : float
        Side of the (square) image (deg).
    survey : str, optional
        HiPS identifier (`DEFAULT_SURVEY`; e.g. ``'CDS/P/2MASS/K'``).
    url : str, optional
        The service (default: ``SPELUNKER_HIPS2FITS_URL``, else `DEFAULT_SKY_URL`).
    timeout : float, optional
        Seconds to wait for the service.
    pixels : int, optional
        Pixels on each side.

    Returns
    -------
    astropy.io.fits.ImageHDU or astropy.io.fits.PrimaryHDU
        The image with its celestial WCS (TAN, centred on ra, dec).

    Raises
    ------
    spelunker.errors.SkyImageError
        When the service cannot be reached, answers with an error, or does
        not send a FITS image (``reason`` says which; the message names the
        service's address).
    """
    where = "sky_image"
    fov = check_positive_float(fov, "fov", unit="degrees", where=where)
    timeout = check_positive_float(timeout, "timeout", unit="seconds", where=where)
    if not isinstance(survey, str) or not survey.strip():
        raise ParameterError(f"{where}: survey={survey!r:.60} must be a HiPS identifier "
                             f"(a string, e.g. {DEFAULT_SURVEY!r})")
    url = _service_url(url)
    from astroquery.hips2fits import hips2fitsClass  # astroquery loads only when drawing

    service = hips2fitsClass()
    service.server = url
    service.timeout = timeout
    log.info("asking %s for a %.3g deg %s image around (%.6f, %.6f)", url, fov, survey, ra, dec)
    try:
        response = service.query_async(
            hips=survey, width=int(pixels), height=int(pixels), projection="TAN",
            ra=Longitude(ra * u.deg), dec=Latitude(dec * u.deg), fov=Angle(fov * u.deg),
            coordsys="icrs", rotation_angle=Angle(0 * u.deg), format="fits", min_cut=0.5,
            max_cut=99.5, stretch="linear", cmap="Greys_r")
    except requests.Timeout:
        reason, detail = "timeout", f"no answer within {timeout:g} s"
    except requests.RequestException as exc:
        reason, detail = "connection", f"cannot connect ({type(exc).__name__})"
    else:
        reason, detail = _parse_image(response)
        if reason is None:
            return detail
    msg = (f"the sky-image service (hips2fits) at {url} gave no image of {survey} around "
           f"RA {ra:.5f}, Dec {dec:.5f}: {detail}; set url= or {SKY_URL_ENVIRONMENT} to a "
           f"mirror (e.g. {MIRROR_SKY_URL})")
    raise SkyImageError(msg, reason=reason, url=url) from None


def _parse_image(response):
    """``(None, hdu)`` for a FITS image in ``response``, else ``(reason, detail)``."""
    if response.status_code != 200:
        try:
            reply = response.json()
            text = str(reply.get("title", "")) + (
                f": {reply['description']}" if reply.get("description") else "")
        except ValueError:  # not the service's JSON error
            text = response.text[:80].strip()
        return "http", f"HTTP {response.status_code} ({text})"
    try:
        with warnings.catch_warnings():
            # a damaged reply warns (VerifyWarning) before it fails: the error says it
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            with fits.open(io.BytesIO(response.content)) as hdus:
                hdu = next(hdu for hdu in hdus if hdu.data is not None and hdu.data.ndim == 2)
                hdu = hdu.copy()
    except (OSError, ValueError, TypeError, StopIteration):
        return "bad_reply", "the reply is not a FITS image"
    return None, hdu


def _group(model, visit_index, guidestar_index, *, where):
    """The frames of one visit and guide star (default: the first group)."""
    groups = model.frame_groups()
    for visit, star, frames in groups:
        if ((visit_index is None or visit == visit_index)
                and (guidestar_index is None or star == guidestar_index)):
            return visit, star, frames
    held = ", ".join(f"({visit}, {star})" for visit, star, _ in groups) or "none"
    msg = (f"{where}: the model has no frame of visit_index={visit_index!r}, "
           f"guidestar_index={guidestar_index!r}; (visit, guide star) held: {held}")
    raise ParameterError(msg)


def _star_in_window(model, frames):
    """Median fitted centroid (x, y) of the frames (window pixels); (None, None) without a fit."""
    if not (model.hasattr("gauss_fit") or model.hasattr("quick_fit")):
        return None, None
    table = getattr(model, model.fit_table_name("auto"))
    if len(table) != len(model.frames):
        return None, None
    rows = np.asarray(table)[frames]
    good = (rows["flags"] == 0) & np.isfinite(rows["x_mean"]) & np.isfinite(rows["y_mean"])
    if not good.any():
        return None, None
    return float(np.median(rows["x_mean"][good])), float(np.median(rows["y_mean"][good]))


def _product_pa_v3(model):
    try:
        value = model.meta.pointing.pa_v3
    except AttributeError:
        return None
    return None if value is None or not np.isfinite(value) else float(value)


def guidestar_plot(model, *, visit_index=None, guidestar_index=None, pa_v3=None,
                   survey=DEFAULT_SURVEY, fov=None, url=None, timeout=30.0, fig=None):
    """The guide star on a sky image, with the FGS aperture and the 8x8 window; returns the Axes.

    The image (a hips2fits cutout, `sky_image`) is centred on the guide
    star, north up and east left, and spans the whole aperture.  Drawn on
    it (`guidestar_sky`): the guide star (label ``'guide star <id>'``),
    the aperture outline from pysiaf (``'FGS1_FULL aperture'``), the 8x8
    window at its place on the detector (``'8x8 window'``; smaller than
    one survey pixel, so also shown magnified in an inset) and the model's
    other guide stars in the field.  Without a PA_V3 the orientation is
    assumed and the figure says so.

    Parameters
    ----------
    model : GuideStarModel
        With its ``guidestars``, ``files`` and ``frames`` tables (the
        window corner is the FILES table's ``xstart``/``ystart``; the star's
        place in the window the median fitted centroid, else the centre).
    visit_index, guidestar_index : int, optional
        The visit (position in `~spelunker.GuideStarModel.visits`) and the
        guide star (row of the guide-star table); default the first.
    pa_v3 : float, optional
        Position angle of V3 at V1 (deg); default the model's
        ``meta.pointing.pa_v3``, else the guide star's ``GS_V3_PA`` (the
        ``gs_v3_pa`` column of the guide-star table, V3's position angle at
        the guide star), else an assumed 0 with an
        `~spelunker.errors.OrientationAssumedWarning` and a note on the figure.
    survey : str, optional
        HiPS survey (`DEFAULT_SURVEY`).
    fov : float, optional
        Side of the image (deg); default 1.2 times the largest distance of
        the aperture from the star, doubled.
    url : str, optional
        The hips2fits service (``SPELUNKER_HIPS2FITS_URL``, else `DEFAULT_SKY_URL`).
    timeout : float, optional
        Seconds to wait for the service.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw in; a new pyplot figure when None.

    Returns
    -------
    astropy.visualization.wcsaxes.WCSAxes
        The sky Axes (a matplotlib Axes; data in the image's pixels, the
        outlines drawn in ICRS degrees).

    Raises
    ------
    spelunker.errors.SkyImageError
        When the service gives no image (an `~spelunker.errors.ArchiveError`).
    spelunker.errors.GuideStarInputError
        For a model without frames or guide-star table.
    spelunker.errors.ParameterError
        For a visit or guide star the model does not hold, or a bad option.
    """
    where = "guidestar_plot"
    check_model(model, where=where)
    require_frames_table(model)
    if not model.hasattr("guidestars") or len(model.guidestars) == 0:
        raise GuideStarInputError(f"{where}: the model has no guide-star table")
    _, star, frames = _group(model, visit_index, guidestar_index, where=where)
    stars = model.table("guidestars")
    row = stars[star]
    files = model.table("files")
    first = files[int(np.asarray(model.frames["file_index"])[frames[0]])]
    corner = [int(first[name]) if name in files.colnames else 0 for name in ("xstart", "ystart")]
    x, y = _star_in_window(model, frames)
    source = "argument"
    if pa_v3 is None:
        pa_v3 = _product_pa_v3(model)
        source = "product"
    gs_v3_pa = float(row["gs_v3_pa"]) if "gs_v3_pa" in stars.colnames else np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OrientationAssumedWarning)  # warned below, once
        sky = guidestar_sky(float(row["gs_ra"]), float(row["gs_dec"]),
                            detector=str(row["detector"]), xstart=corner[0], ystart=corner[1],
                            x=x, y=y, pa_v3=pa_v3, pa_v3_source=source,
                            gs_v3_pa=gs_v3_pa if np.isfinite(gs_v3_pa) else None)
    if sky.pa_v3_source == "assumed":
        warnings.warn(f"{where}: no pa_v3 given and the product has no PA_V3 or "
                      f"GS_V3_PA; the FGS aperture is drawn at PA_V3 = {sky.pa_v3:g} deg "
                      "(orientation not known)", OrientationAssumedWarning, stacklevel=2)
    others = [(float(other["gs_ra"]), float(other["gs_dec"]), str(other["gs_id"]))
              for k, other in enumerate(stars) if k != star]
    return draw_guidestar_sky(sky, label=str(row["gs_id"]), others=others, survey=survey,
                              fov=fov, url=url, timeout=timeout, fig=fig)


def _default_fov(sky):
    """Image side (deg) holding the whole aperture around the star, with a margin."""
    ra0, dec0 = np.deg2rad(sky.ra), np.deg2rad(sky.dec)
    ra, dec = np.deg2rad(sky.aperture_ra), np.deg2rad(sky.aperture_dec)
    cos_distance = (np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0))
    distance = np.rad2deg(np.arccos(np.clip(cos_distance, -1.0, 1.0)))
    return 2.4 * float(distance.max())


def draw_guidestar_sky(sky, *, label="", others=(), survey=DEFAULT_SURVEY, fov=None, url=None,
                       timeout=30.0, fig=None, title=None):
    """Draw a `GuideStarSky` on a sky image (the drawing of `guidestar_plot`); returns the Axes.

    Parameters
    ----------
    sky : GuideStarSky
        From `guidestar_sky`.
    label : str, optional
        The guide star's name (legend ``'guide star <label>'``).
    others : sequence of (ra, dec, name), optional
        Other guide stars to mark when in the field.
    survey, fov, url, timeout, fig
        As `guidestar_plot`.
    title : str, optional
        Axes title (default: the star and the detector).

    Returns
    -------
    astropy.visualization.wcsaxes.WCSAxes
    """
    if not isinstance(sky, GuideStarSky):
        raise ParameterError(f"sky={sky!r:.60} must be a GuideStarSky (guidestar_sky)")
    fov = _default_fov(sky) if fov is None else check_positive_float(
        fov, "fov", unit="degrees", where="guidestar_plot")
    hdu = sky_image(sky.ra, sky.dec, fov, survey=survey, url=url, timeout=timeout)
    # astropy.visualization imports matplotlib: it loads only when drawing
    from astropy.visualization import ImageNormalize, PercentileInterval

    fig = new_figure(fig, (7, 7))
    wcs = WCS(hdu.header).celestial
    ax = fig.add_subplot(projection=wcs)
    data = np.asarray(hdu.data, dtype=float)
    ax.imshow(data, origin="lower", cmap="Greys", interpolation="nearest",
              norm=ImageNormalize(data, interval=PercentileInterval(99.5)))
    icrs = ax.get_transform("icrs")
    _draw_outlines(ax, sky, label, icrs)
    shown = [(ra, dec, name) for ra, dec, name in others
             if _inside(wcs, data.shape, ra, dec)]
    if shown:
        ax.plot([o[0] for o in shown], [o[1] for o in shown], transform=icrs,
                label="other guide stars", **SKY_STYLES["other guide stars"])
    ax.set_xlim(-0.5, data.shape[1] - 0.5)
    ax.set_ylim(-0.5, data.shape[0] - 0.5)
    ax.coords[0].set_axislabel("RA (ICRS)")
    ax.coords[1].set_axislabel("Dec (ICRS)")
    ax.set_title(title or f"guide star {label} ({sky.detector}), {survey}", fontsize="medium")
    ax.legend(loc="upper right", fontsize="small")
    if sky.window_ra is not None:
        _window_inset(ax, sky, icrs)
    text = [f"PA_V3 {sky.pa_v3:.2f} deg ({sky.pa_v3_source})", *sky.notes]
    ax.text(0.02, 0.02, "\n".join(text), transform=ax.transAxes, fontsize="small",
            va="bottom", ha="left", color="C3" if sky.notes else "0.1", gid="sky_notes",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    return ax


def _draw_outlines(ax, sky, label, transform):
    ax.plot(sky.aperture_ra, sky.aperture_dec, transform=transform,
            label=f"{sky.aperture_name} aperture", gid="aperture", **SKY_STYLES["aperture"])
    if sky.window_ra is not None:
        ax.plot(sky.window_ra, sky.window_dec, transform=transform, label="8x8 window",
                gid="window", **SKY_STYLES["window"])
    ax.plot([sky.ra], [sky.dec], transform=transform,
            label=f"guide star {label}".strip(), gid="guide_star", **SKY_STYLES["guide star"])


def _inside(wcs, shape, ra, dec):
    x, y = wcs.world_to_pixel_values(ra, dec)
    return bool(-0.5 <= x <= shape[1] - 0.5 and -0.5 <= y <= shape[0] - 0.5)


def _window_inset(ax, sky, transform):
    """A magnified view of the star and the window (2 arcsec across), lower right."""
    inset = ax.inset_axes([0.62, 0.04, 0.34, 0.34], transform=ax.transAxes)
    cos_dec = np.cos(np.deg2rad(sky.dec))
    east = (sky.window_ra - sky.ra) * cos_dec * 3600.0
    north = (sky.window_dec - sky.dec) * 3600.0
    inset.plot(east, north, gid="window_inset", **SKY_STYLES["window"])
    inset.plot([0.0], [0.0], **SKY_STYLES["guide star"])
    half = 1.2 * float(np.max(np.abs(np.concatenate([east, north]))))
    inset.set_xlim(half, -half)  # east to the left
    inset.set_ylim(-half, half)
    inset.set_aspect("equal")
    inset.tick_params(labelsize="x-small")
    inset.locator_params(nbins=4)
    inset.set_xlabel("east (arcsec)", fontsize="x-small")
    inset.set_ylabel("north (arcsec)", fontsize="x-small")
    inset.set_title("8x8 window", fontsize="x-small")
