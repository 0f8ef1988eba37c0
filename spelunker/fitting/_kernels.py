"""Compiled per-frame kernels (numba) behind the fitting functions.

Everything numba-compiled lives in this one module so that numba's on-disk
cache (``cache=True``), which is keyed on the source file, is invalidated
whenever any kernel changes.

The kernels work on a contiguous block of frames and write into
pre-allocated output arrays; they release the GIL (``nogil=True``) so the
driver can run blocks on several threads.  They never raise for bad data:
problems are reported through the flag bits, those of
`spelunker.fitting.flags.FitFlag` (their one definition), read here as plain
integers: numba freezes module-level globals into the compiled code, so the
on-disk cache of this module would not see a change of the values in
``flags.py``.  They are stored in products and must never change
(``tests/test_fitting.py`` pins them).

Parameter order is `spelunker.fitting.model.PARAMETER_NAMES`:
``amplitude, x_mean, y_mean, x_stddev, y_stddev, theta, offset``.

Speed: a block's frames come as rows of ``ny * nx`` pixels, so the per-pixel
work runs in single loops over a frame that the compiler vectorizes
(packing, exponentials by `_exp_block`, the Jacobian's products); divisions
follow the "numpy" error model (no zero test, which would stop
vectorization); the 7x7 algebra avoids square roots and repeated divisions.
The Levenberg-Marquardt path itself (start, steps, tests) is that of the
straightforward implementation, so results change only by rounding.
"""

import math

import numpy as np

from spelunker._jit import njit
from spelunker.fitting.flags import FitFlag

__all__ = []

# The FitFlag bits as plain ints (numba compiles module-level ints as constants).
NOT_CONVERGED = int(FitFlag.NOT_CONVERGED)
TOO_FEW_PIXELS = int(FitFlag.TOO_FEW_PIXELS)
AT_BOUND = int(FitFlag.AT_BOUND)
EDGE = int(FitFlag.EDGE)
CHI2_OUTLIER = int(FitFlag.CHI2_OUTLIER)
NONFINITE = int(FitFlag.NONFINITE)
SINGULAR = int(FitFlag.SINGULAR)
NO_SIGNAL = int(FitFlag.NO_SIGNAL)
ITERATION_CAP = int(FitFlag.ITERATION_CAP)

NPAR = 7
#: Minimum number of usable pixels for any fit.
MIN_PIXELS = 10
#: Pixels enter the moments only above this many noise sigmas.
MOMENT_THRESHOLD = 2.0

# Levenberg-Marquardt controls (damping in the Marquardt-scaled space).
LAMBDA_START = 1e-3
LAMBDA_MIN = 1e-12
LAMBDA_MAX = 1e12
#: Converged when an accepted step lowers chi2 by less than FTOL * chi2 ...
FTOL = 1e-10
#: ... or moves every parameter by less than XTOL of its conditional sigma ...
XTOL = 1e-7
#: ... or the next step would move every parameter by less than STEP_TOL of
#: its conditional sigma (that step is then taken without re-evaluation) ...
STEP_TOL = 1e-3
#: ... or, when no step lowers chi2 any more, the scaled gradient is below GTOL.
GTOL = 1e-5
#: Smallest Cholesky pivot (squared, of the unit-diagonal normal matrix) for
#: the covariance to count as non-singular.
PIVOT_MIN = 1e-12

#: numba options of every kernel.  The "numpy" error model makes a division by
#: zero give inf or NaN (as IEEE) instead of testing every divisor to raise
#: ZeroDivisionError: the kernels never divide by zero on purpose, check
#: their results for non-finite values, and loops with divisions vectorize.
_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}

# Only reassociation-type fast-math flags: NaN/inf handling must stay IEEE
# because the kernels test for non-finite values.
_FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


