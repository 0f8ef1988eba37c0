"""Surveys on Dask: a LocalCluster of 2 worker processes against the local fake MAST.

Four small visits over programs 1534 and 1541: one has a corrupt file on
the server, one a download that fails once (HTTP 404), and program 1999 has
nothing at MAST.  The second run resumes: complete visits are skipped (no
download, product untouched), the failed ones run again.

The command as a new user meets it: an unreachable scheduler, an output
that is a file, a typo in the input (nothing created), a killed survey's
temporary product (removed by the next run) and the workers' log lines
(printed above the progress bar), each one ``spelunker-survey: error: ...``
line or a clean bar, with the documented exit code.
"""

import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from multiprocessing import forkserver

import dask
import numpy as np
import pyarrow.parquet as pq
import pytest
import threadpoolctl
from astropy.table import MaskedColumn, Table
from astroquery.mast.discovery_portal import PortalAPI
from distributed import Client, LocalCluster
from mast_server import FakeMast

from spelunker import GuideStarFitStep, GuideStarModel, GuideStarPipeline, datasets
from spelunker._validate import available_cpus
from spelunker.atomic import TEMPORARY_PREFIX, is_temporary
from spelunker.errors import ParameterError, SurveyError
from spelunker.instrument import pixel_scales
from spelunker.stpipe import parameter_file
from spelunker.survey import COLUMNS, main, plan_survey, run_survey, visit_summary
from spelunker.survey import cli, execution, planning, summary
from spelunker.survey import _preload
from spelunker.survey import environment
from spelunker.survey import workers as workers_module
from spelunker.survey.cli import EXIT_CODES
from spelunker.survey.workers import START_METHOD, start_fork_server

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
    """Two worker processes of one thread, closed after the module; forked from the
    survey's fork server, as the survey's own LocalCluster (warm, and fast to close)."""
    start_fork_server()
    with dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
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
        # In mas at the guider's SIAF scale (not the generator's 0.069 "/px).
        assert row["centroid_rms_x_mas"] == pytest.approx(
            row["centroid_rms_x"] * 1000 * pixel_scales("GUIDER1")[0])
        # The pointing columns: the 0.015 pix white jitter is about 1 mas per axis;
        # NEA well below it, the 15 s averages far below it.
        assert 0 < row["nea_v2_mas"] < 1.0 and 0 < row["nea_v3_mas"] < 1.0
        assert 0 < row["stability_mas"] < 0.5
        assert np.isnan(row["jitter_line_hz"]) or row["jitter_line_hz"] > 0
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
    # The guide-star catalogue beside the table: the two ok visits' two guide stars.
    assert f"guide stars {output / 'guidestars.ecsv'}" in printed
    stars = Table.read(output / "guidestars.ecsv")
    assert sorted(stars["guidestar_id"]) == sorted(table["gs_id"][:2])
    assert list(stars["n_visits"]) == [1, 1]


def test_plan_selects_visits_of_a_folder(programs):
    folder = programs[1534].files[0].parent
    tasks, failures = plan_survey(input_dir=folder, observations=["1534:1"], visits=[(1541, 1, 2)])
    assert failures == []
    assert [(t.visit_id, len(t.files)) for t in tasks] == [("jw01534001001", 2),
                                                           ("jw01541001002", 1)]
    assert [t.product_name for t in tasks] == [product_name(programs, (1534, 1, 1)),
                                               product_name(programs, (1541, 1, 2))]
    assert tasks[0].product_name.endswith("_gspipe.fits") and "-seg" not in tasks[0].product_name


