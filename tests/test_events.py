"""Technical events: the step detector, the events table and GuideStarEventStep."""

import logging

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import (
    GuideStarEventStep,
    GuideStarFitStep,
    GuideStarModel,
    GuideStarPipeline,
    ParameterError,
    datasets,
    read_guidestar,
)
from spelunker.changepoints import find_series_steps, find_steps
from spelunker.datasets import simulate_frames
from spelunker.events import events_table, find_events, hga_moves, store_events
from spelunker.fitting import fit_gaussian_frames
from spelunker.plotting import write_visit_report
from spelunker.survey import visit_summary
from spelunker.visits import split_visits

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

CADENCE = 0.0538


def _clean(result, name):
    values = np.array(result[name], dtype=float)
    values[np.asarray(result["flags"]) != 0] = np.nan
    return values


# --------------------------------------------------------------------------
# The step detector


def test_a_step_is_found_at_its_time_with_its_size():
    rng = np.random.default_rng(3)
    times = np.arange(30000) * CADENCE
    values = 0.7 + rng.normal(0, 0.01, times.size) + 0.012 * (times >= 700.3)
    (step,) = find_steps(times, values)
    assert abs(step["time"] - 700.3) < 2.0
    assert_allclose(step["delta"], 0.012, atol=4 * step["delta_err"])
    assert step["significance"] > 5.5
    assert step["frame"] == np.searchsorted(times, step["time"])


def test_white_noise_and_gaps_give_no_step():
    rng = np.random.default_rng(4)
    times = np.arange(200_000) * CADENCE  # 3 hours
    values = rng.normal(0, 1.0, times.size)
    assert len(find_steps(times, values)) == 0
    # A level change across a gap is not a step: the gap ends the segment.
    times = np.concatenate((times[:10_000], times[10_000:] + 300.0))
    values = rng.normal(0, 0.01, times.size) + 0.5 * (np.arange(times.size) >= 10_000)
    assert len(find_steps(times, values)) == 0


def test_series_sharing_times_get_the_steps_of_each_and_stay_unmodified():
    # find_series_steps bins the times once for all series: each gets the steps
    # find_steps finds on it alone (a wobble removed, NaN left out, a series too
    # short), and no input array is modified (the wobble is removed from a copy).
    rng = np.random.default_rng(5)
    times = np.arange(40000) * CADENCE
    step = 0.7 + rng.normal(0, 0.01, times.size) + 0.012 * (times >= 700.3)
    wobble = step + 0.02 * np.sin(2 * np.pi * times / 90.0)
    holes = step.copy()
    holes[rng.random(times.size) < 0.02] = np.nan
    short = np.full(times.size, np.nan)
    short[:5] = 1.0
    series = {"step": step, "wobble": wobble, "holes": holes, "short": short}
    kept = {name: values.copy() for name, values in series.items()}
    found = find_series_steps(times, series)
    assert list(found) == list(series)
    for name, values in series.items():
        assert_array_equal(values, kept[name])
        assert_array_equal(found[name], find_steps(times, values))
    assert len(found["short"]) == 0
    for name in ("step", "wobble", "holes"):
        (one,) = found[name]
        assert abs(one["time"] - 700.3) < 2.0
    with pytest.raises(ParameterError, match="equal length"):
        find_series_steps(times, {"step": step, "cut": step[:-1]})
    with pytest.raises(ParameterError, match="mapping"):
        find_series_steps(times, step)


