"""Seeded synthetic guide-star data with known truth.

Tests, docs, benchmarks and the demo all use these generators, so every
number spelunker reports can be checked against the truth that made it.
"""

import numpy as np

from spelunker.fitting.model import gaussian2d

__all__ = [
    "countrate_from_magnitude",
    "simulate_frames",
]

#: Guider 1 count rate (DN/s) of an FGS magnitude 12 star.
COUNTRATE_MAG12 = 5.9e6

#: Gain (electrons per DN) of each guider.
GAIN = {"GUIDER1": 1.74, "GUIDER2": 1.57}

#: Read noise of one frame's count-rate estimate, DN per pixel.
READ_NOISE_DN = 12.0


def countrate_from_magnitude(fgs_mag):
    """Total count rate (DN/s) of a star of the given FGS magnitude.

    Parameters
    ----------
    fgs_mag : float or array_like
        FGS magnitude (the header's GS_MAG).

    Returns
    -------
    float or numpy.ndarray
        Count rate in DN/s (guider 1 calibration: 5.9e6 DN/s at mag 12).

    Examples
    --------
    >>> from spelunker.datasets import countrate_from_magnitude
    >>> round(countrate_from_magnitude(13.3) / 1e6, 2)
    1.78
    """
    return COUNTRATE_MAG12 * 10.0 ** (-0.4 * (np.asarray(fgs_mag, dtype=float) - 12.0))


def simulate_frames(
    n_frames,
    *,
    fgs_mag=13.3,
    x_mean=3.5,
    y_mean=3.5,
    x_stddev=0.70,
    y_stddev=0.62,
    theta=0.4,
    background=20.0,
    jitter=0.015,
    integration_time=0.0538,
    detector="GUIDER1",
    shape=(8, 8),
    seed=0,
):
    """Simulate fine-guide frames (DN/s) of one star with Poisson and read noise.

    Every shape parameter may be a scalar or an array of length ``n_frames``
    (to inject signals).  The centre of each frame is the given centre plus
    Gaussian pointing jitter.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    fgs_mag : float or array_like
        FGS magnitude; the total count rate is `countrate_from_magnitude`.
    x_mean, y_mean : float or array_like
        Star centre (pixels, column and row) before jitter.
    x_stddev, y_stddev, theta : float or array_like
        PSF shape (pixels, radians) in the convention of
        `spelunker.fitting.model`.
    background : float or array_like
        Background per pixel (DN/s).
    jitter : float
        RMS pointing jitter per axis (pixels).
    integration_time : float
        Effective integration time of one frame (seconds); sets the noise.
    detector : {'GUIDER1', 'GUIDER2'}
        Sets the gain.
    shape : tuple of int
        Frame shape (rows, columns).
    seed : int or numpy.random.Generator
        Random seed.

    Returns
    -------
    data : numpy.ndarray
        float32 (n_frames, rows, columns), DN/s.
    err : numpy.ndarray
        float32, the 1-sigma noise of each pixel (DN/s) from the noiseless
        model, as a calibrated product's ERR.
    truth : dict of numpy.ndarray
        The seven true parameters per frame (``amplitude`` in DN/s per
        pixel at the peak, ``offset`` = background) and ``flux``, the true
        total count rate (DN/s).

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> data, err, truth = simulate_frames(10, seed=1)
    >>> data.shape, data.dtype.name
    ((10, 8, 8), 'float32')
    """
    rng = np.random.default_rng(seed)
    n = int(n_frames)
    gain = GAIN[detector]

    def per_frame(value):
        return np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()

    flux = per_frame(countrate_from_magnitude(fgs_mag))
    sx = per_frame(x_stddev)
    sy = per_frame(y_stddev)
    th = per_frame(theta)
    bkg = per_frame(background)
    xc = per_frame(x_mean) + rng.normal(0.0, jitter, n)
    yc = per_frame(y_mean) + rng.normal(0.0, jitter, n)
    amplitude = flux / (2.0 * np.pi * sx * sy)

    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    model = gaussian2d(
        cols[None], rows[None],
        amplitude[:, None, None], xc[:, None, None], yc[:, None, None],
        sx[:, None, None], sy[:, None, None], th[:, None, None], bkg[:, None, None],
    )
    # Poisson noise on electrons collected in one integration, back to DN/s.
    electrons = np.clip(model, 0.0, None) * gain * integration_time
    read_noise_rate = READ_NOISE_DN / integration_time
    variance = electrons / (gain * integration_time) ** 2 + read_noise_rate**2
    data = rng.poisson(electrons) / (gain * integration_time)
    data += rng.normal(0.0, read_noise_rate, data.shape)
    truth = {
        "amplitude": amplitude,
        "x_mean": xc,
        "y_mean": yc,
        "x_stddev": sx,
        "y_stddev": sy,
        "theta": th,
        "offset": bkg,
        "flux": flux,
    }
    return data.astype(np.float32), np.sqrt(variance).astype(np.float32), truth
