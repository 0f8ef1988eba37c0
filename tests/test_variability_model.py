"""spelunker.variability at model level: light curve, origin, classes, tables and the step."""

import logging
import math
import threading

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.time import Time
from numpy.testing import assert_array_equal

from spelunker import _validate
from spelunker import (
    GuideStarEventStep,
    GuideStarFitStep,
    GuideStarModel,
    GuideStarVariabilityStep,
    ParameterError,
    PhotometryOptimizeStep,
    datasets,
)
from spelunker.errors import GuideStarInputError
from spelunker.io import open_guidestar
from spelunker.variability import (
    CLASSES,
    assign_origin,
    classify,
    dips_table,
    find_variability,
    flares_table,
    store_variability,
    variability_table,
    visit_lightcurve,
)
from spelunker.variability.classes import MAX_BETA, PERIODIC_FAP, is_periodic
from spelunker.variability.lightcurve import MASKED_KINDS, model_events
from spelunker.variability.origin import coinciding_event, series_change

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

TILT = 100.0  # s: a mirror tilt (PSF 5 % wider from then on)
TRANSIT = 300.0  # s: mid-time of a 20 s, 3 % transit
HGA = (200.0, 210.0)

FLARE_COLUMNS = ["visit_index", "guidestar_index", "start", "peak", "stop", "frame_start",
                 "frame_peak", "frame_stop", "duration", "amplitude", "amplitude_error",
                 "equivalent_duration", "equivalent_duration_error", "significance", "origin",
                 "technical_event", "psf_change", "centroid_change"]
DIP_COLUMNS = ["visit_index", "guidestar_index", "start", "mid", "stop", "frame_start",
               "frame_mid", "frame_stop", "duration", "depth", "depth_error", "significance",
               "origin", "technical_event", "psf_change", "centroid_change"]
VARIABILITY_COLUMNS = ["visit_index", "guidestar_index", "visit_id", "guidestar_id", "n_frames",
                       "n_used", "hours", "white_noise", "rms_1min", "rms_10min", "rms_1h",
                       "beta_1min", "beta_10min", "beta_1h", "n_flares", "flare_rate", "n_dips",
                       "period", "period_error", "period_amplitude", "period_fap", "bls_period",
                       "bls_depth", "bls_snr", "classes"]


