"""read_guidestar: stitching, frame times, and every kind of bad input."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_allclose, assert_array_equal
from stdatamodels.jwst.datamodels import GuiderCalModel, dqflags

from spelunker import GuideStarModel, datasets, read_guidestar
from spelunker.errors import (
    CorruptFileError,
    EmptySelectionError,
    GuideStarInputError,
    InconsistentVisitError,
    MissingKeywordError,
    SpelunkerError,
    WrongProductError,
)
from spelunker.io import frame_mid_times

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]


def copy_visit(visit, directory):
    directory.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(path, directory)) for path in visit.files]


def edit_header(path, **keywords):
    """Change (value) or delete (None) primary-header keywords in place."""
    with fits.open(path, mode="update") as hdul:
        for keyword, value in keywords.items():
            if value is None:
                del hdul[0].header[keyword]
            else:
                hdul[0].header[keyword] = value


# --- a good visit ---------------------------------------------------------


def test_three_segments_read_in_time_order(three_segment_visit):
    truth = three_segment_visit.truth
    shuffled = list(reversed(three_segment_visit.files))
    model = read_guidestar(shuffled, progress=False)

    assert isinstance(model, GuideStarModel)
    assert model.data.shape == (1500, 8, 8)
    assert model.data.dtype == np.float32 and model.err.dtype == np.float32
    assert model.dq.shape == model.data.shape
    times = model.frame_times
    assert times.scale == "utc"
    assert np.all(np.diff(times.mjd) > 0)
    # Mid-frame times within 1 ms of the generator's truth.
    assert np.max(np.abs((times - truth["time"]).to_value("s"))) < 1e-3
    assert_array_equal(model.frames["file_index"], truth["file_index"])


def test_files_table_is_correct(three_segment_visit):
    model = read_guidestar(three_segment_visit.files, progress=False)
    files = model.table("files")
    assert list(files["file_name"]) == [p.name for p in three_segment_visit.files]
    assert list(files["segment"]) == [1, 2, 3]
    assert set(files["program"]) == {1534}
    assert set(files["observation"]) == {1} and set(files["visit"]) == {1}
    assert set(files["exp_type"]) == {"FGS_FINEGUIDE"}
    assert set(files["detector"]) == {"GUIDER1"}
    assert files["n_frames"].sum() == 1500
    assert list(files["first_frame"]) == [0, 500, 1000]
    for row, path in zip(files, three_segment_visit.files):
        header = fits.getheader(path)
        assert row["data_start_mjd"] == header["DATASTRT"]
        assert row["data_end_mjd"] == header["DATAEND"]
        assert row["gs_id"] == header["GDSTARID"]
    assert set(files["time_source"]) == {"datastrt_dataend"}


def test_frames_are_not_rescaled_and_nan_frames_stay_flagged(three_segment_visit):
    model = read_guidestar(three_segment_visit.files, progress=False)
    with fits.open(three_segment_visit.files[1]) as hdul:
        assert_array_equal(model.data[500:1000], hdul["SCI"].data)
        assert_array_equal(model.err[500:1000], hdul["ERR"].data)
    assert model.meta.bunit_data == "DN/s"
    for index in (10, 700):
        assert np.all(np.isnan(model.data[index]))
        assert np.all(model.dq[index] & DO_NOT_USE)
    assert not np.any(model.dq[11] & DO_NOT_USE)


def test_mid_frame_formula_matches_design():
    start, end, n = 60000.0, 60000.0 + 100 * 0.0617 / 86400, 100
    times, source = frame_mid_times(start, end, n)
    assert source == "datastrt_dataend"
    # float64 MJD near 60000 resolves about 0.6 microseconds.
    assert_allclose((times[0] - start) * 86400, 0.5 * 0.0617, atol=2e-6)
    assert_allclose((end - times[-1]) * 86400, 0.5 * 0.0617, atol=2e-6)
    assert_allclose(np.diff(times) * 86400, 0.0617, atol=2e-6)


def test_centroid_packet_times_used_when_one_per_frame(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=600, n_segments=2)],
        centroid_rows="per_frame", seed=3)
    model = read_guidestar(visit.files, progress=False)
    assert set(model.table("files")["time_source"]) == {"centroid_packet"}
    assert model.meta.spelunker.time_source == "centroid_packet"
    assert np.max(np.abs((model.frame_times - visit.truth["time"]).to_value("s"))) < 1e-3


def test_tables_are_concatenated_with_file_index(three_segment_visit):
    model = read_guidestar(three_segment_visit.files, progress=False)
    n_rows = []
    for path in three_segment_visit.files:
        with fits.open(path) as hdul:
            n_rows.append((len(hdul["POINTING"].data), len(hdul["FGS CENTROID PACKET"].data)))
    pointing_counts = np.bincount(model.pointing_table["file_index"], minlength=3)
    centroid_counts = np.bincount(model.centroid_table["file_index"], minlength=3)
    assert list(pointing_counts) == [p for p, _ in n_rows]
    assert list(centroid_counts) == [c for _, c in n_rows]
    # Time strings become MJD (UTC) and TRUE/FALSE flags 1/0.
    from astropy.time import Time

    with fits.open(three_segment_visit.files[1]) as hdul:
        raw = hdul["FGS CENTROID PACKET"].data
        expected = Time(np.char.replace(raw["centroid_time"], " ", "T"), scale="utc").mjd
        expected_flags = (np.char.strip(raw["cosmic_ray_hit_flag"]) == "TRUE").astype(np.uint8)
    mine = model.centroid_table[model.centroid_table["file_index"] == 1]
    assert_allclose(mine["centroid_time_mjd"], expected, rtol=0, atol=1e-9)
    assert_array_equal(mine["cosmic_ray_hit_flag"], expected_flags)


def test_time_strings_and_flags_parse_from_bytes_and_text():
    from spelunker.io import iso_to_mjd
    from spelunker.io.reader import _flag_values

    times = np.array([b"1858-11-18 00:00:00.000 ", b" 2022-05-22T18:12:17.5", b"garbage"])
    mjd = iso_to_mjd(times)
    assert_allclose(mjd[:2], [1.0, 59721.0 + (18 * 3600 + 12 * 60 + 17.5) / 86400], rtol=0,
                    atol=1e-11)
    assert np.isnan(mjd[2])
    assert_array_equal(iso_to_mjd(times.astype(str)), mjd)
    flags = np.array([b"TRUE ", b"false", b"FALSE", b"NONE", b""])
    assert_array_equal(_flag_values(flags), [1, 0, 0, 255, 255])
    assert_array_equal(_flag_values(flags.astype(str)), [1, 0, 0, 255, 255])


def test_saved_model_reopens_with_jwst_datamodels_open(three_segment_visit, tmp_path):
    from jwst import datamodels

    model = read_guidestar(three_segment_visit.files, progress=False)
    path = tmp_path / "visit_guidestar.fits"
    model.save(path)
    with datamodels.open(path) as reopened:
        assert isinstance(reopened, GuideStarModel)
        assert_array_equal(reopened.data, model.data)
        assert_array_equal(reopened.dq, model.dq)
        assert_array_equal(reopened.frames["mid_time_mjd"], model.frames["mid_time_mjd"])
        assert list(reopened.table("files")["file_name"]) == list(model.table("files")["file_name"])
        assert reopened.meta.spelunker.time_scale == "utc"


def test_several_guide_stars_across_visits(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path,
        visits=[datasets.VisitSpec(observation=1, visit=1, n_frames=400, n_segments=2),
                datasets.VisitSpec(observation=2, visit=1, n_frames=300, n_segments=1,
                                   fgs_mag=15.0, detector="GUIDER2")],
        seed=5)
    model = read_guidestar(tmp_path, progress=False)
    stars = model.table("guidestars")
    assert len(stars) == 2
    assert list(stars["n_frames"]) == [400, 300]
    assert list(stars["detector"]) == ["GUIDER1", "GUIDER2"]
    assert_array_equal(model.frames["guidestar_index"], [0] * 400 + [1] * 300)
    assert list(stars["gs_id"]) == list(dict.fromkeys(visit.truth["gs_id"]))


def test_inputs_glob_directory_association_and_models(three_segment_visit, tmp_path):
    files = copy_visit(three_segment_visit, tmp_path / "visit")
    reference = read_guidestar(files, progress=False)

    from_glob = read_guidestar(str(tmp_path / "visit" / "*_cal.fits"), progress=False)
    from_directory = read_guidestar(tmp_path, progress=False)
    asn = {"asn_type": "guider", "products": [
        {"name": "visit", "members": [{"expname": f.name, "exptype": "science"} for f in files]}]}
    asn_path = tmp_path / "visit" / "visit_asn.json"
    asn_path.write_text(json.dumps(asn))
    from_asn = read_guidestar(asn_path, progress=False)
    models = [GuiderCalModel(f) for f in files]
    from_models = read_guidestar(models, progress=False)
    for other in (from_glob, from_directory, from_asn, from_models):
        assert_array_equal(other.data, reference.data)
        assert_array_equal(other.frames["mid_time_mjd"], reference.frames["mid_time_mjd"])


def test_files_table_holds_the_header_obs_id(three_segment_visit, tmp_path):
    obs_id = "V01534001001P0000000001102"  # as the generator writes it
    model = read_guidestar(three_segment_visit.files, progress=False)
    assert list(model.table("files")["obs_id"]) == [obs_id] * 3
    with GuiderCalModel(three_segment_visit.files[0]) as opened:
        from_model = read_guidestar([opened], progress=False)
        assert list(from_model.table("files")["obs_id"]) == [obs_id]
    # Saved and reopened with the rest of the files table.
    path = tmp_path / "visit_gspipe.fits"
    model.save(path)
    with GuideStarModel(path) as reopened:
        assert list(reopened.table("files")["obs_id"]) == [obs_id] * 3
    # OBS_ID is optional: an empty string when the header lacks it.
    files = copy_visit(three_segment_visit, tmp_path / "visit")
    edit_header(files[1], OBS_ID=None)
    model = read_guidestar(files, progress=False)
    assert list(model.table("files")["obs_id"]) == [obs_id, "", obs_id]


def test_duplicate_copies_are_read_once(three_segment_visit, tmp_path):
    first = copy_visit(three_segment_visit, tmp_path / "a")
    second = copy_visit(three_segment_visit, tmp_path / "b")
    model = read_guidestar(first + second[:2], progress=False)
    assert model.data.shape[0] == 1500
    assert len(model.files) == 3


def test_directory_skips_other_products(three_segment_visit, tmp_path):
    copy_visit(three_segment_visit, tmp_path)
    acq = tmp_path / "jw01534001001_gs-acq1_2022340000000_cal.fits"
    shutil.copy(three_segment_visit.files[0], acq)
    edit_header(acq, EXP_TYPE="FGS_ACQ1")
    model = read_guidestar(tmp_path, progress=False)
    assert len(model.files) == 3


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("exp_type", ["FGS_ACQ1", "FGS_ACQ2", "FGS_TRACK", "FGS_ID-IMAGE",
                                      "FGS_ID-STACK"])
def test_other_exp_types_are_refused(three_segment_visit, tmp_path, exp_type):
    (path,) = copy_visit(three_segment_visit, tmp_path)[:1]
    edit_header(path, EXP_TYPE=exp_type)
    with pytest.raises(WrongProductError, match=rf"{path.name}: EXP_TYPE is {exp_type}"):
        read_guidestar(path)


def test_uncalibrated_product_is_refused_with_advice(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=50, n_segments=1)], product="uncal", seed=2)
    with pytest.raises(WrongProductError, match=r"_uncal.fits: uncalibrated .*calwebb_guider"):
        read_guidestar(visit.files[0])
    with pytest.raises(EmptySelectionError, match="uncalibrated"):
        read_guidestar(tmp_path)


def test_wrong_shape_is_refused(three_segment_visit, tmp_path):
    (path,) = copy_visit(three_segment_visit, tmp_path)[:1]
    with fits.open(path, mode="update") as hdul:
        hdul["SCI"].data = np.zeros((5, 16, 16), dtype=np.float32)
    with pytest.raises(WrongProductError, match=rf"{path.name}: SCI has shape \(5, 16, 16\)"):
        read_guidestar(path)


@pytest.mark.parametrize("keyword", ["DATASTRT", "DATAEND"])
def test_missing_time_keywords_are_refused(three_segment_visit, tmp_path, keyword):
    (path,) = copy_visit(three_segment_visit, tmp_path)[:1]
    edit_header(path, **{keyword: None})
    with pytest.raises(MissingKeywordError,
                       match=rf"{path.name}: header keyword {keyword} is missing"):
        read_guidestar(path)


def test_time_keywords_in_wrong_order_are_refused(three_segment_visit, tmp_path):
    (path,) = copy_visit(three_segment_visit, tmp_path)[:1]
    start = fits.getval(path, "DATASTRT")
    edit_header(path, DATAEND=start - 0.01)
    with pytest.raises(MissingKeywordError, match="DATAEND .* is not after DATASTRT"):
        read_guidestar(path)


def test_not_fits_is_refused(tmp_path):
    path = tmp_path / "jw01534001001_gs-fg_2022340000000_cal.fits"
    path.write_bytes(b"this is not a FITS file" * 200)
    with pytest.raises(CorruptFileError, match=rf"{path.name}: not a readable FITS file"):
        read_guidestar(path)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_fits_is_refused(three_segment_visit, tmp_path, fraction):
    (path,) = copy_visit(three_segment_visit, tmp_path)[:1]
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * fraction)])
    with pytest.raises(CorruptFileError, match=rf"{path.name}: .*truncated"):
        read_guidestar(path)


def test_truncated_fine_guide_file_in_a_directory_is_not_skipped(three_segment_visit, tmp_path):
    files = copy_visit(three_segment_visit, tmp_path)
    content = files[1].read_bytes()
    files[1].write_bytes(content[: len(content) // 2])
    with pytest.raises(CorruptFileError, match=files[1].name):
        read_guidestar(tmp_path)


def test_empty_selections_are_refused(tmp_path):
    with pytest.raises(EmptySelectionError, match="no calibrated fine-guide"):
        read_guidestar(tmp_path)
    with pytest.raises(EmptySelectionError, match="no calibrated fine-guide"):
        read_guidestar(str(tmp_path / "*.fits"))
    with pytest.raises(EmptySelectionError):
        read_guidestar([])
    with pytest.raises(GuideStarInputError, match="no such file"):
        read_guidestar(tmp_path / "missing_cal.fits")


def test_mixed_detectors_in_one_interval_are_refused(three_segment_visit, tmp_path):
    files = copy_visit(three_segment_visit, tmp_path)
    edit_header(files[1], DETECTOR="GUIDER2")
    with pytest.raises(InconsistentVisitError, match=rf"{files[1].name}: detector GUIDER2 differs"):
        read_guidestar(files)


def test_overlapping_segments_are_refused(three_segment_visit, tmp_path):
    files = copy_visit(three_segment_visit, tmp_path)
    header = fits.getheader(files[0])
    edit_header(files[1], DATASTRT=(header["DATASTRT"] + header["DATAEND"]) / 2)
    with pytest.raises(InconsistentVisitError, match="overlap"):
        read_guidestar(files)


def test_errors_are_spelunker_errors():
    assert issubclass(WrongProductError, SpelunkerError)
    assert issubclass(CorruptFileError, SpelunkerError)


def test_wrong_object_type_is_refused():
    with pytest.raises(GuideStarInputError, match="int"):
        read_guidestar(42)


# --- real headers (optional) -------------------------------------------------


def test_real_headers_of_other_products_are_refused(reference_dir):
    reference = Path(reference_dir) / "fgs_headers"
    expected = {
        "fgs_acq1_guider1.fits": "EXP_TYPE is FGS_ACQ1",
        "fgs_acq2_guider1.fits": "EXP_TYPE is FGS_ACQ2",
        "fgs_track_guider1.fits": "EXP_TYPE is FGS_TRACK",
        "fgs_id-image_guider1.fits": "EXP_TYPE is FGS_ID-IMAGE",
        "fgs_id-stack_guider1.fits": "EXP_TYPE is FGS_ID-STACK",
        "fgs_fineguide_guider1.fits": "uncalibrated",
        "fgs_fineguide_guider2.fits": "uncalibrated",
    }
    for name, message in expected.items():
        with pytest.raises(WrongProductError, match=rf"{name}: .*{message}"):
            read_guidestar(reference / name)


def test_real_acquisition_pixels_are_refused(reference_dir):
    (path,) = sorted((Path(reference_dir) / "fgs_pixels").glob("*.fits"))
    with pytest.raises(WrongProductError, match=rf"{path.name}: EXP_TYPE is FGS_ACQ1"):
        read_guidestar(path)


@pytest.mark.parametrize("damage", ["shape", "exp_type", "integer"])
def test_damaged_fine_guide_segment_in_a_folder_is_not_skipped(three_segment_visit, tmp_path,
                                                               damage):
    files = copy_visit(three_segment_visit, tmp_path)
    with fits.open(files[1], mode="update") as hdul:
        if damage == "shape":
            hdul["SCI"].data = np.zeros((500, 16, 16), dtype=np.float32)
        elif damage == "exp_type":
            hdul[0].header["EXP_TYPE"] = "FGS_TRACK"
        else:
            hdul["SCI"].data = np.zeros((500, 8, 8), dtype=np.int16)
    with pytest.raises(WrongProductError, match=files[1].name):
        read_guidestar(tmp_path)
    with pytest.raises(WrongProductError, match=files[1].name):
        read_guidestar(str(tmp_path / "*_cal.fits"))


def test_saved_products_open_or_fail_clearly(three_segment_visit, tmp_path):
    from spelunker.io import open_guidestar
    from spelunker.stpipe import parameter_file

    model = read_guidestar(three_segment_visit.files)
    path = tmp_path / "visit_gspipe.fits"
    model.save(path)
    reopened = open_guidestar(path)
    assert_array_equal(reopened.data, model.data)

    truncated = tmp_path / "truncated_gspipe.fits"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="truncated_gspipe.fits"):
        open_guidestar(truncated)
    with pytest.raises(WrongProductError, match="not a saved GuideStarModel"):
        open_guidestar(parameter_file("fit"))
    with pytest.raises(GuideStarInputError, match="no such file"):
        open_guidestar(tmp_path / "missing.asdf")


# --- numbers, visits and ISO times -------------------------------------------


@pytest.mark.parametrize("values", [5, 60000.5, [1.0, 2.0], np.arange(3), True, [True]])
def test_iso_to_mjd_refuses_numbers(values):
    from spelunker.errors import ParameterError
    from spelunker.io import iso_to_mjd

    with pytest.raises(ParameterError, match="iso_to_mjd: values=.* must be ISO time strings"):
        iso_to_mjd(values)


def test_iso_to_mjd_of_objects_reads_strings_and_bytes_only():
    from spelunker.io import iso_to_mjd

    values = np.array(["1858-11-18 00:00:00", b"1858-11-19 00:00:00", None, 5], dtype=object)
    assert_array_equal(iso_to_mjd(values), [1.0, 2.0, np.nan, np.nan])
    assert iso_to_mjd([]).shape == (0,)


@pytest.fixture(scope="module")
def two_visits(tmp_path_factory):
    """Observation 1 visits 1 (two segments) and 2."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("two_visits"),
        visits=[datasets.VisitSpec(visit=1, n_frames=120, n_segments=2),
                datasets.VisitSpec(visit=2, n_frames=80, n_segments=1)], seed=5)


