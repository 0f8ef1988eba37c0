"""Hostile inputs: every bad input or parameter gets a clear spelunker error.

One test (or a few) per class of problem found by trying spelunker as a
hostile user would: hangs, silent acceptance, deep tracebacks from our own
code, misleading messages, OS errors passed through and parameter errors of
different types.  Each asserts the error type and that the message names the
file or parameter and the problem.
"""

import logging
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from stpipe.exceptions import ValidationError

import spelunker
from spelunker import (
    GuideStarFitStep,
    GuideStarModel,
    GuideStarPipeline,
    PeriodogramStep,
    datasets,
    read_guidestar,
)
from spelunker._validate import check_cpus, check_output_dir, check_output_file
from spelunker.errors import (
    CorruptFileError,
    EmptySelectionError,
    GuideStarInputError,
    MissingKeywordError,
    ParameterError,
    SpelunkerError,
    StepParameterError,
    WrongProductError,
)
from spelunker.io import expand_glob, open_guidestar
from spelunker.periodogram import frequency_grid
from spelunker.plotting import animation as animation_module
from spelunker.plotting import flux_spatial_timelapse_animation, write_visit_report
from tests.cli_helpers import STRUN, run_cli
from tests.guards import deadline

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def small_visit(tmp_path_factory):
    """One 200-frame product (read-only: copy before editing)."""
    directory = tmp_path_factory.mktemp("small_visit")
    return datasets.make_guidestar_files(
        directory, visits=[datasets.VisitSpec(n_frames=200, n_segments=1)], seed=5)


@pytest.fixture
def product(small_visit, tmp_path):
    """A private copy of the small visit's product."""
    source = small_visit.files[0]
    path = tmp_path / "copy" / source.name
    path.parent.mkdir()
    shutil.copy(source, path)
    return path


def _edit(path, change):
    with fits.open(path, mode="update") as hdul:
        change(hdul)
    return path


# --------------------------------------------------------------------------
# Hangs


def test_recursive_glob_over_symlink_loops_returns(small_visit, tmp_path):
    top = tmp_path / "tree"
    (top / "a" / "b").mkdir(parents=True)
    shutil.copy(small_visit.files[0], top / "a" / "b" / small_visit.files[0].name)
    os.symlink(top, top / "a" / "b" / "up")  # a loop back to the top
    os.symlink(top / "a", top / "a" / "self")  # and one to its own folder
    with deadline(60):
        matches = expand_glob(str(top / "**" / "*_cal.fits"))
        model = read_guidestar(str(top / "**" / "*_cal.fits"))
        directory_model = read_guidestar(top)
    assert matches == [str(top / "a" / "b" / small_visit.files[0].name)]
    assert model.data.shape == (200, 8, 8)
    np.testing.assert_array_equal(model.data, directory_model.data)


def test_expand_glob_keeps_the_glob_conventions(tmp_path, monkeypatch):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/x_cal.fits", "d/e/y_cal.fits", "d/.hidden_cal.fits", "z.txt"):
        (tmp_path / name).write_text("")
    monkeypatch.chdir(tmp_path)
    assert expand_glob("**/*_cal.fits") == ["d/e/y_cal.fits", "d/x_cal.fits"]
    assert expand_glob("d/*_cal.fits") == ["d/x_cal.fits"]
    assert expand_glob(str(tmp_path / "missing" / "**" / "*.fits")) == []


# --------------------------------------------------------------------------
# Silent acceptance


def test_empty_path_is_refused(small_visit, tmp_path, monkeypatch):
    monkeypatch.chdir(small_visit.files[0].parent)  # a folder that holds a product
    for text in ("", "  "):
        with pytest.raises(EmptySelectionError, match="empty path"):
            read_guidestar(text)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dq_that_is_not_flags_is_refused(product, dtype):
    def bad_dq(hdul):
        dq = np.zeros((200, 8, 8), dtype=dtype)
        dq[3, 1, 1], dq[4, 2, 2], dq[5, 3, 3] = 1.5, np.nan, -1.0
        hdul["DQ"] = fits.ImageHDU(dq, name="DQ")

    _edit(product, bad_dq)
    with pytest.raises(CorruptFileError) as info:
        read_guidestar(product)
    message = str(info.value)
    assert product.name in message
    assert "DQ" in message and "3 value(s) that are not bit flags" in message
    assert "-1.0" in message and "1.5" in message


