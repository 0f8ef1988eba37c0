"""Time-domain figures on hand-made flares, dips and noise tables: what is drawn, the refusals."""

from types import SimpleNamespace

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

from spelunker.errors import ParameterError
from spelunker.plotting import (
    VARIABILITY_STYLES,
    display_bin_size,
    folded_lightcurve_plot,
    plot_event_table,
    rms_binning_plot,
    time_axis,
    variability_lightcurve_plot,
)

CADENCE = 0.0625
START = Time("2022-12-04T01:35:36", scale="utc")


def _series(duration=1800.0, seed=1):
    """Seconds and a relative flux with a flare at 600 s and a dip at 1200-1260 s."""
    seconds = np.arange(0.0, duration, CADENCE)
    rng = np.random.default_rng(seed)
    flux = 1.0 + 1e-3 * rng.standard_normal(seconds.size)
    after = seconds - 600.0
    flux += np.where(after >= 0, 0.02 * np.exp(-np.clip(after, 0, None) / 15.0), 0.0)
    flux -= 0.01 * ((seconds >= 1200.0) & (seconds < 1260.0))
    return seconds, flux


def _flares(kind=u.s, origins=("astrophysical", "technical")):
    """Two flares (contract columns), times in seconds or as Times from START."""
    starts, peaks, stops = np.array([599.0, 100.0]), np.array([600.0, 101.0]), \
        np.array([660.0, 120.0])
    table = QTable()
    for name, values in (("start", starts), ("peak", peaks), ("stop", stops)):
        table[name] = values * u.s if kind == u.s else START + values * u.s
    table["duration"] = (stops - starts) * u.s
    table["amplitude"] = [0.02, 0.005]
    table["equivalent_duration"] = [0.3, 0.05] * u.s
    table["significance"] = [40.0, 8.0]
    if origins is not None:
        table["origin"] = list(origins)
    return table


def _dips(kind=u.s):
    table = QTable()
    for name, value in (("start", 1200.0), ("mid", 1230.0), ("stop", 1260.0)):
        table[name] = [value] * u.s if kind == u.s else START + [value] * u.s
    table["duration"] = [60.0] * u.s
    table["depth"] = [0.01]
    table["depth_error"] = [0.0002]
    table["significance"] = [30.0]
    table["origin"] = ["astrophysical"]
    return table


def _gids(ax):
    return [patch.get_gid() for patch in ax.patches]


def test_light_curve_marks_each_flare_and_dip_in_its_style():
    seconds, flux = _series()
    ax = variability_lightcurve_plot(seconds, flux, flares=_flares(), dips=_dips(),
                                     ax=Figure().add_subplot())
    assert _gids(ax) == ["flare", "flare_technical", "dip"]
    styles = {patch.get_gid(): patch for patch in ax.patches}
    assert styles["flare_technical"].get_hatch() == VARIABILITY_STYLES["flare_technical"]["hatch"]
    assert styles["flare"].get_hatch() is None
    # The spans cover the flare's start to stop on the minutes axis.
    span = styles["flare"]
    assert_allclose([span.get_x(), span.get_x() + span.get_width()], [599.0 / 60, 660.0 / 60])
    markers = {line.get_gid(): line for line in ax.get_lines()}
    assert_allclose(markers["flare_marker"].get_xdata(), [10.0])
    assert_allclose(markers["dip_marker"].get_xdata(), [20.5])
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert {"flare (astrophysical)", "flare (technical)", "dip (astrophysical)"} <= set(labels)
    assert ax.get_title() == "2 flares, 1 dip"
    # Binned for display: about 1000 bins at most.
    bins = markers["bins"]
    assert 100 < np.count_nonzero(np.isfinite(bins.get_ydata())) <= 1001


