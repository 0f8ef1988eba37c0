"""The zoomed peaks: power stored on a coarse grid, the peaks those of the fine grid in full."""

import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import _validate
from spelunker import GuideStarFitStep, PeriodogramStep, datasets
from spelunker.errors import ParameterError
from spelunker.periodogram import FIT_PARAMETERS, find_peaks, frequency_grid, lomb_scargle
from spelunker.periodogram import zoom as zoom_module
from spelunker.periodogram.zoom import _level, _sparse_peaks

CADENCE = 0.0625
N_POINTS = 4000
BASELINE = (N_POINTS - 1) * CADENCE


def sine(frequency, amplitude, times):
    return amplitude * np.sin(2 * np.pi * frequency * times + 0.3)


def assert_same_peaks(zoomed, full, rtol=1e-6):
    """The zoomed peak table is the full grid's: same peaks, power and refined columns."""
    assert len(zoomed) == len(full)
    assert_array_equal(zoomed["series"], full["series"])
    assert_array_equal(zoomed["rank"], full["rank"])
    assert_array_equal(zoomed["frequency"], full["frequency"])
    assert_allclose(zoomed["power"], full["power"], rtol=rtol)
    assert_allclose(zoomed["false_alarm_probability"], full["false_alarm_probability"],
                    rtol=1e-4)
    assert_array_equal(zoomed["refine_flag"], full["refine_flag"])
    assert_allclose(zoomed["period_refined"], full["period_refined"], rtol=1e-9)


@pytest.fixture(scope="module")
def times():
    return np.arange(N_POINTS) * CADENCE


def test_a_peak_between_coarse_points_is_found_at_its_fine_grid_power(times):
    # 0.4 of a coarse step (2 points per peak) from the nearest coarse point,
    # exactly on the 5-point grid: the coarse grid sees 88 % of its height.
    fine = frequency_grid(times, samples_per_peak=5)
    coarse = frequency_grid(times, samples_per_peak=2)
    target = fine[1 + 5 * 300]
    assert np.min(np.abs(coarse - target)) > 0.39 / (2 * BASELINE)
    values = sine(target, 0.5, times) + np.random.default_rng(1).normal(0, 1, N_POINTS)
    zoomed = lomb_scargle(times, {"x": values}, samples_per_peak=2, peak_samples_per_peak=5)
    full = lomb_scargle(times, {"x": values}, samples_per_peak=5)
    assert_array_equal(zoomed.frequency, coarse)
    assert_same_peaks(zoomed.peaks, full.peaks)
    best = zoomed.peaks[0]
    assert best["frequency"].value == target
    # The coarse grid alone has neither this frequency nor this power.
    assert best["power"] > 1.1 * np.max(zoomed.power["x"])
    assert np.min(np.abs(coarse - best["frequency"].value)) > 0


def test_the_peaks_are_ranked_by_their_fine_grid_power(times):
    # A sits on a coarse point; B, 7 % stronger, between two: on the coarse
    # grid B looks weaker than A (0.88 x 1.07), on the fine grid it is first.
    fine = frequency_grid(times, samples_per_peak=5)
    coarse = frequency_grid(times, samples_per_peak=2)
    at_coarse, between = coarse[2 * 700], fine[1 + 5 * 700]
    values = (sine(at_coarse, 1.0, times) + sine(between, 1.0 * np.sqrt(1.07), times)
              + np.random.default_rng(2).normal(0, 0.3, N_POINTS))
    coarse_only = lomb_scargle(times, {"x": values}, samples_per_peak=2, n_peaks=2)
    assert coarse_only.peaks["frequency"][0].value == at_coarse
    zoomed = lomb_scargle(times, {"x": values}, samples_per_peak=2, peak_samples_per_peak=5,
                          n_peaks=2)
    full = lomb_scargle(times, {"x": values}, samples_per_peak=5, n_peaks=2)
    assert_same_peaks(zoomed.peaks, full.peaks)
    assert zoomed.peaks["frequency"][0].value == between


