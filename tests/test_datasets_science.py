"""spelunker.datasets: a synthetic science product guided by a synthetic visit."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import EarthLocation, SkyCoord, get_body_barycentric
from astropy.time import Time
from numpy.testing import assert_allclose, assert_array_equal
from stdatamodels.jwst.datamodels import CubeModel

from spelunker import datasets
from spelunker.datasets import CentroidWobble, VisitSpec, orbit
from spelunker.errors import ParameterError

FRAME_TIME = 0.0538
N_FRAMES = 600  # 32.3 s of guide-star data
INTEGRATION_TIME = 0.5
START_OFFSET = 2.0
N_FIT = int((N_FRAMES * FRAME_TIME - START_OFFSET) // INTEGRATION_TIME)  # 60
TARGET = (286.0, -41.3)
TDB_MINUS_UTC = 69.184  # seconds in 2022: 37 leap seconds + 32.184 s, +- 2 ms
COLUMNS = ["integration_number", "int_start_MJD_UTC", "int_mid_MJD_UTC", "int_end_MJD_UTC",
           "int_start_BJD_TDB", "int_mid_BJD_TDB", "int_end_BJD_TDB"]


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    """A short wobbling visit in two segments."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("visit"),
        visits=[VisitSpec(observation=3, visit=2, n_frames=N_FRAMES, n_segments=2)],
        signals=[CentroidWobble(period=3.0, amplitude=0.05, axis="x")], seed=5)


@pytest.fixture(scope="module")
def science(visit, tmp_path_factory):
    return datasets.make_science_product(
        tmp_path_factory.mktemp("science") / "new", visit, integration_time=INTEGRATION_TIME,
        start_offset=START_OFFSET, target=TARGET, seed=3)


@pytest.fixture(scope="module")
def model(science):
    with CubeModel(science.path) as opened:
        yield opened


def visit_edges(visit):
    """Start and end (MJD UTC) of the guide-star data."""
    first = visit.truth["time"][0].mjd - 0.5 * FRAME_TIME / 86400
    last = visit.truth["time"][-1].mjd + 0.5 * FRAME_TIME / 86400
    return first, last


def test_name_shape_and_int_times(science, model):
    assert science.path.name == "jw01534003002_04101_00001-seg001_nrs1_rateints.fits"
    assert science.path.is_file()
    assert not list(science.path.parent.glob(".spelunker-*"))  # no temporary left
    assert model.data.shape == (N_FIT, 8, 16)
    assert model.data.dtype.name == "float32"
    assert model.err.shape == model.data.shape
    assert not model.dq.any()
    assert list(model.int_times.dtype.names) == COLUMNS
    assert len(model.int_times) == N_FIT == len(science.int_times)
    assert_array_equal(model.int_times["integration_number"], np.arange(1, N_FIT + 1))
    for name in ("start", "mid", "end"):
        assert_array_equal(model.int_times[f"int_{name}_MJD_UTC"], science.int_times[name].mjd)
        assert_array_equal(model.int_times[f"int_{name}_BJD_TDB"],
                           science.int_times[f"{name}_bjd"].mjd)
        assert science.int_times[name].scale == "utc"
        assert science.int_times[f"{name}_bjd"].scale == "tdb"


def test_header(science, model):
    meta = model.meta
    assert meta.instrument.name == "NIRSPEC"
    assert meta.instrument.detector == "NRS1"
    assert meta.exposure.type == "NRS_BRIGHTOBJ"
    assert meta.exposure.nints == N_FIT
    assert meta.exposure.integration_time == INTEGRATION_TIME
    assert (meta.observation.program_number, meta.observation.observation_number,
            meta.observation.visit_number) == ("01534", "003", "002")
    assert (meta.target.ra, meta.target.dec) == TARGET
    start = model.int_times["int_start_MJD_UTC"][0]
    end = model.int_times["int_end_MJD_UTC"][-1]
    assert meta.exposure.start_time == start
    assert meta.exposure.end_time == end
    assert meta.exposure.mid_time == pytest.approx(0.5 * (start + end), abs=1e-10)
    ephemeris = meta.ephemeris
    assert ephemeris.time == meta.exposure.mid_time
    assert (ephemeris.reference_frame, ephemeris.type) == ("EME2000", "PREDICTED")
    position = np.array([ephemeris.spatial_x_bary, ephemeris.spatial_y_bary,
                         ephemeris.spatial_z_bary])
    velocity = np.array([ephemeris.velocity_x_bary, ephemeris.velocity_y_bary,
                         ephemeris.velocity_z_bary])
    assert science.ephemeris["spatial_x_bary"] == ephemeris.spatial_x_bary
    # About 1.5e6 km beyond the Earth, moving with it at about 30 km/s.
    earth = get_body_barycentric("earth", Time(ephemeris.time, format="mjd").tdb,
                                 ephemeris="builtin").xyz.to_value(u.km)
    assert np.linalg.norm(position - earth) == pytest.approx(1.5e6, rel=1e-6)
    assert 28 < np.linalg.norm(velocity) < 32


