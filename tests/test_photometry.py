"""Optimal-aperture photometry: the search against brute force, NaN handling, the step."""

import copy
import logging
import math

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_allclose, assert_array_equal
from stpipe.exceptions import ValidationError

from spelunker import GuideStarModel, PhotometryOptimizeStep, datasets
from spelunker.binning import DEFAULT_BIN_SIZE
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.io import open_guidestar
from spelunker.photometry import _frames as photometry_frames
from spelunker.photometry import (
    aperture_flux,
    binned_scatter,
    full_frame_flux,
    lightcurve_table,
    optimize_aperture,
    read_aperture_mask,
    run_photometry,
    store_photometry,
    usable_pixels,
)

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

FRAME_TIME = 0.0538


# --------------------------------------------------------------------------
# Data


@pytest.fixture(scope="module")
def frames_with_defects():
    """2400 faint frames with a wobbling star, NaN frames, NaN pixels and DQ flags."""
    n = 2400
    times = np.arange(n) * FRAME_TIME + 17.0
    wobble = 0.25 * np.sin(2 * np.pi * times / 23.0)
    data, err, _ = datasets.simulate_frames(n, fgs_mag=16.0, x_mean=3.4 + wobble, y_mean=3.6,
                                            seed=42)
    dq = np.zeros(data.shape, np.uint32)
    data[[7, 800, 801]] = np.nan          # whole frames lost
    err[[7, 800, 801]] = np.nan
    data[100:140, 3, 3] = np.nan          # a bright pixel lost in a run of frames
    dq[300:330, 4, 4] = 1                 # a bright pixel flagged DO_NOT_USE
    dq[500:900, 0, 0] = 4                 # a bit that is not bad by default
    data[1000, 7, 7] = np.inf             # a faint corner pixel
    return data, err, dq, times


@pytest.fixture(scope="module")
def wobble_visit(tmp_path_factory):
    """A faint star (FGS mag 16) wobbling by 0.2 pix, 3000 frames in 2 files (read-only)."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("phot_visit"),
        visits=[datasets.VisitSpec(n_frames=3000, n_segments=2, fgs_mag=16.0)],
        signals=[datasets.CentroidWobble(period=30.0, amplitude=0.2, axis="x"),
                 datasets.NanFrames(indices=[5, 1000])],
        seed=5,
    )


@pytest.fixture(scope="module")
def model(wobble_visit):
    """The visit read once (read-only: steps copy it)."""
    return open_guidestar(wobble_visit.files, progress=False)


@pytest.fixture(scope="module")
def two_star_model(tmp_path_factory):
    """Two visits on two guide stars of different brightness and position (read-only)."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("two_stars"),
        visits=[datasets.VisitSpec(n_frames=1500, n_segments=1, fgs_mag=13.0),
                datasets.VisitSpec(visit=2, n_frames=1500, n_segments=1, fgs_mag=16.5,
                                   x_mean=2.6, y_mean=4.3)],
        seed=6,
    )
    return open_guidestar(visit.files, progress=False)


def brute_force(data, times, bin_size, *, dq=None, bad_dq_bits=1):
    """The documented search, one aperture size at a time, in plain numpy loops."""
    n = data.shape[0]
    frames = data.reshape(n, -1).astype(np.float64)
    bad = ~np.isfinite(frames)
    if dq is not None:
        bad |= (dq.reshape(n, -1) & bad_dq_bits) != 0
    reference = np.where(bad, np.nan, frames)
    median = np.array([np.median(column[np.isfinite(column)]) for column in reference.T])
    ranking = sorted(range(frames.shape[1]), key=lambda pixel: (-median[pixel], pixel))
    bins = np.floor((times - times.min()) / bin_size).astype(int)
    occupied = np.unique(bins)
    per_bin = np.array([np.sum(bins == b) for b in occupied])
    min_count = max(2, math.ceil(0.5 * np.median(per_bin)))
    scatter = {}
    for size in range(1, frames.shape[1] + 1):
        pixels = ranking[:size]
        flux = np.array([np.nan if bad[i, pixels].any() else frames[i, pixels].sum()
                         for i in range(n)])
        means = []
        for b in occupied:
            values = flux[bins == b]
            values = values[np.isfinite(values)]
            if values.size >= min_count:
                means.append(values.mean())
        means = np.array(means)
        if means.size >= 4 and means.mean() > 0:
            scatter[size] = means.std(ddof=1) / means.mean()
        else:
            scatter[size] = np.nan
    best = min((value, size) for size, value in scatter.items() if np.isfinite(value))[1]
    return best, scatter, ranking


# --------------------------------------------------------------------------
# The search


