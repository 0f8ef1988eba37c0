"""The notebook API on local files: the same numbers as the steps, the original names."""

import numpy as np
import pytest
from astropy.time import Time
from numpy.testing import assert_allclose, assert_array_equal

import spelunker
from spelunker import (
    GuideStarFitStep,
    GuideStarModel,
    PeriodogramStep,
    PhotometryOptimizeStep,
    datasets,
)
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.fitting import fit_table

PARAMETERS = ("amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset")


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("session_visit"),
        visits=[datasets.VisitSpec(n_frames=3000, n_segments=2)],
        signals=[datasets.CentroidWobble(period=2.5, amplitude=0.03, axis="x")], seed=77)


def test_empty_session_has_no_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spk = spelunker.load()  # default folder: ./spelunker_results
    assert spk.fg_array is None and spk.fg_time is None and spk.fg_flux is None
    assert spk.gaussfit_results is None and spk.pgram_x_mean is None
    assert spk.files == [] and spk.model is None and spk.visits == []
    with pytest.raises(GuideStarInputError, match="holds no data yet"):
        spk.gauss2d_fit()
    with pytest.raises(GuideStarInputError, match="holds no data yet"):
        _ = spk.fg_table
    other = spelunker.load(dir=tmp_path / "elsewhere")
    assert other.fg_array is None
    # Nothing was created or written: no folder, no file.
    assert list(tmp_path.iterdir()) == []


def test_folder_as_first_argument_as_the_original(visit, tmp_path, monkeypatch):
    """The original's ``load('/path/', pid=1534)``: the folder is the first argument."""
    monkeypatch.chdir(tmp_path)
    spk = spelunker.load(str(visit.files[0].parent))
    assert spk.directory == visit.files[0].parent and spk.model is None
    assert spelunker.load(tmp_path / "other").directory == tmp_path / "other"
    assert spelunker.load(dir=None).directory.name == "spelunker_results"
    with pytest.raises(ParameterError, match="not both"):
        spelunker.load(tmp_path, pid=1534, parallel_sequence_id=1, parallel_sequnence_id=1)
    with pytest.raises(ParameterError, match="must be a number"):
        spelunker.load(tmp_path, pid=1534, visit_group="first")
    # Nothing was created or written.
    assert list(tmp_path.iterdir()) == []


def test_readfile_of_a_program_in_the_folder(visit, tmp_path):
    """The original's ``readfile(pid=..., obs_num=..., visit=...)`` reads the folder, no MAST."""
    layout = tmp_path / "spelunker_outputs" / "mastDownload" / "JWST"
    for path in visit.files:
        target = layout / path.name.replace("_cal.fits", "")
        target.mkdir(parents=True)
        (target / path.name).write_bytes(path.read_bytes())
    spk = spelunker.load(str(tmp_path))
    model = spk.readfile(pid=1534, obs_num=1, visit=1)
    assert len(model.data) == 3000 and spk.files == [p.name for p in visit.files]
    assert_array_equal(spk.fg_array, spelunker.load(tmp_path).readfile(visit.files).data)
    positional = spelunker.load(tmp_path)
    positional.readfile(1534, "1", "001")
    assert_array_equal(positional.fg_time, spk.fg_time)
    with pytest.raises(ParameterError, match="no complete calibrated .* program 1534, "
                                             "observation 2"):
        spk.readfile(pid=1534, obs_num=2)
    with pytest.raises(ParameterError, match="not both"):
        spk.readfile(visit.files, pid=1534)
    with pytest.raises(ParameterError, match="give files"):
        spk.readfile()


def test_readfile_arrays(visit, tmp_path):
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    assert spk.fg_array.shape == (3000, 8, 8)
    # fg_time: MJD (UTC) floats as the original; fg_time_utc: the same times as Time
    assert isinstance(spk.fg_time_utc, Time) and spk.fg_time_utc.scale == "utc"
    assert spk.fg_time.dtype == np.float64 and spk.fg_time.shape == (3000,)
    assert_array_equal(spk.fg_time, spk.fg_time_utc.mjd)
    assert_array_equal(spk.fg_time, np.asarray(spk.model.frames["mid_time_mjd"]))
    assert np.all(np.diff(spk.fg_time) > 0)
    assert_allclose(spk.fg_flux, np.nansum(spk.fg_array, axis=(1, 2)), rtol=1e-6)
    assert spk.files == [p.name for p in visit.files]


