"""Property test: any batch of frames gives clean-and-finite or flagged rows."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spelunker.datasets import simulate_frames
from spelunker.fitting import PARAMETER_NAMES, FitFlag, fit_gaussian_frames, fit_moments_frames

BATCH = 100
KINDS = (
    "star",
    "star",
    "faint star",
    "star with bad pixels",
    "wild star",
    "nan",
    "inf",
    "-inf",
    "zeros",
    "negative",
    "huge",
    "tiny",
    "constant",
    "hot pixel",
    "noise",
    "sparse",
    "random extremes",
)
EXTREMES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-30, 1e38, -1.0, 3.0])


def make_batch(seed, kinds, err_mode, dtype):
    """Build one batch of frames (and err or None) from drawn kinds."""
    rng = np.random.default_rng(seed)
    good, good_err, _ = simulate_frames(BATCH, seed=seed, jitter=0.5)
    data = good.astype(np.float64)
    err = good_err.astype(np.float64)
    for k, kind in enumerate(kinds):
        if kind == "faint star":
            d, e, _ = simulate_frames(1, fgs_mag=rng.uniform(16, 20), seed=seed + k)
            data[k], err[k] = d[0], e[0]
        elif kind == "star with bad pixels":
            mask = rng.random((8, 8)) < 0.2
            data[k][mask] = rng.choice(EXTREMES, mask.sum())
        elif kind == "wild star":
            d, e, _ = simulate_frames(
                1,
                fgs_mag=rng.uniform(8, 20),
                x_mean=rng.uniform(-3, 11),
                y_mean=rng.uniform(-3, 11),
                x_stddev=rng.uniform(0.05, 6),
                y_stddev=rng.uniform(0.05, 6),
                theta=rng.uniform(-10, 10),
                background=rng.uniform(-1e3, 1e5),
                seed=seed + k,
            )
            data[k], err[k] = d[0], e[0]
        elif kind == "nan":
            data[k] = np.nan
        elif kind == "inf":
            data[k] = np.inf
        elif kind == "-inf":
            data[k] = -np.inf
        elif kind == "zeros":
            data[k] = 0.0
        elif kind == "negative":
            data[k] = -np.abs(data[k])
        elif kind == "huge":
            data[k] = 1e30 * (1 + rng.random((8, 8)))
        elif kind == "tiny":
            data[k] = 1e-30 * rng.random((8, 8))
        elif kind == "constant":
            data[k] = rng.uniform(-1e4, 1e4)
        elif kind == "hot pixel":
            data[k] = 0.0
            data[k][rng.integers(0, 8), rng.integers(0, 8)] = 10.0 ** rng.uniform(0, 30)
        elif kind == "noise":
            data[k] = rng.normal(rng.uniform(-100, 100), rng.uniform(0.1, 1e3), (8, 8))
        elif kind == "sparse":
            keep = rng.random((8, 8)) < rng.uniform(0.05, 0.3)
            data[k][~keep] = np.nan
        elif kind == "random extremes":
            data[k] = rng.choice(EXTREMES, (8, 8))
    if err_mode == "none":
        err = None
    elif err_mode == "weird":
        mask = rng.random(err.shape) < 0.1
        err[mask] = rng.choice(EXTREMES, mask.sum())
    elif err_mode == "constant":
        err = np.full_like(err, rng.uniform(1e-3, 1e3))
    data = data.astype(dtype)
    if err is not None:
        err = err.astype(dtype)
    return data, err


def check_rows(result, n, *, errors_required):
    assert set(result) >= set(PARAMETER_NAMES) | {"chi2", "dof", "iterations", "flags"}
    flags = result["flags"]
    assert flags.dtype == np.uint32 and flags.shape == (n,)
    clean = flags == 0
    for name in PARAMETER_NAMES:
        assert result[name].shape == (n,)
        assert np.all(np.isfinite(result[name][clean])), name
        if errors_required:
            assert np.all(np.isfinite(result[name + "_err"][clean])), name
            assert np.all(result[name + "_err"][clean] >= 0), name
    assert np.all(np.isfinite(result["chi2"][clean]))
    assert np.all(result["dof"][clean] >= 1)
    assert np.all(result["x_stddev"][clean] >= result["y_stddev"][clean])
    theta = result["theta"][clean]
    assert np.all((theta >= -np.pi / 2) & (theta < np.pi / 2))
    # The documented bounds (8x8 frames): widths 0.2 .. 4 px, centre within
    # the frame's pixel centres +- 1 px, amplitude >= 0.
    for name in ("x_stddev", "y_stddev"):
        assert np.all((result[name][clean] >= 0.2) & (result[name][clean] <= 4.0)), name
    for name in ("x_mean", "y_mean"):
        assert np.all((result[name][clean] >= -1.0) & (result[name][clean] <= 8.0)), name
    assert np.all(result["amplitude"][clean] >= 0.0)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 2**31 - 1),
    kinds=st.lists(st.sampled_from(KINDS), min_size=BATCH, max_size=BATCH),
    err_mode=st.sampled_from(["good", "none", "weird", "constant"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    dq_mode=st.sampled_from(["none", "2d", "3d"]),
    ncpus=st.sampled_from([1, 2]),
)
def test_fitters_never_raise_and_never_return_unflagged_garbage(
    seed, kinds, err_mode, dtype, dq_mode, ncpus
):
    data, err = make_batch(seed, kinds, err_mode, dtype)
    rng = np.random.default_rng(seed + 1)
    dq = None
    if dq_mode == "2d":
        dq = (rng.random((8, 8)) < 0.1).astype(np.uint32)
    elif dq_mode == "3d":
        dq = rng.integers(0, 4, (BATCH, 8, 8)).astype(np.uint16) * (rng.random((BATCH, 8, 8)) < 0.1)
    gauss = fit_gaussian_frames(data, err, dq=dq, ncpus=ncpus, chunk_size=37)
    check_rows(gauss, BATCH, errors_required=True)
    capped = gauss["flags"] & FitFlag.ITERATION_CAP != 0
    assert np.all(gauss["iterations"] <= 50)
    assert np.all(gauss["iterations"][capped] == 50)
    quick = fit_moments_frames(data, err, dq=dq, ncpus=ncpus, chunk_size=37)
    check_rows(quick, BATCH, errors_required=False)
    # Frames without any usable pixel must say so.
    hopeless = ~np.isfinite(data).reshape(BATCH, -1).any(axis=1)
    assert np.all(gauss["flags"][hopeless] != 0)
    assert np.all(quick["flags"][hopeless] != 0)