def test_light_curve_on_a_time_axis_takes_the_model_tables_and_event_overlays():
    seconds, flux = _series()
    times = START + seconds * u.s
    ax = variability_lightcurve_plot(times, flux, flares=_flares(kind=Time),
                                     dips=_dips(kind=Time), bin_size=10.0,
                                     show_frames=False, ax=Figure().add_subplot())
    assert time_axis(ax).unit == "min" and ax.get_xlabel().startswith("time since 2022-12-04")
    assert "frames" not in [line.get_gid() for line in ax.get_lines()]
    assert _gids(ax).count("flare") == 1 and _gids(ax).count("dip") == 1
    # A technical event lands on the same axis.
    events = QTable({"kind": ["tilt"], "start": START + [300.0] * u.s,
                     "end": START + [301.0] * u.s})
    plot_event_table(ax, events)
    assert any(abs(line.get_xdata()[0] - 5.0) < 1e-6 for line in ax.get_lines()
               if line.get_gid() == "tilt")


def test_light_curve_without_origin_and_without_events():
    seconds, flux = _series(duration=60.0)
    table = _flares(origins=None)[:1]
    table["start"], table["peak"], table["stop"] = [10.0] * u.s, [11.0] * u.s, [20.0] * u.s
    ax = variability_lightcurve_plot(seconds, flux, flares=table, ax=Figure().add_subplot())
    assert _gids(ax) == ["flare"] and ax.get_xlabel() == "time (s)"
    assert "flare" in [text.get_text() for text in ax.get_legend().get_texts()]
    empty = variability_lightcurve_plot(seconds, flux, flares=table[:0], dips=None,
                                        ax=Figure().add_subplot())
    assert len(empty.patches) == 0 and empty.get_title() == "0 flares, 0 dips"


def test_light_curve_mask_leaves_frames_out_of_the_bins():
    seconds, flux = _series(duration=100.0)
    mask = seconds >= 50.0
    ax = variability_lightcurve_plot(seconds, flux, mask=mask, bin_size=10.0,
                                     ax=Figure().add_subplot())
    bins = next(line for line in ax.get_lines() if line.get_gid() == "bins")
    assert np.count_nonzero(np.isfinite(bins.get_ydata())) == 5


@pytest.mark.parametrize(("options", "match"), [
    ({"times": "abc"}, "times"),
    ({"flux": np.ones(3)}, "flux has shape"),
    ({"mask": np.ones(3, dtype=bool)}, "mask must be"),
    ({"flares": QTable({"start": [1.0]})},
     "flares must be an astropy Table with 'start'.*got a QTable with columns start$"),
    ({"dips": "dips"}, "dips must .*'mid' columns .*got 'dips'"),
    ({"bin_size": -1.0}, "bin_size"),
    ({"flares": _flares(kind=Time)}, r"holds Times but times are seconds"),
    ({"ax": "axes"}, "must be a matplotlib Axes"),
    ({"title": 3}, "title=3"),
])
def test_light_curve_refuses_bad_arguments(options, match):
    seconds, flux = _series(duration=60.0)
    arguments = {"times": seconds, "flux": flux, "ax": Figure().add_subplot(), **options}
    times, values = arguments.pop("times"), arguments.pop("flux")
    with pytest.raises(ParameterError, match=match):
        variability_lightcurve_plot(times, values, **arguments)


def test_light_curve_refuses_seconds_tables_beside_time_frames():
    seconds, flux = _series(duration=60.0)
    with pytest.raises(ParameterError, match="holds seconds but times are a Time"):
        variability_lightcurve_plot(START + seconds * u.s, flux, flares=_flares(),
                                    ax=Figure().add_subplot())


def _noise(beta=1.5, beta_1h=np.nan):
    sizes = np.geomspace(CADENCE, 1800.0, 25)
    expected = 1e-3 / np.sqrt(sizes / CADENCE)
    return SimpleNamespace(bin_size=sizes, rms=expected * np.linspace(1.0, beta, sizes.size),
                           expected=expected, white_noise=1e-3, beta_1min=beta,
                           beta_10min=beta, beta_1h=beta_1h)


