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