@njit(**_OPTIONS)
def _pack_frame(data, err, bad, nx, k, kb, use_err, px, py, pd, psw, psig, pborder, layout):
    """Copy the usable pixels of frame ``k`` into flat work arrays.

    ``data``, ``err`` and ``bad`` hold one frame per row (``nx`` pixels per
    frame row).  Returns the number of usable pixels.  ``psig`` holds err
    and ``psw`` 1/err (the square root of the inverse-variance weight); both
    are 1 when ``use_err`` is False.  The usual frame, every pixel usable,
    takes one branch-free pass (which the compiler vectorizes); otherwise
    the usable pixels are gathered one by one (same result).  ``layout[0]``
    is 1 while ``px``, ``py`` and ``pborder`` hold the whole frame's pixels
    in order (from the previous frame), which then need no rewriting.
    """
    npix = data.shape[1]
    ny = npix // nx
    n_unusable = 0
    for i in range(npix):
        v = float(data[k, i])
        ok = math.isfinite(v) & (not bad[kb, i])
        e = 1.0
        sw = 1.0
        if use_err:
            e = float(err[k, i])
            sw = 1.0 / e
            ok = ok & (e > 0.0) & math.isfinite(e) & math.isfinite(sw)
        n_unusable += 0 if ok else 1
        pd[i] = v
        psw[i] = sw
        psig[i] = e
    if n_unusable == 0:
        if layout[0] == 1:
            return npix
        layout[0] = 1
        i = 0
        for r in range(ny):
            for c in range(nx):
                px[i] = c
                py[i] = r
                pborder[i] = (r == 0) | (r == ny - 1) | (c == 0) | (c == nx - 1)
                i += 1
        return npix
    layout[0] = 0
    n = 0
    for r in range(ny):
        for c in range(nx):
            i = r * nx + c
            v = float(data[k, i])
            if not math.isfinite(v) or bad[kb, i]:
                continue
            sw = 1.0
            e = 1.0
            if use_err:
                e = float(err[k, i])
                if not (e > 0.0) or not math.isfinite(e):
                    continue
                sw = 1.0 / e
                if not math.isfinite(sw):
                    continue
            px[n] = c
            py[n] = r
            pd[n] = v
            psw[n] = sw
            psig[n] = e
            pborder[n] = r == 0 or r == ny - 1 or c == 0 or c == nx - 1
            n += 1
    return n


@njit(**_OPTIONS)
def _sorted_quantile(values, n, q):
    """Quantile ``q`` of ``values[:n]``, sorting that slice in place.

    Insertion sort: for the few dozen values of a guider frame it is several
    times faster than a general-purpose sort.
    """
    for i in range(1, n):
        v = values[i]
        j = i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return values[lo] * (1.0 - frac) + values[hi] * frac


@njit(**_OPTIONS, fastmath=_FASTMATH)
def _moments(px, py, pd, psig, pborder, n, use_err, robust, tmp, res):
    """Robust background, centroid and second moments of packed pixels.

    Fills ``res`` with ``[bkg, bkg_err, flux, flux_err, weight_sum, xc, yc,
    mxx, myy, mxy, xc_err, yc_err]`` and returns True when some pixel lies
    significantly above the background (``weight_sum > 0``).

    The background is the median (the mean unless ``robust``: a quicker
    start for the Gaussian fit, which fits the offset anyway) of the usable
    border pixels, or the 20th percentile of all usable pixels when fewer
    than 4 border pixels are usable.  Pixel noise is ``err`` or, without it, 1.4826 times the median
    absolute deviation of those same pixels.  Centroid and second moments
    use only pixels more than `MOMENT_THRESHOLD` noise sigmas above the
    background (weights = background-subtracted values); ``flux`` is the
    plain background-subtracted sum over all usable pixels.
    """
    nb = 0
    var_bkg_pixels = 0.0
    bkg = 0.0
    mean_only = use_err and not robust
    if mean_only:
        # Only the border pixels' mean and variance are needed: branch-free
        # sums (selects), which the compiler vectorizes.
        for i in range(n):
            border = pborder[i]
            bkg += pd[i] if border else 0.0
            var_bkg_pixels += psig[i] * psig[i] if border else 0.0
            nb += 1 if border else 0
    else:
        for i in range(n):
            if pborder[i]:
                tmp[nb] = pd[i]
                var_bkg_pixels += psig[i] * psig[i]
                nb += 1
    if nb >= 4 and not robust:
        if not mean_only:
            for i in range(nb):
                bkg += tmp[i]
        bkg /= nb
        ns = nb
    elif nb >= 4:
        bkg = _sorted_quantile(tmp, nb, 0.5)
        ns = nb
    else:
        var_bkg_pixels = 0.0
        for i in range(n):
            tmp[i] = pd[i]
            var_bkg_pixels += psig[i] * psig[i]
        bkg = _sorted_quantile(tmp, n, 0.2)
        ns = n
    noise0 = 0.0
    if use_err:
        var_bkg_pixels /= ns
    else:
        for i in range(ns):
            tmp[i] = abs(tmp[i] - bkg)
        noise0 = 1.4826 * _sorted_quantile(tmp, ns, 0.5)
        var_bkg_pixels = noise0 * noise0

    flux = 0.0
    var_sum = 0.0
    wsum = 0.0
    sx = 0.0
    sy = 0.0
    # Branch-free loops (selects): noise pixels near the threshold would
    # otherwise cost a branch misprediction each.  tmp[i] = moment weight.
    for i in range(n):
        s = psig[i] if use_err else noise0
        v = pd[i] - bkg
        flux += v
        var_sum += s * s
        w = v if v > max(MOMENT_THRESHOLD * s, 0.0) else 0.0
        tmp[i] = w
        wsum += w
        sx += w * px[i]
        sy += w * py[i]
    # Variance of the median of ns values ~ (pi/2) sigma^2 / ns; the
    # background error enters the flux n times over.
    bkg_var = 0.5 * math.pi * var_bkg_pixels / ns
    res[0] = bkg
    res[1] = math.sqrt(bkg_var)
    res[2] = flux
    res[3] = math.sqrt(var_sum + n * n * bkg_var)
    res[4] = wsum
    if not (wsum > 0.0) or not math.isfinite(wsum):
        return False
    xc = sx / wsum
    yc = sy / wsum
    mxx = 0.0
    myy = 0.0
    mxy = 0.0
    vx = 0.0
    vy = 0.0
    for i in range(n):
        s = psig[i] if use_err else noise0
        w = tmp[i]
        var_used = s * s if w > 0.0 else 0.0
        dx = px[i] - xc
        dy = py[i] - yc
        mxx += w * dx * dx
        myy += w * dy * dy
        mxy += w * dx * dy
        vx += var_used * dx * dx
        vy += var_used * dy * dy
    res[5] = xc
    res[6] = yc
    res[7] = mxx / wsum
    res[8] = myy / wsum
    res[9] = mxy / wsum
    res[10] = math.sqrt(vx) / wsum
    res[11] = math.sqrt(vy) / wsum
    return True