def test_open_visits_of_a_model_names_each_visits_files(two_visits):
    from spelunker.io import open_visits

    visits = open_visits(read_guidestar(two_visits.files))
    assert [(v.key, v.n_frames) for v in visits] == [((1534, 1, 1), 120), ((1534, 1, 2), 80)]
    names = sorted(path.name for path in two_visits.files)
    assert [v.names for v in visits] == [names[:2], names[2:]]


@pytest.mark.parametrize("visit", ["1534:1:2", ("01534", "001", "002"), np.array([1534, 1, 2])])
def test_read_guidestar_visit_in_every_form_names_reads(two_visits, visit):
    model = read_guidestar(two_visits.files, visit=visit)
    assert model.visits() == [(1534, 1, 2)] and len(model.data) == 80


@pytest.mark.parametrize(("visit", "problem"), [
    ((1534, 0, 1), r"visit=0 must be a whole number in 1\.\.999\b"),
    ((1534, 1), "PROGRAM:OBSERVATION:VISIT"), (5, "VISIT"),
    ((1534, 1, True), "visit=True"), ((1534.0, 1, 1), "visit=1534.0"),
])
def test_read_guidestar_refuses_a_visit_that_is_none(two_visits, visit, problem):
    from spelunker.errors import ParameterError

    expected = rf"must be \(program, observation, visit\).*{problem}"
    with pytest.raises(ParameterError, match=expected):
        read_guidestar(two_visits.files, visit=visit)