def test_float_dq_of_whole_numbers_is_read_as_flags(product):
    def whole_dq(hdul):
        dq = np.zeros((200, 8, 8), dtype=np.float32)
        dq[7, 0, 0] = 1.0
        dq[8, 4, 4] = 2.0 ** 31
        hdul["DQ"] = fits.ImageHDU(dq, name="DQ")

    _edit(product, whole_dq)
    model = read_guidestar(product)
    assert model.dq.dtype == np.uint32
    assert model.dq[7, 0, 0] & 1 == 1
    assert model.dq[8, 4, 4] == 2 ** 31
    assert model.dq[9, 4, 4] == 0


def test_long_file_names_are_kept_whole(small_visit, tmp_path):
    name = small_visit.files[0].name.replace("_cal.fits", "_" + "x" * 60 + "_cal.fits")
    assert len(name) == 103
    path = tmp_path / name
    shutil.copy(small_visit.files[0], path)
    model = read_guidestar(path)
    assert model.files["file_name"][0] == name
    saved = tmp_path / "long_gspipe.fits"
    model.save(saved)
    assert GuideStarModel(saved).files["file_name"][0] == name


def test_names_longer_than_the_files_table_are_refused(small_visit, tmp_path):
    name = "jw01534001001_gs-fg_" + "y" * 150 + "_cal.fits"
    path = tmp_path / name
    shutil.copy(small_visit.files[0], path)
    with pytest.raises(GuideStarInputError, match=r"has 179 characters, the files table holds "
                                                  r"160; rename the file"):
        read_guidestar(path)


def test_products_of_two_programs_are_stitched_with_a_warning(tmp_path, caplog):
    first = datasets.make_guidestar_files(
        tmp_path / "p1", visits=[datasets.VisitSpec(n_frames=100, n_segments=1)],
        program=1000, seed=1)
    second = datasets.make_guidestar_files(
        tmp_path / "p2", visits=[datasets.VisitSpec(n_frames=100, n_segments=1,
                                                    start="2023-01-01T00:00:00")],
        program=2000, seed=2)
    with caplog.at_level(logging.INFO, logger="spelunker"):
        model = read_guidestar([*first.files, *second.files])
    assert len(model.data) == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2 programs (1000, 2000)" in text for text in warnings), warnings
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="spelunker"):
        read_guidestar(first.files)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --------------------------------------------------------------------------
# Deep tracebacks from our own code


@pytest.mark.parametrize("extname", ["SCI", "ERR", "DQ"])
def test_an_image_extension_that_is_a_table_is_refused(product, extname):
    def to_table(hdul):
        index = hdul.index_of(extname)
        hdul[index] = fits.BinTableHDU.from_columns(
            [fits.Column("a", "E", array=np.ones(3))], name=extname)

    _edit(product, to_table)
    with pytest.raises(WrongProductError, match=f"the {extname} extension is a BinTableHDU, "
                                                "not an image"):
        read_guidestar(product)


def test_non_ascii_folders_are_read_and_non_ascii_names_refused(small_visit, tmp_path):
    folder = tmp_path / "données" / "étoile"
    folder.mkdir(parents=True)
    shutil.copy(small_visit.files[0], folder / small_visit.files[0].name)
    assert read_guidestar(folder).data.shape == (200, 8, 8)
    assert read_guidestar(str(folder / "*.fits")).data.shape == (200, 8, 8)
    odd = folder / "jw01534001001_gs-fg_é_cal.fits"
    shutil.copy(small_visit.files[0], odd)
    with pytest.raises(GuideStarInputError, match="file name is not ASCII"):
        read_guidestar(odd)