def test_plan_reads_the_mast_numbers_with_the_one_parser(monkeypatch):
    """MAST's number columns are text ('01534'); one that is missing fails its query only."""
    def find(program, *, observation=None, visit=None, token=None, server=None):
        observtn = MaskedColumn(["001", "1", "2"], mask=[False, False, program == 1541])
        return Table({"fileName": [f"jw{program:05d}_{i}_cal.fits" for i in range(3)],
                      "fileSize": [10, 11, 12], "program": [f"{program:05d}"] * 3,
                      "observtn": observtn, "visit": ["001", "1", "02"]})

    monkeypatch.setattr(planning, "find_guidestar_products", find)
    tasks, failures = plan_survey(programs=[1534, 1541])
    assert [(t.program, t.observation, t.visit, t.files, t.sizes) for t in tasks] == [
        (1534, 1, 1, ("jw01534_0_cal.fits", "jw01534_1_cal.fits"), (10, 11)),
        (1534, 2, 2, ("jw01534_2_cal.fits",), (12,))]
    (failure,) = failures
    assert failure["program"] == 1541 and failure["status"] == "error"
    assert failure["error"].startswith("ArchiveQueryError: the MAST reply for program 1541 "
                                       "lists a product with observtn=")


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({}, ParameterError, "nothing to survey"),
    ({"programs": [1534], "visits": ["1534:1"]}, ParameterError, "visits='1534:1'"),
    ({"programs": ["15x4"]}, ParameterError, "programs='15x4'"),
    ({"programs": [1534], "workers": 0}, ParameterError, "workers=0"),
    ({"programs": [1534], "config_file": "nope"}, ParameterError, "config_file='nope'"),
    ({"programs": [1534], "progress": "yes"}, ParameterError, "progress='yes'"),
    ({"programs": 1.5}, ParameterError, "programs=1.5 must be a program number"),
    ({"observations": 5}, ParameterError, "observations=5 must be 'PROGRAM:OBSERVATION'"),
    ({"input_dir": 5}, ParameterError, "input_dir=5 must be a folder path"),
    ({"programs": [1534], "scheduler": 8786}, ParameterError, "scheduler=8786"),
    ({"programs": [1534], "scheduler": "tcp://host:0"}, ParameterError, "port 0"),
    ({"programs": [1534], "download_dir": 5}, ParameterError, "download_dir=5"),
    ({"programs": [1534], "config_file": 5}, ParameterError, "config_file='5'"),
])
def test_bad_arguments_name_the_parameter(tmp_path, kwargs, error, text):
    with pytest.raises(error, match=text):
        run_survey(tmp_path / "out", **kwargs)
    with pytest.raises(ParameterError, match="output=None must be a folder path"):
        run_survey(None, programs=[1534])
    assert not (tmp_path / "out").exists()


def test_run_visit_checks_its_arguments_before_writing(programs, tmp_path):
    (task,), _ = plan_survey(input_dir=programs[1534].files[0].parent, visits=["1534:1:1"])
    output = tmp_path / "out"
    with pytest.raises(ParameterError, match=r"run_visit: task=None must be a VisitTask"):
        execution.run_visit(None, output=output)
    with pytest.raises(ParameterError, match=r"run_visit: output=5 must be a folder path"):
        execution.run_visit(task, output=5)
    with pytest.raises(ParameterError, match=r"run_visit: config_file='.*nope.asdf' is neither"):
        execution.run_visit(task, output=output, config_file=tmp_path / "nope.asdf")
    with pytest.raises(ParameterError, match=r"run_visit: download_dir=5 must be a folder path"):
        execution.run_visit(task, output=output, download_dir=5)
    assert not output.exists()


