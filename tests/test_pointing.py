"""spelunker.instrument's SIAF apertures and spelunker.pointing: sky, metrics, spectrum."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from spelunker import datasets, read_guidestar
from spelunker.datamodels import GuideStarModel
from spelunker.errors import ParameterError
from spelunker.events import find_events, store_events
from spelunker.fitting import fit_gaussian_frames, fit_moments_frames, fit_table, store_fit
from spelunker import instrument
from spelunker.instrument import (GUIDER_APERTURES, SIAF_FIELDS, aperture_numbers, guider_aperture,
                                  guider_name, pixel_scales)
from spelunker.io.reader import open_guidestar
from spelunker.pointing import (STABILITY_COLUMNS, excursion_histogram, expected_stability,
                                ideal_to_telescope, interval_averages, jitter_spectrum,
                                pointing_series, pointing_stability, series_metrics,
                                series_spectrum, spectral_lines, stability_metrics,
                                telescope_to_ideal, window_jacobian, window_to_science,
                                window_to_sky)

GUIDERS = ("GUIDER1", "GUIDER2")

# A grid of positions over the 8x8 window, beyond its pixel centres to its edges.
GRID_X, GRID_Y = (v.ravel() for v in np.meshgrid(np.linspace(-0.5, 7.5, 9),
                                                 np.linspace(-0.5, 7.5, 9)))

# The 8x8 subarray apertures of the SIAF and the science-frame pixel of their first
# pixel (SUBSTRT1, SUBSTRT2).  Derived from each aperture's detector corners and the
# full aperture's det -> sci convention (DetSciYAngle 180 for FGS1: both axes flip,
# DetSciParity -1 for FGS2: x flips), written out here so the test fails if the
# window placement or an axis convention changes.
SUBARRAY_STARTS = {
    ("GUIDER1", "SUB8LL"): (1981, 1981), ("GUIDER1", "SUB8DIAG"): (1501, 1501),
    ("GUIDER1", "SUB8CNTR"): (1021, 1021),
    ("GUIDER2", "SUB8LL"): (1981, 61), ("GUIDER2", "SUB8DIAG"): (1501, 541),
    ("GUIDER2", "SUB8CNTR"): (1021, 1021),
}


def siaf_aperture(name):
    from spelunker.instrument import _fgs_siaf

    return _fgs_siaf()[name]


# --- instrument -------------------------------------------------------------------------


def test_guider_names_and_apertures():
    assert guider_name("fgs1") == "GUIDER1" and guider_name(" Guider2") == "GUIDER2"
    for bad in ("NRS1", "", None, 1):
        with pytest.raises(ParameterError, match="detector=.* is not a guider"):
            guider_aperture(bad)
    for detector in GUIDERS:
        aperture = guider_aperture(detector)
        assert aperture.AperName == GUIDER_APERTURES[detector]
        assert guider_aperture(detector.replace("GUIDER", "FGS")) is aperture  # cached
        assert guider_aperture(detector, frame="onboard").AperName == aperture.AperName + "_OSS"
        assert pixel_scales(detector) == (aperture.XSciScale, aperture.YSciScale)
        assert all(0.067 < scale < 0.071 for scale in pixel_scales(detector))


@pytest.mark.parametrize("frame", ["science", "onboard"])
@pytest.mark.parametrize("detector", GUIDERS)
def test_aperture_numbers_are_pysiafs(detector, frame):
    aperture = guider_aperture(detector, frame=frame)
    numbers = aperture_numbers(detector, frame=frame)
    degree = int(aperture.Sci2IdlDeg)
    names = [*SIAF_FIELDS, *(f"Sci2Idl{axis}{i}{j}" for axis in "XY"
                             for i in range(degree + 1) for j in range(i + 1))]
    assert sorted(numbers) == sorted(names)
    assert all(numbers[name] == float(getattr(aperture, name)) for name in names)
    with pytest.raises(TypeError):
        numbers["V2Ref"] = 0.0  # one shared copy per process: read-only
    with pytest.raises(ParameterError, match="aperture_numbers: frame='sky'"):
        aperture_numbers(detector, frame="sky")


_CACHED_NUMBERS = textwrap.dedent("""
    import json, sys
    from spelunker.instrument import aperture_numbers, pixel_scales
    from spelunker.pointing import window_to_sky
    sky = window_to_sky(3.5, 3.5, detector="GUIDER2", xstart=1021, ystart=1021)
    print(json.dumps({"pysiaf": "pysiaf" in sys.modules, "scales": pixel_scales("GUIDER1"),
                      "v2": float(sky.v2), "numbers": dict(aperture_numbers("FGS2"))}))
