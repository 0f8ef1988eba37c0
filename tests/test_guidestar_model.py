"""GuideStarModel: saving keeps every table value and the in-memory model as it was."""

import numpy as np
import pytest
from astropy.io.fits import fitsrec
from numpy.testing import assert_array_equal

from spelunker import GuideStarModel, datasets, read_guidestar


@pytest.fixture(scope="module")
def model_with_strings(tmp_path_factory):
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("strings"),
        visits=[datasets.VisitSpec(n_frames=400, n_segments=2)], seed=5)
    model = read_guidestar(visit.files, progress=False)
    centroid = np.array(model.centroid_table)
    centroid["bad_pixel_flag"] = [b"NONE", b"BAD", b"", b"ALL"] * (len(centroid) // 4) + [
        b"NONE"] * (len(centroid) % 4)
    centroid["bad_centroid_dq_flag"][::3] = b"BAD_CENTROID"
    model.centroid_table = centroid
    return model


def test_string_columns_survive_a_save_without_per_string_encoding(model_with_strings, tmp_path,
                                                                   monkeypatch):
    model = model_with_strings
    expected_flags = np.asarray(model.table("centroid_table")["bad_pixel_flag"])
    expected_dq = np.asarray(model.table("centroid_table")["bad_centroid_dq_flag"])
    expected_files = list(model.table("files")["file_name"])

    def refuse(*args, **kwargs):
        raise AssertionError("string columns were re-encoded one value at a time")

    monkeypatch.setattr(fitsrec, "_ascii_encode", refuse)
    for suffix in (".fits", ".asdf"):
        path = tmp_path / f"model{suffix}"
        model.save(path)
        with GuideStarModel(path) as reopened:
            table = reopened.table("centroid_table")
            assert_array_equal(table["bad_pixel_flag"], expected_flags)
            assert_array_equal(table["bad_centroid_dq_flag"], expected_dq)
            assert list(reopened.table("files")["file_name"]) == expected_files
            assert_array_equal(reopened.data, model.data)

    # The model in memory still hands out str values after saving.
    assert isinstance(model.files["file_name"][0], str)
    assert isinstance(model.centroid_table["bad_pixel_flag"][0], str)
    assert set(expected_flags) == {"NONE", "BAD", "", "ALL"}


@pytest.fixture(scope="module")
def two_visits(tmp_path_factory):
    """Visit 1 (300 frames, 2 segments) and visit 2 (200 frames) of program 1534."""
    made = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("two_visits"), seed=3,
        visits=[datasets.VisitSpec(visit=1, n_frames=300, n_segments=2),
                datasets.VisitSpec(visit=2, n_frames=200, n_segments=1)])
    return read_guidestar(made.files, progress=False)


def test_a_failed_save_leaves_nothing(two_visits, tmp_path, monkeypatch):
    from astropy.io import fits

    def fail(self, path, *args, **kwargs):
        # Half a file written, then the disk is full (the save hands astropy
        # its open file: the tables follow the images in one stream).
        if hasattr(path, "write"):
            path.write(b"SIMPLE  =")
        else:
            with open(path, "wb") as stream:
                stream.write(b"SIMPLE  =")
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", fail)
    with pytest.raises(OSError, match="disk full"):
        two_visits.save(tmp_path / "model.fits")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    two_visits.save(tmp_path / "model.fits")
    assert [path.name for path in tmp_path.iterdir()] == ["model.fits"]
    with GuideStarModel(tmp_path / "model.fits") as reopened:
        assert reopened.meta.filename == "model.fits"  # written under its own name


def test_select_files(two_visits):
    from spelunker.errors import ParameterError
    from spelunker.filetable import fg_table

    model = two_visits
    segments = np.ma.filled(fg_table(model)["segment"], 0)
    second = model.select_files(segment=2)
    kept = np.isin(np.asarray(model.frames["file_index"]), np.flatnonzero(segments == 2))
    assert_array_equal(second.data, np.asarray(model.data)[kept])
    assert model.select_files(visit=2).visits() == [(1534, 1, 2)]
    assert len(model.select_files(visit=1, detector="GUIDER1").data) == 300
    with pytest.raises(ParameterError, match="leave none of the 3 file"):
        model.select_files(visit=3)
    with pytest.raises(ParameterError, match="no field segmnt"):
        model.select_files(segmnt=1)


def test_frames_between_and_frame_interval(two_visits):
    model = two_visits
    times = model.frame_times
    assert_array_equal(model.frames_between(times[100].mjd, times[399].mjd), np.arange(100, 400))
    assert_array_equal(model.frames_between(times[100], times[399]), np.arange(100, 400))
    assert_array_equal(model.frames_between(end=times[2]), [0, 1, 2])
    assert_array_equal(model.frames_between(times[100], times[399], frames=[450, 150, 50, 120]),
                       [150, 120])
    assert_array_equal(model.frames_between(), np.arange(500))
    assert abs(model.frame_interval() - 0.0538) < 1e-4
    single = GuideStarModel()
    single.frames = [(60000.0, 0, 0, 0)]
    assert single.frame_interval() == 1.0