def test_run_visit_gives_steps_their_share_of_the_cores_unless_the_file_says(programs, tmp_path):
    (task,), _ = plan_survey(input_dir=programs[1534].files[0].parent, visits=["1534:1:1"])

    def fit_ncpus(config_file, threads, name):
        row = execution.run_visit(task, output=tmp_path / name, config_file=config_file,
                                  threads=threads)
        assert row["status"] == "ok", row["error"]
        with GuideStarModel(row["product"]) as model:
            return model.meta.spelunker.fit_ncpus

    # the default profile leaves ncpus to the step (every CPU): the survey's share wins
    assert fit_ncpus("pipeline", 1, "share") == 1
    assert fit_ncpus("pipeline", None, "alone") == available_cpus()
    # a parameter file that names ncpus keeps it
    named = tmp_path / "two.asdf"
    GuideStarPipeline.from_config_file(parameter_file("pipeline")).export_config(named)
    text = named.read_text().replace("ncpus: null", "ncpus: 2")
    named.write_text(text)
    assert fit_ncpus(named, 1, "named") == min(2, available_cpus())
    # every threaded step gets the share (the periodogram's too), read without resolving the
    # file's class; a step whose ncpus the file names keeps it
    assert execution.THREADED_STEPS == ("fit", "periodogram", "variability")
    assert execution._thread_overrides(parameter_file("pipeline"), 1) == {
        "steps": {name: {"ncpus": 1} for name in ("fit", "periodogram", "variability")}}
    assert execution._thread_overrides(parameter_file("pipeline"), None) == {}
    # a LocalCluster's workers share this machine's CPUs; another cluster's are unknown here
    assert execution._worker_share(2, None) == max(1, available_cpus() // 2)
    assert execution._worker_share(None, "tcp://scheduler:8786") is None
    assert execution._thread_overrides(named, 1) == {}
    one = tmp_path / "one.asdf"
    one.write_text(text.replace("ncpus: 2", "ncpus: null", 1))
    (left,) = [name for name in execution.THREADED_STEPS
               if GuideStarPipeline.from_config_file(one).steps[name]["ncpus"] is None]
    assert execution._thread_overrides(one, 1) == {"steps": {left: {"ncpus": 1}}}


@pytest.mark.parametrize("make", [summary.survey_table, summary.arrow_table])
def test_survey_tables_refuse_what_is_not_rows(make):
    for rows, text in [(None, "rows=None must be a list of survey rows"),
                       ("x", "rows='x' must be a list"), ({"program": 1}, "rows={'program'"),
                       ([summary.empty_row(1534), 5], r"rows\[1\]=5 must be a survey row")]:
        with pytest.raises(ParameterError, match=f"{make.__name__}: {text}"):
            make(rows)
    row = {**summary.empty_row(1534, 1, 1), "n_frames": "many"}
    with pytest.raises(ParameterError, match="the rows' 'n_frames' values must be int or None"):
        make([row])
    assert len(make(summary.empty_row(1534, 1, v) for v in (1, 2))) == 2


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


# --------------------------------------------------------------------------
# The command as a new user meets it


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_error_line(err):
    """The stderr of a failed command: exactly one 'spelunker-survey: error:' line."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("spelunker-survey: error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def one_visit(programs, tmp_path):
    """A folder holding one visit (1541:1:1) to survey."""
    folder = tmp_path / "one_visit"
    folder.mkdir()
    for path in visit_files(programs, (1541, 1, 1)):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_unreachable_scheduler_is_one_line_at_once(one_visit, tmp_path, capsys):
    output = tmp_path / "out"
    address = f"tcp://127.0.0.1:{closed_port()}"

    started = time.perf_counter()
    code = main(["--input", str(one_visit), "--output", str(output), "--scheduler", address,
                 "--no-progress"])
    elapsed = time.perf_counter() - started

    assert code == 1
    line = one_error_line(capsys.readouterr().err)
    assert address in line and "connection refused" in line
    assert elapsed < execution.SCHEDULER_TIMEOUT  # refused at once, not after Dask's 30 s
    assert not output.exists()


def test_a_port_that_is_not_a_scheduler_times_out(one_visit, tmp_path, monkeypatch):
    # The dashboard's port, or any server that accepts and stays silent: no endless wait.
    monkeypatch.setattr(execution, "SCHEDULER_TIMEOUT", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        started = time.perf_counter()
        with pytest.raises(SurveyError, match="does not answer as a Dask scheduler within 0.5 s"):
            run_survey(tmp_path / "out", input_dir=one_visit, scheduler=address, progress=False)
        assert time.perf_counter() - started < 5
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file_is_one_line(one_visit, tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    for output, text in ((taken, "is a file, not a folder"),
                         (taken / "survey", "a file, not a folder")):
        code = main(["--input", str(one_visit), "--output", str(output), "--no-progress"])
        assert code == 1
        assert text in one_error_line(capsys.readouterr().err)
    assert taken.read_text() == "mine"
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "products").write_text("not a folder")
    assert main(["--input", str(one_visit), "--output", str(blocked), "--no-progress"]) == 1
    assert "products in it is a file" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in blocked.iterdir()) == ["products"]


@pytest.mark.parametrize(("args", "text"), [
    (["--input", "{tmp}/typo"], "input_dir="),
    (["--program", "15x4"], "programs='15x4'"),
    (["--visit", "1534:1"], "visits='1534:1'"),
    (["--input", "{input}", "--scheduler", "http://scheduler:8787"], "unknown scheme 'http'"),
    (["--input", "{input}", "--scheduler", "tcp://scheduler"], "missing port"),
    (["--input", "{input}", "--config", "{tmp}/typo.asdf"], "config_file="),
    (["--input", "{input}", "--workers", "0"], "workers=0"),
    (["--input", "{input}", "--download-dir", "{tmp}/taken.txt/cache"], "download_dir="),
])
def test_nothing_is_created_before_the_input_is_checked(one_visit, tmp_path, capsys, args, text):
    (tmp_path / "taken.txt").write_text("mine")
    before = sorted(tmp_path.rglob("*"))
    args = [a.format(tmp=tmp_path, input=one_visit) for a in args]

    code = main([*args, "--output", str(tmp_path / "new" / "survey"), "--no-progress"])

    assert code == 1
    assert text in one_error_line(capsys.readouterr().err)
    assert sorted(tmp_path.rglob("*")) == before


def test_usage_errors_exit_2_and_codes_are_documented(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--program", "1534"])  # no --output
    assert exit_info.value.code == 2
    assert "spelunker-survey: error: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    printed = capsys.readouterr().out
    for code in EXIT_CODES:
        assert re.search(rf"^  {code}\s", printed, flags=re.MULTILINE), printed


def test_interrupted_survey_says_how_to_resume(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(execution, "run_survey", interrupted)  # main imports it when called
    code = main(["--program", "1534", "--output", str(tmp_path / "out")])
    assert code == 130 and 130 in EXIT_CODES
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == ("spelunker-survey: interrupted; run the same command again to "
                           "resume (complete visits are kept)")


def test_module_and_console_script_run_the_command(tmp_path):
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "spelunker-survey"]
    assert script.load() is main
    result = subprocess.run([sys.executable, "-m", "spelunker.survey", "--input",
                             str(tmp_path / "typo"), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1
    assert "input_dir=" in one_error_line(result.stderr)
    assert not (tmp_path / "out").exists()


EXIT_PROBE = textwrap.dedent("""
    import atexit, sys
    atexit.register(print, "exit handlers ran")  # its output must be flushed before the end
    from spelunker.survey import main
    print("survey", end=" ")
    sys.exit(main())
""")


def test_the_command_ends_after_its_exit_handlers_without_teardown(tmp_path, monkeypatch):
    """The command's process (main() without arguments) ends with os._exit once its exit
    handlers ran and its output is flushed, skipping the interpreter's tear-down of its
    modules (0.4-1.5 s after a survey); main(argv) returns the code."""
    result = subprocess.run([sys.executable, "-c", EXIT_PROBE, "--input",
                             str(tmp_path / "typo"), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1
    assert "input_dir=" in one_error_line(result.stderr)
    assert result.stdout.splitlines() == ["survey exit handlers ran"]

    class Ended(Exception):
        pass

    calls = []

    def ended(code):
        calls.append(("os._exit", code))
        raise Ended

    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: calls.append(("atexit", None)))
    monkeypatch.setattr(cli.os, "_exit", ended)
    monkeypatch.setattr(sys, "argv", ["spelunker-survey", "--input", str(tmp_path / "typo"),
                                      "--output", str(tmp_path / "out")])
    with pytest.raises(Ended):
        main()
    assert calls == [("atexit", None), ("os._exit", 1)]
    assert main(sys.argv[1:]) == 1 and len(calls) == 2


KILLED_SAVE = textwrap.dedent("""
    import os, sys
    from spelunker import GuideStarModel
    from spelunker.survey import plan_survey, run_visit

    def killed(self, path, *args, **kwargs):
        with open(path, "wb") as partial:
            partial.write(b"half a product")
        os._exit(9)  # the survey is killed while the product is being written

    GuideStarModel.save = killed
    (task,), _ = plan_survey(input_dir=sys.argv[1])
    run_visit(task, output=sys.argv[2])
""")


def test_next_run_removes_a_killed_surveys_temporaries(one_visit, cluster, tmp_path, caplog):
    output = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(one_visit), str(output)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == 9, killed.stderr
    (left,) = (output / "products").iterdir()
    assert is_temporary(left) and left.is_dir()  # a hidden, half-written product folder

    with caplog.at_level(logging.INFO, logger="spelunker"):
        table = run_survey(output, input_dir=one_visit, scheduler=cluster.scheduler_address,
                           progress=False)

    assert list(table["status"]) == ["ok"]
    assert [p.name for p in (output / "products").iterdir()] == [
        product_name_of(one_visit)]
    assert not any(p.name.startswith(TEMPORARY_PREFIX) for p in output.rglob("*"))
    assert f"removed {left}" in caplog.text
    assert "Removed 1 temporary entries left by an interrupted survey" in caplog.text


def product_name_of(folder):
    (first,) = sorted(folder.iterdir())[:1]
    return first.name.replace("-seg001", "").replace("_cal.fits", "_gspipe.fits")


@contextlib.contextmanager
def console_log():
    """A console handler on the root logger, as the command's logging.basicConfig sets.

    Made inside the test: capsys replaces sys.stderr only while the test runs.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("LOG %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def test_worker_log_lines_print_above_the_bar(programs, cluster, tmp_path, capsys):
    folder = tmp_path / "with_a_broken_file"
    folder.mkdir()
    for path in visit_files(programs, (1541, 1, 1)):
        (folder / path.name).write_bytes(path.read_bytes())
    broken = folder / "jw01541003001_gs-fg_2022338020000_cal.fits"
    broken.write_bytes(b"not a FITS file" * 100)

    with console_log():
        table = run_survey(tmp_path / "out", input_dir=folder,
                           scheduler=cluster.scheduler_address, progress=True)

    assert list(table["status"]) == ["ok", "error"]
    err = capsys.readouterr().err
    assert "survey: 100%" in err  # the bar was drawn
    # The worker's error, forwarded to this process, was printed by tqdm.write: the bar
    # line is cleared first, so every log line starts a line of its own.
    assert "LOG spelunker.survey.execution ERROR Survey visit jw01541003001 failed" in err
    for match in re.finditer("LOG ", err):
        assert match.start() == 0 or err[match.start() - 1] in "\r\n", err



def test_one_cluster_start_forked_warm_workers_and_none_for_an_empty_resume(one_visit, tmp_path,
                                                                             monkeypatch):
    """The LocalCluster starts once per survey, its workers forked from the fork server
    (never from this process, which runs threads) with the pipeline imported before their
    first task, Dask's worker variables and this process's environment as it is when the
    survey starts; a resume with nothing to run starts no cluster at all."""
    started = []

    def probe():
        from spelunker import instrument  # noqa: PLC0415 - runs on the worker

        assert os.environ.get("SPELUNKER_TEST_LATE") == "set after the fork server started"

        assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # glibc's own thresholds
        warm = {"pipeline": "spelunker.stpipe.guidestar_pipeline" in sys.modules,
                "numba": "numba" in sys.modules,
                "siaf": instrument._fgs_numbers.cache_info().currsize == 1}
        # the thread counts BLAS and OpenMP took as the fork server loaded them
        pools = {(pool["user_api"], pool["num_threads"])
                 for pool in threadpoolctl.threadpool_info()}
        return warm, os.getppid(), os.environ.get("OMP_NUM_THREADS"), sorted(pools)

    class CountedCluster(LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            method = dask.config.get("distributed.worker.multiprocessing-method")
            with Client(self) as client:  # before any task: what the workers hold already
                started.append((method, sorted(client.run(probe).values())))

    monkeypatch.setattr(execution, "LocalCluster", CountedCluster)
    # A Nanny sets Dask's worker variables in its own process (this one) too: an earlier
    # cluster's are removed.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    workers_module.start_fork_server()
    # a variable set once the server runs reaches the workers too (a token, say)
    monkeypatch.setenv("SPELUNKER_TEST_LATE", "set after the fork server started")
    output = tmp_path / "out"
    table = run_survey(output, input_dir=one_visit, workers=2, progress=False)
    assert list(table["status"]) == ["ok"]
    server = forkserver._forkserver._forkserver_pid
    (method, workers), = started
    assert method == "forkserver"
    # both workers hold the pipeline, numba and the FGS SIAF, loaded once by the fork
    # server (their parent) before it forked them
    warm = {"pipeline": True, "numba": True, "siaf": True}
    # the fork server set Dask's worker variables before it loaded numpy and finufft: BLAS
    # and OpenMP run one thread in each worker (they read the variables as they load,
    # before the worker's own environment is set)
    pools = [("blas", 1), ("openmp", 1)]
    assert workers == [(warm, server, "1", pools)] * 2
    assert workers_module.WARM_VARIABLE == _preload.WARM_VARIABLE

    def no_cluster(*args, **kwargs):
        raise AssertionError("a resume with nothing to run started a cluster")

    monkeypatch.setattr(execution, "LocalCluster", no_cluster)
    monkeypatch.setattr(execution, "Client", no_cluster)
    again = run_survey(output, input_dir=one_visit, workers=2, progress=False)
    assert list(again["status"]) == ["ok"] and again["finished"][0] == table["finished"][0]


def test_the_fork_server_starts_at_once_and_sets_dask_s_variables_before_numpy(monkeypatch):
    """The server starts with only what Python reads as it starts (Dask's hash seed): no
    dask import first, and no MALLOC_TRIM_THRESHOLD_ (glibc reads it then); the first
    module it imports sets Dask's worker variables, before numpy loads BLAS."""
    started = []
    monkeypatch.setattr(forkserver, "ensure_running", lambda: started.append(dict(os.environ)))
    for name in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    workers_module.start_fork_server()
    (environ,) = started
    assert {name: environ[name] for name in set(environ) - set(before)} == {
        "PYTHONHASHSEED": workers_module.HASH_SEED, workers_module.WARM_VARIABLE: "1"}
    assert dict(os.environ) == before  # this process's environment is left as it was
    assert workers_module.PRELOAD[0] == "spelunker.survey.environment"

    probe = textwrap.dedent("""
        import os
        import spelunker.survey.environment  # as in the server: before numpy loads BLAS
        print(os.environ.get("OMP_NUM_THREADS"), os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        import numpy, threadpoolctl
        print(sorted({pool["num_threads"] for pool in threadpoolctl.threadpool_info()}))
    """)
    clean = {name: value for name, value in os.environ.items()
             if name not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                             "MALLOC_TRIM_THRESHOLD_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env={**clean, workers_module.WARM_VARIABLE: "1"})
    assert done.stdout.split("\n")[:2] == ["1 None", "[1]"]
    elsewhere = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                               check=True, env=clean)
    assert elsewhere.stdout.split("\n")[0] == "None None"  # imported elsewhere: nothing set


def test_worker_environment_is_dask_s_read_without_importing_distributed(monkeypatch):
    """The fork server's variables are the ones a Nanny sets, from distributed's defaults
    under the user's configuration, read before distributed is imported."""
    key = "distributed.nanny.pre-spawn-environ"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    # distributed is imported in this process: its registered defaults are the reference
    registered = {name: str(value) for name, value in dask.config.get(key).items()
                  if value is not None}
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    variables = environment.worker_environment()
    assert variables.pop("PYTHONHASHSEED") == os.environ.get("PYTHONHASHSEED", "6640")
    assert variables == {**{name: value for name, value in registered.items()
                            if name not in environment.LEFT_OUT},
                         **{name: os.environ[name] for name in registered
                            if name in os.environ}}
    # glibc's malloc thresholds stay its own (Dask fixes them), unless the user sets them
    assert "MALLOC_TRIM_THRESHOLD_" in registered and environment.LEFT_OUT == (
        "MALLOC_TRIM_THRESHOLD_",)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    assert environment.worker_environment()["MALLOC_TRIM_THRESHOLD_"] == "1048576"
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    assert environment._distributed_default(key) == {
        name: value for name, value in dask.config.get(key).items()}
    with dask.config.set({f"{key}.OMP_NUM_THREADS": 3}):
        assert environment.worker_environment()["OMP_NUM_THREADS"] == "3"
    # the command imports this module to start the server: distributed is not imported yet
    code = ("import sys, spelunker.survey.environment as e; e.worker_environment(); "
            "print('distributed' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def _profiler_enabled():
    return dask.config.get("distributed.worker.profile.enabled")


def test_the_dashboard_is_served_on_request(one_visit, tmp_path, monkeypatch, caplog):
    """Off by default (bokeh's import costs the start 0.75 s); --dashboard serves and logs it.
    The workers sample their stacks (Dask's profiler, read by the dashboard) only with it."""
    addresses = []
    profilers = []

    class RecordedCluster(LocalCluster):
        def __init__(self, *args, **kwargs):
            addresses.append(kwargs["dashboard_address"])
            super().__init__(*args, **kwargs)
            with Client(self) as client:  # what the worker processes were configured with
                profilers.append(set(client.run(_profiler_enabled).values()))

    monkeypatch.setattr(execution, "LocalCluster", RecordedCluster)
    with pytest.raises(ParameterError, match="dashboard='yes' must be True or False"):
        run_survey(tmp_path / "bad", input_dir=one_visit, workers=1, dashboard="yes")
    assert not (tmp_path / "bad").exists()
    def started():
        return [record.getMessage() for record in caplog.records
                if record.name.startswith("spelunker") and "LocalCluster" in record.getMessage()]

    with caplog.at_level(logging.INFO, logger="spelunker"):
        run_survey(tmp_path / "plain", input_dir=one_visit, workers=1, progress=False)
        assert started() == ["Started a LocalCluster of 1 workers"]
        caplog.clear()
        run_survey(tmp_path / "watched", input_dir=one_visit, workers=1, progress=False,
                   dashboard=True)
    assert addresses == [None, ":0"]
    assert profilers == [{False}, {True}]
    assert _profiler_enabled() is True  # this process's configuration is left as it was
    (line,) = started()
    assert re.fullmatch(r"Started a LocalCluster of 1 workers \(dashboard http://\S+\)", line)
    assert cli._parser().parse_args(["--output", "o", "--dashboard"]).dashboard is True
    assert cli._parser().parse_args(["--output", "o"]).dashboard is False


def test_the_cluster_closes_when_the_survey_fails(one_visit, tmp_path, monkeypatch):
    """An error while the tasks run (here in the progress bookkeeping) closes the cluster:
    no worker process outlives the survey."""
    clusters = []

    class KeptCluster(LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            clusters.append(self)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(execution, "LocalCluster", KeptCluster)
    monkeypatch.setattr(execution, "_run_tasks", broken)
    with pytest.raises(OSError, match="disk full"):
        run_survey(tmp_path / "out", input_dir=one_visit, workers=1, progress=False)
    (cluster,) = clusters
    assert cluster.status.name == "closed" and not cluster.workers


def test_command_starts_the_fork_server_only_with_visits_ahead(tmp_path, monkeypatch):
    """A new survey (or --rerun) starts the workers' fork server as soon as the arguments
    are parsed (it imports the pipeline while the command plans); a resume, which may have
    nothing to run, a survey on a running scheduler and an input folder that does not
    exist do not."""
    calls = []
    monkeypatch.setattr(workers_module, "start_fork_server", lambda: calls.append(True))
    monkeypatch.setattr(execution, "run_survey", lambda *a, **k: Table({"status": ["ok"]}))
    output = tmp_path / "out"
    assert main(["--input", str(tmp_path), "--output", str(output)]) == 0
    (output / "rows").mkdir(parents=True)
    assert main(["--input", str(tmp_path), "--output", str(output)]) == 0
    assert main(["--input", str(tmp_path), "--output", str(output), "--rerun"]) == 0
    assert main(["--input", str(tmp_path), "--output", str(tmp_path / "new"),
                 "--scheduler", "tcp://127.0.0.1:8786"]) == 0
    assert main(["--input", str(tmp_path / "typo"), "--output", str(tmp_path / "new")]) == 0
    assert calls == [True, True]


def test_help_and_usage_errors_import_no_survey():
    """--help and a usage error answer without Dask, jwst, numba, matplotlib, scipy.stats;
    not even numpy, which the fork server's start waits for otherwise."""
    assert cli._SCHEDULER_TIMEOUT_TEXT == f"{execution.SCHEDULER_TIMEOUT:g}"
    heavy = ["distributed", "jwst", "stdatamodels", "stpipe", "numba", "matplotlib",
             "scipy.stats", "pysiaf", "astropy.table", "numpy", "dask"]
    probe = textwrap.dedent(f"""
        import sys
        from spelunker.survey import main
        for argv in (["--help"], ["--workers", "two", "--output", "x"]):
            try:
                main(argv)
            except SystemExit as exc:
                assert exc.code == (0 if argv == ["--help"] else 2), exc.code
        print(sorted(name for name in {heavy!r} if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
