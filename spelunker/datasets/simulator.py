"""Simulate noisy fine-guide frames of one star (the frame simulator).

The lowest piece of `spelunker.datasets`: the count rate of a star of a
given FGS magnitude, and frames of an elongated Gaussian PSF
(`spelunker.fitting.model.gaussian2d`) with pointing jitter, Poisson and
read noise, and the matching ERR.  It knows nothing of files or visits.

Examples
--------
>>> from spelunker.datasets.simulator import simulate_frames
>>> data, err, truth = simulate_frames(5, seed=2)
>>> data.shape, sorted(truth)[:3]
((5, 8, 8), ['amplitude', 'flux', 'offset'])
"""

import numpy as np

from spelunker._validate import check_finite_float, check_positive_float, check_positive_int
from spelunker.errors import ParameterError
from spelunker.fitting.model import gaussian2d

__all__ = [
    "COUNTRATE_MAG12",
    "GAIN",
    "READ_NOISE_DN",
    "check_detector",
    "check_seed",
    "countrate_from_magnitude",
    "simulate_frames",
]

#: Guider 1 count rate (DN/s) of an FGS magnitude 12 star.
COUNTRATE_MAG12 = 5.9e6

#: Gain (electrons per DN) of each guider.
GAIN = {"GUIDER1": 1.74, "GUIDER2": 1.57}

#: Read noise of one frame's count-rate estimate, DN per pixel.
READ_NOISE_DN = 12.0


def check_detector(value, name="detector", *, where=None):
    """Return ``value`` if it is a guider of `GAIN`, else raise `~spelunker.errors.ParameterError`.

    Examples
    --------
    >>> from spelunker.datasets.simulator import check_detector
    >>> check_detector("GUIDER2")
    'GUIDER2'
    """
    if not isinstance(value, str) or value not in GAIN:
        text = f"{name} must be one of {sorted(GAIN)}, got {value!r}"
        raise ParameterError(f"{where}: {text}" if where else text)
    return value


def check_seed(value, *, where=None):
    """Return ``value`` as an int if it is a whole number >= 0 (a seed of every generator).

    Examples
    --------
    >>> from spelunker.datasets.simulator import check_seed
    >>> check_seed(1534)
    1534
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or (
            value < 0):
        text = f"seed={value!r} must be an integer >= 0"
        raise ParameterError(f"{where}: {text}" if where else text)
    return int(value)


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

    Raises
    ------
    spelunker.errors.ParameterError
        ``fgs_mag`` is not a number or an array of numbers.

    Examples
    --------
    >>> from spelunker.datasets import countrate_from_magnitude
    >>> round(float(countrate_from_magnitude(13.3)) / 1e6, 2)
    1.78
    """
    try:
        magnitude = np.asarray(fgs_mag, dtype=float)
    except (TypeError, ValueError):
        msg = f"countrate_from_magnitude: fgs_mag={fgs_mag!r} must be a number or numbers"
        raise ParameterError(msg) from None
    return COUNTRATE_MAG12 * 10.0 ** (-0.4 * (magnitude - 12.0))


def _check_shape(shape):
    try:
        rows, columns = shape
    except (TypeError, ValueError):
        msg = f"simulate_frames: shape={shape!r} must be (rows, columns)"
        raise ParameterError(msg) from None
    return (check_positive_int(rows, "shape[0]", where="simulate_frames"),
            check_positive_int(columns, "shape[1]", where="simulate_frames"))


def _random_generator(seed, where):
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        msg = (f"{where}: seed={seed!r} must be an integer >= 0 or a "
               "numpy.random.Generator")
        raise ParameterError(msg) from None


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

    Raises
    ------
    spelunker.errors.ParameterError
        A parameter of the wrong type or value, or an array whose length
        is not ``n_frames``.

    Examples
    --------
    >>> from spelunker.datasets import simulate_frames
    >>> data, err, truth = simulate_frames(10, seed=1)
    >>> data.shape, data.dtype.name
    ((10, 8, 8), 'float32')
    """
    where = "simulate_frames"
    n = check_positive_int(n_frames, "n_frames", where=where)
    gain = GAIN[check_detector(detector, where=where)]
    integration_time = check_positive_float(integration_time, "integration_time",
                                            unit="seconds", where=where)
    if check_finite_float(jitter, "jitter", where=where) < 0:
        raise ParameterError(f"{where}: jitter={jitter!r} must be >= 0 (pixels)")
    shape = _check_shape(shape)
    rng = _random_generator(seed, where)

    def per_frame(value, name):
        try:
            return np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
        except (TypeError, ValueError):
            msg = f"{where}: {name} must be a number or {n} numbers (one per frame)"
            raise ParameterError(msg) from None

    flux = per_frame(countrate_from_magnitude(fgs_mag), "fgs_mag")
    sx = per_frame(x_stddev, "x_stddev")
    sy = per_frame(y_stddev, "y_stddev")
    th = per_frame(theta, "theta")
    bkg = per_frame(background, "background")
    xc = per_frame(x_mean, "x_mean") + rng.normal(0.0, jitter, n)
    yc = per_frame(y_mean, "y_mean") + rng.normal(0.0, jitter, n)
    amplitude = flux / (2.0 * np.pi * sx * sy)

    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    model = gaussian2d(
        cols[None], rows[None],
        amplitude[:, None, None], xc[:, None, None], yc[:, None, None],
        sx[:, None, None], sy[:, None, None], th[:, None, None], bkg[:, None, None],
    )
    # Poisson noise on electrons collected in one integration, back to DN/s.
    # In place, to keep a large file's temporaries few (this runs per file).
    electrons = np.clip(model, 0.0, None, out=model)
    electrons *= gain
    electrons *= integration_time
    read_noise_rate = READ_NOISE_DN / integration_time
    err = electrons / (gain * integration_time) ** 2
    err += read_noise_rate**2
    np.sqrt(err, out=err)
    counts = rng.poisson(electrons)
    del model, electrons
    data = rng.normal(0.0, read_noise_rate, counts.shape)
    data += counts / (gain * integration_time)
    del counts
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
    return data.astype(np.float32), err.astype(np.float32), truth