@njit(**_OPTIONS)
def _shape_from_moments(mxx, myy, mxy):
    """Major/minor standard deviations and major-axis angle of a covariance."""
    half_tr = 0.5 * (mxx + myy)
    half_diff = 0.5 * (mxx - myy)
    root = math.sqrt(half_diff * half_diff + mxy * mxy)
    major = half_tr + root
    minor = half_tr - root
    theta = 0.5 * math.atan2(2.0 * mxy, mxx - myy)
    return math.sqrt(max(major, 0.0)), math.sqrt(max(minor, 0.0)), theta


@njit(**_OPTIONS)
def _wrap_angle(theta):
    """Wrap an angle into [-pi/2, pi/2)."""
    return (theta + 0.5 * math.pi) % math.pi - 0.5 * math.pi


@njit(**_OPTIONS)
def _is_edge(x, y, nx, ny, margin):
    """True when (x, y) is within ``margin`` px of the frame's outer edge."""
    return (
        not (x >= -0.5 + margin)
        or not (x <= nx - 0.5 - margin)
        or not (y >= -0.5 + margin)
        or not (y <= ny - 0.5 - margin)
    )


# exp(x) = 2**k exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 in two parts,
# Cody-Waite), exp(r) by its Taylor polynomial to degree 12 (|r| <= ln(2)/2:
# truncation error below 1e-16): within 2 ulp of math.exp.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
#: Below this exp underflows (to a subnormal number): 0 is returned instead.
_EXP_MIN = -708.0


# No reassociation here: it would undo the two-part reduction.  "contract"
# lets the polynomial use fused multiply-adds.
@njit(**_OPTIONS, fastmath={"contract"})
def _exp_block(x, out, bits, powers, n):
    """``out[:n] = exp(x[:n])`` for ``x <= 0``, in loops the compiler vectorizes.

    ``math.exp`` is a library call per value, which no loop can vectorize;
    this polynomial form costs a fifth as much on 64 pixels.  Within 2 ulp
    of ``math.exp``; 0 below ``exp(-708)`` (where ``math.exp`` gives
    subnormal numbers) and NaN for NaN.  ``bits`` (int64) and ``powers``
    (float64) are views of one buffer: ``powers[i]`` is 2**k built from its
    bit pattern.  ``x``, ``out`` and ``bits`` must not overlap (the loops
    would not vectorize).
    """
    for i in range(n):
        v = x[i]
        v = _EXP_MIN if v < _EXP_MIN else v     # NaN stays NaN
        k = math.floor(v * _INV_LN2 + 0.5)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        poly = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
            1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
                1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                    1.0 / 479001600))))))))))))
        kk = int(k) if v == v else 0
        bits[i] = (kk + 1023) << 52
        out[i] = poly if x[i] >= _EXP_MIN or x[i] != x[i] else 0.0
    for i in range(n):
        out[i] *= powers[i]


