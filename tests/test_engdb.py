"""Engineering telemetry through jwst.lib.engdb_tools against a local MAST EDB, and local events."""

import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time
from matplotlib.figure import Figure
from numpy.testing import assert_allclose, assert_array_equal

from spelunker import (
    GuideStarFitStep,
    PeriodogramStep,
    PhotometryOptimizeStep,
    SpelunkerError,
    datasets,
    read_guidestar,
)
from spelunker.archive.engdb import DEFAULT_TIMEOUT, engdb_service, mnemonics
from spelunker.errors import EngdbError, ParameterError
from spelunker.events import hga_intervals, local_events
from spelunker.plotting import (
    TimeAxis,
    plot_local_events,
    plot_mnemonic,
    set_time_axis,
    time_axis,
    timeseries_binned_plot,
    to_axis_time,
)

from edb_server import REAL_TELEMETRY_FACTS, engdb_direct_series, running_engdb
from edb_server import closed_port_url as _closed_port_url
from edb_server import current_series, guide_position_series, hga_series, silent_server_url

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
    """Both visits in one model with every result (the steps run on the whole input)."""
    fitted = GuideStarFitStep.call(read_guidestar(visit.files), method="quick")
    return PeriodogramStep.call(PhotometryOptimizeStep.call(fitted))


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


def _transitions(mjd, values):
    """(start, stop) MJD of every MOVING run of served samples, by a plain loop."""
    moves = []
    for k in range(1, len(values)):
        if values[k] == "MOVING" and values[k - 1] != "MOVING":
            moves.append([mjd[k], None])
        elif values[k] != "MOVING" and values[k - 1] == "MOVING":
            moves[-1][1] = mjd[k]
    return moves


# --------------------------------------------------------------------------
# The real client against the local server


def test_hga_intervals_match_served_transitions(edb_server, model, t0):
    _serve_hga(edb_server, t0)
    start, end = _seconds(t0, -5.0), _seconds(t0, 60.0)
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    limits = ax.get_xlim()

    table = mnemonics("sa_zhgaupst ", start, end, token=TOKEN, base_url=edb_server.url)
    plot_mnemonic(table, ax)

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

    # Every sample is served (AllPoints, 1.024 s cadence): many repeated states, two moves.
    assert len(table) > 60 and list(table["value"]).count("MOVING") > 15
    served = _transitions(served_mjd, served_values)
    assert len(served) == 2
    cadence = REAL_TELEMETRY_FACTS["SLOW_CADENCE_S"]
    for (start_mjd, stop_mjd), (a, b) in zip(served, SERVED_MOVES, strict=True):
        assert 0.0 <= (start_mjd - t0.mjd) * 86400.0 - a < cadence + 0.002
        assert 0.0 <= (stop_mjd - t0.mjd) * 86400.0 - b < cadence + 0.002
    moves = hga_intervals(table)
    assert_allclose(moves["start"].mjd, [a for a, _ in served], rtol=0, atol=1e-8)
    assert_allclose(moves["stop"].mjd, [b for _, b in served], rtol=0, atol=1e-8)
    assert moves["complete"].tolist() == [True, True]
    assert_allclose(moves["duration"].to_value("s"),
                    [(b - a) * 86400.0 for a, b in served], atol=1e-3)

    # Shaded on the plot's time axis (minutes since the first frame), limits kept.
    spans = [p for p in ax.patches if p.get_gid() == "SA_ZHGAUPST"]
    assert len(spans) == 2
    assert time_axis(ax).unit == "min"
    assert_allclose([p.get_x() * 60 for p in spans],
                    [(a - t0.mjd) * 86400.0 for a, _ in served], atol=1e-3)
    assert_allclose([(p.get_x() + p.get_width()) * 60 for p in spans],
                    [(b - t0.mjd) * 86400.0 for _, b in served], atol=1e-3)
    assert ax.get_xlim() == limits


def test_numeric_mnemonic_is_a_line_of_the_served_values(edb_server, model, t0):
    edb_server.series["INIS_FWMTRCURR"] = current_series(t0.mjd, 90.0, pulses=((30.0, 8.0),))
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    start, end = _seconds(t0, 10.0), _seconds(t0, 50.0)

    table = mnemonics("INIS_FWMTRCURR", start.mjd, end.mjd, token=TOKEN,
                      base_url=edb_server.url)
    plot_mnemonic(table, ax)

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