def test_optimized_aperture_beats_the_full_frame_sum(model):
    times = model.frame_seconds()
    result = optimize_aperture(model.data, model.err, times=times, dq=model.dq, bin_size=5.0)
    chosen = result.selected
    assert len(chosen) == 1 and chosen["guidestar_index"][0] == -1
    n_chosen = int(chosen["n_pixels"][0])
    assert 4 <= n_chosen <= 20
    full, _ = full_frame_flux(model.data, dq=model.dq)
    full_scatter = binned_scatter(full, times, bin_size=5.0)
    best_scatter = binned_scatter(result.flux, times, bin_size=5.0)
    assert best_scatter < 0.8 * full_scatter
    assert_allclose(best_scatter, chosen["binned_scatter"][0], rtol=1e-9)
    assert_allclose(full_scatter, result.summary["full_frame_scatter"][0], rtol=1e-9)
    # the search table holds every size and the full frame is one of them
    assert_array_equal(result.search["n_pixels"], np.arange(1, 65))
    assert_allclose(result.search["binned_scatter"][63], full_scatter, rtol=1e-9)
    assert result.masks.shape == (1, 8, 8) and result.masks.dtype == np.uint8
    assert int(result.masks.sum()) == n_chosen
    assert_array_equal(result.n_pixels, np.full(3000, n_chosen))


@pytest.mark.parametrize("chunk", [photometry_frames._CHUNK_FRAMES, 97])
def test_chosen_size_equals_brute_force(frames_with_defects, monkeypatch, chunk):
    data, err, dq, times = frames_with_defects
    # results must not depend on chunking
    monkeypatch.setattr(photometry_frames, "_CHUNK_FRAMES", chunk)
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0)
    best, scatter, ranking = brute_force(data, times, 4.0, dq=dq)
    assert int(result.selected["n_pixels"][0]) == best
    assert 1 < best < 64
    expected = np.array([scatter[size] for size in range(1, 65)])
    assert_allclose(np.asarray(result.search["binned_scatter"]), expected, rtol=1e-9,
                    equal_nan=True)
    mask = np.zeros(64, np.uint8)
    mask[ranking[:best]] = 1
    assert_array_equal(result.masks[0].ravel(), mask)


def test_brute_force_agrees_without_dq_and_with_a_range_of_sizes(frames_with_defects):
    data, _, _, times = frames_with_defects
    _, scatter, _ = brute_force(data, times, 6.0)
    result = optimize_aperture(data, times=times, bin_size=6.0, n_pixels=range(5, 30))
    assert_array_equal(result.search["n_pixels"], np.arange(5, 30))
    expected = np.array([scatter[size] for size in range(5, 30)])
    assert_allclose(np.asarray(result.search["binned_scatter"]), expected, rtol=1e-9)
    best = 5 + int(np.nanargmin(expected))
    assert int(result.selected["n_pixels"][0]) == best
    assert np.all(np.isnan(result.flux_err))  # no ERR given


def test_reference_frame_subsample(frames_with_defects):
    data, _, _, times = frames_with_defects
    few = optimize_aperture(data, times=times, bin_size=4.0, reference_frames=50)
    everything = optimize_aperture(data, times=times, bin_size=4.0, reference_frames=None)
    assert int(few.masks.sum()) >= 1
    # bright pixels rank the same from 50 frames as from all of them
    assert few.masks[0, 3:5, 3:5].all() and everything.masks[0, 3:5, 3:5].all()


# --------------------------------------------------------------------------
# Fluxes and bad data


def test_flux_is_the_mask_sum_and_flux_err_the_quadrature_sum(frames_with_defects):
    data, err, dq, times = frames_with_defects
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0)
    mask = result.masks[0].astype(bool)
    direct = data[:, mask].astype(np.float64).sum(axis=1)
    direct_err = np.sqrt((err[:, mask].astype(np.float64) ** 2).sum(axis=1))
    flagged = ((dq[:, mask] & 1) != 0).any(axis=1)
    direct[flagged] = np.nan
    direct_err[flagged | ~np.isfinite(direct)] = np.nan
    assert_allclose(result.flux, direct, rtol=1e-12, equal_nan=True)
    assert_allclose(result.flux_err, direct_err, rtol=1e-12, equal_nan=True)
    assert result.flux.dtype == np.float64
    full, full_err = full_frame_flux(data, err)  # no DQ: only non-finite pixels count
    direct = data.astype(np.float64).sum(axis=(1, 2))
    direct[~np.isfinite(direct)] = np.nan
    direct_err = np.sqrt((err.astype(np.float64) ** 2).sum(axis=(1, 2)))
    direct_err[np.isnan(direct)] = np.nan
    assert_allclose(full, direct, rtol=1e-12, equal_nan=True)
    assert_allclose(full_err, direct_err, rtol=1e-12, equal_nan=True)
    assert np.isnan(full[1000]) and np.isnan(full_err[1000])  # inf pixel: NaN, not inf