""")


def _cached_numbers(cache):
    done = subprocess.run([sys.executable, "-c", _CACHED_NUMBERS], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "SPELUNKER_CACHE": str(cache),
                               "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_aperture_numbers_are_cached_per_pysiaf_version(tmp_path, monkeypatch):
    """The first process reads pysiaf and keeps the numbers; later ones do not import pysiaf
    (0.45 s) and compute the same; a damaged cache file is read from pysiaf again and
    replaced; an unwritable cache folder costs only the time."""
    import pysiaf  # noqa: PLC0415 - for its version

    first = _cached_numbers(tmp_path / "cache")
    (cached,) = (tmp_path / "cache" / "siaf").iterdir()
    assert cached.name == f"fgs-pysiaf-{pysiaf.__version__}.json"
    later = _cached_numbers(tmp_path / "cache")
    assert first["pysiaf"] and not later["pysiaf"]
    assert later == {**first, "pysiaf": False}
    assert first["numbers"] == dict(aperture_numbers("GUIDER2"))
    assert first["scales"] == list(pixel_scales("GUIDER1"))

    read_cache = instrument._fgs_numbers.__wrapped__  # what a new process does, uncached
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path / "cache"))
    not_a_degree = json.loads(cached.read_text(encoding="utf-8"))
    not_a_degree["FGS1_FULL"]["Sci2IdlDeg"] = float("nan")  # JSON's NaN: int() would raise
    for damage in ("{", json.dumps({"FGS1_FULL": {"V2Ref": 1.0}}), "[]",
                   json.dumps(not_a_degree)):
        cached.write_text(damage, encoding="utf-8")
        assert read_cache()["FGS2_FULL"] == first["numbers"]
        assert json.loads(cached.read_text(encoding="utf-8"))["FGS2_FULL"] == first["numbers"]

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("SPELUNKER_CACHE", str(blocked))
    assert read_cache()["FGS2_FULL"] == first["numbers"]


def test_pysiaf_import_asks_no_server_and_logs_no_warning(tmp_path):
    # pysiaf's __init__ checks its SIAF version on github.com with no timeout.
    script = textwrap.dedent("""
        import socket, logging
        logging.basicConfig(level=logging.WARNING)
        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        import requests
        get = requests.get
        from spelunker.instrument import guider_aperture
        print(guider_aperture("GUIDER1").AperName)
        assert requests.get is get
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "FGS1_FULL"
    assert "PRD VERSION" not in result.stderr and "network" not in result.stderr


# --- detector to sky ------------------------------------------------------------------


@pytest.mark.parametrize("detector", GUIDERS)
@pytest.mark.parametrize("start", [(1226, 209), (1, 1), (2041, 2041), (1086, 1058)])
def test_window_to_sky_equals_pysiaf_full_aperture(detector, start):
    aperture = guider_aperture(detector)
    sky = window_to_sky(GRID_X, GRID_Y, detector=detector, xstart=start[0], ystart=start[1])
    idl_x, idl_y = aperture.sci_to_idl(start[0] + GRID_X, start[1] + GRID_Y)
    v2, v3 = aperture.idl_to_tel(idl_x, idl_y)
    for ours, theirs in ((sky.idl_x, idl_x), (sky.idl_y, idl_y), (sky.v2, v2), (sky.v3, v3)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("detector", "subarray"), sorted(SUBARRAY_STARTS))
