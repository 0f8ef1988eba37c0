"""Every quick-look figure made from the demo visit, checked on its data.

The visit is the one ``make demo`` uses (`spelunker.datasets.sample_visit`: 6,000
frames, a 1 per cent transit, a 2 per cent flare, a 3 s centroid wobble in x and a
47 s flux modulation), run through the pipeline with the demo's default parameter file
(`spelunker.stpipe.parameter_file('pipeline')`), in-process.
"""

import base64
from html.parser import HTMLParser

import numpy as np
import pytest
from astropy.time import Time
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from spelunker import GuideStarPipeline, datasets
from spelunker.periodogram import FIT_PARAMETERS
from spelunker.plotting import (
    flux_spatial_timelapse_animation,
    frame_plot,
    periodogram_plot,
    position_plot,
    time_axis,
    timeseries_binned_plot,
    timeseries_list_plot,
    write_visit_report,
)
from spelunker.plotting.report import REPORT_FIGURES
from spelunker.stpipe import parameter_file


@pytest.fixture(scope="session")
def demo_visit(tmp_path_factory):
    return datasets.sample_visit(tmp_path_factory.mktemp("demo_visit"))


@pytest.fixture(scope="session")
def demo_model(demo_visit):
    """What ``python -m spelunker.demo`` computes (it runs strun with the same file)."""
    return GuideStarPipeline.call(demo_visit.files, config_file=parameter_file("pipeline"))


def _signal(visit, kind):
    found = [signal for signal in visit.signals if isinstance(signal, kind)]
    assert len(found) == 1, f"the demo visit should hold one {kind.__name__}"
    return found[0]


def _line(ax, gid):
    found = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(found) == 1, f"expected one line {gid!r}, found {len(found)}"
    return found[0]


def _seconds(model):
    times = Time(np.asarray(model.frames["mid_time_mjd"]), format="mjd", scale="utc")
    return (times - times[0]).to_value("s")


def test_the_demo_model(demo_visit, demo_model):
    assert len(demo_model.data) == len(demo_visit.truth) == 6000
    assert demo_model.meta.spelunker.fit_method == "gauss"
    assert demo_model.hasattr("lightcurve") and demo_model.hasattr("periodogram")