def test_bad_frames_give_nan_flux_never_zero(frames_with_defects):
    data, err, dq, times = frames_with_defects
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0)
    mask = result.masks[0].astype(bool)
    assert mask[3, 3] and mask[4, 4] and not mask[7, 7]
    nan = ~np.isfinite(result.flux)
    expected = np.zeros(len(data), bool)
    expected[[7, 800, 801]] = True
    expected[100:140] = True     # NaN pixel in the aperture
    expected[300:330] = True     # DO_NOT_USE pixel in the aperture
    assert_array_equal(nan, expected)
    assert np.all(np.isnan(result.flux[expected]))
    assert np.all(np.isnan(result.flux_err[expected]))
    assert np.isfinite(result.flux[1000])  # inf outside the aperture does not matter
    assert np.isfinite(result.flux[600])   # DQ bit 4 is not bad by default
    assert np.all(result.flux[~expected] > 0)
    # the full frame is NaN wherever any pixel is
    full, full_err = full_frame_flux(data, dq=dq)
    assert np.isnan(full[1000]) and np.isnan(full[7]) and np.isnan(full[310])
    assert np.isfinite(full[600])
    assert np.all(np.isnan(full_err))  # no ERR given
    assert np.isnan(full_frame_flux(data, dq=dq, bad_dq_bits=1 | 4)[0][600])
    # a NaN frame drops out of its bin instead of pulling the bin mean down
    assert binned_scatter(result.flux, times, bin_size=4.0) < 0.01


def test_a_pixel_flagged_in_every_frame_is_never_in_the_aperture(frames_with_defects):
    data, err, _, times = frames_with_defects
    dq = np.zeros(data.shape[1:], np.uint32)
    dq[3, 4] = 1  # one of the brightest pixels, flagged in every frame (2-D DQ)
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0)
    assert result.masks[0, 3, 4] == 0
    searched = np.asarray(result.search["binned_scatter"])
    rank = int(np.flatnonzero(np.isnan(searched))[0])  # first size that includes the pixel
    assert np.all(np.isnan(searched[rank:])) and np.all(np.isfinite(searched[:rank]))
    assert int(result.selected["n_pixels"][0]) <= rank


def test_aperture_flux_per_group_and_checks():
    data = np.ones((4, 8, 8), np.float32)
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, 0, :3] = 1
    masks[1, 5:, 5:] = 1
    flux, flux_err, n_pixels = aperture_flux(data, mask=masks, groups=[0, 1, 1, 0])
    assert flux.tolist() == [3.0, 9.0, 9.0, 3.0]
    assert n_pixels.tolist() == [3, 9, 9, 3]
    assert np.all(np.isnan(flux_err))
    with pytest.raises(ParameterError, match="give groups"):
        aperture_flux(data, mask=masks)
    with pytest.raises(ParameterError, match="mask has shape"):
        aperture_flux(data, mask=np.ones((7, 8)))
    with pytest.raises(ParameterError, match="mask must hold numbers or booleans"):
        aperture_flux(data, mask=np.full((8, 8), "x"))


# --------------------------------------------------------------------------
# Argument errors


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"bin_size": 0}, "bin_size=0 must be"),
        ({"bin_size": -2.0}, "bin_size=-2.0 must be"),
        ({"bin_size": float("nan")}, "bin_size=nan"),
        ({"bin_size": 0.01}, "frame per bin"),
        ({"n_pixels": []}, "n_pixels is empty"),
        ({"n_pixels": [0, 3]}, "between 1 and 64"),
        ({"n_pixels": 65}, "between 1 and 64"),
        ({"mask": np.ones((7, 8))}, "shape (7, 8)"),
        ({"mask": np.zeros((8, 8))}, "empty"),
        ({"mask": np.full((8, 8), 0.5)}, "only 0 and 1"),
        ({"groups": np.zeros(3, int)}, "groups has shape"),
        ({"times": np.zeros(3)}, "times has shape"),
        ({"times": np.zeros((600, 2))}, "times must be 1-D"),
        ({"times": "soon"}, "times must be numbers"),
        ({"bad_dq_bits": "DO_NOT_USE"}, "bad_dq_bits='DO_NOT_USE'"),
        ({"reference_frames": 0}, "reference_frames=0"),
    ],
)
def test_bad_arguments_raise_clear_errors(frames_with_defects, kwargs, words):
    data, err, dq, times = frames_with_defects
    arguments = {"times": times, "bin_size": 4.0, "dq": dq}
    arguments.update(kwargs)
    with pytest.raises(ParameterError) as info:
        optimize_aperture(data[:600], err[:600], **{
            k: (v[:600] if k in ("times", "dq") and len(v) == len(data) else v)
            for k, v in arguments.items()})
    assert words in str(info.value)