def test_window_to_sky_equals_pysiaf_subarray_apertures(detector, subarray):
    # An independent path: pysiaf's own 8x8 aperture, with its polynomial re-expanded
    # about its own reference pixel and its own V2Ref/V3Ref, sci frame 1-based in the
    # window.  A window shifted by one pixel (67 mas) or transposed fails by far.
    name = f"{detector.replace('GUIDER', 'FGS')}_{subarray}"
    sub = siaf_aperture(name)
    xstart, ystart = SUBARRAY_STARTS[(detector, subarray)]
    full = guider_aperture(detector)
    corner_x, corner_y = sub.corners("det")
    sci_x, sci_y = full.det_to_sci(corner_x, corner_y)
    assert (min(sci_x) + 0.5, min(sci_y) + 0.5) == (xstart, ystart)
    v2, v3 = sub.sci_to_tel(GRID_X + 1, GRID_Y + 1)
    sky = window_to_sky(GRID_X, GRID_Y, detector=detector, xstart=xstart, ystart=ystart)
    np.testing.assert_allclose(sky.v2, v2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sky.v3, v3, rtol=0, atol=1e-6)
    shifted = window_to_sky(GRID_X, GRID_Y, detector=detector, xstart=xstart + 1, ystart=ystart)
    assert np.abs(shifted.v2 - v2).max() > 0.06
    swapped = window_to_sky(GRID_Y, GRID_X, detector=detector, xstart=xstart, ystart=ystart)
    assert np.abs(swapped.v2 - v2).max() > 0.3


@pytest.mark.parametrize("detector", GUIDERS)
def test_onboard_and_science_ideal_frames(detector):
    x, y = np.array([-30.0, 0.0, 45.5]), np.array([12.0, 0.0, -60.25])
    for frame, aperture in (("onboard", guider_aperture(detector, frame="onboard")),
                            ("science", guider_aperture(detector))):
        v2, v3 = ideal_to_telescope(x, y, detector=detector, frame=frame)
        np.testing.assert_allclose(np.array([v2, v3]), np.array(aperture.idl_to_tel(x, y)),
                                   rtol=0, atol=1e-9)
        back = telescope_to_ideal(v2, v3, detector=detector, frame=frame)
        np.testing.assert_allclose(np.array(back), np.array([x, y]), rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.array(back), np.array(aperture.tel_to_idl(v2, v3)),
                                   rtol=0, atol=1e-9)
    # The on-board ideal x is minus the science ideal x; y is the same.
    on = telescope_to_ideal(*ideal_to_telescope(x, y, detector=detector, frame="science"),
                            detector=detector, frame="onboard")
    np.testing.assert_allclose(np.array(on), np.array([-x, y]), atol=1e-9)
    with pytest.raises(ParameterError, match="frame"):
        ideal_to_telescope(x, y, detector=detector, frame="det")


def test_window_placement_and_argument_errors():
    assert [float(v) for v in window_to_science(0.0, 7.0, xstart=1226, ystart=209)] == [1226, 216]
    with pytest.raises(ParameterError, match="xstart must be >= 1"):
        window_to_sky(3.0, 3.0, detector="GUIDER1", xstart=0, ystart=209)
    with pytest.raises(ParameterError, match="x must be numbers"):
        window_to_sky("a", 3.0, detector="GUIDER1", xstart=1, ystart=1)
    # One pixel is the SIAF scale along each axis (distortion aside).
    jac = window_jacobian(3.5, 3.5, detector="GUIDER2", xstart=1021, ystart=1021)
    scale_x, scale_y = pixel_scales("GUIDER2")
    assert np.hypot(jac[0], jac[2]) == pytest.approx(scale_x, rel=2e-3)
    assert np.hypot(jac[1], jac[3]) == pytest.approx(scale_y, rel=2e-3)


def test_onboard_frame_matches_real_telemetry(reference_dir):
    """Real PID 1029 telemetry: the ACQ track box (detector frame) and SA_ZFGGSPOSX/Y.

    The guide star sits inside the 32 px track box whose corner IFGS_ACQ_DETXCOR/DETYCOR
    gives; its on-board ideal position, through ``frame='onboard'``, lands within
    the box on the sky (0.10"; a science-frame reading of the telemetry misses by 36").
    """
    folder = Path(reference_dir) / "engdb" / "telemetry_jw01029_2022-05-22"

    def last(name):
        return json.loads((folder / f"{name}_data.json").read_text())["Data"][-1]["EUValue"]

    corner_x, corner_y = last("ifgs_acq_detxcor"), last("ifgs_acq_detycor")
    size = last("ifgs_acq_detxsiz")
    gs_x, gs_y = last("sa_zfggsposx"), last("sa_zfggsposy")
    full = guider_aperture("GUIDER1")
    # The box centre, detector frame -> science frame -> V2/V3.
    sci_x, sci_y = full.det_to_sci(corner_x + size / 2, corner_y + size / 2)
    box = window_to_sky(sci_x - 1, sci_y - 1, detector="GUIDER1", xstart=1, ystart=1)
    v2, v3 = ideal_to_telescope(gs_x, gs_y, detector="GUIDER1")
    assert np.hypot(v2 - box.v2, v3 - box.v3) < size / 2 * 0.07
    wrong = ideal_to_telescope(gs_x, gs_y, detector="GUIDER1", frame="science")
    assert np.hypot(wrong[0] - box.v2, wrong[1] - box.v3) > 20


