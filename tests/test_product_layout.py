"""The saved product's column types (issue 23): narrow where the values carry no more.

Uncertainties, chi-square, the light curve's error and the on-board
centroid packet's values are float32 (7 significant digits: far below their
own noise); counts and flag bits are int16; times and the fitted parameters
stay float64.  Products saved with the wider layout still open.
"""

import numpy as np
import pytest
from astropy.io import fits

from spelunker import GuideStarModel, datasets, read_guidestar
from spelunker.errors import ParameterError
from spelunker.fitting import FitFlag, fit_gaussian_frames, run_fit, store_fit

#: Relative rounding of a float64 value stored as float32 (half its 2**-23 spacing).
FLOAT32_RTOL = 6e-8

#: FITS TFORM of each narrowed column, and of columns that must stay wide.
EXPECTED_FORMS = {
    "GAUSS_FIT": {"x_mean": "D", "amplitude": "D", "x_mean_err": "E", "offset_err": "E",
                  "chi2": "E", "dof": "I", "iterations": "I", "flags": "I"},
    "LIGHTCURVE": {"flux": "D", "flux_err": "E", "n_pixels": "I"},
    "CENTROID": {"observatory_time_mjd": "D", "centroid_time_mjd": "D",
                 "guide_star_position_x": "E", "guide_star_position_y": "E",
                 "guide_star_instrument_counts_per_sec": "E", "psf_width_x": "J"},
    "FRAMES": {"mid_time_mjd": "D"},
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A visit with its Gaussian fit and light curve, and the float64 fit result."""
    from spelunker.photometry import run_photometry, store_photometry

    folder = tmp_path_factory.mktemp("layout")
    visit = datasets.make_guidestar_files(
        folder, visits=[datasets.VisitSpec(n_frames=300, n_segments=2)], seed=4)
    model = read_guidestar(visit.files, progress=False)
    result, _ = run_fit(model, "gauss")
    store_fit(model, result, "gauss")
    store_photometry(model, run_photometry(model, bin_size=1.0))
    path = folder / "product.fits"
    model.save(str(path))
    return model, result, path


def test_saved_columns_have_the_narrow_types(fitted):
    _, _, path = fitted
    with fits.open(path) as hdul:
        for extname, forms in EXPECTED_FORMS.items():
            columns = {c.name: c.format for c in hdul[extname].columns}
            for column, form in forms.items():
                assert columns[column] == form, (extname, column)
            assert not any(c.bzero for c in hdul[extname].columns), extname  # no offset ints


def test_round_trip_keeps_values_to_float32_precision(fitted):
    model, result, path = fitted
    with GuideStarModel(str(path)) as reopened:
        for column in ("x_mean_err", "amplitude_err", "chi2"):
            stored = np.asarray(reopened.gauss_fit[column])
            assert stored.dtype == np.float32
            original = np.asarray(result[column], dtype=np.float64)
            # bit for bit the float32 of the float64 result ...
            assert np.array_equal(stored, original.astype(np.float32), equal_nan=True)
            # ... within the stated relative tolerance of it
            finite = np.isfinite(original) & (original != 0)
            relative = np.abs(stored[finite] - original[finite]) / np.abs(original[finite])
            assert relative.max() <= FLOAT32_RTOL
        for column in ("x_mean", "y_mean", "amplitude"):  # the parameters stay float64
            assert np.array_equal(np.asarray(reopened.gauss_fit[column]), result[column],
                                  equal_nan=True)
        for column in ("flags", "dof", "iterations"):
            assert np.array_equal(np.asarray(reopened.gauss_fit[column]), result[column])
        assert np.array_equal(np.asarray(reopened.frames["mid_time_mjd"]),
                              np.asarray(model.frames["mid_time_mjd"]))
        assert np.array_equal(np.asarray(reopened.lightcurve["flux"]),
                              np.asarray(model.lightcurve["flux"]), equal_nan=True)


def test_product_of_the_wider_layout_still_opens(fitted, tmp_path):
    # A product saved before the narrowing: float64 errors and chi2, int32
    # counts, uint32 flags (FITS offset integers), float64 on-board values.
    _, result, path = fitted
    old = tmp_path / "old_layout.fits"
    with fits.open(path) as hdul:
        for extname in ("GAUSS_FIT", "LIGHTCURVE", "CENTROID"):
            table = hdul[extname]
            wide = []
            for name in table.data.dtype.names:
                kind = table.data.dtype[name]
                if kind.kind == "f":
                    kind = np.dtype(np.float64)
                elif name == "flags":
                    kind = np.dtype(np.uint32)
                elif kind.kind == "i":
                    kind = np.dtype(np.int32)
                wide.append((name, kind))
            values = np.zeros(len(table.data), dtype=wide)
            for name in values.dtype.names:
                values[name] = table.data[name]
            header = table.header.copy()
            hdul[extname] = fits.BinTableHDU(values, name=extname)
            for key in ("TIMESYS", "MJDREF", "TIMEUNIT"):
                if key in header:
                    hdul[extname].header[key] = header[key]
        hdul.writeto(old)
    with fits.open(old) as hdul:
        assert {c.name: c.format for c in hdul["GAUSS_FIT"].columns}["chi2"] == "D"
        assert hdul["GAUSS_FIT"].columns["flags"].bzero == 2**31
    with GuideStarModel(str(old)) as reopened, GuideStarModel(str(path)) as current:
        for name in ("gauss_fit", "lightcurve", "centroid_table"):
            a, b = getattr(reopened, name), getattr(current, name)
            assert a.dtype == b.dtype == reopened.table_dtype(name)
            for column in a.dtype.names:
                assert np.array_equal(np.asarray(a[column]), np.asarray(b[column]),
                                      equal_nan=a.dtype[column].kind == "f"), (name, column)


def test_every_fit_flag_fits_the_int16_column():
    assert max(FitFlag) < 2**15
    assert np.iinfo(GuideStarModel().table_dtype("gauss_fit")["flags"]).max >= sum(FitFlag)


def test_store_fit_refuses_integers_the_table_cannot_hold():
    data, err, _ = datasets.simulate_frames(4, seed=2)
    model = GuideStarModel(data=data, err=err)
    result = dict(fit_gaussian_frames(data, err))
    result["iterations"] = np.array([1, 2, 40_000, 3])
    with pytest.raises(ParameterError, match="iterations.*outside"):
        store_fit(model, result, "gauss")
    with pytest.raises(ParameterError, match="max_iterations"):
        run_fit(model, "gauss", max_iterations=40_000)


def test_checksum_write_has_the_same_tables(fitted, tmp_path):
    # to_fits(checksum=True) lets astropy write every HDU (each with its
    # CHECKSUM/DATASUM); the tables are those the streamed write gives.
    model, _, path = fitted
    summed = tmp_path / "summed.fits"
    model.to_fits(str(summed), checksum=True)
    with fits.open(summed, checksum=True) as a, fits.open(path) as b:
        assert [h.name for h in a] == [h.name for h in b]
        for hdu in a:
            assert "CHECKSUM" in hdu.header and "DATASUM" in hdu.header, hdu.name
            if isinstance(hdu, fits.BinTableHDU) and hdu.name != "ASDF":
                assert hdu.data.tobytes() == b[hdu.name].data.tobytes(), hdu.name
    with pytest.raises(ParameterError, match="overwrite"):
        model.to_fits(str(summed))
