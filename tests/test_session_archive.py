"""The quickstart flow of the original tool against a local fake MAST and catalog.

``spelunker.load(pid=..., obs_num=..., visit=...)`` runs the real astroquery
client and requests against `mast_server.FakeMast` and `gsc_server.FakeGSC`
on 127.0.0.1; a program of several visits, and its offline re-open from the
download folder when MAST cannot be reached (a stopped server, or a port on
127.0.0.1 nobody listens on).
"""

import logging
import secrets
import shutil
import socket
import warnings

import numpy as np
import pytest
from astroquery.mast import conf
from astroquery.mast.discovery_portal import PortalAPI
from gsc_server import FakeGSC, gsc_reply
from mast_server import FakeMast
from numpy.testing import assert_allclose, assert_array_equal

import spelunker
from spelunker import GuideStarFitStep, PeriodogramStep, datasets, read_guidestar
from spelunker.archive import ArchiveQueryError, AuthenticationError
from spelunker.errors import GuideStarInputError, ParameterError
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

    axes = spk.periodogram()
    assert len(axes) >= 7 and axes[1].get_xscale() == "log"
    peaks = spk.pgram_results
    frequency, power = spk.pgram_x_mean
    # the stored grid (2 points per peak) has its highest point within a step of the
    # 3.1 s wobble; the peak table (on the 5-point grid, then refined) has it to 2e-3
    step = frequency[1] - frequency[0]
    assert abs(frequency[np.argmax(power)] - 1 / 3.1) <= step
    top = peaks[(peaks["series"] == "x_mean") & (peaks["rank"] == 1)][0]
    assert abs(top["period"].to_value("s") / 3.1 - 1) < 2e-3
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
    _ = spk.object_properties  # cached: no second request
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
        _ = spk.object_properties
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


# -- a program of several visits; offline re-open --------------------------------

PROGRAM_VISITS = [(1534, 1, 1), (1534, 1, 2), (1534, 2, 1)]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """Program 1534 in 3 visits of 2 observations: 300 (2 segments), 200 and 250 frames."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("session_program"),
        visits=[datasets.VisitSpec(observation=1, visit=1, n_frames=300, n_segments=2),
                datasets.VisitSpec(observation=1, visit=2, n_frames=200, n_segments=1),
                datasets.VisitSpec(observation=2, visit=1, n_frames=250, n_segments=1,
                                   detector="GUIDER2")],
        signals=[datasets.CentroidWobble(period=2.0, amplitude=0.03, axis="y")], seed=2079)


@pytest.fixture
def program_mast(program, monkeypatch):
    """A fake MAST serving `program` (public), aimed at by astroquery's ``conf.server``."""
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    mast = FakeMast(tokens={TOKEN})
    mast.add_files(program.files)
    with mast:
        monkeypatch.setattr(conf, "server", mast.url)
        yield mast
    assert mast.errors == []


