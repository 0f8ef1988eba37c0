"""Finding and downloading guide-star products, against a local fake MAST.

Everything goes through the real astroquery client and requests to
`mast_server.FakeMast` on 127.0.0.1; only `test_live_mast_program_1534`
(``--remote-data``) talks to the real archive.
"""

import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
import time
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astroquery.mast.discovery_portal import PortalAPI
from mast_server import SERVICE, FakeMast, listing

import spelunker
from spelunker import datasets
from spelunker.archive import (
    ArchiveQueryError,
    AuthenticationError,
    DownloadError,
    download_products,
    find_guidestar_products,
    mast_server,
)
from spelunker.archive import download as archive_download
from spelunker.archive import mast as archive_mast
from spelunker.archive import tokens
from spelunker.atomic import TEMPORARY_PREFIX, is_temporary
from spelunker.errors import ParameterError
from spelunker.names import check_product_name

#: A token only this module knows, so a leak is easy to find.
GOOD_TOKEN = "spk-" + secrets.token_hex(16)
BAD_TOKEN = "spk-bad-" + secrets.token_hex(16)

FAST = {"backoff": 0.01, "timeout": 5}


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def archive_files(tmp_path_factory):
    """Synthetic products of two programs: the 'archive' the fake MAST serves.

    Program 1534: observation 1 visit 1 (3 segments, GUIDER1) and observation
    2 visit 1 (1 file, GUIDER2), both calibrated and uncalibrated; program
    2079: one calibrated file.
    """
    root = tmp_path_factory.mktemp("archive")
    visits = [datasets.VisitSpec(observation=1, visit=1, n_frames=300, n_segments=3),
              datasets.VisitSpec(observation=2, visit=1, n_frames=100, n_segments=1,
                                 detector="GUIDER2")]
    cal = datasets.make_guidestar_files(root / "cal", visits=visits, seed=3).files
    uncal = datasets.make_guidestar_files(root / "uncal", visits=visits, seed=3,
                                          product="uncal").files
    other = datasets.make_guidestar_files(
        root / "other", visits=[datasets.VisitSpec(n_frames=100, n_segments=1)],
        program=2079, seed=4).files
    return {"cal": list(cal), "uncal": list(uncal), "other": list(other)}


@pytest.fixture(autouse=True)
def _fresh_astroquery_column_configs(monkeypatch):
    """astroquery caches column configs on the PortalAPI class: one per test."""
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)


@pytest.fixture(autouse=True)
def _loopback_only(request, monkeypatch):
    """Offline tests may resolve and connect to 127.0.0.1 only (proof that no
    astroquery or spelunker request escapes to the internet)."""
    if request.node.get_closest_marker("remote_data"):
        return
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            msg = f"offline test tried to resolve {host!r}"
            raise AssertionError(msg)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def fake(archive_files):
    """A running fake MAST listing and serving all synthetic products."""
    server = FakeMast(tokens={GOOD_TOKEN})
    server.add_files(archive_files["cal"] + archive_files["uncal"] + archive_files["other"])
    with server:
        yield server
    assert server.errors == []


@pytest.fixture
def uncal_fake(archive_files):
    """A fake MAST listing only _cal products of program 1534 but serving the _uncal ones:
    level-1 queries derive the _uncal names, whose sizes are then unknown."""
    server = FakeMast()
    server.add_files(archive_files["cal"])
    server.add_files(archive_files["uncal"], list_rows=False)
    with server:
        yield server
    assert server.errors == []


@pytest.fixture
def download_dir(tmp_path):
    path = tmp_path / "downloads"
    path.mkdir()
    return path


def _names(table):
    return [str(n) for n in table["fileName"]]


def _assert_clean(directory, expected_names):
    """Exactly the expected products, no temporary or partial file."""
    assert listing(directory) == sorted(expected_names)


def _visit_products(fake, **kwargs):
    return find_guidestar_products(1534, observation=1, visit=1, server=fake.url, **kwargs)


# --------------------------------------------------------------------------
# Queries


def test_query_program(fake, archive_files):
    table = find_guidestar_products(1534, server=fake.url)
    assert _names(table) == [p.name for p in archive_files["cal"]]
    for column in archive_mast.PRODUCT_COLUMNS:
        assert column in table.colnames
    assert np.all(np.diff(np.asarray(table["datastrt"], float)) > 0)
    assert list(table["fileSize"]) == [p.stat().st_size for p in archive_files["cal"]]
    assert set(table["exp_type"]) == {"FGS_FINEGUIDE"}
    assert list(table["detector"]) == ["GUIDER1"] * 3 + ["GUIDER2"]
    assert list(table["dataURI"]) == [f"mast:JWST/product/{n}" for n in _names(table)]
    assert table.meta["program"] == 1534 and table.meta["calib_level"] == 2
    # The request the real astroquery client sent: service, filter format.
    (invoke,) = fake.endpoint_requests("invoke")
    assert invoke.service == SERVICE
    filters = {f["paramName"]: f["values"] for f in invoke.filters}
    assert filters == {"program": ["1534", "01534"], "exp_type": ["FGS_FINEGUIDE"]}
    assert {r.endpoint for r in fake.requests} == {"columnsconfig", "invoke"}


