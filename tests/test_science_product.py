"""The guide star on the science cadence, end to end on a synthetic science product.

A synthetic visit whose guide star wobbles in x, fitted and measured by the
steps, and a synthetic NIRSpec ``rateints`` product whose light curve shares
that wobble (`spelunker.datasets.make_science_product`, whose INT_TIMES are
computed by astropy from an L2-like orbit, independently of spelunker).
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import datasets
from spelunker.barycentric import Ephemeris, barycentric_times, bjd_from_int_times
from spelunker.datasets import CentroidWobble, VisitSpec
from spelunker.errors import ScienceInputError
from spelunker.plotting.science import science_regressors_plot
from spelunker.science import (
    bin_to_integrations,
    design_matrix,
    frame_times_bjd,
    integration_times,
    science_light_curve,
)
from spelunker.session import Spelunker
from spelunker.stpipe import GuideStarFitStep, PhotometryOptimizeStep


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("guided"),
        visits=[VisitSpec(observation=3, visit=2, n_frames=2400, n_segments=2, fgs_mag=13.0)],
        signals=[CentroidWobble(period=7.0, amplitude=0.05, axis="x")], seed=8)


@pytest.fixture(scope="module")
def science(visit, tmp_path_factory):
    return datasets.make_science_product(tmp_path_factory.mktemp("science"), visit,
                                         integration_time=1.0, start_offset=5.0,
                                         coefficient=0.05, depth=0.002, transit_time=30.0,
                                         noise=2e-4, seed=4)


@pytest.fixture(scope="module")
def model(visit):
    fitted = GuideStarFitStep.call(visit.files, method="gauss")
    return PhotometryOptimizeStep.call(fitted)


@pytest.fixture(scope="module")
def binned(model, science):
    return bin_to_integrations(model, science.path)


def test_rows_are_the_integrations_in_bjd_tdb(binned, science):
    assert len(binned) == len(science.int_times)
    assert binned.time.scale == "tdb"
    assert_allclose((binned.time - science.int_times["mid_bjd"]).to_value(u.s), 0, atol=1e-6)
    assert_array_equal(binned["n_frames"], science.frames_per_integration)
    assert binned.meta["SCIENCE"] == science.path.name


def test_binned_truth_matches_the_products_systematic(model, binned, science):
    # The fitted x_mean binned onto the integrations follows the true binned wobble.
    fitted = binned["x_mean"].value - np.nanmean(binned["x_mean"].value)
    truth = science.binned_systematic - np.mean(science.binned_systematic)
    assert np.corrcoef(fitted, truth)[0, 1] > 0.95


def test_the_shared_systematic_has_the_highest_correlation(binned, science):
    flux = science_light_curve(science.path)
    assert_allclose(flux.value, science.observed.value, rtol=1e-5)
    correlation = design_matrix(binned).correlation(flux)
    best = max(correlation, key=lambda name: abs(correlation[name]))
    assert best == science.systematic == "x_mean"
    assert correlation["x_mean"] > 0.5
    others = [abs(value) for name, value in correlation.items() if name != "x_mean"]
    assert max(others) < 0.5 * correlation["x_mean"]


def test_the_figure_shows_it(binned, science):
    flux = science_light_curve(science.path)
    fig = science_regressors_plot(binned, flux, fig=Figure())
    best = [ax for ax in fig.axes if ax.get_gid() == "best-regressor"]
    assert len(best) == 1 and best[0].get_ylabel() == "x_mean [pix]"
    assert fig.axes[0].get_ylabel().startswith("science")
    x_data = fig.axes[0].lines[0].get_xdata()
    assert_allclose(x_data, (binned.time - binned.time[0]).to_value(u.h))
    assert "BJD_TDB" in fig.axes[-1].get_xlabel()


def test_int_times_route_and_ephemeris_route_agree(model, science):
    from_int_times = frame_times_bjd(model, science.path)
    ephemeris = Ephemeris.from_header(science.path)
    from_ephemeris = frame_times_bjd(model, target=science.target, observer=ephemeris)
    assert from_int_times.scale == from_ephemeris.scale == "tdb"
    assert np.max(np.abs((from_int_times - from_ephemeris).to_value(u.s))) < 1e-3
    # And both follow the truth the product was made with at its integrations.
    mid = Time(science.int_times["mid"])
    assert np.max(np.abs((barycentric_times(mid, science.target, observer=ephemeris)
                          - science.int_times["mid_bjd"]).to_value(u.s))) < 1e-3
    table = integration_times(science.path)
    assert table.time_source == "INT_TIMES"
    assert abs(table.target.ra.deg - science.target.ra.deg) < 1e-9
    assert bjd_from_int_times is not None


def test_arrays_with_the_products_ephemeris_agree_with_int_times(model, science, binned):
    ephemeris = Ephemeris.from_header(science.path)
    times = science.int_times
    by_arrays = bin_to_integrations(model, (times["start"], times["end"]),
                                    target=science.target, observer=ephemeris)
    assert_allclose((by_arrays.time - binned.time).to_value(u.s), 0, atol=1e-3)
    assert_array_equal(by_arrays["n_frames"], binned["n_frames"])
    assert_allclose(by_arrays["x_mean"].value, binned["x_mean"].value, rtol=1e-12)


def test_notebook_session_bin_to_science(model, science, tmp_path):
    session = Spelunker(tmp_path)
    session._set_model(model.copy())
    binned = session.bin_to_science(science.path, fig=Figure())
    assert binned is session.science_binned and len(binned) == len(science.int_times)
    assert session.science_figure is not None
    assert max(session.science_figure.spelunker_correlation,
               key=lambda k: abs(session.science_figure.spelunker_correlation[k])) == "x_mean"
    frames = session.to_timeseries()
    assert len(frames) == len(model.frames)


def test_session_bins_a_product_whose_light_curve_cannot_be_drawn(model, science, tmp_path,
                                                                   caplog):
    blank = tmp_path / science.path.name
    with fits.open(science.path) as hdul:
        hdul["SCI"].data[:] = np.nan
        hdul.writeto(blank)
    session = Spelunker(tmp_path)
    session._set_model(model.copy())
    binned = session.bin_to_science(blank, fig=Figure())
    assert len(binned) == len(science.int_times)
    assert session.science_figure is None
    assert "no science light curve to draw" in caplog.text
    # A light curve the user passes that cannot be drawn is the user's error.
    with pytest.raises(ScienceInputError, match="finite"):
        session.bin_to_science(science.path, flux=np.full(len(binned), np.nan), fig=Figure())


def test_int_times_route_of_an_open_model_equals_the_files(model, science):
    from stdatamodels.jwst.datamodels import CubeModel

    from_path = frame_times_bjd(model, science.path)
    with CubeModel(science.path) as opened:
        from_model = frame_times_bjd(model, opened)
    assert from_model.info.meta["time_source"] == f"INT_TIMES of {science.path.name}"
    assert_allclose((from_model - from_path).to_value(u.s), 0, atol=1e-9)
