"""Guide-star series on the science cadence (spelunker.science), on hand-made tables.

The binned statistics are checked against an independent loop over the
integrations; the synthetic science product is exercised in
``test_science_product.py``.
"""

import logging
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.timeseries import TimeSeries
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import GuideStarModel
from spelunker.atomic import TEMPORARY_PREFIX
from spelunker.errors import GuideStarInputError, ParameterError, ScienceInputError
from spelunker.science import (DEFAULT_REGRESSORS, INT_TIMES_COLUMNS, bin_to_integrations,
                               design_matrix, frame_times_bjd, integration_times,
                               science_light_curve, to_lightkurve, to_timeseries, write_table)

START = 60100.25
DAY = 86400.0


def make_model(seed=3, n=3000, frame_time=0.0625, shuffle=False):
    """A model with frames, a gauss fit (some flagged), photometry (some NaN), on-board tables."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0.0, n * frame_time, n))
    model = GuideStarModel()
    frames = np.zeros(n, dtype=model.table_dtype("frames"))
    frames["mid_time_mjd"] = START + seconds / DAY
    frames["frame_in_file"] = np.arange(n)
    fit = np.zeros(n, dtype=model.table_dtype("gauss_fit"))
    for column, centre, scatter in (("amplitude", 2.5e5, 3e3), ("x_mean", 3.5, 0.05),
                                    ("y_mean", 3.6, 0.05), ("x_stddev", 0.7, 0.01),
                                    ("y_stddev", 0.68, 0.01), ("theta", 0.1, 0.02),
                                    ("offset", 20.0, 1.0)):
        fit[column] = centre + scatter * rng.standard_normal(n)
    fit["flags"][rng.choice(n, 60, replace=False)] = 1
    light = np.zeros(n, dtype=model.table_dtype("lightcurve"))
    light["flux"] = 1.7e6 * (1 + 1e-3 * rng.standard_normal(n))
    light["flux"][rng.choice(n, 25, replace=False)] = np.nan
    light["flux_err"] = 1.7e3
    light["n_pixels"] = 12
    if shuffle:
        order = rng.permutation(n)
        frames, fit, light = frames[order], fit[order], light[order]
    model.frames = frames
    model.gauss_fit = fit
    model.lightcurve = light
    model.meta.spelunker.fit_method = "gauss"
    packets = np.zeros(int(n * frame_time / 0.064), dtype=model.table_dtype("centroid_table"))
    packets["centroid_time_mjd"] = START + np.arange(len(packets)) * 0.064 / DAY
    packets["guide_star_position_x"] = 10.0 + 0.002 * rng.standard_normal(len(packets))
    packets["guide_star_position_y"] = -4.0 + 0.002 * rng.standard_normal(len(packets))
    packets["data_quality"][::50] = 1
    model.centroid_table = packets
    pointing = np.zeros(int(n * frame_time) + 1, dtype=model.table_dtype("pointing_table"))
    pointing["time"] = START + np.arange(len(pointing)) / DAY
    pointing["jitter"] = 1.0 + 0.1 * rng.standard_normal(len(pointing))
    pointing["HGA_motion"] = b"1"
    model.pointing_table = pointing
    return model


def int_times_table(starts_s, ends_s):
    """An INT_TIMES table for integrations given in seconds after START (BJD: a fixed offset)."""
    table = Table()
    table["integration_number"] = np.arange(1, len(starts_s) + 1, dtype=np.int32)
    start = START + np.asarray(starts_s) / DAY
    end = START + np.asarray(ends_s) / DAY
    for edge, values in (("start", start), ("mid", (start + end) / 2), ("end", end)):
        table[f"int_{edge}_MJD_UTC"] = values
        table[f"int_{edge}_BJD_TDB"] = values + 250.0 / DAY
    return table


def integrations():
    """Contiguous 2 s integrations, one before the data, a gap, and one past the data."""
    starts = np.concatenate([[-5.0], np.arange(0.0, 100.0, 2.0), np.arange(120.0, 180.0, 2.0),
                             [500.0]])
    return int_times_table(starts, starts + 2.0)


def naive(times, values, good, start, end):
    """Loop over the integrations: the independent reference."""
    rows = []
    for t0, t1 in zip(start, end):
        inside = (times >= t0) & (times < t1) & good & np.isfinite(values)
        chosen = values[inside]
        if chosen.size == 0:
            rows.append((np.nan, np.nan, np.nan, 0))
            continue
        error = np.std(chosen, ddof=1) / np.sqrt(chosen.size) if chosen.size > 1 else np.nan
        rows.append((np.mean(chosen), np.median(chosen), error, chosen.size))
    return [np.array(column) for column in zip(*rows)]


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def binned(model):
    return bin_to_integrations(model, integrations())


@pytest.mark.parametrize("name", ["amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev",
                                  "theta", "offset", "flux", "centroid_x", "centroid_y",
                                  "jitter"])
def test_binned_values_equal_a_naive_loop(model, binned, name):
    table = integrations()
    start, end = table["int_start_MJD_UTC"], table["int_end_MJD_UTC"]
    flagged = np.asarray(model.gauss_fit["flags"]) != 0
    if name in ("centroid_x", "centroid_y"):
        source = model.centroid_table
        times = np.asarray(source["centroid_time_mjd"])
        column = {"centroid_x": "guide_star_position_x", "centroid_y": "guide_star_position_y"}
        values = np.asarray(source[column[name]], dtype=float)
        good = np.asarray(source["data_quality"]) == 0
    elif name == "jitter":
        times, values = np.asarray(model.pointing_table["time"]), \
            np.asarray(model.pointing_table["jitter"], dtype=float)
        good = np.ones(times.size, bool)
    else:
        times = np.asarray(model.frames["mid_time_mjd"])
        source = model.lightcurve if name == "flux" else model.gauss_fit
        values, good = np.asarray(source[name], dtype=float), ~flagged
    mean, median, error, count = naive(times, values, good, start, end)
    assert_array_equal(binned[f"{name}_n"], count)
    for column, expected in ((name, mean), (f"{name}_median", median), (f"{name}_err", error)):
        got = u.Quantity(binned[column]).value
        assert_array_equal(np.isnan(got), np.isnan(expected))
        assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)
    assert count[0] == 0 and count[-1] == 0  # before and after the data
    assert np.isnan(u.Quantity(binned[name]).value[[0, -1]]).all()


def test_flagged_frames_are_excluded_and_counted(model, binned):
    table = integrations()
    times = np.asarray(model.frames["mid_time_mjd"])
    flagged = np.asarray(model.gauss_fit["flags"]) != 0
    expected_n, expected_fraction = [], []
    for t0, t1 in zip(table["int_start_MJD_UTC"], table["int_end_MJD_UTC"]):
        inside = (times >= t0) & (times < t1)
        expected_n.append(inside.sum())
        expected_fraction.append(flagged[inside].mean() if inside.any() else np.nan)
    assert_array_equal(binned["n_frames"], expected_n)
    assert_allclose(binned["flagged_fraction"], expected_fraction, rtol=1e-15, equal_nan=True)
    assert np.nansum(np.asarray(binned["flagged_fraction"]) * binned["n_frames"]) > 0
    # A flagged frame is left out of x_mean: the count is the unflagged frames only.
    inside = binned["n_frames"] > 0
    assert np.all(binned["x_mean_n"][inside] ==
                  np.round(binned["n_frames"][inside] * (1 - binned["flagged_fraction"][inside])))


def test_table_times_units_and_meta(binned):
    table = integrations()
    assert isinstance(binned, TimeSeries)
    assert binned.time.scale == "tdb"
    assert_allclose(binned.time.mjd, table["int_mid_BJD_TDB"], rtol=0, atol=1e-9)
    assert binned["start_utc"].scale == "utc" and binned["end_utc"].scale == "utc"
    assert_allclose(binned["start_utc"].mjd, table["int_start_MJD_UTC"], rtol=0, atol=1e-9)
    assert binned["x_mean"].unit == u.pix and binned["x_mean_err"].unit == u.pix
    assert binned["flux"].unit == u.DN / u.s and binned["theta"].unit == u.rad
    assert binned["centroid_x"].unit == u.arcsec and binned["jitter"].unit == u.mas
    assert_array_equal(binned["integration_number"], table["integration_number"])
    assert binned.meta["TIMESRC"] == "INT_TIMES"
    assert binned.meta["FITTABLE"] == "gauss_fit"


def test_frame_order_does_not_matter(binned):
    shuffled = bin_to_integrations(make_model(shuffle=True), integrations())
    for name in ("x_mean", "flux", "x_mean_median", "n_frames", "flagged_fraction"):
        assert_allclose(u.Quantity(shuffled[name]).value, u.Quantity(binned[name]).value,
                        rtol=1e-12, equal_nan=True)


def test_a_plain_astropy_reader_reads_the_table(binned, tmp_path):
    for name in ("binned.ecsv", "binned.fits"):
        path = write_table(binned, tmp_path / name)
        options = {"astropy_native": True} if name.endswith(".fits") else {}
        back = QTable.read(path, **options)
        assert back["time"].scale == "tdb", name
        assert_allclose(back["time"].mjd, binned.time.mjd, rtol=0, atol=1e-9)
        assert back["start_utc"].scale == "utc", name
        assert back["x_mean"].unit == u.pix, name
        assert_allclose(back["x_mean"].value, binned["x_mean"].value, equal_nan=True)
        assert back["flux"].unit.is_equivalent(u.adu / u.s) or back["flux"].unit == u.DN / u.s
    with pytest.raises(ParameterError, match="exists; pass overwrite=True"):
        write_table(binned, path)
    with pytest.raises(ParameterError, match="must end in one of"):
        write_table(binned, tmp_path / "binned.csv")


def test_series_selection_and_median_switch(model):
    binned = bin_to_integrations(model, integrations(), series=["x_mean"], median=False)
    assert "x_mean" in binned.colnames and "x_mean_median" not in binned.colnames
    assert "flux" not in binned.colnames
    with pytest.raises(ParameterError, match="'nope'.*available: amplitude"):
        bin_to_integrations(model, integrations(), series=["nope"])


def test_events_become_integration_flags(tmp_path):
    model = make_model()
    events = np.zeros(2, dtype=model.table_dtype("events"))
    events["kind"] = [b"tilt", b"hga_move"]
    events["start_mjd"] = START + np.array([11.0, 30.5]) / DAY
    events["end_mjd"] = START + np.array([11.0, 34.5]) / DAY
    model.events = events
    binned = bin_to_integrations(model, integrations())
    seconds = np.round((np.asarray(binned["start_utc"].mjd) - START) * DAY, 3)
    assert_array_equal(np.flatnonzero(binned["event_tilt"]), np.flatnonzero(seconds == 10.0))
    assert_array_equal(np.flatnonzero(binned["event_hga_move"]),
                       np.flatnonzero((seconds >= 30.0) & (seconds <= 34.0)))
    assert binned["event"].sum() == 1 + 3
    assert not binned["event_guide_star_change"].any()
    assert "event" not in bin_to_integrations(model, integrations(), events=False).colnames


def test_science_product_paths_and_models(model, binned, tmp_path):
    from astropy.io import fits
    from stdatamodels.jwst.datamodels import CubeModel

    table = integrations()
    science = CubeModel((len(table), 2, 2))
    records = np.zeros(len(table), dtype=science.int_times.dtype if science.hasattr(
        "int_times") else [(name, "f8") for name in INT_TIMES_COLUMNS])
    for name in INT_TIMES_COLUMNS:
        records[name] = table[name]
    science.int_times = records
    science.meta.target.ra, science.meta.target.dec = 286.0, -41.3
    from_model = bin_to_integrations(model, science)
    assert_allclose(from_model["x_mean"].value, binned["x_mean"].value, equal_nan=True)
    assert integration_times(science).target.ra.deg == pytest.approx(286.0)
    path = tmp_path / "jw01366003001_04101_00001-seg001_nrs1_rateints.fits"
    science.save(path)
    from_path = bin_to_integrations(model, path)
    assert_allclose(from_path["x_mean"].value, binned["x_mean"].value, equal_nan=True)
    assert from_path.meta["SCIENCE"] == path.name
    # A product without INT_TIMES: a clear error naming it.
    bare = tmp_path / "jw01366003001_04101_00001-seg001_nrs1_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2)), name="SCI")]).writeto(bare)
    with pytest.raises(ScienceInputError, match="nrs1_rate.fits: no INT_TIMES extension"):
        bin_to_integrations(model, bare)
    with pytest.raises(ScienceInputError, match="does not exist"):
        bin_to_integrations(model, tmp_path / "missing_rateints.fits")


def test_bad_integration_times_are_refused(model):
    table = integrations()
    table["int_end_MJD_UTC"][3] = table["int_start_MJD_UTC"][3]
    with pytest.raises(ScienceInputError, match="1 integration\\(s\\) end at or before"):
        bin_to_integrations(model, table)
    table = integrations()
    table["int_start_MJD_UTC"][2] = np.nan
    with pytest.raises(ScienceInputError, match="not all finite"):
        bin_to_integrations(model, table)
    table = integrations()
    table.remove_column("int_mid_BJD_TDB")
    with pytest.raises(ScienceInputError, match="lacks the column\\(s\\) int_mid_BJD_TDB"):
        bin_to_integrations(model, table)
    with pytest.raises(ScienceInputError, match="need target= .* and observer="):
        bin_to_integrations(model, ([START], [START + 1 / DAY]))
    with pytest.raises(ParameterError, match="scale='gps'"):
        bin_to_integrations(model, ([START], [START + 1 / DAY]), scale="gps",
                            target=(0, 0), observer="geocenter")


def test_arrays_of_utc_times_with_an_observer(model):
    from astropy.coordinates import EarthLocation, SkyCoord

    geocenter = EarthLocation.from_geocentric(0, 0, 0, unit=u.m)
    table = integrations()
    target = SkyCoord(286.0 * u.deg, -41.3 * u.deg)
    start = Time(table["int_start_MJD_UTC"], format="mjd", scale="utc")
    end = Time(table["int_end_MJD_UTC"], format="mjd", scale="utc")
    binned = bin_to_integrations(model, (start, end), target=target, observer="geocenter")
    assert_allclose(binned["x_mean"].value,
                    bin_to_integrations(model, table)["x_mean"].value, equal_nan=True)
    mid = start + (end - start) * 0.5
    expected = mid.tdb + mid.light_travel_time(target, kind="barycentric", location=geocenter)
    assert_allclose((binned.time - expected).to_value(u.s), 0, atol=1e-6)
    assert binned.meta["TIMESRC"] == "observer"
    # The same integrations in BJD_TDB come back to the same UTC boundaries.
    bjd = bin_to_integrations(model,
                              (start.tdb + start.light_travel_time(target, location=geocenter),
                               end.tdb + end.light_travel_time(target, location=geocenter)),
                              scale="bjd_tdb", target=target, observer="geocenter")
    assert_allclose((bjd["start_utc"] - start).to_value(u.s), 0, atol=1e-5)
    assert_array_equal(bjd["n_frames"], binned["n_frames"])


def test_design_matrix_standardises_and_correlates(binned, tmp_path, caplog):
    rng = np.random.default_rng(5)
    regressors = design_matrix(binned)
    assert regressors.names == DEFAULT_REGRESSORS
    rows = regressors.valid
    assert rows.sum() == np.count_nonzero(binned["n_frames"] > 0)
    assert_allclose(regressors.values[rows].mean(axis=0), 0, atol=1e-12)
    assert_allclose(regressors.values[rows].std(axis=0), 1, rtol=1e-12)
    assert np.all(regressors.values[~rows] == 0)
    assert regressors.mean[1].unit == u.pix
    # A light curve built on y_stddev correlates best with y_stddev.
    science = 1 + 0.01 * np.nan_to_num(np.asarray(binned["y_stddev"].value) - 0.68) \
        + 1e-5 * rng.standard_normal(len(binned))
    correlation = regressors.correlation(science)
    assert max(correlation, key=lambda name: abs(correlation[name])) == "y_stddev"
    assert correlation["y_stddev"] > 0.8
    table = regressors.to_table()
    table.write(tmp_path / "regressors.ecsv")
    back = QTable.read(tmp_path / "regressors.ecsv")
    assert back["time"].scale == "tdb" and list(back.colnames[1:]) == [*DEFAULT_REGRESSORS,
                                                                       "valid"]
    with caplog.at_level(logging.WARNING, logger="spelunker.science"):
        partial = design_matrix(binned, columns=["x_mean", "missing"])
    assert partial.names == ("x_mean",) and "no column 'missing'" in caplog.text
    with pytest.raises(ParameterError, match="none of them"):
        design_matrix(binned, columns=["missing"])


def test_lightkurve_exports(model, binned):
    pytest.importorskip("lightkurve")
    regressors = design_matrix(binned)
    matrix = regressors.to_lightkurve()
    assert matrix.shape == (len(binned), len(DEFAULT_REGRESSORS) + 1)
    assert list(matrix.columns[:-1]) == list(DEFAULT_REGRESSORS)
    curve = to_lightkurve(binned)
    assert curve.flux.unit == u.DN / u.s and curve.time.scale == "tdb"
    assert_allclose(curve.flux.value, binned["flux"].value, equal_nan=True)
    assert_allclose(curve.flux_err.value, binned["flux_err"].value, equal_nan=True)
    frames = to_lightkurve(model)
    assert len(frames) == len(model.frames) and frames.time.scale == "utc"
    assert "x_mean" in frames.colnames and frames["flagged"].sum() == 60


def test_to_timeseries_frames(model):
    table = to_timeseries(model)
    assert len(table) == len(model.frames) and table.time.scale == "utc"
    assert table["x_stddev"].unit == u.pix and table["flux_err"].unit == u.DN / u.s
    assert table["flagged"].sum() == 60


# --------------------------------------------------------------------------
# Hostile inputs: a spelunker error naming the problem, never a wrong number


def test_hostile_integration_arrays_are_refused_clearly(model):
    observer = {"target": (286.0, -41.3), "observer": "geocenter"}
    with pytest.raises(ScienceInputError, match="arrays: no integrations"):
        integration_times(([], []), **observer)
    with pytest.raises(ScienceInputError, match="arrays: no integrations"):
        integration_times(([], []), scale="bjd_tdb", **observer)
    for scale in ("utc", "bjd_tdb"):  # astropy's own "finite doubles" error before
        with pytest.raises(ScienceInputError, match="start times are not all finite .*index 1"):
            integration_times(([START, np.nan], [START + 1 / DAY, START + 3 / DAY]),
                              scale=scale, **observer)
    one = Time(START, format="mjd", scale="utc")
    two = Time([START + 1 / DAY, START + 2 / DAY], format="mjd", scale="utc")
    with pytest.raises(ScienceInputError, match="equal length; got shapes \\(1,\\) and \\(2,\\)"):
        integration_times((one, two), **observer)
    # A bad target or observer: spelunker's ParameterError, not astropy's ValueError.
    with pytest.raises(ParameterError, match="target=\\(0, 100\\) is not a sky position"):
        integration_times(([START], [START + 1 / DAY]), target=(0, 100), observer="geocenter")
    with pytest.raises(ParameterError, match="observer='moon'"):
        bin_to_integrations(model, ([START], [START + 1 / DAY]), target=(0, 10),
                            observer="moon")
    with pytest.raises(ParameterError, match="observer='moon'"):
        frame_times_bjd(model, target=(0, 10), observer="moon")
    with pytest.raises(ParameterError, match="series=3 is neither"):
        bin_to_integrations(model, integrations(), series=3)


def test_int_times_tables_holding_garbage_are_refused(model):
    table = integrations()
    table["int_mid_BJD_TDB"] = 0.0  # BJD not computed: was taken as MJD 0 (year 1858)
    with pytest.raises(ScienceInputError, match="int_mid_BJD_TDB differs from int_mid_MJD_UTC"):
        bin_to_integrations(model, table)
    table = integrations()
    table["int_start_BJD_TDB"] += 2400000.5  # JD, not MJD
    with pytest.raises(ScienceInputError, match="does not hold BJD_TDB - 2400000.5"):
        integration_times(table)
    table = integrations()
    table["integration_number"] = np.asarray(table["integration_number"], dtype=float)
    table["integration_number"][2] = np.nan  # was cast to -9223372036854775808
    with pytest.raises(ScienceInputError, match="integration_number is not a whole number"):
        integration_times(table)
    starts = np.arange(0.0, 20.0, 2.0)
    with pytest.raises(ScienceInputError, match="9 integration\\(s\\) overlap the next one"):
        bin_to_integrations(model, int_times_table(starts, starts + 3.0))
    repeated = np.r_[starts, starts[-1]]  # a duplicated row: its frames were counted twice
    with pytest.raises(ScienceInputError, match="overlap the next one \\(first: index 9"):
        bin_to_integrations(model, int_times_table(repeated, repeated + 2.0))
    # Touching integrations, and a rounding-sized overlap, are fine.
    ends = starts + 2.0
    ends[3] += 1e-4
    assert len(integration_times(int_times_table(starts, ends))) == 10


def test_integrations_outside_the_frames_are_nan_and_logged(model, caplog):
    starts = 1e5 + np.arange(0.0, 20.0, 2.0)
    with caplog.at_level(logging.WARNING, logger="spelunker.science"):
        binned = bin_to_integrations(model, int_times_table(starts, starts + 2.0))
    assert_array_equal(binned["n_frames"], 0)
    assert_array_equal(binned["x_mean_n"], 0)
    assert np.isnan(binned["x_mean"].value).all() and np.isnan(binned["flux"].value).all()
    assert "none of the 10 integrations" in caplog.text
    assert "every binned value is NaN" in caplog.text


def test_models_without_frames_series_or_matching_tables(model):
    table = integrations()
    with pytest.raises(GuideStarInputError, match="no frames table"):
        bin_to_integrations(GuideStarModel(), table)
    bare = GuideStarModel()
    bare.frames = model.frames
    with pytest.raises(GuideStarInputError, match="holds no series to bin"):
        bin_to_integrations(bare, table)
    with pytest.raises(GuideStarInputError, match="no fit and no photometry"):
        to_timeseries(bare)
    short = make_model(n=500)
    short.gauss_fit = short.gauss_fit[:400]
    with pytest.raises(GuideStarInputError, match="gauss_fit table has 400 rows for 500 frames"):
        bin_to_integrations(short, table)


@pytest.mark.parametrize("shuffle", [False, True])
def test_frames_without_a_time_or_with_a_repeated_one(shuffle, caplog):
    model = make_model(n=2000, shuffle=shuffle)
    frames = model.frames.copy()
    frames["mid_time_mjd"][1000] = np.nan
    frames["mid_time_mjd"][5] = frames["mid_time_mjd"][6]
    model.frames = frames
    with caplog.at_level(logging.WARNING, logger="spelunker.science"):
        binned = bin_to_integrations(model, integrations())
    table = integrations()
    times = np.asarray(frames["mid_time_mjd"])
    good = np.asarray(model.gauss_fit["flags"]) == 0
    for name in ("x_mean", "flux"):
        values = np.asarray((model.lightcurve if name == "flux" else model.gauss_fit)[name],
                            dtype=float)
        mean, _, _, count = naive(times, values, good, table["int_start_MJD_UTC"],
                                  table["int_end_MJD_UTC"])
        assert_array_equal(binned[f"{name}_n"], count)  # a NaN time was binned somewhere
        assert_allclose(binned[name].value, mean, rtol=1e-12, equal_nan=True)
    assert "1 guide-star frame(s) have no finite mid-time" in caplog.text
    assert "1 guide-star frame(s) share their mid-time" in caplog.text


def test_science_files_damaged_or_without_images(model, tmp_path):
    from astropy.io import fits

    table = integrations()
    cube = np.ones((len(table), 3, 3))
    cube[4] = np.nan
    path = tmp_path / "jw01366003001_04101_00001-seg001_nrs1_rateints.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="SCI"),
                  fits.BinTableHDU(table, name="INT_TIMES")]).writeto(path)
    # An integration without any finite pixel sums to NaN, not to a flux of 0.
    flux = science_light_curve(path)
    assert np.isnan(flux[4]) and np.all(flux[np.arange(len(flux)) != 4].value == 9.0)
    with pytest.raises(ScienceInputError, match="science=ndarray: neither a path nor"):
        science_light_curve(cube)
    # Cut inside the INT_TIMES header: was "no INT_TIMES extension".
    raw = path.read_bytes()
    cut = tmp_path / "cut_rateints.fits"
    cut.write_bytes(raw[:raw.rindex(b"XTENSION") + 200])
    with pytest.raises(ScienceInputError, match="cut_rateints.fits: the file is truncated"):
        integration_times(cut)
    with pytest.raises(ScienceInputError, match="no usable INT_TIMES .*truncated.*and "
                                                "cut_rateints.fits: no usable JWST ephemeris"):
        frame_times_bjd(model, cut)
    cut.write_bytes(raw[:5000])  # inside SCI
    with pytest.raises(ScienceInputError, match="no SCI array to sum \\(the file is truncated"):
        science_light_curve(cut)


def test_design_matrix_and_correlation_on_hostile_columns(binned, tmp_path, caplog):
    assert design_matrix(binned, columns="x_mean").names == ("x_mean",)  # not 'x', '_', ...
    with pytest.raises(ParameterError, match="'start_utc' is not a numeric column"):
        design_matrix(binned, columns=["x_mean", "start_utc"])
    with pytest.raises(ParameterError, match="not a table with a time column"):
        design_matrix(np.ones(3))
    path = write_table(binned, tmp_path / "binned.ecsv")
    back = design_matrix(QTable.read(path))  # a plain QTable: no .time attribute
    assert_allclose(back.values, design_matrix(binned).values, rtol=1e-12)
    assert back.time.scale == "tdb"
    regressors = design_matrix(binned)
    rng = np.random.default_rng(2)
    flux = 3 * regressors.values[:, 0] + rng.standard_normal(len(binned))
    flux[::2] = np.nan
    rows = regressors.valid & np.isfinite(flux)
    for index, name in enumerate(regressors.names):  # Pearson over the rows both have
        expected = np.corrcoef(flux[rows], regressors.values[rows, index])[0, 1]
        assert regressors.correlation(flux)[name] == pytest.approx(expected, rel=1e-12)
    with caplog.at_level(logging.WARNING, logger="spelunker.science"):
        nothing = regressors.correlation(np.full(len(binned), np.nan))
    assert np.isnan(list(nothing.values())).all() and "no correlation" in caplog.text
    with pytest.raises(ParameterError, match="flux must be numbers"):
        regressors.correlation(["a"] * len(binned))
    with pytest.raises(ParameterError, match="flux is an astropy Time"):
        regressors.correlation(binned.time)


def test_write_table_of_regressors_and_of_unwritable_tables(binned, tmp_path):
    table = design_matrix(binned).to_table()
    path = write_table(table, tmp_path / "regressors.fits")  # was astropy's ValueError
    back = QTable.read(path, astropy_native=True)
    assert back["time"].scale == "tdb"
    assert_allclose(back["x_mean"], table["x_mean"], rtol=1e-15)
    with pytest.raises(ParameterError, match="table=ndarray: not an astropy Table"):
        write_table(np.ones(3), tmp_path / "array.ecsv")
    odd = binned.copy()
    odd["object"] = [object()] * len(odd)
    for name in ("odd.ecsv", "odd.fits"):
        with pytest.raises(ParameterError, match=f"{name}'?: the table cannot be written"):
            write_table(odd, tmp_path / name)
    with pytest.raises(ParameterError, match="folder .* does not exist"):
        write_table(binned, tmp_path / "missing" / "binned.ecsv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regressors.fits"]  # no partial file


def test_write_table_writes_through_the_atomic_writer(binned, tmp_path, monkeypatch):
    path = write_table(binned, tmp_path / "binned.ecsv")
    before = path.read_bytes()
    written = []

    def failing_write(self, target, **options):  # dies halfway, as a full disk would
        written.append(Path(target).name)
        Table.__dict__["write"].__get__(self, type(self))(target, **options)
        raise ValueError("disk full")

    monkeypatch.setattr(QTable, "write", failing_write)
    with pytest.raises(ParameterError, match="the table cannot be written"):
        write_table(binned, path, overwrite=True)
    assert written and written[0].startswith(TEMPORARY_PREFIX)  # spelunker.atomic's names
    assert path.read_bytes() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["binned.ecsv"]


def test_to_lightkurve_of_a_table_read_back(binned, tmp_path):
    pytest.importorskip("lightkurve")
    path = write_table(binned, tmp_path / "binned.ecsv")
    curve = to_lightkurve(QTable.read(path))
    assert curve.time.scale == "tdb" and curve.flux.unit == u.DN / u.s
    assert_allclose(curve.flux.value, binned["flux"].value, equal_nan=True)
    with pytest.raises(ParameterError, match="not a table with a time column"):
        to_lightkurve(Table({"flux": [1.0, 2.0]}))


@pytest.mark.benchmark
def test_bench_science_runs(capsys):
    import runpy

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_science.py"
    runpy.run_path(str(script))["main"](["--n-frames", "20000", "--n-integrations", "200",
                                        "--repeat", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "20000 frames onto 200 integrations, median of 1:"
    assert any(line.strip().startswith("ratio spelunker / baseline:") for line in lines)
    difference = next(line for line in lines if "max |difference|" in line)
    assert float(difference.rsplit(":", 1)[1]) < 1e-12


def test_a_segment_uses_its_own_integrations(model, binned, tmp_path):
    # A segment may carry the INT_TIMES of the whole exposure: INTSTART..INTEND are its own.
    from astropy.io import fits
    from astropy.table import Table as FitsTable

    table = integrations()
    n = len(table)
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((n - 3, 2, 2)), name="SCI"),
                         fits.table_to_hdu(FitsTable(table))])
    hdus[2].name = "INT_TIMES"
    hdus[0].header["INTSTART"], hdus[0].header["INTEND"] = 3, n - 1
    path = tmp_path / "jw01366003001_04101_00001-seg002_nrs1_rateints.fits"
    hdus.writeto(path)
    segment = bin_to_integrations(model, path, target=(286.0, -41.3))
    assert_array_equal(segment["integration_number"], np.arange(3, n))
    assert_allclose(segment["x_mean"].value, binned["x_mean"].value[2:n - 1], rtol=1e-12,
                    equal_nan=True)
    assert_array_equal(segment["n_frames"], binned["n_frames"][2:n - 1])
    # Integrations the table does not hold: refused, naming the file.
    fits.setval(path, "INTEND", value=n + 4)
    with pytest.raises(ScienceInputError, match=rf"seg002_nrs1_rateints.fits: the product holds "
                                                rf"integrations 3 to {n + 4}"):
        bin_to_integrations(model, path)

