"""Periodograms: injected signals recovered, engines agree, grid, flagged frames, the step."""

import copy
import logging
import re
import socket

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time
from astropy.timeseries import LombScargle
from numpy.testing import assert_allclose, assert_array_equal
from stpipe import crds_client
from stpipe.exceptions import ValidationError

from spelunker import GuideStarFitStep, GuideStarModel, datasets, read_guidestar
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.fitting import FitFlag
from spelunker.periodogram import (
    FIT_PARAMETERS,
    PERIODOGRAM_SERIES,
    find_peaks,
    frequency_grid,
    lomb_scargle,
    periodogram_peaks_table,
    periodogram_table,
    run_periodogram,
    series_from_model,
    store_periodogram,
)
from spelunker.periodogram import peaks as peaks_module
from spelunker.periodogram import store as store_module
from spelunker.periodogram.peaks import peaks_qtable
from spelunker.periodogram.refine import FLAG_NOT_SIGNIFICANT
from spelunker import PeriodogramStep

WOBBLE_PERIOD = 2.2  # s, CentroidWobble along x
FLUX_PERIOD = 1.3  # s, FluxModulation
N_FRAMES = 8000  # 430 s at 53.8 ms: grid spacing 1/(5 * 430 s) keeps period errors < 0.06%


@pytest.fixture(autouse=True)
def _no_network_no_crds(monkeypatch, tmp_path):
    """Fail loudly on any connection attempt or CRDS query; write nothing outside tmp_path."""
    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        msg = "network access or CRDS query attempted in an offline test"
        raise AssertionError(msg)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("get_reference_file", "get_multiple_reference_paths", "get_context_used"):
        monkeypatch.setattr(crds_client, name, refuse)


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    """A seeded 2-segment visit with an x wobble and a flux modulation (read-only)."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("periodogram_visit"),
        visits=[datasets.VisitSpec(n_frames=N_FRAMES, n_segments=2)],
        signals=[datasets.CentroidWobble(period=WOBBLE_PERIOD, amplitude=0.05, axis="x"),
                 datasets.FluxModulation(period=FLUX_PERIOD, amplitude=0.01)],
        seed=23,
    )


@pytest.fixture(scope="module")
def fitted(visit):
    """The visit with a gauss_fit table and a stand-in light curve (read-only)."""
    model = GuideStarFitStep.call(visit.files, method="gauss")
    add_lightcurve(model)
    return model


def add_lightcurve(model):
    """Stand-in for the photometry step: the sum of all 64 pixels of every frame."""
    data = np.asarray(model.data, dtype=float)
    err = np.asarray(model.err, dtype=float)
    table = np.zeros(len(data), dtype=model.table_dtype("lightcurve"))
    table["flux"] = data.sum(axis=(1, 2))
    table["flux_err"] = np.sqrt((err**2).sum(axis=(1, 2)))
    table["n_pixels"] = 64
    with model.trusted_assignment():
        model.lightcurve = table


def fit_columns(model, name="gauss_fit"):
    """A fit table as a new structured array (field access: no FITS offsets)."""
    stored = getattr(model, name)
    table = np.zeros(len(stored), dtype=model.table_dtype(name))
    for column in table.dtype.names:
        table[column] = np.asarray(stored[column])
    return table


def top_peak(peaks, series):
    rows = peaks[(peaks["series"] == series) & (peaks["rank"] == 1)]
    assert len(rows) == 1, series
    return rows[0]


def snapshot(model):
    """Everything a step could change on a GuideStarModel."""
    state = {"meta": copy.deepcopy(model.meta.instance)}
    for name in ("data", "err", "dq"):
        state[name] = np.array(getattr(model, name))
    for name in ("frames", "gauss_fit", "quick_fit", "lightcurve", "periodogram",
                 "periodogram_peaks"):
        if model.hasattr(name):
            stored = getattr(model, name)
            state[name] = {column: np.array(stored[column]) for column in stored.dtype.names}
        else:
            state[name] = None
    return state


def assert_same(before, after):
    assert before["meta"] == after["meta"]
    for name, value in before.items():
        if name == "meta":
            continue
        if value is None:
            assert after[name] is None, name
        elif isinstance(value, dict):
            assert value.keys() == after[name].keys(), name
            for column in value:
                assert_array_equal(after[name][column], value[column], err_msg=f"{name}.{column}")
        else:
            assert_array_equal(after[name], value, err_msg=name)


# --------------------------------------------------------------------------
# Signals


def test_injected_wobble_and_flux_modulation_are_recovered(fitted):
    times, series, errors, source = series_from_model(fitted)
    assert source == "gauss_fit"
    assert set(series) == set(PERIODOGRAM_SERIES)
    assert errors["x_mean"] is not None and errors["flux"] is not None
    result = lomb_scargle(times, series, errors=errors, n_peaks=3)

    assert result.frequency[0] == pytest.approx(1 / np.ptp(times), rel=1e-12)
    for name, period in (("x_mean", WOBBLE_PERIOD), ("flux", FLUX_PERIOD),
                         ("amplitude", FLUX_PERIOD)):
        peak = top_peak(result.peaks, name)
        assert peak["period"].unit == u.s and peak["frequency"].unit == u.Hz
        assert_allclose(peak["period"].value, period, rtol=1e-3, err_msg=name)
        assert peak["false_alarm_probability"] < 1e-3, name
        assert peak["power"] > 0.1, name
    # y does not move: its strongest peak is noise and is not significant.
    assert top_peak(result.peaks, "y_mean")["false_alarm_probability"] > 1e-2
    assert result.weighted["x_mean"] and result.n_points["flux"] == N_FRAMES
    for name in PERIODOGRAM_SERIES:
        assert result.power[name].dtype == np.float32
        assert result.power[name].shape == result.frequency.shape
        ranks = result.peaks["rank"][result.peaks["series"] == name]
        assert_array_equal(ranks, [1, 2, 3])


def test_peaks_are_distinct_maxima_not_side_lobes():
    times = np.arange(4000) * 0.0538
    values = np.sin(2 * np.pi * times / 1.7) + 0.1 * np.sin(2 * np.pi * times / 0.61)
    result = lomb_scargle(times, {"x_mean": values}, n_peaks=2)
    assert_allclose(result.peaks["period"].value, [1.7, 0.61], rtol=1e-3)
    # The first side lobe of the strong peak (about 4.6% of its power) is higher
    # than the weak signal (1%): every local maximum (window 1) would list it.
    assert result.peaks["power"][1] < 0.02
    spacing = result.frequency[1] - result.frequency[0]
    lobes = find_peaks(result.power["x_mean"], n_peaks=2, window=1)
    assert abs(result.frequency[lobes[1]] - 1 / 1.7) < 2 / np.ptp(times)
    assert abs(result.frequency[lobes[1]] - 1 / 1.7) > spacing


def test_peaks_qtable_refuses_what_is_not_peak_rows():
    table = peaks_qtable([("flux", 1, 0.01, 0.5, 1e-3), ("x_mean", 2, 0.0, 0.1, 1.0)])
    assert table.colnames == ["series", "rank", "frequency", "period", "power",
                              "false_alarm_probability", "period_refined", "period_error",
                              "amplitude", "amplitude_error", "refine_flag"]
    assert_allclose(table["period"].to_value(u.s), [100.0, np.inf])
    # Rows of five are not refined: NaN and the FAILED flag.
    assert np.all(np.isnan(table["period_refined"].to_value(u.s)))
    assert table["refine_flag"].tolist() == [1, 1]
    for rows, text in [(None, "rows=None must be a sequence"), ("x", "rows='x' must be"),
                       (5, "rows=5 must be"),
                       ([("flux", 1)], r"rows\[0\]=\('flux', 1\) must be"),
                       (["abcde"], r"rows\[0\]='abcde' must be"),
                       ([("flux", "first", 0.01, 0.5, 1e-3)],
                        "a row has a value of the wrong kind")]:
        with pytest.raises(ParameterError, match=f"peaks_qtable: {text}"):
            peaks_qtable(rows)
    # The per-series peak search is lomb_scargle's own step (its inputs checked there).
    assert peaks_module.__all__ == ["find_peaks", "peaks_qtable", "REFINED_COLUMNS",
                                    "MAX_REFINE_FALSE_ALARM"]


def test_default_peak_separation_uses_each_series_own_valid_baseline():
    # 4000 frames, but x_mean is valid only in the middle quarter: its peaks are
    # four times broader than those of the full series and its side lobes four
    # times farther out, so the window must come from its own 1000 frames.
    times = np.arange(4000) * 0.0538
    values = np.sin(2 * np.pi * times / 1.7) + 0.1 * np.sin(2 * np.pi * times / 0.61)
    masked = np.full(times.shape, np.nan)
    masked[1500:2500] = values[1500:2500]
    result = lomb_scargle(times, {"x_mean": masked, "full": values}, n_peaks=2)
    peaks = result.peaks
    short = peaks[peaks["series"] == "x_mean"]
    assert_allclose(short["period"].value, [1.7, 0.61], rtol=3e-3)
    assert short["power"][1] < 0.02  # the weak signal, not a side lobe of the strong one
    full = peaks[peaks["series"] == "full"]
    assert_allclose(full["period"].value, [1.7, 0.61], rtol=1e-3)
    # the same peaks as when the masked points are not given at all
    alone = lomb_scargle(times[1500:2500], {"x_mean": values[1500:2500]}, n_peaks=2,
                         frequency=result.frequency)
    assert_array_equal(short["frequency"], alone.peaks["frequency"])
    assert_allclose(short["power"], alone.peaks["power"], rtol=1e-5)


# --------------------------------------------------------------------------
# Engines


def test_nifty_and_astropy_exact_agree(fitted):
    times, series, errors, _ = series_from_model(fitted)
    subset = slice(1000, 4000)
    times = times[subset]
    series = {name: values[subset].copy() for name, values in series.items()}
    errors = {name: None if value is None else value[subset].copy()
              for name, value in errors.items()}
    # Different masks and a mix of weighted and unweighted series.
    series["theta"][::7] = np.nan
    series["flux"][100:300] = np.nan
    errors["offset"] = None
    frequency = frequency_grid(times, maximum_frequency=4.0)
    assert 2000 < len(frequency) < 5000

    nifty = lomb_scargle(times, series, errors=errors, frequency=frequency, engine="nifty")
    exact = lomb_scargle(times, series, errors=errors, frequency=frequency, engine="astropy")
    for name in series:
        assert_allclose(nifty.power[name], exact.power[name], rtol=0, atol=1e-6, err_msg=name)
    assert_array_equal(nifty.peaks["series"], exact.peaks["series"])
    assert_allclose(nifty.peaks["frequency"], exact.peaks["frequency"], rtol=0)
    assert_allclose(nifty.peaks["false_alarm_probability"],
                    exact.peaks["false_alarm_probability"], rtol=1e-4, atol=1e-300)

    # Independently: astropy's other exact method on the masked, weighted theta.
    mask = np.isfinite(series["theta"])
    reference = LombScargle(times[mask], series["theta"][mask], errors["theta"][mask]).power(
        frequency, method="slow")
    assert_allclose(nifty.power["theta"], reference, rtol=0, atol=1e-6)
    assert nifty.n_points["theta"] == int(mask.sum())


# --------------------------------------------------------------------------
# Frequency grid


def test_frequency_grid_runs_from_one_over_baseline_to_the_median_nyquist():
    rng = np.random.default_rng(2)
    steps = np.full(3000, 0.0538) + rng.normal(0, 1e-4, 3000)
    steps[1500] = 60.0  # a gap: the mean cadence is not the median one
    times = np.concatenate([[0.0], np.cumsum(steps)])
    baseline = np.ptp(times)
    nyquist = 0.5 / np.median(np.diff(times))

    for samples_per_peak in (5.0, 1.0, 12.5):
        grid = frequency_grid(times, samples_per_peak=samples_per_peak)
        spacing = 1 / (samples_per_peak * baseline)
        assert grid.dtype == np.float64
        assert grid[0] == pytest.approx(1 / baseline, rel=1e-12)
        assert_allclose(np.diff(grid), spacing, rtol=1e-9)
        assert grid[-1] <= nyquist < grid[-1] + spacing
    assert 5 < nyquist < 10

    limited = frequency_grid(times, minimum_frequency=0.5, maximum_frequency=2 * u.Hz)
    assert limited[0] == 0.5 and limited[-1] <= 2.0
    # Quantity and Time inputs are the same times.
    assert_array_equal(frequency_grid(times * 1000 * u.ms), frequency_grid(times))
    as_time = Time(60000.0, format="mjd") + times * u.s
    assert_allclose(frequency_grid(as_time), frequency_grid(times), rtol=1e-9)
    # The shuffled times give the same grid.
    assert_array_equal(frequency_grid(rng.permutation(times)), frequency_grid(times))


# --------------------------------------------------------------------------
# Flagged frames


def test_flagged_frames_are_left_out(fitted):
    rng = np.random.default_rng(5)
    bad = np.zeros(N_FRAMES, dtype=bool)
    bad[rng.choice(N_FRAMES, 300, replace=False)] = True
    bad[4000:4100] = True

    flagged = fitted.copy()
    table = fit_columns(fitted)
    table["flags"][bad] |= np.uint32(FitFlag.CHI2_OUTLIER)
    with flagged.trusted_assignment():
        flagged.gauss_fit = table

    garbage = fitted.copy()
    table = table.copy()
    junk = rng.choice([1e6, -1e6, np.nan, np.inf], size=bad.sum())
    for name in FIT_PARAMETERS:
        table[name][bad] = junk
        table[f"{name}_err"][bad] = rng.choice([0.0, np.nan, 1e-9], size=bad.sum())
    with garbage.trusted_assignment():
        garbage.gauss_fit = table

    unflagged_garbage = fitted.copy()
    table = table.copy()
    table["flags"][bad] = 0
    for name in FIT_PARAMETERS:
        table[name][bad] = 1e6
        table[f"{name}_err"][bad] = 1.0
    with unflagged_garbage.trusted_assignment():
        unflagged_garbage.gauss_fit = table

    results = []
    for model in (flagged, garbage, unflagged_garbage):
        times, series, errors, _ = series_from_model(model)
        results.append(lomb_scargle(times, series, errors=errors))
    clean, dirty, polluted = results
    for name in FIT_PARAMETERS:
        assert clean.n_points[name] == N_FRAMES - bad.sum()
        assert_array_equal(dirty.power[name], clean.power[name], err_msg=name)
        assert not np.allclose(polluted.power[name], clean.power[name], atol=1e-3), name
    assert_array_equal(dirty.peaks["power"], clean.peaks["power"])
    # The light curve does not depend on the fit flags.
    assert clean.n_points["flux"] == N_FRAMES
    assert_allclose(top_peak(clean.peaks, "x_mean")["period"].value, WOBBLE_PERIOD, rtol=1e-3)


def test_the_periodograms_read_the_fit_table_in_place(fitted):
    # run_periodogram reads the fit table's columns where they are (float64 values,
    # float32 errors, flagged rows holding junk) with the unflagged rows as usable:
    # the power and peaks of lomb_scargle on series_from_model's float64 copies with
    # NaN on the flagged frames, bit for bit; nothing of the visit is copied.
    rng = np.random.default_rng(8)
    bad = rng.random(N_FRAMES) < 0.05
    model = fitted.copy()
    table = fit_columns(fitted)
    table["flags"][bad] |= np.uint32(FitFlag.CHI2_OUTLIER)
    for name in FIT_PARAMETERS:
        table[name][bad] = rng.choice([1e6, np.nan], size=bad.sum())
    with model.trusted_assignment():
        model.gauss_fit = table
    times, series, errors, usable = store_module._series_in_place(model, "gauss_fit")
    for name in FIT_PARAMETERS:
        assert np.shares_memory(series[name], np.asarray(model.gauss_fit))
        assert errors[name] is None or errors[name].dtype == np.float32
        assert_array_equal(usable[name], ~bad)
    (_, _, in_place), = run_periodogram(model)
    times, copies, float64_errors, _ = series_from_model(model)
    expected = lomb_scargle(times, copies, errors=float64_errors, samples_per_peak=2.0,
                            peak_samples_per_peak=5.0)
    for name in PERIODOGRAM_SERIES:
        assert_array_equal(in_place.power[name], expected.power[name], err_msg=name)
        assert in_place.n_points[name] == expected.n_points[name]
    for column in expected.peaks.colnames:
        assert_array_equal(np.asarray(in_place.peaks[column]), np.asarray(expected.peaks[column]))
    # The other engines read the float32 errors as float64: the same as the copies.
    few = slice(0, 3000)
    view = {"x_mean": series["x_mean"][few]}
    astropy_in_place = lomb_scargle(times[few], view, engine="astropy",
                                    errors={"x_mean": errors["x_mean"][few]},
                                    usable={"x_mean": usable["x_mean"][few]})
    astropy_copies = lomb_scargle(times[few], {"x_mean": copies["x_mean"][few]},
                                  engine="astropy",
                                  errors={"x_mean": float64_errors["x_mean"][few]})
    assert_array_equal(astropy_in_place.power["x_mean"], astropy_copies.power["x_mean"])
    with pytest.raises(ParameterError, match="usable names 'flux'"):
        lomb_scargle(times[few], view, usable={"flux": usable["x_mean"][few]})


def test_unusable_series_give_nan_power_and_no_peaks(caplog):
    times = np.arange(500) * 0.0538
    series = {"x_mean": np.sin(times), "theta": np.full(500, 0.4),
              "offset": np.full(500, np.nan)}
    series["offset"][:3] = 1.0
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        result = lomb_scargle(times, series)
    assert "no periodogram of theta: it is constant" in caplog.text
    assert "no periodogram of offset: 3 valid point(s)" in caplog.text
    for name in ("theta", "offset"):
        assert np.isnan(result.power[name]).all()
        assert name not in set(result.peaks["series"])
    assert np.isfinite(result.power["x_mean"]).all()

    model = GuideStarModel()
    store_periodogram(model, result, source=None, samples_per_peak=5)
    table = periodogram_table(model)
    assert table["frequency"].unit == u.Hz
    assert table.colnames == ["visit_index", "guidestar_index", "frequency", *PERIODOGRAM_SERIES]
    assert set(table["visit_index"]) == {0} and set(table["guidestar_index"]) == {0}
    for name in ("theta", "offset", "flux", "amplitude"):
        assert np.isnan(table[name]).all(), name
    assert_array_equal(table["x_mean"], result.power["x_mean"])


def test_series_from_model_prefers_gauss_and_weights_only_finite_errors(fitted):
    model = fitted.copy()
    quick = GuideStarFitStep.call(fitted, method="quick")
    with model.trusted_assignment():
        model.quick_fit = fit_columns(quick, "quick_fit")
    assert series_from_model(model)[3] == "gauss_fit"
    times, series, errors, source = series_from_model(model, fit_table="quick_fit")
    assert source == "quick_fit"
    assert times[0] == 0 and np.all(np.diff(times) > 0)
    assert_allclose(np.median(np.diff(times)), 0.0538, rtol=1e-4)
    # The moments fit has errors for centres and background only.
    assert errors["x_mean"] is not None and errors["offset"] is not None
    for name in ("amplitude", "x_stddev", "y_stddev", "theta"):
        assert errors[name] is None, name


def test_series_from_model_copies_the_columns_the_same_on_any_number_of_threads(fitted):
    # The columns are copied on two threads at once; one gives the same arrays, and
    # the series carry NaN on flagged frames either way.
    one = series_from_model(fitted, ncpus=1)
    two = series_from_model(fitted, ncpus=2)
    assert list(one[1]) == list(two[1])
    for name in one[1]:
        assert_array_equal(one[1][name], two[1][name])
        assert one[1][name].dtype == np.float64 and one[1][name].flags.c_contiguous
        if one[2][name] is None:
            assert two[2][name] is None
        else:
            assert_array_equal(one[2][name], two[2][name])
    flagged = np.asarray(fitted.gauss_fit["flags"]) != 0
    assert np.isnan(two[1]["x_mean"][flagged]).all()
    for bad in ("x", 0, -1):
        with pytest.raises(ParameterError, match="ncpus"):
            series_from_model(fitted, ncpus=bad)


# --------------------------------------------------------------------------
# The step


def test_step_on_a_fitted_model_leaves_it_unmodified(fitted):
    before = snapshot(fitted)
    result = PeriodogramStep.call(fitted)
    assert_same(before, snapshot(fitted))
    assert result is not fitted
    assert result.meta.spelunker.periodogram_source == "gauss_fit"
    # The stored grid has 2 points per peak (the default since issue 23), the
    # peaks are those of the 5-point grid computed in full.
    assert result.meta.spelunker.periodogram_samples_per_peak == 2.0
    times = series_from_model(fitted)[0]
    assert_allclose(periodogram_table(result)["frequency"].to_value(u.Hz),
                    frequency_grid(times, samples_per_peak=2), rtol=1e-12)
    peaks = periodogram_peaks_table(result)
    full = periodogram_peaks_table(PeriodogramStep.call(fitted, samples_per_peak=5))
    assert_array_equal(peaks["series"], full["series"])
    assert_array_equal(peaks["frequency"], full["frequency"])
    assert_allclose(peaks["power"], full["power"], rtol=1e-6)
    assert_allclose(peaks["period_refined"], full["period_refined"], rtol=1e-9)
    assert len(peaks) == 5 * len(PERIODOGRAM_SERIES)
    assert_allclose(top_peak(peaks, "x_mean")["period"].to_value(u.s), WOBBLE_PERIOD, rtol=1e-3)
    assert_allclose(top_peak(peaks, "flux")["period"].to_value(u.s), FLUX_PERIOD, rtol=1e-3)
    # The strongest peaks are refined: a good fit, the truth inside 3 sigma.
    for name, truth in (("x_mean", WOBBLE_PERIOD), ("flux", FLUX_PERIOD)):
        top = top_peak(peaks, name)
        assert top["refine_flag"] == 0, name
        refined, error = top["period_refined"].to_value(u.s), top["period_error"].to_value(u.s)
        assert 0 < error < 1e-3 * truth, name
        assert abs(refined - truth) < 3 * error, name
        assert top["amplitude"] > 3 * top["amplitude_error"] > 0, name
    # A peak not refined is flagged, with no numbers.
    skipped = peaks[peaks["refine_flag"] == FLAG_NOT_SIGNIFICANT]
    assert np.all(skipped["false_alarm_probability"] > 0.01)
    assert np.all(np.isnan(skipped["period_refined"]))


def test_step_without_fit_table_runs_the_quick_fit(visit, caplog):
    model = read_guidestar(visit.files)
    before = snapshot(model)
    with caplog.at_level(logging.INFO, logger="spelunker"):
        result = PeriodogramStep.call(model, n_peaks=2, maximum_frequency=3.0)
    assert_same(before, snapshot(model))
    assert "no quick_fit table: running the moments (quick) fit first" in caplog.text
    assert result.hasattr("quick_fit") and not result.hasattr("gauss_fit")
    assert result.meta.spelunker.fit_method == "quick"
    assert result.meta.spelunker.periodogram_source == "quick_fit"
    table = periodogram_table(result)
    assert table["frequency"][-1] <= 3.0 * u.Hz
    assert np.isnan(table["flux"]).all()  # no light curve in the input
    peaks = periodogram_peaks_table(result)
    assert "flux" not in set(peaks["series"])
    assert_allclose(top_peak(peaks, "x_mean")["period"].to_value(u.s), WOBBLE_PERIOD, rtol=1e-3)


def test_saved_product_reopens_with_the_periodogram(visit, tmp_path):
    result = PeriodogramStep.call(visit.files, save_results=True, output_dir=str(tmp_path),
                                  samples_per_peak=2.0, n_peaks=1)
    saved = sorted(tmp_path.glob("*_gspgram.fits"))
    assert len(saved) == 1
    reopened = GuideStarModel(str(saved[0]))
    try:
        table, expected = periodogram_table(reopened), periodogram_table(result)
        assert table.colnames == expected.colnames
        for name in table.colnames:
            assert_array_equal(table[name], expected[name], err_msg=name)
        assert table.meta == {"source": "quick_fit", "samples_per_peak": 2.0}
        peaks, expected = periodogram_peaks_table(reopened), periodogram_peaks_table(result)
        assert list(peaks["series"]) == list(expected["series"]) == list(FIT_PARAMETERS)
        assert peaks.colnames == expected.colnames
        for name in ("frequency", "period", "power", "false_alarm_probability",
                     "period_refined", "period_error", "amplitude", "amplitude_error",
                     "refine_flag"):
            assert_array_equal(peaks[name], expected[name], err_msg=name)
        assert np.any(peaks["refine_flag"] == 0)
        assert peaks["period"].unit == peaks["period_refined"].unit == u.s
        assert peaks["period_error"].unit == u.s
    finally:
        reopened.close()


def test_parameter_file_sets_parameters(fitted, tmp_path):
    path = tmp_path / "periodogram.asdf"
    path.write_text(
        "#ASDF 1.0.0\n#ASDF_STANDARD 1.6.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
        "--- !core/asdf-1.1.0\n"
        "class: spelunker.stpipe.periodogram_step.PeriodogramStep\n"
        "name: PeriodogramStep\n"
        "parameters:\n  samples_per_peak: 2.0\n  maximum_frequency: 4.0\n  n_peaks: 2\n...\n"
    )
    result = PeriodogramStep.call(fitted, config_file=str(path))
    assert result.meta.spelunker.periodogram_samples_per_peak == 2.0
    table = periodogram_table(result)
    assert table["frequency"][-1] <= 4.0 * u.Hz
    assert_allclose(np.diff(table["frequency"].to_value(u.Hz)),
                    1 / (2.0 * np.ptp(series_from_model(fitted)[0])), rtol=1e-9)
    assert len(periodogram_peaks_table(result)) == 2 * len(PERIODOGRAM_SERIES)


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"samples_per_peak": 0.5}, ["samples_per_peak", "too small"]),
        ({"n_peaks": 0}, ["n_peaks", "too small"]),
        ({"engine": "fft"}, ["engine", "fft"]),
        ({"fit_table": "moments"}, ["fit_table", "moments"]),
        ({"ncpus": 0}, ["ncpus", "too small"]),
    ],
)
def test_invalid_step_parameters_raise_validation_errors(fitted, parameters, words):
    with pytest.raises(ValidationError) as info:
        PeriodogramStep.call(fitted, **parameters)
    for word in words:
        assert word in str(info.value)


def test_step_parameter_values_it_cannot_use_raise_clear_errors(fitted):
    with pytest.raises(ParameterError, match="maximum_frequency=-1.0 must be positive"):
        PeriodogramStep.call(fitted, maximum_frequency=-1.0)
    with pytest.raises(ParameterError, match="is not above the minimum frequency"):
        PeriodogramStep.call(fitted, maximum_frequency=1e-4)
    # Inside a pipeline stpipe does not validate again: the step's own checks apply.
    cases = (("n_peaks", 0, "n_peaks=0 must be an integer >= 1"),
             ("n_peaks", 2.5, "n_peaks=2.5 must be an integer >= 1"),
             ("engine", "fft", "engine='fft' is not one of"),
             ("fit_table", "moments", "fit_table='moments' is not one of"),
             ("samples_per_peak", 0.5, "samples_per_peak=0.5 must be >= 1"),
             ("maximum_frequency", "high", "maximum_frequency='high' must be a number"),
             ("ncpus", 0, "ncpus=0 must be an integer >= 1"))
    for attribute, value, words in cases:
        step = PeriodogramStep()
        setattr(step, attribute, value)
        with pytest.raises(ValueError, match=re.escape(words)):
            step.process(fitted)


# --------------------------------------------------------------------------
# Function errors


def test_functions_reject_bad_input_clearly(fitted):
    times = np.arange(100) * 0.0538
    values = np.sin(times)
    result = lomb_scargle(times, {"unknown": values})
    cases = [
        (lambda: frequency_grid(np.zeros(5)), GuideStarInputError, "at least two distinct"),
        (lambda: frequency_grid([0.0, np.nan, 1.0]), ParameterError, "non-finite"),
        (lambda: frequency_grid(times, samples_per_peak=0.5), ParameterError, "must be >= 1"),
        (lambda: frequency_grid(times, minimum_frequency=5, maximum_frequency=4),
         ParameterError, "not above the minimum"),
        (lambda: frequency_grid(times, maximum_frequency=1 * u.m), ParameterError,
         "must be a frequency"),
        (lambda: frequency_grid(times * u.m), ParameterError, "must be in units of time"),
        (lambda: lomb_scargle(times, {"x": values}, engine="fft"), ParameterError,
         "engine='fft'"),
        (lambda: lomb_scargle(times, {"x": values}, n_peaks=0), ParameterError, "n_peaks=0"),
        (lambda: lomb_scargle(times, {"x": values[:-1]}), ParameterError, "has shape (99,)"),
        (lambda: lomb_scargle(times, {"x": ["a"] * 100}), ParameterError,
         "series 'x' must be numbers"),
        (lambda: lomb_scargle(times, {"x": values}, errors={"y": values}), ParameterError,
         "unknown series"),
        (lambda: lomb_scargle(times, {"x": values}, errors={"x": "big"}), ParameterError,
         "errors of 'x' must be numbers"),
        (lambda: lomb_scargle(times, {"x": values}, frequency=[1.0, 2.0],
                              maximum_frequency=3.0), ParameterError, "not both"),
        (lambda: lomb_scargle(times, {"x": values}, frequency=[1.0, 2.0, 4.0]),
         ParameterError, "regular frequency grid"),
        (lambda: lomb_scargle(times, {"x": values}, frequency=[1.0, 2.0] * u.m),
         ParameterError, "frequency must be a frequency"),
        (lambda: find_peaks(["a", "b", "c"]), ParameterError, "1-D array of numbers"),
        (lambda: series_from_model(fitted, fit_table="moments"), ParameterError,
         "fit_table='moments'"),
        (lambda: series_from_model(fitted, fit_table="quick_fit"), GuideStarInputError,
         "no quick_fit table; run GuideStarFitStep with method='quick'"),
        (lambda: series_from_model(GuideStarModel()), GuideStarInputError,
         "no gauss_fit or quick_fit table"),
        (lambda: periodogram_table(GuideStarModel()), GuideStarInputError,
         "no periodogram table"),
        (lambda: periodogram_peaks_table(GuideStarModel()), GuideStarInputError,
         "no periodogram_peaks table"),
        (lambda: store_periodogram(GuideStarModel(), result, source=None,
                                   samples_per_peak=None), ParameterError,
         "no column for series"),
        (lambda: store_periodogram(GuideStarModel(), [(0, 0, "power")], source=None,
                                   samples_per_peak=None), ParameterError,
         "must be a PeriodogramResult"),
    ]
    for call, error, words in cases:
        with pytest.raises(error) as info:
            call()
        assert words in str(info.value)
    # An irregular grid is fine for the exact engine.
    irregular = lomb_scargle(times, {"x": values}, frequency=[1.0, 2.0, 4.0], engine="astropy")
    assert irregular.power["x"].shape == (3,)


def test_grid_too_large_for_memory_is_refused_clearly():
    from spelunker.periodogram import lomb_scargle

    # Two short visits 150 days apart: a grid of ~6e8 frequencies.
    t = np.concatenate([np.arange(2000) * 0.0538, 150 * 86400 + np.arange(2000) * 0.0538])
    y = np.random.default_rng(3).normal(size=t.size)
    with pytest.raises(ParameterError, match="one visit at a time"):
        lomb_scargle(t, {name: y for name in ("x_mean", "y_mean", "flux")})