@pytest.mark.parametrize("options", [
    {},
    {"minimum_frequency": 2.7 / BASELINE},      # not a multiple of the internal step
    {"maximum_frequency": 3.0, "peak_separation": 2.5 / BASELINE},
    {"samples_per_peak": 1, "peak_samples_per_peak": 10},
    {"samples_per_peak": 2.5, "peak_samples_per_peak": 4},
], ids=["default", "minimum_frequency", "maximum_and_separation", "1_to_10", "2.5_to_4"])
def test_zoomed_peaks_equal_the_full_grid_on_noise(times, options):
    rng = np.random.default_rng(3)
    keep = np.ones(N_POINTS, bool)
    keep[1000:1600] = False  # a gap
    t = times[keep] + rng.normal(0, 1e-4, keep.sum())
    n = len(t)
    series = {"white": rng.normal(0, 1, n), "red": np.cumsum(rng.normal(0, 1, n)),
              "weighted": rng.normal(0, 1, n) * np.exp(rng.normal(0, 0.5, n))}
    series["red"][rng.random(n) < 0.05] = np.nan  # a mask of its own
    errors = {"weighted": np.abs(series["weighted"]) + 0.5}
    options = {"samples_per_peak": 2, "peak_samples_per_peak": 5, **options}
    full_grid = options["peak_samples_per_peak"]
    limits = {key: options[key] for key in ("minimum_frequency", "maximum_frequency",
                                            "peak_separation") if key in options}
    zoomed = lomb_scargle(t, series, errors=errors, n_peaks=20, **options)
    full = lomb_scargle(t, series, errors=errors, n_peaks=20, samples_per_peak=full_grid,
                        **limits)
    assert_same_peaks(zoomed.peaks, full.peaks)
    stored = lomb_scargle(t, series, errors=errors, n_peaks=1,
                          samples_per_peak=options["samples_per_peak"], **limits)
    assert_array_equal(zoomed.frequency, stored.frequency)
    for name in series:  # the stored power is nifty-ls's on the coarse grid
        assert_allclose(zoomed.power[name][:-1], stored.power[name][:-1], rtol=0,
                        atol=1e-6 * np.nanmax(stored.power[name]))


def test_the_astropy_engine_finds_the_peaks_on_the_fine_grid(times):
    values = sine(3.1, 0.2, times[:1500]) + np.random.default_rng(4).normal(0, 1, 1500)
    options = {"samples_per_peak": 2, "peak_samples_per_peak": 5, "n_peaks": 3}
    exact = lomb_scargle(times[:1500], values, engine="astropy", **options)
    zoomed = lomb_scargle(times[:1500], values, **options)
    assert_array_equal(exact.frequency, frequency_grid(times[:1500], samples_per_peak=2))
    assert_same_peaks(zoomed.peaks, exact.peaks)


def test_sparse_peaks_follow_the_rule_of_find_peaks():
    rng = np.random.default_rng(5)
    for window in (1, 2, 5):
        power = rng.exponential(1.0, 3000).astype(np.float32)
        power[rng.integers(0, 3000, 40)] = np.nan
        everything = np.arange(3000)
        assert_array_equal(everything[_sparse_peaks(everything, power, 3000, 10, window)],
                           find_peaks(power, n_peaks=10, window=window))
        # Points left out count as lower than any: known points above a level
        # (with their neighbours) give the same strongest peaks.
        level = np.sort(power[np.isfinite(power)])[-200]
        high = np.flatnonzero(power >= level)
        known = np.unique(np.clip(np.concatenate([high - 1, high, high + 1]), 0, 2999))
        lowered = np.where(np.isin(everything, known), power, -1.0)
        found = find_peaks(lowered, n_peaks=5, window=window)
        assert np.all(power[found] >= level)
        assert_array_equal(known[_sparse_peaks(known, power[known], 3000, 5, window)], found)


def test_the_level_bounds_the_loss_between_grid_points():
    # Evenly spread times at 2 points per peak: a sinusoid's power half a
    # step from its peak is 0.81 of it; the margin halves that.
    t = np.linspace(-50, 50, 10001)
    variance = np.var(t)
    assert _level(variance, 1 / (2 * 100)) == pytest.approx(0.5 * (1 - np.pi ** 2 / 96) ** 2,
                                                              rel=1e-3)
    # Two clumps at the ends, the worst case: still positive.
    assert 0.2 < _level(50.0 ** 2, 1 / (2 * 100)) < 0.3