def test_real_header_gives_the_window_corner(reference_dir):
    # The real PID 1029 GUIDER1 product: SUBSTRT1 1226, SUBSTRT2 209, APERNAME FGS1_FULL.
    from spelunker.io.products import _header_from_fits

    path = Path(reference_dir) / "fgs_headers" / "fgs_fineguide_guider1.fits"
    with fits.open(path) as hdul:
        header = _header_from_fits(path, hdul)
        assert hdul[0].header["APERNAME"] == GUIDER_APERTURES[header["detector"]]
    assert (header["xstart"], header["ystart"]) == (1226, 209)
    assert header["gs_v3_pa"] == pytest.approx(159.2097708046369)  # GS_V3_PA, orients the sky


def test_guidestar_table_holds_gs_v3_pa_and_old_products_open(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=40, n_segments=1, gs_v3_pa=42.5)], seed=3)
    assert fits.getheader(visit.files[0])["GS_V3_PA"] == 42.5
    model = read_guidestar(visit.files)
    assert list(model.guidestars["gs_v3_pa"]) == [42.5]
    saved = tmp_path / "old_gs.fits"
    model.save(saved)
    with fits.open(saved) as hdul:
        hdul["GUIDESTARS"] = fits.BinTableHDU.from_columns(
            [c for c in hdul["GUIDESTARS"].columns if c.name != "gs_v3_pa"],
            header=hdul["GUIDESTARS"].header, name="GUIDESTARS")
        hdul.writeto(saved, overwrite=True)
    old = open_guidestar(saved)
    assert np.isnan(old.guidestars["gs_v3_pa"][0])  # unknown, not 0 deg


# --- metrics on arrays -------------------------------------------------------------------