@njit(**_OPTIONS, fastmath=_FASTMATH)
def _evaluate(px, py, pd, psw, n, p, qbuf, ebuf, bits, powers, jtj, jtr):
    """Chi-square and normal equations of the model at ``p``.

    Fills the lower triangle of ``jtj = J^T W J`` and ``jtr = J^T W r`` (``r = data - model``,
    ``W = diag(1/err**2)``) and returns ``chi2 = r^T W r``.  The Jacobian is
    analytic; its rows are never stored: the 28 distinct products are
    accumulated in scalars (about twice as fast as storing J and taking dot
    products).  The exponentials are computed first, by `_exp_block`
    (``qbuf``, ``ebuf``, ``bits`` and ``powers`` are its work arrays).
    """
    amp = p[0]
    x0 = p[1]
    y0 = p[2]
    sx = p[3]
    sy = p[4]
    cth = math.cos(p[5])
    sth = math.sin(p[5])
    off = p[6]
    isx = 1.0 / sx
    isy = 1.0 / sy
    isx2 = isx * isx
    isy2 = isy * isy
    dinv = isx2 - isy2
    for i in range(n):
        dx = px[i] - x0
        dy = py[i] - y0
        xr = cth * dx + sth * dy
        yr = -sth * dx + cth * dy
        qbuf[i] = -0.5 * (xr * xr * isx2 + yr * yr * isy2)
    _exp_block(qbuf, ebuf, bits, powers, n)
    s00 = s01 = s02 = s03 = s04 = s05 = s06 = 0.0
    s11 = s12 = s13 = s14 = s15 = s16 = 0.0
    s22 = s23 = s24 = s25 = s26 = 0.0
    s33 = s34 = s35 = s36 = 0.0
    s44 = s45 = s46 = 0.0
    s55 = s56 = 0.0
    s66 = 0.0
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = 0.0
    chi2 = 0.0
    for i in range(n):
        dx = px[i] - x0
        dy = py[i] - y0
        # Rotated offsets: the model is amp * exp(-xr^2/2sx^2 - yr^2/2sy^2).
        xr = cth * dx + sth * dy
        yr = -sth * dx + cth * dy
        e = ebuf[i]
        w = psw[i]
        ew = e * w
        g = amp * ew
        r = (pd[i] - amp * e - off) * w
        chi2 += r * r
        gx = g * xr * isx2
        gy = g * yr * isy2
        j0 = ew                      # d/d amplitude
        j1 = gx * cth - gy * sth     # d/d x_mean
        j2 = gx * sth + gy * cth     # d/d y_mean
        j3 = gx * xr * isx           # d/d x_stddev = g xr^2 / sx^3
        j4 = gy * yr * isy           # d/d y_stddev = g yr^2 / sy^3
        j5 = -g * xr * yr * dinv     # d/d theta
        j6 = w                       # d/d offset
        s00 += j0 * j0
        s01 += j0 * j1
        s02 += j0 * j2
        s03 += j0 * j3
        s04 += j0 * j4
        s05 += j0 * j5
        s06 += j0 * j6
        s11 += j1 * j1
        s12 += j1 * j2
        s13 += j1 * j3
        s14 += j1 * j4
        s15 += j1 * j5
        s16 += j1 * j6
        s22 += j2 * j2
        s23 += j2 * j3
        s24 += j2 * j4
        s25 += j2 * j5
        s26 += j2 * j6
        s33 += j3 * j3
        s34 += j3 * j4
        s35 += j3 * j5
        s36 += j3 * j6
        s44 += j4 * j4
        s45 += j4 * j5
        s46 += j4 * j6
        s55 += j5 * j5
        s56 += j5 * j6
        s66 += j6 * j6
        r0 += j0 * r
        r1 += j1 * r
        r2 += j2 * r
        r3 += j3 * r
        r4 += j4 * r
        r5 += j5 * r
        r6 += j6 * r
    jtj[0, 0] = s00
    jtj[1, 0] = s01
    jtj[2, 0] = s02
    jtj[3, 0] = s03
    jtj[4, 0] = s04
    jtj[5, 0] = s05
    jtj[6, 0] = s06
    jtj[1, 1] = s11
    jtj[2, 1] = s12
    jtj[3, 1] = s13
    jtj[4, 1] = s14
    jtj[5, 1] = s15
    jtj[6, 1] = s16
    jtj[2, 2] = s22
    jtj[3, 2] = s23
    jtj[4, 2] = s24
    jtj[5, 2] = s25
    jtj[6, 2] = s26
    jtj[3, 3] = s33
    jtj[4, 3] = s34
    jtj[5, 3] = s35
    jtj[6, 3] = s36
    jtj[4, 4] = s44
    jtj[5, 4] = s45
    jtj[6, 4] = s46
    jtj[5, 5] = s55
    jtj[6, 5] = s56
    jtj[6, 6] = s66
    jtr[0] = r0
    jtr[1] = r1
    jtr[2] = r2
    jtr[3] = r3
    jtr[4] = r4
    jtr[5] = r5
    jtr[6] = r6
    return chi2