def test_query_observation_and_visit(fake, archive_files):
    first = find_guidestar_products(1534, observation=1, server=fake.url)
    assert _names(first) == [p.name for p in archive_files["cal"][:3]]
    assert [n.split("-seg")[1] for n in _names(first)] == ["001_cal.fits", "002_cal.fits",
                                                             "003_cal.fits"]
    visit = find_guidestar_products("01534", observation="001", visit=1, server=fake.url)
    assert _names(visit) == _names(first)
    second = find_guidestar_products(1534, observation=2, visit=1, server=fake.url)
    assert _names(second) == [archive_files["cal"][3].name]
    assert second["detector"][0] == "GUIDER2"
    filters = {f["paramName"]: f["values"] for f in fake.endpoint_requests("invoke")[-1].filters}
    assert filters["observtn"] == ["2", "002"] and filters["visit"] == ["1", "001"]

    with pytest.raises(ArchiveQueryError, match="program 1534, observation 1, visit 2"):
        find_guidestar_products(1534, observation=1, visit=2, server=fake.url)


def test_rows_of_other_or_unreadable_numbers_are_left_out():
    """MAST's number cells are read by names.id_number_or_none: masked, empty, text -> no match."""
    from astropy.table import MaskedColumn, Table

    names = [f"jw01534001001_gs-fg_20223380137{i:02d}-seg001_cal.fits" for i in range(7)]
    table = Table({
        "fileName": names,
        "program": MaskedColumn(["01534", " 1534", "1535", "", "1534a", "01534", "0"],
                                mask=[0, 0, 0, 0, 0, 1, 0]),
        "observtn": ["1", "001", "1", "1", "1", "1", "1"],
        "visit": [1, 1, 1, 1, 1, 1, 1],
        "datastrt": [60000.0 + i for i in range(7)]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = archive_mast._select_products(table, program=1534, observation=1, visit=1,
                                             calib_level=2, exp_type=None, what="a test",
                                             server="http://127.0.0.1:9")
    assert list(kept["fileName"]) == names[:2]


def test_archive_and_io_leave_numbers_and_visit_ids_to_names():
    """No zero-padded program/observation/visit formatting or digit parsing by hand."""
    from pathlib import Path

    package = Path(spelunker.__file__).parent
    hand_made = re.compile(r"\{[^{}]*:0(\d+|\{[^{}]*\})d\}|ID_DIGITS|jw\{|"
                           r"int\(row\[\"(program|observation|visit)\"\]\)")
    found = [f"{path.relative_to(package)}:{number}: {line.strip()}"
             for folder in ("archive", "io") for path in sorted((package / folder).glob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if hand_made.search(line)]
    assert found == []


def test_query_calib_level(fake, archive_files):
    uncal = find_guidestar_products(1534, calib_level=1, server=fake.url)
    assert _names(uncal) == [p.name for p in archive_files["uncal"]]
    assert list(uncal["fileSize"]) == [p.stat().st_size for p in archive_files["uncal"]]
    cal = find_guidestar_products(1534, calib_level=2, server=fake.url)
    assert all(n.endswith("_cal.fits") for n in _names(cal))
    with pytest.raises(ParameterError, match="calib_level=3"):
        find_guidestar_products(1534, calib_level=3, server=fake.url)


def test_query_uncal_names_derived_when_only_cal_listed(archive_files, download_dir):
    """The keyword service may list only _cal products: _uncal names follow from them."""
    with FakeMast() as fake:
        fake.add_files(archive_files["cal"])
        fake.add_files(archive_files["uncal"], list_rows=False)
        table = find_guidestar_products(1534, observation=1, calib_level=1, server=fake.url)
        assert _names(table) == [p.name for p in archive_files["uncal"][:3]]
        assert table["fileSize"].mask.all() and table.meta["uncal_names_derived"]
        paths = download_products(table, download_dir, server=fake.url, **FAST)
    for path, source in zip(paths, archive_files["uncal"][:3], strict=True):
        assert path.read_bytes() == source.read_bytes()
    _assert_clean(download_dir, _names(table))


def test_query_removes_duplicates_and_sorts(archive_files):
    with FakeMast() as fake:
        # Listed twice (once per science exposure) and out of time order.
        fake.add_files(archive_files["cal"][::-1])
        fake.add_files(archive_files["cal"])
        table = find_guidestar_products(1534, server=fake.url)
        assert len(fake.endpoint_requests("invoke")) == 1
    assert _names(table) == [p.name for p in archive_files["cal"]]


def test_query_exp_type(fake, archive_files):
    track = "jw01534001001_gs-track_2022338013500_cal.fits"
    fake.add_files(archive_files["cal"][:1], serve=False, fileName=track, exp_type="FGS_TRACK",
                   dataURI=f"mast:JWST/product/{track}")
    assert track not in _names(find_guidestar_products(1534, server=fake.url))
    table = find_guidestar_products(1534, exp_type="FGS_TRACK", server=fake.url)
    assert _names(table) == [track]
    everything = find_guidestar_products(1534, exp_type=None, server=fake.url)
    assert len(everything) == 5


def test_query_paging(archive_files):
    with FakeMast(max_pagesize=2) as fake:
        fake.add_files(archive_files["cal"])
        table = find_guidestar_products(1534, server=fake.url)
        assert len(fake.endpoint_requests("invoke")) == 2
    assert _names(table) == [p.name for p in archive_files["cal"]]


def test_unknown_program(fake):
    with pytest.raises(ArchiveQueryError, match="no FGS_FINEGUIDE guide-star products for "
                                                "program 9999") as info:
        find_guidestar_products(9999, server=fake.url)
    assert fake.url in str(info.value)
    with pytest.raises(ArchiveQueryError, match="program 1534, observation 7"):
        find_guidestar_products(1534, observation=7, server=fake.url)
    with pytest.raises(ParameterError, match="program=123456 must be a whole number in 1..99999"):
        find_guidestar_products(123456, server=fake.url)


@pytest.mark.parametrize("fault", ["http500", "http503", "http429", "executing"])
def test_query_recovers(fake, archive_files, fault):
    fake.inject("invoke", fault)
    table = find_guidestar_products(1534, server=fake.url, backoff=0.01)
    assert len(table) == 4
    assert [r.fault for r in fake.endpoint_requests("invoke")] == [fault, None]


@pytest.mark.parametrize(("fault", "message"), [
    ("http500", "HTTP 500"),
    ("error_envelope", "Error converting data type"),
    ("not_json", "malformed reply"),
    ("slow", "timeout 0.5 s"),
])
def test_query_errors(fake, fault, message):
    fake.inject("invoke", fault, times=10, delay=1.0)
    with pytest.raises(ArchiveQueryError, match=message) as info:
        find_guidestar_products(1534, server=fake.url, retries=1, backoff=0.01, timeout=0.5)
    assert "program 1534" in str(info.value)


def test_query_unreachable_server(fake):
    url = fake.url
    fake.stop()
    with pytest.raises(ArchiveQueryError, match="could not reach MAST"):
        find_guidestar_products(1534, server=url, retries=0, timeout=1)


# --------------------------------------------------------------------------
# Tokens


def test_login_with_valid_token(fake, monkeypatch):
    table = find_guidestar_products(1534, token=GOOD_TOKEN, server=fake.url)
    assert len(table) == 4
    (whoami,) = fake.endpoint_requests("whoami")
    assert whoami.token_valid
    # The token also comes from the environment.
    fake.clear_log()
    monkeypatch.setenv("MAST_API_TOKEN", GOOD_TOKEN)
    find_guidestar_products(1534, server=fake.url)
    assert fake.endpoint_requests("whoami")[0].token_valid


@pytest.mark.parametrize("invalid_whoami", ["anon", "401"])
def test_invalid_token(archive_files, invalid_whoami, monkeypatch):
    with FakeMast(tokens={GOOD_TOKEN}, invalid_whoami=invalid_whoami) as fake:
        fake.add_files(archive_files["cal"])
        with pytest.raises(AuthenticationError, match="rejected the MAST API token") as info:
            find_guidestar_products(1534, token=BAD_TOKEN, server=fake.url)
        assert BAD_TOKEN not in str(info.value) and BAD_TOKEN not in repr(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__
        monkeypatch.setenv("MAST_API_TOKEN", BAD_TOKEN)
        with pytest.raises(AuthenticationError):
            find_guidestar_products(1534, server=fake.url)
        # No query is made with a rejected token.
        assert fake.endpoint_requests("invoke") == []


def test_token_never_leaks(fake, archive_files, download_dir, caplog, capfd):
    """Not in log records (astroquery at DEBUG too), warnings, errors, reprs or files."""
    caplog.set_level(1)
    caplog.set_level(logging.DEBUG, logger="astroquery")
    restricted = archive_files["other"]
    fake.add_files(restricted, restricted=True)
    caught = []
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        table = find_guidestar_products(2079, token=GOOD_TOKEN, server=fake.url)
        paths = download_products(table, download_dir, token=GOOD_TOKEN, server=fake.url,
                                  **FAST)
        fake.inject(restricted[0].name, "http401")
        shutil.rmtree(download_dir)
        for call in (lambda: find_guidestar_products(2079, token=BAD_TOKEN, server=fake.url),
                     lambda: download_products(table, download_dir, token=BAD_TOKEN,
                                               server=fake.url, **FAST)):
            with pytest.raises((AuthenticationError, DownloadError)) as info:
                call()
            caught.append(info.value)
    # The redaction filter saw astroquery's request log (headers with the cookie).
    assert any("<MAST token>" in r.getMessage() for r in caplog.records)
    assert fake.downloads()[0].token_valid
    out, err = capfd.readouterr()
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, out, err]
    texts += [str(w.message) for w in warned]
    texts += [str(e) for e in caught] + [repr(e) for e in caught]
    texts += [repr(table), str(table.meta), repr(tokens.resolve_token(GOOD_TOKEN))]
    texts += [str(getattr(e, "failures", "")) for e in caught]
    for token in (GOOD_TOKEN, BAD_TOKEN):
        assert not [t for t in texts if token in t]
    for path in paths[0].parent.parent.rglob("*"):
        if path.is_file():
            assert GOOD_TOKEN.encode() not in path.read_bytes()
    with pytest.raises(TypeError, match="cannot be pickled"):
        import pickle

        pickle.dumps(tokens.resolve_token(GOOD_TOKEN))


def test_token_masked_in_records_of_every_logger(fake, download_dir, caplog):
    """Records of spelunker's child loggers and of urllib3, logged by any thread while a
    download runs, are masked: a filter on a parent logger would not see them."""
    caplog.set_level(1)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    names = ["spelunker.archive.mast", "spelunker.archive.download",
             "spelunker.archive.mast.worker", "urllib3.connectionpool", "urllib3"]

    class Leaky:
        calls = 0

        def update(self, n):  # runs in a download thread, during the transfer
            if not self.calls:
                for name in names:
                    logging.getLogger(name).warning("Authorization: token %s", GOOD_TOKEN)
                    logging.getLogger(name).debug(f"Cookie: mast_token={GOOD_TOKEN}")
            self.calls += 1

    table = _visit_products(fake)[:1]
    download_products(table, download_dir, token=GOOD_TOKEN, server=fake.url,
                      progress=Leaky(), **FAST)
    leaked = [r for r in caplog.records if r.funcName == "update"]
    assert len(leaked) == 2 * len(names)
    assert all("<MAST token>" in r.getMessage() for r in leaked)
    assert not [r for r in caplog.records if GOOD_TOKEN in r.getMessage()]
    assert GOOD_TOKEN not in caplog.text
    # Nothing is masked (or slowed down) once the request is over.
    assert tokens.masking_handlers() == []
    logging.getLogger("spelunker.archive.mast").warning("after %s", "done")
    assert caplog.records[-1].getMessage() == "after done"


@pytest.mark.parametrize(("text", "token", "match"), [
    (5, "abc", "text must be a string, got int"),
    (None, "abc", "text must be a string, got NoneType"),
    (b"abc", "abc", "text must be a string, got bytes"),
    ("abc", 5, "token must be a string"),
    ("abc", object(), "token must be a string"),
])
def test_redact_refuses_what_is_not_text(text, token, match):
    with pytest.raises(ParameterError, match=match):
        tokens.redact(text, token)
    assert tokens.redact("a abc b", tokens.Secret("abc")) == f"a {tokens.MASK} b"
    assert tokens.redact("a abc b", None) == tokens.redact("a abc b", "") == "a abc b"


@pytest.mark.parametrize("token", [5, 1.5, object(), b"abc", ["abc"]])
def test_a_token_is_a_string_wherever_it_is_given(token, monkeypatch):
    """One check of a token's type (tokens._token_text) behind every way of giving one."""
    monkeypatch.delenv(tokens.TOKEN_ENV, raising=False)
    for give in (tokens.Secret, tokens.as_secret, tokens.resolve_token,
                 lambda value: tokens.masked_logs(value).__enter__()):
        with pytest.raises(ParameterError, match="must be a string|must be a Secret"):
            give(token)
    from spelunker.archive.engdb import engdb_service

    with pytest.raises(ParameterError, match="token must be a string"):
        engdb_service(token=token, base_url="http://127.0.0.1:9")


def test_empty_token_falls_back_to_the_environment(fake, monkeypatch):
    monkeypatch.setenv("MAST_API_TOKEN", GOOD_TOKEN)
    find_guidestar_products(1534, token="", server=fake.url)
    (whoami,) = fake.endpoint_requests("whoami")
    assert whoami.token_valid
    assert tokens.resolve_token("  ").reveal() == GOOD_TOKEN
    monkeypatch.delenv("MAST_API_TOKEN")
    assert tokens.resolve_token("") is None


# --------------------------------------------------------------------------
# Pointing astroquery at another server


def test_mast_server_redirects_astroquery_and_restores(fake, archive_files, download_dir):
    from astroquery.mast import Mast, conf
    from astroquery.mast.services import ServiceAPI

    before = (conf.server, PortalAPI.MAST_REQUEST_URL, PortalAPI.COLUMNS_CONFIG_URL,
              ServiceAPI.REQUEST_URL, Mast._auth_obj.SESSION_INFO_URL)
    assert fake.url not in before[0]
    with mast_server(fake.url + "/") as url:
        assert url == fake.url == conf.server
        assert PortalAPI.MAST_REQUEST_URL == fake.url + "/api/v0/invoke"
        assert Mast._auth_obj.SESSION_INFO_URL == fake.url + "/whoami"
        # spelunker follows conf.server without a server argument ...
        table = find_guidestar_products(1534, observation=2)
        paths = download_products(table, download_dir, **FAST)
        # ... and so does the astroquery singleton itself.
        direct = Mast.service_request(SERVICE, {"columns": "*", "filters": [
            {"paramName": "program", "values": ["01534"]}]})
        assert len(direct) == len(archive_files["cal"]) + len(archive_files["uncal"])
    after = (conf.server, PortalAPI.MAST_REQUEST_URL, PortalAPI.COLUMNS_CONFIG_URL,
             ServiceAPI.REQUEST_URL, Mast._auth_obj.SESSION_INFO_URL)
    assert after == before
    assert [p.name for p in paths] == [archive_files["cal"][3].name]
    assert {r.endpoint for r in fake.requests} == {"columnsconfig", "invoke", "download"}
    with pytest.raises(RuntimeError), mast_server(fake.url):
        raise RuntimeError
    assert PortalAPI.MAST_REQUEST_URL == before[1]
    with pytest.raises(ParameterError, match="http"):
        find_guidestar_products(1534, server="ftp://example.org")


# --------------------------------------------------------------------------
# Downloads


def test_download_visit_then_cache(fake, archive_files, download_dir):
    table = _visit_products(fake)
    paths = download_products(table, download_dir, server=fake.url, **FAST)
    assert [p.name for p in paths] == [p.name for p in archive_files["cal"][:3]]
    for path, source in zip(paths, archive_files["cal"], strict=False):
        assert path.parent == download_dir
        assert path.read_bytes() == source.read_bytes()
    _assert_clean(download_dir, _names(table))
    assert len(fake.downloads()) == 3
    model = spelunker.read_guidestar(paths)
    assert model.data.shape == (300, 8, 8)
    model.close()

    # Second call: every file is cached at the expected size, no request at all.
    fake.clear_log()
    again = download_products(table, download_dir, server=fake.url, **FAST)
    assert again == paths
    assert fake.requests == []


class _WatchLocalCopy:
    """A progress target recording, during transfers, what a local copy holds:
    'old', 'new' (the complete replacement), 'missing' or 'other'."""

    def __init__(self, path, new):
        self.path = path
        self.old = path.read_bytes()
        self.new = new
        self.seen = []

    def update(self, n):
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = None
        self.seen.append("missing" if data is None else "old" if data == self.old
                         else "new" if data == self.new else "other")

    def check(self):
        """The old copy was seen, and then only itself or its complete replacement."""
        assert "old" in self.seen and set(self.seen) <= {"old", "new"}, self.seen


def test_download_replaces_wrong_size_cached_file(fake, archive_files, download_dir):
    table = _visit_products(fake)
    stale = download_dir / table["fileName"][1]
    stale.write_bytes(b"partial from an older tool")
    watch = _WatchLocalCopy(stale, archive_files["cal"][1].read_bytes())
    paths = download_products(table, download_dir, server=fake.url, progress=watch,
                              max_workers=1, **FAST)
    assert paths[1].read_bytes() == archive_files["cal"][1].read_bytes()
    assert len(fake.downloads()) == 3
    watch.check()
    _assert_clean(download_dir, _names(table))
    # A failed download does not keep the wrong copy either.
    stale.write_bytes(b"partial from an older tool")
    fake.inject(stale.name, "http404")
    with pytest.raises(DownloadError, match=stale.name):
        download_products(table, download_dir, server=fake.url, **FAST)
    _assert_clean(download_dir, [n for n in _names(table) if n != stale.name])


def test_cached_copy_of_unknown_size_is_reused_when_complete(uncal_fake, archive_files,
                                                              download_dir):
    table = find_guidestar_products(1534, observation=1, calib_level=1, server=uncal_fake.url)
    assert table["fileSize"].mask.all()
    paths = download_products(table, download_dir, server=uncal_fake.url, **FAST)
    assert len(uncal_fake.downloads()) == 3
    uncal_fake.clear_log()
    # Even with the archive failing, complete copies are used and nothing is lost.
    uncal_fake.inject("download", "http500", times=20)
    assert download_products(table, download_dir, server=uncal_fake.url, retries=0,
                             **FAST) == paths
    assert uncal_fake.requests == []
    for path, source in zip(paths, archive_files["uncal"][:3], strict=True):
        assert path.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "cut_before_asdf", "other_segment", "not_fits",
                                    "other_visit"])
def test_unusable_cached_copy_of_unknown_size_is_replaced(uncal_fake, archive_files,
                                                          download_dir, damage):
    table = find_guidestar_products(1534, observation=1, calib_level=1, server=uncal_fake.url)
    name, source = str(table["fileName"][0]), archive_files["uncal"][0]
    assert source.name == name
    local = download_dir / name
    data = source.read_bytes()
    if damage == "truncated":
        local.write_bytes(data[: len(data) // 2])
    elif damage == "cut_before_asdf":
        with fits.open(source) as hdul:
            local.write_bytes(data[: hdul["ASDF"].fileinfo()["hdrLoc"]])
    elif damage == "other_segment":
        local.write_bytes(archive_files["uncal"][1].read_bytes())
    elif damage == "other_visit":
        local.write_bytes(data)
        with fits.open(local, mode="update") as hdul:
            hdul[0].header["VISIT"] = "002"
    else:
        local.write_bytes(b"SIMPLE  = T" + b" " * 4000)
    watch = _WatchLocalCopy(local, data)
    (path,) = download_products(table[:1], download_dir, server=uncal_fake.url,
                                progress=watch, **FAST)
    assert path.read_bytes() == data
    assert len(uncal_fake.downloads()) == 1
    watch.check()
    _assert_clean(download_dir, [name])


def test_unusable_cached_copy_is_removed_when_its_download_fails(uncal_fake, archive_files,
                                                                download_dir):
    table = find_guidestar_products(1534, observation=1, calib_level=1, server=uncal_fake.url)
    name = str(table["fileName"][0])
    (download_dir / name).write_bytes(archive_files["uncal"][0].read_bytes()[:5000])
    uncal_fake.inject(name, "http404")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_products(table[:1], download_dir, server=uncal_fake.url, **FAST)
    _assert_clean(download_dir, [])


def test_directory_with_a_product_name_is_an_error(fake, download_dir):
    table = _visit_products(fake)
    name = str(table["fileName"][1])
    (download_dir / name).mkdir()
    with pytest.raises(DownloadError,
                       match=re.escape(f"{download_dir / name} is a directory")) as info:
        download_products(table, download_dir, server=fake.url, **FAST)
    assert list(info.value.failures) == [name]
    assert fake.downloads() == []
    assert (download_dir / name).is_dir()


def test_download_removes_stale_temporary_files(fake, download_dir):
    table = _visit_products(fake)
    name = str(table["fileName"][0])
    stale = download_dir / f"{TEMPORARY_PREFIX}deadbeef-{name}"
    stale.write_bytes(b"left by a killed process")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    download_products(table, download_dir, server=fake.url, **FAST)
    _assert_clean(download_dir, _names(table))


def test_download_keeps_young_temporary_files(fake, download_dir):
    """A young temporary file may be another process's download: it stays."""
    table = _visit_products(fake)
    name = str(table["fileName"][0])
    young = download_dir / f"{TEMPORARY_PREFIX}0badcafe-{name}"
    young.write_bytes(b"another process downloading")
    download_products(table, download_dir, server=fake.url, **FAST)
    _assert_clean(download_dir, [*_names(table), young.name])


def test_download_writes_through_atomic_file(fake, download_dir, monkeypatch):
    """Every download goes through spelunker.atomic.atomic_file (one naming scheme)."""
    table = _visit_products(fake)
    temporaries = []
    original = archive_download.atomic_file

    @contextlib.contextmanager
    def recording(path, **kwargs):
        with original(path, **kwargs) as temporary:
            temporaries.append(temporary)
            yield temporary

    monkeypatch.setattr(archive_download, "atomic_file", recording)
    paths = download_products(table, download_dir, server=fake.url, **FAST)
    assert sorted(t.name.split("-", 3)[-1] for t in temporaries) == sorted(p.name for p in paths)
    assert all(is_temporary(t) and t.parent == download_dir for t in temporaries)
    _assert_clean(download_dir, _names(table))


@pytest.mark.parametrize("fault", ["http500", "http503", "http429", "reset", "truncate",
                                   "slow", "stall", "no_length"])
def test_download_fault_then_success(fake, archive_files, download_dir, fault):
    table = _visit_products(fake)
    target = str(table["fileName"][1])
    fake.inject(target, fault, delay=0 if fault == "http429" else 1.5)  # 429: Retry-After 0
    paths = download_products(table, download_dir, server=fake.url, backoff=0.01, timeout=0.5)
    assert paths[1].read_bytes() == archive_files["cal"][1].read_bytes()
    expected = 1 if fault == "no_length" else 2
    assert [r.fault for r in fake.downloads(target)] == [fault] + [None] * (expected - 1)
    _assert_clean(download_dir, _names(table))


@pytest.mark.parametrize(("fault", "message"), [
    ("http401", "HTTP 401 .*need a MAST API token"),
    ("http403", "HTTP 403"),
    ("http404", "HTTP 404"),
    ("wrong_size", r"lists \d+ bytes but the server sends \d+ bytes"),
    ("short_file", r"lists \d+ bytes but the server sends \d+ bytes"),
    ("not_json", "HTML page instead of the file"),
])
def test_download_fails_at_once(fake, download_dir, fault, message):
    table = _visit_products(fake)
    target = str(table["fileName"][0])
    fake.inject(target, fault, times=10)
    with pytest.raises(DownloadError, match=message) as info:
        download_products(table, download_dir, server=fake.url, **FAST)
    error = info.value
    assert target in str(error) and list(error.failures) == [target]
    assert len(fake.downloads(target)) == 1  # no retry
    # The other files of the visit still complete.
    assert [p.name for p in error.paths] == _names(table)[1:]
    _assert_clean(download_dir, _names(table)[1:])


def test_download_gives_up_after_retries(fake, download_dir):
    table = _visit_products(fake)
    target = str(table["fileName"][2])
    fake.inject(target, "truncate", times=10)
    with pytest.raises(DownloadError, match=f"{target}: failed after 3 attempts; last error: "
                                            "ChunkedEncodingError") as info:
        download_products(table, download_dir, server=fake.url, retries=2, **FAST)
    assert len(fake.downloads(target)) == 3
    assert len(info.value.paths) == 2
    _assert_clean(download_dir, _names(table)[:2])


def test_download_slow_server_times_out(fake, download_dir):
    table = _visit_products(fake)[:1]
    fake.inject("download", "slow", times=10, delay=2.0)
    start = time.monotonic()
    with pytest.raises(DownloadError, match="no data within the timeout"):
        download_products(table, download_dir, server=fake.url, retries=1, backoff=0.01,
                          timeout=0.3)
    assert time.monotonic() - start < 2.0
    _assert_clean(download_dir, [])


def test_download_unreachable_server(fake, download_dir):
    table = _visit_products(fake)[:1]
    url = fake.url
    fake.stop()
    with pytest.raises(DownloadError, match="ConnectionError"):
        download_products(table, download_dir, server=url, retries=1, **FAST)
    _assert_clean(download_dir, [])


def test_download_restricted_file_needs_token(fake, archive_files, download_dir):
    restricted = archive_files["other"]
    fake.add_files(restricted, restricted=True)
    table = find_guidestar_products(2079, server=fake.url)
    with pytest.raises(DownloadError, match="exclusive-access data need a MAST API token"):
        download_products(table, download_dir, server=fake.url, **FAST)
    with pytest.raises(DownloadError, match="MAST rejected the token"):
        download_products(table, download_dir, token=BAD_TOKEN, server=fake.url, **FAST)
    _assert_clean(download_dir, [])
    paths = download_products(table, download_dir, token=GOOD_TOKEN, server=fake.url, **FAST)
    assert paths[0].read_bytes() == restricted[0].read_bytes()
    assert [r.token_valid for r in fake.downloads()] == [None, False, True]


@pytest.mark.parametrize("name", [
    "../evil_cal.fits",
    "../jw01534001001_gs-fg_2022338013723_cal.fits",
    "/etc/jw01534001001_gs-fg_2022338013723_cal.fits",
    "/tmp/evil_cal.fits",
    "sub/jw01534001001_gs-fg_2022338013723_cal.fits",
    "..\\jw01534001001_gs-fg_2022338013723_cal.fits",
    "jw01534001001_gs-fg_2022338013723_cal.fits/..",
    "jw01534001001_gs-fg_2022338013723..cal.fits",
    ".bashrc",
    "jw01534001001_gs-fg_2022338013723_cal.fits\n",
    "jw01534001001_gs-fg_2022338013723_cal.fits\x00.sh",
    "evil.sh",
    "",
])
def test_bad_archive_file_names_are_refused(fake, archive_files, tmp_path, name):
    directory = tmp_path / "downloads"
    good = {"fileName": archive_files["cal"][0].name, "fileSize": 106560}
    with pytest.raises(DownloadError, match="refusing archive file name"):
        download_products([good, {"fileName": name, "fileSize": 10}], directory,
                          server=fake.url, **FAST)
    assert fake.downloads() == []
    assert listing(tmp_path) == []  # refused before anything is created


def test_bad_file_name_from_the_service_is_refused(fake, archive_files, tmp_path):
    row = dict(fake.add_files(archive_files["cal"][:1], serve=False)[0])
    fake.add_row(**{**row, "fileName": "../evil_cal.fits", "datastrt": row["datastrt"] + 1})
    table = find_guidestar_products(1534, observation=1, server=fake.url)
    assert "../evil_cal.fits" in _names(table)
    with pytest.raises(DownloadError, match="'../evil_cal.fits'"):
        download_products(table, tmp_path / "downloads", server=fake.url, **FAST)
    assert fake.downloads() == []
    assert listing(tmp_path) == []


def test_download_input_forms(fake, archive_files, download_dir):
    names = [p.name for p in archive_files["cal"][:2]]
    # Bare names: no size to check a cached copy against, so always fetched.
    paths = download_products(names + names[:1], download_dir, server=fake.url, **FAST)
    assert [p.name for p in paths] == names
    rows = [{"fileName": p.name, "fileSize": p.stat().st_size} for p in archive_files["cal"][:2]]
    fake.clear_log()
    assert download_products(rows, download_dir, server=fake.url, **FAST) == paths
    assert fake.requests == []
    with pytest.raises(DownloadError, match="different sizes"):
        download_products([rows[0], {**rows[0], "fileSize": 5}], download_dir, server=fake.url)
    _assert_clean(download_dir, names)


def test_download_concurrency_and_progress(fake, archive_files, download_dir):
    table = find_guidestar_products(1534, server=fake.url)
    fake.inject("download", "slow", times=4, delay=0.3)

    class Counter:
        n = 0

        def update(self, k):
            self.n += k

    counter = Counter()
    download_products(table, download_dir, server=fake.url, max_workers=2, progress=counter,
                      **FAST)
    assert fake.max_active_downloads == 2
    assert counter.n == sum(p.stat().st_size for p in archive_files["cal"])
    with pytest.raises(ParameterError, match="max_workers"):
        download_products(table, download_dir, server=fake.url, max_workers=0)


def test_progress_bar_is_written_to_stderr(fake, download_dir, capsys):
    table = _visit_products(fake)
    download_products(table, download_dir, server=fake.url, progress=True, **FAST)
    out, err = capsys.readouterr()
    assert "MAST download (3 files)" in err and "%|" in err
    assert out == ""
    shutil.rmtree(download_dir)
    download_products(table, download_dir, server=fake.url, progress=False, **FAST)
    assert capsys.readouterr() == ("", "")


def test_retry_delays_back_off_and_honour_retry_after(fake, download_dir, monkeypatch):
    delays = []

    def no_wait(cancel, delay):
        delays.append(delay)
        return cancel.is_set()

    monkeypatch.setattr(archive_download, "_wait", no_wait)
    table = _visit_products(fake)[:1]
    target = str(table["fileName"][0])
    fake.inject(target, "http500", times=3)
    download_products(table, download_dir, server=fake.url, retries=4, backoff=0.5, timeout=5)
    assert delays == [0.5, 1.0, 2.0]

    shutil.rmtree(download_dir)
    delays.clear()
    # A longer Retry-After wins over the backoff (up to 60 s); a shorter one does not
    # shorten it.
    for seconds in (7, 0, 120):
        fake.inject(target, "http429", delay=seconds)
    download_products(table, download_dir, server=fake.url, retries=4, backoff=0.5, timeout=5)
    assert delays == [7.0, 1.0, 60.0]
    assert [r.fault for r in fake.downloads(target)][-4:] == ["http429"] * 3 + [None]


def test_keyboard_interrupt_in_a_worker_cleans_up(fake, download_dir):
    table = _visit_products(fake)

    class Interrupt:
        def update(self, n):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_products(table, download_dir, server=fake.url, progress=Interrupt(), **FAST)
    assert not [n for n in listing(download_dir) if is_temporary(n)]
    for path in download_dir.iterdir():  # anything left is complete
        assert path.stat().st_size == int(table["fileSize"][_names(table).index(path.name)])


def test_keyboard_interrupt_in_main_thread_cleans_up(fake, download_dir, monkeypatch):
    table = _visit_products(fake)
    fake.inject("download", "stall", times=3, delay=0.5)

    def interrupted(futures):
        time.sleep(0.2)  # the workers are inside their transfers
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(archive_download, "as_completed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_products(table, download_dir, server=fake.url, backoff=0.01, timeout=5)
    assert len(fake.downloads()) == 3  # each worker had started, then stopped
    _assert_clean(download_dir, [])


# --------------------------------------------------------------------------
# The real archive


@pytest.mark.remote_data
def test_live_mast_program_1534(tmp_path):
    table = find_guidestar_products(1534, observation=1, server="https://mast.stsci.edu")
    assert len(table) >= 1
    for name in table["fileName"]:
        check_product_name(name)
        assert name.startswith("jw01534001") and name.endswith("_cal.fits")
    assert np.all(np.asarray(table["fileSize"], float) > 1e6)
    assert set(table["exp_type"]) == {"FGS_FINEGUIDE"}


@pytest.mark.remote_data
def test_live_download_of_the_smallest_product(tmp_path):
    """One real file: the smallest gs-fg product of PID 1534 observation 2 visit 1 (~8 MB)."""
    from spelunker.filetable import fg_table
    from spelunker.names import parse_obs_id

    server = "https://mast.stsci.edu"
    table = find_guidestar_products(1534, observation=2, visit=1, server=server)
    smallest = int(np.argmin(np.asarray(table["fileSize"], float)))
    row = table[smallest]
    (path,) = download_products(table[[smallest]], tmp_path, server=server, progress=False)
    assert path.name == row["fileName"] and path.stat().st_size == int(row["fileSize"])
    _assert_clean(tmp_path, [path.name])
    model = spelunker.read_guidestar(path)
    assert model.data.shape[1:] == (8, 8) and len(model.data) > 1000
    obs_id = str(model.table("files")["obs_id"][0])
    assert parse_obs_id(obs_id)["visit_id"] == "01534002001"
    files = fg_table(model)
    assert not files["visit_group"].mask[0] and not files["activity"].mask[0]
    model.close()