def test_fg_table_takes_visit_group_sequence_activity_from_obs_id(visit, tmp_path):
    from astropy.io import fits

    # The generator writes OBS_ID as real headers have it: visit group 01, sequence 1,
    # activity 02.
    assert fits.getval(visit.files[0], "OBS_ID") == "V01534001001P0000000001102"
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    table = spk.fg_table
    assert list(table["file_name"]) == spk.files
    for name, value in (("visit_group", 1), ("parallel_sequence", 1), ("activity", 2)):
        assert not table[name].mask.any(), name
        assert list(table[name]) == [value, value], name
    assert table["exposure"].mask.all()  # only a MAST folder gives it
    assert list(table["segment"]) == [1, 2]

    # A header without OBS_ID still reads; those columns are then masked.
    copies = []
    for path in visit.files:
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes())
        with fits.open(copy, mode="update") as hdul:
            del hdul[0].header["OBS_ID"]
        copies.append(copy)
    spk.readfile(copies)
    table = spk.fg_table
    assert len(table) == 2 and list(table["observation"]) == [1, 1]
    for name in ("visit_group", "parallel_sequence", "activity", "exposure"):
        assert table[name].mask.all(), name


def test_fits_match_the_step(visit, tmp_path):
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    ours = spk.gauss2d_fit(ncpus=2)
    assert ours is not None and len(ours) == 3000
    assert "time" in ours.colnames
    step_model = GuideStarFitStep.call(visit.files)
    theirs = fit_table(step_model, "gauss")
    for name in PARAMETERS + ("flags",):
        assert_array_equal(np.asarray(ours[name]), np.asarray(theirs[name]), err_msg=name)
    quick = spk.quick_fit()
    assert len(quick) == 3000
    step_quick = fit_table(GuideStarFitStep.call(visit.files, method="quick"), "quick")
    assert_array_equal(np.asarray(quick["x_mean"]), np.asarray(step_quick["x_mean"]))


def test_photometry_and_periodogram_match_the_steps(visit, tmp_path):
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    raw = spk.fg_flux.copy()
    spk.gauss2d_fit()
    lightcurve = spk.optimize_photometry()
    assert spk.photometry_mask.shape == (8, 8) and spk.photometry_mask.dtype == bool
    assert_allclose(spk.fg_flux, spk.fg_array[:, spk.photometry_mask].sum(axis=1), rtol=1e-6)
    assert not np.allclose(spk.fg_flux, raw)
    assert_array_equal(np.asarray(lightcurve["flux"]), spk.fg_flux)

    model = PhotometryOptimizeStep.call(GuideStarFitStep.call(visit.files))
    assert_array_equal(np.asarray(model.lightcurve["flux"]), spk.fg_flux)

    axes = spk.periodogram()
    assert len(axes) >= 7 and all(ax.get_lines() for ax in axes)
    peaks = spk.pgram_results
    assert peaks is not None and len(peaks) > 0
    assert_array_equal(np.asarray(peaks["frequency"]),
                       np.asarray(PeriodogramStep.call(model).periodogram_peaks["frequency"]))
    frequency, power = spk.pgram_x_mean
    assert frequency.shape == power.shape and frequency[0] > 0
    assert abs(1 / frequency[np.argmax(power)] / 2.5 - 1) < 2e-3
    step = PeriodogramStep.call(model)
    assert_allclose(power, np.asarray(step.periodogram["x_mean"]), rtol=1e-6)
    for name in PARAMETERS + ("flux",):
        assert getattr(spk, f"pgram_{name}") is not None


def test_select_and_save(visit, tmp_path):
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    spk.quick_fit()
    part = spk.select(100, 600)
    assert part.fg_array.shape == (500, 8, 8)
    assert_array_equal(part.fg_array, spk.fg_array[100:600])
    assert part.quickfit_results is None
    path = spk.save(tmp_path / "session.fits")
    with GuideStarModel(path) as model:
        assert len(model.quick_fit) == 3000


def test_repr_and_token_handling(monkeypatch, tmp_path):
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    secret = "0123456789abcdef-secret-token"
    spk = spelunker.load(dir=tmp_path, token=secret)
    assert secret not in repr(spk) and "token set" in repr(spk)
    assert spk.mast_api_token == secret
    spk.mast_api_token = None
    assert "not set" in repr(spk)
    monkeypatch.setenv("MAST_API_TOKEN", secret)
    assert spk.mast_api_token == secret
    # An empty token counts as none: MAST_API_TOKEN is used.
    for empty in ("", "  "):
        spk.mast_api_token = empty
        assert spk.mast_api_token == secret
        assert spelunker.load(dir=tmp_path, token=empty).mast_api_token == secret
    monkeypatch.delenv("MAST_API_TOKEN")
    spk.mast_api_token = ""
    assert spk.mast_api_token is None and "not set" in repr(spk)


