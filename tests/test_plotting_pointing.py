"""The pointing figures: jitter_plot (mas, 15 s band, spectrum lines, histogram), guidestar_plot.

``guidestar_plot`` is drawn against a local hips2fits (`tests/sky_server.py`)
and its outlines are checked against an independent solution with pysiaf:
the attitude found by solving for V1's RA/Dec (pysiaf's ``attitude`` at V1
with the PA_V3), not by the module's roll iteration at the star.
"""

import logging
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.table import Table
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sky_server import FakeSkyImages, closed_port_url
from spelunker import GuideStarFitStep, datasets, read_guidestar
from spelunker.errors import (ArchiveError, OrientationAssumedWarning, ParameterError,
                              SkyImageError, SpelunkerError)
from spelunker.instrument import guider_aperture
from spelunker.plotting import guidestar_plot, jitter_plot, pointing_figure
from spelunker.plotting.pointing import pointing_section
from spelunker.plotting.sky import (
    DEFAULT_SURVEY,
    SKY_URL_ENVIRONMENT,
    draw_guidestar_sky,
    guidestar_sky,
)
from spelunker.pointing import interval_averages, stability_metrics

# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def sky_server():
    with FakeSkyImages() as server:
        yield server


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A fitted 900-frame synthetic visit (guider 1)."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("pointing_visit"),
        visits=[datasets.VisitSpec(n_frames=900, n_segments=1)], seed=5)
    return GuideStarFitStep.call(read_guidestar(visit.files), method="quick")


def _series(n=4800, dt=0.0625, frequency=0.4, amplitude=3.0, seed=3):
    """A series of offsets in mas: a sinusoid in V2 on white noise, and its times."""
    rng = np.random.default_rng(seed)
    seconds = np.arange(n) * dt
    dv2 = amplitude * np.sin(2 * np.pi * frequency * seconds) + rng.normal(0, 1.0, n)
    dv3 = rng.normal(0, 1.0, n)
    return SimpleNamespace(seconds=seconds, dv2_mas=dv2, dv3_mas=dv3,
                           good=np.ones(n, dtype=bool), mjd=60100.0 + seconds / 86400.0)


# --------------------------------------------------------------------------
# jitter_plot


def test_jitter_plot_three_panels_with_units():
    fig = jitter_plot(_series(), fig=Figure(layout="constrained"))
    time_ax, spectrum_ax, histogram_ax = fig.axes[:3]
    assert len(fig.axes) == 4  # and the histogram's colour bar
    assert time_ax.get_xlabel().startswith("time since 2023-06-05T00:00:00.000")
    assert time_ax.get_xlabel().endswith("UTC (min)")
    assert "(mas)" in time_ax.get_ylabel()
    assert spectrum_ax.get_xlabel() == "frequency (Hz)"
    assert "(mas²/Hz)" in spectrum_ax.get_ylabel()
    assert spectrum_ax.get_xscale() == spectrum_ax.get_yscale() == "log"
    assert histogram_ax.get_xlabel() == "ΔV2 (mas)"
    assert histogram_ax.get_ylabel() == "ΔV3 (mas)"
    assert fig.axes[3].get_ylabel() == "frames"
    assert re.match(r"15 s stability: V2 [\d.]+ mas, V3 [\d.]+ mas, radial [\d.]+ mas \(rms",
                    time_ax.get_title())


def test_jitter_plot_marks_the_lines_where_the_spectrum_has_them():
    from spelunker.pointing import jitter_spectrum, spectral_lines

    series = _series(frequency=0.4)
    spectrum = jitter_spectrum(series.seconds, series.dv2_mas, series.dv3_mas)
    lines = spectral_lines(spectrum)
    fig = jitter_plot(series, spectrum=spectrum, lines=lines, fig=Figure())
    ax = fig.axes[1]
    marked = [artist.get_xdata()[0] for artist in ax.get_lines()
              if artist.get_gid() == "spectral_line"]
    np.testing.assert_allclose(sorted(marked), sorted(lines["frequency_hz"]))
    # the strongest line is the injected sinusoid, and it is marked with its amplitude
    assert abs(lines["frequency_hz"][0] - 0.4) <= spectrum.resolution_hz
    labels = [text.get_text() for text in ax.texts if text.get_gid() == "spectral_line_label"]
    assert labels[0].startswith(f"{lines['frequency_hz'][0]:.3g} Hz\n")
    assert labels[0].endswith(f"{lines['amplitude_mas'][0]:.2g} mas")
    # the marks follow the table given, wherever its lines are
    given = Table({"frequency_hz": [0.125, 1.5], "amplitude_mas": [1.0, 2.0]})
    fig = jitter_plot(series, spectrum=spectrum, lines=given, fig=Figure())
    marked = [artist.get_xdata()[0] for artist in fig.axes[1].get_lines()
              if artist.get_gid() == "spectral_line"]
    assert marked == [0.125, 1.5]