def test_periodogram_curves_one_per_visit_and_guide_star(two_visits):
    from spelunker.errors import GuideStarInputError
    from spelunker.fitting import run_fit, store_fit
    from spelunker.periodogram import run_periodogram

    model = two_visits.select(slice(None))
    with pytest.raises(GuideStarInputError, match="no periodogram"):
        model.periodogram_curves("x_mean")
    result, _ = run_fit(model, "quick")
    store_fit(model, result, "quick")
    run_periodogram(model)
    curves = model.periodogram_curves("x_mean")
    table = np.asarray(model.periodogram)
    assert len(curves) == 2
    for visit, (frequency, power) in enumerate(curves):
        rows = table["visit_index"] == visit
        assert_array_equal(frequency, table["frequency"][rows])
        assert_array_equal(power, table["x_mean"][rows])


def test_locate_rows():
    from spelunker.datamodels.rows import locate_rows

    frames = np.random.default_rng(4).normal(size=(50, 8, 8)).astype(np.float32)
    frames[7, 2, 3] = np.nan
    assert_array_equal(locate_rows(frames, frames[5:20]), np.arange(5, 20))
    assert_array_equal(locate_rows(frames, frames[[3, 9, 40]]), [3, 9, 40])
    assert_array_equal(locate_rows(frames, frames[7]), [7])  # NaN matches NaN
    assert locate_rows(frames, frames[[9, 3]]) is None  # not in order
    assert locate_rows(frames, frames[:3] + 1) is None
    assert locate_rows(frames, np.zeros((2, 4, 4))) is None
    times = 60000.0 + np.arange(100) * 0.0538 / 86400
    assert_array_equal(locate_rows(times, times[10:12] + 1e-12, atol=1e-9), [10, 11])
    assert locate_rows(times, times[10:12] + 1e-6, atol=1e-9) is None
    assert locate_rows(times, ["a"]) is None


def test_select_visit_reads_the_numbers_and_finds_the_program(two_visits):
    """The model owns the visit lookup the session used to do: numbers as text, no program."""
    from spelunker.errors import ParameterError

    second = two_visits.select_visit(None, "1", "002")
    assert second.visits() == [(1534, 1, 2)] and len(second.data) == 200
    assert_array_equal(second.data, two_visits.select_visit("01534", 1, 2).data)
    with pytest.raises(ParameterError, match="GuideStarModel.select_visit: the model holds no "
                                             "visit observation 1, visit 3; the 2 visit"):
        two_visits.select_visit(None, 1, 3)
    with pytest.raises(ParameterError, match="here: visit='x' must be a whole number"):
        two_visits.select_visit(None, 1, "x", where="here")
    # Two programs holding the same observation and visit: the program must be given.
    both = GuideStarModel()
    both.update(two_visits)
    files = np.array(two_visits.files)
    files["program"][files["visit"] == 2] = 1535
    files["visit"][:] = 1
    both.files, both.frames = files, np.array(two_visits.frames)
    both.data = two_visits.data
    with pytest.raises(ParameterError, match="observation 1, visit 1 is held in programs "
                                             "1534, 1535: give program="):
        both.select_visit(None, 1, 1)
    assert len(both.select_visit(1535, 1, 1).data) == 200


def test_wrong_arguments_of_the_model_are_parameter_errors(two_visits, tmp_path):
    from spelunker.errors import GuideStarInputError, ParameterError

    for init in (5, object(), (2, 8, 8), np.zeros((2, 8, 8)), 1.5):
        with pytest.raises(ParameterError, match="GuideStarModel: init="):
            GuideStarModel(init)
    assert GuideStarModel({}).hasattr("data") is False
    assert len(GuideStarModel(two_visits).data) == len(two_visits.data)
    with pytest.raises(ParameterError, match="name='nope' is not one of .*'frames'"):
        two_visits.table("nope")
    with pytest.raises(GuideStarInputError, match="the model holds no events table"):
        two_visits.table("events")
    for path in (5, None, object()):
        with pytest.raises(ParameterError, match="GuideStarModel.save: path="):
            two_visits.save(path)
    assert GuideStarModel().frame_groups() == [] and GuideStarModel().guidestar_frames() == []
    with pytest.raises(ParameterError, match="table_dtype: name='x' is not one of"):
        two_visits.table_dtype("x")
    for frames in (None, [[0, 1]], "a"):
        with pytest.raises(ParameterError, match="is not a selection"):
            two_visits.select(frames)
    with pytest.raises(ParameterError, match="frames_between: start must be one time; got 2"):
        two_visits.frames_between([60000.0, 60001.0])
    with pytest.raises(ParameterError, match="frames_between: frames='x' are not frame"):
        two_visits.frames_between(frames="x")
    first = float(two_visits.frame_times.mjd[10])
    assert two_visits.frames_between([first], first).tolist() == [10]  # one time in a list
    for call in (lambda: GuideStarModel().frame_times, lambda: GuideStarModel().frames_between(),
                 lambda: GuideStarModel().select(slice(0, 1))):
        with pytest.raises(GuideStarInputError, match="no frames|holds none"):
            call()
    assert list(tmp_path.iterdir()) == []


