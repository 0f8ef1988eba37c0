"""Refined periods (spelunker.periodogram.refine_period): accuracy and honest errors, measured.

Seeded trials of a sinusoid in white noise at the fine-guide cadence (16 Hz
with jitter and a few gaps, 2,000 to 20,000 points, 3 to 50 cycles in the
span, random phase), each refined from the Lomb-Scargle peak.  Run as a
script (``python tests/test_period_refinement.py``) it prints the table of
docs/periodogram.rst.
"""

import math

import numpy as np
import pytest
from astropy.timeseries.periodograms.lombscargle._statistics import fap_baluev

from spelunker.errors import ParameterError
from spelunker.periodogram import lomb_scargle, refine_period
from spelunker.periodogram import peaks as peaks_module
from spelunker.periodogram import refine as refine_module
from spelunker.periodogram.refine import (
    FLAG_FAILED,
    FLAG_NOT_SIGNIFICANT,
    FLAG_OUTSIDE_PEAK,
    _false_alarm,
)

N_TRIALS = 200


def _visit(rng):
    """Times of a 16 Hz series with jitter and one to three gaps."""
    n = int(rng.integers(2000, 20001))
    times = np.arange(n) / 16.0 + rng.normal(0, 0.002, n)
    keep = np.ones(n, bool)
    for _ in range(int(rng.integers(1, 4))):
        start = int(rng.integers(0, n))
        keep[start:start + int(rng.integers(20, n // 20))] = False
    return times[keep]


def run_trials(kind, n_trials=N_TRIALS, seed=2021):
    """Raw and refined periods of ``n_trials`` seeded sinusoids.

    ``kind`` 'clear': the noise set so that the expected (Cramer-Rao)
    relative period error, ``sqrt(6 / N) sigma / (pi A cycles)``, is
    log-uniform between 3e-5 and 3e-4 (a clear peak: 0.1 % is more than
    3 sigma); 'broad': amplitude / noise log-uniform between 0.3 and 3
    per point, whatever the period precision.

    Returns a dict of arrays: ``truth``, ``raw``, ``refined``, ``error``,
    ``flag``.
    """
    rng = np.random.default_rng(seed)
    out = {key: [] for key in ("truth", "raw", "refined", "error", "flag")}
    for _ in range(n_trials):
        times = _visit(rng)
        cycles = rng.uniform(3, 50)
        period = np.ptp(times) / cycles
        if kind == "clear":
            relative = 10 ** rng.uniform(math.log10(3e-5), math.log10(3e-4))
            noise = relative * math.pi * cycles / math.sqrt(6 / len(times))
        else:
            noise = 1.0 / 10 ** rng.uniform(math.log10(0.3), math.log10(3))
        values = (5.0 + np.sin(2 * np.pi * times / period + rng.uniform(0, 2 * np.pi))
                  + rng.normal(0, noise, len(times)))
        raw = float(lomb_scargle(times, {"flux": values}, n_peaks=1).peaks["period"][0].value)
        fit = refine_period(times, values, raw)
        for key, value in zip(out, (period, raw, fit.period, fit.period_error, fit.flag),
                              strict=True):
            out[key].append(value)
    return {key: np.array(value) for key, value in out.items()}


def summary(trials):
    """The numbers of docs/periodogram.rst's accuracy table."""
    raw = np.abs(trials["raw"] / trials["truth"] - 1)
    refined = np.abs(trials["refined"] / trials["truth"] - 1)
    pull = (trials["refined"] - trials["truth"]) / trials["error"]
    return {
        "good fits": float(np.mean(trials["flag"] == 0)),
        "within 0.1 %": float(np.mean(refined < 1e-3)),
        "within 3 sigma": float(np.mean(np.abs(pull) < 3)),
        "both": float(np.mean((refined < 1e-3) & (np.abs(pull) < 3))),
        "median |pull|": float(np.median(np.abs(pull))),
        "raw error median": float(np.median(raw)),
        "raw error 95 %": float(np.percentile(raw, 95)),
        "refined error median": float(np.median(refined)),
        "refined error 95 %": float(np.percentile(refined, 95)),
    }


@pytest.fixture(scope="module")
def clear():
    return summary(run_trials("clear"))


@pytest.fixture(scope="module")
def broad():
    return summary(run_trials("broad"))


def test_acceptance_period_within_0_1_percent_and_3_sigma(clear, record_property):
    print("clear peaks:", clear)
    record_property("clear", clear)
    assert clear["good fits"] == 1.0
    assert clear["within 0.1 %"] >= 0.95
    assert clear["within 3 sigma"] >= 0.95
    assert clear["both"] >= 0.95


def test_refinement_removes_the_grid_error_of_the_raw_peak(clear, broad):
    for result in (clear, broad):
        # The raw peak is limited by the grid (spacing 1 / (5 baseline)).
        assert result["raw error median"] > 5 * result["refined error median"]
        assert result["raw error 95 %"] > 5 * result["refined error 95 %"]
    assert clear["raw error 95 %"] > 2e-3 > 1e-3 > clear["refined error 95 %"]


def test_errors_are_honest(clear, broad, record_property):
    print("broad amplitude/noise:", broad)
    record_property("broad", broad)
    for result in (clear, broad):
        # |pull| of a unit normal: median 0.674.
        assert 0.5 < result["median |pull|"] < 0.85
        assert result["within 3 sigma"] >= 0.95


def test_result_fields():
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 1000, 5000))
    values = 10 + 0.3 * np.sin(2 * np.pi * times / 61.0 + 1.0) + rng.normal(0, 0.1, 5000)
    fit = refine_period(times, values, 61.5, errors=np.full(5000, 0.1))
    assert fit.ok and fit.flag == 0 and fit.n_points == 5000
    assert abs(fit.period - 61.0) < 3 * fit.period_error
    assert abs(fit.amplitude - 0.3) < 3 * fit.amplitude_error
    assert abs(fit.offset - 10) < 0.01
    # phase at t = 0 and a time of maximum near the middle of the data
    assert abs(np.angle(np.exp(1j * (fit.phase - 1.0)))) < 0.05
    assert abs(fit.epoch - np.mean(times)) <= fit.period / 2
    assert abs(np.angle(np.exp(1j * (2 * np.pi * fit.epoch / 61.0 + 1.0 - np.pi / 2)))) < 0.05
    assert 0 < fit.epoch_error < 1
    assert fit.false_alarm_probability < 1e-10
    # the same fit without errors: the scatter sets them
    unweighted = refine_period(times, values, 61.5)
    assert unweighted.period_error == pytest.approx(fit.period_error, rel=0.1)
    # errors ten times too small are not believed
    small = refine_period(times, values, 61.5, errors=np.full(5000, 0.01))
    assert small.period_error == pytest.approx(fit.period_error, rel=0.1)


def test_the_binned_fit_of_a_long_series_agrees_with_the_full_fit(monkeypatch):
    rng = np.random.default_rng(4)
    times = np.arange(200_000) / 16.0
    values = np.sin(2 * np.pi * times / 700.0) + rng.normal(0, 3, len(times))
    binned = refine_period(times, values, 701.0)
    assert binned.ok and abs(binned.period - 700.0) < 3 * binned.period_error
    shuffled = rng.permutation(len(times))  # unsorted input gives the same fit
    again = refine_period(times[shuffled], values[shuffled], 701.0)
    assert again.period == pytest.approx(binned.period, rel=1e-9)
    monkeypatch.setattr(refine_module, "_MIN_REDUCTION", 10**9)  # every point
    full = refine_period(times, values, 701.0)
    assert abs(full.period - binned.period) < 0.05 * full.period_error
    assert full.period_error == pytest.approx(binned.period_error, rel=0.02)
    assert full.amplitude == pytest.approx(binned.amplitude, rel=2e-3)


def test_false_alarm_probability_is_astropys_baluev():
    rng = np.random.default_rng(5)
    times = np.sort(rng.uniform(0, 100, 500))
    values = rng.normal(0, 1, 500)
    for power in (0.02, 0.03, 0.04, 0.08):
        expected = fap_baluev(power, 3.0, times, values, None, "standard")
        assert 0 < _false_alarm(power, 500, np.var(times), 3.0) == pytest.approx(
            float(expected), rel=1e-9, abs=1e-15)
    assert _false_alarm(0.0, 500, 1.0, 3.0) == 1.0
    assert _false_alarm(1.0, 500, 1.0, 3.0) == 0.0


def test_lomb_scargle_peaks_carry_the_refined_period():
    rng = np.random.default_rng(6)
    times = np.arange(8000) / 16.0
    values = 0.2 * np.sin(2 * np.pi * times / 37.0) + rng.normal(0, 1, 8000)
    peaks = lomb_scargle(times, {"flux": values}, n_peaks=3).peaks
    top = peaks[0]
    fit = refine_period(times, values, top["period"].value,
                        maximum_frequency=8.0)
    assert top["refine_flag"] == 0
    assert top["period_refined"].value == pytest.approx(fit.period, rel=1e-12)
    assert top["period_error"].value == pytest.approx(fit.period_error, rel=1e-9)
    assert top["amplitude"] == pytest.approx(fit.amplitude, rel=1e-9)
    # the weaker peaks are noise: not refined, flagged
    assert list(peaks["refine_flag"][1:]) == [FLAG_NOT_SIGNIFICANT] * 2
    assert np.isnan(peaks["period_refined"][1:].value).all()


def test_pure_noise_is_flagged_not_a_confident_period():
    # The limit is a false-alarm probability of 1 %: about one pure-noise
    # series in a hundred passes it, no more.
    passed = []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        times = _visit(rng)
        values = rng.normal(0, 1, len(times))
        peak = lomb_scargle(times, {"noise": values}, n_peaks=1).peaks["period"][0].value
        fit = refine_period(times, values, peak)
        assert bool(fit.flag & FLAG_NOT_SIGNIFICANT) == (fit.false_alarm_probability > 0.01)
        if fit.ok:
            passed.append(fit.false_alarm_probability)
    print("pure noise: good fits", len(passed), "of 40, false-alarm probabilities", passed)
    assert len(passed) <= 2


def test_a_fit_that_leaves_the_peak_is_flagged():
    times = np.arange(16000) / 16.0
    values = np.sin(2 * np.pi * times / 50.0) + np.random.default_rng(7).normal(0, 0.5, 16000)
    # started 0.8 / baseline away from the true frequency: it converges there, flagged
    start = 1 / (1 / 50.0 + 0.8 / np.ptp(times))
    fit = refine_period(times, values, start)
    assert fit.flag & FLAG_OUTSIDE_PEAK and not fit.ok
    assert refine_period(times, values, start, max_shift=1.0).ok


@pytest.mark.parametrize("values", [np.full(100, np.nan), np.ones(100), np.arange(5.0)],
                         ids=["no valid point", "constant", "five points"])
def test_unusable_series_are_flagged_failed(values):
    times = np.arange(len(values), dtype=float)
    fit = refine_period(times, values, 10.0)
    assert fit.flag == FLAG_FAILED and not fit.ok
    assert math.isnan(fit.period) and math.isnan(fit.period_error)


def test_bad_arguments_raise_parameter_errors():
    times = np.arange(100.0)
    values = np.sin(times / 5)
    for args, kwargs, text in [
        (("abc", values, 10.0), {}, "times must be numbers"),
        ((times, values[:50], 10.0), {}, "values has shape"),
        ((times.reshape(10, 10), values.reshape(10, 10), 10.0), {}, "times must be 1-D"),
        ((times, values, 0.0), {}, "period=0.0"),
        ((times, values, -3), {}, "period=-3"),
        ((times, values, "ten"), {}, "period='ten'"),
        ((times, values, 10.0), {"errors": np.ones(3)}, "errors has shape"),
        ((times, values, 10.0), {"max_shift": 0}, "max_shift=0"),
        ((times, values, 10.0), {"max_false_alarm": -1}, "max_false_alarm=-1"),
        ((times, values, 10.0), {"maximum_frequency": np.nan}, "maximum_frequency"),
    ]:
        with pytest.raises(ParameterError, match=f"refine_period: {text}"):
            refine_period(*args, **kwargs)


def test_refine_below_chooses_which_peaks_are_refined():
    rng = np.random.default_rng(3)
    times = np.arange(4000) / 16.0
    series = {"x": np.sin(2 * np.pi * times / 21.0) + rng.normal(0, 0.1, times.size)}
    result = lomb_scargle(times, series, n_peaks=2)
    masks, errors = {"x": np.ones(times.size, bool)}, {"x": None}
    default = peaks_module._series_peaks(times, result.frequency, result.power, series, masks,
                                         errors, n_peaks=2)
    none = peaks_module._series_peaks(times, result.frequency, result.power, series, masks,
                                      errors, n_peaks=2, refine_below=-1.0)
    assert default["refine_flag"][0] == 0
    assert np.all(np.asarray(none["refine_flag"]) == FLAG_NOT_SIGNIFICANT)
    assert np.all(np.isnan(np.asarray(none["period_refined"])))


if __name__ == "__main__":
    for name in ("clear", "broad"):
        print(name, {key: round(value, 6) for key, value in
                     summary(run_trials(name)).items()})


def _sinusoid_in_noise(seed, red):
    """One hour of 1-s points: a 0.5 %, 5-cycle sinusoid, white noise 0.03 % and AR(1) ``red``."""
    rng = np.random.default_rng(seed)
    times = np.arange(3600.0)
    values = 0.005 * np.sin(2 * np.pi * times / 720.0 + rng.uniform(0, 2 * np.pi))
    values += rng.normal(0, 3e-4, times.size)
    if red:
        phi = math.exp(-1.0 / 1200.0)
        shocks = rng.normal(0, red * math.sqrt(1 - phi ** 2), times.size)
        noise = np.empty(times.size)
        noise[0] = rng.normal(0, red)
        for k in range(1, times.size):
            noise[k] = phi * noise[k - 1] + shocks[k]
        values += noise
    return times, values


def test_white_noise_period_error_is_the_cramer_rao_bound():
    """In white noise the error is the bound sqrt(6) sigma / (pi A sqrt(N) N_cycles) and the
    red-noise factor stays near 1."""
    bound = math.sqrt(6) * 3e-4 / (math.pi * 0.005 * math.sqrt(3600) * 5) * 720.0
    factors, errors = [], []
    for seed in range(20):
        fit = refine_period(*_sinusoid_in_noise(seed, 0.0), 725.0)
        assert fit.ok
        factors.append(fit.noise_factor)
        errors.append(fit.period - 720.0)
        assert fit.period_error == pytest.approx(bound * fit.noise_factor, rel=0.1)
    assert 1.0 <= np.median(factors) < 1.15 and max(factors) < 1.5
    assert 0.6 < math.sqrt(np.mean(np.square(errors))) / bound < 1.5


def test_red_noise_inflates_the_period_error_so_it_stays_honest():
    """AR(1) noise of 0.07 % on 20 min: the scatter about the fit understates the period's
    error several times; the noise near the period restores it (3 sigma in >= 19 of 20)."""
    inside, factors = 0, []
    for seed in range(20):
        fit = refine_period(*_sinusoid_in_noise(seed, 7e-4), 725.0)
        assert fit.ok
        factors.append(fit.noise_factor)
        inside += abs(fit.period - 720.0) <= 3 * fit.period_error
    assert np.median(factors) > 2
    assert inside >= 19


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_peak_false_alarm_probability_is_baluevs_at_the_last_grid_frequency(weighted):
    # The peak table's probability: astropy's Baluev formula for the grid's last
    # frequency as it is (astropy's LombScargle method would round it to its own grid),
    # from the variance of the series' own valid times, weighted by 1 / error**2.
    rng = np.random.default_rng(8)
    times = np.sort(rng.uniform(0, 400, 3000))
    values = 0.2 * np.sin(2 * np.pi * times / 23.0) + rng.normal(0, 1, 3000)
    errors = rng.uniform(0.5, 2.0, 3000) if weighted else None
    values[:40] = np.nan   # the valid points span less than the times
    valid = np.isfinite(values)
    result = lomb_scargle(times, {"flux": values},
                          errors=None if errors is None else {"flux": errors}, n_peaks=3)
    fmax = float(result.frequency[-1])
    dy = None if errors is None else errors[valid]
    for row in result.peaks:
        expected = fap_baluev(float(row["power"]), fmax, times[valid], values[valid], dy,
                              "standard")
        assert row["false_alarm_probability"] == pytest.approx(float(expected), rel=1e-9,
                                                               abs=1e-300)
    assert result.peaks["false_alarm_probability"][0] < 1e-6