def test_integrations_are_contiguous_inside_the_visit(visit, model):
    table = model.int_times
    first, last = visit_edges(visit)
    assert_array_equal(table["int_start_MJD_UTC"][1:], table["int_end_MJD_UTC"][:-1])
    length = (table["int_end_MJD_UTC"] - table["int_start_MJD_UTC"]) * 86400
    assert_allclose(length, INTEGRATION_TIME, atol=1e-5)
    assert_allclose((table["int_mid_MJD_UTC"] - table["int_start_MJD_UTC"]) * 86400,
                    0.5 * INTEGRATION_TIME, atol=1e-5)
    assert (table["int_start_MJD_UTC"][0] - first) * 86400 == pytest.approx(START_OFFSET,
                                                                            abs=1e-5)
    assert table["int_end_MJD_UTC"][-1] <= last


def test_data_sum_is_the_light_curve(science, model):
    total = model.data.sum(axis=(1, 2), dtype=float)
    assert_array_equal(total, science.observed.to_value(u.DN / u.s))
    residual = (science.observed - science.flux) / (science.noise * datasets.SCIENCE_COUNTRATE)
    assert 0.5 < np.std(residual.value) < 1.5
    assert np.all(np.abs(residual.value) < 5)


def test_noiseless_light_curve(visit, tmp_path):
    quiet = datasets.make_science_product(tmp_path, visit, integration_time=1.0, noise=0.0,
                                          kind="calints")
    assert quiet.path.name.endswith("_nrs1_calints.fits")
    with CubeModel(quiet.path) as opened:
        total = opened.data.sum(axis=(1, 2), dtype=float)
    assert_allclose(total, quiet.flux.to_value(u.DN / u.s), rtol=1e-6)
    # The transit: a quarter of the exposure, centred, 0.5 per cent deep.
    flux = quiet.flux.to_value(u.DN / u.s)
    depth = 1 - flux / np.median(flux)
    assert depth.max() == pytest.approx(0.005, abs=1e-3)
    assert 0.15 < np.mean(depth > 0.003) < 0.35
    centre = np.average(np.arange(depth.size), weights=np.clip(depth, 0, None))
    assert abs(centre - 0.5 * (depth.size - 1)) < 1.0
    # transit_time moves it: mid-transit 10 s after the first integration starts.
    early = datasets.make_science_product(tmp_path / "early", visit, integration_time=1.0,
                                          noise=0.0, transit_time=10.0)
    depth = 1 - early.flux.to_value(u.DN / u.s) / np.median(early.flux.to_value(u.DN / u.s))
    centre = np.average(np.arange(depth.size) + 0.5, weights=np.clip(depth, 0, None))
    assert abs(centre - 10.0) < 1.0


def test_barycentric_times(science, model):
    target = SkyCoord(*TARGET, unit="deg")
    geocenter = EarthLocation.from_geocentric(0, 0, 0, unit=u.m)
    for name in ("start", "mid", "end"):
        utc = model.int_times[f"int_{name}_MJD_UTC"]
        bjd = model.int_times[f"int_{name}_BJD_TDB"]
        light = (bjd - utc) * 86400 - TDB_MINUS_UTC
        assert np.all(np.abs(light) < 510)
        earth = Time(utc, format="mjd", scale="utc").light_travel_time(
            target, location=geocenter).to_value(u.s)
        # JWST is 1.5e6 km (5 light seconds) from the Earth.
        assert np.all(np.abs(light - earth) < 5.5)
        assert np.all(np.abs(light - earth) > 1e-3)
    assert model.meta.exposure.mid_time_tdb == pytest.approx(
        np.interp(model.meta.exposure.mid_time, model.int_times["int_mid_MJD_UTC"],
                  model.int_times["int_mid_BJD_TDB"]), abs=1e-9)