# The normal-equation helpers below read and write only the lower triangle
# (row >= column) of the symmetric 7x7 matrices.  They factor C = L D L^T
# (L unit lower triangular, D diagonal): no square roots, and one division
# per column, on the chain of dependent operations that sets their speed
# (the factor is right-looking to keep that chain short).


@njit(**_OPTIONS)
def _ldl(m, pivot_min, inv_d):
    """In-place ``L D L^T`` factor of ``m`` (its lower triangle); False if not PD.

    ``m`` receives L below its diagonal and D on it; ``inv_d`` the
    reciprocals 1/D.  D[j] is the squared pivot of the Cholesky factor: the
    matrix counts as positive definite when every D[j] > ``pivot_min``.
    Right-looking: each column, once divided by its pivot, updates the
    rest of the matrix at once (independent operations), so the chain of
    dependent operations is one division and two products per column.
    """
    for j in range(NPAR):
        d = m[j, j]
        if not (d > pivot_min):
            return False
        inv = 1.0 / d
        inv_d[j] = inv
        # Rows from the last up: m[k, j] (k <= i) are still unscaled.
        for i in range(NPAR - 1, j, -1):
            c = m[i, j]
            lij = c * inv
            for k in range(j + 1, i + 1):
                m[i, k] -= lij * m[k, j]
            m[i, j] = lij
    return True


@njit(**_OPTIONS)
def _ldl_solve(factor, inv_d, b):
    """Solve ``L D L^T x = b`` in place (``b`` becomes ``x``)."""
    for i in range(NPAR):
        s = b[i]
        for k in range(i):
            s -= factor[i, k] * b[k]
        b[i] = s
    for i in range(NPAR - 1, -1, -1):
        s = b[i] * inv_d[i]
        for k in range(i + 1, NPAR):
            s -= factor[k, i] * b[k]
        b[i] = s


@njit(**_OPTIONS)
def _diag_scale(jtj, scale, inv_scale):
    """Marquardt scales sqrt(diag(J^T W J)) (1 where the diagonal is 0) and their reciprocals."""
    for a in range(NPAR):
        d = jtj[a, a]
        sc = math.sqrt(d) if (d > 0.0 and math.isfinite(d)) else 1.0
        scale[a] = sc
        inv_scale[a] = 1.0 / sc


@njit(**_OPTIONS)
def _scaled_normal_matrix(jtj, inv_scale, work):
    """Lower triangle of ``D^-1 J^T W J D^-1`` (D = diag(scale)) into ``work``."""
    for a in range(NPAR):
        ia = inv_scale[a]
        for b in range(a + 1):
            work[a, b] = jtj[a, b] * (ia * inv_scale[b])


@njit(**_OPTIONS)
def _lm_step(jtj, jtr, lam, active, scale, inv_scale, work, inv_diag, step):
    """Damped Gauss-Newton step with the ``active`` parameters held fixed."""
    _scaled_normal_matrix(jtj, inv_scale, work)
    for a in range(NPAR):
        if active[a]:
            for b in range(a):
                work[a, b] = 0.0
            for b in range(a + 1, NPAR):
                work[b, a] = 0.0
            work[a, a] = 1.0
            step[a] = 0.0
        else:
            work[a, a] += lam
            step[a] = jtr[a] * inv_scale[a]
    if not _ldl(work, 0.0, inv_diag):
        return False
    _ldl_solve(work, inv_diag, step)
    for a in range(NPAR):
        step[a] *= inv_scale[a]
        if not math.isfinite(step[a]):
            return False
    return True


@njit(**_OPTIONS)
def _parameter_errors(jtj, inv_scale, work, inv_diag, col, errors):
    """1-sigma errors sqrt(diag((J^T W J)^-1)); False when singular.

    On success ``work`` and ``inv_diag`` hold the `_ldl` factor of the
    scaled normal matrix (see `_flux_error`).
    """
    _scaled_normal_matrix(jtj, inv_scale, work)
    if not _ldl(work, PIVOT_MIN, inv_diag):
        return False
    # C^-1 = L^-T D^-1 L^-1: diag(C^-1)[a] = sum_i (L^-1)[i, a]^2 / D[i],
    # column a of L^-1 from L col = e_a.
    for a in range(NPAR):
        col[a] = 1.0
        total = inv_diag[a]
        for i in range(a + 1, NPAR):
            s = 0.0
            for k in range(a, i):
                s -= work[i, k] * col[k]
            col[i] = s
            total += s * s * inv_diag[i]
        errors[a] = math.sqrt(total) * inv_scale[a]
    return True