@pytest.fixture(scope="module")
def tilt_visit(tmp_path_factory):
    """8000 frames (7 min) with a tilt, an HGA move and a transit, the events found."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("variability_visit"),
        visits=[datasets.VisitSpec(n_frames=8000, n_segments=1)],
        signals=[datasets.PsfWidthStep(time=TILT, factor=1.05),
                 datasets.HgaMove(start=HGA[0], stop=HGA[1]),
                 datasets.Transit(mid_time=TRANSIT, duration=20.0, depth=0.03)], seed=7)
    model = GuideStarEventStep.call(PhotometryOptimizeStep.call(visit.files))
    return visit, model


def _seconds(model, time):
    return float((time - model.frame_times[0]).to_value("s"))


def _rows(lc, intervals):
    """A hand-built flares/dips table: one row per (start, stop) interval in seconds."""
    first = np.searchsorted(lc.times, [a for a, _ in intervals])
    last = np.searchsorted(lc.times, [b for _, b in intervals]) - 1
    return QTable({"frame_start": first.astype(np.int64), "frame_stop": last.astype(np.int64)})


# --------------------------------------------------------------------------
# Light curve and origin


def test_visit_lightcurve_masks_flags_nan_and_technical_events(tilt_visit):
    _, model = tilt_visit
    (visit_index, star, frames), = model.frame_groups()
    lc = visit_lightcurve(model, visit_index, star, frames, fit_table="quick_fit")
    assert np.nanmedian(lc.flux[~lc.mask]) == pytest.approx(1.0, abs=1e-9)
    assert set(lc.events["kind"]) == {"tilt", "hga_move"}
    # Frames within 2 s of the tilt and during the HGA move are masked, the transit is not.
    for when, masked in ((TILT, True), (TILT + 1.5, True), (205.0, True), (TILT + 5.0, False),
                         (TRANSIT, False)):
        assert lc.mask[np.searchsorted(lc.times, when)] == masked, when
    # The flux is normalised apart on each side of the tilt (its lasting step is gone).
    for side in (lc.times < TILT, lc.times > TILT):
        assert np.median(lc.flux[side & ~lc.mask]) == pytest.approx(1.0, abs=1e-12)
    unmasked = visit_lightcurve(model, visit_index, star, frames, fit_table="quick_fit",
                                mask_events=False)
    before = np.median(unmasked.flux[(unmasked.times < TILT) & ~unmasked.mask])
    assert before != pytest.approx(1.0, abs=1e-12)
    assert unmasked.n_used == int(np.count_nonzero(np.asarray(model.quick_fit["flags"]) == 0))
    assert np.all(np.isfinite(unmasked.width[~unmasked.mask]))
    # A frame flagged by the fit or with a NaN flux is masked.
    flagged = model.copy()
    flagged.quick_fit["flags"][10] = 1
    flagged.lightcurve["flux"][20] = np.nan
    lc = visit_lightcurve(flagged, visit_index, star, frames, fit_table="quick_fit")
    assert lc.mask[10] and lc.mask[20] and np.isnan(lc.width[10])
    with pytest.raises(GuideStarInputError, match="PhotometryOptimizeStep"):
        visit_lightcurve(GuideStarModel(), 0, 0, [0])


def test_coinciding_event_rule():
    events = np.array([("tilt", 100.0, 100.0), ("hga_move", 500.0, 510.0),
                       ("guide_star_change", 0.0, 0.0)],
                      dtype=[("kind", "U24"), ("start", "f8"), ("end", "f8")])
    assert coinciding_event(events, 96.0, 130.0) == "tilt"  # starts just before the tilt
    assert coinciding_event(events, 60.0, 104.0) == "tilt"  # ends at it
    assert coinciding_event(events, 106.0, 130.0) == ""  # 6 s after: no
    assert coinciding_event(events, 505.0, 505.5) == "hga_move"  # inside a move
    assert coinciding_event(events, 1.0, 3.0) == "guide_star_change"
    # A tilt in the middle of an hour-long dip does not make it technical; near its end it does.
    assert coinciding_event(events[:1], 100.0 - 1800, 100.0 + 1800) == ""
    assert coinciding_event(events[:1], 100.0 - 3000, 100.0 + 600) == "tilt"
    assert coinciding_event(events[:0], 0.0, 1e6) == ""


def test_series_change_is_robust_and_ignores_a_slow_drift():
    rng = np.random.default_rng(5)
    t = np.arange(0, 600, 0.0625)
    drift = 0.7 + 1e-4 * t + rng.normal(0, 0.004, t.size)
    first, last = np.searchsorted(t, [290.0, 310.0])
    change, error = series_change(t, drift, first, last)
    assert abs(change / error) < 4
    step = drift + np.where(t >= 300.0, 0.02, 0.0)
    step[first + 5] = 50.0  # an outlier does not move a median
    change, error = series_change(t, step, np.searchsorted(t, 300.0), last)
    assert change / error > 10
    assert change == pytest.approx(0.01, abs=0.003)  # half the step: level interpolated


def test_origin_of_hand_built_signals_on_a_frame_level_visit(tilt_visit):
    """The tilt's flux step is technical (events and PSF width), the transit astrophysical."""
    _, model = tilt_visit
    (visit_index, star, frames), = model.frame_groups()
    lc = visit_lightcurve(model, visit_index, star, frames, fit_table="quick_fit")
    table = _rows(lc, [(TILT, TILT + 20.0), (TILT - 20.0, TILT), (TRANSIT - 10.0, TRANSIT + 10.0),
                       (203.0, 207.0), (30.0, 40.0)])
    result = assign_origin(table, lc)
    assert result.colnames == ["frame_start", "frame_stop", "origin", "technical_event",
                               "psf_change", "centroid_change"]
    assert result["origin"].tolist() == ["technical", "technical", "astrophysical", "technical",
                                         "astrophysical"]
    assert result["technical_event"].tolist() == ["tilt", "tilt", "", "hga_move", ""]
    assert result["psf_change"][0] > 5 and result["psf_change"][1] < -5
    assert all(abs(result["psf_change"][k]) < 5 for k in (2, 4))
    assert all(result["centroid_change"][k] < 5 for k in (2, 4))

    # Without any events table the tilt is still technical: its PSF width changes.
    bare = model.copy()
    del bare.events
    lc = visit_lightcurve(bare, visit_index, star, frames, fit_table="quick_fit")
    assert len(lc.events) == 0
    result = assign_origin(table, lc)
    assert result["origin"][:3].tolist() == ["technical", "technical", "astrophysical"]
    assert result["technical_event"].tolist() == [""] * 5
    with pytest.raises(ParameterError, match="frame_stop"):
        assign_origin(QTable({"frame_start": [1]}), lc)