def test_series_too_short_for_the_bins_names_its_length_and_bin_size(frames_with_defects):
    data, err, _, times = frames_with_defects
    with pytest.raises(ParameterError) as info:
        optimize_aperture(data[:500], err[:500], times=times[:500], bin_size=10.0)
    message = str(info.value)
    assert "spans 26.85 s (500 frames)" in message
    assert "bin_size=10 s gives 3 usable bin(s), at least 4" in message
    assert "smaller bin_size" in message
    with pytest.raises(ParameterError, match="data must be"):
        optimize_aperture(data[0], times=times[:1])
    with pytest.raises(ParameterError, match="err has shape"):
        optimize_aperture(data[:10], err[:9], times=times[:10])
    # No bin size fits 10 frames: the data, not a parameter, is at fault.
    with pytest.raises(GuideStarInputError, match="too short to bin"):
        optimize_aperture(data[:10], err[:10], times=times[:10])
    with pytest.raises(GuideStarInputError, match="the light curve is empty"):
        binned_scatter([], [])


def test_binned_scatter_of_a_step():
    times = np.arange(400.0)
    flux = np.where(times < 200, 99.0, 101.0)
    assert_allclose(binned_scatter(flux, times, bin_size=100.0), np.std([99, 99, 101, 101],
                                                                        ddof=1) / 100)
    flux[:100] = np.nan  # the first bin is empty: three bins left, too few
    assert np.isnan(binned_scatter(flux, times, bin_size=100.0))


# --------------------------------------------------------------------------
# Per guide star, user masks


def test_per_guidestar_gives_one_aperture_per_star(two_star_model):
    model = two_star_model
    groups = np.asarray(model.frames["guidestar_index"])
    assert_array_equal(np.unique(groups), [0, 1])
    times = model.frame_seconds()
    result = optimize_aperture(model.data, model.err, times=times, dq=model.dq,
                               bin_size=5.0, groups=groups)
    assert result.masks.shape == (2, 8, 8)
    assert result.aperture == "optimized_per_guidestar"
    assert_array_equal(result.summary["guidestar_index"], [0, 1])
    sizes = result.masks.reshape(2, -1).sum(axis=1)
    assert_array_equal(result.n_pixels, sizes[groups])
    assert_array_equal(result.summary["n_pixels"], sizes)
    assert not np.array_equal(result.masks[0], result.masks[1])
    for plane, (x, y) in zip(result.masks, [(3.5, 3.5), (2.6, 4.3)]):
        rows, cols = np.nonzero(plane)
        assert abs(cols.mean() - x) < 0.6 and abs(rows.mean() - y) < 0.6
    search = result.search
    for star in (0, 1):
        rows = search[search["guidestar_index"] == star]
        assert len(rows) == 64 and int(rows["selected"].sum()) == 1
        # each star's aperture is the one its own frames alone would choose
        alone = optimize_aperture(model.data[groups == star], model.err[groups == star],
                                  times=times[groups == star], dq=model.dq[groups == star],
                                  bin_size=5.0)
        assert_array_equal(result.masks[star], alone.masks[0])
        assert_allclose(result.flux[groups == star], alone.flux, rtol=0, equal_nan=True)


def test_user_mask_skips_the_search(frames_with_defects):
    data, err, dq, times = frames_with_defects
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0, mask=mask)
    assert result.aperture == "user"
    assert_array_equal(result.masks[0], mask.astype(np.uint8))
    assert len(result.search) == 1 and result.search["n_pixels"][0] == 16
    assert bool(result.search["selected"][0])
    _, scatter, _ = brute_force(data, times, 4.0, dq=dq)
    assert np.isfinite(result.search["binned_scatter"][0])
    assert_allclose(result.summary["full_frame_scatter"][0], scatter[64], rtol=1e-9)
    flux, _, _ = aperture_flux(data, mask=mask, dq=dq)
    assert_allclose(result.flux, flux, rtol=0, equal_nan=True)