@pytest.mark.parametrize(("start", "end", "keyword"), [
    (1e9, None, "DATASTRT"), (None, 1e9, "DATAEND"), (1e9, 1e9 + 1, "DATASTRT"),
    (-5.0, None, "DATASTRT"), (10.0, 20.0, "DATASTRT"),
])
def test_absurd_datastrt_dataend_name_the_keyword(product, start, end, keyword):
    def change(hdul):
        if start is not None:
            hdul[0].header["DATASTRT"] = start
        if end is not None:
            hdul[0].header["DATAEND"] = end

    _edit(product, change)
    with pytest.raises(MissingKeywordError, match=f"{keyword} = .* is not an MJD of the JWST "
                                                  "era"):
        read_guidestar(product)


@pytest.fixture(scope="module")
def saved_product(small_visit, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "visit_gspipe.fits"
    read_guidestar(small_visit.files).save(path)
    return path


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_saved_product_raises_corrupt_file_error(saved_product, tmp_path, fraction):
    data = saved_product.read_bytes()
    path = tmp_path / saved_product.name
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(CorruptFileError, match="truncated or damaged") as info:
        GuideStarModel(path)
    assert str(path) in str(info.value)
    with pytest.raises(CorruptFileError):
        open_guidestar(path)
    with pytest.raises(CorruptFileError):
        GuideStarFitStep.call(str(path), method="quick", configure_log=False)


def test_truncated_asdf_product_raises_corrupt_file_error(small_visit, tmp_path):
    path = tmp_path / "visit.asdf"
    read_guidestar(small_visit.files).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptFileError, match=r"visit\.asdf"):
        GuideStarModel(path)
    with pytest.raises(CorruptFileError):
        open_guidestar(path)


def test_guidestar_model_of_a_missing_path_names_it(tmp_path):
    with pytest.raises(GuideStarInputError, match="missing.fits: no such file"):
        GuideStarModel(tmp_path / "missing.fits")


def test_session_parameters_raise_parameter_error(small_visit, tmp_path):
    with pytest.raises(ParameterError, match="ncpus='two' must be an integer >= 1"):
        check_cpus("two")
    assert check_cpus("1") == 1
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(small_visit.files)
    with pytest.raises(ParameterError):
        spk.quick_fit(ncpus="two")
    with pytest.raises(ParameterError) as info:
        spk.select("a", "b")
    assert "'a'" in str(info.value)


# --------------------------------------------------------------------------
# Misleading messages


@pytest.fixture(scope="module")
def tiny_visits(tmp_path_factory):
    """Products of 1, 2 and 3 frames."""
    return {n: datasets.make_guidestar_files(
        tmp_path_factory.mktemp(f"tiny{n}"),
        visits=[datasets.VisitSpec(n_frames=n, n_segments=1)], seed=n) for n in (1, 2, 3)}


@pytest.mark.parametrize("n_frames", [1, 2, 3])
def test_very_short_visits_say_they_are_too_short(tiny_visits, n_frames):
    files = tiny_visits[n_frames].files
    with pytest.raises(SpelunkerError) as info:
        GuideStarPipeline.call(files, steps={"fit": {"method": "quick"}}, configure_log=False)
    message = str(info.value)
    assert "too short" in message and f"{n_frames} frame(s)" in message
    assert "nan s" not in message and "at most" not in message
    with pytest.raises(SpelunkerError) as info:
        PeriodogramStep.call(files, configure_log=False)
    message = str(info.value)
    assert "too short for a periodogram" in message
    assert f"{n_frames} distinct time" in message
    assert "4 evenly spaced" in message


def test_frequency_grid_of_two_times_says_too_short():
    with pytest.raises(ValueError, match="too short for a periodogram: 2 distinct times"):
        frequency_grid([0.0, 0.0538])
    # Explicit limits keep their own message.
    with pytest.raises(ValueError, match="is not above the minimum frequency"):
        frequency_grid(np.arange(100) * 0.0538, minimum_frequency=5, maximum_frequency=4)


def test_reading_a_spelunker_product_as_guider_data_says_how_to_open_it(saved_product, tmp_path,
                                                                        small_visit):
    asdf_path = tmp_path / "visit.asdf"
    read_guidestar(small_visit.files).save(asdf_path)
    for path in (saved_product, asdf_path):
        with pytest.raises(WrongProductError) as info:
            read_guidestar(path)
        message = str(info.value)
        assert "this is a spelunker product" in message
        assert "open_guidestar" in message and "GuideStarModel(path)" in message
        assert "DATASTRT" not in message
    # The readers that take products open it.
    assert open_guidestar(saved_product).data.shape == (200, 8, 8)