def test_guide_star_changes_are_technical(tilt_visit):
    """A flare right after a guide-star change (re-acquisition) is never astrophysical."""
    _, model = tilt_visit
    (visit_index, star, frames), = model.frame_groups()
    lc = visit_lightcurve(model, visit_index, star, frames, fit_table="quick_fit")
    changed = model.copy()
    stored = np.array(changed.events)
    extra = stored[:1].copy()
    extra["kind"] = b"guide_star_change"
    extra["start_mjd"] = extra["end_mjd"] = lc.mjd_zero + 30.0 / 86400
    changed.events = np.concatenate([stored, extra])
    lc = visit_lightcurve(changed, visit_index, star, frames, fit_table="quick_fit")
    assert "guide_star_change" in MASKED_KINDS and lc.mask[np.searchsorted(lc.times, 30.0)]
    result = assign_origin(_rows(lc, [(32.5, 40.0)]), lc)
    assert result["origin"][0] == "technical"
    assert result["technical_event"][0] == "guide_star_change"
    assert model_events(changed, lc.mjd_zero)["kind"].tolist()[-1] == "guide_star_change"


# --------------------------------------------------------------------------
# Classes


QUIET = dict(n_flares=0, n_dips=0, period=math.nan, period_fap=math.nan, period_flag=-1,
             hours=2.0, bls_snr=math.nan, beta_10min=1.0, beta_1h=math.nan)


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, ("constant",)),
    ({"n_flares": 1}, ("flaring",)),
    ({"n_dips": 2}, ("dipping",)),
    ({"bls_snr": 12.0}, ("dipping",)),
    ({"bls_snr": 6.0}, ("constant",)),
    ({"beta_10min": MAX_BETA + 0.5}, ("stochastic",)),
    ({"beta_1h": MAX_BETA + 0.5, "beta_10min": math.nan}, ("stochastic",)),
    ({"period": 600.0, "period_fap": 1e-8, "period_flag": 0}, ("periodic",)),
    ({"period": 600.0, "period_fap": 1e-2, "period_flag": 0}, ("constant",)),
    ({"period": 600.0, "period_fap": 1e-8, "period_flag": 2}, ("constant",)),
    ({"period": 3000.0, "period_fap": 1e-8, "period_flag": 0}, ("constant",)),  # 2.4 cycles
    ({"period": 600.0, "period_fap": 1e-8, "period_flag": 0, "n_flares": 3, "n_dips": 1,
      "beta_10min": 4.0}, ("periodic", "flaring", "dipping", "stochastic")),
])
def test_classes_rule(changes, expected):
    classes = classify({**QUIET, **changes})
    assert classes == expected
    assert set(classes) <= set(CLASSES)
    assert list(classes) == [c for c in CLASSES if c in classes]


def test_is_periodic_needs_three_cycles():
    assert is_periodic(1200.0, 1e-6, 0, 1.0)
    assert not is_periodic(1201.0, 1e-6, 0, 1.0)
    assert not is_periodic(math.nan, 1e-6, 0, 1.0)
    assert not is_periodic(100.0, math.nan, 0, 1.0)


