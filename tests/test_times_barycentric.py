"""spelunker.barycentric: JWST's ephemeris, BJD_TDB by observer and from INT_TIMES, and back.

References are astropy's own ``Time.tdb + Time.light_travel_time`` and the
L2-like orbit and INT_TIMES of `spelunker.datasets` (computed by astropy
independently of spelunker.barycentric).  Offline.
"""

import dataclasses
import logging
import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord, get_body_barycentric
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from stdatamodels.jwst import datamodels

from spelunker import datasets
from spelunker.barycentric import (
    Ephemeris,
    barycentric_times,
    bjd_from_int_times,
    utc_from_barycentric,
)
from spelunker.datasets.orbit import jwst_barycentric_km
from spelunker.errors import ParameterError, ScienceInputError

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

TARGET = SkyCoord(286.0 * u.deg, -41.3 * u.deg)
EPOCH = Time("2022-12-04T01:36:00", scale="utc")
GEOCENTER = EarthLocation.from_geocentric(0, 0, 0, unit=u.m)
PARANAL = EarthLocation.from_geodetic(-70.40 * u.deg, -24.63 * u.deg, 2635 * u.m)
C_KM_S = 299792.458
LOGGER = "spelunker.barycentric"


def seconds(a, b):
    return np.abs((a - b).to_value(u.s))


def astropy_bjd(times, location):
    return times.tdb + times.light_travel_time(TARGET, kind="barycentric", location=location)


def orbit_ephemeris(epoch, step=60.0):
    """An Ephemeris of the synthetic L2 orbit at ``epoch`` (velocity by central difference)."""
    around = epoch + np.array([-step, 0.0, step]) * u.s
    position = jwst_barycentric_km(around)
    velocity = (position[:, 2] - position[:, 0]) / (2 * step)
    return Ephemeris(epoch, position[:, 1] * u.km, velocity * u.km / u.s, "synthetic orbit")


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("visit"), visits=[datasets.VisitSpec(n_frames=600,
                                                                     n_segments=1)], seed=2)


@pytest.fixture(scope="module")
def science(visit, tmp_path_factory):
    return datasets.make_science_product(tmp_path_factory.mktemp("science"), visit,
                                         integration_time=0.5, start_offset=2.0, seed=1)


@pytest.fixture(scope="module")
def int_times(science):
    with fits.open(science.path) as hdulist:
        return Table(hdulist["INT_TIMES"].data)


# --------------------------------------------------------------------------
# Observers on the Earth, and positions given as a Quantity


@pytest.mark.parametrize("n", [1, 7, 3000])  # 3000 over 2 h: the interpolated grid
def test_geocenter_matches_astropy(n):
    times = EPOCH + np.linspace(0, 7200, n) * u.s
    bjd = barycentric_times(times, TARGET, observer="geocenter")
    assert bjd.scale == "tdb" and bjd.format == "mjd" and bjd.shape == times.shape
    assert np.max(seconds(bjd, astropy_bjd(times, GEOCENTER))) < 1e-6
    same = barycentric_times(times, TARGET, observer=GEOCENTER)
    assert np.max(seconds(same, bjd)) < 1e-9


@pytest.mark.parametrize("n", [5, 5000])  # 5000 over 2 h: the interpolated grid
def test_ground_location_matches_astropy(n):
    times = EPOCH + np.linspace(0, 2 * 3600, n) * u.s
    bjd = barycentric_times(times, (286.0, -41.3), observer=PARANAL)
    assert np.max(seconds(bjd, astropy_bjd(times, PARANAL))) < 1e-6
    # The Earth's rotation shows: Paranal is not the geocentre (up to 21 ms).
    assert np.max(seconds(bjd, barycentric_times(times, TARGET, observer="geocenter"))) > 1e-3


def test_scalar_and_mjd_and_iso_inputs():
    bjd = barycentric_times(EPOCH, TARGET, observer="geocenter")
    assert bjd.isscalar
    for same, tolerance in ((EPOCH.isot, 1e-9), (EPOCH.tt, 1e-9), (EPOCH.mjd, 1e-6)):
        # (a float MJD holds the time to ~1 us)
        assert seconds(barycentric_times(same, TARGET, observer="geocenter"), bjd) < tolerance
    assert seconds(bjd, astropy_bjd(EPOCH, GEOCENTER)) < 1e-6