# --------------------------------------------------------------------------
# OS errors passed through: output paths checked before the work


def test_save_checks_the_output_path(small_visit, tmp_path):
    model = read_guidestar(small_visit.files)
    cases = [
        (tmp_path / "missing" / "out.fits", "missing"),
        (tmp_path, str(tmp_path)),
        (tmp_path / "out.txt", "out.txt"),
    ]
    for path, words in cases:
        with pytest.raises(ParameterError) as info:
            model.save(path)
        assert words in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders")
def test_save_and_outputs_refuse_a_read_only_folder(small_visit, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ParameterError, match="not writable"):
            read_guidestar(small_visit.files).save(folder / "out.fits")
        with pytest.raises(ParameterError, match="not writable"):
            check_output_file(folder / "movie.gif", "filename")
        with pytest.raises(ParameterError, match="not writable"):
            check_output_dir(folder, "directory")
    finally:
        folder.chmod(0o755)


def test_report_and_datasets_folders_that_are_files_are_refused(small_visit, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    model = read_guidestar(small_visit.files)
    with pytest.raises(ParameterError, match="write_visit_report: directory=.*a_file.*is a file"):
        write_visit_report(model, a_file)
    with pytest.raises(ParameterError, match="make_guidestar_files: directory=.*is a file"):
        datasets.make_guidestar_files(a_file, visits=[datasets.VisitSpec(n_frames=10)])
    with pytest.raises(ParameterError, match="cannot be created"):
        datasets.make_guidestar_files(a_file / "sub", visits=[datasets.VisitSpec(n_frames=10)])
    with pytest.raises(ParameterError, match="is a file"):
        datasets.sample_visit(a_file)


def test_animation_checks_its_output_before_drawing(small_visit, tmp_path, monkeypatch):
    model = read_guidestar(small_visit.files)

    class NoDrawing:
        def __init__(self, *args, **kwargs):
            msg = "the animation was drawn before its output path was checked"
            raise AssertionError(msg)

    monkeypatch.setattr(animation_module, "_Scene", NoDrawing)
    cases = [
        (dict(filename=tmp_path / "missing" / "movie.gif"), "does not exist"),
        (dict(filename=tmp_path / "folder.gif"), "is a folder"),
        (dict(filename=tmp_path / "movie.avi"), ".gif"),
        (dict(filename=tmp_path / "movie.gif", fps=0), "fps=0"),
        (dict(filename=tmp_path / "movie.gif", fps=-2), "fps=-2"),
        (dict(filename=tmp_path / "movie.gif", dpi=0), "dpi=0"),
        (dict(filename=3), "filename=3"),
    ]
    (tmp_path / "folder.gif").mkdir()
    for options, words in cases:
        with pytest.raises(ParameterError) as info:
            flux_spatial_timelapse_animation(model, 0, 10, **options)
        assert words in str(info.value)
    with pytest.raises(ParameterError, match="step=0"):
        flux_spatial_timelapse_animation(model, 0, 10, tmp_path / "m.gif", step=0)


# --------------------------------------------------------------------------
# Parameter errors of one documented type


@pytest.mark.parametrize(("options", "words"), [
    ({"ncpus": 0}, ["GuideStarFitStep", "ncpus=0", "too small", "an integer >= 1"]),
    ({"method": "foo"}, ["GuideStarFitStep", "method='foo'", "one of 'gauss', 'quick'"]),
    ({"max_iterations": -3}, ["max_iterations=-3", "an integer >= 1"]),
    ({"bogus": 1}, ["unknown parameter 'bogus'", "ncpus", "method"]),
])
def test_step_parameters_raise_parameter_error_with_allowed_values(small_visit, options, words):
    for make in (lambda: GuideStarFitStep(**options),
                 lambda: GuideStarFitStep.call(small_visit.files, configure_log=False,
                                               **options)):
        with pytest.raises(ParameterError) as info:
            make()
        assert isinstance(info.value, SpelunkerError)
        assert isinstance(info.value, StepParameterError)
        assert isinstance(info.value, ValidationError)  # stpipe's, for code written for it
        for word in words:
            assert word in str(info.value)


def test_pipeline_step_parameters_raise_parameter_error(small_visit):
    with pytest.raises(ParameterError) as info:
        GuideStarPipeline.call(small_visit.files, steps={"fit": {"ncpus": 0}},
                               configure_log=False)
    assert "GuideStarPipeline: parameter steps.fit.ncpus=0" in str(info.value)
    assert "an integer >= 1" in str(info.value)


def test_strun_parameter_error_is_readable(small_visit, tmp_path):
    result = run_cli(tmp_path, STRUN, "spelunker_fit", small_visit.files[0], "--method=foo",
                     steppars_disabled=True)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "GuideStarFitStep: parameter method='foo' is refused" in output
    assert "one of 'gauss', 'quick'" in output


# --------------------------------------------------------------------------
# Wrong types and values anywhere in the public functions of the readers,
# the photometry and the periodograms


def _public_calls(visit):
    """``(function, args, kwargs)`` that work, for every public function walked."""
    from spelunker import binning, io, periodogram, photometry

    model = read_guidestar(visit.files)
    data = np.asarray(model.data)
    err = np.asarray(model.err)
    times = model.frame_seconds()
    result = photometry.optimize_aperture(data, err, times=times, bin_size=1.0)
    power = periodogram.lomb_scargle(times, {"flux": result.flux})
    return [
        (photometry.optimize_aperture, (data, err), {"times": times, "bin_size": 1.0}),
        (photometry.aperture_flux, (data, err), {"mask": np.ones((8, 8), bool)}),
        (photometry.full_frame_flux, (data, err), {}),
        (photometry.usable_pixels, (data.shape,), {"dq": model.dq}),
        (photometry.binned_scatter, (result.flux, times), {"bin_size": 1.0}),
        (photometry.reference_frame, (data, model.dq, 1, None, 100), {}),
        (photometry.run_photometry, (model,), {"bin_size": 1.0}),
        (photometry.store_photometry, (model.copy(), result), {}),
        (photometry.lightcurve_table, (model,), {}),
        (photometry.read_aperture_mask, (visit.files[0],), {}),
        (periodogram.frequency_grid, (times,), {}),
        (periodogram.lomb_scargle, (times, {"flux": result.flux}), {}),
        (periodogram.find_peaks, (power.power["flux"],), {}),
        (periodogram.store_periodogram, (GuideStarModel(), power),
         {"source": None, "samples_per_peak": None}),
        (periodogram.periodogram_table, (model,), {}),
        (periodogram.periodogram_peaks_table, (model,), {}),
        (periodogram.periodogram_groups, (model,), {}),
        (periodogram.series_from_model, (model,), {}),
        (io.read_guidestar, (visit.files,), {"progress": False}),
        (io.open_visits, (visit.files,), {}),
        (io.frame_mid_times, (60000.0, 60000.1, 10), {}),
        (io.expand_glob, (str(visit.files[0]),), {}),
        (io.open_complete_fits, (visit.files[0],), {}),
        (binning.time_bin_index, (times, 2.0), {}),
        (binning.bin_series, (times, times, 2.0), {}),
    ]


def test_wrong_types_and_values_give_spelunker_errors_only(small_visit, caplog):
    wrong = [None, "x", -1, 2.5, [], object(), np.zeros((2, 2)), True, {"a": 1}]
    failures = []
    with caplog.at_level(logging.CRITICAL):
        for function, args, kwargs in _public_calls(small_visit):
            slots = [(index, None) for index in range(len(args))] + [(None, k) for k in kwargs]
            for (index, key), value in ((slot, value) for slot in slots for value in wrong):
                call_args, call_kwargs = list(args), dict(kwargs)
                if key is None:
                    call_args[index] = value
                else:
                    call_kwargs[key] = value
                try:
                    function(*call_args, **call_kwargs)
                except SpelunkerError:
                    pass
                except Exception as exc:  # noqa: BLE001 - the test lists them all
                    failures.append(f"{function.__name__}({index if key is None else key}="
                                    f"{value!r:.20}): {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)
