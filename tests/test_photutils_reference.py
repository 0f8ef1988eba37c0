"""spelunker's centroids and aperture sums against photutils, an independent reference.

Coordinate convention: spelunker (`spelunker.fitting.model`) and
photutils (like astropy) both put pixel centres at integer coordinates,
``x`` the column and ``y`` the row of ``data[row, column]``, so an 8x8 frame
spans -0.5 .. 7.5 in both.  photutils' centroid functions build their grid
with ``np.indices`` and its apertures place pixel ``(row, column)`` at
``x = column, y = row`` with edges at +-0.5: the numbers compare directly,
with no offset.  The star is put off centre and at different x and y
(3.3, 3.8), so a half-pixel offset or swapped x/y is a 0.2-0.5 px error,
hundreds of times the tolerances below.

photutils 3.0 is quiet on these frames (no AstropyUserWarning from
``centroid_2dg``: every fit converges), so no warning filter is needed; the
suite's ``filterwarnings = error`` would turn any new warning into a failure.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from photutils.aperture import ApertureStats, RectangularAperture, aperture_photometry
from photutils.centroids import centroid_2dg, centroid_com

from spelunker.datasets import simulate_frames
from spelunker.fitting import fit_gaussian_frames, fit_moments_frames
from spelunker.photometry import aperture_flux, optimize_aperture

N_FRAMES = 300
X0, Y0 = 3.3, 3.8
BACKGROUND = 20.0


@pytest.fixture(scope="module")
def frames():
    data, err, truth = simulate_frames(N_FRAMES, fgs_mag=13.3, x_mean=X0, y_mean=Y0,
                                       background=BACKGROUND, seed=11)
    return data, err, truth


def test_gaussian_centroid_matches_photutils_centroid_2dg(frames):
    data, err, truth = frames
    fit = fit_gaussian_frames(data, err)
    assert np.all(fit["flags"] == 0)
    # centroid_2dg fits a Gaussian2D *without* a constant (after its
    # moments start), weighted by 1/error: give it the frames minus the
    # simulation's known background.  Both are then weighted least squares
    # of the same model; measured on these frames (seed 11) they agree to
    # |dx| <= 1.2e-5 px (std 2.6e-6 px), the residual difference being
    # spelunker's free offset.  Each frame's statistical centroid error is
    # 1.7e-3 px (std of fit - truth), so 1e-4 px is ~8x the worst measured
    # difference and still 17x below the noise: a fitter that merely lands
    # near the truth would fail it, a convention error fails it by 2000x.
    reference = np.array([centroid_2dg(d - BACKGROUND, error=e)
                          for d, e in zip(data.astype(float), err.astype(float))])
    assert_allclose(fit["x_mean"], reference[:, 0], rtol=0, atol=1e-4)
    assert_allclose(fit["y_mean"], reference[:, 1], rtol=0, atol=1e-4)
    # Sanity on the truth: both estimate the true centre to the noise.
    assert_allclose(reference[:, 0], truth["x_mean"], rtol=0, atol=0.01)
    assert_allclose(reference[:, 1], truth["y_mean"], rtol=0, atol=0.01)


def test_moments_centroid_matches_photutils_centroid_com(frames):
    data, err, _ = frames
    quick = fit_moments_frames(data, err)
    # spelunker's moments centroid (fit_moments_frames docstring): the
    # centre of mass of the background-subtracted pixels more than 2 err
    # above the background, the background being the median of the 28
    # border pixels.  Rebuilt here with numpy for the selection and
    # photutils' centroid_com (mask=True drops a pixel) for the centre of
    # mass: the same arithmetic, so float64 precision (measured max 4.4e-16 px).
    border = np.ones((8, 8), dtype=bool)
    border[1:-1, 1:-1] = False
    reference = []
    for d, e in zip(data.astype(float), err.astype(float)):
        signal = d - np.median(d[border])
        reference.append(centroid_com(signal, mask=~(signal > 2.0 * e)))
    reference = np.array(reference)
    assert_allclose(quick["x_mean"], reference[:, 0], rtol=0, atol=1e-9)
    assert_allclose(quick["y_mean"], reference[:, 1], rtol=0, atol=1e-9)
    # The plain centre of mass of all pixels is a different (noisier)
    # estimator; it still agrees with the Gaussian fit to a few noise sigmas
    # (measured: mean |bias| 1.7e-3 px, max 7.4e-3 px).
    plain = np.array([centroid_com(d - BACKGROUND) for d in data.astype(float)])
    fit = fit_gaussian_frames(data, err)
    assert_allclose(fit["x_mean"], plain[:, 0], rtol=0, atol=0.02)
    assert_allclose(fit["y_mean"], plain[:, 1], rtol=0, atol=0.02)


def test_box_aperture_sum_matches_photutils_exact_rectangle(frames):
    data, err, _ = frames
    # Rows 2..4 and columns 1..4: with pixel centres at integers the box is
    # x in [0.5, 4.5], y in [1.5, 4.5], i.e. a 4 x 3 rectangle centred at
    # (2.5, 3.0) covering whole pixels, so method='exact' sums them with
    # weight 1.  A half-pixel convention error would cut pixels in half.
    box = np.zeros((8, 8), dtype=bool)
    box[2:5, 1:5] = True
    flux, flux_err, n_pixels = aperture_flux(data, err, mask=box)
    aperture = RectangularAperture((2.5, 3.0), w=4, h=3)
    reference = np.array([aperture_photometry(d, aperture, method="exact")["aperture_sum"][0]
                          for d in data])
    assert np.all(n_pixels == 12)
    assert_allclose(flux, reference, rtol=1e-12, atol=0)


def test_optimized_aperture_sum_matches_photutils_masked_sum(frames):
    data, err, _ = frames
    times = np.arange(N_FRAMES) * 0.0538
    result = optimize_aperture(data, err, times=times, bin_size=1.0)
    mask = result.masks[0].astype(bool)
    assert 1 < mask.sum() < 64
    flux, flux_err, _ = aperture_flux(data, err, mask=mask)
    # The whole frame as a rectangle (every pixel weight 1 with 'exact'),
    # with photutils' mask= dropping the pixels outside spelunker's aperture.
    frame = RectangularAperture((3.5, 3.5), w=8, h=8)
    stats = [ApertureStats(d, frame, error=e, mask=~mask, sum_method="exact")
             for d, e in zip(data, err)]
    reference = np.array([s.sum for s in stats], dtype=float)
    reference_err = np.array([s.sum_err for s in stats], dtype=float)
    # Both sum float32 pixels in float64: measured identical (0 difference).
    assert_allclose(flux, reference, rtol=1e-12, atol=0)
    assert_allclose(result.flux, reference, rtol=1e-12, atol=0)
    # photutils squares the float32 ERR in float32 (measured 1.3e-8 relative).
    assert_allclose(flux_err, reference_err, rtol=1e-6, atol=0)