def test_session_figures_and_local_mnemonics(visit, tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    spk.quick_fit()
    spk.periodogram()
    ax = spk.timeseries_binned_plot(bin_size=5.0, ax=plt.figure().add_subplot())
    assert ax.get_lines(), "no light curve drawn"
    axes = spk.timeseries_list_plot()
    assert len(axes) >= 8 and all(hasattr(one, "plot") for one in axes)
    assert spk.periodogram_plot().axes
    assert spk.frame_plot(ax=plt.figure().add_subplot()).images
    position = spk.position_plot(ax=plt.figure().add_subplot())
    assert position.collections or position.get_lines()
    target = plt.figure().add_subplot()
    assert spk.mnemonics_local("FILENAME", ax=target) is target
    assert len(spk.local_events) == 2 and len(target.get_lines()) == 2
    times, names = spk.filename_mnemonics
    assert names == spk.files and times[0] == pytest.approx(spk.fg_time[0], abs=1e-6)
    assert len(spk.mnemonics_local("FILENAME", plot=False)) == 2
    gif = spk.flux_spatial_timelapse_animation(10, 20, tmp_path / "movie.gif")
    with Image.open(gif) as image:
        assert image.n_frames == 10
    page = spk.report(tmp_path / "report")
    assert page.exists() and page.suffix == ".html"
    plt.close("all")


def test_session_mnemonics_needs_a_token(visit, tmp_path, monkeypatch):
    from spelunker.errors import EngdbError

    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    spk = spelunker.load(dir=tmp_path)
    with pytest.raises(EngdbError, match="token"):
        spk.mnemonics("SA_ZHGAUPST", 60000.0, 60000.1)


def test_original_tool_habits_get_clear_answers(visit, tmp_path):
    import pickle

    import matplotlib.pyplot as plt

    spk = spelunker.load(dir=tmp_path, token="hidden-token-value")
    spk.readfile(visit.files)
    for name in ("fg_array", "fg_time", "fg_flux"):
        with pytest.raises(ParameterError, match=r"spk.select\(start, stop\)"):
            setattr(spk, name, getattr(spk, name)[:10] + 1.0)
    # Figures draw on the current Axes, as in the original notebooks.
    figure, axes = plt.subplots()
    assert spk.timeseries_binned_plot(bin_size=5.0) is axes
    plt.close(figure)
    # The token is hidden from pickles and vars().
    assert "hidden-token-value" not in repr(vars(spk))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(spk)
    # ncpus defaults to the CPUs available and is capped there.
    spk.quick_fit(ncpus=64)
    assert spk.model.meta.spelunker.fit_ncpus <= 64
    with pytest.raises(ValueError, match="ncpus"):
        spk.quick_fit(ncpus=0)


@pytest.fixture(scope="module")
def two_programs(tmp_path_factory):
    """Observation 1 visit 1 of programs 1534 (120 frames) and 1535 (80 frames), a day apart."""
    folder = tmp_path_factory.mktemp("session_two_programs")
    first = datasets.make_guidestar_files(
        folder, visits=[datasets.VisitSpec(n_frames=120, n_segments=1)], seed=5)
    second = datasets.make_guidestar_files(
        folder, program=1535, seed=6,
        visits=[datasets.VisitSpec(n_frames=80, n_segments=1, start="2022-12-05T00:00:00")])
    return first.files + second.files


def test_select_visit_of_two_programs(two_programs, tmp_path):
    spk = spelunker.load(dir=tmp_path)
    spk.readfile(two_programs)
    assert spk.visits == [(1534, 1, 1), (1535, 1, 1)]
    with pytest.raises(ParameterError, match=r"observation 1, visit 1 is held in programs "
                                             r"1534, 1535: give program=") as info:
        spk.select_visit(1, 1)
    assert "program 1535, observation 1, visit 1" in str(info.value)

    spk.optimize_photometry(bin_size=1.0, max_pixels=12, per_guidestar=True)
    flux, masks = spk.fg_flux, spk.photometry_mask
    assert masks.shape == (2, 8, 8)  # one aperture per guide star, one star per visit
    second = spk.select_visit(1, "1", program="01535")
    assert second.visits == [(1535, 1, 1)]
    assert second.files == [two_programs[1].name]
    assert_array_equal(second.fg_array, spk.fg_array[120:])
    # The light curve and the visit's guide-star aperture are carried over.
    assert_array_equal(second.fg_flux, flux[120:])
    assert_array_equal(second.photometry_mask, masks[1])
    assert second.directory == spk.directory
    first = spk.select_visit(1, 1, program=1534)
    assert_array_equal(first.fg_flux, flux[:120])
    assert_array_equal(first.photometry_mask, masks[0])


def test_slice_assignment_keeps_the_session_consistent(visit, tmp_path):
    """``spk.fg_array = spk.fg_array[a:b]`` (the original's notebooks) cuts everything alike."""
    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    full = spelunker.load(tmp_path)
    full.readfile(visit.files)
    spk.quick_fit()
    times, flux = spk.fg_time.copy(), spk.fg_flux.copy()
    spk.fg_array = spk.fg_array[1000:2500]  # across the two files
    assert spk.fg_array.shape == (1500, 8, 8)
    assert_array_equal(spk.fg_time, times[1000:2500])
    assert_array_equal(spk.fg_flux, flux[1000:2500])
    assert len(spk.files) == 2 and len(spk.quickfit_results) == 1500  # results cut alike
    assert_array_equal(np.asarray(spk.quickfit_results["x_mean"]),
                       np.asarray(full.quick_fit()["x_mean"])[1000:2500])
    spk.fg_flux = spk.fg_flux[0:1500]  # already so: nothing changes
    assert spk.fg_array.shape == (1500, 8, 8)
    spk.fg_time = spk.fg_time[500:]  # times pick frames too
    assert_array_equal(spk.fg_time, times[1500:2500])
    assert spk.files == [visit.files[1].name]
    spk.fg_flux = spk.fg_flux[::2]  # any selection in order
    assert_array_equal(spk.fg_time, times[1500:2500:2])
    spk.fg_time = full.fg_time_utc[1500:1600:2]  # a Time works as well
    assert_array_equal(spk.fg_time, times[1500:1600:2])
    with pytest.raises(ParameterError, match="not fg_array values"):
        spk.fg_array = full.fg_array[0:10]  # frames the session no longer holds


def test_fits_of_arrays_are_the_steps_fit_of_those_frames(visit, tmp_path):
    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    step = fit_table(GuideStarFitStep.call(visit.files))
    part = spk.gauss2d_fit(spk.fg_array[200:700], ncpus=2)
    assert len(part) == 500 and len(spk.fg_array) == 3000  # the session keeps its frames
    assert spk.gaussfit_results is not None and len(spk.gaussfit_results) == 500
    for name in PARAMETERS + ("flags",):
        assert_array_equal(np.asarray(part[name]), np.asarray(step[name])[200:700])
    assert_array_equal(part["time"].mjd, spk.fg_time[200:700])
    quick = spk.quick_fit(spk.fg_array[0:100])
    step_quick = fit_table(GuideStarFitStep.call(visit.files, method="quick"), "quick")
    assert_array_equal(np.asarray(quick["x_mean"]), np.asarray(step_quick["x_mean"])[:100])
    # The whole session again: the model's own table, full length.
    assert len(spk.gauss2d_fit(ncpus=2)) == 3000 and len(spk.gaussfit_results) == 3000
    # A single frame, and frames that are not the session's (fitted on their own).
    assert len(spk.gauss2d_fit(spk.fg_array[5])) == 1
    shifted = np.roll(spk.fg_array[:20], 1, axis=2)
    own = spk.gauss2d_fit(shifted, ncpus=1)
    assert len(own) == 20 and "time" not in own.colnames
    assert_allclose(np.asarray(own["x_mean"]), np.asarray(step["x_mean"])[:20] + 1, atol=0.05)
    with pytest.raises(ParameterError, match="not frames"):
        spk.gauss2d_fit(np.zeros((3, 4)))
    # save=True writes the table as the original's gaussfits folder, in ECSV
    spk.quick_fit(save=True)
    saved = tmp_path / "quickfits" / "1534_quickfits.ecsv"
    from astropy.table import QTable
    assert_array_equal(np.asarray(QTable.read(saved)["x_mean"]),
                       np.asarray(spk.quickfit_results["x_mean"]))


def test_original_plot_arguments(visit, tmp_path):
    import matplotlib.pyplot as plt

    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    figure, axes = plt.subplots()
    assert spk.timeseries_binned_plot(spk.fg_time, spk.fg_flux) is axes
    whole = [line.get_xydata() for line in axes.get_lines()]
    other = plt.figure().add_subplot()
    spk.timeseries_binned_plot(spk.fg_time[:1000], spk.fg_flux[:1000], ax=other)
    assert max(len(line.get_xdata()) for line in other.get_lines()) < max(map(len, whole))
    window = plt.figure().add_subplot()
    spk.timeseries_binned_plot(start_time=spk.fg_time[100], end_time=spk.fg_time[299],
                               n_bins=50, ax=window)
    assert max(len(line.get_xdata()) for line in window.get_lines()) == 200
    with pytest.raises(ParameterError, match="fg_flux must be the session's"):
        spk.timeseries_binned_plot(spk.fg_time, spk.fg_flux * 2)
    # periodogram(table, time) of the session's fit; save=True writes figure and peaks
    spk.quick_fit()
    axes = spk.periodogram(spk.quickfit_results, spk.fg_time, save=True)
    assert len(axes) >= 7
    assert (tmp_path / "1534_pgram_results.png").stat().st_size > 0
    assert (tmp_path / "1534_pgram_results.ecsv").exists()
    assert spk.periodogram(plot=False) is None and spk.pgram_results is not None
    with pytest.raises(ParameterError, match="gaussfit_results or quickfit_results"):
        spk.periodogram(spk.quickfit_results[:10])
    # timeseries_list_plot of a user's table of some frames
    from astropy.table import Table
    table = Table({name: np.asarray(spk.quickfit_results[name])[10:60] for name in PARAMETERS})
    panels = spk.timeseries_list_plot(table, spk.fg_time[10:60])
    assert len(panels) >= 7
    drawn = [line for line in panels[1].get_lines() if len(line.get_xdata()) == 50]
    assert drawn, "the table's 50 frames are drawn"
    with pytest.raises(ParameterError, match="50 rows but 3000 frames"):
        spk.timeseries_list_plot(table)
    plt.close("all")


def test_filters_of_the_original(tmp_path):
    """visit_group, activity_number, dir_seg, guider, ... filter the files read."""
    made = datasets.make_guidestar_files(
        tmp_path / "data", visits=[datasets.VisitSpec(n_frames=200, n_segments=2)], seed=5)
    spk = spelunker.load(tmp_path / "data")
    spk.readfile(made.files)
    table = spk.fg_table
    from spelunker.session.args import file_filters

    second = spk.model.select_files(**file_filters(dir_seg="2"))
    assert len(second.data) == table["n_frames"][1]
    kept = spk.model.select_files(**file_filters(visit_group=int(table["visit_group"][0]),
                                                 activity_number=int(table["activity"][0]),
                                                 parallel_sequence_id=1, guider="guider1"))
    assert len(kept.data) == 200
    with pytest.raises(ParameterError, match="leave none of the 2 file"):
        spk.model.select_files(**file_filters(guider=2))
    with pytest.raises(ParameterError, match="leave none"):
        spk.model.select_files(**file_filters(exposure_number=1))  # no folder: unknown exposure
    with pytest.raises(ParameterError, match="must be a number"):
        file_filters(dir_seg="two")
    with pytest.raises(ParameterError, match="no field colour"):
        spk.model.select_files(colour=1)


def test_progress_bars_on_in_interactive_sessions(tmp_path, monkeypatch):
    import sys

    spk = spelunker.load(tmp_path)
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as in a Jupyter kernel
    assert spk._progress() is True
    monkeypatch.delitem(sys.modules, "ipykernel")
    monkeypatch.setattr(sys, "stderr", open(tmp_path / "log", "w"))  # noqa: SIM115
    if not hasattr(sys, "ps1"):
        assert spk._progress() is False
    sys.stderr.close()
    assert spelunker.load(tmp_path, progress=False)._progress() is False


def test_save_as_the_original_and_as_a_model(visit, tmp_path):
    from astropy.table import QTable

    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    spk.gauss2d_fit(ncpus=2)
    spk.quick_fit()
    spk.periodogram(plot=False)
    written = spk.save("wasp")
    names = sorted(path.name for path in written)
    assert len(names) == 3 and all(name.startswith("wasp_") for name in names)
    series = QTable.read(next(p for p in written if not p.stem.endswith(("quickfit", "pgram"))))
    assert_array_equal(series["time"].mjd, spk.fg_time)
    assert series["flux"].unit == "DN / s"
    assert_array_equal(np.asarray(series["x_mean"]), np.asarray(spk.gaussfit_results["x_mean"]))
    assert_array_equal(np.asarray(series["flags"]), np.asarray(spk.gaussfit_results["flags"]))
    assert spk.save(suffix="x")[0].name.startswith("x_")
    model_file = spk.save(tmp_path / "session_gs.fits")
    assert GuideStarModel(str(model_file)).hasattr("gauss_fit")
    with pytest.raises(ParameterError, match="not both"):
        spk.save("a.fits", suffix="x")


def test_original_helpers(visit, tmp_path):
    from PIL import Image

    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    assert_allclose(spk.time_to_sec(), (spk.fg_time - spk.fg_time[0]) * 86400.0, atol=1e-6)
    assert_allclose(spk.time_to_sec(spk.fg_time[10:20]),
                    (spk.fg_time[10:20] - spk.fg_time[10]) * 86400.0, atol=1e-6)
    assert list(spk.table()["file_name"]) == spk.files
    # optimize_photometry with the original's positional arguments and its bin in frames
    ours = spk.optimize_photometry(None, 1, 30, 100)
    again = spelunker.load(tmp_path)
    again.readfile(visit.files)
    frame = float(np.median(np.diff(again.time_to_sec())))
    same = again.optimize_photometry(bin_size=100 * frame, max_pixels=30)
    assert_array_equal(np.asarray(ours["flux"]), np.asarray(same["flux"]))
    gif = spk.timelapse_animation(None, 5, 15, 100, tmp_path / "frames.gif")
    with Image.open(gif) as image:
        assert image.n_frames == 10


def test_session_errors_are_spelunker_errors(visit, tmp_path):
    from astropy.table import Table

    from spelunker.errors import SpelunkerError

    spk = spelunker.load(tmp_path)
    with pytest.raises(ParameterError, match="calib_level='3' must be 2"):
        spk.download(1534, calib_level="3")
    with pytest.raises(ParameterError, match="readfile: pid='15x4' must be a whole number"):
        spk.readfile(pid="15x4")
    with pytest.raises(ParameterError, match="readfile: obs_num='one'"):
        spk.readfile(pid=1534, obs_num="one")
    with pytest.raises(GuideStarInputError, match="holds no data yet"):
        spk.select_visit(1, 1)
    spk.readfile(visit.files)
    with pytest.raises(ParameterError, match="Spelunker.select_visit: visit=1000 must be"):
        spk.select_visit(1, 1000)
    with pytest.raises(ParameterError, match="lacks the column"):
        spk.timeseries_list_plot(Table({"x_mean": np.zeros(3000)}))
    with pytest.raises(AttributeError, match="read-only"):
        spk.pgram_x_mean = None
    assert issubclass(GuideStarInputError, SpelunkerError)


def test_fit_result_from_a_table_with_other_units(visit, tmp_path):
    import astropy.units as u
    from astropy.table import QTable

    from spelunker.fitting import FitResult

    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    fit = spk.quick_fit()
    table = QTable(fit)
    table["theta"] = table["theta"].to(u.deg)
    table["x_mean"] = table["x_mean"].value  # plain numbers: pixels
    result = FitResult.from_table(table)
    for name in PARAMETERS:
        assert_allclose(result[name], fit[name].value, rtol=1e-12, err_msg=name)
    assert_array_equal(result["flags"], np.asarray(fit["flags"]))
    assert not result["dof"].any() and not result["iterations"].any()
    del table["chi2"], table["y_mean_err"]
    result = FitResult.from_table(table)
    assert np.isnan(result["chi2"]).all() and np.isnan(result["y_mean_err"]).all()


def test_original_files_are_written_whole(visit, tmp_path):
    from spelunker.atomic import is_temporary

    spk = spelunker.load(tmp_path / "out")
    spk.readfile(visit.files)
    spk.quick_fit(save=True)
    spk.periodogram(plot=False, save=True)
    spk.save("run")
    assert_allclose(spk.time_to_sec(spk.fg_time_utc[10:20]),
                    (spk.fg_time[10:20] - spk.fg_time[10]) * 86400.0, atol=1e-6)
    written = sorted(path.relative_to(tmp_path / "out").as_posix()
                     for path in (tmp_path / "out").rglob("*"))
    assert not any(is_temporary(name) for name in written)
    assert "quickfits/1534_quickfits.ecsv" in written and "1534_pgram_results.png" in written
    assert sum(name.startswith("run_") for name in written) == 3


def test_wrong_arguments_of_the_session_are_parameter_errors(visit, tmp_path):
    """Every argument a notebook user can get wrong gives a ParameterError, nothing written."""
    from spelunker.session import Spelunker

    for call in (lambda: spelunker.load(dir=5.5), lambda: spelunker.load(dir=[1]),
                 lambda: Spelunker(5), lambda: Spelunker(object())):
        with pytest.raises(ParameterError, match="must be a folder path"):
            call()
    spk = spelunker.load(tmp_path / "out")
    spk.readfile(visit.files)
    movie = tmp_path / "movie.gif"
    for options, name in (({"interval": 0}, "interval"), ({"interval": "a"}, "interval"),
                          ({"start": "a"}, "start")):
        with pytest.raises(ParameterError, match=f"flux_spatial_timelapse_animation: {name}="):
            spk.flux_spatial_timelapse_animation(filename=movie, **options)
    with pytest.raises(ParameterError, match="optimize_photometry: min_pixels='a'"):
        spk.optimize_photometry(None, "a", 30)
    with pytest.raises(ParameterError, match="optimize_photometry: max_pixels=65"):
        spk.optimize_photometry(max_pixels=65)
    for path in (5, object(), 1.5):
        with pytest.raises(ParameterError, match="save: path="):
            spk.save(path)
    with pytest.raises(ParameterError, match="save: suffix=5 must be a string"):
        spk.save(suffix=5)
    with pytest.raises(ParameterError, match="timeseries_list_plot: table=5 must be an astropy"):
        spk.timeseries_list_plot(table=5)
    with pytest.raises(ParameterError, match="timeseries_binned_plot: n_bins='a'"):
        spk.timeseries_binned_plot(n_bins="a")
    with pytest.raises(ParameterError, match="timeseries_binned_plot: fg_flux must be numbers"):
        spk.timeseries_binned_plot(None, "x")
    with pytest.raises(ParameterError, match="frames_between: start must be one time"):
        spk.timeseries_list_plot(None, None, [60000.0, 60001.0])
    with pytest.raises(ParameterError, match="periodogram: table=5 must be an astropy Table"):
        spk.periodogram(5, plot=False)
    spk.quick_fit()
    with pytest.raises(ParameterError, match="periodogram: time must be numbers"):
        spk.periodogram(spk.quickfit_results, "a", plot=False)
    with pytest.raises(ParameterError, match="periodogram: time must be the times of all"):
        spk.periodogram(spk.quickfit_results, spk.fg_time + 1.0, plot=False)
    # Python's read-only attribute protocol: an AttributeError (as every property).
    with pytest.raises(AttributeError, match="pgram_flux is read-only"):
        spk.pgram_flux = 1
    assert not movie.exists() and not (tmp_path / "out").exists()


def test_time_to_sec_of_one_time(tmp_path):
    """``time_to_sec`` of a single time (a scalar Time) is ``[0.0]``, not an AttributeError."""
    spk = spelunker.load(tmp_path)
    assert spk.time_to_sec(60000.0).tolist() == [0.0]
    assert spk.time_to_sec(Time(60000.0, format="mjd")).tolist() == [0.0]
    assert spk.time_to_sec([]).tolist() == []
    assert spk.time_to_sec([[60000.0, 60000.5]]).tolist() == [[0.0, 43200.0]]


def test_docstrings_name_what_the_session_delegates_to():
    from spelunker.session import Spelunker

    delegates = {"mast_api_token": "archive.tokens.resolve_token",
                 "photometry_mask": "photometry.store_photometry",
                 "fg_time": "GuideStarModel.frame_times",
                 "fg_time_utc": "GuideStarModel.frame_times",
                 "select_visit": "GuideStarModel.select_visit",
                 "time_to_sec": "times.seconds_since_first",
                 "find_flares": "variability.find_variability",
                 "flares": "variability.flares_table",
                 "dips": "variability.dips_table",
                 "variability": "variability.variability_table",
                 "plot_variability": "plotting.time_domain_figure",
                 "variability_lightcurve_plot": "plotting.variability_lightcurve_plot",
                 "rms_binning_plot": "variability.noise_model",
                 "folded_lightcurve_plot": "plotting.folded_lightcurve_plot"}
    delegates.update({name: "GuideStarModel.periodogram_curves" for name in dir(Spelunker)
                      if name.startswith("pgram_") and name != "pgram_results"})
    assert "pgram_flux" in delegates
    for name, owner in delegates.items():
        assert owner in getattr(Spelunker, name).__doc__, name


def test_the_original_files_are_named_by_session_files(visit, tmp_path):
    """Program label, series stems and the per-star grouping are session.files' and the model's."""
    from spelunker.session.files import (program_label, series_stem, write_arrays,
                                         write_periodogram, write_result_table,
                                         write_star_series, write_table)

    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    assert program_label(spk.model) == "1534" and program_label(GuideStarModel()) == "session"
    start = spk.fg_time_utc[0]
    assert series_stem("S1", start) == f"S1_{start.strftime('%Y%m%dT%H%M%S')}"
    assert series_stem("S1", start, prefix="run") == "run_" + series_stem("S1", start)
    [path] = write_star_series(spk.model, tmp_path / "series", spk.fg_flux, prefix="run")
    stem = series_stem(spk.model.table("guidestars")["gs_id"][0].strip(), start, prefix="run")
    assert path.name == f"{stem}.ecsv"
    wrong = [
        (lambda: write_star_series(None, tmp_path, [1.0]), "write_star_series: model=None"),
        (lambda: write_star_series(spk.model, tmp_path, [1.0]), "one value per frame \\(3000\\)"),
        (lambda: write_star_series(spk.model, tmp_path, spk.fg_flux, prefix=5), "prefix=5"),
        (lambda: write_star_series(spk.model, tmp_path, spk.fg_flux, gauss=5), "gauss=5"),
        (lambda: write_table(5, tmp_path / "a.ecsv"), "write_table: table=5"),
        (lambda: write_table(spk.fg_table, 5), "write_table: path=5"),
        (lambda: write_arrays(5, 1534, {}), "write_arrays: folder=5"),
        (lambda: write_arrays(tmp_path, None, {}), "write_arrays: program=None"),
        (lambda: write_arrays(tmp_path, 1534, [1]), "write_arrays: arrays must be a dict"),
        (lambda: write_result_table(5, tmp_path, "quickfits", "1534"), "table=5"),
        (lambda: write_result_table(spk.fg_table, tmp_path, 5, "1534"), "kind=5"),
        (lambda: write_periodogram("x", spk.fg_table, tmp_path, "1534"), "figure='x'"),
        (lambda: series_stem(None, start), "series_stem: gs_id=None"),
        (lambda: series_stem("S1", "x"), "start='x'"),
        (lambda: series_stem("S1", spk.fg_time_utc[:2]), "start must be one time"),
    ]
    for call, message in wrong:
        with pytest.raises(ParameterError, match=message):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]