def test_usable_samples_are_left_out_as_nan_values_are():
    # A series read in place from a table's rows (strided, flagged rows not NaN)
    # with its usable rows gets the steps of its copy with NaN on the others
    # (the events' flagged fits); a wobble is removed from a copy, not the table.
    rng = np.random.default_rng(9)
    times = np.arange(40000) * CADENCE
    table = np.zeros(times.size, dtype=[("x", "f8"), ("flags", "i2"), ("y", "f8")])
    table["x"] = 0.7 + rng.normal(0, 0.01, times.size) + 0.012 * (times >= 700.3)
    table["y"] = table["x"] + 0.02 * np.sin(2 * np.pi * times / 90.0)
    flagged = rng.random(times.size) < 0.03
    table["flags"][flagged] = 1
    table["x"][flagged] = table["y"][flagged] = 50.0  # garbage where flagged
    kept = table.copy()
    clean = table["flags"] == 0
    found = find_series_steps(times, {"x": table["x"], "y": table["y"]},
                              usable={"x": clean, "y": clean})
    for name in ("x", "y"):
        copy = np.where(clean, table[name], np.nan)
        assert_array_equal(found[name], find_steps(times, copy))
        (one,) = found[name]
        assert abs(one["time"] - 700.3) < 2.0
    assert_array_equal(table, kept)
    with pytest.raises(ParameterError, match="not one of the series"):
        find_series_steps(times, {"x": table["x"]}, usable={"z": clean})
    with pytest.raises(ParameterError, match="booleans of the times' shape"):
        find_series_steps(times, {"x": table["x"]}, usable={"x": clean[:-1]})
    with pytest.raises(ParameterError, match="booleans of the times' shape"):
        find_series_steps(times, {"x": table["x"]}, usable={"x": clean.astype(int)})


def test_step_options_are_checked():
    times = np.arange(100) * CADENCE
    with pytest.raises(ParameterError, match="window=0"):
        find_steps(times, times, window=0)
    with pytest.raises(ParameterError, match="increasing order"):
        find_steps(times[::-1], times)
    with pytest.raises(ParameterError, match="equal length"):
        find_steps(times, times[:-1])


@pytest.mark.parametrize(("fgs_mag", "size"), [(12.0, 0.005), (16.0, 0.015)])
def test_width_steps_of_five_binned_sigma_are_found_within_two_seconds(fgs_mag, size):
    """Fitted frames: every trial's step (>= 5 sigma of a 1 s bin mean) is found."""
    rng = np.random.default_rng(int(fgs_mag))
    n = 2400
    times = np.arange(n) * CADENCE
    for _ in range(8):
        t_step = rng.uniform(40.0, 90.0)
        width = 0.70 + size * (times >= t_step)
        data, err, _ = simulate_frames(n, fgs_mag=fgs_mag, x_stddev=width,
                                       seed=int(rng.integers(2**31)))
        values = _clean(fit_gaussian_frames(data, err, ncpus=2), "x_stddev")
        steps = find_steps(times, values)
        assert size / steps["sigma_bin"][0] >= 5 if len(steps) else False
        assert np.min(np.abs(steps["time"] - t_step)) <= 2.0


@pytest.mark.parametrize("fgs_mag", [12.0, 16.0])
def test_clean_frames_give_no_false_step(fgs_mag):
    """An hour of clean fitted frames per magnitude: no step in any parameter."""
    n = 67_000
    data, err, _ = simulate_frames(n, fgs_mag=fgs_mag, seed=int(fgs_mag) + 100)
    result = fit_gaussian_frames(data, err, ncpus=2)
    times = np.arange(n) * CADENCE
    for name in ("x_mean", "y_mean", "x_stddev", "y_stddev"):
        assert len(find_steps(times, _clean(result, name))) == 0, name


# --------------------------------------------------------------------------
# Events of a visit


