"""Surveys on Dask: a LocalCluster of 2 worker processes against the local fake MAST.

Four small visits over programs 1534 and 1541: one has a corrupt file on
the server, one a download that fails once (HTTP 404), and program 1999 has
nothing at MAST.  The second run resumes: complete visits are skipped (no
download, product untouched), the failed ones run again.
"""

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.table import Table
from astroquery.mast.discovery_portal import PortalAPI
from distributed import LocalCluster
from mast_server import FakeMast

from spelunker import GuideStarFitStep, GuideStarModel, datasets
from spelunker.errors import ParameterError, SurveyError
from spelunker.survey import COLUMNS, main, plan_survey, run_survey, visit_summary

N_FRAMES = 300  # at 1 s per frame: 5 bins of 60 s for the binned scatter
CORRUPT = (1541, 1, 2)
FLAKY = (1534, 2, 1)


def spec(observation, visit, n_segments=1):
    return datasets.VisitSpec(observation=observation, visit=visit, n_frames=N_FRAMES,
                              n_segments=n_segments, frame_time=1.0)


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """Program 1534 (two visits, one of two segments) and 1541 (two visits)."""
    folder = tmp_path_factory.mktemp("survey_archive")
    return {
        1534: datasets.make_guidestar_files(folder, visits=[spec(1, 1, 2), spec(2, 1)],
                                            program=1534, seed=21),
        1541: datasets.make_guidestar_files(folder, visits=[spec(1, 1), spec(1, 2)],
                                            program=1541, seed=22),
    }


def visit_files(programs, key):
    program, observation, visit = key
    stem = f"jw{program:05d}{observation:03d}{visit:03d}_"
    return [p for p in programs[program].files if p.name.startswith(stem)]


def product_name(programs, key):
    """The first file's name without -seg001, _cal.fits -> _gspipe.fits."""
    first = visit_files(programs, key)[0].name
    return first.replace("-seg001", "").replace("_cal.fits", "_gspipe.fits")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread, closed after the module."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def mast(programs, monkeypatch, tmp_path):
    """The fake MAST serving every file; the CORRUPT visit's file is damaged (same size)."""
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    server = FakeMast()
    for visit in programs.values():
        copies = []
        for path in visit.files:
            copy = served / path.name
            copy.write_bytes(path.read_bytes())
            copies.append(copy)
        server.add_files(copies)
    (bad,) = visit_files(programs, CORRUPT)
    damaged = bytearray((served / bad.name).read_bytes())
    damaged[:2880] = b"\0" * 2880
    (served / bad.name).write_bytes(bytes(damaged))
    with server:
        yield server, served
    assert server.errors == []


def rows_by_visit(table):
    return {(int(r["program"]), int(r["observation"]), int(r["visit"])): r
            for r in table if not np.ma.is_masked(r["visit"])}