def test_bins_of_frames_are_binning_s():
    """The original's bins in frames: ``n`` times the frame interval, one function."""
    from spelunker.binning import bin_size_of_frames

    assert bin_size_of_frames(100, 0.0625) == 6.25
    for bad in (0, "a", 1.5, True):
        with pytest.raises(ParameterError, match="n_bin="):
            bin_size_of_frames(bad, 0.0625, name="n_bin")
    with pytest.raises(ParameterError, match="frame_interval=0"):
        bin_size_of_frames(1, 0)


# --------------------------------------------------------------------------
# Flares, dips and variability


def test_find_flares_is_the_variability_step(visit, tmp_path):
    """Needs the merged analysis (spelunker.variability and GuideStarVariabilityStep)."""
    from spelunker import GuideStarEventStep, GuideStarVariabilityStep
    from spelunker.variability import flares_table, variability_table

    spk = spelunker.load(dir=tmp_path)
    spk.readfile(visit.files)
    assert spk.flares is None and spk.dips is None and spk.variability is None
    flares = spk.find_flares()
    # What it needed ran first, with the steps' defaults.
    assert spk.quickfit_results is not None and spk.model.hasattr("lightcurve")
    assert spk.events is not None
    assert len(spk.variability) == 1 and str(spk.variability["visit_id"][0]) == "jw01534001001"
    step = GuideStarVariabilityStep.call(GuideStarEventStep.call(PhotometryOptimizeStep.call(
        GuideStarFitStep.call(visit.files, method="quick"))))
    theirs = flares_table(step)
    assert flares.colnames == theirs.colnames and len(flares) == len(theirs)
    for name in ("classes", "white_noise", "beta_1min", "period"):
        assert_array_equal(np.asarray(spk.variability[name]),
                           np.asarray(variability_table(step)[name]), err_msg=name)
    assert spk.dips.colnames[:3] == ["visit_index", "guidestar_index", "start"]