@pytest.fixture(scope="module")
def eventful(tmp_path_factory):
    """Two visits: two tilts, an HGA move, low pixels; a gap and a guide-star change between."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("eventful"),
        visits=[datasets.VisitSpec(visit=1, n_frames=9000, n_segments=2, fgs_mag=13.0),
                datasets.VisitSpec(visit=2, n_frames=3000, n_segments=1, fgs_mag=14.0)],
        signals=[datasets.PsfWidthStep(time=150.0, factor=1.03, dx=0.02),
                 datasets.PsfWidthStep(time=330.0, factor=1.01),
                 datasets.HgaMove(start=250.0, stop=262.0),
                 datasets.LowPixels(fraction=0.11)],
        seed=14)


@pytest.fixture(scope="module")
def fitted(eventful):
    return GuideStarFitStep.call(read_guidestar(eventful.files), method="gauss", ncpus=2)


def test_find_events_finds_every_injected_event(fitted):
    events = find_events(fitted)
    t0 = fitted.frame_times[0]
    seconds = (events["start"] - t0).to_value("s")
    tilts = events[events["kind"] == "tilt"]
    assert len(tilts) == 2
    assert_allclose((tilts["start"] - t0).to_value("s"), [150.0, 330.0], atol=2.0)
    assert "x_mean" in tilts["parameters"][0] and "x_stddev" in tilts["parameters"][0]
    assert_allclose(tilts["delta_x_mean"][0].value, 0.02, atol=0.005)
    # Widths 0.70 px times 1.03 and 1.01: steps of 0.021 and 0.007 px.
    assert_allclose(tilts["delta_x_stddev"].value, [0.021, 0.007], rtol=0.3)
    # HGA moves: the intervals of the POINTING table itself, within its 1 s cadence of the truth.
    moves = events[events["kind"] == "hga_move"]
    pointing = hga_moves(fitted)
    assert len(moves) == len(pointing) == 1
    assert_allclose(moves["start"].mjd, pointing["start"].mjd, rtol=0, atol=1e-9)
    assert_allclose(moves["end"].mjd, pointing["stop"].mjd, rtol=0, atol=1e-9)
    assert_allclose((moves["start"] - t0).to_value("s"), [250.0], atol=1.0)
    # Between the visits: one gap and one change of star at the first frame of visit 2.
    for kind in ("gap", "guide_star_change"):
        assert list(events["kind"]).count(kind) == 1, kind
    change = events[events["kind"] == "guide_star_change"][0]
    assert change["frame_start"] == 9000
    gap = events[events["kind"] == "gap"][0]
    assert gap["frame_start"] == 8999 and gap["duration"].to_value("s") > 500
    # Nothing else: no false event in 11 minutes of data with low pixels.
    assert sorted(set(events["kind"])) == ["gap", "guide_star_change", "hga_move", "tilt"]
    assert np.all(np.diff(seconds) >= 0)


def test_event_step_stores_logs_and_carries_events(fitted, caplog, tmp_path):
    with caplog.at_level(logging.INFO, logger="spelunker"):
        result = GuideStarEventStep.call(fitted)
    assert not fitted.hasattr("events")  # the input is not modified
    stored = events_table(result)
    assert list(stored["kind"]) == list(find_events(fitted)["kind"])
    summary = [r.getMessage() for r in caplog.records if r.name == "spelunker.stpipe.event_step"]
    assert summary[0].startswith("events: 5 found") and "tilt 2" in summary[0], summary
    path = tmp_path / "events.fits"
    result.save(str(path))
    with GuideStarModel(str(path)) as saved:
        again = events_table(saved)
    assert_allclose(again["start"].mjd, stored["start"].mjd, rtol=0, atol=1e-9)
    assert list(again["parameters"]) == list(stored["parameters"])
    # One visit each: the tilts and the HGA move stay with visit 1, renumbered frames.
    first, second = split_visits(result)
    assert sorted(events_table(first)["kind"]) == ["hga_move", "tilt", "tilt"]
    assert len(events_table(second)) == 0
    page = write_visit_report(first, tmp_path / "report")
    text = page.read_text()
    assert "tilt" in text and "GuideStarEventStep" in text


def test_pipeline_runs_the_event_step_and_the_survey_row_counts_them(eventful):
    first_visit = [f for f in eventful.files if "jw01534001001" in f.name]
    model = GuideStarPipeline.call(first_visit, steps={"fit": {"method": "quick"}})
    kinds = list(events_table(model)["kind"])
    assert kinds.count("tilt") == 2 and kinds.count("hga_move") == 1
    row = visit_summary(model)
    assert (row["n_events_tilt"], row["n_events_hga_move"], row["n_events_gap"]) == (2, 1, 0)


def test_time_series_figures_mark_the_events(fitted):
    from matplotlib.figure import Figure

    from spelunker.plotting import timeseries_binned_plot, timeseries_list_plot

    model = GuideStarEventStep.call(fitted)
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    gids = [artist.get_gid() for artist in ax.lines + ax.patches]
    assert gids.count("tilt") == 2 and gids.count("hga_move") == 1 and "gap" in gids
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "tilt event" in labels and "HGA move" in labels
    fig = timeseries_list_plot(model, fig=Figure())
    for panel in fig.axes:
        assert [line.get_gid() for line in panel.lines].count("tilt") == 2
    plain = timeseries_binned_plot(model, ax=Figure().add_subplot(), events=False)
    assert "tilt" not in [line.get_gid() for line in plain.lines]


def test_the_notebook_session_finds_and_draws_the_events(eventful, tmp_path):
    import spelunker
    from matplotlib.figure import Figure

    spk = spelunker.load(str(tmp_path))
    spk.readfile([f for f in eventful.files if "jw01534001001" in f.name])
    assert spk.events is None
    spk.quick_fit()
    events = spk.find_events()
    assert sorted(events["kind"]) == ["hga_move", "tilt", "tilt"]
    same = find_events(spk.model)
    assert list(same["kind"]) == list(events["kind"])
    ax = spk.mnemonics_local("TILT", ax=Figure().add_subplot())
    assert [line.get_gid() for line in ax.lines].count("tilt") == 2
    assert len(spk.mnemonics_local("events", plot=False)) == 3
    hga = spk.mnemonics_local("HGA", plot=False)  # the original's kinds still work
    assert len(hga) == 1


def test_events_table_of_one_kind(fitted):
    """``events_table(model, kind=...)``: the rows of one kind, what the session draws."""
    from spelunker.errors import ParameterError

    model = fitted.copy()
    store_events(model, find_events(model))
    every = events_table(model)
    tilts = events_table(model, kind="TILT")
    assert len(tilts) and list(tilts["kind"]) == ["tilt"] * len(tilts)
    assert_array_equal(tilts["start"].mjd, every["start"][every["kind"] == "tilt"].mjd)
    assert tilts.colnames == every.colnames
    assert len(events_table(model, kind="gap")) == int(np.sum(every["kind"] == "gap"))
    with pytest.raises(ParameterError, match="events_table: kind='nope' is not one of"):
        events_table(model, kind="nope")


# --------------------------------------------------------------------------
# Astrophysical flux changes and smooth centroid motion are no technical event


def test_a_periodic_motion_is_no_step_and_a_step_beside_it_keeps_its_size():
    """Bin-level: a 0.03 px, 60 s sinusoid and a drift give no step; a step on top is found."""
    rng = np.random.default_rng(21)
    times = np.arange(12_000) * CADENCE  # 10.8 minutes
    wobble = 0.03 * np.sin(2 * np.pi * times / 60.0 + 1.0) + 2e-5 * times
    values = 3.5 + wobble + rng.normal(0, 0.012, times.size)
    assert len(find_steps(times, values)) == 0
    (step,) = find_steps(times, values + 0.02 * (times >= 400.0))
    assert abs(step["time"] - 400.0) < 2.0
    assert_allclose(step["delta"], 0.02, atol=4 * step["delta_err"])


@pytest.fixture(scope="module")
def astrophysical(tmp_path_factory):
    """A box transit of 2 % (mag 13, 4,000 frames); with the star moving, or an HGA move."""
    folder = tmp_path_factory.mktemp("astrophysical")
    spec = datasets.VisitSpec(n_frames=4000, n_segments=1, fgs_mag=13.0)
    transit = datasets.Transit(mid_time=120.0, duration=80.0, depth=0.02)
    models = {}
    for name, extra in (("transit", []),
                        ("moved", [datasets.PsfWidthStep(time=80.0, factor=1.0, dx=0.05)]),
                        ("hga", [datasets.HgaMove(start=78.0, stop=81.0)])):
        visit = datasets.make_guidestar_files(folder / name, visits=[spec],
                                              signals=[transit, *extra], seed=5)
        models[name] = GuideStarFitStep.call(read_guidestar(visit.files), method="gauss",
                                             ncpus=2)
    return models


def test_a_transit_is_no_technical_event(astrophysical):
    model = astrophysical["transit"]
    # The flux steps are there (ingress and egress)...
    from spelunker.photometry import full_frame_flux

    flux, _ = full_frame_flux(np.asarray(model.data))
    steps = find_steps(model.frame_seconds(), flux)
    assert_allclose(np.sort(steps["time"]), [80.0, 160.0], atol=2.0)
    # ...but the PSF width and the centroid do not change: the star itself, no event.
    assert len(find_events(model)) == 0


def test_a_flux_change_with_a_centroid_jump_is_a_flux_excursion(astrophysical):
    """The star moving as the flux drops (e.g. partly lost): one technical flux excursion."""
    model = astrophysical["moved"]
    events = find_events(model)
    assert list(events["kind"]) == ["flux_excursion"]
    (row,) = events
    assert row["parameters"] == "flux,x_mean" and row["source"] == "fit and light curve"
    seconds = (events["start"] - model.frame_times[0]).to_value("s")
    assert_allclose(seconds, [80.0], atol=2.0)
    assert_allclose(row["duration"].to_value("s"), 80.0, atol=4.0)
    assert_allclose(row["delta_x_mean"].value, 0.05, atol=0.01)
    assert row["delta_flux"].value < 0


def test_a_flux_change_at_an_hga_move_is_a_flux_excursion(astrophysical):
    model = astrophysical["hga"]
    events = find_events(model)
    assert list(events["kind"]) == ["hga_move", "flux_excursion"]
    assert events["parameters"][1] == "flux" and events["source"][1] == "light curve"
    seconds = (events["start"] - model.frame_times[0]).to_value("s")
    assert_allclose(seconds, [78.0, 80.0], atol=2.0)


@pytest.fixture(scope="module")
def wobbling(tmp_path_factory):
    """10 minutes of a 0.02 px wobble of 173 s, 0.012 px jitter and a drift.

    Again with a tilt and a centroid jump.  Before the periodic motion was
    removed, the clean visit gave a false centroid jump at 197 s.
    """
    folder = tmp_path_factory.mktemp("wobbling")
    spec = datasets.VisitSpec(n_frames=11_000, n_segments=1, fgs_mag=13.0)
    wobble = [datasets.CentroidWobble(period=173.0, amplitude=0.02, axis="both", phase=6.3),
              datasets.CentroidWobble(period=40_000.0, amplitude=0.05, axis="x")]  # a drift
    models = {}
    for name, extra in (("clean", []),
                        ("events", [datasets.PsfWidthStep(time=300.0, factor=1.03),
                                    datasets.PsfWidthStep(time=480.0, factor=1.0, dx=0.03)])):
        visit = datasets.make_guidestar_files(folder / name, visits=[spec],
                                              signals=[*wobble, *extra], jitter=0.012, seed=6)
        models[name] = GuideStarFitStep.call(read_guidestar(visit.files), method="gauss",
                                             ncpus=2)
    return models


def test_a_centroid_wobble_is_no_jump_or_tilt(wobbling):
    assert len(find_events(wobbling["clean"])) == 0


def test_a_tilt_and_a_jump_beside_a_wobble_are_found_at_their_times(wobbling):
    model = wobbling["events"]
    events = find_events(model)
    assert list(events["kind"]) == ["tilt", "centroid_jump"]
    seconds = (events["start"] - model.frame_times[0]).to_value("s")
    assert_allclose(seconds, [300.0, 480.0], atol=2.0)
    assert_allclose(events["delta_x_stddev"][0].value, 0.021, rtol=0.3)
    assert_allclose(events["delta_x_mean"][1].value, 0.03, atol=0.01)