@pytest.mark.parametrize("bad_in_mask", [False, True], ids=["outside", "inside"])
def test_user_mask_full_frame_baseline_leaves_out_a_pixel_flagged_in_every_frame(
        frames_with_defects, bad_in_mask):
    data, err, dq, times = frames_with_defects
    dq = dq.copy()
    bad = (3, 3) if bad_in_mask else (0, 7)
    dq[:, bad[0], bad[1]] |= 1  # a static bad pixel of a 3-D DQ array
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0, mask=mask)
    # the baseline is the full_frame_flux light curve (the 63 usable pixels) ...
    full, _ = full_frame_flux(data, dq=dq)
    expected = binned_scatter(full, times, bin_size=4.0)
    assert np.isfinite(expected)
    assert_allclose(result.summary["full_frame_scatter"][0], expected, rtol=1e-9)
    # ... the same as the optimised search reports
    searched = optimize_aperture(data, err, times=times, dq=dq, bin_size=4.0)
    assert_allclose(result.summary["full_frame_scatter"][0],
                    searched.summary["full_frame_scatter"][0], rtol=1e-9)
    # the user aperture itself is measured as given
    user = binned_scatter(aperture_flux(data, mask=mask, dq=dq)[0], times, bin_size=4.0)
    if bad_in_mask:
        assert np.all(np.isnan(result.flux)) and np.isnan(user)
        assert np.isnan(result.search["binned_scatter"][0])
    else:
        assert_allclose(result.search["binned_scatter"][0], user, rtol=1e-9)


@pytest.mark.parametrize("user_mask", [False, True], ids=["optimized", "user"])
def test_full_frame_baseline_leaves_out_a_pixel_nan_in_every_frame(frames_with_defects,
                                                                    user_mask):
    data, err, _, times = frames_with_defects
    data = data.copy()
    data[:, 0, 7] = np.nan  # lost in every frame, but no DQ flag says so
    mask = None
    if user_mask:
        mask = np.zeros((8, 8), bool)
        mask[2:6, 2:6] = True
    result = optimize_aperture(data, err, times=times, bin_size=4.0, mask=mask)
    others = np.ones((8, 8), bool)
    others[0, 7] = False
    expected = binned_scatter(aperture_flux(data, mask=others)[0], times, bin_size=4.0)
    assert np.isfinite(expected)
    assert_allclose(result.summary["full_frame_scatter"][0], expected, rtol=1e-9)
    assert result.masks[0, 0, 7] == 0
    assert np.isfinite(result.summary["binned_scatter"][0])


@pytest.mark.parametrize("kind", ["npy", "fits", "fits_extension"])
def test_read_aperture_mask(tmp_path, kind):
    mask = np.zeros((8, 8), np.uint8)
    mask[3:5, 2:6] = 1
    if kind == "npy":
        path = tmp_path / "mask.npy"
        np.save(path, mask)
    elif kind == "fits":
        path = tmp_path / "mask.fits"
        fits.PrimaryHDU(mask.astype(np.int16)).writeto(path)
    else:
        path = tmp_path / "mask.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(mask.astype(np.float32))]).writeto(path)
    assert_array_equal(read_aperture_mask(path), mask.astype(bool))


def test_read_aperture_mask_errors(tmp_path):
    with pytest.raises(ParameterError, match="no such file"):
        read_aperture_mask(tmp_path / "missing.npy")
    np.save(tmp_path / "small.npy", np.ones((4, 4)))
    with pytest.raises(ParameterError, match=r"small.npy.*shape \(4, 4\)"):
        read_aperture_mask(tmp_path / "small.npy")
    (tmp_path / "mask.txt").write_text("1 1 1")
    with pytest.raises(ParameterError, match="use a .npy file or a FITS image"):
        read_aperture_mask(tmp_path / "mask.txt")
    (tmp_path / "broken.fits").write_bytes(b"not a FITS file")
    with pytest.raises(ParameterError, match="broken.fits"):
        read_aperture_mask(tmp_path / "broken.fits")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(ParameterError, match="empty.npy.*cannot be read"):
        read_aperture_mask(tmp_path / "empty.npy")
    fits.PrimaryHDU().writeto(tmp_path / "header_only.fits")
    with pytest.raises(ParameterError, match="header_only.fits.*no image HDU"):
        read_aperture_mask(tmp_path / "header_only.fits")
    with pytest.raises(ParameterError, match="must be a file path"):
        read_aperture_mask(8)


def test_usable_pixels_of_a_selection():
    dq = np.zeros((6, 8, 8), np.uint32)
    dq[:, 0, 0] = 1  # flagged in every frame
    dq[:3, 1, 1] = 1  # flagged in the first three frames only
    assert int(usable_pixels(dq.shape, dq=dq).sum()) == 63
    for select in (slice(None, 3), np.arange(3), slice(0, 3)):
        assert int(usable_pixels(dq.shape, dq=dq, select=select).sum()) == 62