@njit(**_OPTIONS)
def _flux_error(p, factor, inv_diag, inv_scale, col):
    """1-sigma error of the flux 2 pi A sx sy from the factor of `_parameter_errors`."""
    two_pi = 2.0 * math.pi
    for a in range(NPAR):
        col[a] = 0.0
    col[0] = two_pi * p[3] * p[4] * inv_scale[0]
    col[3] = two_pi * p[0] * p[4] * inv_scale[3]
    col[4] = two_pi * p[0] * p[3] * inv_scale[4]
    # var = g^T (L D L^T)^-1 g = sum_i (L^-1 g)_i^2 / D[i]
    total = 0.0
    for i in range(NPAR):
        s = col[i]
        for k in range(i):
            s -= factor[i, k] * col[k]
        col[i] = s
        total += s * s * inv_diag[i]
    return math.sqrt(total)


@njit(**_OPTIONS)
def _guess(res, nx, ny, lo, hi, p):
    """Initial parameters from the moments in ``res`` (see `_moments`)."""
    major, minor, theta = _shape_from_moments(res[7], res[8], res[9])
    sx = min(max(major, 0.3), 3.0)
    sy = min(max(minor, 0.3), 3.0)
    p[0] = res[4] / (2.0 * math.pi * sx * sy)
    p[1] = res[5]
    p[2] = res[6]
    p[3] = sx
    p[4] = sy
    p[5] = theta
    p[6] = res[0]
    for a in range(NPAR):
        p[a] = min(max(p[a], lo[a]), hi[a])


@njit(**_OPTIONS)
def _pixel_buffers(npix_max):
    """Work arrays of one frame's packed pixels.

    px, py, pd, psw, psig, pborder, layout (see `_pack_frame`), tmp, res.
    """
    return (np.empty(npix_max), np.empty(npix_max), np.empty(npix_max), np.empty(npix_max),
            np.empty(npix_max), np.empty(npix_max, dtype=np.bool_),
            np.zeros(1, dtype=np.int64), np.empty(npix_max), np.empty(12))


@njit(**_OPTIONS)
def _start_frame(data, err, bad, nx, k, use_err, robust, buffers,
                 out_par, out_err, out_chi2, out_dof, out_iter, out_flags):
    """Frame ``k``'s outputs reset (NaN), its usable pixels packed and their moments taken.

    Returns the number of usable pixels, or 0 when the frame is finished:
    too few pixels (TOO_FEW_PIXELS) or no pixel above the threshold
    (NO_SIGNAL), its flag then set.  ``robust`` is `_moments`'.
    """
    px, py, pd, psw, psig, pborder, layout, tmp, res = buffers
    kb = 0 if bad.shape[0] == 1 else k
    for a in range(NPAR):
        out_par[a, k] = np.nan
        out_err[a, k] = np.nan
    out_chi2[k] = np.nan
    out_iter[k] = 0
    n = _pack_frame(data, err, bad, nx, k, kb, use_err, px, py, pd, psw, psig, pborder,
                    layout)
    out_dof[k] = n - NPAR
    if n < MIN_PIXELS or n - NPAR < 1:
        out_flags[k] = TOO_FEW_PIXELS
        return 0
    if not _moments(px, py, pd, psig, pborder, n, use_err, robust, tmp, res):
        out_flags[k] = NO_SIGNAL
        return 0
    return n