def test_jitter_plot_band_is_the_15s_stability_and_the_averages_are_drawn():
    series = _series()
    series.good[100:300] = False  # left out of everything drawn
    fig = jitter_plot(series, fig=Figure())
    ax = fig.axes[0]
    bands = {c.get_gid(): c for c in ax.collections if str(c.get_gid()).startswith("rms_band")}
    assert set(bands) == {"rms_band_v2", "rms_band_v3"}
    d2 = np.where(series.good, series.dv2_mas, np.nan)
    d3 = np.where(series.good, series.dv3_mas, np.nan)
    metrics = stability_metrics(series.seconds, d2, d3)
    for key in ("v2", "v3"):
        vertices = bands[f"rms_band_{key}"].get_paths()[0].vertices
        assert np.isclose(vertices[:, 1].max(), metrics[f"stability_{key}_mas"])
        assert np.isclose(vertices[:, 1].min(), -metrics[f"stability_{key}_mas"])
    averages = interval_averages(series.seconds, d2, d3, interval=15.0)
    means = [line for line in ax.get_lines() if line.get_gid() == "mean_v2"][0]
    np.testing.assert_allclose(means.get_ydata()[::2], averages["dv2_mas"])
    np.testing.assert_allclose(means.get_xdata()[1::2], averages["stop_s"] / 60.0)  # minutes
    frames = [line for line in ax.get_lines() if line.get_gid() == "frames_v2"][0]
    assert len(frames.get_xdata()) == np.count_nonzero(series.good)


def test_jitter_plot_histogram_orientation():
    series = SimpleNamespace(seconds=np.arange(100.0), dv2_mas=np.zeros(100),
                             dv3_mas=np.zeros(100))
    counts = np.zeros((2, 4), dtype=int)
    counts[0, 3] = 7  # V3 bin 0 (row, y), V2 bin 3 (column, x): excursion_histogram's layout
    fig = jitter_plot(series, histogram=(counts, np.arange(5.0), np.arange(3.0)),
                      lines=Table({"frequency_hz": [], "amplitude_mas": []}), fig=Figure())
    mesh = fig.axes[2].collections[0]
    assert mesh.get_array().shape == (2, 4)
    assert mesh.get_array()[0, 3] == 7
    assert fig.axes[2].get_xlim() == (0.0, 4.0) and fig.axes[2].get_ylim() == (0.0, 2.0)
    assert fig.axes[0].get_xlabel() == "time since the first frame (s)"  # no mjd


def test_jitter_plot_refuses_bad_input():
    with pytest.raises(ParameterError, match="PointingSeries"):
        jitter_plot(np.zeros(10), fig=Figure())
    with pytest.raises(ParameterError, match="fig="):
        jitter_plot(_series(n=200), fig="no")
    bad = _series(n=200)
    bad.dv3_mas = bad.dv3_mas[:-1]
    with pytest.raises(ParameterError, match="dv3_mas"):
        jitter_plot(bad, fig=Figure())
    with pytest.raises(ParameterError, match="histogram="):
        jitter_plot(_series(n=200), histogram=(1, 2), fig=Figure())


# --------------------------------------------------------------------------
# guidestar_plot: geometry against pysiaf, on the local sky-image server