def test_the_fine_power_is_computed_around_the_candidates_only(times, monkeypatch):
    evaluated = []
    original = zoom_module._Sums.power_at

    def counting(self, frequency):
        evaluated.append(len(frequency))
        return original(self, frequency)

    monkeypatch.setattr(zoom_module._Sums, "power_at", counting)
    values = np.random.default_rng(6).normal(0, 1, N_POINTS)
    result = lomb_scargle(times, {"x": values}, samples_per_peak=2, peak_samples_per_peak=5)
    n_fine = len(frequency_grid(times, samples_per_peak=5))
    assert len(result.peaks) == 5
    assert 0 < sum(evaluated) < 0.2 * n_fine


def test_peak_samples_per_peak_options():
    times = np.arange(200) * CADENCE
    values = np.sin(times)
    with pytest.raises(ParameterError, match="frequency or peak_samples_per_peak"):
        lomb_scargle(times, values, frequency=np.linspace(0.1, 1, 10), peak_samples_per_peak=5)
    with pytest.raises(ParameterError, match="samples_per_peak"):
        lomb_scargle(times, values, peak_samples_per_peak=0.5)
    # Not finer than the stored grid: the peaks are the stored grid's own.
    same = lomb_scargle(times, values, samples_per_peak=5, peak_samples_per_peak=3)
    plain = lomb_scargle(times, values, samples_per_peak=5)
    assert_array_equal(same.peaks["frequency"], plain.peaks["frequency"])
    with pytest.raises(ParameterError, match="peak_samples_per_peak"):
        PeriodogramStep(peak_samples_per_peak=0.5)._checked_parameters()


@pytest.fixture
def threads(monkeypatch):
    """The threads that compute each series' sums, in order (``_Transform.sums`` recorded)."""
    seen = []
    original = zoom_module._Transform.sums

    def recording(self, *args):
        seen.append(threading.get_ident())
        return original(self, *args)

    monkeypatch.setattr(zoom_module._Transform, "sums", recording)
    return seen


def test_ncpus_one_computes_the_series_in_this_thread_with_the_results_of_two(times, threads):
    rng = np.random.default_rng(7)
    series = {name: sine(0.37 * (k + 1), 0.2, times) + rng.normal(0, 1, N_POINTS)
              for k, name in enumerate(("a", "b", "c"))}
    errors = {"a": None, "b": np.full(N_POINTS, 0.5), "c": None}
    options = {"errors": errors, "samples_per_peak": 2, "peak_samples_per_peak": 5}
    one = lomb_scargle(times, series, ncpus=1, **options)
    assert threads == [threading.get_ident()] * 3
    threads.clear()
    two = lomb_scargle(times, series, ncpus=2, **options)
    assert len(threads) == 3
    if _validate.available_cpus() >= 2:
        assert threading.get_ident() not in threads   # computed in the pool's threads
    for name in series:
        assert_array_equal(one.power[name], two.power[name], err_msg=name)
    assert_same_peaks(one.peaks, two.peaks, rtol=0)
    assert_array_equal(one.peaks["false_alarm_probability"], two.peaks["false_alarm_probability"])
    # The default is every CPU, at most two series at once.
    threads.clear()
    default = lomb_scargle(times, series, **options)
    assert_same_peaks(default.peaks, two.peaks, rtol=0)
    with pytest.raises(ParameterError, match="ncpus=0 must be an integer >= 1"):
        lomb_scargle(times, series, ncpus=0, **options)



def test_the_power_kernel_gives_numpys_numbers_to_rounding():
    rng = np.random.default_rng(8)

    def sums(n, scale):
        return (rng.normal(size=n) + 1j * rng.normal(size=n)) * scale

    sy, sw, sw2 = sums(20_000, 1e-3), sums(20_000, 1e-2), sums(20_000, 1e-2)
    for args in ((sy, sw, sw2), (sy[::2], sw[1::2], sw2[::2])):   # strided, as on the grid
        assert_allclose(zoom_module._power(*args, 0.37), zoom_module._numpy_power(*args, 0.37),
                        rtol=1e-13)
    zero = np.zeros(3, complex)
    assert np.isnan(zoom_module._power(zero, zero, zero, 1.0)).all()