def test_survey_of_two_programs_then_resume(programs, mast, cluster, tmp_path):
    server, served = mast
    (flaky,) = visit_files(programs, FLAKY)
    server.inject(flaky.name, "http404")
    output = tmp_path / "survey"

    table = run_survey(output, programs=[1534, 1541, 1999], server=server.url,
                       scheduler=cluster.scheduler_address, progress=False)

    assert table.colnames == [name for name, *_ in COLUMNS]
    rows = rows_by_visit(table)
    assert sorted(rows) == [(1534, 1, 1), (1534, 2, 1), (1541, 1, 1), (1541, 1, 2)]
    ok = {key for key, row in rows.items() if row["status"] == "ok"}
    assert ok == {(1534, 1, 1), (1541, 1, 1)}
    corrupt = rows[CORRUPT]
    (bad,) = visit_files(programs, CORRUPT)
    assert corrupt["status"] == "error" and corrupt["visit_id"] == "jw01541001002"
    assert "CorruptFileError" in corrupt["error"] and bad.name in corrupt["error"]
    assert rows[FLAKY]["status"] == "error"
    assert "DownloadError" in rows[FLAKY]["error"] and "HTTP 404" in rows[FLAKY]["error"]
    assert flaky.name in rows[FLAKY]["error"]
    # The empty program is an error row naming it; the survey went on.
    (missing,) = [r for r in table if r["program"] == 1999]
    assert missing["status"] == "error" and "program 1999" in missing["error"]
    assert np.ma.is_masked(missing["visit"])
    # A corrupt download is not kept in the cache (a retry downloads it again).
    assert not (output / "downloads" / bad.name).exists()

    # The products and their rows.
    by_id = {s.gs_id: s for visit in programs.values() for s in visit.visits}
    for key in ok:
        row = rows[key]
        files = visit_files(programs, key)
        assert row["product"] == str(output / "products" / product_name(programs, key))
        assert os.path.getsize(row["product"]) == row["product_bytes"]
        assert row["n_frames"] == N_FRAMES and row["n_files"] == len(files)
        assert row["gs_id"] in by_id and by_id[row["gs_id"]].observation == key[1]
        assert row["gs_mag"] == pytest.approx(by_id[row["gs_id"]].fgs_mag)
        assert row["detector"] == "GUIDER1" and row["fit_table"] == "quick_fit"
        assert row["start"].startswith("2022-12-04T") and row["end"] > row["start"]
        with GuideStarModel(row["product"]) as product:
            assert len(product.frames) == N_FRAMES
            fit = product.table("quick_fit")
            clean = np.asarray(fit["flags"]) == 0
            x = np.asarray(fit["x_mean"].value)[clean]
            flux = np.asarray(product.lightcurve["flux"])
        assert row["clean_fit_fraction"] == pytest.approx(clean.mean())
        assert row["centroid_rms_x"] == pytest.approx(np.std(x, ddof=1))
        assert row["centroid_rms_x_mas"] == pytest.approx(row["centroid_rms_x"] * 69.0)
        # The synthetic jitter is 0.015 pix per axis.
        assert 0.010 < row["centroid_rms_x"] < 0.020 and 0.010 < row["centroid_rms_y"] < 0.020
        assert 0.5 < row["psf_sigma"] < 0.8
        assert 0 < row["flux_scatter_60s"] < 1e6 * np.std(flux) / np.mean(flux)
        assert 0 < row["peak_period_x_mean"] and 0 <= row["peak_fap_flux"] <= 1
        assert row["worker_peak_rss"] > 50 and row["elapsed"] > 0
    # Two worker processes shared the visits.
    assert len({r["worker"] for r in table if r["worker"]}) == 2

    # The same table in ECSV (units kept) and Parquet.
    ecsv = Table.read(output / "survey.ecsv")
    # (ECSV reads empty strings back as masked: the last row, program 1999, has no visit.)
    assert list(ecsv["visit_id"][:4]) == list(table["visit_id"][:4])
    assert ecsv["visit_id"].mask[4]
    assert list(ecsv["status"]) == list(table["status"])
    assert str(ecsv["centroid_rms_x_mas"].unit) == "mas"
    parquet = pq.read_table(output / "survey.parquet").to_pydict()
    assert parquet["visit_id"] == list(table["visit_id"])
    assert parquet["visit"][list(table["program"]).index(1999)] is None
    assert parquet["n_frames"][list(table["visit_id"]).index("jw01534001001")] == N_FRAMES

    # Resume: fix the server's file; complete visits are skipped, failed ones retried.
    served_bad = served / bad.name
    served_bad.write_bytes(bad.read_bytes())
    server.clear_log()
    stamps = {key: os.stat(rows[key]["product"]).st_mtime_ns for key in ok}
    again = run_survey(output, programs=[1534, 1541], server=server.url,
                       scheduler=cluster.scheduler_address, progress=False)
    rows2 = rows_by_visit(again)
    assert all(row["status"] == "ok" for row in rows2.values()), list(again["error"])
    downloaded = {r.file for r in server.downloads()}
    assert downloaded == {bad.name, flaky.name}
    for key in ok:
        assert os.stat(rows2[key]["product"]).st_mtime_ns == stamps[key]
        assert rows2[key]["finished"] == rows[key]["finished"]
    assert rows2[CORRUPT]["n_frames"] == N_FRAMES
    saved = json.loads((output / "rows" / "jw01541001002.json").read_text())
    assert saved["status"] == "ok" and saved["product"] == rows2[CORRUPT]["product"]
    assert sorted(p.name for p in (output / "products").iterdir()) == sorted(
        os.path.basename(r["product"]) for r in again)