def test_quantity_observer_at_the_earths_centre_is_the_geocenter_route():
    times = EPOCH + np.linspace(0, 86400, 50) * u.s
    earth = get_body_barycentric("earth", times.tdb, ephemeris="builtin").xyz
    by_position = barycentric_times(times, TARGET, observer=earth.to(u.au))
    by_name = barycentric_times(times, TARGET, observer="geocenter")
    assert np.max(seconds(by_position, by_name)) < 1e-6
    # One position for one time, and a fixed position for many.
    one = barycentric_times(times[3], TARGET, observer=earth[:, 3])
    assert one.isscalar and seconds(one, by_name[3]) < 1e-6
    fixed = barycentric_times(times, TARGET, observer=earth[:, 0])
    assert seconds(fixed[0], by_name[0]) < 1e-6 and seconds(fixed[-1], by_name[-1]) > 1.0


# --------------------------------------------------------------------------
# JWST's ephemeris


@pytest.mark.parametrize(("hours", "tolerance"), [(1, 1e-5), (12, 1e-3)])
def test_ephemeris_follows_the_l2_orbit(hours, tolerance):
    ephemeris = orbit_ephemeris(EPOCH)
    times = EPOCH + np.array([-hours, -hours / 2, 0, hours / 2, hours]) * u.hour
    truth = barycentric_times(times, TARGET,
                              observer=jwst_barycentric_km(times) * u.km)
    bjd = barycentric_times(times, TARGET, observer=ephemeris)
    assert np.max(seconds(bjd, truth)) < tolerance
    # Without the acceleration the error at 12 h would be ~19 ms.
    dt = (times - EPOCH).to_value(u.s)
    linear = (ephemeris.position.to_value(u.km)[:, None]
              + ephemeris.velocity.to_value(u.km / u.s)[:, None] * dt)
    truth_km = jwst_barycentric_km(times)
    assert np.max(np.linalg.norm(ephemeris.position_at(times).to_value(u.km) - truth_km,
                                 axis=0)) < 0.1 * np.max(np.linalg.norm(linear - truth_km,
                                                                         axis=0)) + 1e-3


def test_acceleration_is_the_suns_pull_mostly():
    ephemeris = orbit_ephemeris(EPOCH)
    acceleration = ephemeris.acceleration.to_value(u.km / u.s**2)
    sun = get_body_barycentric("sun", EPOCH.tdb, ephemeris="builtin").xyz.to_value(u.km)
    towards_sun = sun - ephemeris.position.to_value(u.km)
    cosine = acceleration @ towards_sun / np.linalg.norm(acceleration) / np.linalg.norm(towards_sun)
    assert cosine > 0.999
    assert 5.5e-6 < np.linalg.norm(acceleration) < 6.2e-6  # GM_sun / (1.01 au)^2
    assert ephemeris.acceleration.unit == u.km / u.s**2


def test_jwst_and_the_geocentre_differ_by_seconds_along_the_sun_line():
    earth = get_body_barycentric("earth", EPOCH.tdb, ephemeris="builtin").xyz.to_value(u.km)
    sun = get_body_barycentric("sun", EPOCH.tdb, ephemeris="builtin").xyz.to_value(u.km)
    antisun = SkyCoord(*(earth - sun), representation_type="cartesian", frame="icrs")
    antisun = SkyCoord(antisun.spherical.lon, antisun.spherical.lat, frame="icrs")
    ephemeris = orbit_ephemeris(EPOCH)
    jwst = barycentric_times(EPOCH, antisun, observer=ephemeris)
    geocentre = barycentric_times(EPOCH, antisun, observer="geocenter")
    difference = (jwst - geocentre).to_value(u.s)
    assert difference > 1.0
    assert difference == pytest.approx(datasets.L2_DISTANCE_KM / C_KM_S, abs=1e-3)  # 5.0 s


def test_position_at_shapes_and_far_epochs_warn(caplog):
    ephemeris = orbit_ephemeris(EPOCH)
    assert ephemeris.position_at(EPOCH).shape == (3,)
    assert u.allclose(ephemeris.position_at(EPOCH), ephemeris.position, atol=1e-6 * u.m)
    assert ephemeris.position_at(EPOCH + [0, 1, 2] * u.min).shape == (3, 3)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ephemeris.position_at(EPOCH + 23 * u.hour)
        assert not caplog.records
        ephemeris.position_at(EPOCH + [0, 30] * u.hour)
    assert "synthetic orbit" in caplog.text and "1.25 days from its epoch" in caplog.text