def test_stability_of_white_noise_and_a_sinusoid():
    rng = np.random.default_rng(4)
    t = np.arange(0.0, 1200.0, 0.0625)
    white = rng.normal(0.0, 1.5, (2, t.size))
    sine = 2.0 * np.sin(2 * np.pi * t / 40.0 + 0.3)
    m = stability_metrics(t, sine + white[0], white[1], err_v2_mas=np.full(t.size, 1.5),
                          err_v3_mas=np.full(t.size, 1.2))
    assert m["n_frames"] == t.size and m["duration"] == pytest.approx(t[-1])
    assert (m["nea_v2_mas"], m["nea_v3_mas"]) == (1.5, 1.2)
    assert m["p2p_v3_mas"] == pytest.approx(1.5, rel=0.05)
    n, intervals = 15.0 / 0.0625, int(t[-1] // 15)
    e2 = expected_stability(white_mas=1.5, frames_per_interval=n, amplitude_mas=2.0,
                            frequency_hz=1 / 40.0, n_intervals=intervals)
    e3 = expected_stability(white_mas=1.5, frames_per_interval=n, n_intervals=intervals)
    assert m["stability_v2_mas"] == pytest.approx(e2, rel=0.1)
    assert m["stability_v3_mas"] == pytest.approx(e3, rel=0.2)
    assert m["stability_mas"] == pytest.approx(np.hypot(m["stability_v2_mas"],
                                                        m["stability_v3_mas"]))
    assert m["rms_v2_mas"] == pytest.approx(np.sqrt(2.0**2 / 2 + 1.5**2), rel=0.03)
    assert abs(m["drift_v2_mas_per_h"]) < 1.0
    # NaN values are left out; errors not given leave the NEA NaN.
    gap = sine + white[0]
    gap[1000:3000] = np.nan
    short = stability_metrics(t, gap, white[1])
    assert short["n_frames"] == t.size - 2000 and np.isnan(short["nea_v2_mas"])


def test_stability_uses_10000_s_windows_and_drift():
    t = np.arange(0.0, 30000.0, 1.0)
    # A step of 10 mas at the end of the first window (666 intervals of 15 s): inside
    # each window the position is constant.
    step = np.where(t < 9990.0, 0.0, 10.0)
    m = stability_metrics(t, step, 0 * t)
    assert m["stability_v2_mas"] == pytest.approx(0.0, abs=1e-9)
    assert stability_metrics(t, step, 0 * t, window=1e6)["stability_v2_mas"] > 4.0
    ramp = stability_metrics(t, t / 3600.0 * 5.0, -t / 3600.0)
    assert ramp["drift_v2_mas_per_h"] == pytest.approx(5.0)
    assert ramp["drift_v3_mas_per_h"] == pytest.approx(-1.0)


def test_interval_averages_and_histogram():
    t = np.arange(0.0, 10.0, 0.25)
    table = interval_averages(t, t, 2 * t, interval=3.0)
    assert table.colnames == ["start_s", "mid_s", "stop_s", "n_frames", "dv2_mas", "dv3_mas",
                              "rms_v2_mas", "rms_v3_mas"]
    assert list(table["n_frames"]) == [12, 12, 12, 4]
    assert table["dv3_mas"][0] == pytest.approx(2 * np.mean(t[:12]))
    assert table["rms_v2_mas"][0] == pytest.approx(np.std(t[:12]))
    assert str(table["dv2_mas"].unit) == "mas" and str(table["mid_s"].unit) == "s"
    rng = np.random.default_rng(1)
    d2, d3 = rng.normal(0, 3, 5000), rng.normal(1, 2, 5000)
    counts, e2, e3 = excursion_histogram(d2, d3, bin_mas=0.5, half_width_mas=6.0)
    assert counts.shape == (24, 24) and counts.sum() == 5000
    assert e2[0] == -6.0 and e2[-1] == 6.0
    inside = (np.abs(d2) < 6) & (np.abs(d3) < 6)
    reference, _, _ = np.histogram2d(d3[inside], d2[inside], bins=[e3, e2])
    # Only the outermost bins differ (excursions beyond the edges are counted there).
    np.testing.assert_array_equal(counts[1:-1, 1:-1], reference[1:-1, 1:-1])


def test_spectrum_and_lines_on_arrays():
    rng = np.random.default_rng(8)
    t = np.arange(0.0, 1800.0, 0.0538)
    d2 = 1.2 * np.sin(2 * np.pi * 0.731 * t) + rng.normal(0, 1.0, t.size)
    d3 = 0.5 * np.cos(2 * np.pi * 0.731 * t) + 3.0 * np.sin(2 * np.pi * 0.05 * t) \
        + rng.normal(0, 1.0, t.size)
    spectrum = jitter_spectrum(t, d2, d3, segment_s=200.0)
    assert spectrum.resolution_hz == pytest.approx(1 / 200.0, rel=1e-3)
    # Parseval: the PSD times the resolution sums to the variance.
    assert np.sum(spectrum.psd_v2) * spectrum.resolution_hz == pytest.approx(np.var(d2),
                                                                           rel=0.02)
    lines = spectral_lines(spectrum)
    assert len(lines) == 2
    first, second = lines[0], lines[1]
    assert abs(first["frequency_hz"] - 0.05) < spectrum.resolution_hz
    assert first["amplitude_v3_mas"] == pytest.approx(3.0, rel=0.1)
    assert abs(second["frequency_hz"] - 0.731) < spectrum.resolution_hz
    assert second["amplitude_v2_mas"] == pytest.approx(1.2, rel=0.1)
    assert second["amplitude_v3_mas"] == pytest.approx(0.5, rel=0.1)
    assert second["amplitude_mas"] == pytest.approx(np.hypot(1.2, 0.5), rel=0.1)
    # Noise alone: no line in a few realisations.
    for seed in range(5):
        noise = np.random.default_rng(seed).normal(0, 1, (2, t.size))
        assert len(spectral_lines(jitter_spectrum(t, *noise))) == 0
    with pytest.raises(ParameterError, match="JitterSpectrum"):
        spectral_lines(np.zeros(3))


# --- the FILES table ---------------------------------------------------------------------


def test_files_table_holds_the_window_corner_and_old_products_open(tmp_path, caplog):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=60, n_segments=2, detector="GUIDER2")],
        seed=2)
    model = read_guidestar(visit.files)
    for row, path in zip(model.files, visit.files, strict=True):
        header = fits.getheader(path)
        assert (row["xstart"], row["ystart"]) == (header["SUBSTRT1"], header["SUBSTRT2"])
        assert row["xstart"] >= 1
    saved = tmp_path / "old_gs.fits"
    model.save(saved)
    with fits.open(saved) as hdul:
        hdul["FILES"] = fits.BinTableHDU.from_columns(
            [c for c in hdul["FILES"].columns if c.name not in ("xstart", "ystart")],
            header=hdul["FILES"].header, name="FILES")
        hdul.writeto(saved, overwrite=True)
    old = open_guidestar(saved)
    assert list(old.files["xstart"]) == [0, 0] and old.meta.filename == "old_gs.fits"
    assert len(old.frames) == 60
    with GuideStarModel(saved) as again:
        assert list(again.files["ystart"]) == [0, 0]
    # Its window is placed at the detector centre, with a warning; offsets stay in mas.
    store_fit(old, fit_moments_frames(old.data, old.err), "quick")
    store_fit(model, fit_moments_frames(model.data, model.err), "quick")
    with caplog.at_level("WARNING", logger="spelunker.pointing.core"):
        placed = pointing_series(old, visit_index=0, guidestar_index=0)
    assert not placed.window_known and "no window corner" in caplog.text
    known = pointing_series(model, visit_index=0, guidestar_index=0)
    assert known.window_known
    np.testing.assert_allclose(placed.dv2_mas, known.dv2_mas, rtol=0.05, atol=0.05)