def test_binned_light_curve_equals_an_independent_binning(demo_visit, demo_model):
    bin_size = 1.0  # the demo's light_curve.png
    ax = timeseries_binned_plot(demo_model, bin_size=bin_size, ax=Figure().add_subplot())
    seconds = _seconds(demo_model)
    flux = np.asarray(demo_model.lightcurve["flux"], dtype=float)
    relative = flux / np.nanmedian(flux)
    groups = {}
    for t, value in zip(seconds, relative, strict=True):
        if np.isfinite(value):
            groups.setdefault(int(t // bin_size), []).append((t, value))
    expected_t = np.array([np.mean([t for t, _ in groups[k]]) for k in sorted(groups)])
    expected_v = np.array([np.mean([v for _, v in groups[k]]) for k in sorted(groups)])

    bins = _line(ax, "bins")
    x, y = np.asarray(bins.get_xdata()), np.asarray(bins.get_ydata())
    keep = np.isfinite(y)
    axis = time_axis(ax)
    assert axis.unit == "min" and ax.get_xlabel() == axis.label  # 323 s: minutes
    assert_allclose(x[keep] * axis.seconds_per_unit, expected_t, rtol=0, atol=1e-6)
    assert_allclose(y[keep], expected_v, rtol=1e-12)
    # The injected transit is the dip of the binned curve.
    transit = _signal(demo_visit, datasets.Transit)
    lowest = expected_t[np.argmin(expected_v)]
    assert abs(lowest - transit.mid_time) < transit.duration / 2
    assert_allclose(1.0 - expected_v.min(), transit.depth, atol=0.004)


def test_list_plot_shows_the_fit_with_flagged_frames_hidden(demo_model):
    fig = timeseries_list_plot(demo_model, fig=Figure())
    assert len(fig.axes) == 8
    table = np.asarray(demo_model.gauss_fit)
    bad = np.asarray(table["flags"]) != 0
    seconds = _seconds(demo_model)
    for ax, name in zip(fig.axes, (*FIT_PARAMETERS, "flux"), strict=True):
        assert ax.get_ylabel().startswith(name)
        values = _line(ax, "values")
        assert_allclose(np.asarray(values.get_xdata()) * time_axis(ax).seconds_per_unit,
                        seconds, rtol=0, atol=1e-6)
        if name == "flux":
            expected = np.asarray(demo_model.lightcurve["flux"], dtype=float)
        else:
            expected = np.array(table[name], dtype=float)
            expected[bad] = np.nan
        assert_allclose(values.get_ydata(), expected, rtol=1e-12)
    assert f"{len(bad) - bad.sum()} of {len(bad)} fits clean" in fig.axes[0].get_title()


def test_periodogram_of_x_mean_peaks_at_the_injected_wobble(demo_visit, demo_model):
    wobble = _signal(demo_visit, datasets.CentroidWobble)
    assert wobble.axis == "x"
    fig = periodogram_plot(demo_model, fig=Figure())
    ax, = [ax for ax in fig.axes if ax.get_visible() and ax.get_title() == "x_mean"]
    power = _line(ax, "power")
    period, values = np.asarray(power.get_xdata()), np.asarray(power.get_ydata())
    stored = np.asarray(demo_model.periodogram)
    assert_allclose(period, 1.0 / stored["frequency"], rtol=1e-12)
    assert_array_equal(values, stored["x_mean"])
    assert_allclose(period[np.nanargmax(values)], wobble.period, rtol=0.01)
    assert ax.get_xscale() == "log"


def _boundary_edges(mask):
    """Every pixel edge between a pixel of the mask and one outside it (or the border)."""
    padded = np.pad(mask, 1)
    edges = set()
    rows, columns = mask.shape
    for row in range(-1, rows):
        for column in range(-1, columns):
            here = padded[row + 1, column + 1]
            if here != padded[row + 2, column + 1]:  # between (row, column) and (row + 1, ...)
                edges.add(((column - 0.5, row + 0.5), (column + 0.5, row + 0.5)))
            if here != padded[row + 1, column + 2]:  # between (row, column) and (..., column + 1)
                edges.add(((column + 0.5, row - 0.5), (column + 0.5, row + 0.5)))
    return edges


def test_median_frame_and_its_aperture(demo_model):
    ax = frame_plot(demo_model, ax=Figure().add_subplot())
    data = np.asarray(demo_model.data, dtype=float)
    assert_allclose(ax.images[0].get_array(), np.nanmedian(data, axis=0), rtol=1e-6)
    mask = np.asarray(demo_model.aperture_mask)[0] != 0
    assert 0 < mask.sum() < mask.size
    outline, = [c for c in ax.collections if c.get_gid() == "aperture"]
    drawn = {tuple(sorted(tuple(float(v) for v in point) for point in segment))
             for segment in outline.get_segments()}
    assert len(drawn) == len(outline.get_segments())  # no edge drawn twice
    assert drawn == {tuple(sorted(edge)) for edge in _boundary_edges(mask)}


def test_position_plot_shows_the_clean_fit_centres(demo_model):
    ax = position_plot(demo_model, ax=Figure().add_subplot())
    points, = [c for c in ax.collections if c.get_gid() == "positions"]
    clean = np.asarray(demo_model.gauss_fit["flags"]) == 0
    expected = np.column_stack([np.asarray(demo_model.gauss_fit["x_mean"])[clean],
                                np.asarray(demo_model.gauss_fit["y_mean"])[clean]])
    assert_allclose(points.get_offsets(), expected, rtol=1e-12)


def test_animation_has_the_requested_frames(demo_model, tmp_path):
    start, stop, step = 2900, 2960, 5
    path = flux_spatial_timelapse_animation(demo_model, start, stop, tmp_path / "demo.gif",
                                            step=step)
    with Image.open(path) as movie:
        assert movie.format == "GIF"
        assert movie.n_frames == len(range(start, stop, step)) == 12


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images[attrs["alt"].split()[0]] = attrs["src"]


def test_report_embeds_every_figure(demo_model, tmp_path):
    page = write_visit_report(demo_model, tmp_path)
    assert page.name == "jw01534001001_report.html"
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    time_domain = ["timedomain"] if demo_model.hasattr("variability") else []  # issue 21
    fitted = demo_model.hasattr("gauss_fit") or demo_model.hasattr("quick_fit")
    pointing = ["jitter"] if fitted else []  # issue 22
    assert sorted(parser.images) == sorted([*REPORT_FIGURES, *time_domain, *pointing])
    for name, source in parser.images.items():
        assert source.startswith("data:image/png;base64,")
        embedded = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert embedded == (tmp_path / f"jw01534001001_{name}.png").read_bytes()
