"""Guide Star Catalog look-ups, guide-star properties and product names (offline)."""

import json
import logging
import os
import re
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from gsc_server import FakeGSC, closed_port_url, gsc_reply
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import datasets, read_guidestar
from spelunker.archive.catalog import (
    CatalogError,
    CatalogFallbackWarning,
    guide_star_properties,
    parse_catalog_reply,
    query_guide_star_catalog,
)
from spelunker.filetable import fg_table
from spelunker.names import parse_obs_id, parse_product_name
from spelunker import atomic
from spelunker.atomic import is_temporary
from spelunker.errors import ParameterError, SpelunkerError

# Two invented guide stars near the LMC (ids in the GSC 2 style).
STAR_A = "S1HP081234"
STAR_B = "S1HP090017"
CATALOG = {
    STAR_A: {"ra": 80.793121, "dec": -69.538774, "j": 14.021, "h": 13.304, "k": 13.117,
             "gaia_id": 4658012345678901234},
    STAR_B: {"ra": 80.552409, "dec": -69.561032, "j": 12.884, "h": 12.102, "k": None,
             "gaia_id": 4657987654321098765},
}
HEADER = {  # header (GS_RA, GS_DEC, GS_MAG) values, deliberately off the catalog's
    STAR_A: {"gs_ra": 80.7932, "gs_dec": -69.5388, "fgs_mag": 13.6},
    STAR_B: {"gs_ra": 80.5525, "gs_dec": -69.5611, "fgs_mag": 12.4},
}


@pytest.fixture
def gsc():
    server = FakeGSC(delay=3.0).start()
    for gs_id, values in CATALOG.items():
        server.replies[gs_id] = gsc_reply(gs_id, **values)
    yield server
    server.close()


@pytest.fixture(scope="module")
def two_star_model(tmp_path_factory):
    """Star A guides visit 1 (two segments) and visit 2; star B guides observation 2."""
    a, b = HEADER[STAR_A], HEADER[STAR_B]
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("two_stars"),
        visits=[
            datasets.VisitSpec(observation=1, visit=1, n_frames=240, n_segments=2,
                               gs_id=STAR_A, gs_ra=a["gs_ra"], gs_dec=a["gs_dec"],
                               fgs_mag=a["fgs_mag"]),
            datasets.VisitSpec(observation=1, visit=2, n_frames=100, n_segments=1,
                               gs_id=STAR_A, gs_ra=a["gs_ra"], gs_dec=a["gs_dec"],
                               fgs_mag=a["fgs_mag"]),
            datasets.VisitSpec(observation=2, visit=1, n_frames=90, n_segments=1,
                               gs_id=STAR_B, gs_ra=b["gs_ra"], gs_dec=b["gs_dec"],
                               fgs_mag=b["fgs_mag"], detector="GUIDER2", frame_time=0.0617),
        ],
        seed=5,
    )
    return read_guidestar(visit.files)


# --------------------------------------------------------------------------
# Parsing replies


