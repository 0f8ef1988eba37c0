"""The science figure (spelunker.plotting.science) on light curves whose median is unusable.

Relative flux is the flux over the median of its finite values; a light
curve without any finite value is refused, and one whose median is zero or
negative (residuals, a background-subtracted curve) is drawn as given, with
a note.  Warnings are errors in this suite, so a division by a zero or NaN
median fails these tests.
"""

import logging

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time
from astropy.timeseries import TimeSeries
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal

from spelunker.errors import ParameterError, ScienceInputError
from spelunker.plotting.science import science_regressors_plot

N = 40


@pytest.fixture(scope="module")
def binned():
    table = TimeSeries(time=Time(60000 + np.arange(N) / 8640, format="mjd", scale="tdb"))
    table["x_mean"] = np.sin(np.arange(N) / 5) * u.pix
    table["y_mean"] = np.cos(np.arange(N) / 3) * u.pix
    return table


def drawn(fig):
    """The values drawn in the light-curve panel."""
    line = fig.axes[0].lines[0]
    return np.asarray(line.get_ydata(), dtype=float)


def test_a_usable_light_curve_is_drawn_relative_to_its_median(binned):
    flux = (1000 + 10 * np.sin(np.arange(N) / 5)) * u.DN / u.s
    flux[3] = np.nan
    fig = science_regressors_plot(binned, flux, flux_err=np.full(N, 2.0), fig=Figure())
    expected = flux.value / np.nanmedian(flux.value)
    assert_allclose(drawn(fig), expected, rtol=1e-12, equal_nan=True)
    assert fig.axes[0].get_ylabel() == "science\n(relative flux)"
    assert not [text for text in fig.axes[0].texts if text.get_gid() == "flux-note"]
    errors = fig.axes[0].containers[0].lines[2][0].get_segments()
    assert_allclose(errors[0][1, 1] - errors[0][0, 1], 4.0 / np.nanmedian(flux.value),
                    rtol=1e-12)


def test_infinite_values_do_not_set_the_median(binned):
    flux = np.full(N, 2.0)
    flux[:N // 2 + 1] = np.inf  # most values infinite: np.nanmedian would be inf
    fig = science_regressors_plot(binned, flux, fig=Figure())
    assert_array_equal(drawn(fig)[N // 2 + 1:], 1.0)


@pytest.mark.parametrize("flux", [np.full(N, np.nan), np.full(N, np.nan) * u.DN / u.s,
                                  [np.nan] * N], ids=["array", "quantity", "list"])
def test_a_light_curve_without_a_finite_value_is_refused(binned, flux):
    with pytest.raises(ScienceInputError, match=r"flux \('white light'\): none of its 40 "
                                                r"values is finite"):
        science_regressors_plot(binned, flux, fig=Figure(), label="white light")


@pytest.mark.parametrize("offset", [-1.5, -50.0], ids=["zero median", "negative median"])
def test_a_zero_or_negative_median_is_drawn_as_given(binned, offset, caplog):
    flux = (offset + np.round(5 * np.sin(np.arange(N) / 5))) * u.DN / u.s
    assert (np.median(flux.value) == 0) == (offset == -1.5)
    flux_err = np.full(N, 0.5) * u.DN / u.s
    with caplog.at_level(logging.WARNING, logger="spelunker.plotting.science"):
        fig = science_regressors_plot(binned, flux, flux_err=flux_err, fig=Figure(),
                                      label="residuals")
    assert_allclose(drawn(fig), flux.value, rtol=1e-12)
    assert fig.axes[0].get_ylabel() == "residuals [DN / s]\n(flux)"
    notes = [text.get_text() for text in fig.axes[0].texts if text.get_gid() == "flux-note"]
    assert len(notes) == 1 and "flux as given" in notes[0]
    assert "relative flux means nothing" in caplog.text
    errors = fig.axes[0].containers[0].lines[2][0].get_segments()
    assert_allclose(errors[0][1, 1] - errors[0][0, 1], 1.0, rtol=1e-12)
    assert fig.spelunker_correlation["x_mean"] > 0.99  # the correlation does not depend on it


def test_flux_err_must_match_the_flux(binned):
    flux = np.ones(N) + np.arange(N) / 100
    with pytest.raises(ParameterError, match=r"flux_err has shape \(3,\); one value per "
                                             r"integration \(40\)"):
        science_regressors_plot(binned, flux, flux_err=[1.0, 2.0, 3.0], fig=Figure())
    with pytest.raises(ParameterError, match="flux_err must be numbers"):
        science_regressors_plot(binned, flux, flux_err=["a"] * N, fig=Figure())


@pytest.mark.parametrize("fig", ["x", 5, Figure().add_subplot()])
def test_fig_must_be_a_figure(binned, fig):
    with pytest.raises(ParameterError, match="fig=.* must be a matplotlib Figure"):
        science_regressors_plot(binned, np.ones(N), fig=fig)
