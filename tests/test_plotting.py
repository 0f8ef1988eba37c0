"""Quick-look figures and animations: the data drawn, the labels and the units."""

import json
import shutil
import subprocess

import matplotlib
import numpy as np
import pytest
from astropy.table import QTable, Table
from astropy.time import Time
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from spelunker import (
    GuideStarFitStep,
    GuideStarModel,
    GuideStarPipeline,
    PeriodogramStep,
    PhotometryOptimizeStep,
    datasets,
    read_guidestar,
)
from spelunker.binning import bin_series
from spelunker.events import local_events
from spelunker import plotting
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.periodogram import FIT_PARAMETERS
from spelunker.photometry import full_frame_flux
from spelunker.plotting import (
    TimeAxis,
    flux_spatial_timelapse_animation,
    frame_plot,
    periodogram_plot,
    position_plot,
    time_axis,
    timeseries_binned_plot,
    timeseries_list_plot,
)
from spelunker.plotting import animation as animation_module
from spelunker.plotting import relative_flux
from spelunker.plotting._model import aperture_of
from spelunker.plotting.frames import aperture_outline
from spelunker.plotting.report import report_entry
from spelunker.plotting.telemetry import plot_mnemonic
from spelunker.plotting.timeaxis import KeepXlim, set_time_axis, to_axis_time
from spelunker.plotting.styles import EVENT_STYLES, LOCAL_EVENT_STYLES

N_FRAMES = 1500
FLAGGED = [5, 77, 300, 301, 1200]
UNITS = {"amplitude": "DN/s", "x_mean": "pix", "y_mean": "pix", "x_stddev": "pix",
         "y_stddev": "pix", "theta": "rad", "offset": "DN/s", "flux": "DN/s"}


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("plot_visit"),
        visits=[datasets.VisitSpec(n_frames=N_FRAMES, n_segments=3)],
        signals=[datasets.FluxModulation(period=9.0, amplitude=0.01),
                 datasets.NanFrames(indices=[40])],
        seed=8,
    )


@pytest.fixture(scope="module")
def model(visit):
    return GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})


@pytest.fixture(scope="module")
def flagged_model(model):
    """The model with some fits flagged (EDGE), as a bad fit would be."""
    copy = model.copy()
    table = np.array(copy.quick_fit)
    table["flags"][FLAGGED] = 8
    table["x_mean"][FLAGGED] = 99.0  # garbage that must not be drawn as a value
    with copy.trusted_assignment():
        copy.quick_fit = table
    return copy


def _seconds(model):
    """Independent frame times: astropy differences from the first mid-frame time."""
    times = Time(np.asarray(model.frames["mid_time_mjd"]), format="mjd", scale="utc")
    return (times - times[0]).to_value("s"), times[0]


def _line(ax, gid):
    found = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(found) == 1, f"expected one line {gid!r}, found {len(found)}"
    return found[0]


# --------------------------------------------------------------------------
# Binned light curve