def test_parse_both_casings_and_blanks():
    values = {"ra": 80.793121, "dec": -69.538774, "j": 14.021, "h": 13.304, "k": None}
    new = parse_catalog_reply(gsc_reply(STAR_A, gaia_id=4658012345678901234, **values), STAR_A)
    old = parse_catalog_reply(gsc_reply(STAR_A, version="2.4.1", **values), STAR_A)
    for record in (new, old):
        assert record["gs_id"] == STAR_A
        assert_allclose([record["ra"], record["dec"]], [80.793121, -69.538774], rtol=0,
                        atol=1e-9)
        assert_allclose([record["J"], record["H"]], [14.021, 13.304], rtol=0, atol=1e-9)
        assert_allclose([record["J_err"], record["H_err"]], [0.025, 0.027], rtol=0, atol=1e-9)
        assert np.isnan(record["K"]) and np.isnan(record["K_err"])  # blank cells
        assert np.isnan(record["magnitudes"]["FpgMag"])
        assert_allclose(record["magnitudes"]["JpgMag"], 15.621, atol=1e-9)
    # The Gaia id is exact (not a rounded float) and absent from GSC 2.4.1.
    assert new["gaia_dr3_id"] == 4658012345678901234
    assert old["gaia_dr3_id"] is None
    assert "tmassJMag" in new["magnitudes"] and "tmassJmag" in old["magnitudes"]
    # No preamble line, and lower-case ids, parse too.
    bare = parse_catalog_reply(gsc_reply(STAR_A, preamble=False, **values), STAR_A.lower())
    assert_allclose(bare["J"], 14.021)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("\r\n  \r\n", "empty"),
    (gsc_reply(STAR_A, ra=80.0, dec=-69.0, rows=0), "no_row"),
    ("<html><body>Service unavailable</body></html>", "bad_reply"),
])
def test_parse_refuses_replies_without_a_row(text, reason):
    with pytest.raises(CatalogError, match=STAR_A) as info:
        parse_catalog_reply(text, STAR_A)
    assert info.value.reason == reason
    assert isinstance(info.value, SpelunkerError)


# --------------------------------------------------------------------------
# One star


def test_query_then_served_from_disk_cache(gsc, tmp_path):
    first = query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert gsc.requests == [STAR_A]
    assert first["gaia_dr3_id"] == CATALOG[STAR_A]["gaia_id"]
    assert_allclose([first["J"], first["H"], first["K"]], [14.021, 13.304, 13.117])
    cached = json.loads((tmp_path / f"{STAR_A}.json").read_text())
    assert cached["gs_id"] == STAR_A and "GAIAdr3sourceID" in cached["header"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{STAR_A}.json"]  # no temporary

    second = query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert gsc.requests == [STAR_A]  # no second request
    assert second["gaia_dr3_id"] == first["gaia_dr3_id"]
    assert_allclose([second["ra"], second["dec"], second["J"]],
                    [first["ra"], first["dec"], first["J"]])


def test_cache_is_written_through_atomic_file(gsc, tmp_path, monkeypatch):
    """The cache file is renamed from a temporary of spelunker.atomic (one naming scheme)."""
    renames = []
    replace = os.replace

    def recording_replace(source, destination):
        renames.append((Path(source), Path(destination)))
        replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", recording_replace)
    query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    [(source, destination)] = [pair for pair in renames if pair[1].parent == tmp_path]
    assert destination == tmp_path / f"{STAR_A}.json" and destination.is_file()
    assert is_temporary(source) and source.parent == tmp_path and not source.exists()


def test_unwritable_cache_is_a_warning_only(gsc, tmp_path, caplog):
    """A cache folder that cannot be written (a file in the way) costs a warning, no error."""
    (tmp_path / f"{STAR_A}.json").mkdir()  # a folder where the file should go
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        record = query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert record["gs_id"] == STAR_A
    assert "could not write the catalog cache file" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == [f"{STAR_A}.json"]


def test_url_and_cache_from_environment(gsc, tmp_path, monkeypatch):
    monkeypatch.setenv("SPELUNKER_GSC_URL", gsc.url)
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path / "cache"))
    record = query_guide_star_catalog(STAR_B)
    assert gsc.requests == [STAR_B]
    assert record["gaia_dr3_id"] == CATALOG[STAR_B]["gaia_id"]
    assert (tmp_path / "cache" / "gsc" / f"{STAR_B}.json").is_file()


@pytest.mark.parametrize("content", ["{not json", '{"format": 1, "gs_id": "S1HP081234"}',
                                     '{"format": 1, "gs_id": "OTHER", "header": [], "row": []}',
                                     ""])
def test_corrupt_cache_file_is_ignored_and_replaced(gsc, tmp_path, content):
    path = tmp_path / f"{STAR_A}.json"
    path.write_text(content)
    record = query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert gsc.requests == [STAR_A]
    assert_allclose(record["J"], 14.021)
    assert json.loads(path.read_text())["gs_id"] == STAR_A
    query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert gsc.requests == [STAR_A]