def test_masks_differing_inside_share_one_transform(times, monkeypatch):
    made = []
    original = zoom_module._Points.__init__

    def counting(self, *args, **kwargs):
        made.append(len(args[0]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(zoom_module._Points, "__init__", counting)
    rng = np.random.default_rng(9)
    x = sine(0.5, 0.2, times) + rng.normal(0, 1, N_POINTS)
    flux = sine(1.1, 0.1, times) + rng.normal(0, 1, N_POINTS)
    x[[5, 700, 2900]] = np.nan              # flagged inside: shares the flux's points
    ends = flux.copy()
    ends[:10] = np.nan                      # another start: its own transform
    errors = {"x": np.full(N_POINTS, 0.5), "flux": None, "ends": None}
    options = {"errors": errors, "samples_per_peak": 2, "peak_samples_per_peak": 5}
    both = lomb_scargle(times, {"x": x, "flux": flux, "ends": ends}, **options)
    assert sorted(made) == [N_POINTS - 10, N_POINTS]
    for name, values in (("x", x), ("flux", flux), ("ends", ends)):
        alone = lomb_scargle(times, {name: values}, errors={name: errors[name]},
                             samples_per_peak=2, peak_samples_per_peak=5)
        # weight 0 on the points a series lacks: the same sums but for rounding
        assert_allclose(both.power[name], alone.power[name], rtol=1e-6, atol=1e-9)
        assert_same_peaks(both.peaks[both.peaks["series"] == name], alone.peaks, rtol=1e-9)


def test_the_step_ncpus_one_computes_in_this_thread_with_the_results_of_two(tmp_path, threads):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=400, n_segments=1)],
        signals=[datasets.CentroidWobble(period=2.0, amplitude=0.05)], seed=3)
    fitted = GuideStarFitStep.call(visit.files, method="quick")
    one = PeriodogramStep.call(fitted, ncpus=1)
    assert len(threads) == len(FIT_PARAMETERS)   # no light curve: the fit parameters
    assert set(threads) == {threading.get_ident()}
    two = PeriodogramStep.call(fitted, ncpus=2)
    for name in ("periodogram", "periodogram_peaks"):
        first, second = getattr(one, name), getattr(two, name)
        for column in first.dtype.names:
            assert_array_equal(first[column], second[column], err_msg=f"{name}.{column}")


def test_point_groups_compare_the_earliest_and_latest_times_not_the_first_and_last():
    times = np.array([5.0, 0.0, 1.0, 2.0, 3.0, 9.0, 4.0])    # unsorted: 0 and 9 inside
    every = np.ones(7, bool)
    inner = every.copy()
    inner[2] = False          # not an end: shares
    no_start = every.copy()
    no_start[1] = False       # the earliest time: its own points
    groups = zoom_module._point_groups(times, {"a": every, "b": inner, "c": no_start})
    assert [names for _, names, _ in groups] == [["a", "b"], ["c"]]
    assert groups[0][0] is every
    assert [ends for _, _, ends in groups] == [(0.0, 9.0), (1.0, 9.0)]   # each member's ends


def test_a_transform_reuses_the_memory_of_its_sums_with_the_same_numbers():
    # The sums of one series at a time: the next series' points are gathered and its
    # transforms written into the same arrays (no fresh memory per series), and give
    # the numbers of a new transform.
    rng = np.random.default_rng(2)
    t = np.arange(3000) * 0.0538
    span = float(t[-1])
    points = zoom_module._Points(t, 1 / span, 1 / (2 * span), 3000)
    first, second = rng.normal(size=(2, t.size))
    errors = rng.uniform(0.5, 1.5, t.size)
    every = np.ones(t.size, bool)
    reused = zoom_module._Transform(points)
    sums = reused.sums(first, None, every, every)
    arrays = sums.sy.values, sums.sw.values, sums.grid_power()
    sums = reused.sums(second, errors, every, every)
    assert sums.sy.values is arrays[0] and sums.sw.values is arrays[1]
    assert sums.grid_power() is arrays[2]
    fresh = zoom_module._Transform(points).sums(second, errors, every, every)
    assert_array_equal(sums.sy.values, fresh.sy.values)
    assert_array_equal(sums.sw2.values, fresh.sw2.values)
    assert_array_equal(sums.grid_power(), fresh.grid_power())
    assert (sums.norm, sums.variance, sums.count) == (fresh.norm, fresh.variance, 3000)


