"""`spelunker.archive.download.cached_products`: a program's products already in a folder."""

import logging
import shutil

import pytest

from spelunker import datasets
from spelunker.archive.download import _original_layout_copy, cached_products, download_products
from spelunker.atomic import TEMPORARY_PREFIX
from spelunker.errors import DownloadError, ParameterError

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

VISITS = [datasets.VisitSpec(observation=1, visit=1, n_frames=40, n_segments=2),
          datasets.VisitSpec(observation=1, visit=2, n_frames=20, n_segments=1),
          datasets.VisitSpec(observation=2, visit=1, n_frames=20, n_segments=1)]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """Program 1534: observation 1 visits 1 (two segments) and 2, observation 2 visit 1."""
    return datasets.make_guidestar_files(tmp_path_factory.mktemp("cache_program"),
                                         visits=VISITS, seed=3)


@pytest.fixture(scope="module")
def uncal(tmp_path_factory):
    """The uncalibrated products of observation 2 visit 1."""
    return datasets.make_guidestar_files(tmp_path_factory.mktemp("cache_uncal"),
                                         visits=[VISITS[2]], seed=3, product="uncal")


def copy_into(paths, folder):
    folder.mkdir(parents=True, exist_ok=True)
    return [shutil.copy2(path, folder / path.name) for path in paths]


def names(paths):
    return [path.name for path in paths]


def test_flat_folder_filters_by_program_observation_and_visit(program, tmp_path):
    copy_into(program.files, tmp_path / "data")
    folder = tmp_path / "data"
    every = sorted(path.name for path in program.files)
    assert len(every) == 4
    found = cached_products(folder, 1534)
    assert names(found) == every
    assert all(path.parent == folder for path in found)
    assert names(cached_products(folder, 1534, observation=1)) == every[:3]
    assert names(cached_products(folder, 1534, observation=1, visit=1)) == every[:2]
    assert names(cached_products(folder, 1534, observation=1, visit=2)) == every[2:3]
    assert names(cached_products(folder, 1534, visit=1)) == every[:2] + every[3:]
    # Digit strings as the original tool's users type them, with MAST's zero padding.
    assert names(cached_products(str(folder), "01534", observation="002", visit="1")) == \
        every[3:]
    assert cached_products(folder, 1535) == []
    assert cached_products(folder, 1534, observation=3) == []
    assert cached_products(folder, 1534, calib_level=1) == []


def test_missing_or_empty_folder_holds_nothing(tmp_path):
    assert cached_products(tmp_path / "never_created", 1534) == []
    assert not (tmp_path / "never_created").exists()
    assert cached_products(tmp_path, 1534) == []


def test_original_layout_and_duplicates(program, tmp_path, caplog):
    """``mastDownload/JWST/<obs_id>/<file>``: a product listed by two exposures is there twice."""
    tree = tmp_path / "mastDownload" / "JWST"
    obs_1 = [p for p in program.files if p.name.startswith("jw01534001")]
    obs_2 = [p for p in program.files if p.name.startswith("jw01534002")]
    copy_into(obs_1, tree / "jw01534001001_02101_00001_guider1")
    copy_into(obs_1, tree / "jw01534001001_02101_00002_guider1")
    copy_into(obs_2, tree / "jw01534002001_02101_00001_guider2")
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        found = cached_products(tmp_path, 1534)
    assert names(found) == sorted(p.name for p in program.files)
    assert [p.parent.name for p in found[:3]] == ["jw01534001001_02101_00001_guider1"] * 3
    assert found[3].parent.name == "jw01534002001_02101_00001_guider2"
    assert caplog.records == []

    # A flat copy (what download_products writes) is preferred to the tree's.
    flat = copy_into(obs_2, tmp_path)
    assert cached_products(tmp_path, 1534, observation=2) == flat


def test_incomplete_copies_are_left_out(program, tmp_path, caplog):
    first, second = copy_into(program.files[:2], tmp_path)
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        found = cached_products(tmp_path, 1534, observation=1, visit=1)
    assert found == [second]
    assert first.name in caplog.text and "not a complete product" in caplog.text

    # A complete copy deeper in the folder replaces the truncated one.
    deeper = copy_into(program.files[:1], tmp_path / "mastDownload" / "JWST" / "obs")
    assert cached_products(tmp_path, 1534, observation=1, visit=1) == deeper + [second]