# --- a synthetic visit through the real fit --------------------------------------------

PERIOD = 11.3  # s (not commensurate with 15 s: the intervals sample its phases)
WOBBLE_PX = 0.045  # semi-amplitude along x (pixels), about 3.1 mas
JITTER_PX = 0.015  # white, per axis (pixels), about 1 mas
N_FRAMES = 5600  # 301 s of 53.8 ms frames
HGA = (100.0, 115.0)  # s


@pytest.fixture(scope="module")
def fitted_visit(tmp_path_factory):
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("pointing"),
        visits=[datasets.VisitSpec(n_frames=N_FRAMES, n_segments=1)],
        signals=[datasets.CentroidWobble(period=PERIOD, amplitude=WOBBLE_PX, axis="x"),
                 datasets.HgaMove(start=HGA[0], stop=HGA[1])],
        jitter=JITTER_PX, seed=7)
    model = read_guidestar(visit.files)
    store_fit(model, fit_gaussian_frames(model.data, model.err), "gauss")
    store_events(model, find_events(model))
    return visit, model


def test_synthetic_visit_metrics_within_10_percent(fitted_visit):
    visit, model = fitted_visit
    series = pointing_series(model, visit_index=0, guidestar_index=0)
    metrics = series_metrics(series, segment_s=100.0)
    row = model.files[0]
    options = {"detector": "GUIDER1", "xstart": row["xstart"], "ystart": row["ystart"]}
    jac = window_jacobian(3.5, 3.5, **options)
    # NEA: against the fit's real error (fitted minus true centre on the sky).
    truth = window_to_sky(np.asarray(visit.truth["x_mean"]), np.asarray(visit.truth["y_mean"]),
                          **options)
    good = series.good
    error_v2 = np.std((series.v2 - truth.v2)[good]) * 1000
    error_v3 = np.std((series.v3 - truth.v3)[good]) * 1000
    assert metrics["nea_v2_mas"] == pytest.approx(error_v2, rel=0.1)
    assert metrics["nea_v3_mas"] == pytest.approx(error_v3, rel=0.1)
    # The line: amplitude (mas, through the SIAF) and frequency.
    amplitude = WOBBLE_PX * np.hypot(jac[0], jac[2]) * 1000
    assert metrics["line_amplitude_mas"] == pytest.approx(amplitude, rel=0.1)
    resolution = series_spectrum(series, segment_s=100.0).resolution_hz
    assert abs(metrics["line_frequency_hz"] - 1 / PERIOD) < resolution
    # The 15 s stability, analytically: the sinusoid attenuated by sinc, white noise / sqrt(N).
    per_interval = 15.0 / np.median(np.diff(series.seconds))
    intervals = int(series.seconds[-1] // 15) - 1  # the HGA move spoils one interval
    expected = [expected_stability(
        white_mas=np.hypot(JITTER_PX * np.hypot(jac[2 * k], jac[2 * k + 1]) * 1000,
                           metrics[f"nea_{axis}_mas"]),
        frames_per_interval=per_interval, amplitude_mas=WOBBLE_PX * abs(jac[2 * k]) * 1000,
        frequency_hz=1 / PERIOD, n_intervals=intervals) for k, axis in enumerate(("v2", "v3"))]
    assert metrics["stability_v2_mas"] == pytest.approx(expected[0], rel=0.1)
    assert metrics["stability_mas"] == pytest.approx(np.hypot(*expected), rel=0.1)
    # The V3 axis holds white noise only: its stability is sigma / sqrt(N) (statistical, 25 %).
    assert metrics["stability_v3_mas"] == pytest.approx(expected[1], rel=0.25)
    # The table's row holds the same metrics (the stability does not depend on the segment).
    row = pointing_stability(model)[0]
    assert float(row["stability_mas"]) == pytest.approx(metrics["stability_mas"])
    assert float(row["nea_v2_mas"]) == pytest.approx(metrics["nea_v2_mas"])


def test_technical_events_are_masked_or_marked(fitted_visit):
    _, model = fitted_visit
    masked = pointing_series(model, visit_index=0, guidestar_index=0)
    marked = pointing_series(model, visit_index=0, guidestar_index=0, mask_events=False)
    moving = (masked.seconds >= HGA[0] + 1) & (masked.seconds <= HGA[1] - 1)
    assert masked.in_event[moving].all() and marked.in_event[moving].all()
    assert not masked.good[masked.in_event].any()
    assert marked.good[marked.in_event].all()
    assert masked.good.sum() == marked.good.sum() - marked.in_event.sum()
    table = pointing_stability(model, mask_events=False)
    assert table["n_frames"][0] == N_FRAMES
    assert pointing_stability(model)["n_frames"][0] == N_FRAMES - masked.in_event.sum()


def test_fitted_minus_onboard_is_the_onboard_noise(fitted_visit):
    _, model = fitted_visit
    series = pointing_series(model, visit_index=0, guidestar_index=0, mask_events=False)
    difference = series.onboard_difference_mas
    assert difference.shape == (len(series.onboard.mjd), 2) and len(difference) > 4000
    # The synthetic packets carry 2 mas of noise per axis on the true centre; the fitted
    # frames add the 1 mas frame-to-frame jitter interpolated between frames.  A window
    # placed or scaled wrongly would leave a mean offset of arcseconds.
    assert np.all(np.abs(difference.mean(axis=0)) < 0.2)
    assert np.all((1.9 < difference.std(axis=0)) & (difference.std(axis=0) < 2.6))
    rms = series_metrics(series)["onboard_rms_mas"]
    assert rms == pytest.approx(np.sqrt(np.sum(difference.var(axis=0))))
    assert (series.onboard.seconds >= 0).all()


def test_pointing_stability_table(fitted_visit):
    _, model = fitted_visit
    table = pointing_stability(model)
    names = [name for name, _, _ in STABILITY_COLUMNS]
    assert table.colnames == ["visit_index", "guidestar_index", "gs_id", "detector", *names]
    assert len(table) == 1 and table["detector"][0] == "GUIDER1"
    assert table["gs_id"][0] == str(model.guidestars["gs_id"][0])
    for name, unit, description in STABILITY_COLUMNS:
        assert table[name].unit == (u.Unit(unit) if unit else None)
        assert table[name].description == description
    part = pointing_series(model, visit_index=0, guidestar_index=0)
    first_minute = part.select(part.seconds < 60)
    assert first_minute.seconds.max() < 60 and first_minute.onboard.seconds.max() <= 60.1
    assert series_metrics(first_minute)["n_frames"] == int(first_minute.good.sum())
    with pytest.raises(ParameterError, match="no frames of visit_index=3"):
        pointing_series(model, visit_index=3, guidestar_index=0)
    # A fit table given as the QTable of spelunker.fitting.fit_table: the same series.
    given = pointing_series(model, visit_index=0, guidestar_index=0,
                            fit_table=fit_table(model, "gauss", time=False))
    np.testing.assert_array_equal(given.v2, part.v2)
    np.testing.assert_array_equal(given.err_v3_mas, part.err_v3_mas)
    with pytest.raises(ParameterError, match="fit_table must be"):
        pointing_series(model, visit_index=0, guidestar_index=0, fit_table=np.zeros(3))