def test_the_points_of_a_group_carry_their_frames():
    # The series of a group share its points: their frames are found once (with the
    # points, shared by the threads), and each series gathers its values (and errors)
    # at them.
    t = np.arange(400) * 0.0538
    span = float(t[-1])
    points = np.ones(t.size, bool)
    points[[3, 50, 51]] = False
    shared = zoom_module._SharedPoints(t, [(points, ["a"], (0.0, float(t[-1])))], 1 / span,
                                       1 / (2 * span), 400)
    made = shared.points(0)
    assert_array_equal(made.frames, np.flatnonzero(points))
    assert shared.points(0) is made
    transform = zoom_module._Transform(made)
    other = points.copy()
    other[7] = False
    values = np.random.default_rng(4).normal(size=t.size)
    sums = transform.sums(values, None, points, points)
    inside = np.ones(points.sum(), bool)   # the same points, given alone
    again = zoom_module._Transform(zoom_module._Points(t[points], 1 / span, 1 / (2 * span),
                                                       400)).sums(values[points], None,
                                                                  inside, inside)
    assert_array_equal(sums.grid_power(), again.grid_power())
    assert sums.count == 397
    with pytest.raises(ValueError):   # points that are not the transform's
        transform.sums(values, None, other, other)
    with pytest.raises(ParameterError, match="same frames; got 400, 399 and 400"):
        transform.sums(values[1:], None, points, points)


def test_a_series_missing_some_of_the_points_weighs_them_zero():
    # A series whose mask lacks a few of its group's points: its sums on the group's
    # points are those of its own points to rounding, whatever its values there.
    rng = np.random.default_rng(3)
    t = np.arange(3000) * 0.0538
    span = float(t[-1])
    values = rng.normal(size=t.size)
    errors = rng.uniform(0.5, 1.5, t.size)
    mask = np.ones(t.size, bool)
    mask[[5, 700, 1400]] = False
    values[~mask], errors[~mask] = np.nan, -1.0   # never read
    every = np.ones(t.size, bool)
    group = zoom_module._Transform(zoom_module._Points(t, 1 / span, 1 / (2 * span), 3000))
    own = zoom_module._Transform(zoom_module._Points(t[mask], 1 / span, 1 / (2 * span), 3000,
                                                     frames=np.flatnonzero(mask)))
    for dy in (None, errors):
        shared = group.sums(values, dy, mask, every)
        alone = own.sums(values, dy, mask, mask)
        assert shared.count == alone.count == 2997
        assert shared.variance == pytest.approx(alone.variance, rel=1e-12)
        assert_allclose(shared.grid_power(), alone.grid_power(), rtol=1e-9, atol=1e-12)


def test_a_group_of_every_frame_is_read_in_place():
    # A group that holds every frame has no index: each series is read in place,
    # with the sums of the same frames given by index.
    rng = np.random.default_rng(7)
    t = np.arange(500) * 0.0538
    span = float(t[-1])
    every = np.ones(t.size, bool)
    shared = zoom_module._SharedPoints(t, [(every, ["a"], (0.0, span))], 1 / span,
                                       1 / (2 * span), 600)
    made = shared.points(0)
    assert made.frames is None
    values, errors = rng.normal(size=t.size), rng.uniform(0.5, 1.5, t.size)
    indexed = zoom_module._Transform(zoom_module._Points(t, 1 / span, 1 / (2 * span), 600,
                                                        frames=np.arange(t.size)))
    for dy in (None, errors):
        in_place = zoom_module._Transform(made).sums(values, dy, every, every)
        by_index = indexed.sums(values, dy, every, every)
        assert_array_equal(in_place.grid_power(), by_index.grid_power())
        assert (in_place.norm, in_place.variance) == (by_index.norm, by_index.variance)


def test_the_partition_uses_the_working_array_of_the_sums():
    # The n-th highest power is partitioned in the transform's working array
    # (sized for the grid, longer than the points here): no array is added.
    t = np.arange(500) * 0.0538
    span = float(t[-1])
    every = np.ones(t.size, bool)
    transform = zoom_module._Transform(zoom_module._Points(t, 1 / span, 1 / (2 * span), 600))
    values = np.random.default_rng(8).normal(size=t.size)
    power = transform.sums(values, None, every, every).grid_power()
    kept = dict(transform._memory)
    for n in (1, 10, 600):
        assert zoom_module._nth_highest(power, n, transform) == np.sort(power)[-n]
    assert transform._memory.keys() == kept.keys()
    assert all(transform._memory[key] is kept[key] for key in kept)
    assert transform.work(3).base is transform.work(600).base