# --------------------------------------------------------------------------
# The model: store_photometry, lightcurve_table


def test_store_photometry_and_lightcurve_table(model, tmp_path):
    copy_ = model.copy()
    result = optimize_aperture(copy_.data, copy_.err, times=copy_.frame_seconds(),
                               dq=copy_.dq, bin_size=5.0)
    stored = store_photometry(copy_, result)
    assert stored.dtype == copy_.table_dtype("lightcurve")
    assert copy_.meta.spelunker.photometry_bin_size == 5.0
    assert copy_.meta.spelunker.photometry_aperture == "optimized"
    assert_array_equal(copy_.aperture_mask, result.masks)
    assert len(copy_.aperture_search) == 64
    assert copy_.aperture_search["guidestar_index"][0] == -1
    copy_.save(tmp_path / "phot.fits")
    for source in (copy_, GuideStarModel(tmp_path / "phot.fits")):
        table = lightcurve_table(source)
        assert table.colnames == ["time", "flux", "flux_err", "n_pixels", "guidestar_index"]
        assert table["time"].scale == "utc"
        assert_allclose(table["time"].mjd, model.frames["mid_time_mjd"], rtol=0, atol=0)
        assert table["flux"].unit == u.DN / u.s and table["flux_err"].unit == u.DN / u.s
        assert_allclose(table["flux"].value, result.flux, rtol=0, equal_nan=True)
    with pytest.raises(GuideStarInputError, match="no lightcurve table"):
        lightcurve_table(model)
    with pytest.raises(ParameterError, match="aperture='best'"):
        store_photometry(copy_, result, aperture="best")
    with pytest.raises(ParameterError, match=r"shape \(3000,\); the model has 3 frames"):
        store_photometry(GuideStarModel(data=np.zeros((3, 8, 8), np.float32)), result)
    with pytest.raises(ParameterError, match="must be an ApertureResult"):
        store_photometry(copy_, {"flux": result.flux})
    with pytest.raises(GuideStarInputError, match="store_photometry needs the frames"):
        store_photometry(GuideStarModel(), result)


def test_frame_seconds(model):
    seconds = model.frame_seconds()
    exact = (model.frame_times - model.frame_times[0]).to_value("s")
    assert_allclose(seconds, exact, rtol=0, atol=1e-5)
    assert seconds[0] == 0
    with pytest.raises(ValueError, match="no frames table"):
        GuideStarModel(data=np.zeros((3, 8, 8), np.float32)).frame_seconds()


# --------------------------------------------------------------------------
# The step


def snapshot(model):
    state = {"meta": copy.deepcopy(model.meta.instance)}
    for name in ("data", "err", "dq"):
        state[name] = np.array(getattr(model, name))
    for name in ("frames", "files", "guidestars"):
        table = getattr(model, name)
        state[name] = {column: np.array(table[column]) for column in table.dtype.names}
    for name in ("lightcurve", "aperture_mask", "aperture_search"):
        state[name] = model.hasattr(name)
    return state


def assert_same(before, after):
    assert before["meta"] == after["meta"]
    for name in ("data", "err", "dq"):
        assert_array_equal(after[name], before[name], err_msg=name)
    for name in ("frames", "files", "guidestars"):
        for column in before[name]:
            assert_array_equal(after[name][column], before[name][column], err_msg=name)
    for name in ("lightcurve", "aperture_mask", "aperture_search"):
        assert after[name] == before[name], name


def test_step_leaves_the_input_unmodified_and_fills_the_tables(model):
    before = snapshot(model)
    result = PhotometryOptimizeStep.call(model, bin_size=5.0)
    assert_same(before, snapshot(model))
    assert result is not model
    assert isinstance(result, GuideStarModel)
    direct = optimize_aperture(model.data, model.err, times=model.frame_seconds(),
                               dq=model.dq, bin_size=5.0)
    assert len(result.lightcurve) == 3000
    assert_allclose(result.lightcurve["flux"], direct.flux, rtol=0, equal_nan=True)
    # flux_err is stored as float32 (docs/pipeline.rst, product columns): exactly
    # the float32 of the direct result
    assert result.lightcurve["flux_err"].dtype == np.float32
    assert_allclose(result.lightcurve["flux_err"], direct.flux_err.astype(np.float32), rtol=0,
                    equal_nan=True)
    assert_array_equal(result.lightcurve["n_pixels"], direct.n_pixels)
    assert_array_equal(result.aperture_mask, direct.masks)
    assert len(result.aperture_search) == 64
    assert int(np.sum(result.aperture_search["selected"])) == 1
    assert result.meta.spelunker.photometry_bin_size == 5.0
    assert result.meta.spelunker.photometry_aperture == "optimized"
    assert np.isnan(result.lightcurve["flux"][5]) and np.isnan(result.lightcurve["flux"][1000])