@pytest.fixture
def dead_url():
    """A URL on 127.0.0.1 that refuses connections (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def visit_files(program, observation, visit):
    return [p for p in program.files if p.name.startswith(f"jw01534{observation:03d}{visit:03d}")]


def test_program_of_three_visits(program_mast, program, tmp_path):
    spk = spelunker.load(pid=1534, dir=tmp_path)
    # The per-frame attributes run over the whole program, in time order.
    assert spk.visits == PROGRAM_VISITS
    assert spk.files == [p.name for p in program.files]
    assert spk.fg_array.shape == (750, 8, 8) and spk.fg_time.shape == (750,)
    assert np.all(np.diff(spk.fg_time) > 0)
    whole = read_guidestar(program.files)
    assert_array_equal(spk.fg_array, np.asarray(whole.data))

    quick = spk.quick_fit()
    spk.optimize_photometry()
    # One aperture per guide star of the program (each visit has its own star).
    stars = spk.model.table("guidestars")
    assert len(stars) == 3 and spk.photometry_mask.shape == (3, 8, 8)
    assert spk.model.meta.spelunker.photometry_aperture == "optimized_per_guidestar"
    spk.periodogram()
    assert spk.pgram_results is not None
    assert set(spk.pgram_results["visit_index"]) == {0, 1, 2}
    starts = {(1, 1): (0, 300), (1, 2): (300, 500), (2, 1): (500, 750)}
    for (observation, visit), (start, stop) in starts.items():
        one = spk.select_visit(observation, visit)
        assert one.visits == [(1534, observation, visit)]
        assert one.files == [p.name for p in visit_files(program, observation, visit)]
        assert_array_equal(one.fg_array, spk.fg_array[start:stop])
        assert_array_equal(one.fg_time, spk.fg_time[start:stop])
        assert_array_equal(one.fg_flux, spk.fg_flux[start:stop])
        # The per-frame results are carried over; a periodogram of the whole is not.
        for name in ("x_mean", "y_mean", "amplitude"):
            assert_array_equal(np.asarray(one.quickfit_results[name]),
                               np.asarray(quick[name][start:stop]))
        assert one.pgram_results is None
        # Computed per visit: the visit's own periodogram is the whole's curve of that visit.
        one.periodogram()
        position = PROGRAM_VISITS.index((1534, observation, visit))
        for mine, whole_curve in zip(one.pgram_x_mean, spk.pgram_x_mean[position], strict=True):
            assert_allclose(mine, whole_curve, rtol=1e-6)
    assert list(spk.select_visit(1, 2).fg_table["observation"]) == [1]
    # Digit strings (and zero padding) as the original tool's users pass them.
    assert_array_equal(spk.select_visit("1", "002", program="1534").fg_array,
                       spk.fg_array[300:500])
    # The session itself is not cut.
    assert spk.visits == PROGRAM_VISITS and spk.fg_array.shape == (750, 8, 8)


def test_select_visit_errors_list_the_visits_held(program_mast, tmp_path):
    spk = spelunker.load(pid=1534, dir=tmp_path)
    held = ("program 1534, observation 1, visit 1; program 1534, observation 1, visit 2; "
            "program 1534, observation 2, visit 1")
    with pytest.raises(ParameterError, match="holds no visit observation 2, visit 2") as info:
        spk.select_visit(2, 2)
    assert held in str(info.value) and "3 visit(s)" in str(info.value)
    with pytest.raises(ParameterError, match="holds no visit program 1535, observation 1, visit 1"):
        spk.select_visit(1, 1, program=1535)
    for bad in ("one", 0, True, 1.5):
        with pytest.raises(ParameterError, match="observation="):
            spk.select_visit(bad, 1)
    with pytest.raises(ParameterError, match="held"):
        spk.select_visit(2, 1).select_visit(1, 1)
    with pytest.raises(GuideStarInputError, match="holds no data yet"):
        spelunker.load(dir=tmp_path).select_visit(1, 1)


def test_second_load_with_mast_stopped_reads_the_folder(program_mast, program, tmp_path,
                                                        caplog):
    first = spelunker.load(pid=1534, dir=tmp_path, token=TOKEN)
    assert len(program_mast.downloads()) == 4
    program_mast.stop()  # MAST is gone: nothing listens on its port any more
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        second = spelunker.load(pid=1534, dir=tmp_path, token=TOKEN)
    assert second.files == first.files
    assert second.visits == PROGRAM_VISITS
    assert_array_equal(second.fg_array, first.fg_array)
    assert_array_equal(second.fg_time, first.fg_time)
    assert "MAST was not reached" in caplog.text and str(tmp_path) in caplog.text
    assert "4 calibrated product(s) of program 1534" in caplog.text

    # One observation, one visit: only their products are read.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        one = spelunker.load(pid=1534, obs_num="1", visit=2, dir=tmp_path)
    assert one.visits == [(1534, 1, 2)]
    assert_array_equal(one.fg_array, first.fg_array[300:500])
    assert "program 1534, observation 1, visit 2" in caplog.text


def test_offline_load_makes_no_request(program_mast, program, dead_url, tmp_path,
                                       monkeypatch):
    first = spelunker.load(pid=1534, obs_num=1, dir=tmp_path)
    assert first.visits == PROGRAM_VISITS[:2]
    program_mast.clear_log()
    monkeypatch.setattr(conf, "server", dead_url)
    second = spelunker.load(pid=1534, obs_num=1, dir=tmp_path)
    assert program_mast.requests == []
    assert second.files == first.files
    assert_array_equal(second.fg_array, first.fg_array)
    assert_array_equal(second.fg_flux, first.fg_flux)
    # Observation 2 was never downloaded: nothing usable in the folder.
    with pytest.raises(ArchiveQueryError, match="could not reach MAST") as info:
        spelunker.load(pid=1534, obs_num=2, dir=tmp_path)
    assert "nothing usable was found in the download folder" in str(info.value)
    assert "program 1534, observation 2" in str(info.value)
    assert isinstance(info.value.__cause__, ArchiveQueryError)
    assert program_mast.requests == []


def test_offline_load_of_the_original_tools_folder(program, dead_url, tmp_path, monkeypatch,
                                                   caplog):
    """``mastDownload/JWST/<obs_id>/<file>``, a product in the folder of each exposure."""
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    monkeypatch.setattr(conf, "server", dead_url)
    tree = tmp_path / "mastDownload" / "JWST"
    for exposure in (1, 2):
        for observation, visit in ((1, 1), (1, 2)):
            folder = tree / f"jw01534{observation:03d}{visit:03d}_02101_{exposure:05d}_guider1"
            folder.mkdir(parents=True)
            for path in visit_files(program, observation, visit):
                shutil.copy2(path, folder / path.name)
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        spk = spelunker.load(pid=1534, obs_num=1, dir=tmp_path)
    assert spk.visits == PROGRAM_VISITS[:2]
    assert spk.files == [p.name for p in program.files[:3]]
    assert_array_equal(spk.fg_array, np.asarray(read_guidestar(program.files[:3]).data))
    assert "MAST was not reached" in caplog.text
    # Observation 2 is not there.
    with pytest.raises(ArchiveQueryError, match="nothing usable was found"):
        spelunker.load(pid=1534, obs_num=2, dir=tmp_path)
    with pytest.raises(ArchiveQueryError, match="nothing usable was found"):
        spelunker.load(pid=1534, dir=tmp_path / "never_created")
    assert not (tmp_path / "never_created").exists()


def test_only_an_unreachable_mast_falls_back_to_the_folder(program_mast, program, tmp_path):
    """No product found, or a failing service: the error, even with products in the folder."""
    for path in program.files:
        shutil.copy2(path, tmp_path / path.name)
    with pytest.raises(ArchiveQueryError, match="MAST has no FGS_FINEGUIDE guide-star products"):
        spelunker.load(pid=1534, obs_num=3, dir=tmp_path)
    program_mast.inject("invoke", "http503", times=10)
    with pytest.raises(ArchiveQueryError, match="HTTP 503") as info:
        spelunker.load(pid=1534, dir=tmp_path)
    assert "download folder" not in str(info.value)
    program_mast.clear_log()
    with pytest.raises(AuthenticationError):
        spelunker.load(pid=1534, dir=tmp_path, token=BAD_TOKEN)
    assert program_mast.downloads() == []


def test_original_load_arguments(program_mast, program, tmp_path, monkeypatch):
    """``load(dir, pid, ..., guider=..., dir_seg=..., save=True)`` as the original tool."""
    spk = spelunker.load(str(tmp_path), pid=1534, guider=2, save=True)
    assert spk.visits == [(1534, 2, 1)] and len(spk.fg_time) == 250
    arrays = tmp_path / "data_arrays"
    assert_array_equal(np.load(arrays / "pid_1534_fg_time.npy"), spk.fg_time)
    assert np.load(arrays / "pid_1534_fg_array.npy").shape == (250, 8, 8)
    segment = spelunker.load(tmp_path, pid=1534, obs_num=1, visit=1, dir_seg="002")
    assert segment.files == [visit_files(program, 1, 1)[1].name]
    # the original's string defaults ('None') and the 1.1.x keyword spelling
    same = spelunker.load(tmp_path, 1534, "1", "1", "None", parallel_sequnence_id=1)
    assert same.visits == [(1534, 1, 1)]
    with pytest.raises(ParameterError, match="leave none"):
        spelunker.load(tmp_path, pid=1534, obs_num=1, guider=2)
    # an integer first is the program (the former spelunker.load(1534)), default folder
    monkeypatch.chdir(tmp_path)
    assert spelunker.load(1534, obs_num=2).visits == [(1534, 2, 1)]
    assert (tmp_path / "spelunker_results").is_dir()
    # every product came from MAST once per folder: the loads into tmp_path reused it
    assert len(program_mast.downloads()) == len(program.files) + 1
    assert program_mast.downloads()[-1].file == visit_files(program, 2, 1)[0].name