def test_variability_tables_and_figures_of_the_session(visit, tmp_path):
    from matplotlib.figure import Figure

    from spelunker.variability import store_variability
    from variability_helpers import PERIOD, PERIOD_ERROR, variability_result

    spk = spelunker.load(dir=tmp_path)
    assert spk.flares is None and spk.variability is None
    with pytest.raises(GuideStarInputError, match="holds no data yet"):
        spk.find_flares()
    spk.readfile(visit.files)
    spk.quick_fit()
    spk.optimize_photometry()  # the light curve the figures draw
    store_variability(spk.model, variability_result(spk.model))
    assert len(spk.flares) == 1 and len(spk.dips) == 2
    assert spk.variability["classes"].tolist() == ["flaring,dipping"]
    assert spk.dips["origin"].tolist() == ["astrophysical", "technical"]

    figure = spk.plot_variability(fig=Figure(layout="constrained"))
    assert len(figure.axes) == 3
    ax = spk.variability_lightcurve_plot(ax=Figure().add_subplot(), bin_size=1.0)
    assert [patch.get_gid() for patch in ax.patches] == ["flare", "dip", "dip_technical"]
    ax = spk.rms_binning_plot(ax=Figure().add_subplot())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    ax = spk.folded_lightcurve_plot(ax=Figure().add_subplot())
    assert ax.get_title() == f"folded at P = {PERIOD:g} ± {PERIOD_ERROR:.2g} s"
    ax = spk.folded_lightcurve_plot(2.5, ax=Figure().add_subplot(), n_bins=10)
    assert ax.get_title() == "folded at P = 2.5 s"
    with pytest.raises(ParameterError, match="no variability row of visit_index=2"):
        spk.plot_variability(visit_index=2, fig=Figure())

    result = variability_result(spk.model, classes="constant")
    result.variability["period"][:] = np.nan
    store_variability(spk.model, result)
    with pytest.raises(ParameterError, match="has no period .* give period="):
        spk.folded_lightcurve_plot(ax=Figure().add_subplot())