def test_ephemeris_is_validated_and_frozen():
    ephemeris = Ephemeris(EPOCH.tt, [1, 2, 3] * u.au, [1, 2, 3] * u.m / u.s, source="x")
    assert ephemeris.time.scale == "utc" and abs((ephemeris.time - EPOCH).to_value(u.s)) < 1e-6
    assert ephemeris.position.unit == u.km and ephemeris.velocity.unit == u.km / u.s
    with pytest.raises(dataclasses.FrozenInstanceError):
        ephemeris.source = "y"
    with pytest.raises(ParameterError, match="position"):
        Ephemeris(EPOCH, [1, 2] * u.km, [1, 2, 3] * u.km / u.s)
    with pytest.raises(ParameterError, match="velocity"):
        Ephemeris(EPOCH, [1, 2, 3] * u.km, [1, 2, 3] * u.km)
    with pytest.raises(ParameterError, match="one epoch"):
        Ephemeris(EPOCH + [0, 1] * u.s, [1, 2, 3] * u.km, [1, 2, 3] * u.km / u.s)


# --------------------------------------------------------------------------
# The inverse


@pytest.mark.parametrize("observer", ["geocenter", "ephemeris", "quantity", "paranal"])
def test_round_trip(observer):
    times = EPOCH + np.linspace(-3600, 3600, 200) * u.s
    observer = {"geocenter": "geocenter", "ephemeris": orbit_ephemeris(EPOCH),
                "paranal": PARANAL,
                "quantity": jwst_barycentric_km(times) * u.km}[observer]
    bjd = barycentric_times(times, TARGET, observer=observer)
    utc = utc_from_barycentric(bjd, TARGET, observer=observer)
    assert utc.scale == "utc" and utc.shape == times.shape
    assert np.max(seconds(utc, times)) < 2e-9
    # The scale of a Time is respected; numbers are read as TDB.
    assert np.max(seconds(utc_from_barycentric(bjd.tt, TARGET, observer=observer), times)) < 2e-9
    from_numbers = utc_from_barycentric(bjd.mjd, TARGET, observer=observer)
    assert np.max(seconds(from_numbers, times)) < 2e-6  # float MJD holds ~1 us


def test_round_trip_warns_when_not_converged(caplog):
    bjd = barycentric_times(EPOCH, TARGET, observer="geocenter")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rough = utc_from_barycentric(bjd, TARGET, observer="geocenter", max_iterations=1)
    assert "not converged after 1 iterations" in caplog.text
    assert 1e-9 < seconds(rough, EPOCH) < 1.0
    with pytest.raises(ParameterError, match="max_iterations"):
        utc_from_barycentric(bjd, TARGET, observer="geocenter", max_iterations=0)
    with pytest.raises(ParameterError, match="bjd="):
        utc_from_barycentric([np.nan], TARGET, observer="geocenter")


# --------------------------------------------------------------------------
# A science product's ephemeris keywords


def test_from_header_on_a_path_a_header_and_a_model(science):
    from_path = Ephemeris.from_header(science.path)
    truth = science.ephemeris
    assert from_path.source == science.path.name
    assert from_path.time.scale == "utc" and from_path.time.mjd == truth["time"]
    assert from_path.position.to_value(u.km).tolist() == [truth[f"spatial_{a}_bary"]
                                                          for a in "xyz"]
    assert from_path.velocity.to_value(u.km / u.s).tolist() == [truth[f"velocity_{a}_bary"]
                                                                for a in "xyz"]
    with fits.open(science.path) as hdulist:
        header = hdulist["SCI"].header.copy()
    with datamodels.open(science.path) as model:
        from_model = Ephemeris.from_header(model)
    from_header = Ephemeris.from_header(header)
    with fits.open(science.path) as hdulist:
        from_hdulist = Ephemeris.from_header(hdulist)
    for other in (from_header, from_model, from_hdulist, Ephemeris.from_header(str(science.path))):
        assert other.time.mjd == from_path.time.mjd
        assert np.all(other.position == from_path.position)
        assert np.all(other.velocity == from_path.velocity)
    assert from_model.source == science.path.name


def test_from_header_falls_back_to_mjd_avg_then_expmid(science):
    with fits.open(science.path) as hdulist:
        sci = hdulist["SCI"].header.copy()
        expmid = hdulist[0].header["EXPMID"]
    del sci["EPH_TIME"]
    sci["MJD-AVG"] = expmid + 0.25
    assert Ephemeris.from_header(sci).time.mjd == expmid + 0.25
    del sci["MJD-AVG"]
    sci["EXPMID"] = expmid
    assert Ephemeris.from_header(sci).time.mjd == expmid
    with datamodels.open(science.path) as model:
        model.meta.ephemeris.time = None
        assert Ephemeris.from_header(model).time.mjd == model.meta.exposure.mid_time


