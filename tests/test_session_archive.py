"""The quickstart flow of the original tool against a local fake MAST and catalog.

``spelunker.load(pid=..., obs_num=..., visit=...)`` runs the real astroquery
client and requests against `mast_server.FakeMast` and `gsc_server.FakeGSC`
on 127.0.0.1.
"""

import logging
import secrets
import warnings

import numpy as np
import pytest
from astroquery.mast import conf
from astroquery.mast.discovery_portal import PortalAPI
from gsc_server import FakeGSC, gsc_reply
from mast_server import FakeMast
from numpy.testing import assert_array_equal

import spelunker
from spelunker import GuideStarFitStep, PeriodogramStep, datasets
from spelunker.archive import ArchiveQueryError, AuthenticationError
from spelunker.fitting import fit_table

TOKEN = "spk-session-" + secrets.token_hex(16)
BAD_TOKEN = "spk-session-bad-" + secrets.token_hex(16)
PARAMETERS = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Program 1534: observation 1 (two segments) and observation 2 visit 1 (two segments)."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("session_archive"),
        visits=[datasets.VisitSpec(observation=1, visit=1, n_frames=400, n_segments=2),
                datasets.VisitSpec(observation=2, visit=1, n_frames=1600, n_segments=2,
                                   fgs_mag=12.8)],
        signals=[datasets.CentroidWobble(period=3.1, amplitude=0.03, axis="x")],
        seed=1534)
    return visit


@pytest.fixture
def servers(archive, monkeypatch):
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    mast = FakeMast(tokens={TOKEN})
    mast.add_files(archive.files)
    gsc = FakeGSC().start()
    for spec in archive.visits:
        gsc.replies[spec.gs_id] = gsc_reply(spec.gs_id, ra=spec.gs_ra + 1e-4,
                                            dec=spec.gs_dec - 1e-4, j=13.1, h=12.6, k=12.5,
                                            gaia_id=4658000000000000000 + spec.observation)
    with mast:
        monkeypatch.setattr(conf, "server", mast.url)
        monkeypatch.setenv("SPELUNKER_GSC_URL", gsc.url)
        yield mast, gsc
    gsc.close()
    assert mast.errors == []


@pytest.fixture(scope="module")
def uncal_observation_1(tmp_path_factory):
    """The uncalibrated products of observation 1 of `archive` (same names, _uncal)."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("session_archive_uncal"),
        visits=[datasets.VisitSpec(observation=1, visit=1, n_frames=400, n_segments=2)],
        signals=[datasets.CentroidWobble(period=3.1, amplitude=0.03, axis="x")],
        seed=1534, product="uncal").files


def observation_2_files(archive):
    return [p for p in archive.files if p.name.startswith("jw01534002001")]


def test_quickstart_flow_gives_the_step_numbers(servers, archive, tmp_path):
    mast, gsc = servers
    spk = spelunker.load(pid=1534, obs_num="2", visit="1", calib_level=2, dir=tmp_path,
                         token=TOKEN)
    local = observation_2_files(archive)
    assert sorted(p.name for p in tmp_path.glob("*.fits")) == [p.name for p in local]
    assert spk.fg_array.shape == (1600, 8, 8)
    assert spk.fg_time.shape == (1600,) and spk.fg_flux.shape == (1600,)

    gauss = spk.gauss2d_fit(ncpus=2)
    quick = spk.quick_fit()
    step_model = GuideStarFitStep.call([str(p) for p in local])
    for name in PARAMETERS + ("flags",):
        assert_array_equal(np.asarray(gauss[name]), np.asarray(fit_table(step_model)[name]))
    assert_array_equal(np.asarray(quick["x_mean"]),
                       np.asarray(fit_table(GuideStarFitStep.call(
                           [str(p) for p in local], method="quick"), "quick")["x_mean"]))

    peaks = spk.periodogram()
    frequency, power = spk.pgram_x_mean
    assert abs(1 / frequency[np.argmax(power)] / 3.1 - 1) < 2e-3
    step_pgram = PeriodogramStep.call(step_model)
    np.testing.assert_allclose(power, np.asarray(step_pgram.periodogram["x_mean"]), rtol=1e-6)
    assert "x_mean" in set(peaks["series"])

    table = spk.fg_table
    assert list(table["file_name"]) == [p.name for p in local]
    assert list(table["observation"]) == [2, 2] and list(table["segment"]) == [1, 2]
    # From the headers' OBS_ID (V01534002001P0000000001102); the exposure needs a folder.
    assert list(spk.model.table("files")["obs_id"]) == ["V01534002001P0000000001102"] * 2
    assert not table["visit_group"].mask.any() and not table["activity"].mask.any()
    assert list(table["visit_group"]) == [1, 1] and list(table["parallel_sequence"]) == [1, 1]
    assert list(table["activity"]) == [2, 2] and table["exposure"].mask.all()
    stars = spk.object_properties
    spec = archive.visits[1]
    assert list(stars["gs_id"]) == [spec.gs_id]
    assert stars["source"][0] == "catalog"
    assert stars["gaia_dr3_id"][0] == 4658000000000000002
    assert abs(stars["ra"][0].to_value("deg") - (spec.gs_ra + 1e-4)) < 1e-6
    assert gsc.requests == [spec.gs_id]
    spk.object_properties  # cached: no second request
    assert gsc.requests == [spec.gs_id]


def test_second_load_downloads_nothing(servers, tmp_path):
    mast, _ = servers
    first = spelunker.load(pid=1534, dir=tmp_path, token=TOKEN)
    assert first.fg_array.shape == (2000, 8, 8)
    assert len(mast.downloads()) == 4
    mast.clear_log()
    second = spelunker.load(pid=1534, dir=tmp_path, token=TOKEN)
    assert mast.downloads() == []
    assert_array_equal(second.fg_array, first.fg_array)


def test_uncalibrated_download_keeps_the_session_consistent(servers, archive,
                                                           uncal_observation_1, tmp_path,
                                                           caplog):
    """Level-1 products are kept as files; the session's model, files and arrays stay."""
    mast, _ = servers
    uncal_names = [p.name for p in uncal_observation_1]
    assert uncal_names == [p.name.replace("_cal.", "_uncal.") for p in archive.files[:2]]
    for path in uncal_observation_1:
        mast.serve_file(path.name, path)  # listed only through their _cal rows
    spk = spelunker.load(pid=1534, obs_num=2, visit=1, dir=tmp_path, token=TOKEN)
    frames, files = spk.fg_array.copy(), list(spk.files)
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        paths = spk.download(1534, obs_num=1, calib_level=1)
    assert [p.name for p in paths] == uncal_names
    for path, source in zip(paths, uncal_observation_1, strict=True):
        assert path.read_bytes() == source.read_bytes()
    assert spk.files == files == list(spk.fg_table["file_name"])
    assert_array_equal(spk.fg_array, frames)
    assert "calwebb_guider" in caplog.text and "unchanged" in caplog.text

    # A second level-1 download reuses the complete files (the archive lists no size).
    mast.clear_log()
    assert spk.download(1534, obs_num=1, calib_level=1) == paths
    empty = spelunker.load(pid=1534, obs_num=1, calib_level=1, dir=tmp_path, token=TOKEN)
    assert mast.downloads() == []
    assert empty.model is None and empty.files == [] and empty.fg_array is None