def _expected_outlines(detector, ra, dec, pa_v3, xstart, ystart):
    """Aperture vertices and window corners (deg) computed with pysiaf alone.

    The attitude is pysiaf's at V1 with roll PA_V3, V1's RA/Dec solved so
    that the star (window centre, sci = start + 3.5) lands at (ra, dec).
    """
    guider_aperture(detector)  # imports pysiaf without its online version check
    import pysiaf
    from pysiaf.utils import rotations
    from scipy.optimize import least_squares

    aperture = pysiaf.Siaf("FGS")["FGS1_FULL" if detector == "GUIDER1" else "FGS2_FULL"]
    star_v2, star_v3 = aperture.sci_to_tel(xstart + 3.5, ystart + 3.5)

    def miss(v1):
        got = rotations.pointing(rotations.attitude(0.0, 0.0, v1[0], v1[1], pa_v3),
                                 star_v2, star_v3)
        return [(got[0] - ra) * np.cos(np.deg2rad(dec)) * 3600, (got[1] - dec) * 3600]

    v1 = least_squares(miss, [ra, dec], xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    attitude = rotations.attitude(0.0, 0.0, v1[0], v1[1], pa_v3)
    idl_x = [getattr(aperture, f"XIdlVert{k}") for k in range(1, 5)]
    idl_y = [getattr(aperture, f"YIdlVert{k}") for k in range(1, 5)]
    outline = rotations.pointing(attitude, *aperture.idl_to_tel(np.array(idl_x),
                                                                 np.array(idl_y)))
    edges_x = xstart + np.array([-0.5, 7.5, 7.5, -0.5])
    edges_y = ystart + np.array([-0.5, -0.5, 7.5, 7.5])
    window = rotations.pointing(attitude, *aperture.sci_to_tel(edges_x, edges_y))
    # tolerance: a hundredth of a detector pixel, from the SIAF's own scale
    tolerance = 0.01 * min(aperture.XSciScale, aperture.YSciScale)
    return np.array(outline), np.array(window), tolerance


def _separation_arcsec(ra1, dec1, ra2, dec2):
    """Angles between directions (arcsec), from the chord (precise at mas scales)."""
    def unit(ra, dec):
        ra, dec = np.deg2rad(np.asarray(ra, float)), np.deg2rad(np.asarray(dec, float))
        return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])

    chord = np.linalg.norm(unit(ra1, dec1) - unit(ra2, dec2), axis=0)
    return np.rad2deg(2 * np.arcsin(chord / 2)) * 3600.0


def _line(ax, label):
    found = [line for line in ax.get_lines() if line.get_label() == label]
    assert len(found) == 1, [line.get_label() for line in ax.get_lines()]
    return found[0]


@pytest.mark.parametrize(("detector", "ra", "dec", "pa_v3", "corner"), [
    ("GUIDER1", 150.0, 62.0, 37.0, (1021, 1021)),
    ("GUIDER2", 280.5, -45.0, 253.0, (301, 1710)),
])
def test_guidestar_plot_draws_star_aperture_window_at_the_right_places(
        sky_server, detector, ra, dec, pa_v3, corner):
    sky = guidestar_sky(ra, dec, detector=detector, xstart=corner[0], ystart=corner[1],
                        pa_v3=pa_v3)
    ax = draw_guidestar_sky(sky, label="S1", url=sky_server.url, fig=Figure())
    assert isinstance(ax, Axes)
    aperture_name = "FGS1_FULL" if detector == "GUIDER1" else "FGS2_FULL"
    star = _line(ax, "guide star S1")
    outline = _line(ax, f"{aperture_name} aperture")
    window = _line(ax, "8x8 window")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (ra, dec)
    expected_outline, expected_window, tolerance = _expected_outlines(
        detector, ra, dec, pa_v3, *corner)
    for line, expected in ((outline, expected_outline), (window, expected_window)):
        xy = np.column_stack([line.get_xdata(), line.get_ydata()])
        assert len(xy) == 5 and np.array_equal(xy[0], xy[-1])  # closed
        miss = _separation_arcsec(xy[:4, 0], xy[:4, 1], expected[0], expected[1])
        assert miss.max() < tolerance, (miss, tolerance)
    # the outlines are drawn in ICRS degrees on the image's WCS: the star at its centre
    image = ax.get_images()[0].get_array()
    x, y = ax.wcs.world_to_pixel_values(ra, dec)
    assert abs(x - (image.shape[1] - 1) / 2) < 0.01 and abs(y - (image.shape[0] - 1) / 2) < 0.01
    query = sky_server.requests[-1]
    assert query["hips"] == DEFAULT_SURVEY and query["projection"] == "TAN"
    assert float(query["ra"]) == ra and float(query["dec"]) == dec
    # the image holds the whole aperture
    px, py = ax.wcs.world_to_pixel_values(expected_outline[0], expected_outline[1])
    assert np.all((px > 0) & (px < image.shape[1]) & (py > 0) & (py < image.shape[0]))
    notes = [text.get_text() for text in ax.texts if text.get_gid() == "sky_notes"]
    assert notes == [f"PA_V3 {pa_v3:.2f} deg (argument)"]