def test_header_numbers_are_read_by_names(two_visits, tmp_path):
    """PROGRAM ' 01534 ' is 1534; a PROGRAM that is no program number is unknown (-1)."""
    first, *others = copy_visit(two_visits, tmp_path)
    edit_header(first, PROGRAM=" 01534 ", OBSERVTN="1", VISIT="0001")
    files = read_guidestar([first]).table("files")
    assert (files["program"][0], files["observation"][0], files["visit"][0]) == (1534, 1, 1)
    edit_header(first, PROGRAM="0")
    assert read_guidestar([first]).table("files")["program"][0] == -1


def test_modules_say_their_one_job_in_their_first_docstring_line():
    import importlib

    first_lines = {
        "spelunker.io.products":
            "The guider products of an input, each found and checked (headers, arrays, integrity).",
        "spelunker.resources":
            "Data files shipped with spelunker: the ASDF parameter files of its steps and "
            "pipeline.",
        "spelunker.times": "Times given by a user, read as astropy `~astropy.time.Time` in UTC.",
        "spelunker.barycentric":
            "Barycentric times: BJD_TDB of UTC times, JWST's ephemeris, and back to UTC.",
        "spelunker.filetable": "The per-file table (``fg_table``): one row per guider product of "
                               "a model, with its fields.",
    }
    for name, line in first_lines.items():
        assert importlib.import_module(name).__doc__.splitlines()[0] == line, name