# --------------------------------------------------------------------------
# find_variability, the tables and the step


def test_find_variability_finds_a_periodic_star(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=6000, n_segments=1)],
        signals=[datasets.FluxModulation(period=40.0, amplitude=0.01)], seed=12)
    model = PhotometryOptimizeStep.call(visit.files)
    row = find_variability(model).variability[0]
    assert "periodic" in row["classes"].split(",")
    period, error = row["period"].to_value("s"), row["period_error"].to_value("s")
    assert abs(period - 40.0) < max(3 * error, 0.01 * 40.0)
    assert row["period_amplitude"] == pytest.approx(0.01, rel=0.2)
    assert row["period_fap"] < 1e-3


def test_step_finds_the_transit_and_never_calls_the_tilt_astrophysical(tilt_visit, tmp_path,
                                                                      caplog):
    """End to end (needs the detectors of spelunker.variability); saved and read back."""
    visit, events_model = tilt_visit
    source = open_guidestar(visit.files)
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        model = GuideStarVariabilityStep.call(source)
    assert not source.hasattr("lightcurve") and not source.hasattr("flares")
    assert "no lightcurve table" in caplog.text and "no events table" in caplog.text
    assert model.hasattr("events") and model.hasattr("quick_fit")

    flares, dips, rows = flares_table(model), dips_table(model), variability_table(model)
    assert flares.colnames == FLARE_COLUMNS
    assert dips.colnames == DIP_COLUMNS
    assert rows.colnames == VARIABILITY_COLUMNS
    transit = [row for row in dips if row["origin"] == "astrophysical"
               and abs(_seconds(model, row["mid"]) - TRANSIT) < 2.0]
    assert len(transit) == 1
    assert transit[0]["depth"] == pytest.approx(0.03, rel=0.2)
    for table, _time_column in ((flares, "peak"), (dips, "mid")):
        for row in table:
            start, stop = _seconds(model, row["start"]), _seconds(model, row["stop"])
            if start - 5.0 <= TILT <= stop + 5.0 or (start <= HGA[1] and stop >= HGA[0]):
                assert row["origin"] == "technical", (start, stop)
    assert len(rows) == 1
    assert rows["visit_id"][0] == "jw01534001001" and rows["n_frames"][0] == 8000
    assert "dipping" in rows["classes"][0].split(",")
    assert rows["n_dips"][0] == int(np.count_nonzero(dips["origin"] == "astrophysical"))

    # A saved product holds the tables with units and UTC time labels, readable by astropy.
    path = tmp_path / "visit_gsvar.fits"
    model.save(path)
    hdu = Table.read(path, hdu="DIPS", astropy_native=True)
    assert isinstance(hdu["mid_mjd"], Time) and hdu["mid_mjd"].scale == "utc"
    assert hdu["duration"].unit == "s"
    assert_array_equal(hdu["depth"], dips["depth"])
    plain = Table.read(path, hdu="FLARES")
    assert plain.colnames[2:5] == ["start_mjd", "peak_mjd", "stop_mjd"]
    assert plain["equivalent_duration"].unit == "s"
    with fits.open(path) as hdulist:
        header = hdulist["VARIABILITY"].header
        units = {header[f"TTYPE{k}"]: header.get(f"TUNIT{k}") for k in range(1, 26)}
        assert units["hours"] == "h" and units["period"] == "s" and units["flare_rate"] == "h-1"
        assert hdulist["FLARES"].header["TIMESYS"] == "UTC"
    with GuideStarModel(path) as again:
        for function in (flares_table, dips_table, variability_table):
            before, after = function(model), function(again)
            assert after.colnames == before.colnames
            for column in before.colnames:
                if isinstance(before[column], Time):
                    assert_array_equal(after[column].mjd, before[column].mjd)
                else:
                    assert_array_equal(np.asarray(after[column]), np.asarray(before[column]))
        # The variability tables describe the whole series: a subset never carries them.
        part = again.select(slice(0, 100), keep_results=True)
        assert not part.hasattr("flares") and not part.hasattr("variability")

    # The step on the events step's product reuses its events and gives the same transit.
    again = GuideStarVariabilityStep.call(events_model)
    assert len(again.events) == len(events_model.events)
    assert not events_model.hasattr("dips")