def test_step_size_range_and_per_guidestar(two_star_model):
    result = PhotometryOptimizeStep.call(two_star_model, bin_size=5.0, min_pixels=3,
                                         max_pixels=30, per_guidestar=True)
    assert result.aperture_mask.shape == (2, 8, 8)
    assert result.meta.spelunker.photometry_aperture == "optimized_per_guidestar"
    search = result.aperture_search
    assert_array_equal(np.unique(search["guidestar_index"]), [0, 1])
    assert set(search["n_pixels"]) == set(range(3, 31))
    groups = np.asarray(two_star_model.frames["guidestar_index"])
    sizes = result.aperture_mask.reshape(2, -1).sum(axis=1)
    assert_array_equal(result.lightcurve["n_pixels"], sizes[groups])
    assert np.all((sizes >= 3) & (sizes <= 30))


@pytest.mark.parametrize("kind", ["npy", "fits"])
def test_step_uses_a_user_mask_file(model, tmp_path, kind):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:6] = 1
    path = tmp_path / f"aperture.{kind}"
    if kind == "npy":
        np.save(path, mask.astype(bool))
    else:
        fits.PrimaryHDU(mask).writeto(path)
    result = PhotometryOptimizeStep.call(model, bin_size=5.0, aperture_mask=str(path))
    assert_array_equal(result.aperture_mask, mask[None])
    assert result.meta.spelunker.photometry_aperture == "user"
    assert_array_equal(result.lightcurve["n_pixels"], np.full(3000, 9))
    expected, _, _ = aperture_flux(model.data, mask=mask, dq=model.dq)
    assert_allclose(result.lightcurve["flux"], expected, rtol=0, equal_nan=True)
    assert len(result.aperture_search) == 1


def test_saved_product_reopens_with_the_tables(model, tmp_path):
    from jwst import datamodels

    result = PhotometryOptimizeStep.call(model, bin_size=5.0, save_results=True,
                                         output_dir=str(tmp_path), output_file="visit")
    path = tmp_path / "visit_gsphot.fits"
    assert path.exists(), sorted(p.name for p in tmp_path.iterdir())
    with datamodels.open(path) as reopened:
        assert isinstance(reopened, GuideStarModel)
        for column in ("flux", "flux_err", "n_pixels"):
            assert_array_equal(reopened.lightcurve[column], result.lightcurve[column])
        assert_array_equal(reopened.aperture_mask, result.aperture_mask)
        for column in ("guidestar_index", "n_pixels", "binned_scatter", "selected"):
            assert_array_equal(reopened.aperture_search[column],
                               result.aperture_search[column])
        assert reopened.meta.spelunker.photometry_bin_size == 5.0
        assert reopened.meta.spelunker.photometry_aperture == "optimized"
        assert lightcurve_table(reopened)["flux"].unit == u.DN / u.s


def test_step_default_bin_size_matches_the_library():
    assert PhotometryOptimizeStep().bin_size == DEFAULT_BIN_SIZE
    assert PhotometryOptimizeStep().suffix == "gsphot"
    assert PhotometryOptimizeStep.class_alias == "spelunker_photometry"


@pytest.mark.parametrize(
    ("parameters", "error", "words"),
    [
        ({"bin_size": 0}, ValueError, ["bin_size=0"]),
        ({"bin_size": -1.0}, ValueError, ["bin_size=-1.0"]),
        ({"min_pixels": 10, "max_pixels": 5}, ValueError,
         ["min_pixels=10", "max_pixels=5"]),
        ({"max_pixels": 65}, ValidationError, ["max_pixels", "too big"]),
        ({"min_pixels": 0}, ValidationError, ["min_pixels", "too small"]),
        ({"bad_dq_bits": "NOT_A_FLAG"}, ValueError, ["bad_dq_bits='NOT_A_FLAG'"]),
    ],
)
def test_step_parameter_errors(model, parameters, error, words):
    with pytest.raises(error) as info:
        PhotometryOptimizeStep.call(model, **parameters)
    for word in words:
        assert word in str(info.value)


def test_step_mask_file_errors(model, tmp_path):
    missing = tmp_path / "nowhere.npy"
    with pytest.raises(ParameterError) as info:
        PhotometryOptimizeStep.call(model, aperture_mask=str(missing))
    assert "aperture_mask" in str(info.value) and "nowhere.npy" in str(info.value)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((6, 6), bool))
    with pytest.raises(ParameterError) as info:
        PhotometryOptimizeStep.call(model, aperture_mask=str(wrong))
    assert "aperture_mask" in str(info.value) and "wrong.npy" in str(info.value)
    assert "shape (6, 6)" in str(info.value)


