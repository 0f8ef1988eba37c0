"""The compiled pieces of the Gaussian fit, against NumPy: exponentials, packing, algebra."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from spelunker.datasets import simulate_frames
from spelunker.fitting import _kernels, fit_gaussian_frames

NPAR = 7


def test_exp_block_is_within_2_ulp_of_math_exp():
    rng = np.random.default_rng(1)
    x = np.concatenate([-rng.uniform(0, 708, 20000), -rng.uniform(0, 1, 1000),
                        [0.0, -0.0, -1e-300, -708.0, -math.log(2) / 2, -math.log(2)]])
    out = np.empty_like(x)
    bits = np.empty(len(x), dtype=np.int64)
    _kernels._exp_block(x, out, bits, bits.view(np.float64), len(x))
    expected = np.array([math.exp(v) for v in x])
    assert np.all(np.abs(out - expected) <= 2 * np.spacing(expected))


def test_exp_block_underflows_to_zero_and_keeps_nan():
    x = np.array([-708.5, -745.0, -800.0, -np.inf, np.nan, -1.0])
    out = np.empty_like(x)
    bits = np.empty(len(x), dtype=np.int64)
    _kernels._exp_block(x, out, bits, bits.view(np.float64), len(x))
    assert_array_equal(out[:4], 0.0)
    assert np.isnan(out[4])
    assert out[5] == pytest.approx(math.exp(-1.0), rel=1e-15)


def work_arrays(npix):
    """px, py, pd, psw, psig, pborder and layout for `_kernels._pack_frame`."""
    return ([np.empty(npix) for _ in range(5)] + [np.empty(npix, dtype=np.bool_)]
            + [np.zeros(1, dtype=np.int64)])


def pack(frame, err, bad, use_err=True, buffers=None):
    """``_pack_frame`` of one (ny, nx) frame: the packed arrays, trimmed to the count."""
    ny, nx = frame.shape
    npix = ny * nx
    buffers = work_arrays(npix) if buffers is None else buffers
    n = _kernels._pack_frame(frame.reshape(1, npix), err.reshape(1, npix),
                             bad.reshape(1, npix), nx, 0, 0, use_err, *buffers)
    return [b[:n] for b in buffers[:6]]


def expected_pack(frame, err, usable, use_err=True):
    rows, cols = np.nonzero(usable)
    ny, nx = frame.shape
    e = err[rows, cols].astype(float) if use_err else np.ones(len(rows))
    border = (rows == 0) | (rows == ny - 1) | (cols == 0) | (cols == nx - 1)
    return [cols.astype(float), rows.astype(float), frame[rows, cols].astype(float), 1.0 / e,
            e, border]


@pytest.mark.parametrize("use_err", [True, False])
def test_pack_frame_all_usable_and_gathered_agree_with_numpy(use_err):
    data, err, _ = simulate_frames(3, shape=(6, 9), seed=3)
    bad = np.zeros(data.shape[1:], dtype=np.bool_)
    # Some pixels unusable in the second frame only.
    data[1, 0, 3] = np.nan
    bad_1 = bad.copy()
    bad_1[2, 2] = True
    if use_err:
        err[1, 4, 5] = 0.0
    frames = [(data[0], err[0], bad), (data[1], err[1], bad_1), (data[2], err[2], bad),
              (data[0], err[0], bad)]
    # One set of work arrays through the frames, as in a block: every-pixel
    # frames after a gathered one, and after one another (layout kept).
    buffers = work_arrays(data[0].size)
    for frame, frame_err, frame_bad in frames:
        usable = np.isfinite(frame) & ~frame_bad & ((frame_err > 0) | (not use_err))
        want = expected_pack(frame, frame_err, usable, use_err)
        for fresh in (None, buffers):
            for got, expected in zip(pack(frame, frame_err, frame_bad, use_err, fresh), want,
                                     strict=True):
                assert_array_equal(got, expected)
    assert buffers[6][0] == 1  # the whole-frame layout is in place after an every-pixel frame


def random_normal_matrix(seed):
    rng = np.random.default_rng(seed)
    jac = rng.normal(size=(64, NPAR)) * rng.uniform(0.1, 1e3, NPAR)
    return jac.T @ jac


def scales(jtj):
    scale = np.empty(NPAR)
    inv_scale = np.empty(NPAR)
    _kernels._diag_scale(jtj, scale, inv_scale)
    return scale, inv_scale


@pytest.mark.parametrize("seed", range(5))
def test_parameter_errors_are_the_inverse_diagonal(seed):
    jtj = random_normal_matrix(seed)
    # The kernels read the lower triangle only.
    lower = np.tril(jtj) + np.triu(np.full((NPAR, NPAR), np.nan), 1)
    _, inv_scale = scales(lower)
    work = np.empty((NPAR, NPAR))
    inv_d = np.empty(NPAR)
    col = np.empty(NPAR)
    errors = np.empty(NPAR)
    assert _kernels._parameter_errors(lower, inv_scale, work, inv_d, col, errors)
    covariance = np.linalg.inv(jtj)
    assert_allclose(errors, np.sqrt(np.diag(covariance)), rtol=1e-12)
    # The flux error from the same factor: g^T C g with g = d(2 pi A sx sy)/dp.
    p = np.array([500.0, 3.0, 4.0, 0.7, 0.6, 0.3, 20.0])
    g = np.zeros(NPAR)
    g[0], g[3], g[4] = 2 * np.pi * p[3] * p[4], 2 * np.pi * p[0] * p[4], 2 * np.pi * p[0] * p[3]
    flux_error = _kernels._flux_error(p, work, inv_d, inv_scale, col)
    assert flux_error == pytest.approx(np.sqrt(g @ covariance @ g), rel=1e-12)


def test_parameter_errors_refuse_a_singular_matrix():
    jtj = random_normal_matrix(7)
    jtj[:, 6] = jtj[6, :] = 0.0  # the offset does not enter the model
    _, inv_scale = scales(jtj)
    args = (np.empty((NPAR, NPAR)), np.empty(NPAR), np.empty(NPAR), np.empty(NPAR))
    assert not _kernels._parameter_errors(jtj, inv_scale, *args)


@pytest.mark.parametrize("seed", range(3))
def test_lm_step_solves_the_damped_scaled_system(seed):
    jtj = random_normal_matrix(seed)
    jtr = np.random.default_rng(seed).normal(size=NPAR) * np.sqrt(np.diag(jtj))
    scale, inv_scale = scales(jtj)
    active = np.zeros(NPAR, dtype=np.bool_)
    active[2] = True  # held on its bound
    step = np.empty(NPAR)
    lam = 1e-2
    assert _kernels._lm_step(np.tril(jtj), jtr, lam, active, scale, inv_scale,
                             np.empty((NPAR, NPAR)), np.empty(NPAR), step)
    free = ~active
    scaled = jtj / np.outer(scale, scale)
    system = scaled[np.ix_(free, free)] + lam * np.eye(free.sum())
    expected = np.linalg.solve(system, jtr[free] / scale[free]) / scale[free]
    assert step[2] == 0.0
    assert_allclose(step[free], expected, rtol=1e-10)


def test_zero_tiny_and_infinite_errors_leave_their_pixels_out_without_raising():
    # The kernels divide without testing for zero (numpy error model): such
    # pixels must still be left out, as if their DQ marked them.
    data, err, _ = simulate_frames(50, seed=5)
    err = err.astype(np.float64)
    rng = np.random.default_rng(6)
    odd = rng.random(err.shape) < 0.05
    err[odd] = rng.choice([0.0, 1e-320, np.inf, -1.0, np.nan], odd.sum())
    weird = fit_gaussian_frames(data, err)
    clean_err = np.where(odd, 1.0, err)
    masked = fit_gaussian_frames(data, clean_err, dq=odd.astype(np.uint32))
    for key in masked:
        assert_array_equal(weird[key], masked[key], err_msg=key)