def test_unknown_program_and_bad_token_are_clear_errors(servers, tmp_path):
    with pytest.raises(ArchiveQueryError, match="9999"):
        spelunker.load(pid=9999, dir=tmp_path, token=TOKEN)
    with pytest.raises(AuthenticationError):
        spelunker.load(pid=1534, dir=tmp_path, token=BAD_TOKEN)
    assert list(tmp_path.iterdir()) == []


def test_catalog_down_falls_back_to_headers(servers, archive, tmp_path, monkeypatch):
    _, gsc = servers
    gsc.failure = "500"
    spk = spelunker.load(pid=1534, obs_num=1, dir=tmp_path, token=TOKEN)
    with pytest.warns(UserWarning, match=archive.visits[0].gs_id):
        stars = spk.object_properties
    assert stars["source"][0] == "header"
    assert abs(stars["ra"][0].to_value("deg") - archive.visits[0].gs_ra) < 1e-9


def test_token_appears_nowhere(servers, tmp_path, caplog, capfd, monkeypatch):
    caplog.set_level(1)
    # The catalog cache is written under tmp_path too, so it is scanned below.
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        spk = spelunker.load(pid=1534, obs_num=1, dir=tmp_path / "data", token=TOKEN)
        spk.quick_fit()
        spk.periodogram()
        spk.object_properties
        saved = spk.save(tmp_path / "session_gs.fits")
        errors = []
        for call in (lambda: spelunker.load(pid=9999, dir=tmp_path / "data", token=TOKEN),
                     lambda: spelunker.load(pid=1534, dir=tmp_path / "data", token=BAD_TOKEN)):
            with pytest.raises(spelunker.SpelunkerError) as info:
                call()
            errors.append(info.value)
    out, err = capfd.readouterr()
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, out, err, repr(spk)]
    texts += [str(w.message) for w in warned] + [str(e) for e in errors]
    texts += [repr(e) for e in errors]
    assert caplog.records, "the flow logged nothing: the check would be empty"
    for token in (TOKEN, BAD_TOKEN):
        assert not [t for t in texts if token in t], token
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert saved in written and len(written) >= 2
    assert [p for p in written if p.parent == tmp_path / "cache" / "gsc"], "no catalog cache"
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path
    logging.getLogger("spelunker").debug("done")