def test_other_files_are_ignored(program, uncal, tmp_path):
    copy_into(program.files[3:], tmp_path)
    copy_into(uncal.files, tmp_path)
    (tmp_path / "notes_gs-fg_2023.fits").write_text("not a product")
    (tmp_path / ".jw01534002001_gs-fg_2023125180012_cal.fits.part-0a1b2c").write_bytes(b"x")
    shutil.copy2(program.files[3], tmp_path / f"{TEMPORARY_PREFIX}0a1b2c3d-{program.files[3].name}")
    (tmp_path / "jw01534002001_gs-fg_2022340000825_cal.fits").mkdir()
    track = tmp_path / program.files[3].name.replace("_gs-fg_", "_gs-track_")
    shutil.copy2(program.files[3], track)
    assert names(cached_products(tmp_path, 1534)) == [program.files[3].name]
    assert names(cached_products(tmp_path, 1534, calib_level=1)) == names(uncal.files)


def test_a_file_under_another_products_name_is_left_out(program, tmp_path, caplog):
    """A _cal product renamed _uncal is not the product its name says."""
    renamed = tmp_path / program.files[3].name.replace("_cal.", "_uncal.")
    shutil.copy2(program.files[3], renamed)
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        assert cached_products(tmp_path, 1534, calib_level=1) == []
    assert renamed.name in caplog.text and "FILENAME" in caplog.text


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    (("1534a",), {}, "program='1534a'"),
    ((0,), {}, "program=0"),
    ((True,), {}, "program=True"),
    ((1534,), {"observation": 1000}, "observation=1000"),
    ((1534,), {"visit": "x"}, "visit='x'"),
    ((1534,), {"calib_level": 3}, "calib_level=3"),
])
def test_bad_numbers_are_parameter_errors(tmp_path, args, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        cached_products(tmp_path, *args, **kwargs)


def test_download_reuses_the_original_layout(program, tmp_path, caplog):
    """`download_products` takes complete copies in ``mastDownload/JWST/<obs_id>/`` as cached."""
    visit = [path for path in program.files if "jw01534001002" in path.name]
    outputs = tmp_path / "spelunker_outputs" / "mastDownload" / "JWST"
    layout = [copy_into([path], outputs / path.name.replace("_cal.fits", ""))[0]
              for path in visit]
    rows = [{"fileName": path.name, "fileSize": path.stat().st_size} for path in visit]
    with caplog.at_level(logging.INFO, logger="spelunker.archive.download"):
        paths = download_products(rows, tmp_path, server="http://127.0.0.1:9", retries=0)
    assert [str(path) for path in paths] == [str(path) for path in layout]
    assert not list(tmp_path.glob("*.fits"))  # nothing downloaded, nothing copied
    assert "original tool's download layout" in caplog.text
    # also without a size listed (a complete FITS file of the product), and at the top level
    top = tmp_path / "top"
    copy_into(visit, top / "mastDownload" / "JWST" / "jw01534001002_02101_00001_guider1")
    found = download_products([path.name for path in visit], top, server="http://127.0.0.1:9",
                              retries=0)
    assert [path.parent.name for path in found] == ["jw01534001002_02101_00001_guider1"]
    # a copy of another size is not used (it would be downloaded again)
    with caplog.at_level(logging.WARNING):
        assert _original_layout_copy(tmp_path, visit[0].name, rows[0]["fileSize"] + 1) is None
    assert "Not using" in caplog.text and f"the archive lists {rows[0]['fileSize'] + 1}" in \
        caplog.text
    # a name that is no product is refused before any lookup
    with pytest.raises(DownloadError):
        download_products(["../escape_cal.fits"], tmp_path, server="http://127.0.0.1:9")


def test_header_numbers_are_read_as_the_names_module_reads_them(program, tmp_path, caplog):
    """PROGRAM / OBSERVTN / VISIT match the name however they are written (names.id_number)."""
    from astropy.io import fits

    (first,) = copy_into(program.files[3:], tmp_path / "plain")
    for written in ("1534", " 01534 "):
        with fits.open(first, mode="update") as hdul:
            hdul[0].header["PROGRAM"] = written
        assert cached_products(tmp_path / "plain", 1534) == [first]
    for written, shown in (("01535", "'01535'"), ("", "''"), ("0", "'0'"), ("1534a", "'1534a'")):
        with fits.open(first, mode="update") as hdul:
            hdul[0].header["PROGRAM"] = written
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="spelunker.archive.download"):
            assert cached_products(tmp_path / "plain", 1534) == []
        assert f"its header PROGRAM is {shown}, the name's 01534" in caplog.text


@pytest.mark.parametrize("products", [None, 5, 1.5, object(), b"jw01534001001_gs-fg_x_cal.fits"])
def test_download_refuses_products_that_are_no_products(products, tmp_path):
    with pytest.raises(ParameterError, match="products=.* must be a products table"):
        download_products(products, tmp_path, server="http://127.0.0.1:9", retries=0)
    assert not list(tmp_path.iterdir())  # refused before anything is created