@njit(**_OPTIONS)
def fit_gaussian_block(
    data, err, bad, nx, use_err, lo, hi, max_iter, chi2_limit, edge_margin, snr_min,
    out_par, out_err, out_chi2, out_dof, out_iter, out_flags,
):
    """Levenberg-Marquardt fit of the 2-D Gaussian to every frame of a block.

    Parameters
    ----------
    data, err : ndarray (m, ny * nx)
        Frames, one per row (C order), and their 1-sigma errors (``err``
        ignored unless ``use_err``).
    bad : ndarray of bool (m or 1, ny * nx)
        Pixels excluded by their DQ.
    nx : int
        Pixels per frame row.
    lo, hi : ndarray (7,)
        Parameter bounds (inclusive); values are clamped into them.
    max_iter : int
        Maximum number of LM trial steps.  A frame that stops because it
        has used them all raises ITERATION_CAP (and NOT_CONVERGED as well
        unless its final point passes the projected-gradient test).
    chi2_limit : ndarray (ny * nx + 1,)
        Chi-square above which a fit with that many degrees of freedom is an
        outlier (inf to disable).
    edge_margin : float
        Distance from the outer frame edge (px) inside which the centre
        raises EDGE.
    snr_min : float
        A flux (2 pi A sx sy) below ``snr_min`` times its error raises
        NO_SIGNAL.
    out_* : ndarray
        Outputs, (7, m) for parameters and errors, (m,) for the rest.
    """
    m = data.shape[0]
    ny = data.shape[1] // nx
    buffers = _pixel_buffers(ny * nx)
    px, py, pd, psw, _, _, _, _, res = buffers
    qbuf = np.empty(ny * nx)
    ebuf = np.empty(ny * nx)
    bits = np.empty(ny * nx, dtype=np.int64)
    powers = bits.view(np.float64)
    jtj = np.empty((NPAR, NPAR))
    jtr = np.empty(NPAR)
    jtj_trial = np.empty((NPAR, NPAR))
    jtr_trial = np.empty(NPAR)
    work = np.empty((NPAR, NPAR))
    scale = np.empty(NPAR)
    inv_scale = np.empty(NPAR)
    inv_diag = np.empty(NPAR)
    step = np.empty(NPAR)
    p = np.empty(NPAR)
    trial = np.empty(NPAR)
    errors = np.empty(NPAR)
    col = np.empty(NPAR)
    active = np.zeros(NPAR, dtype=np.bool_)

    for k in range(m):
        n = _start_frame(data, err, bad, nx, k, use_err, False, buffers,
                         out_par, out_err, out_chi2, out_dof, out_iter, out_flags)
        if n == 0:
            continue
        dof = n - NPAR
        _guess(res, nx, ny, lo, hi, p)

        flags = 0
        chi2 = _evaluate(px, py, pd, psw, n, p, qbuf, ebuf, bits, powers, jtj, jtr)
        if not math.isfinite(chi2):
            out_flags[k] = NONFINITE
            continue
        lam = LAMBDA_START
        converged = False
        capped = False
        # scale and inv_scale are those of jtj (unchanged by a rejected step).
        scaled = False
        it = 0
        while True:
            if it >= max_iter:
                # Stopped by the cap, not by a convergence test or by the
                # damping running away.
                capped = True
                break
            it += 1
            for a in range(NPAR):
                active[a] = (p[a] <= lo[a] and jtr[a] < 0.0) or (
                    p[a] >= hi[a] and jtr[a] > 0.0
                )
            if not scaled:
                _diag_scale(jtj, scale, inv_scale)
                scaled = True
            noise = math.sqrt(chi2 / dof) if chi2 > 0.0 else 1.0
            if not _lm_step(jtj, jtr, lam, active, scale, inv_scale, work, inv_diag, step):
                lam *= 10.0
                if lam > LAMBDA_MAX:
                    break
                continue
            smax = 0.0
            for a in range(NPAR):
                trial[a] = min(max(p[a] + step[a], lo[a]), hi[a])
                smax = max(smax, abs(trial[a] - p[a]) * scale[a])
            if smax <= STEP_TOL * noise and lam <= LAMBDA_START:
                # A (nearly) Gauss-Newton step far below the statistical
                # precision: take it and stop without another evaluation.
                # chi2 and the normal matrix are those of the previous
                # point, which differ by O(step**2).
                for a in range(NPAR):
                    p[a] = trial[a]
                converged = True
                break
            chi2_trial = _evaluate(px, py, pd, psw, n, trial, qbuf, ebuf, bits, powers,
                                   jtj_trial, jtr_trial)
            if chi2_trial < chi2:
                jtj, jtj_trial = jtj_trial, jtj
                jtr, jtr_trial = jtr_trial, jtr
                scaled = False
                decrease = chi2 - chi2_trial
                chi2 = chi2_trial
                for a in range(NPAR):
                    p[a] = trial[a]
                lam = max(lam * 0.1, LAMBDA_MIN)
                if decrease <= FTOL * chi2 or smax <= XTOL * noise:
                    converged = True
                    break
            else:
                # No decrease: either at the optimum (steps below rounding)
                # or a poor step.  A negligible step means converged.
                if smax <= XTOL * noise:
                    converged = True
                    break
                lam *= 10.0
                if lam > LAMBDA_MAX:
                    break
        if capped:
            # Visible even when the gradient test below accepts the point.
            flags |= ITERATION_CAP
        if not converged:
            # Accept a point where the projected scaled gradient vanishes.
            gmax = 0.0
            if not scaled:
                _diag_scale(jtj, scale, inv_scale)
                scaled = True
            for a in range(NPAR):
                free = not ((p[a] <= lo[a] and jtr[a] < 0.0) or (p[a] >= hi[a] and jtr[a] > 0.0))
                if free:
                    gmax = max(gmax, abs(jtr[a]) / scale[a])
            noise = math.sqrt(chi2 / dof) if chi2 > 0.0 else 1.0
            if gmax <= GTOL * noise:
                converged = True
            else:
                flags |= NOT_CONVERGED
        out_iter[k] = it

        if not scaled:
            _diag_scale(jtj, scale, inv_scale)
        if _parameter_errors(jtj, inv_scale, work, inv_diag, col, errors):
            # Without err (unit weights) the pixel noise is estimated from
            # the residuals, as curve_fit does with absolute_sigma=False.
            factor = 1.0 if use_err else math.sqrt(chi2 / dof)
            for a in range(NPAR):
                out_err[a, k] = errors[a] * factor
            # Significance of the flux (better determined than the
            # amplitude, which trades off against the widths).
            flux = 2.0 * math.pi * p[0] * p[3] * p[4]
            if not (flux > snr_min * factor * _flux_error(p, work, inv_diag, inv_scale, col)):
                flags |= NO_SIGNAL
        else:
            flags |= SINGULAR
        for a in range(NPAR):
            if p[a] <= lo[a] or p[a] >= hi[a]:
                flags |= AT_BOUND
        if _is_edge(p[1], p[2], nx, ny, edge_margin):
            flags |= EDGE
        if not (p[0] > 0.0):
            flags |= NO_SIGNAL
        if chi2 > chi2_limit[dof]:
            flags |= CHI2_OUTLIER

        # Canonical form: x_stddev >= y_stddev, theta in [-pi/2, pi/2).
        sx = abs(p[3])
        sy = abs(p[4])
        theta = p[5]
        ex = out_err[3, k]
        ey = out_err[4, k]
        if sy > sx:
            sx, sy = sy, sx
            ex, ey = ey, ex
            theta += 0.5 * math.pi
        p[3] = sx
        p[4] = sy
        p[5] = _wrap_angle(theta)
        out_err[3, k] = ex
        out_err[4, k] = ey

        for a in range(NPAR):
            out_par[a, k] = p[a]
            if not math.isfinite(p[a]) or not math.isfinite(out_err[a, k]):
                flags |= NONFINITE
        out_chi2[k] = chi2
        if not math.isfinite(chi2):
            flags |= NONFINITE
        out_flags[k] = flags


