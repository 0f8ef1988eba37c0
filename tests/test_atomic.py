"""The one atomic writer: whole or nothing, one temporary naming scheme."""

import numpy as np
import pytest

from spelunker.atomic import (TEMPORARY_PREFIX, atomic_file, atomic_folder, is_temporary,
                              remove_stale_temporaries)
from spelunker.errors import ParameterError, SpelunkerError
from spelunker.names import id_number, parse_selection, parse_visit_id, visit_id


def test_a_file_appears_whole(tmp_path):
    target = tmp_path / "table.ecsv"
    with atomic_file(target) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(TEMPORARY_PREFIX)
        assert temporary.name.endswith("table.ecsv")
        temporary.write_text("content")
        assert not target.exists()
    assert target.read_text() == "content"
    assert [p.name for p in tmp_path.iterdir()] == ["table.ecsv"]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.ecsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.ecsv"]


def test_keep_name_writes_inside_a_temporary_folder(tmp_path):
    target = tmp_path / "visit.fits"
    with atomic_file(target, keep_name=True) as temporary:
        assert temporary.name == "visit.fits"
        assert is_temporary(temporary.parent)
        temporary.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == ["visit.fits"]


def test_refusals_are_spelunker_errors_before_writing(tmp_path):
    target = tmp_path / "table.ecsv"
    target.write_text("old")
    with pytest.raises(ParameterError, match="exists; pass overwrite=True"):
        with atomic_file(target, overwrite=False):
            pytest.fail("the block must not run")
    with pytest.raises(SpelunkerError, match="does not exist"):
        with atomic_file(tmp_path / "missing" / "t.ecsv"):
            pass
    with pytest.raises(ParameterError, match="is a folder"):
        with atomic_file(tmp_path):
            pass
    with pytest.raises(ParameterError, match="wrote nothing"):
        with atomic_file(tmp_path / "empty.ecsv"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.ecsv"]


def test_a_folder_appears_whole_and_replaces(tmp_path):
    target = tmp_path / "products"
    with atomic_folder(target) as temporary:
        (temporary / "a.txt").write_text("1")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "1"
    with pytest.raises(ParameterError, match="exists"):
        with atomic_folder(target):
            pass
    with atomic_folder(target, overwrite=True) as temporary:
        (temporary / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["products"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / f"{TEMPORARY_PREFIX}0a0b0c0d-visit.fits").write_text("half")
    (tmp_path / f"{TEMPORARY_PREFIX}0a0b0c0e-products").mkdir()
    (tmp_path / "keep.fits").write_text("whole")
    removed = remove_stale_temporaries(tmp_path)
    assert len(removed) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["keep.fits"]
    assert remove_stale_temporaries(tmp_path / "absent") == []


def test_visit_ids_both_ways_and_one_number_parser():
    assert visit_id(1534, "1", 2) == "jw01534001002"
    assert parse_visit_id(visit_id(1534, 1, 2)) == (1534, 1, 2)
    assert parse_visit_id("V01029001001") == (1029, 1, 1)
    assert parse_selection("1534:1", 2, name="observations") == (1534, 1)
    assert id_number(np.int32(7), "visit") == 7
    for bad in (True, None, 1.5, "1e3", "", 0, 1000):
        with pytest.raises(ParameterError, match="visit="):
            id_number(bad, "visit")
    with pytest.raises(ParameterError, match="program=100000"):
        visit_id(100000, 1, 1)
    with pytest.raises(ParameterError, match="PROGRAM:OBSERVATION:VISIT"):
        parse_selection("1534:1", 3, name="visits")
    with pytest.raises(ParameterError, match="not a visit id"):
        parse_visit_id("jw1534")



@pytest.mark.parametrize("value", [None, 5, object(), ""])
def test_the_writer_refuses_what_is_not_a_path(tmp_path, value):
    # Before the check: TypeError from pathlib (None, 5, object()) or a
    # ParameterError about the current folder ("").
    with pytest.raises(ParameterError, match=r"atomic_file: path=.* must be a file path"):
        with atomic_file(value):
            pytest.fail("the block must not run")
    with pytest.raises(ParameterError, match=r"atomic_folder: path=.* must be a folder path"):
        with atomic_folder(value):
            pytest.fail("the block must not run")
    with pytest.raises(ParameterError, match=r"is_temporary: path=.* must be a file path"):
        is_temporary(value)
    with pytest.raises(ParameterError, match=r"remove_stale_temporaries: folder=.*folder path"):
        remove_stale_temporaries(value)