def test_from_header_errors_name_the_file_and_keywords(science, tmp_path):
    with fits.open(science.path) as hdulist:
        primary = hdulist[0].header.copy()
        sci = hdulist["SCI"].header.copy()
    del sci["JWST_DY"]
    sci["JWST_DZ"] = "unknown"
    for name in ("EPH_TIME", "MJD-AVG"):
        del sci[name]
    del primary["EXPMID"]
    path = tmp_path / "jw01234001001_04101_00001-seg001_nrs1_rateints.fits"
    fits.HDUList([fits.PrimaryHDU(header=primary),
                  fits.ImageHDU(np.zeros((2, 2)), header=sci, name="SCI")]).writeto(path)
    with pytest.raises(ScienceInputError,
                       match=r"nrs1_rateints.fits: .*JWST_DY, JWST_DZ, EPH_TIME or MJD-AVG "
                             r"or EXPMID") as error:
        Ephemeris.from_header(path)
    assert "JWST_X" not in str(error.value)
    with pytest.raises(ScienceInputError, match="missing_rateints.fits' does not exist"):
        Ephemeris.from_header(tmp_path / "missing_rateints.fits")
    text = tmp_path / "notes_rateints.fits"
    text.write_text("not FITS")
    with pytest.raises(ScienceInputError, match="notes_rateints.fits"):
        Ephemeris.from_header(text)
    with datamodels.open(science.path) as model:
        model.meta.ephemeris.velocity_x_bary = None
        with pytest.raises(ScienceInputError,
                           match=r"JWST_DX \(meta.ephemeris.velocity_x_bary\)"):
            Ephemeris.from_header(model)
    with pytest.raises(ScienceInputError, match="neither a FITS header"):
        Ephemeris.from_header(42)


# --------------------------------------------------------------------------
# BJD_TDB from INT_TIMES


def test_int_times_route_agrees_with_the_ephemeris_route(science, visit, int_times):
    frames = visit.truth["time"]  # frame mid-times, UTC
    inside = ((frames.mjd >= int_times["int_start_MJD_UTC"][0])
              & (frames.mjd <= int_times["int_end_MJD_UTC"][-1]))
    frames = frames[inside]
    bjd = bjd_from_int_times(frames, int_times)
    assert bjd.scale == "tdb" and bjd.format == "mjd" and bjd.shape == frames.shape
    by_ephemeris = barycentric_times(frames, science.target,
                                     observer=Ephemeris.from_header(science.path))
    assert np.max(seconds(bjd, by_ephemeris)) < 1e-3
    # And the orbit the product was made with, to the file's 1 us MJD rounding.
    truth = barycentric_times(frames, science.target,
                              observer=jwst_barycentric_km(frames) * u.km)
    assert np.max(seconds(bjd, truth)) < 2e-6


def test_int_times_are_reproduced_at_their_own_points(science, int_times):
    with datamodels.open(science.path) as model:
        for edge in ("start", "mid", "end"):
            utc = Time(int_times[f"int_{edge}_MJD_UTC"], format="mjd", scale="utc")
            expected = Time(int_times[f"int_{edge}_BJD_TDB"], format="mjd", scale="tdb")
            assert np.max(seconds(bjd_from_int_times(utc, int_times), expected)) < 1e-6
            assert np.max(seconds(bjd_from_int_times(utc, model), expected)) < 1e-6
    # Mid-times only (start = mid = end): the duplicates are merged.
    mids = Table({f"int_{edge}_{kind}": int_times[f"int_mid_{kind}"]
                  for edge in ("start", "mid", "end") for kind in ("MJD_UTC", "BJD_TDB")})
    utc = Time(int_times["int_mid_MJD_UTC"], format="mjd", scale="utc")
    assert np.max(seconds(bjd_from_int_times(utc, mids),
                          Time(int_times["int_mid_BJD_TDB"], format="mjd", scale="tdb"))) < 1e-6