def _column_values(column):
    """A table column as a plain array (Time as MJD, Quantity as its values)."""
    if isinstance(column, Time):
        return column.mjd
    return np.asarray(getattr(column, "value", column))


def test_ncpus_keeps_the_searches_in_the_calling_thread(tilt_visit, monkeypatch):
    """ncpus=1: the flare and dip searches run in the calling thread; the same tables."""
    from spelunker.variability import search as search_module

    _, model = tilt_visit
    monkeypatch.setattr(_validate, "available_cpus", lambda: 2)   # thread_count asks it
    seen = []
    original = search_module.run_search

    def recorded(*args, **kwargs):
        seen.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(search_module, "run_search", recorded)
    default = find_variability(model)
    assert set(seen) - {threading.get_ident()}   # the two signs at once on 2 CPUs
    seen.clear()
    alone = find_variability(model, ncpus=1)
    assert seen and set(seen) == {threading.get_ident()}
    for name in ("flares", "dips", "variability"):
        ours, theirs = getattr(alone, name), getattr(default, name)
        assert ours.colnames == theirs.colnames and len(ours) == len(theirs)
        for column in ours.colnames:
            assert_array_equal(_column_values(ours[column]), _column_values(theirs[column]))
    with pytest.raises(ParameterError, match="ncpus=0"):
        find_variability(model, ncpus=0)
    with pytest.raises(ParameterError, match="ncpus"):
        GuideStarVariabilityStep.call(model, ncpus=0)


def test_store_variability_round_trip_in_memory(tilt_visit):
    _, model = tilt_visit
    result = find_variability(model, mask_events=False)
    copy = model.copy()
    store_variability(copy, result)
    assert not model.hasattr("dips")
    stored = copy.table("dips")
    assert [c for c in stored.colnames if c.endswith("_mjd")] == ["start_mjd", "mid_mjd",
                                                                 "stop_mjd"]
    assert dips_table(copy).colnames == result.dips.colnames
    assert len(variability_table(copy)) == len(result.variability) == 1


def test_bad_arguments_are_parameter_errors(tilt_visit):
    _, model = tilt_visit
    for options, name in (({"fit_table": "gauss"}, "fit_table"),
                          ({"mask_events": "yes"}, "mask_events"),
                          ({"flare_threshold": -1.0}, "flare_threshold"),
                          ({"dip_threshold": "high"}, "dip_threshold"),
                          ({"margin": -2.0}, "margin")):
        with pytest.raises(ParameterError, match=name):
            find_variability(model, **options)
    with pytest.raises(ParameterError, match="GuideStarModel"):
        find_variability("visit.fits")
    with pytest.raises(ParameterError, match="VariabilityResult"):
        store_variability(model.copy(), {"flares": []})
    with pytest.raises(GuideStarInputError, match="gauss_fit"):
        find_variability(model, fit_table="gauss_fit")
    with pytest.raises(GuideStarInputError, match="PhotometryOptimizeStep"):
        find_variability(GuideStarModel())
    with pytest.raises(GuideStarInputError, match="GuideStarVariabilityStep"):
        variability_table(GuideStarModel())
    with pytest.raises(ParameterError, match="margin"):
        GuideStarVariabilityStep.call(model, margin=-1.0)


def test_helpers_refuse_wrong_arguments(tilt_visit):
    _, model = tilt_visit
    with pytest.raises(ParameterError, match="frames"):
        visit_lightcurve(model, 0, 0, [0, 10**9])
    with pytest.raises(ParameterError, match="events"):
        coinciding_event([1, 2], 0.0, 1.0)
    with pytest.raises(ParameterError, match="last"):
        series_change(np.arange(10.0), np.ones(10), 5, 2)
    with pytest.raises(ParameterError, match="mapping"):
        classify("periodic")


