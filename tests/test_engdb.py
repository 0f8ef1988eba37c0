"""Engineering telemetry through jwst.lib.engdb_tools against a local MAST EDB, and local events."""

import logging
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import GuideStarPipeline, SpelunkerError, datasets
from spelunker.archive.engdb import (
    EngdbError,
    engdb_service,
    hga_intervals,
    mnemonics,
    mnemonics_local,
    plot_mnemonic,
)
from spelunker.plotting import time_axis, timeseries_binned_plot, to_axis_time

from edb_server import closed_port_url as _closed_port_url
from edb_server import current_series, hga_series, running_engdb

TOKEN = "test-token-1234"
HGA_MOVE = (20.0, 35.0)  # s after the first visit's data start (POINTING)
SERVED_MOVES = ((10.0, 25.5), (40.2, 44.8))  # s after the first frame (telemetry)
N_FIRST_VISIT = 900


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """No token, server or proxy from the user's environment."""
    for name in ("MAST_API_TOKEN", "ENG_BASE_URL", "ENG_RETRIES", "ENG_TIMEOUT", "HTTP_PROXY",
                 "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def edb_server():
    """The local MAST EDB, accepting TOKEN; stopped after the test."""
    with running_engdb(TOKEN) as server:
        yield server


@pytest.fixture
def closed_port_url():
    return _closed_port_url()


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    """Two visits (two guide stars, three files) with an HGA move in the first."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("engdb_visit"),
        visits=[datasets.VisitSpec(visit=1, n_frames=N_FIRST_VISIT, n_segments=2),
                datasets.VisitSpec(visit=2, n_frames=600, n_segments=1)],
        signals=[datasets.HgaMove(start=HGA_MOVE[0], stop=HGA_MOVE[1])],
        seed=21,
    )


@pytest.fixture(scope="module")
def model(visit):
    return GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})


@pytest.fixture
def t0(model):
    return Time(float(np.min(model.frames["mid_time_mjd"])), format="mjd", scale="utc")


def _seconds(t0, seconds):
    """t0 plus seconds, as the server computes its sample times (MJD arithmetic)."""
    return Time(t0.mjd + np.asarray(seconds, dtype=float) / 86400.0, format="mjd", scale="utc")


def _datetime(time):
    return datetime.strptime(time.isot, "%Y-%m-%dT%H:%M:%S.%f")


def _serve_hga(server, t0):
    server.series["SA_ZHGAUPST"] = hga_series(t0.mjd, SERVED_MOVES)


# --------------------------------------------------------------------------
# The real client against the local server


def test_hga_intervals_match_served_transitions(edb_server, model, t0):
    _serve_hga(edb_server, t0)
    start, end = _seconds(t0, -5.0), _seconds(t0, 60.0)
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    limits = ax.get_xlim()

    table = mnemonics("sa_zhgaupst ", start, end, token=TOKEN, base_url=edb_server.url, ax=ax)

    # The client pinged, then asked for the mnemonic in MAST's URI form with the token.
    assert edb_server.requests[0][0] == "/api/"
    (path, authorization), = edb_server.downloads()
    assert authorization == f"token {TOKEN}"
    uri = parse_qs(urlsplit(path).query)["uri"][0]
    assert uri == (f"mast:jwstedb/SA_ZHGAUPST-{start.strftime('%Y%m%dT%H%M%S')}-"
                   f"{end.strftime('%Y%m%dT%H%M%S')}.csv")
    # The table holds exactly the served rows (bracketing samples included).
    served_mjd, served_values = edb_server.served("SA_ZHGAUPST", _datetime(start),
                                                  _datetime(end))
    assert table.colnames == ["time", "value"]
    assert table["time"].scale == "utc"
    assert_allclose(table["time"].mjd, served_mjd, rtol=0, atol=1e-8)
    assert list(table["value"]) == served_values
    assert table.meta["mnemonic"] == "SA_ZHGAUPST"
    assert TOKEN not in repr(table.meta)

    moves = hga_intervals(table)
    expected_start = [_seconds(t0, a).mjd for a, _ in SERVED_MOVES]
    expected_stop = [_seconds(t0, b).mjd for _, b in SERVED_MOVES]
    assert_allclose(moves["start"].mjd, expected_start, rtol=0, atol=1e-8)
    assert_allclose(moves["stop"].mjd, expected_stop, rtol=0, atol=1e-8)
    assert moves["complete"].tolist() == [True, True]
    assert_allclose(moves["duration"].to_value("s"), [15.5, 4.6], atol=1e-3)

    # Shaded on the plot's time axis (minutes since the first frame), limits kept.
    spans = [p for p in ax.patches if p.get_gid() == "SA_ZHGAUPST"]
    assert len(spans) == 2
    assert time_axis(ax).unit == "min"
    assert_allclose([p.get_x() * 60 for p in spans], [a for a, _ in SERVED_MOVES], atol=1e-3)
    assert_allclose([(p.get_x() + p.get_width()) * 60 for p in spans],
                    [b for _, b in SERVED_MOVES], atol=1e-3)
    assert ax.get_xlim() == limits


def test_numeric_mnemonic_is_a_line_of_the_served_values(edb_server, model, t0):
    edb_server.series["INIS_FWMTRCURR"] = current_series(t0.mjd, 90.0, pulses=((30.0, 8.0),))
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    start, end = _seconds(t0, 10.0), _seconds(t0, 50.0)

    table = mnemonics("INIS_FWMTRCURR", start.mjd, end.mjd, token=TOKEN,
                      base_url=edb_server.url, ax=ax)

    served_mjd, served_values = edb_server.served("INIS_FWMTRCURR", _datetime(start),
                                                  _datetime(end))
    assert len(table) == len(served_values) > 30
    assert table["value"].dtype.kind == "f"
    assert_allclose(table["value"], served_values, rtol=0, atol=1e-9)
    twins = [other for other in ax.figure.axes if other is not ax]
    assert len(twins) == 1 and twins[0].get_ylabel() == "INIS_FWMTRCURR"
    line, = [line for line in twins[0].get_lines() if line.get_gid() == "INIS_FWMTRCURR"]
    assert_allclose(line.get_ydata(), served_values, rtol=0, atol=1e-9)
    expected_x = (Time(served_mjd, format="mjd", scale="utc") - t0).to_value("s")
    assert_allclose(line.get_xdata() * time_axis(ax).seconds_per_unit, expected_x, atol=1e-3)
    # The pulse (filter-wheel move) is in the data: 8 s at ~0.3 A.
    assert np.count_nonzero(np.asarray(table["value"]) > 0.2) in (7, 8, 9)


def test_plain_axes_get_mjd(edb_server, t0):
    edb_server.series["INIS_FWMTRCURR"] = current_series(t0.mjd, 20.0, pulses=())
    ax = Figure().add_subplot()
    table = mnemonics("INIS_FWMTRCURR", t0, _seconds(t0, 10.0), token=TOKEN,
                      base_url=edb_server.url, ax=ax)
    twin = ax.figure.axes[1]
    assert_allclose(twin.get_lines()[0].get_xdata(), table["time"].mjd, rtol=0, atol=1e-9)


def test_time_arguments_as_time_mjd_or_iso_agree(edb_server, t0):
    _serve_hga(edb_server, t0)
    start, end = _seconds(t0, -5.0), _seconds(t0, 60.0)
    tables = [mnemonics("SA_ZHGAUPST", a, b, token=TOKEN, base_url=edb_server.url)
              for a, b in ((start, end), (start.mjd, end.mjd), (start.isot, end.isot))]
    for other in tables[1:]:
        assert_allclose(other["time"].mjd, tables[0]["time"].mjd, rtol=0, atol=1e-9)
        assert list(other["value"]) == list(tables[0]["value"])


def test_token_and_server_from_the_environment(edb_server, t0, monkeypatch):
    _serve_hga(edb_server, t0)
    monkeypatch.setenv("MAST_API_TOKEN", TOKEN)
    monkeypatch.setenv("ENG_BASE_URL", edb_server.url)
    table = mnemonics("SA_ZHGAUPST", _seconds(t0, -5.0), _seconds(t0, 60.0))
    assert len(table) == 6
    assert edb_server.downloads()[0][1] == f"token {TOKEN}"


def test_session_is_reused(edb_server, t0):
    _serve_hga(edb_server, t0)
    service = engdb_service(token=TOKEN, base_url=edb_server.url)
    for _ in range(2):
        mnemonics("SA_ZHGAUPST", _seconds(t0, -5.0), _seconds(t0, 60.0), session=service)
    pings = [entry for entry in edb_server.requests if entry[0] == "/api/"]
    assert len(pings) == 1 and len(edb_server.downloads()) == 2
    with pytest.raises(ValueError, match="either session or token"):
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 1.0), session=service, token=TOKEN)


def test_token_never_logged(edb_server, t0, caplog):
    _serve_hga(edb_server, t0)
    with caplog.at_level(logging.DEBUG):
        mnemonics("SA_ZHGAUPST", _seconds(t0, -5.0), _seconds(t0, 60.0), token=TOKEN,
                  base_url=edb_server.url)
    assert "SA_ZHGAUPST" in caplog.text  # the logs were captured
    assert TOKEN not in caplog.text


def test_empty_reply_gives_an_empty_table(edb_server, t0):
    edb_server.raw["SA_ZFGDETID"] = "theTime,MJD,euvalue,sqldataType\r\n"
    ax = Figure().add_subplot()
    table = mnemonics("SA_ZFGDETID", t0, _seconds(t0, 5.0), token=TOKEN,
                      base_url=edb_server.url, ax=ax)
    assert len(table) == 0 and table.colnames == ["time", "value"]


def test_string_mnemonic_changes_are_vertical_lines(t0):
    table = Table({"time": _seconds(t0, [0.0, 5.0, 9.0, 12.0]),
                   "value": ["GUIDER1", "GUIDER1", "GUIDER2", "GUIDER1"]})
    table.meta["mnemonic"] = "SA_ZFGDETID"
    ax = Figure().add_subplot()
    plot_mnemonic(table, ax)
    lines = [line for line in ax.get_lines() if line.get_gid() == "SA_ZFGDETID"]
    assert_allclose([line.get_xdata()[0] for line in lines],
                    _seconds(t0, [0.0, 9.0, 12.0]).mjd, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------
# Errors: clear, and the local features keep working


def test_no_token_is_a_clear_error_and_nothing_is_sent(edb_server, model, t0):
    with pytest.raises(EngdbError, match="no MAST API token") as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), base_url=edb_server.url)
    assert "MAST_API_TOKEN" in str(caught.value)
    assert isinstance(caught.value, SpelunkerError)
    assert edb_server.requests == []
    # Plots and local events work without any token.
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    moves = mnemonics_local(model, "HGA", ax=ax)
    assert len(moves) == 1
    assert len(mnemonics_local(model, "FILENAME", ax=ax)) == 3


def test_bad_token_is_rejected_clearly(edb_server, t0):
    _serve_hga(edb_server, t0)
    secret = "wrong-token-98765"
    with pytest.raises(EngdbError, match="token was rejected") as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), token=secret, base_url=edb_server.url)
    assert "401" in str(caught.value)
    assert secret not in str(caught.value)
    assert edb_server.downloads()[0][1] == f"token {secret}"


def test_retried_rejection_is_a_clear_error(edb_server, t0):
    """Over https the client retries 4xx answers; the final RetryError still names the token."""
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    _serve_hga(edb_server, t0)
    service = engdb_service(token="expired-token-555", base_url=edb_server.url)
    retry = Retry(total=1, backoff_factor=0, status_forcelist=[401], raise_on_status=True)
    service._session.mount("http://", HTTPAdapter(max_retries=retry))  # as jwst does for https
    with pytest.raises(EngdbError, match="kept answering errors.*token was rejected") as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), session=service)
    assert "expired-token-555" not in str(caught.value)
    assert len(edb_server.downloads()) == 2


def test_unreachable_server_is_a_clear_error(closed_port_url, model, t0):
    with pytest.raises(EngdbError, match="cannot be reached") as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), token=TOKEN, base_url=closed_port_url)
    assert closed_port_url in str(caught.value)
    assert TOKEN not in str(caught.value)
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    assert len(mnemonics_local(model, "GUIDESTAR", ax=ax)) == 1


def test_text_timeout_from_the_environment_is_named(edb_server, t0, monkeypatch):
    """jwst 3.0 passes ENG_TIMEOUT on as text (ENG_RETRIES too, only used over https)."""
    _serve_hga(edb_server, t0)
    monkeypatch.setenv("ENG_TIMEOUT", "30")
    with pytest.raises(EngdbError, match="ENG_TIMEOUT='30'.*unset"):
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), token=TOKEN, base_url=edb_server.url)


def test_unknown_mnemonic_is_a_clear_error(edb_server, t0):
    with pytest.raises(EngdbError, match="NOPE_MNEMONIC was not found.*404"):
        mnemonics("NOPE_MNEMONIC", t0, _seconds(t0, 60.0), token=TOKEN, base_url=edb_server.url)


def test_reply_that_is_not_csv_is_a_clear_error(edb_server, t0):
    edb_server.raw["SA_ZHGAUPST"] = "<html><body>Please log in</body></html>\r\n"
    with pytest.raises(EngdbError, match="not the MAST CSV"):
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), token=TOKEN, base_url=edb_server.url)


@pytest.mark.parametrize(("mnemonic", "start", "end", "message"), [
    ("", 60000.0, 60000.1, "non-empty string"),
    ("SA_ZHGAUPST", 60000.1, 60000.0, "before start"),
    ("SA_ZHGAUPST", "yesterday", 60000.0, "start="),
])
def test_bad_arguments(mnemonic, start, end, message):
    with pytest.raises(ValueError, match=message):
        mnemonics(mnemonic, start, end, token=TOKEN, base_url="http://127.0.0.1:9/")


# --------------------------------------------------------------------------
# Local events from the model


def test_filename_events_are_the_file_starts(model):
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    table = mnemonics_local(model, "FILENAME", ax=ax)
    files = model.table("files")
    assert list(table["file_name"]) == list(files["file_name"])
    assert_allclose(table["time"].mjd, files["data_start_mjd"], rtol=0, atol=1e-9)
    assert_allclose(table["stop"].mjd, files["data_end_mjd"], rtol=0, atol=1e-9)
    lines = [line for line in ax.get_lines() if line.get_gid() == "FILENAME"]
    assert_allclose([line.get_xdata()[0] for line in lines], to_axis_time(ax, table["time"]))
    assert "(min)" in ax.get_xlabel()  # two visits ~11 minutes apart


def test_guidestar_events_are_the_star_changes(model):
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    table = mnemonics_local(model, "guidestar", ax=ax)
    stars = model.table("guidestars")
    assert list(table["frame"]) == [N_FIRST_VISIT]
    assert list(table["gs_id"]) == [stars["gs_id"][1]]
    assert list(table["previous_gs_id"]) == [stars["gs_id"][0]]
    assert_allclose(table["time"].mjd, model.frames["mid_time_mjd"][N_FIRST_VISIT], rtol=0,
                    atol=1e-12)
    line, = [line for line in ax.get_lines() if line.get_gid() == "GUIDESTAR"]
    assert_allclose(line.get_xdata()[0], to_axis_time(ax, table["time"])[0])


def test_hga_events_match_the_injected_move(model, visit):
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    table = mnemonics_local(model, "HGA", ax=ax)
    assert len(table) == 1 and bool(table["complete"][0])
    data_start = Time(model.table("files")["data_start_mjd"][0], format="mjd", scale="utc")
    start = (table["start"][0] - data_start).to_value("s")
    stop = (table["stop"][0] - data_start).to_value("s")
    # POINTING rows come every second: the interval is the move, rounded out to rows.
    assert 0.0 <= start - HGA_MOVE[0] < 1.0 + 1e-6
    assert 0.0 < stop - HGA_MOVE[1] <= 1.0 + 1e-6
    span, = [p for p in ax.patches if p.get_gid() == "HGA"]
    assert_allclose(span.get_x(), to_axis_time(ax, table["start"])[0])
    assert_allclose(span.get_x() + span.get_width(), to_axis_time(ax, table["stop"])[0])


def test_unknown_local_kind():
    with pytest.raises(ValueError, match="GUIDESTAR"):
        mnemonics_local(None, "MIRROR")


@pytest.mark.parametrize(("values", "starts", "stops", "complete"), [
    (["MOVING", "MOVING", "FINISHED", "FINISHED"], [0], [2], [False]),
    (["FINISHED", "MOVING", "FINISHED", "MOVING"], [1, 3], [2, 3], [True, False]),
    (["FINISHED", "FINISHED"], [], [], []),
])
def test_hga_interval_edges(values, starts, stops, complete):
    times = 60000.0 + np.arange(len(values)) / 86400.0
    moves = hga_intervals(Table({"time": times, "value": values}))
    assert_allclose(moves["start"].mjd, times[starts], rtol=0, atol=1e-9)
    assert_allclose(moves["stop"].mjd, times[stops], rtol=0, atol=1e-9)
    assert_array_equal(moves["complete"], complete)


# --------------------------------------------------------------------------
# Optional: the verbatim MAST reply of the reference folder


def test_verbatim_mast_reply(reference_dir, edb_server):
    path = Path(reference_dir) / "engdb" / "mast_edb_response_example.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    body = path.read_bytes().decode("ascii")
    assert "\r\n" in body
    edb_server.raw["INRSI_GWA_Y_TILT_AVGED"] = body
    reference = Table.read(body.split("\r\n"), format="ascii.csv")
    table = mnemonics("INRSI_GWA_Y_TILT_AVGED", Time("2022-02-02T22:24:57", scale="utc"),
                      Time("2022-02-02T22:25:00", scale="utc"), token=TOKEN,
                      base_url=edb_server.url)
    assert_allclose(table["time"].mjd, reference["MJD"], rtol=0, atol=1e-9)
    assert_allclose(table["value"], reference["euvalue"], rtol=0, atol=0)
    assert os.fspath(path) not in repr(table.meta)