def test_cli_on_a_folder_with_a_local_cluster(programs, tmp_path, capsys):
    folder = tmp_path / "on_disk"
    folder.mkdir()
    for path in visit_files(programs, (1534, 1, 1)) + visit_files(programs, (1541, 1, 1)):
        (folder / path.name).write_bytes(path.read_bytes())
    broken = folder / "jw01541003001_gs-fg_2022338020000_cal.fits"
    broken.write_bytes(b"not a FITS file" * 100)
    output = tmp_path / "out"

    code = main(["--input", str(folder), "--output", str(output), "--workers", "2",
                 "--no-progress"])

    assert code == 3
    printed = capsys.readouterr().out
    assert "3 visits: 2 ok, 1 failed" in printed and "jw01541003001" in printed
    table = Table.read(output / "survey.ecsv")
    assert list(table["visit_id"]) == ["jw01534001001", "jw01541001001", "jw01541003001"]
    assert list(table["status"]) == ["ok", "ok", "error"]
    assert broken.name in table["error"][2]
    assert sorted(p.name for p in (output / "products").glob("*_gspipe.fits")) == [
        product_name(programs, (1534, 1, 1)), product_name(programs, (1541, 1, 1))]
    assert not (output / "downloads").exists()  # files on disk are read where they are


def test_plan_selects_visits_of_a_folder(programs):
    folder = programs[1534].files[0].parent
    tasks, failures = plan_survey(input_dir=folder, observations=["1534:1"], visits=[(1541, 1, 2)])
    assert failures == []
    assert [(t.visit_id, len(t.files)) for t in tasks] == [("jw01534001001", 2),
                                                           ("jw01541001002", 1)]
    assert [t.product_name for t in tasks] == [product_name(programs, (1534, 1, 1)),
                                               product_name(programs, (1541, 1, 2))]
    assert tasks[0].product_name.endswith("_gspipe.fits") and "-seg" not in tasks[0].product_name


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({}, ParameterError, "nothing to survey"),
    ({"programs": [1534], "visits": ["1534:1"]}, ParameterError, "visits='1534:1'"),
    ({"programs": ["15x4"]}, ParameterError, "programs='15x4'"),
    ({"programs": [1534], "workers": 0}, ParameterError, "workers=0"),
    ({"programs": [1534], "config_file": "nope"}, ParameterError, "config_file='nope'"),
    ({"programs": [1534], "progress": "yes"}, ParameterError, "progress='yes'"),
])
def test_bad_arguments_name_the_parameter(tmp_path, kwargs, error, text):
    with pytest.raises(error, match=text):
        run_survey(tmp_path / "out", **kwargs)


def test_empty_folder_is_a_survey_error(tmp_path):
    with pytest.raises(SurveyError, match="holds no fine-guide _cal product"):
        run_survey(tmp_path / "out", input_dir=tmp_path)
    with pytest.raises(SurveyError, match="is not a folder"):
        run_survey(tmp_path / "out", input_dir=tmp_path / "missing")


def test_summary_of_a_fit_only_model(programs):
    model = GuideStarFitStep.call([str(p) for p in visit_files(programs, (1541, 1, 1))],
                                  method="quick")
    summary = visit_summary(model)
    assert summary["n_frames"] == N_FRAMES and summary["fit_table"] == "quick_fit"
    assert 0.010 < summary["centroid_rms_y"] < 0.020
    assert np.isnan(summary["flux_scatter_60s"]) and np.isnan(summary["peak_period_flux"])
    assert set(summary) == {name for name, *_ in COLUMNS[4:]} - {
        "product", "product_bytes", "parameter_file", "status", "error", "elapsed", "cpu_time",
        "worker", "worker_peak_rss", "finished"}