def test_flares_and_dips_are_left_out_of_the_period_search_widened():
    """What a search misses of a slow ingress or a flare's tail must not pass for a period."""
    from spelunker.variability.core import _frames_of

    times = np.arange(1000) * 0.1
    covered = _frames_of(QTable({"frame_start": [100], "frame_stop": [199]}), times)
    inside = np.flatnonzero(covered)
    assert times[inside[0]] == pytest.approx(10.0 - 9.9)
    assert times[inside[-1]] == pytest.approx(29.8)
    short = _frames_of(QTable({"frame_start": [500], "frame_stop": [501]}), times)
    assert 41 <= np.count_nonzero(short) <= 42  # at least 2 s on each side
    assert not _frames_of(QTable({"frame_start": [], "frame_stop": []}), times).any()


def test_too_few_usable_frames_give_a_row_without_search():
    model = GuideStarModel()
    model.frames = [(60000.0 + i / 86400, 0, 0, i) for i in range(100)]
    model.lightcurve = [(np.nan, 1.0, 9)] * 100  # no usable flux at all
    result = find_variability(model)
    assert len(result.flares) == len(result.dips) == 0
    assert result.flares.colnames == FLARE_COLUMNS and result.dips.colnames == DIP_COLUMNS
    row = result.variability[0]
    assert (row["n_frames"], row["n_used"], row["classes"]) == (100, 0, "")
    assert np.isnan(row["white_noise"]) and np.isnan(row["period"].value)


def test_a_periodic_star_is_prewhitened_before_the_search(tmp_path):
    """The sample visit's signals without its technical events: a 0.3 % modulation of 47 s
    hid the 1 %, 60 s transit (the noise at 1 min is the modulation's)."""
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=6000, n_segments=1, fgs_mag=13.3)],
        signals=[datasets.Transit(mid_time=160.0, duration=60.0, depth=0.01, ingress=8.0),
                 datasets.Flare(peak_time=55.0, fwhm=5.0, amplitude=0.02),
                 datasets.FluxModulation(period=47.0, amplitude=0.003)], seed=1534)
    model = PhotometryOptimizeStep.call(visit.files)
    result = find_variability(model)
    assert len(result.dips) == len(result.flares) == 1
    assert abs(_seconds(model, result.dips[0]["mid"]) - 160.0) < 3.0
    assert abs(_seconds(model, result.flares[0]["peak"]) - 55.0) < 3.0
    row = result.variability[0]
    assert row["classes"] == "periodic,flaring,dipping"
    assert abs(row["period"].to_value("s") - 47.0) < 0.5


def _array_lightcurve(times, flux):
    """A VisitLightCurve of plain arrays: nothing masked, no technical event, no fit."""
    from spelunker.variability.lightcurve import VisitLightCurve

    events = np.zeros(0, dtype=[("kind", "U24"), ("start", "f8"), ("end", "f8")])
    return VisitLightCurve(visit_index=0, guidestar_index=0, frames=np.arange(times.size),
                           times=times, mjd_zero=60000.0, flux=flux,
                           mask=np.zeros(times.size, dtype=bool), events=events)


def test_eclipses_and_flares_are_left_out_of_the_noise_model():
    """Eclipses and flares found are one event each and leave no red noise behind."""
    from spelunker.variability.core import _search

    signals = [datasets.EclipsingBinary(period=900.0, t0=250.0, primary_depth=0.05,
                                        secondary_depth=0.02, duration=90.0),
               datasets.Flare(peak_time=1200.0, fwhm=10.0, amplitude=0.05)]
    times, flux = datasets.synthetic_light_curve(3600.0, fgs_mag=12.5, signals=signals, seed=8)
    flares, dips, row = _search(_array_lightcurve(times, flux), {})
    assert len(flares) == 1 and len(dips) == 8
    assert np.allclose(dips["duration"].value, 90.0, rtol=0.05)
    assert row["beta_1min"] < MAX_BETA and row["beta_10min"] < MAX_BETA
    assert {"flaring", "dipping"} <= set(row["classes"].split(",")) <= {
        "flaring", "dipping", "periodic"}