def test_int_times_extrapolation(science, int_times, caplog):
    end = Time(int_times["int_end_MJD_UTC"][-1], format="mjd", scale="utc")
    start = Time(int_times["int_start_MJD_UTC"][0], format="mjd", scale="utc")
    near = Time([start - 50 * u.min, end + 50 * u.min])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        bjd = bjd_from_int_times(near, int_times)
        assert not caplog.records
        bjd_from_int_times(end + 2 * u.hour, int_times)
    assert "INT_TIMES" in caplog.text and "2.00 h" in caplog.text
    # The slopes are fitted over the table's ends: ~0.1 ms off after 50 min
    # (the slope of the last two points, rounded to 1 us each, would give ms).
    truth = barycentric_times(near, science.target,
                              observer=jwst_barycentric_km(near) * u.km)
    assert np.max(seconds(bjd, truth)) < 3e-4


def test_int_times_errors(science, int_times):
    with pytest.raises(ScienceInputError, match="lacks the column\\(s\\) int_end_BJD_TDB"):
        bjd_from_int_times(EPOCH, int_times[[c for c in int_times.colnames
                                             if c != "int_end_BJD_TDB"]])
    with pytest.raises(ScienceInputError, match="empty"):
        bjd_from_int_times(EPOCH, int_times[:0])
    broken = int_times.copy()
    broken["int_mid_BJD_TDB"][2] = np.nan
    with pytest.raises(ScienceInputError, match="not all finite"):
        bjd_from_int_times(EPOCH, broken)
    one = Table({name: [int_times[f"int_mid_{name[-7:]}"][0]] for name in int_times.colnames
                 if name != "integration_number"})
    with pytest.raises(ScienceInputError, match="fewer than two distinct times"):
        bjd_from_int_times(EPOCH, one)
    with datamodels.CubeModel((2, 2, 2)) as bare:
        with pytest.raises(ScienceInputError, match="int_times"):
            bjd_from_int_times(EPOCH, bare)


# --------------------------------------------------------------------------
# Bad arguments, and speed


@pytest.mark.parametrize("observer", ["jwst", 42, None, [1.0, 2.0, 3.0], [1, 2, 3] * u.s,
                                      [[1, 2], [3, 4], [5, 6]] * u.km,
                                      [np.nan, 0, 0] * u.km])
def test_bad_observer(observer):
    with pytest.raises(ParameterError, match="observer"):
        barycentric_times(EPOCH + [0, 1, 2] * u.s, TARGET, observer=observer)


@pytest.mark.parametrize("target", ["M31", (10.0, 95.0), (np.nan, 0.0), None, 286.0,
                                    SkyCoord([1, 2] * u.deg, [3, 4] * u.deg)])
def test_bad_target(target):
    with pytest.raises(ParameterError, match="target"):
        barycentric_times(EPOCH, target, observer="geocenter")


def test_a_million_times_on_the_grids_equal_the_pointwise_computation():
    # Long arrays take TDB - TT and the delays from sampled grids (the speed,
    # measured in benchmarks/bench_times.py); short ones are computed pointwise.
    ephemeris = orbit_ephemeris(EPOCH)
    times = EPOCH + np.linspace(0, 43200, 1_000_000) * u.s
    fresh = Time(times.jd1, times.jd2, format="jd", scale="utc")
    bjd = barycentric_times(fresh, TARGET, observer=ephemeris)
    assert bjd.shape == (1_000_000,) and bjd.scale == "tdb"
    check = slice(None, None, 99_999)
    assert np.max(seconds(bjd[check], barycentric_times(times[check], TARGET,
                                                        observer=ephemeris))) < 1e-9


@pytest.mark.benchmark
def test_bench_times_runs(capsys):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_times.py"
    runpy.run_path(str(script))["main"](["--n", "2000", "--repeat", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "BJD_TDB of 2000 UTC times at 16.7 Hz, median of 1:"
    geocentre = next(line for line in lines if "barycentric_times, geocentre" in line)
    assert float(geocentre.rsplit("max |difference|", 1)[1].split()[0]) < 1000  # ns



# --------------------------------------------------------------------------
# The module split: user times in spelunker.times, barycentric times here


def test_times_holds_only_the_user_times_and_barycentric_imports_first():
    import spelunker.times as times

    assert times.__all__ == ["as_utc_time", "seconds_since_first"]
    assert not hasattr(times, "_delay_function")  # the barycentric helpers moved
    assert not hasattr(times, "Ephemeris")  # one home: spelunker.barycentric
    # Either module may be imported first (no import cycle at the top of either).
    for first in ("spelunker.barycentric", "spelunker.times"):
        code = (f"import {first}; from spelunker.times import as_utc_time; "
                "from spelunker.barycentric import Ephemeris")
        subprocess.run([sys.executable, "-c", code], check=True)