def test_sa_zfg_mnemonic_at_64_ms_is_a_line_of_the_served_values(edb_server, model, t0):
    """A fine-guidance mnemonic at its real cadence: every 64 ms sample comes back and is drawn."""
    edb_server.series["SA_ZFGGSPOSX"] = guide_position_series(t0.mjd, 40.0, track_start=2.0)
    start, end = _seconds(t0, 0.0), _seconds(t0, 8.0)
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())

    table = mnemonics("SA_ZFGGSPOSX", start, end, token=TOKEN, base_url=edb_server.url)
    plot_mnemonic(table, ax)

    served_mjd, served_values = edb_server.served("SA_ZFGGSPOSX", _datetime(start),
                                                  _datetime(end))
    assert len(table) == len(served_values) > 120  # 8 s at 64 ms, plus the brackets
    steps = np.diff(table["time"].mjd) * 86400.0
    assert_allclose(np.median(steps), 0.064, atol=0.0011)
    assert np.all(np.abs(steps - 0.064) < 0.0016)
    assert_allclose(table["time"].mjd, served_mjd, rtol=0, atol=1e-9)
    assert_array_equal(table["value"], served_values)
    values = np.asarray(table["value"])
    # REAL: float32 values with 10 decimals, as in the recordings.
    assert_array_equal(np.round(values.astype(np.float32).astype(float), 10), values)
    assert (values[table["time"].mjd < _seconds(t0, 2.0).mjd] == 0.0).all()  # not tracking
    twin, = [other for other in ax.figure.axes if other is not ax]
    line, = [line for line in twin.get_lines() if line.get_gid() == "SA_ZFGGSPOSX"]
    assert_array_equal(line.get_ydata(), served_values)
    expected_x = (Time(served_mjd, format="mjd", scale="utc") - t0).to_value("s")
    assert_allclose(line.get_xdata() * time_axis(ax).seconds_per_unit, expected_x, atol=1e-3)


def test_overlays_on_the_returned_twin_land_at_the_same_times(edb_server, model, t0):
    """The twin Axes of a numeric mnemonic carries the plot's time axis (not MJD)."""
    edb_server.series["INIS_FWMTRCURR"] = current_series(t0.mjd, 90.0)
    edb_server.series["SA_ZFGGSPOSX"] = guide_position_series(t0.mjd, 90.0)
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    table = mnemonics("INIS_FWMTRCURR", _seconds(t0, 0.0), _seconds(t0, 60.0), token=TOKEN,
                      base_url=edb_server.url)
    twin = plot_mnemonic(table, ax)
    assert twin is not ax and time_axis(twin) == time_axis(ax)
    assert time_axis(ax).unit == "min"

    moves = local_events(model, "HGA")
    plot_local_events(twin, moves, "HGA")
    span, = [p for p in twin.patches if p.get_gid() == "HGA"]
    assert_allclose(span.get_x(), to_axis_time(ax, moves["start"])[0], rtol=0, atol=1e-9)
    assert 0.0 < span.get_x() < 1.0  # minutes since the first frame, not MJD
    position = mnemonics("SA_ZFGGSPOSX", _seconds(t0, 10.0), _seconds(t0, 12.0), token=TOKEN,
                         base_url=edb_server.url)
    plot_mnemonic(position, twin)
    second, = [other for other in ax.figure.axes if other not in (ax, twin)]
    line, = second.get_lines()
    assert_allclose(line.get_xdata(), to_axis_time(ax, position["time"]), rtol=0, atol=1e-9)
    assert time_axis(second) == time_axis(ax)


def test_plain_axes_get_mjd(edb_server, t0):
    edb_server.series["INIS_FWMTRCURR"] = current_series(t0.mjd, 20.0, pulses=())
    ax = Figure().add_subplot()
    table = mnemonics("INIS_FWMTRCURR", t0, _seconds(t0, 10.0), token=TOKEN,
                      base_url=edb_server.url)
    plot_mnemonic(table, ax)
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
    start, end = _seconds(t0, -5.0), _seconds(t0, 60.0)
    table = mnemonics("SA_ZHGAUPST", start, end)
    _, served_values = edb_server.served("SA_ZHGAUPST", _datetime(start), _datetime(end))
    assert list(table["value"]) == served_values and len(table) > 60
    assert edb_server.downloads()[0][1] == f"token {TOKEN}"


def test_session_is_reused(edb_server, t0):
    _serve_hga(edb_server, t0)
    service = engdb_service(token=TOKEN, base_url=edb_server.url)
    for _ in range(2):
        mnemonics("SA_ZHGAUPST", _seconds(t0, -5.0), _seconds(t0, 60.0), session=service)
    pings = [entry for entry in edb_server.requests if entry[0] == "/api/"]
    assert len(pings) == 1 and len(edb_server.downloads()) == 2
    with pytest.raises(ParameterError, match="either session or token"):
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
                      base_url=edb_server.url)
    plot_mnemonic(table, ax)
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
    moves = local_events(model, "HGA")
    plot_local_events(ax, moves, "HGA")
    assert len(moves) == 1
    events = local_events(model, "FILENAME")
    plot_local_events(ax, events, "FILENAME")
    assert len(events) == 3


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
    events = local_events(model, "GUIDESTAR")
    plot_local_events(ax, events, "GUIDESTAR")
    assert len(events) == 1