def test_guidestar_plot_orientation_follows_pa_v3():
    turned = [guidestar_sky(10.0, 0.0, detector="GUIDER1", xstart=1021, ystart=1021,
                            pa_v3=angle) for angle in (0.0, 90.0)]
    # at the equator, turning PA_V3 by 90 deg turns the aperture's centre about the star
    east = [(sky.aperture_ra[:4].mean() - 10.0) * 3600 for sky in turned]
    north = [(sky.aperture_dec[:4].mean()) * 3600 for sky in turned]
    angle = np.rad2deg(np.arctan2(east[1], north[1]) - np.arctan2(east[0], north[0])) % 360
    assert abs(angle - 90.0) < 0.5


def test_guidestar_plot_of_a_model(sky_server, fitted):
    model = fitted.copy()
    model.meta.instance["pointing"] = {"pa_v3": 75.0}  # PA_V3 of a product that has one
    with warnings.catch_warnings():
        warnings.simplefilter("error", OrientationAssumedWarning)
        ax = guidestar_plot(model, url=sky_server.url, fig=Figure())
    gs_id = str(model.table("guidestars")["gs_id"][0])
    labels = [line.get_label() for line in ax.get_lines()]
    assert f"guide star {gs_id}" in labels and "FGS1_FULL aperture" in labels
    assert "8x8 window" in labels  # the FILES table says where the window is
    notes = [text.get_text() for text in ax.texts if text.get_gid() == "sky_notes"]
    assert notes == ["PA_V3 75.00 deg (product)"]


def test_guidestar_plot_orients_the_aperture_by_gs_v3_pa(sky_server, fitted):
    model = fitted.copy()
    model.guidestars["gs_v3_pa"][0] = 42.5  # the guider products' GS_V3_PA
    with warnings.catch_warnings():
        warnings.simplefilter("error", OrientationAssumedWarning)
        ax = guidestar_plot(model, url=sky_server.url, fig=Figure())
    notes = [text.get_text() for text in ax.texts if text.get_gid() == "sky_notes"]
    assert len(notes) == 1 and notes[0].endswith("deg (GS_V3_PA)")
    row, files = model.table("guidestars")[0], model.table("files")[0]
    sky = guidestar_sky(float(row["gs_ra"]), float(row["gs_dec"]), detector=str(row["detector"]),
                        xstart=int(files["xstart"]), ystart=int(files["ystart"]), gs_v3_pa=42.5)
    from pysiaf.utils import rotations

    # Independently: V3's position angle at the guide star is GS_V3_PA, and the star is
    # where the catalogue puts it.
    assert float(rotations.posangle(sky.attitude, sky.star_v2, sky.star_v3)) % 360 == \
        pytest.approx(42.5, abs=1e-8)
    ra, dec = rotations.pointing(sky.attitude, sky.star_v2, sky.star_v3)
    assert (float(ra), float(dec)) == pytest.approx((sky.ra, sky.dec), abs=1e-10)
    assert sky.pa_v3 == pytest.approx(float(rotations.posangle(sky.attitude, 0.0, 0.0)) % 360)
    # a different GS_V3_PA turns the outline
    turned = guidestar_sky(float(row["gs_ra"]), float(row["gs_dec"]),
                           detector=str(row["detector"]), xstart=int(files["xstart"]),
                           ystart=int(files["ystart"]), gs_v3_pa=132.5)
    assert turned.pa_v3 == pytest.approx((sky.pa_v3 + 90.0) % 360, abs=0.5)


def test_guidestar_plot_without_pa_v3_says_so(sky_server, fitted):
    model = fitted.copy()
    model.guidestars["gs_v3_pa"][0] = np.nan  # a product without GS_V3_PA
    with pytest.warns(OrientationAssumedWarning, match="pa_v3"):
        ax = guidestar_plot(model, url=sky_server.url, fig=Figure())
    notes = [text.get_text() for text in ax.texts if text.get_gid() == "sky_notes"][0]
    assert "PA_V3 unknown" in notes and "(assumed)" in notes


def test_guidestar_plot_service_url_from_the_environment(sky_server, monkeypatch):
    monkeypatch.setenv(SKY_URL_ENVIRONMENT, sky_server.url)
    before = len(sky_server.requests)
    sky = guidestar_sky(1.0, 2.0, detector="GUIDER2", xstart=900, ystart=900, pa_v3=0.0)
    draw_guidestar_sky(sky, fig=Figure())
    assert len(sky_server.requests) == before + 1