def test_query_errors(gsc, tmp_path):
    gsc.failures = {"S1HP000500": "500", "S1HP000999": "slow"}
    with pytest.raises(CatalogError, match=r"HTTP 500.*") as info:
        query_guide_star_catalog("S1HP000500", url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert info.value.reason == "http" and info.value.gs_id == "S1HP000500"

    with pytest.raises(CatalogError, match="empty reply for S1HP777777") as info:
        query_guide_star_catalog("S1HP777777", url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert info.value.reason == "empty"

    start = time.perf_counter()
    with pytest.raises(CatalogError, match=r"S1HP000999 timed out after 0\.3 s") as info:
        query_guide_star_catalog("S1HP000999", url=gsc.url, cache_dir=tmp_path, timeout=0.3)
    assert info.value.reason == "timeout"
    assert time.perf_counter() - start < 2.0

    with pytest.raises(CatalogError, match="cannot reach the Guide Star Catalog") as info:
        query_guide_star_catalog(STAR_A, url=closed_port_url(), cache_dir=tmp_path, timeout=2)
    assert info.value.reason == "connection"
    assert not list(tmp_path.iterdir())  # failures are never cached

    with pytest.raises(ParameterError, match="timeout"):
        query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=0)
    with pytest.raises(ParameterError, match="guide-star id"):
        query_guide_star_catalog("  ", url=gsc.url, cache_dir=tmp_path)


# --------------------------------------------------------------------------
# Guide-star properties of a model


def test_properties_one_request_per_star_and_cached(gsc, tmp_path, two_star_model):
    props = guide_star_properties(two_star_model, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert sorted(gsc.requests) == sorted([STAR_A, STAR_B])  # 4 files, 2 distinct stars
    assert props.colnames == ["gs_id", "gaia_dr3_id", "ra", "dec", "J", "H", "K", "fgs_mag",
                              "detector", "start", "stop", "n_files", "n_frames", "source"]
    assert list(props["gs_id"]) == [STAR_A, STAR_B]
    assert list(props["source"]) == ["catalog", "catalog"]
    assert list(props["gaia_dr3_id"]) == [CATALOG[STAR_A]["gaia_id"], CATALOG[STAR_B]["gaia_id"]]
    assert props["ra"].unit == u.deg and props["J"].unit == u.mag
    assert_allclose(props["ra"].to_value(u.deg), [CATALOG[STAR_A]["ra"], CATALOG[STAR_B]["ra"]],
                    rtol=0, atol=1e-9)
    assert_allclose(props["dec"].to_value(u.deg),
                    [CATALOG[STAR_A]["dec"], CATALOG[STAR_B]["dec"]], rtol=0, atol=1e-9)
    assert_allclose(props["J"].to_value(u.mag), [14.021, 12.884])
    assert_allclose(props["H"].to_value(u.mag), [13.304, 12.102])
    assert props["K"][0].to_value(u.mag) == pytest.approx(13.117)
    assert np.isnan(props["K"][1].to_value(u.mag))  # blank in the catalog
    assert_allclose(props["fgs_mag"].to_value(u.mag), [13.6, 12.4])
    assert list(props["detector"]) == ["GUIDER1", "GUIDER2"]
    assert list(props["n_files"]) == [3, 1] and list(props["n_frames"]) == [340, 90]

    again = guide_star_properties(two_star_model, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert len(gsc.requests) == 2  # second call: all from the disk cache
    assert list(again["gaia_dr3_id"]) == list(props["gaia_dr3_id"])
    assert_allclose(again["J"].value, props["J"].value)


def test_properties_interval_spans_all_files_of_a_star(gsc, tmp_path, two_star_model):
    props = guide_star_properties(two_star_model, url=gsc.url, cache_dir=tmp_path, timeout=5)
    files = two_star_model.table("files")
    assert isinstance(props["start"], Time) and props["start"].scale == "utc"
    for row in props:
        mine = files[files["gs_id"] == row["gs_id"]]
        assert_allclose(row["start"].mjd, mine["data_start_mjd"].min(), rtol=0, atol=1e-9)
        assert_allclose(row["stop"].mjd, mine["data_end_mjd"].max(), rtol=0, atol=1e-9)
    # Star A's interval covers both of its visits, including the gap between them.
    visit_2 = files[(files["observation"] == 1) & (files["visit"] == 2)]
    assert props["start"][0].mjd < visit_2["data_start_mjd"][0]
    assert_allclose(props["stop"][0].mjd, visit_2["data_end_mjd"][0], rtol=0, atol=1e-9)
    span = (props["stop"][0] - props["start"][0]).to_value(u.s)
    assert span > 340 * 0.0538 + 500  # frames plus the gap between the visits


def _assert_header_values(props):
    assert list(props["source"]) == ["header", "header"]
    assert props["gaia_dr3_id"].mask.all()
    assert np.isnan(props["J"].value).all() and np.isnan(props["H"].value).all()
    assert_allclose(props["ra"].to_value(u.deg),
                    [HEADER[STAR_A]["gs_ra"], HEADER[STAR_B]["gs_ra"]], rtol=0, atol=1e-9)
    assert_allclose(props["dec"].to_value(u.deg),
                    [HEADER[STAR_A]["gs_dec"], HEADER[STAR_B]["gs_dec"]], rtol=0, atol=1e-9)
    assert_allclose(props["fgs_mag"].to_value(u.mag), [13.6, 12.4])
    assert list(props["n_files"]) == [3, 1]


@pytest.mark.parametrize("failure", ["500", "slow", "down"])
def test_fallback_to_header_values(gsc, tmp_path, two_star_model, failure):
    url = closed_port_url() if failure == "down" else gsc.url
    gsc.failure = None if failure == "down" else failure
    start = time.perf_counter()
    with pytest.warns(CatalogFallbackWarning) as record:
        props = guide_star_properties(two_star_model, url=url, cache_dir=tmp_path, timeout=0.3)
    elapsed = time.perf_counter() - start
    assert len(record) == 1
    message = str(record[0].message)
    assert STAR_A in message and STAR_B in message and "header values" in message
    expected = {"500": "HTTP 500", "slow": "timed out", "down": "cannot reach"}[failure]
    assert expected in message
    _assert_header_values(props)
    if failure == "500":
        assert sorted(gsc.requests) == sorted([STAR_A, STAR_B])
    elif failure == "slow":
        # An unresponsive service costs one timeout, not one per star.
        assert gsc.requests == [STAR_A]
        assert "not requested" in message
        assert elapsed < 2.0
    assert not list(tmp_path.glob("*.json"))


def test_partial_fallback_names_only_the_missing_star(gsc, tmp_path, two_star_model):
    del gsc.replies[STAR_B]  # no row for this id: an empty reply
    with pytest.warns(CatalogFallbackWarning) as record:
        props = guide_star_properties(two_star_model, url=gsc.url, cache_dir=tmp_path,
                                      timeout=5)
    assert len(record) == 1
    message = str(record[0].message)
    assert STAR_B in message and STAR_A not in message and "1 of 2" in message
    assert list(props["source"]) == ["catalog", "header"]
    assert list(props["gaia_dr3_id"].mask) == [False, True]
    assert_allclose(props["ra"][1].to_value(u.deg), HEADER[STAR_B]["gs_ra"])


def test_offline_makes_no_request_and_no_warning(gsc, tmp_path, two_star_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        props = guide_star_properties(two_star_model, url=gsc.url, cache_dir=tmp_path,
                                      offline=True)
    assert gsc.requests == []
    _assert_header_values(props)
    # Offline, stars already in the disk cache keep their catalog values.
    query_guide_star_catalog(STAR_A, url=gsc.url, cache_dir=tmp_path, timeout=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        props = guide_star_properties(two_star_model, url=closed_port_url(),
                                      cache_dir=tmp_path, offline=True)
    assert gsc.requests == [STAR_A]
    assert list(props["source"]) == ["catalog", "header"]


def test_properties_from_stacked_guidestar_tables(gsc, tmp_path, two_star_model):
    """Rows of one star from several tables (e.g. two visits read apart) are merged."""
    from astropy.table import vstack

    table = two_star_model.table("guidestars")
    stacked = vstack([table, table[:1]])
    props = guide_star_properties(stacked, url=gsc.url, cache_dir=tmp_path, timeout=5)
    assert len(gsc.requests) == 2 and list(props["gs_id"]) == [STAR_A, STAR_B]
    assert list(props["n_files"]) == [6, 1]
    with pytest.raises(ParameterError, match="GuideStarModel"):
        guide_star_properties([STAR_A], offline=True)
    with pytest.raises(ParameterError, match="gs_mag"):
        guide_star_properties(table[["gs_id", "gs_ra"]], offline=True)


# --------------------------------------------------------------------------
# Product names


@pytest.mark.parametrize(("name", "expected"), [
    ("jw01534003001_gs-fg_2023125180012_cal.fits",
     {"program": 1534, "observation": 3, "visit": 1, "segment": None, "suffix": "cal",
      "mode": "fg", "exp_type": "FGS_FINEGUIDE", "timestamp": "2023-05-05T18:00:12.000"}),
    ("jw01534003001_gs-fg_2023125181247-seg002_uncal.fits",
     {"program": 1534, "observation": 3, "visit": 1, "segment": 2, "suffix": "uncal",
      "mode": "fg", "timestamp": "2023-05-05T18:12:47.000"}),
    ("/data/mast/jw02079004001_gs-acq2_2024060235959_cal.fits",  # a path; leap day
     {"program": 2079, "observation": 4, "visit": 1, "segment": None, "mode": "acq2",
      "exp_type": "FGS_ACQ2", "timestamp": "2024-02-29T23:59:59.000"}),
    ("jw01029001001_gs-id_2_stacked_uncal.fits",
     {"program": 1029, "observation": 1, "visit": 1, "mode": "id-stacked", "attempt": 2,
      "exp_type": "FGS_ID-STACK", "timestamp": None}),
    ("jw01534005002_05101_00002-seg003_nis_calints.fits",
     {"kind": "exposure", "program": 1534, "observation": 5, "visit": 2, "visit_group": 5,
      "parallel_sequence": 1, "activity": 1, "exposure": 2, "segment": 3, "detector": "NIS",
      "suffix": "calints"}),
    ("jw01534005002_0411a_00001_guider1",  # activity 1a (base 36)
     {"kind": "obs_id", "visit_group": 4, "parallel_sequence": 1, "activity": 46,
      "exposure": 1, "detector": "GUIDER1", "suffix": None,
      "obs_id": "jw01534005002_0411a_00001_guider1"}),
])
def test_parse_product_name(name, expected):
    info = parse_product_name(name)
    for key, value in expected.items():
        if key == "timestamp" and value is not None:
            assert info["timestamp"].scale == "utc"
            assert info["timestamp"].isot == value
        else:
            assert info[key] == value, key


def test_parse_product_name_with_its_mast_folder():
    info = parse_product_name("jw01534005002_gs-fg_2023202104507_cal.fits",
                              obs_id="mastDownload/JWST/jw01534005002_05101_00002_guider2/")
    assert (info["visit_group"], info["parallel_sequence"], info["activity"],
            info["exposure"], info["detector"]) == (5, 1, 1, 2, "GUIDER2")
    assert info["obs_id"] == "jw01534005002_05101_00002_guider2"
    assert info["kind"] == "guider" and info["segment"] is None
    with pytest.raises(ParameterError, match="does not belong"):
        parse_product_name("jw01534005002_gs-fg_2023202104507_cal.fits",
                           obs_id="jw01534005003_05101_00002_guider2")
    with pytest.raises(ParameterError, match="not a JWST exposure folder"):
        parse_product_name("jw01534005002_gs-fg_2023202104507_cal.fits",
                           obs_id="jw01534005002_gs-fg_2023202104507_cal.fits")


@pytest.mark.parametrize("name", [
    "jw1534003001_gs-fg_2023125180012_cal.fits",         # program too short
    "jw01534003001_gs-fg_202312518001_cal.fits",         # 12-digit stamp
    "jw01534003001_gs-fg_2023125180012_cal.fit",         # extension
    "jw01534003001_gs-fg_2023125180012-seg1_cal.fits",   # segment digits
    "jw01534003001_gs-fg_2023125180012.fits",            # no suffix
    "jw01534003001_gs-xx_2023125180012_cal.fits",        # unknown mode
    "JW01534003001_GS-FG_2023125180012_CAL.FITS",        # MAST names are lower case
    "jw01534003001_gs-fg_2023366180012_cal.fits",        # day 366 of a common year
    "jw01534003001_gs-fg_2023125250012_cal.fits",        # hour 25
    "jw01534005002_05101_00002_guider1_cal",             # folder with a suffix
    "jw01534005002_05101_00002.fits",                    # exposure without detector
    "guider_data.fits",
    "",
])
def test_parse_product_name_refuses_bad_names(name):
    with pytest.raises(ParameterError, match="jw|time stamp|product name") as info:
        parse_product_name(name)
    assert repr(name.rsplit("/", 1)[-1]) in str(info.value)


# --------------------------------------------------------------------------
# fg_table


def test_fg_table_on_a_multi_segment_visit(three_segment_visit):
    model = read_guidestar(three_segment_visit.files)
    files = model.table("files")
    names = [path.name for path in three_segment_visit.files]
    # The generator's OBS_ID is V01534001001P0000000001102: the folder must agree.
    folder = "jw01534001001_01102_00002_guider1"
    table = fg_table(model, obs_ids={names[0]: folder, names[2]: folder})
    assert table.colnames == ["file_name", "obs_id", "program", "observation", "visit",
                              "visit_group", "parallel_sequence", "activity", "exposure",
                              "segment", "detector", "gs_id", "exp_type", "data_start",
                              "data_end", "n_frames"]
    assert len(table) == 3 and list(table["file_name"]) == names
    assert list(table["program"]) == [1534] * 3
    assert list(table["observation"]) == [1] * 3 and list(table["visit"]) == [1] * 3
    assert list(table["segment"]) == [1, 2, 3]
    assert list(table["obs_id"]) == [folder, "", folder]
    # Visit group, sequence and activity of the middle file come from its header OBS_ID.
    assert not table["visit_group"].mask.any() and not table["activity"].mask.any()
    assert list(table["visit_group"]) == [1, 1, 1] and list(table["activity"]) == [2, 2, 2]
    assert list(table["exposure"].mask) == [False, True, False]
    assert table["exposure"][0] == 2 and table["parallel_sequence"][0] == 1
    assert list(table["detector"]) == ["GUIDER1"] * 3
    assert len(set(table["gs_id"])) == 1 and table["gs_id"][0] == files["gs_id"][0]
    assert list(table["exp_type"]) == ["FGS_FINEGUIDE"] * 3
    assert table["data_start"].scale == "utc"
    assert_allclose(table["data_start"].mjd, files["data_start_mjd"], rtol=0, atol=1e-9)
    assert_allclose(table["data_end"].mjd, files["data_end_mjd"], rtol=0, atol=1e-9)
    assert_array_equal(table["n_frames"], [500, 500, 500])
    # The name's time stamp is the end of the data, truncated to the second.
    for row in table:
        stamp = parse_product_name(row["file_name"])["timestamp"]
        assert 0 <= (row["data_end"] - stamp).to_value(u.s) < 1

    plain = fg_table(files)
    assert list(plain["visit_group"]) == [1, 1, 1] and list(plain["parallel_sequence"]) == [1] * 3
    assert list(plain["activity"]) == [2, 2, 2] and plain["exposure"].mask.all()
    assert list(plain["obs_id"]) == ["", "", ""]
    files.remove_column("obs_id")  # a table from before OBS_ID was read
    older = fg_table(files)
    assert older["visit_group"].mask.all() and older["activity"].mask.all()
    with pytest.raises(ParameterError, match=r"visit_group 3, but the header OBS_ID "
                                         r"'V01534001001P0000000001102'"):
        fg_table(model, obs_ids=[folder.replace("_01102_", "_03102_"), None, None])
    with pytest.raises(ParameterError, match="obs_ids has 1 entries for 3 files"):
        fg_table(model, obs_ids=[folder])
    with pytest.raises(ParameterError, match="GUIDER2"):
        fg_table(model, obs_ids=[folder.replace("guider1", "guider2"), None, None])


def test_fg_table_ignores_an_unusable_header_obs_id(three_segment_visit, caplog):
    files = read_guidestar(three_segment_visit.files).table("files")
    files["obs_id"] = ["V01534001001P00000000011", "V01534002001P0000000001102",
                       "V01534001001P000000000110z"]  # short, another observation, act '0z'
    with caplog.at_level(logging.WARNING, logger="spelunker.filetable"):
        table = fg_table(files)
    assert list(table["visit_group"].mask) == [True, True, False]
    assert list(table["activity"].mask) == [True, True, False]
    assert table["activity"][2] == 35  # base 36, as in file names
    assert "not 'V' + VISIT_ID" in caplog.text and "observation 2" in caplog.text


def test_fg_table_lives_in_filetable_and_names_only_holds_the_grammar():
    import spelunker.filetable
    import spelunker.names

    assert fg_table.__module__ == "spelunker.filetable"
    assert spelunker.filetable.__all__ == ["fg_table"]
    assert "fg_table" not in spelunker.names.__all__
    assert not hasattr(spelunker.names, "fg_table")
    assert spelunker.names.__doc__.splitlines()[0] == (
        "JWST names and ids: the grammar of product names, visit ids and program numbers.")


@pytest.mark.parametrize("kind", ["zz", None, 5, ["program"], "Program"])
def test_id_number_refuses_an_unknown_kind(kind):
    from spelunker.names import id_number, id_number_or_none, padded_id

    with pytest.raises(ParameterError, match="kind=.* must be one of program, observation, visit"):
        id_number(1, kind)
    for function in (padded_id, id_number_or_none):
        with pytest.raises(ParameterError, match="kind="):
            function(1, kind)


@pytest.mark.parametrize(("value", "number"), [
    (1534, 1534), ("01534", 1534), (" 1534 ", 1534), (np.int16(7), 7), ("", None), (None, None),
    (np.ma.masked, None), ("1534a", None), (0, None), (100000, None), (True, None), (1534.0, None),
])
def test_id_number_or_none_reads_a_cell(value, number):
    from spelunker.names import id_number_or_none

    assert id_number_or_none(value, "program") == number


@pytest.mark.parametrize(("segment", "problem"), [
    ("x", "segment='x'"), (0, "segment=0"), (1000, "segment=1000"), (1.5, "segment=1.5"),
    (True, "segment=True"), (object(), "segment=<object"),
])
def test_guider_product_name_refuses_a_segment_that_is_no_number(segment, problem):
    from spelunker.names import guider_product_name

    assert guider_product_name(1534, 1, 1, stamp="2022338120000", segment=999).endswith(
        "-seg999_cal.fits")
    with pytest.raises(ParameterError, match=f"guider_product_name: {re.escape(problem)}"):
        guider_product_name(1534, 1, 1, stamp="2022338120000", segment=segment)


@pytest.mark.parametrize("length", [1, 4, "3", None, np.array([2, 3])])
def test_parse_selection_refuses_another_length(length):
    from spelunker.names import parse_selection

    with pytest.raises(ParameterError, match="parse_selection: length="):
        parse_selection("1534:1:2", length, name="visits")


@pytest.mark.parametrize("obs_ids", [5, 1.5, True, object(), "jw01534001001_05101_00002_guider1"])
def test_fg_table_refuses_obs_ids_that_are_no_mapping_or_list(three_segment_visit, obs_ids):
    files = read_guidestar(three_segment_visit.files).table("files")
    with pytest.raises(ParameterError, match="fg_table: obs_ids=.* must be a"):
        fg_table(files, obs_ids=obs_ids)


def test_catalog_arguments_of_the_wrong_kind_are_parameter_errors(tmp_path):
    for text in (5, b"reply", ["a"]):
        with pytest.raises(ParameterError, match="text must be the reply as a string"):
            parse_catalog_reply(text, STAR_A)
    with pytest.raises(ParameterError, match="url=.* must be the Guide Star Catalog"):
        query_guide_star_catalog(STAR_A, url=np.array([1.0, 2.0]), cache_dir=False)
    for session in ("x", 5, {"get": None}):
        with pytest.raises(ParameterError, match="session=.* must be a requests.Session"):
            query_guide_star_catalog(STAR_A, url=closed_port_url(), cache_dir=tmp_path,
                                     session=session)


def test_parse_obs_id():
    info = parse_obs_id("V01029001001P0000000001102")
    assert info == {"obs_id": "V01029001001P0000000001102", "visit_id": "01029001001",
                    "program": 1029, "observation": 1, "visit": 1, "visit_group": 1,
                    "parallel_sequence": 1, "activity": 2}
    info = parse_obs_id(" V01534005002P000000000411a ")  # activity 1a (base 36)
    assert (info["program"], info["observation"], info["visit"], info["visit_group"],
            info["parallel_sequence"], info["activity"]) == (1534, 5, 2, 4, 1, 46)
    for bad in ("", "V01029001001P00000000011020", "01029001001P0000000001102",
                "V0102900100P0000000001102", "jw01029001001_01102_00001_guider1", None):
        with pytest.raises(ParameterError, match="OBS_ID"):
            parse_obs_id(bad)


def test_real_headers_obs_id(reference_dir):
    """OBS_ID of the real PID 1029 guider headers: VISIT_ID, then visit group, sequence and
    activity (science exposures jw01029001001_01102_... and jw01029006001_01104_...)."""
    expected = {"fgs_fineguide_guider1.fits": (1, 1, 1, 1, 2),
                "fgs_fineguide_guider2.fits": (6, 1, 1, 1, 4),
                "fgs_track_guider1.fits": (1, 1, 1, 1, 2),
                "fgs_acq1_guider1.fits": (1, 1, 1, 1, 2)}
    for name, values in expected.items():
        header = fits.getheader(Path(reference_dir) / "fgs_headers" / name)
        info = parse_obs_id(header["OBS_ID"])
        assert info["visit_id"] == header["VISIT_ID"], name
        assert (info["program"], info["observation"], info["visit"]) == (
            int(header["PROGRAM"]), int(header["OBSERVTN"]), int(header["VISIT"])), name
        assert (info["observation"], info["visit"], info["visit_group"],
                info["parallel_sequence"], info["activity"]) == values, name


@pytest.mark.remote_data
def test_live_guide_star_catalog(tmp_path):
    """One real Guide Star Catalog query: a guide star of PID 1534."""
    record = query_guide_star_catalog("S1HP079555", cache_dir=tmp_path, timeout=30)
    assert record["gaia_dr3_id"] == 4658077781376437888
    assert abs(record["ra"] - 80.837585) < 1e-4 and abs(record["dec"] + 69.541124) < 1e-4
    assert abs(record["J"] - 13.765) < 0.01 and abs(record["H"] - 12.907) < 0.01
    assert list(tmp_path.glob("*.json"))  # cached