def test_a_flare_is_judged_by_its_rise_and_early_decay_not_its_tail(tilt_visit):
    """The sample visit's flare tail ran into the masked HGA move and made it technical."""
    _, model = tilt_visit
    (visit_index, star, frames), = model.frame_groups()
    lc = visit_lightcurve(model, visit_index, star, frames, fit_table="quick_fit")
    table = _rows(lc, [(150.0, 199.0), (190.0, 199.0)])
    table["frame_peak"] = np.searchsorted(lc.times, [153.0, 196.0]).astype(np.int64)
    result = assign_origin(table, lc)
    assert result["origin"].tolist() == ["astrophysical", "technical"]
    assert result["technical_event"].tolist() == ["", "hga_move"]
    # With amplitude and ED (a 3 s FWHM flare), its core decides, whatever its start.
    table = _rows(lc, [(120.0, 199.0)])
    table["frame_peak"] = np.searchsorted(lc.times, [153.0]).astype(np.int64)
    table["amplitude"] = [0.02]
    table["equivalent_duration"] = [0.02 * 3.0 * 1.827] * u.s
    assert assign_origin(table, lc)["origin"].tolist() == ["astrophysical"]
    del table["amplitude"], table["equivalent_duration"]   # from 33 s before to 66 s after
    assert assign_origin(table, lc)["origin"].tolist() == ["technical"]


def test_a_flare_covering_a_short_visit_leaves_no_periodic_dip_search():
    """A long flare, widened by its duration, covers a 10-minute visit: no BLS, no crash."""
    times, flux = datasets.synthetic_light_curve(
        645.0, fgs_mag=12.0, signals=[datasets.Flare(peak_time=200.0, fwhm=20.0,
                                                     amplitude=0.02)], seed=5)
    model = GuideStarModel()
    model.frames = [(60000.0 + t / 86400.0, 0, 0, i) for i, t in enumerate(times)]
    model.lightcurve = [(f, 0.0, 9) for f in flux]
    result = find_variability(model)
    assert len(result.flares) == 1 and "flaring" in result.variability["classes"][0]
    assert np.isnan(result.variability["bls_snr"][0])


def test_a_centroid_wobble_does_not_make_a_transit_technical(tmp_path):
    """The pointing's smooth wobble (0.01 px, 122 s) moves the centroid inside any dip a
    little; that is no technical change (at 0.003 px it made this transit technical)."""
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=24000, n_segments=1, fgs_mag=12.0)],
        signals=[datasets.Flare(peak_time=300.0, fwhm=20.0, amplitude=0.03),
                 datasets.Transit(mid_time=900.0, duration=28.0, depth=0.03),
                 datasets.CentroidWobble(period=122.0, amplitude=0.01, axis="y")],
        jitter=0.012, seed=5)
    model = GuideStarEventStep.call(PhotometryOptimizeStep.call(
        GuideStarFitStep.call(visit.files, method="gauss")))
    result = find_variability(model)
    dips, flares = result.dips, result.flares
    assert len(dips) == 1 and abs(_seconds(model, dips[0]["mid"]) - 900.0) < 2.0
    assert len(flares) == 1 and abs(_seconds(model, flares[0]["peak"]) - 300.0) < 2.0
    assert dips[0]["origin"] == flares[0]["origin"] == "astrophysical", (dips, flares)


def test_red_noise_is_stochastic_not_periodic():
    """Red noise puts low-frequency peaks of tiny white-noise false-alarm probability in the
    periodogram; the amplitude against the red noise at a quarter period refuses them."""
    from spelunker.variability.core import _search

    for seed in (0, 3):
        red = datasets.RedNoise(amplitude=8e-4, timescale=900.0, seed=seed)
        times, flux = datasets.synthetic_light_curve(3 * 3600.0, fgs_mag=14.0, red_noise=red,
                                                     seed=seed)
        _, _, row = _search(_array_lightcurve(times, flux), {})
        assert row["period_fap"] < PERIODIC_FAP  # what the white-noise rule alone would take
        assert row["classes"] == "stochastic", row