def test_rms_plot_is_log_log_with_beta_written():
    ax = rms_binning_plot(_noise(), ax=Figure().add_subplot())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {line.get_gid(): line for line in ax.get_lines()}
    assert len(lines["rms"].get_xdata()) == 25 and len(lines["expected"].get_xdata()) == 25
    betas = [line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() == "beta"]
    assert betas == [60.0, 600.0]  # beta at 1 h is NaN: not written
    assert [text.get_text() for text in ax.texts] == ["β = 1.50 at 1 min", "β = 1.50 at 10 min"]
    assert ax.get_title() == "white noise 0.001 per frame"
    full = rms_binning_plot(_noise(beta_1h=2.0), ax=Figure().add_subplot())
    assert len(full.texts) == 3


@pytest.mark.parametrize(("noise", "match"), [
    (SimpleNamespace(bin_size=[1.0], rms=[1.0]), "missing expected, white_noise"),
    (SimpleNamespace(bin_size=[1.0, 2.0], rms=[1.0], expected=[1.0, 1.0], white_noise=1.0),
     "noise.rms has shape"),
    (SimpleNamespace(bin_size=[1.0], rms=[0.0], expected=[1.0], white_noise=1.0),
     "no bin size > 0 with an rms > 0"),
])
def test_rms_plot_refuses_what_is_not_a_noise_model(noise, match):
    with pytest.raises(ParameterError, match=match):
        rms_binning_plot(noise, ax=Figure().add_subplot())


def test_folded_curve_is_binned_in_phase():
    seconds = np.arange(0.0, 600.0, CADENCE)
    flux = 1 + 0.01 * np.sin(2 * np.pi * seconds / 47.0)
    ax = folded_lightcurve_plot(seconds, flux, period=47.0 * u.s, period_error=0.02 * u.s,
                                n_bins=25, ax=Figure().add_subplot())
    bins = next(line for line in ax.get_lines() if line.get_gid() == "bins")
    phase, value = bins.get_xdata(), bins.get_ydata()
    assert len(phase) == 25 and np.all((phase >= 0) & (phase < 1))
    assert_allclose(value, 1 + 0.01 * np.sin(2 * np.pi * phase), atol=6e-4)
    assert ax.get_title() == "folded at P = 47 ± 0.02 s"
    assert ax.get_xlim() == (0.0, 1.0)


def test_folded_curve_epoch_as_time():
    seconds = np.arange(0.0, 300.0, CADENCE)
    flux = 1 + 0.01 * np.sin(2 * np.pi * (seconds - 10.0) / 30.0)
    times = START + seconds * u.s
    ax = folded_lightcurve_plot(times, flux, period=30.0, epoch=START + 10.0 * u.s,
                                show_frames=False, ax=Figure().add_subplot())
    bins = ax.get_lines()[0]
    assert bins.get_gid() == "bins" and ax.get_title() == "folded at P = 30 s"
    assert_allclose(bins.get_ydata(), 1 + 0.01 * np.sin(2 * np.pi * bins.get_xdata()),
                    atol=6e-4)


@pytest.mark.parametrize(("options", "match"), [
    ({"period": 0.0}, "period"),
    ({"period": 3.0 * u.m}, "period must be times"),
    ({"period": [1.0, 2.0]}, "period must be one number"),
    ({"n_bins": 1}, "n_bins"),
    ({"epoch": START}, "epoch=.* must be a Time when times are Times"),
])
def test_folded_curve_refuses_bad_arguments(options, match):
    seconds = np.arange(0.0, 60.0, CADENCE)
    arguments = {"period": 10.0, **options}
    with pytest.raises(ParameterError, match=match):
        folded_lightcurve_plot(seconds, np.ones(seconds.size), ax=Figure().add_subplot(),
                               **arguments)


def test_display_bin_size():
    assert display_bin_size(np.arange(0.0, 3600.0, CADENCE)) == 3.6
    assert display_bin_size(np.arange(0.0, 10.0, CADENCE)) == CADENCE
    assert display_bin_size([0.0]) == 1.0
