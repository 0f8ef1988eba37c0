"""Tests of the frame fitters: accuracy, statistics, flags, canonical form."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable
from astropy.time import Time
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import least_squares

from spelunker.datasets import simulate_frames
from spelunker.fitting import (
    PARAMETER_NAMES,
    FitFlag,
    canonical_shape,
    fit_gaussian_frames,
    fit_moments_frames,
    fit_result_table,
    gaussian2d,
)

ROWS, COLS = np.mgrid[0:8, 0:8]
ERR_NAMES = [name + "_err" for name in PARAMETER_NAMES]


def truth_params(truth, k):
    return np.array([truth[name][k] for name in PARAMETER_NAMES])


def canonical_truth(truth):
    """The truth dict with its shape parameters in canonical form."""
    sx, sy, th = canonical_shape(truth["x_stddev"], truth["y_stddev"], truth["theta"])
    return dict(truth, x_stddev=sx, y_stddev=sy, theta=th)


def reference_fit(frame, err, p0):
    """scipy least_squares of the same model with the same weights."""
    d = frame.astype(np.float64).ravel()
    e = err.astype(np.float64).ravel()

    def residuals(p):
        return (d - gaussian2d(COLS.ravel(), ROWS.ravel(), *p)) / e

    sol = least_squares(
        residuals, p0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, x_scale="jac"
    )
    cov = np.linalg.inv(sol.jac.T @ sol.jac)
    return sol.x, np.sqrt(np.diag(cov))


def cramer_rao(truth, err):
    """Per-frame Cramer-Rao standard deviations of the 7 parameters.

    Fisher matrix of the true model with the true per-pixel variances
    (``err`` of `simulate_frames` is computed from the noiseless model);
    derivatives by central differences.
    """
    p = np.stack([truth[name] for name in PARAMETER_NAMES], axis=1)  # (n, 7)
    var = err.astype(np.float64).reshape(len(p), -1) ** 2
    steps = np.array([1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6]) * np.maximum(
        1.0, np.abs(p).max(axis=0)
    )
    derivs = []
    for a in range(7):
        hi = p.copy()
        lo = p.copy()
        hi[:, a] += steps[a]
        lo[:, a] -= steps[a]
        f_hi = gaussian2d(COLS.ravel(), ROWS.ravel(), *[c[:, None] for c in hi.T])
        f_lo = gaussian2d(COLS.ravel(), ROWS.ravel(), *[c[:, None] for c in lo.T])
        derivs.append((f_hi - f_lo) / (2 * steps[a]))
    jac = np.stack(derivs, axis=1)  # (n, 7, 64)
    fisher = np.einsum("nak,nbk->nab", jac, jac / var[:, None, :])
    cov = np.linalg.inv(fisher)
    return np.sqrt(np.einsum("naa->na", cov))


# --------------------------------------------------------------------------
# Agreement with scipy


def test_agrees_with_scipy_least_squares():
    frames, errs, truths = [], [], []
    cases = [
        dict(fgs_mag=12.0, x_mean=3.5, y_mean=3.5),
        dict(fgs_mag=14.0, x_mean=3.2, y_mean=3.9, x_stddev=0.6, y_stddev=0.7, theta=0.4),
        dict(fgs_mag=16.0, x_mean=4.1, y_mean=3.3, x_stddev=0.75, y_stddev=0.6, theta=-0.3),
    ]
    for i, case in enumerate(cases):
        data, err, truth = simulate_frames(100, seed=100 + i, jitter=0.2, **case)
        frames.append(data)
        errs.append(err)
        truths.append(np.stack([truth[n] for n in PARAMETER_NAMES], axis=1))
    data = np.concatenate(frames)
    err = np.concatenate(errs)
    p_true = np.concatenate(truths)
    result = fit_gaussian_frames(data, err)
    assert np.all(result["flags"] == 0)

    centre_sigma_diff = np.empty(len(data))
    for k in range(len(data)):
        ref, ref_err = reference_fit(data[k], err[k], p_true[k])
        sx, sy, th = canonical_shape(ref[3], ref[4], ref[5])
        if ref[4] > ref[3]:  # canonicalisation swaps the widths' errors too
            ref_err[[3, 4]] = ref_err[[4, 3]]
        ref = np.array([ref[0], ref[1], ref[2], sx, sy, th, ref[6]])
        got = np.array([result[name][k] for name in PARAMETER_NAMES])
        got_err = np.array([result[name][k] for name in ERR_NAMES])
        centre_sigma_diff[k] = np.abs(got[1:5] - ref[1:5]).max()
        # Amplitude, theta, offset: equal to a thousandth of their errors.
        assert np.all(np.abs(got - ref)[[0, 5, 6]] < 1e-3 * got_err[[0, 5, 6]])
        assert_allclose(got_err, ref_err, rtol=1e-3)
        assert result["dof"][k] == 64 - 7
    assert np.mean(centre_sigma_diff < 1e-5) >= 0.999


# --------------------------------------------------------------------------
# Statistics against the truth


@pytest.mark.parametrize("fgs_mag", [12.0, 16.0])
def test_cramer_rao_and_pulls(fgs_mag):
    data, err, truth = simulate_frames(3000, fgs_mag=fgs_mag, seed=int(fgs_mag * 7))
    result = fit_gaussian_frames(data, err)
    assert np.all(result["flags"] == 0)
    truth = canonical_truth(truth)
    crb = cramer_rao(truth, err)
    for a, name in enumerate(PARAMETER_NAMES):
        delta = result[name] - truth[name]
        bound = np.sqrt(np.mean(crb[:, a] ** 2))
        if name in ("x_mean", "y_mean"):
            assert 0.9 < np.std(delta) / bound < 1.1, (name, np.std(delta), bound)
            # The reported errors are the CRB of the fitted model.
            assert_allclose(np.median(result[name + "_err"]), np.median(crb[:, a]), rtol=0.05)
        pulls = delta / result[name + "_err"]
        assert 0.9 <= np.std(pulls) <= 1.1, (name, np.std(pulls))
        assert abs(np.mean(pulls)) < 0.1, (name, np.mean(pulls))
    reduced = result["chi2"] / result["dof"]
    assert 0.95 < np.mean(reduced) < 1.05


def test_unit_weights_without_err():
    data, _, truth = simulate_frames(500, fgs_mag=13.0, seed=8)
    result = fit_gaussian_frames(data)
    assert np.all(result["flags"] == 0)
    assert np.abs(result["x_mean"] - truth["x_mean"]).max() < 0.02
    # Unit weights: chi2 is the sum of squared residuals in (DN/s)**2.
    assert np.median(result["chi2"]) > 1e4


# --------------------------------------------------------------------------
# Flags


def pathological_batch():
    """Frames that must never come back as clean fits, with their names."""
    data, err, _ = simulate_frames(12, fgs_mag=16.0, seed=21)
    data = data.astype(np.float64)
    err = err.astype(np.float64)
    rng = np.random.default_rng(5)
    names = []

    def put(k, name, frame=None, frame_err=None):
        names.append(name)
        if frame is not None:
            data[k] = frame
        if frame_err is not None:
            err[k] = frame_err

    put(0, "all nan", np.nan)
    put(1, "all zero", 0.0)
    put(2, "constant", 37.0)
    edge_data, edge_err, _ = simulate_frames(1, fgs_mag=13.0, x_mean=8.5, seed=22)
    put(3, "star off the edge", edge_data[0], edge_err[0])
    cosmic = data[4].copy()
    cosmic[1, 6] += 1e5
    put(4, "cosmic ray", cosmic)
    put(5, "all +inf", np.inf)
    put(6, "all -inf", -np.inf)
    put(7, "negative", -1000.0 + rng.normal(0.0, 200.0, (8, 8)))
    put(8, "negated star", -data[8])
    hot = rng.normal(20.0, 220.0, (8, 8))
    hot[4, 4] = 1e5
    put(9, "hot pixel on noise", hot)
    put(10, "zero err", None, 0.0)
    put(11, "pure noise", rng.normal(20.0, 220.0, (8, 8)))
    return data, err, names


def test_pathological_frames_are_flagged():
    data, err, names = pathological_batch()
    result = fit_gaussian_frames(data, err)
    flags = result["flags"]
    for k, name in enumerate(names):
        assert flags[k] != 0, name
    expected = {
        "all nan": FitFlag.TOO_FEW_PIXELS,
        "all zero": FitFlag.NO_SIGNAL,
        "constant": FitFlag.NO_SIGNAL,
        "all +inf": FitFlag.TOO_FEW_PIXELS,
        "all -inf": FitFlag.TOO_FEW_PIXELS,
        "zero err": FitFlag.TOO_FEW_PIXELS,
        "cosmic ray": FitFlag.CHI2_OUTLIER,
        "star off the edge": FitFlag.EDGE,
    }
    for k, name in enumerate(names):
        if name in expected:
            assert flags[k] & expected[name], (name, FitFlag(int(flags[k])))
    # Rows without a fit are NaN, never zeros that look like numbers.
    for k in (0, 1, 2, 5, 6, 10):
        assert np.isnan(result["x_mean"][k]) and np.isnan(result["x_mean_err"][k])


def test_quick_fit_flags():
    data, err, names = pathological_batch()
    result = fit_moments_frames(data, err)
    for k, name in enumerate(names):
        if name in ("cosmic ray", "hot pixel on noise"):
            continue  # moments cannot tell a cosmic ray from a star
        assert result["flags"][k] != 0, name
    assert result["flags"][names.index("star off the edge")] & FitFlag.EDGE
    assert result["flags"][names.index("all nan")] & FitFlag.TOO_FEW_PIXELS


def test_bad_pixels_are_excluded():
    data, err, truth = simulate_frames(200, fgs_mag=13.0, seed=31)
    data = data.copy()
    data[:, 2, 5] = 1e6  # garbage in one pixel
    data[:, 6, 1] = np.inf
    err = err.copy()
    err[:, 0, 0] = -1.0
    dq = np.zeros((8, 8), dtype=np.uint32)
    dq[2, 5] = 1
    clean = fit_gaussian_frames(data, err, dq=dq)
    assert np.all(clean["flags"] == 0)
    assert np.all(clean["dof"] == 64 - 3 - 7)
    assert np.abs(clean["x_mean"] - truth["x_mean"]).max() < 0.02
    # Per-frame DQ, other bits: same answer when the bit is selected ...
    dq3 = np.zeros((200, 8, 8), dtype=np.uint16)
    dq3[:, 2, 5] = 4
    same = fit_gaussian_frames(data, err, dq=dq3, bad_dq_bits=4 | 1)
    assert_array_equal(same["x_mean"], clean["x_mean"])
    # ... and the garbage is caught by chi2 when the bit is not selected.
    dirty = fit_gaussian_frames(data, err, dq=dq3, bad_dq_bits=1)
    assert np.all(dirty["flags"] != 0)


def test_every_row_finite_or_flagged():
    data, err, _ = pathological_batch()
    good, good_err, _ = simulate_frames(50, seed=3)
    data = np.concatenate([data, good])
    err = np.concatenate([err, good_err])
    for fitter in (fit_gaussian_frames, fit_moments_frames):
        result = fitter(data, err)
        clean = result["flags"] == 0
        for name in PARAMETER_NAMES:
            assert np.all(np.isfinite(result[name][clean]))
        if fitter is fit_gaussian_frames:
            for name in ERR_NAMES:
                assert np.all(np.isfinite(result[name][clean]))
        assert clean[-50:].all()


# --------------------------------------------------------------------------
# Canonical form


def test_canonical_form_of_swapped_widths():
    data, err, truth = simulate_frames(
        400, fgs_mag=12.5, x_stddev=0.6, y_stddev=0.7, theta=0.4, seed=41
    )
    for fitter, tol in ((fit_gaussian_frames, 0.01), (fit_moments_frames, 0.05)):
        result = fitter(data, err)
        assert np.all(result["flags"] == 0)
        assert np.all(result["x_stddev"] >= result["y_stddev"])
        assert abs(np.median(result["x_stddev"]) - 0.7) < tol
        assert abs(np.median(result["y_stddev"]) - 0.6) < tol
        assert abs(np.median(result["theta"]) - (0.4 - np.pi / 2)) < 2 * tol
        assert np.all((result["theta"] >= -np.pi / 2) & (result["theta"] < np.pi / 2))


@pytest.mark.parametrize("widths", [(0.70, 0.62), (0.62, 0.70)])
def test_theta_series_is_continuous(widths):
    n = 1500
    theta = 0.4 + 0.1 * np.sin(np.linspace(0, 4 * np.pi, n))
    data, err, truth = simulate_frames(
        n, fgs_mag=13.0, x_stddev=widths[0], y_stddev=widths[1], theta=theta, seed=42
    )
    result = fit_gaussian_frames(data, err)
    assert np.all(result["flags"] == 0)
    expected = canonical_truth(truth)["theta"]
    assert np.abs(np.diff(result["theta"])).max() < 0.3
    assert np.abs(result["theta"] - expected).max() < 0.2


# --------------------------------------------------------------------------
# Threads, quick fit, inputs, table


def test_ncpus_give_identical_results():
    data, err, _ = simulate_frames(3000, fgs_mag=15.0, seed=51)
    bad, bad_err, _ = pathological_batch()
    data = np.concatenate([data, bad.astype(np.float32)])
    err = np.concatenate([err, bad_err.astype(np.float32)])
    for fitter in (fit_gaussian_frames, fit_moments_frames):
        one = fitter(data, err, ncpus=1)
        two = fitter(data, err, ncpus=2, chunk_size=700)
        assert one.keys() == two.keys()
        for key in one:
            assert_array_equal(one[key], two[key], err_msg=key)


def test_quick_fit_agrees_with_truth_on_bright_stars():
    data, err, truth = simulate_frames(2000, fgs_mag=12.0, jitter=0.3, seed=61)
    quick = fit_moments_frames(data, err)
    assert np.all(quick["flags"] == 0)
    truth = canonical_truth(truth)
    for name in ("x_mean", "y_mean", "x_stddev", "y_stddev"):
        assert np.abs(quick[name] - truth[name]).max() < 0.05, name
    assert np.abs(quick["theta"] - truth["theta"]).max() < 0.2
    assert_allclose(quick["amplitude"], truth["amplitude"], rtol=0.05)
    offset_pulls = (quick["offset"] - truth["offset"]) / quick["offset_err"]
    assert 0.7 < np.std(offset_pulls) < 1.3
    assert np.abs(offset_pulls).max() < 5
    assert np.all(quick["iterations"] == 0)
    # Centroid errors are propagated from err; the shape errors are NaN.
    pulls = (quick["x_mean"] - truth["x_mean"]) / quick["x_mean_err"]
    assert 0.7 < np.std(pulls) < 1.5
    assert np.all(np.isnan(quick["x_stddev_err"]))
    # Without err the noise comes from the background pixels.
    no_err = fit_moments_frames(data)
    assert np.all(no_err["flags"] == 0)
    assert np.abs(no_err["x_mean"] - truth["x_mean"]).max() < 0.05


def test_float64_and_integer_inputs():
    data, err, truth = simulate_frames(50, fgs_mag=13.0, seed=71)
    r32 = fit_gaussian_frames(data, err)
    r64 = fit_gaussian_frames(data.astype(np.float64), err.astype(np.float64))
    assert_allclose(r64["x_mean"], r32["x_mean"], atol=1e-9)
    rint = fit_gaussian_frames(np.round(data).astype(np.int64), err)
    assert np.all(rint["flags"] == 0)
    # Big-endian float32, as read from FITS.
    rbig = fit_gaussian_frames(data.astype(">f4"), err.astype(">f4"))
    assert_array_equal(rbig["x_mean"], r32["x_mean"])


def test_empty_input():
    result = fit_gaussian_frames(np.empty((0, 8, 8), dtype=np.float32))
    assert result.n_frames == 0
    assert set(result) == set(PARAMETER_NAMES) | set(ERR_NAMES) | {
        "chi2", "dof", "iterations", "flags"}


def test_progress_bar(capsys):
    data, err, _ = simulate_frames(300, seed=72)
    result = fit_gaussian_frames(data, err, progress=True, chunk_size=100)
    assert result.n_frames == 300
    assert "300" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(data=np.zeros((8, 8))), "data"),
        (dict(data=np.zeros((2, 8, 8), dtype=complex)), "data"),
        (dict(data=np.zeros((2, 8, 8)), err=np.ones((2, 8, 7))), "err"),
        (dict(data=np.zeros((2, 8, 8)), dq=np.zeros((3, 8, 8), dtype=int)), "dq"),
        (dict(data=np.zeros((2, 8, 8)), dq=np.zeros((8, 8))), "dq"),
        (dict(data=np.zeros((2, 8, 8)), ncpus=0), "ncpus"),
        (dict(data=np.zeros((2, 8, 8)), max_iterations=0), "max_iterations"),
        (dict(data=np.zeros((2, 8, 8)), chunk_size=0), "chunk_size"),
        (dict(data=np.zeros((2, 8, 8)), chi2_pvalue=2.0), "chi2_pvalue"),
        (dict(data=np.zeros((2, 8, 8)), bad_dq_bits=-1), "bad_dq_bits"),
    ],
)
def test_bad_parameters_raise(kwargs, name):
    data = kwargs.pop("data")
    with pytest.raises(ValueError, match=name):
        fit_gaussian_frames(data, **kwargs)


def test_fit_result_table():
    data, err, _ = simulate_frames(20, seed=81)
    result = fit_gaussian_frames(data, err)
    time = Time(60000.0 + np.arange(20) / 86400.0, format="mjd", scale="utc")
    table = fit_result_table(result, time=time)
    assert isinstance(table, QTable)
    assert len(table) == 20
    assert table.colnames[0] == "time"
    assert table.colnames[1:8] == list(PARAMETER_NAMES)
    assert table["amplitude"].unit == u.DN / u.s
    assert table["offset_err"].unit == u.DN / u.s
    assert table["x_mean"].unit == u.pix and table["y_stddev_err"].unit == u.pix
    assert table["theta"].unit == u.rad
    assert table["flags"].dtype == np.uint32
    assert_allclose(table["x_mean"].value, result["x_mean"])
    assert "time" not in fit_result_table(result).colnames
    with pytest.raises(ValueError, match="time"):
        fit_result_table(result, time=time[:5])
    with pytest.raises(ValueError, match="keys"):
        fit_result_table({"x_mean": result["x_mean"]})


def test_model_follows_astropy_gaussian2d_convention():
    """Same values as astropy's Gaussian2D (theta sign included) for a tilted, elongated PSF."""
    from astropy.modeling.models import Const2D, Gaussian2D

    from spelunker.fitting import gaussian2d

    y, x = np.mgrid[0:8, 0:8].astype(float)
    for theta in (-1.2, -0.3, 0.4, 1.1):
        reference = (Gaussian2D(1000.0, 3.4, 3.7, 0.9, 0.55, theta) + Const2D(12.0))(x, y)
        ours = gaussian2d(x, y, 1000.0, 3.4, 3.7, 0.9, 0.55, theta, 12.0)
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-9)