def test_guidestar_plot_unreachable_service_is_a_clear_error():
    url = closed_port_url()
    sky = guidestar_sky(1.0, 2.0, detector="GUIDER1", xstart=1021, ystart=1021, pa_v3=0.0)
    with pytest.raises(SkyImageError) as caught:
        draw_guidestar_sky(sky, url=url, fig=Figure())
    error = caught.value
    assert isinstance(error, ArchiveError) and isinstance(error, SpelunkerError)
    assert error.reason == "connection" and error.url == url
    assert url in str(error) and "hips2fits" in str(error)
    assert SKY_URL_ENVIRONMENT in str(error)  # says how to point it at a mirror
    assert error.__cause__ is None and error.__suppress_context__  # no chained traceback


@pytest.mark.parametrize(("failure", "reason", "text"), [
    ("json", "http", "HTTP 400 (Bad request"),
    ("html", "http", "HTTP 500"),
    ("garbage", "bad_reply", "not a FITS image"),
])
def test_guidestar_plot_service_failures(failure, reason, text):
    sky = guidestar_sky(1.0, 2.0, detector="GUIDER1", xstart=1021, ystart=1021, pa_v3=0.0)
    with FakeSkyImages() as server:
        server.failure = failure
        with pytest.raises(SkyImageError) as caught:
            draw_guidestar_sky(sky, url=server.url, fig=Figure())
    assert caught.value.reason == reason and text in str(caught.value)


def test_guidestar_sky_refuses_bad_arguments():
    with pytest.raises(ParameterError, match="dec="):
        guidestar_sky(1.0, 95.0, detector="GUIDER1", pa_v3=0.0)
    with pytest.raises(ParameterError, match="pa_v3="):
        guidestar_sky(1.0, 5.0, detector="GUIDER1", pa_v3="north")
    with pytest.raises(ParameterError, match="detector"):
        guidestar_sky(1.0, 5.0, detector="NRCA1", pa_v3=0.0)
    with pytest.raises(ParameterError, match="url="):
        draw_guidestar_sky(guidestar_sky(1.0, 5.0, detector="GUIDER1", pa_v3=0.0), url=5,
                           fig=Figure())


def test_guidestar_sky_unknown_window_places_star_at_the_reference_point():
    guider_aperture("GUIDER2")  # imports pysiaf without its online version check
    import pysiaf

    with pytest.warns(OrientationAssumedWarning):
        sky = guidestar_sky(1.0, 5.0, detector="GUIDER2")
    aperture = pysiaf.Siaf("FGS")["FGS2_FULL"]
    assert (sky.star_v2, sky.star_v3) == (aperture.V2Ref, aperture.V3Ref)
    assert sky.window_ra is None and len(sky.notes) == 2


# --------------------------------------------------------------------------
# Model, report and session


def test_pointing_figure_and_report_section(fitted, tmp_path):
    fig = pointing_figure(fitted, fig=Figure())
    assert fig.axes[0].get_title().startswith("jw01534001001, guide star ")
    html, paths = pointing_section(fitted, tmp_path, stem="jw01534001001", dpi=30)
    assert [path.name for path in paths] == ["jw01534001001_jitter.png"]
    assert '<figure id="jitter" class="wide">' in html and "mas" in html
    with pytest.raises(ParameterError, match="visit_index=3"):
        pointing_figure(fitted, visit_index=3, fig=Figure())


def test_report_section_without_fit(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=300, n_segments=1)], seed=2)
    html, paths = pointing_section(read_guidestar(visit.files), tmp_path, stem="x", dpi=30)
    assert paths == [] and "No fit table" in html


def test_session_methods(sky_server, fitted, tmp_path, caplog):
    from spelunker import load

    spk = load(tmp_path)
    spk.model = fitted
    assert len(spk.jitter_plot(fig=Figure()).axes) == 4
    ax = spk.guidestar_plot(pa_v3=10.0, url=sky_server.url, fig=Figure())
    assert "8x8 window" in [line.get_label() for line in ax.get_lines()]
    url = closed_port_url()
    with caplog.at_level(logging.DEBUG), pytest.raises(SkyImageError, match="hips2fits") as caught:
        spk.guidestar_plot(pa_v3=10.0, url=url, fig=Figure())
    # one clear error: no chained traceback, nothing logged with a traceback
    assert url in str(caught.value) and caught.value.__suppress_context__
    assert not [record for record in caplog.records if record.exc_info]