def test_light_curve_shares_the_binned_systematic(visit, science, model):
    table = model.int_times
    frame = visit.truth["time"].mjd
    x = visit.truth["x_mean"].to_value(u.pix)
    binned = np.array([x[(frame >= start) & (frame < end)].mean()
                       for start, end in zip(table["int_start_MJD_UTC"],
                                             table["int_end_MJD_UTC"])])
    assert_allclose(binned, science.binned_systematic, rtol=0, atol=1e-12)
    first, _ = visit_edges(visit)
    seconds = (table["int_mid_MJD_UTC"] - first) * 86400
    lightcurve = model.data.sum(axis=(1, 2), dtype=float)
    relative = lightcurve / (datasets.SCIENCE_COUNTRATE * science.transit.flux_factor(seconds))
    design = np.column_stack([np.ones_like(binned), binned - binned.mean()])
    solution, *_ = np.linalg.lstsq(design, relative, rcond=None)
    sigma = science.noise / np.sqrt(np.sum((binned - binned.mean()) ** 2))
    assert abs(solution[1] - science.coefficient) < 4 * sigma
    assert science.coefficient / sigma > 10  # the systematic is well above the noise
    assert np.corrcoef(relative, binned)[0, 1] > 0.5


@pytest.mark.parametrize(("options", "message"), [
    ({"n_integrations": N_FIT + 1}, "at most 60 fit"),
    ({"start_offset": 40.0}, "no integration"),
    ({"integration_time": 0.02}, "holds no guide-star frame"),
    ({"systematic": "brightness"}, "not a column"),
    ({"kind": "cal"}, "kind"),
    ({"target": (10.0, 95.0)}, "not a sky position"),
    ({"transit_time": -1.0}, "transit_time must be"),
])
def test_bad_arguments(visit, tmp_path, options, message):
    options = {"integration_time": INTEGRATION_TIME, "start_offset": START_OFFSET, **options}
    with pytest.raises(ValueError, match=message):
        datasets.make_science_product(tmp_path, visit, **options)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options", [
    {"visit": "visit"},
    {"n_integrations": 2.5},
    {"seed": -1},
    {"noise": -1.0},
    {"coefficient": float("nan")},
    {"target": "Vega"},
    {"depth": 1.0},
    {"integration_time": "1 s"},
])
def test_wrong_types_and_values_are_parameter_errors(visit, tmp_path, options):
    options = {"visit": visit, "integration_time": INTEGRATION_TIME,
               "start_offset": START_OFFSET, **options}
    with pytest.raises(ParameterError):
        datasets.make_science_product(tmp_path, **options)
    assert not list(tmp_path.iterdir())


def test_a_failed_write_leaves_no_partial_file(visit, tmp_path, monkeypatch):
    from spelunker.datasets import science_product

    def write_half(path, *args):
        path.write_bytes(b"SIMPLE  =                    T")
        raise OSError("disk full")

    monkeypatch.setattr(science_product, "_write_science", write_half)
    with pytest.raises(OSError, match="disk full"):
        datasets.make_science_product(tmp_path, visit, integration_time=INTEGRATION_TIME,
                                      start_offset=START_OFFSET)
    assert not list(tmp_path.iterdir())


def test_sample_science_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path))
    first = datasets.sample_science()
    assert first.path.parent == tmp_path / "sample_science"
    assert len(first.int_times) == 312
    assert first.systematic == "x_mean"
    modified = first.path.stat().st_mtime_ns
    second = datasets.sample_science()
    assert second.path == first.path
    assert second.path.stat().st_mtime_ns == modified
    assert_array_equal(second.observed, first.observed)
    # The 3 s centroid wobble of the sample visit survives 1 s integrations.
    assert np.ptp(first.binned_systematic) > 0.06


def test_the_orbit_functions_check_their_arguments():
    times = Time([59917.07, 59917.08], format="mjd", scale="utc")
    assert orbit.jwst_barycentric_km(times).shape == (3, 2)
    assert_array_equal(orbit.bjd_tdb_mjd(times, [0, 0, 1]),
                       orbit.bjd_tdb_mjd(times, np.array([0.0, 0.0, 1.0])))
    assert orbit.ephemeris(np.float64(59917.07)) == orbit.ephemeris(59917.07)
    for value in (None, "x", 59917.07, object()):
        with pytest.raises(ParameterError, match="jwst_barycentric_km: time=.* must be an "
                                                 "astropy Time"):
            orbit.jwst_barycentric_km(value)
        with pytest.raises(ParameterError, match="bjd_tdb_mjd: time=.* must be an astropy Time"):
            orbit.bjd_tdb_mjd(value, [0, 0, 1])
    with pytest.raises(ParameterError, match=r"bjd_tdb_mjd: direction has shape \(2,\)"):
        orbit.bjd_tdb_mjd(times, [0, 1])
    with pytest.raises(ParameterError, match="bjd_tdb_mjd: direction must be numbers"):
        orbit.bjd_tdb_mjd(times, ["a", "b", "c"])
    for value, text in ((None, "must be a number"), ("x", "must be a number"),
                        (np.nan, "must be finite")):
        with pytest.raises(ParameterError, match=f"ephemeris: mjd=.* {text}"):
            orbit.ephemeris(value)