def test_binned_curve_equals_independent_binning(model):
    bin_size = 4.0
    ax = timeseries_binned_plot(model, bin_size=bin_size, ax=Figure().add_subplot())

    seconds, first = _seconds(model)
    flux = np.asarray(model.lightcurve["flux"], dtype=float)
    relative = flux / np.nanmedian(flux)
    groups = {}
    for t, value in zip(seconds, relative, strict=True):
        if np.isfinite(value):
            groups.setdefault(int(t // bin_size), []).append((t, value))
    expected_t = [np.mean([t for t, _ in groups[k]]) for k in sorted(groups)]
    expected_v = [np.mean([v for _, v in groups[k]]) for k in sorted(groups)]

    assert ax.get_xlabel() == f"time since {first.isot} UTC (s)"  # 81 s: seconds
    assert ax.get_ylabel() == "relative flux (optimised aperture)"
    bins = _line(ax, "bins")
    x, y = np.asarray(bins.get_xdata()), np.asarray(bins.get_ydata())
    keep = np.isfinite(y)
    assert_allclose(x[keep], expected_t, rtol=0, atol=1e-6)
    assert_allclose(y[keep], expected_v, rtol=1e-12)
    frames = _line(ax, "frames")
    assert_allclose(frames.get_xdata(), seconds, rtol=0, atol=1e-6)
    assert_allclose(frames.get_ydata(), relative, rtol=1e-12)
    assert np.isnan(frames.get_ydata()[40])  # the NaN frame stays out of its bin
    assert time_axis(ax) == TimeAxis(first, "s")


def test_binned_curve_without_lightcurve_uses_the_full_frame(visit):
    model = read_guidestar(visit.files)
    ax = timeseries_binned_plot(model, bin_size=10.0, ax=Figure().add_subplot())
    assert ax.get_ylabel() == "relative flux (full frame)"
    flux, _ = full_frame_flux(np.asarray(model.data), dq=np.asarray(model.dq))
    assert_allclose(_line(ax, "frames").get_ydata(), flux / np.nanmedian(flux), rtol=1e-12)
    assert not model.hasattr("lightcurve")  # the input is not modified


@pytest.mark.parametrize(("span", "unit"), [(0.0, "s"), (119.0, "s"), (120.0, "min"),
                                            (7199.0, "min"), (7200.0, "h"), (1e6, "h")])
def test_time_unit_from_span(span, unit):
    axis = TimeAxis.for_span(Time("2022-12-04T01:35:36", scale="utc"), span)
    assert axis.unit == unit
    assert axis.label == f"time since 2022-12-04T01:35:36.000 UTC ({unit})"
    assert_allclose(axis.from_seconds([0.0, 3600.0], axis.reference),
                    [0.0, 3600.0 / {"s": 1, "min": 60, "h": 3600}[unit]])


def test_time_axis_refuses_an_unknown_unit():
    with pytest.raises(ParameterError,
                       match=r"TimeAxis.unit='day' is not one of \['s', 'min', 'h'\]"):
        TimeAxis(Time("2022-12-04T01:35:36", scale="utc"), "day")


def test_plotting_exports_its_own_names_only():
    """Binning and time conversion are imported from their owners, not from plotting."""
    for name in ("as_time", "bin_series", "BinnedSeries", "DEFAULT_BIN_SIZE"):
        assert not hasattr(plotting, name), name
        assert name not in plotting.__all__
    assert all(hasattr(plotting, name) for name in plotting.__all__)


def test_figures_refuse_a_model_without_frames():
    for draw in (lambda m: timeseries_binned_plot(m, ax=Figure().add_subplot()),
                 lambda m: timeseries_list_plot(m, fig=Figure()),
                 lambda m: position_plot(m, ax=Figure().add_subplot())):
        with pytest.raises(GuideStarInputError, match="no frames table"):
            draw(GuideStarModel())


def test_bin_series_rules():
    times = np.array([0.0, 0.5, 1.0, 1.9, 7.0, 7.5])
    values = np.array([1.0, 3.0, np.nan, 5.0, 2.0, np.nan])
    binned = bin_series(times, values, 2.0)
    assert_array_equal(binned.bin, [0, 3])  # empty and all-NaN bins dropped
    assert_allclose(binned.value, [3.0, 2.0])
    assert_allclose(binned.time, [(0.0 + 0.5 + 1.9) / 3, 7.0])
    assert_array_equal(binned.count, [3, 1])
    assert_allclose(binned.error[0], np.std([1.0, 3.0, 5.0], ddof=1) / np.sqrt(3))
    assert np.isnan(binned.error[1])
    for bad in (0, -1.0, np.nan, True, "ten"):
        with pytest.raises(ValueError, match="bin_size"):
            bin_series(times, values, bad)
    with pytest.raises(ValueError, match="equal length"):
        bin_series(times, values[:-1], 1.0)


# --------------------------------------------------------------------------
# Parameter panels


def test_list_plot_panels_carry_fit_values_and_units(flagged_model):
    fig = timeseries_list_plot(flagged_model, fig=Figure())
    axes = fig.axes
    assert len(axes) == 8
    seconds, first = _seconds(flagged_model)
    table = np.asarray(flagged_model.quick_fit)
    bad = np.asarray(table["flags"]) != 0
    assert bad[FLAGGED].all() and bad[40]  # ours, and the NaN frame's own flag
    for ax, name in zip(axes, (*FIT_PARAMETERS, "flux"), strict=True):
        assert ax.get_ylabel() == f"{name} ({UNITS[name]})"
        values = _line(ax, "values")
        assert_allclose(values.get_xdata(), seconds, rtol=0, atol=1e-6)  # 81 s: seconds
        if name == "flux":
            assert_allclose(values.get_ydata(), flagged_model.lightcurve["flux"], rtol=1e-12)
            assert not [line for line in ax.get_lines() if line.get_gid() == "flagged"]
            continue
        expected = np.array(table[name], dtype=float)
        expected[bad] = np.nan  # flagged fits are never drawn as values
        assert_allclose(values.get_ydata(), expected, rtol=1e-12)
        marks = _line(ax, "flagged")
        assert_allclose(marks.get_xdata(), seconds[bad], rtol=0, atol=1e-6)
        assert marks.get_color() == "red"
    assert np.nanmax(_line(axes[1], "values").get_ydata()) < 8  # the 99 px garbage is hidden
    assert axes[-1].get_xlabel() == f"time since {first.isot} UTC (s)"
    assert f"{N_FRAMES - bad.sum()} of {N_FRAMES} fits clean" in axes[0].get_title()
    assert all(ax.get_shared_x_axes().joined(ax, axes[0]) for ax in axes)


def test_list_plot_hide_and_bins(flagged_model):
    fig = timeseries_list_plot(flagged_model, fig=Figure(), flagged="hide", bin_size=10.0)
    for ax in fig.axes:
        assert not [line for line in ax.get_lines() if line.get_gid() == "flagged"]
    seconds, _ = _seconds(flagged_model)
    clean = np.array(flagged_model.quick_fit["y_mean"], dtype=float)
    clean[np.asarray(flagged_model.quick_fit["flags"]) != 0] = np.nan
    expected = bin_series(seconds, clean, 10.0)
    assert_allclose(_line(fig.axes[2], "bins").get_ydata(), expected.value, rtol=1e-12)
    with pytest.raises(ParameterError, match="flagged"):
        timeseries_list_plot(flagged_model, fig=Figure(), flagged="drop")
    with pytest.raises(ParameterError, match="fit="):
        timeseries_list_plot(flagged_model, fig=Figure(), fit="psf")


def test_list_plot_needs_a_fit(visit):
    with pytest.raises(GuideStarInputError, match="GuideStarFitStep"):
        timeseries_list_plot(read_guidestar(visit.files), fig=Figure())


# --------------------------------------------------------------------------
# Periodograms


def test_periodogram_lines_equal_stored_power(model):
    fig = periodogram_plot(model, fig=Figure())
    stored = np.asarray(model.periodogram)
    frequency = np.asarray(stored["frequency"], dtype=float)
    peaks = np.asarray(model.periodogram_peaks)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [*FIT_PARAMETERS, "flux"]
    for ax in axes:
        name = ax.get_title()
        line = _line(ax, "power")
        assert ax.get_xscale() == "log"
        assert_allclose(line.get_xdata(), 1.0 / frequency, rtol=1e-12)
        assert_allclose(line.get_ydata(), stored[name], rtol=0, atol=0)
        mine = peaks[(peaks["series"] == name.encode()) & (peaks["rank"] <= 3)]
        marks = _line(ax, "peaks")
        assert_allclose(marks.get_xdata(), mine["period"], rtol=1e-12)
        assert_allclose(marks.get_ydata(), mine["power"], rtol=1e-12)
    assert {ax.get_xlabel() for ax in axes[-2:]} == {"period (s)"}


def test_periodogram_of_a_long_grid_keeps_its_peaks(model):
    fig = periodogram_plot(model, fig=Figure(), max_points=500)
    stored = np.asarray(model.periodogram)
    line = _line(fig.axes[-1], "power")
    assert len(line.get_ydata()) <= 501
    assert np.max(line.get_ydata()) == np.nanmax(stored["flux"])


@pytest.mark.parametrize("options", [{"max_points": 0}, {"max_points": 2.5}, {"n_peaks": 0},
                                     {"n_peaks": "3"}])
def test_periodogram_plot_refuses_bad_options(model, options):
    with pytest.raises(ParameterError, match=next(iter(options))):
        periodogram_plot(model, fig=Figure(), **options)


def test_periodogram_plot_of_nan_series_is_refused(model):
    copy = model.copy()
    table = np.array(copy.periodogram)
    for name in table.dtype.names:
        if name not in ("frequency", "visit_index", "guidestar_index"):
            table[name] = np.nan
    with copy.trusted_assignment():
        copy.periodogram = table
    with pytest.raises(GuideStarInputError, match="every series of the periodogram table is NaN"):
        periodogram_plot(copy, fig=Figure())


def test_periodogram_plot_draws_one_labelled_curve_per_visit_and_star(two_star_model):
    model = PeriodogramStep.call(two_star_model)
    fig = periodogram_plot(model, fig=Figure())
    stored = np.asarray(model.periodogram)
    stars = [str(name) for name in model.table("guidestars")["gs_id"]]
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_gid() == "power"]
    assert [line.get_label() for line in lines] == [f"obs 1 visit 1, {stars[0]}",
                                                    f"obs 1 visit 2, {stars[1]}"]
    for line, (visit_index, star) in zip(lines, [(0, 0), (1, 1)], strict=True):
        rows = (stored["visit_index"] == visit_index) & (stored["guidestar_index"] == star)
        assert_allclose(line.get_xdata(), 1.0 / stored["frequency"][rows], rtol=1e-12)
        assert_allclose(line.get_ydata(), stored[ax.get_title()][rows], rtol=0, atol=0)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert [label for label in legend if label != "peaks"] == [line.get_label() for line in lines]


# --------------------------------------------------------------------------
# Frames and positions


def _perimeter(mask):
    padded = np.pad(mask, 1)
    return int(np.count_nonzero(padded[1:, :] != padded[:-1, :])
               + np.count_nonzero(padded[:, 1:] != padded[:, :-1]))


def test_frame_plot_single_frame(model):
    ax = frame_plot(model, 10, ax=Figure().add_subplot())
    image = ax.images[0]
    assert_array_equal(image.get_array(), np.asarray(model.data[10], dtype=float))
    assert image.origin == "lower"
    assert image.colorbar.ax.get_ylabel() == "DN/s"
    mask = np.asarray(model.aperture_mask[0]) != 0
    outline, = [c for c in ax.collections if c.get_gid() == "aperture"]
    assert len(outline.get_segments()) == _perimeter(mask) > 0
    assert outline.get_label() == f"aperture ({int(mask.sum())} pixels)"
    centre = _line(ax, "centre")
    assert_allclose([centre.get_xdata()[0], centre.get_ydata()[0]],
                    [model.quick_fit["x_mean"][10], model.quick_fit["y_mean"][10]])
    assert "frame 10" in ax.get_title()


def test_frame_plot_median_frame(model):
    ax = frame_plot(model, ax=Figure().add_subplot(), show_aperture=False)
    data = np.asarray(model.data, dtype=float)
    assert_allclose(ax.images[0].get_array(), np.nanmedian(data, axis=0), rtol=1e-12)
    assert not [c for c in ax.collections if c.get_gid() == "aperture"]
    assert ax.get_title().startswith(f"median of {N_FRAMES} frames")
    for bad in (N_FRAMES, -N_FRAMES - 1, 2.0, True):
        with pytest.raises(ParameterError, match="index"):
            frame_plot(model, bad, ax=Figure().add_subplot())
    for bad in (1, -1, "0", 0.0):
        with pytest.raises(ParameterError, match="guidestar"):
            frame_plot(model, ax=Figure().add_subplot(), guidestar=bad)


def test_aperture_outline_of_an_l_shape():
    mask = np.zeros((8, 8), bool)
    mask[0, 0] = mask[0, 1] = mask[1, 0] = True
    segments = aperture_outline(mask)
    assert len(segments) == _perimeter(mask) == 8
    assert any(np.allclose(s, [[-0.5, -0.5], [-0.5, 0.5]]) for s in segments)


def test_position_plot_uses_clean_fits(flagged_model):
    ax = position_plot(flagged_model, ax=Figure().add_subplot())
    points, = [c for c in ax.collections if c.get_gid() == "positions"]
    clean = np.asarray(flagged_model.quick_fit["flags"]) == 0
    assert not clean[FLAGGED].any()
    expected = np.column_stack([np.asarray(flagged_model.quick_fit["x_mean"])[clean],
                                np.asarray(flagged_model.quick_fit["y_mean"])[clean]])
    assert_allclose(points.get_offsets(), expected)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x_mean (pix)", "y_mean (pix)")


def test_position_plot_refuses_a_fit_without_a_clean_frame(model):
    copy = model.copy()
    table = np.array(copy.quick_fit)
    table["flags"][:] = 8
    with copy.trusted_assignment():
        copy.quick_fit = table
    with pytest.raises(GuideStarInputError, match="quick_fit has no clean fit"):
        position_plot(copy, ax=Figure().add_subplot())


def test_position_plot_refuses_a_fit_of_other_frames(model):
    copy = model.copy()
    with copy.trusted_assignment():
        copy.quick_fit = np.array(copy.quick_fit)[:-7]
    with pytest.raises(GuideStarInputError,
                       match=f"quick_fit has {N_FRAMES - 7} rows but the model has "
                                         f"{N_FRAMES} frames"):
        position_plot(copy, ax=Figure().add_subplot())


def test_relative_flux_of_selected_frames(visit, model, monkeypatch):
    from spelunker.plotting import timeseries

    raw = read_guidestar(visit.files)  # no light curve: the full-frame sum
    summed = []

    def spy(data, **kwargs):
        summed.append(len(data))
        return full_frame_flux(data, **kwargs)

    monkeypatch.setattr(timeseries, "full_frame_flux", spy)
    relative, flux, source = relative_flux(raw, frames=slice(100, 130))
    assert summed == [30] and source == "full frame"
    expected, _ = full_frame_flux(np.asarray(raw.data[100:130]), dq=np.asarray(raw.dq[100:130]))
    assert_allclose(flux, expected, rtol=1e-12)
    assert_allclose(relative, expected / np.median(expected), rtol=1e-12)
    relative, flux, source = relative_flux(model, frames=[5, 6, 7])
    lightcurve = np.asarray(model.lightcurve["flux"])[[5, 6, 7]]
    assert source == "optimised aperture"
    assert_allclose(relative, lightcurve / np.median(lightcurve), rtol=1e-12)


# --------------------------------------------------------------------------
# Animation


@pytest.mark.parametrize(("start", "stop", "step"), [(10, 40, 3), (0, 5, 1), (1490, 1500, 4)])
def test_animation_has_the_requested_frames(model, tmp_path, start, stop, step):
    path = flux_spatial_timelapse_animation(model, start, stop, tmp_path / "movie.gif",
                                            step=step, fps=20)
    with Image.open(path) as movie:
        assert movie.format == "GIF"
        assert movie.n_frames == len(range(start, stop, step))


@pytest.mark.parametrize(("start", "stop", "step", "message"), [
    (5, 5, 1, "non-empty range"),
    (10, 2, 1, "non-empty range"),
    (-1, 10, 1, "non-empty range"),
    (0, N_FRAMES + 1, 1, "non-empty range"),
    (0, 10, 0, "step=0"),
    (0, 10.5, 1, "stop=10.5"),
    (True, 10, 1, "start=True"),
])
def test_animation_bad_ranges(model, tmp_path, start, stop, step, message):
    with pytest.raises(ValueError, match=message):
        flux_spatial_timelapse_animation(model, start, stop, tmp_path / "m.gif", step=step)
    assert not list(tmp_path.iterdir())


def test_animation_mp4_without_ffmpeg(model, tmp_path, monkeypatch):
    monkeypatch.setitem(matplotlib.rcParams, "animation.ffmpeg_path",
                        str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(ParameterError, match="ffmpeg.*not installed.*\\.gif"):
        flux_spatial_timelapse_animation(model, 0, 10, tmp_path / "movie.mp4")
    assert not (tmp_path / "movie.mp4").exists()
    with pytest.raises(ValueError, match=".gif.*.mp4"):
        flux_spatial_timelapse_animation(model, 0, 10, tmp_path / "movie.avi")


def test_animation_mp4_with_ffmpeg(model, tmp_path):
    from matplotlib import animation

    if not animation.writers.is_available("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    path = flux_spatial_timelapse_animation(model, 0, 12, tmp_path / "movie.mp4", step=2)
    assert path.stat().st_size > 0
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("ffprobe is not installed: the MP4 was written, its frames not counted")
    counted = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=nb_read_frames,codec_type", "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60)
    stream, = json.loads(counted.stdout)["streams"]
    assert stream["codec_type"] == "video"
    assert int(stream["nb_read_frames"]) == len(range(0, 12, 2))


@pytest.fixture(scope="module")
def two_star_model(tmp_path_factory):
    """Two visits on two guide stars at different pixels, one aperture per star."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("two_star_visit"),
        visits=[datasets.VisitSpec(visit=1, n_frames=400, n_segments=1, x_mean=2.6, y_mean=2.8),
                datasets.VisitSpec(visit=2, n_frames=300, n_segments=1, x_mean=4.6, y_mean=4.4)],
        seed=31,
    )
    # The steps on the whole input: one model of both visits.
    model = GuideStarFitStep.call(read_guidestar(visit.files), method="quick")
    return PhotometryOptimizeStep.call(model, per_guidestar=True, bin_size=2.0)


def test_animation_outlines_each_frames_own_aperture(two_star_model, tmp_path, monkeypatch):
    """Across a guide-star change the outline follows the star of the frame shown."""
    model = two_star_model
    groups = np.asarray(model.frames["guidestar_index"])
    masks = [aperture_of(model, star) for star in (0, 1)]
    assert masks[0] is not None and masks[1] is not None and (masks[0] != masks[1]).any()
    shown = []
    draw = animation_module._Scene.draw

    def spy(scene, k):
        artists = draw(scene, k)
        shown.append([np.asarray(segment) for segment in scene.aperture.get_segments()])
        return artists

    monkeypatch.setattr(animation_module._Scene, "draw", spy)
    start, stop, step = 390, 410, 2
    path = flux_spatial_timelapse_animation(model, start, stop, tmp_path / "change.gif", step=step)
    with Image.open(path) as movie:
        assert movie.n_frames == len(range(start, stop, step))
    drawn = shown[-len(range(start, stop, step)):]  # the frames written to the file
    for index, segments in zip(range(start, stop, step), drawn, strict=True):
        expected = aperture_outline(masks[groups[index]])
        assert len(segments) == len(expected), index
        assert all(np.allclose(a, b) for a, b in zip(segments, expected, strict=True)), index
    assert {groups[i] for i in range(start, stop, step)} == {0, 1}


def test_animation_reads_only_its_clip_and_avoids_pyplot(visit, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from spelunker.plotting import timeseries

    raw = read_guidestar(visit.files)  # no light curve: the clip's frames are summed
    summed, curves = [], []
    monkeypatch.setattr(timeseries, "full_frame_flux",
                        lambda data, **kwargs: summed.append(len(data)) or full_frame_flux(
                            data, **kwargs))

    def refuse(*args, **kwargs):
        msg = "the animation used pyplot"
        raise AssertionError(msg)

    monkeypatch.setattr(plt, "figure", refuse)
    monkeypatch.setattr(plt, "subplots", refuse)
    draw = animation_module._Scene.draw

    def spy(scene, k):
        curves.append((scene.elapsed.copy(), scene.curve.copy()))
        return draw(scene, k)

    monkeypatch.setattr(animation_module._Scene, "draw", spy)
    flux_spatial_timelapse_animation(raw, 600, 610, tmp_path / "clip.gif")
    assert summed == [10]
    elapsed, curve = curves[-1]
    flux, _ = full_frame_flux(np.asarray(raw.data[600:610]), dq=np.asarray(raw.dq[600:610]))
    assert_allclose(curve, flux / np.median(flux), rtol=1e-12)
    seconds, _ = _seconds(raw)
    assert_allclose(elapsed, seconds[600:610] - seconds[600], rtol=0, atol=1e-6)


def test_frame_plot_median_of_the_second_guide_star(two_star_model):
    stars = [str(name) for name in two_star_model.table("guidestars")["gs_id"]]
    ax = frame_plot(two_star_model, ax=Figure().add_subplot(), guidestar=1)
    assert ax.get_title() == f"median of 300 frames (guide star {stars[1]})"
    with pytest.raises(ParameterError, match="guidestar=2 must be between 0 and 1"):
        frame_plot(two_star_model, ax=Figure().add_subplot(), guidestar=2)


def test_local_events_look_like_the_same_events_of_find_events(two_star_model):
    """A guide-star change or HGA move has one colour whichever table it comes from."""
    assert LOCAL_EVENT_STYLES["GUIDESTAR"]["color"] == EVENT_STYLES["guide_star_change"]["color"]
    assert LOCAL_EVENT_STYLES["HGA"]["color"] == EVENT_STYLES["hga_move"]["color"]
    ax = timeseries_binned_plot(two_star_model, ax=Figure().add_subplot())
    line, = plotting.plot_local_events(ax, local_events(two_star_model, "GUIDESTAR"),
                                       "GUIDESTAR")
    assert (line.get_gid(), line.get_label(), line.get_linestyle()) == (
        "GUIDESTAR", "guide-star change", "--")
    assert line.get_color() == EVENT_STYLES["guide_star_change"]["color"]


# --------------------------------------------------------------------------
# A user's wrong argument gives a ParameterError naming it


NOT_A_MODEL = [None, "visit.fits", 5, object()]


@pytest.mark.parametrize("value", NOT_A_MODEL)
@pytest.mark.parametrize("call", [
    pytest.param(lambda m, folder: frame_plot(m, ax=Figure().add_subplot()), id="frame_plot"),
    pytest.param(lambda m, folder: relative_flux(m), id="relative_flux"),
    pytest.param(lambda m, folder: flux_spatial_timelapse_animation(m, 0, 10,
                                                                    folder / "m.gif"),
                 id="animation"),
    pytest.param(lambda m, folder: report_entry(m, folder / "p.html"), id="report_entry"),
])
def test_figures_refuse_what_is_not_a_model(call, value, tmp_path):
    with pytest.raises(ParameterError, match="must be a GuideStarModel"):
        call(value, tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def events():
    return QTable({"kind": ["tilt", "gap"], "start": Time([60000.5, 60000.6], format="mjd"),
                   "end": Time([60000.5, 60000.7], format="mjd")})


AXIS = TimeAxis(Time(60000.0, format="mjd"), "s")
MOVES = Table({"start": [60000.1], "stop": [60000.2]})
CURRENT = Table({"time": [60000.0, 60000.001], "value": [0.1, 0.3]},
                meta={"mnemonic": "INIS_FWMTRCURR"})


@pytest.mark.parametrize("value", [None, "x", 5, Figure()])
@pytest.mark.parametrize("call", [
    pytest.param(lambda ax, m, ev: plotting.plot_event_table(ax, ev), id="plot_event_table"),
    pytest.param(lambda ax, m, ev: plotting.plot_intervals(ax, MOVES, label="HGA", color="C1",
                                                           gid="HGA"), id="plot_intervals"),
    pytest.param(lambda ax, m, ev: plotting.plot_events(ax, [60000.1], label="l", color="C1",
                                                        gid="g"), id="plot_events"),
    pytest.param(lambda ax, m, ev: plotting.plot_local_events(
        ax, local_events(m, "FILENAME"), "FILENAME"), id="plot_local_events"),
    pytest.param(lambda ax, m, ev: plot_mnemonic(CURRENT, ax), id="plot_mnemonic"),
    pytest.param(lambda ax, m, ev: set_time_axis(ax, AXIS), id="set_time_axis"),
    pytest.param(lambda ax, m, ev: to_axis_time(ax, 60000.1), id="to_axis_time"),
    pytest.param(lambda ax, m, ev: KeepXlim(ax), id="KeepXlim"),
])
def test_overlays_refuse_what_is_not_an_axes(call, value, model, events):
    with pytest.raises(ParameterError, match="ax=.* must be a matplotlib Axes"):
        call(value, model, events)


@pytest.mark.parametrize("value", ["x", 5, Figure()])  # None: a new figure
@pytest.mark.parametrize("call", [
    pytest.param(lambda ax, m: frame_plot(m, ax=ax), id="frame_plot"),
    pytest.param(lambda ax, m: position_plot(m, ax=ax), id="position_plot"),
    pytest.param(lambda ax, m: timeseries_binned_plot(m, ax=ax), id="binned_plot"),
])
def test_figures_refuse_an_ax_that_is_not_an_axes(call, value, model):
    with pytest.raises(ParameterError, match="ax=.* must be a matplotlib Axes"):
        call(value, model)


@pytest.mark.parametrize("value", ["x", 5, Figure().add_subplot()])  # None: a new figure
@pytest.mark.parametrize("call", [
    pytest.param(lambda fig, m: timeseries_list_plot(m, fig=fig), id="list_plot"),
    pytest.param(lambda fig, m: periodogram_plot(m, fig=fig), id="periodogram_plot"),
])
def test_figures_refuse_what_is_not_a_figure(call, value, model):
    with pytest.raises(ParameterError, match="fig=.* must be a matplotlib Figure"):
        call(value, model)


@pytest.mark.parametrize(("call", "message"), [
    (lambda ax: plotting.plot_event_table(ax, None), "events=None must be an astropy Table"),
    (lambda ax: plotting.plot_event_table(ax, Table({"kind": ["tilt"]})),
     "with 'kind' and 'start' and 'end' columns"),
    (lambda ax: plotting.plot_intervals(ax, "x", label="HGA", color="C1", gid="HGA"),
     "intervals='x' must be an astropy Table with 'start' and 'stop'"),
    (lambda ax: plotting.plot_intervals(ax, MOVES, label="HGA", color="x", gid="HGA"),
     "color='x' is not a matplotlib colour"),
    (lambda ax: plotting.plot_events(ax, [60000.1], label="l", color=5, gid="g"),
     "color=5 is not a matplotlib colour"),
    (lambda ax: plotting.plot_events(ax, [60000.1], label="l", color="C1", gid="g",
                                     linestyle="x"), "linestyle='x' is not a matplotlib"),
    (lambda ax: plotting.plot_events(ax, None, label="l", color="C1", gid="g"), "time=None"),
    (lambda ax: plotting.plot_local_events(ax, None, "FILENAME"),
     "table=None must be an astropy Table with 'time' column"),
    (lambda ax: plotting.plot_local_events(ax, Table({"time": [60000.1]}), "HGA"),
     "with 'start' and 'stop' columns"),
    (lambda ax: plot_mnemonic(CURRENT, ax, mnemonic=5), "mnemonic=5 must be a string"),
    (lambda ax: set_time_axis(ax, None), "axis=None must be a TimeAxis"),
    (lambda ax: set_time_axis(ax, "s"), "axis='s' must be a TimeAxis"),
])
def test_overlays_refuse_what_they_cannot_draw(call, message):
    ax = Figure().add_subplot()
    with pytest.raises(ParameterError, match=message):
        call(ax)
    assert not ax.lines and not ax.patches


def test_plot_events_draws_a_single_time():
    ax = Figure().add_subplot()
    line, = plotting.plot_events(ax, Time(60000.25, format="mjd"), label="l", color="C1",
                                 gid="g")
    assert line.get_xdata()[0] == 60000.25
    assert plotting.plot_events(ax, [], label="l", color="C1", gid="g") == []
    assert plotting.plot_intervals(ax, Table({"start": [], "stop": []}), label="l",
                                   color="C1", gid="g") == []


@pytest.mark.parametrize("mask", [None, "x", 5, [1, 0], np.ones((2, 2, 2))])
def test_aperture_outline_refuses_what_is_not_a_mask(mask):
    with pytest.raises(ParameterError, match="aperture_outline: mask"):
        aperture_outline(mask)


def test_aperture_outline_of_a_numeric_mask_equals_the_boolean_one():
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3] = 1
    assert_array_equal(aperture_outline(mask), aperture_outline(mask.astype(bool)))


@pytest.mark.parametrize("frames", ["x", 1.5, 5, [N_FRAMES], [0.5], object()])
def test_relative_flux_refuses_frames_it_cannot_select(model, frames):
    with pytest.raises(ParameterError, match="relative_flux: frames=.* must be a slice or frame"):
        relative_flux(model, frames=frames)


def test_relative_flux_divides_each_guide_star_by_its_own_frames(two_star_model, monkeypatch):
    """The grouping by guide star is the model's own (GuideStarModel.guidestar_frames)."""
    model = two_star_model
    stars = np.asarray(model.frames["guidestar_index"])
    flux = np.asarray(model.lightcurve["flux"], dtype=float)
    selected = np.arange(390, 420)
    relative, _, _ = relative_flux(model, frames=slice(390, 420))
    for star in (0, 1):
        mine = stars[selected] == star
        assert mine.any()
        assert_allclose(relative[mine], flux[selected][mine] / np.median(flux[selected][mine]),
                        rtol=1e-12)
    # The figure follows the model's grouping: whatever the model says are the frames of
    # each guide star is what is divided by one median.
    asked = []

    def one_star(self):
        asked.append(self)
        return [(0, np.arange(len(self.frames)))]

    monkeypatch.setattr(GuideStarModel, "guidestar_frames", one_star)
    relative, _, _ = relative_flux(model, frames=slice(390, 420))
    assert asked == [model]
    assert_allclose(relative, flux[selected] / np.median(flux[selected]), rtol=1e-12)


def test_animation_outlines_the_apertures_of_the_models_guide_stars(two_star_model, tmp_path,
                                                                    monkeypatch):
    asked = []
    grouping = GuideStarModel.guidestar_frames

    def spy(self):
        asked.append(self)
        return grouping(self)

    monkeypatch.setattr(GuideStarModel, "guidestar_frames", spy)
    flux_spatial_timelapse_animation(two_star_model, 395, 405, tmp_path / "m.gif")
    assert asked and all(model is two_star_model for model in asked)


@pytest.mark.parametrize(("options", "message"), [
    ({"vmin": "x"}, "vmin='x' must be a number"),
    ({"vmax": [1]}, "vmax=\\[1\\] must be a number"),
    ({"vmin": float("nan")}, "vmin=nan must be finite"),
    ({"dpi": 2}, "dpi=2 must be at least 10 dots per inch"),
    ({"dpi": 0}, "dpi=0 must be a finite number > 0"),
])
def test_animation_refuses_bad_scales_and_resolutions(model, tmp_path, options, message):
    with pytest.raises(ParameterError, match=message):
        flux_spatial_timelapse_animation(model, 0, 5, tmp_path / "m.gif", **options)
    assert not list(tmp_path.iterdir())