def test_rows_functions_check_their_arrays():
    from spelunker.datamodels.rows import group_rows, locate_rows
    from spelunker.errors import ParameterError

    for visits, stars in ((None, [0]), ("x", [0]), (-5, [0]), ([0, 1], [0]), ([0.5], [0])):
        with pytest.raises(ParameterError, match="group_rows: "):
            group_rows(visits, stars)
    assert group_rows([], []) == []
    for current in (None, "x", -5, object(), np.array([object()])):
        with pytest.raises(ParameterError, match="locate_rows: current="):
            locate_rows(current, [1.0])


def _group_rows_by_sort(visits, stars):
    """The grouping by definition: each key's rows, ordered by the key's first row."""
    visits, stars = np.asarray(visits, np.int64), np.asarray(stars, np.int64)
    keys = visits * (int(stars.max(initial=0)) + 1) + stars
    _, first = np.unique(keys, return_index=True)
    return [(int(visits[i]), int(stars[i]), np.flatnonzero(keys == keys[i]))
            for i in np.sort(first)]


@pytest.mark.parametrize("pattern", ["one", "runs", "returning", "interleaved"])
def test_group_rows_groups_runs_as_a_sort_of_every_row_would(pattern, monkeypatch):
    # group_rows finds the runs of one visit and guide star instead of sorting every
    # row; any pattern gives the grouping of the sort, rows in order, groups by first row.
    from spelunker.datamodels import rows as rows_module

    rng = np.random.default_rng(4)
    n = 5000
    if pattern == "one":
        visits, stars = np.full(n, 2), np.full(n, 1)
    elif pattern == "runs":         # visits one after the other, a guide-star change in one
        visits = np.repeat([0, 1, 2], [1500, 2000, 1500])
        stars = np.where(np.arange(n) < 2500, 0, 3)
    elif pattern == "returning":    # a guide star re-acquired after another
        visits = np.zeros(n, int)
        stars = np.repeat([1, 0, 1, 2, 0], [1000, 500, 1500, 1000, 1000])
    else:                           # row by row: more runs than the limit, the sort's path
        visits, stars = rng.integers(0, 3, n), rng.integers(0, 2, n)
        monkeypatch.setattr(rows_module, "_MAX_RUNS", 100)
    groups = rows_module.group_rows(visits, stars)
    expected = _group_rows_by_sort(visits, stars)
    assert [(v, g) for v, g, _ in groups] == [(v, g) for v, g, _ in expected]
    for (_, _, rows), (_, _, reference) in zip(groups, expected, strict=True):
        assert rows.dtype == reference.dtype
        np.testing.assert_array_equal(rows, reference)
    assert sum(len(rows) for _, _, rows in groups) == n


def test_datamodels_docstring_says_its_job():
    import spelunker.datamodels

    first = spelunker.datamodels.__doc__.splitlines()[0]
    assert "GuideStarModel" in first and "reads and writes" in first


def test_asdf_manifests_are_parsed_by_libyaml_into_the_same_objects():
    """spelunker.datamodels has asdf parse its extension manifests with yaml.CSafeLoader: the
    same objects as PyYAML's pure-Python safe_load, every manifest installed."""
    import asdf
    import yaml
    from asdf.extension import _manifest

    from spelunker.datamodels._manifests import _LibyamlSafe, use_libyaml_for_manifests

    if not yaml.__with_libyaml__:   # nothing to gain: asdf keeps PyYAML's own parser
        assert use_libyaml_for_manifests() is False and _manifest.yaml is yaml
        return
    assert use_libyaml_for_manifests() is True   # done at import, idempotent
    assert isinstance(_manifest.yaml, _LibyamlSafe)
    assert _manifest.yaml.SafeLoader is yaml.SafeLoader   # the rest is PyYAML's
    resources = asdf.get_config().resource_manager
    manifests = [uri for uri in resources if "/manifests/" in uri]
    assert len(manifests) >= 10
    for uri in manifests:
        assert _manifest.yaml.safe_load(resources[uri]) == yaml.safe_load(resources[uri]), uri
    assert asdf.get_config().extensions   # and asdf loads them