def test_timeout_from_the_environment_is_a_number(edb_server, t0, monkeypatch):
    """jwst 3.0 passes ENG_TIMEOUT / ENG_RETRIES on as text; spelunker reads them as numbers."""
    _serve_hga(edb_server, t0)
    monkeypatch.setenv("ENG_TIMEOUT", "30")
    monkeypatch.setenv("ENG_RETRIES", "2")
    service = engdb_service(token=TOKEN, base_url=edb_server.url)
    assert service.timeout == 30.0 and service.retries == 2
    table = mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), session=service)
    assert len(table) > 50
    assert engdb_service(token=TOKEN, base_url=edb_server.url, timeout=5).timeout == 5.0
    monkeypatch.delenv("ENG_TIMEOUT")
    assert engdb_service(token=TOKEN, base_url=edb_server.url).timeout == DEFAULT_TIMEOUT < 600
    for name, value in (("ENG_TIMEOUT", "soon"), ("ENG_TIMEOUT", "-3"), ("ENG_RETRIES", "many")):
        monkeypatch.setenv(name, value)
        with pytest.raises(EngdbError, match=f"{name}='{value}' is not a"):
            mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), token=TOKEN,
                      base_url=edb_server.url)
        monkeypatch.delenv(name)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), "soon", True])
def test_bad_timeout_argument(timeout):
    with pytest.raises(ParameterError, match="timeout="):
        engdb_service(token=TOKEN, base_url="http://127.0.0.1:9/", timeout=timeout)


@pytest.mark.parametrize(("where", "url"), [("base_url", "127.0.0.1:8080/"),
                                            ("ENG_BASE_URL", "mast.stsci.edu"),
                                            ("ENG_BASE_URL", "localhost:8080")])
def test_server_url_without_scheme_is_a_clear_error(where, url, t0, monkeypatch):
    """requests would raise InvalidSchema / MissingSchema: say what to write instead."""
    kwargs = {"token": TOKEN}
    if where == "base_url":
        kwargs["base_url"] = url
    else:
        monkeypatch.setenv("ENG_BASE_URL", url)
    with pytest.raises(EngdbError, match=f"{where}='{url}' is not an http\\(s\\) URL.*https://"
                       ) as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), **kwargs)
    assert TOKEN not in str(caught.value)


def test_unanswered_ping_times_out_clearly(t0):
    """A server that accepts the connection and never answers: ReadTimeout on GET api/."""
    with silent_server_url() as url:
        began = time.monotonic()
        with pytest.raises(EngdbError,
                           match="did not answer within 0.3 s for GET .*api/") as caught:
            mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), token=TOKEN, base_url=url,
                      timeout=0.3)
        assert time.monotonic() - began < 5.0
    assert url in str(caught.value) and TOKEN not in str(caught.value)


def test_unanswered_query_times_out_clearly(edb_server, t0):
    _serve_hga(edb_server, t0)
    edb_server.stall.add("SA_ZHGAUPST")
    service = engdb_service(token=TOKEN, base_url=edb_server.url, timeout=0.3)
    with pytest.raises(EngdbError, match="did not answer within 0.3 s for mnemonic SA_ZHGAUPST"
                       ) as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), session=service)
    assert TOKEN not in str(caught.value)
    with pytest.raises(ParameterError, match="either session or"):
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), session=service, timeout=1.0)


def test_other_request_failures_are_clear_errors(edb_server, t0):
    """Any other requests failure of a query (here a URL no adapter serves) is an EngdbError."""
    service = engdb_service(token=TOKEN, base_url=edb_server.url)
    service._req.url = "ftp://127.0.0.1/api/v0.1/Download/file"
    with pytest.raises(EngdbError, match="request to .* failed \\(InvalidSchema") as caught:
        mnemonics("SA_ZHGAUPST", t0, _seconds(t0, 60.0), session=service)
    assert TOKEN not in str(caught.value)


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
    with pytest.raises(ParameterError, match=message):
        mnemonics(mnemonic, start, end, token=TOKEN, base_url="http://127.0.0.1:9/")


# --------------------------------------------------------------------------
# Local events from the model


def test_filename_events_are_the_file_starts(model):
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    table = local_events(model, "FILENAME")
    plot_local_events(ax, table, "FILENAME")
    files = model.table("files")
    assert list(table["file_name"]) == list(files["file_name"])
    assert_allclose(table["time"].mjd, files["data_start_mjd"], rtol=0, atol=1e-9)
    assert_allclose(table["stop"].mjd, files["data_end_mjd"], rtol=0, atol=1e-9)
    lines = [line for line in ax.get_lines() if line.get_gid() == "FILENAME"]
    assert_allclose([line.get_xdata()[0] for line in lines], to_axis_time(ax, table["time"]))
    assert "(min)" in ax.get_xlabel()  # two visits ~11 minutes apart