def test_parameters_set_on_an_instance_are_checked(model):
    step = PhotometryOptimizeStep()
    step.min_pixels, step.max_pixels = 20, 10
    with pytest.raises(ValueError, match="min_pixels=20 is larger than max_pixels=10"):
        step.process(model)
    step = PhotometryOptimizeStep()
    step.bin_size = float("inf")
    with pytest.raises(ValueError, match="bin_size=inf"):
        step.process(model)


def test_step_too_short_series_gets_a_smaller_bin_size(model, caplog):
    """A series too short for the bins (a short visit) gets the largest bin that works."""
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        result = PhotometryOptimizeStep.call(model, bin_size=60.0)
    span = float(np.ptp(model.frame_seconds()))
    assert "bin_size reduced from 60 s" in caplog.text
    assert_allclose(result.meta.spelunker.photometry_bin_size, span / 10, rtol=1e-12)
    direct = optimize_aperture(model.data, model.err, times=model.frame_seconds(),
                               bin_size=span / 10)
    assert_array_equal(result.aperture_mask, direct.masks)


def test_step_logs_a_summary(model, caplog):
    with caplog.at_level(logging.INFO, logger="spelunker"):
        result = PhotometryOptimizeStep.call(model, bin_size=5.0)
    messages = [r.getMessage() for r in caplog.records
                if r.name == "spelunker.stpipe.photometry_optimize_step"]
    n_chosen = int(result.aperture_mask.sum())
    summary = [m for m in messages if "binned scatter" in m]
    assert len(summary) == 1
    assert f"optimised aperture of {n_chosen} pixels" in summary[0]
    assert "for all pixels" in summary[0] and "x lower" in summary[0]
    assert any("2 frame(s) with NaN flux" in m for m in messages)


def test_dq_of_the_wrong_shape_is_ignored_with_a_warning(model, caplog):
    odd = model.copy()
    odd.dq = np.ones((len(odd.data), 4, 4), np.uint32)  # would flag everything if used
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        result = run_photometry(odd, bin_size=5.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and r.name.startswith("spelunker.photometry")]
    assert len(warnings) == 1
    assert "DQ" in warnings[0] and "(3000, 4, 4)" in warnings[0] and "ignored" in warnings[0]
    expected = optimize_aperture(model.data, model.err, times=model.frame_seconds(), bin_size=5.0)
    assert_array_equal(result.masks, expected.masks)
    assert_allclose(result.flux, expected.flux, rtol=0, equal_nan=True)


def test_config_file_sets_parameters(two_star_model, tmp_path):
    config = tmp_path / "phot.asdf"
    PhotometryOptimizeStep(bin_size=5.0, max_pixels=20, per_guidestar=True).export_config(config)
    result = PhotometryOptimizeStep.call(two_star_model, config_file=str(config))
    assert result.aperture_mask.shape == (2, 8, 8)
    assert result.meta.spelunker.photometry_bin_size == 5.0
    assert int(np.max(result.aperture_search["n_pixels"])) == 20
    # keyword arguments override the file
    result = PhotometryOptimizeStep.call(two_star_model, config_file=str(config),
                                         per_guidestar=False)
    assert result.aperture_mask.shape == (1, 8, 8)
    assert result.meta.spelunker.photometry_aperture == "optimized"


def test_static_bad_pixel_is_left_out_not_fatal(tmp_path):
    """A pixel flagged in every frame (the files' DQ) must not blank the light curves."""
    from spelunker import read_guidestar
    from spelunker.photometry import full_frame_flux, optimize_aperture, usable_pixels

    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=2000, n_segments=2)],
        bad_pixels=[(0, 0)], seed=12)
    model = read_guidestar(visit.files)
    data, err, dq = (np.asarray(model.data), np.asarray(model.err), np.asarray(model.dq))
    usable = usable_pixels(data.shape, dq=dq)
    assert not usable[0, 0] and usable.sum() == 63
    full, _ = full_frame_flux(data, err, dq=dq)
    assert np.all(np.isfinite(full))
    assert_allclose(full, data.reshape(len(data), -1)[:, 1:].sum(axis=1, dtype=np.float64),
                    rtol=1e-9)
    times = np.arange(len(data)) * 0.0538
    result = optimize_aperture(data, err, times=times, dq=dq, bin_size=5.0)
    assert result.masks[0, 0, 0] == 0
    assert np.all(np.isfinite(result.flux))
    assert np.isfinite(result.summary["full_frame_scatter"][0])