@njit(**_OPTIONS)
def fit_moments_block(
    data, err, bad, nx, use_err, sigma_lo, sigma_hi, edge_margin, snr_min,
    out_par, out_err, out_chi2, out_dof, out_iter, out_flags,
):
    """Moments ("quick") fit of every frame of a block (see `_moments`).

    Outputs as `fit_gaussian_block`; chi2 is that of the implied Gaussian,
    errors are given for x_mean, y_mean and offset only (NaN otherwise).
    """
    m = data.shape[0]
    ny = data.shape[1] // nx
    buffers = _pixel_buffers(ny * nx)
    px, py, pd, psw, _, _, _, _, res = buffers

    for k in range(m):
        n = _start_frame(data, err, bad, nx, k, use_err, True, buffers,
                         out_par, out_err, out_chi2, out_dof, out_iter, out_flags)
        if n == 0:
            continue
        flags = 0
        major, minor, theta = _shape_from_moments(res[7], res[8], res[9])
        sx = min(max(major, sigma_lo), sigma_hi)
        sy = min(max(minor, sigma_lo), sigma_hi)
        if sx != major or sy != minor:
            flags |= AT_BOUND
        flux = res[2]
        amp = flux / (2.0 * math.pi * sx * sy)
        if not (flux > snr_min * res[3]):
            flags |= NO_SIGNAL
        x0 = res[5]
        y0 = res[6]
        if _is_edge(x0, y0, nx, ny, edge_margin):
            flags |= EDGE
        theta = _wrap_angle(theta)
        out_par[0, k] = amp
        out_par[1, k] = x0
        out_par[2, k] = y0
        out_par[3, k] = sx
        out_par[4, k] = sy
        out_par[5, k] = theta
        out_par[6, k] = res[0]
        out_err[1, k] = res[10]
        out_err[2, k] = res[11]
        out_err[6, k] = res[1]

        # chi2 of the implied Gaussian (informative only).
        cth = math.cos(theta)
        sth = math.sin(theta)
        hx = 0.5 / (sx * sx)
        hy = 0.5 / (sy * sy)
        chi2 = 0.0
        for i in range(n):
            dx = px[i] - x0
            dy = py[i] - y0
            xr = cth * dx + sth * dy
            yr = -sth * dx + cth * dy
            model = amp * math.exp(-(xr * xr * hx + yr * yr * hy)) + res[0]
            r = (pd[i] - model) * psw[i]
            chi2 += r * r
        out_chi2[k] = chi2
        for a in range(NPAR):
            if not math.isfinite(out_par[a, k]):
                flags |= NONFINITE
        if not (math.isfinite(res[10]) and math.isfinite(res[11]) and math.isfinite(res[1])):
            flags |= NONFINITE
        if not math.isfinite(chi2):
            flags |= NONFINITE
        out_flags[k] = flags