def test_guidestar_events_are_the_star_changes(model):
    ax = timeseries_binned_plot(model, ax=Figure().add_subplot())
    table = local_events(model, "guidestar")
    plot_local_events(ax, table, "guidestar")
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
    table = local_events(model, "HGA")
    plot_local_events(ax, table, "HGA")
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
    with pytest.raises(ParameterError, match="GUIDESTAR"):
        local_events(None, "MIRROR")


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


def _reference_recording(reference_dir, name):
    folder = Path(reference_dir) / "engdb" / "telemetry_jw01029_2022-05-22"
    path = folder / f"{name.lower()}_data.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    sql_type = None
    metadata = Path(reference_dir) / "engdb" / "mnemonic_metadata_subset.json"
    if metadata.is_file():
        for entry in json.loads(metadata.read_text())["TlmMnemonics"]:
            if entry["TlmMnemonic"] == name:
                sql_type = entry["SQLType"].split("(")[0].lower()
    return engdb_direct_series(path, sql_type=sql_type)


@pytest.mark.parametrize("bracket", [True, False])
def test_real_recorded_telemetry(reference_dir, edb_server, bracket):
    """The real SA_ZFGGSPOSX (64 ms, REAL) and SA_ZFGDETID (TINYINT) come back sample for sample."""
    recorded = {}
    for name in ("SA_ZFGGSPOSX", "SA_ZFGDETID"):
        mnemonic, series, milliseconds = _reference_recording(reference_dir, name)
        assert mnemonic == name
        edb_server.series[name] = series
        recorded[name] = (milliseconds, list(series.values))
    assert edb_server.series["SA_ZFGDETID"].sql_type == "tinyint"
    milliseconds = recorded["SA_ZFGGSPOSX"][0]
    steps = np.diff(milliseconds)
    assert set(np.unique(steps)) <= {63, 64, 65}  # the cadence the synthetic series copy

    # Whole seconds inside the recording: the service works to the second.
    start = Time(np.ceil(milliseconds[0] / 1000.0) + 2.0, format="unix", scale="utc")
    end = Time(start.unix + 8.0, format="unix", scale="utc")
    start_ms, end_ms = round(start.unix * 1000), round(end.unix * 1000)
    reference = Time(milliseconds[0] / 1000.0, format="unix", scale="utc")
    ax = Figure().add_subplot()
    set_time_axis(ax, TimeAxis(reference, "s"))

    for name, (times, values) in recorded.items():
        table = mnemonics(name, start, end, token=TOKEN, base_url=edb_server.url,
                          include_bracket_values=bracket)
        plot_mnemonic(table, ax)
        inside = np.flatnonzero((times >= start_ms) & (times <= end_ms))
        if bracket:  # MAST also sends the sample just before and just after the range
            inside = np.concatenate(([inside[0] - 1], inside, [inside[-1] + 1]))
        assert inside.size > 100
        back_ms = np.round((table["time"].mjd - 40587.0) * 86_400_000.0).astype(np.int64)
        assert_array_equal(back_ms, times[inside])
        assert_array_equal(table["value"], np.asarray(values, dtype=float)[inside])
        twin = ax.figure.axes[-1]
        assert twin.get_ylabel() == name and time_axis(twin) == time_axis(ax)
        line, = [line for line in twin.get_lines() if line.get_gid() == name]
        assert_array_equal(line.get_ydata(), np.asarray(values, dtype=float)[inside])
        assert_allclose(line.get_xdata(), (times[inside] - milliseconds[0]) / 1000.0, rtol=0,
                        atol=2e-5)
    assert set(recorded["SA_ZFGDETID"][1]) == {1}


@pytest.mark.parametrize("base_url", [5, ["http://127.0.0.1:9"], np.array([1.0, 2.0])])
def test_a_base_url_that_is_not_text_is_a_parameter_error(base_url):
    with pytest.raises(ParameterError, match="base_url=.* must be the server's address"):
        engdb_service(token="t", base_url=base_url)
    with pytest.raises(ParameterError, match="base_url=.* must be the server's address"):
        mnemonics("SA_ZHGAUPST", 60000.0, 60000.1, token="t", base_url=base_url)


@pytest.mark.parametrize("session", [5, "x", object()])
def test_a_session_that_is_no_service_is_a_parameter_error(session):
    with pytest.raises(ParameterError, match="session=.* must be an engineering-database service"):
        mnemonics("SA_ZHGAUPST", 60000.0, 60000.1, session=session)
