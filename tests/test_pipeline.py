"""GuideStarPipeline: recovery of injected signals, the three ways to run it, parameter files."""

import asdf
import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from numpy.testing import assert_array_equal

from spelunker import GuideStarModel, GuideStarPipeline, datasets
from spelunker.events import events_table, find_events
from spelunker.fitting import fit_table
from spelunker.io import open_guidestar
from spelunker.periodogram import periodogram_peaks_table, periodogram_table
from spelunker.photometry import binned_scatter, full_frame_flux, lightcurve_table
from spelunker.stpipe import (
    GuideStarEventStep,
    GuideStarFitStep,
    GuideStarVariabilityStep,
    PeriodogramStep,
    PhotometryOptimizeStep,
    parameter_file,
)
from spelunker.plotting import summarize
from spelunker.stpipe.parameters import PARAMETER_FILES
from spelunker.variability import dips_table, flares_table, variability_table

from cli_helpers import STRUN, run_cli

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

WOBBLE_PERIOD = 2.7  # s, centroid wobble along x
FLUX_PERIOD = 5.3  # s, flux modulation


@pytest.fixture(scope="module")
def signal_visit(tmp_path_factory):
    """~27 minutes of a mag-13 star with a centroid wobble and a flux modulation."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("signal_visit"),
        visits=[datasets.VisitSpec(n_frames=30000, n_segments=3, fgs_mag=13.0)],
        signals=[datasets.CentroidWobble(period=WOBBLE_PERIOD, amplitude=0.02, axis="x"),
                 datasets.FluxModulation(period=FLUX_PERIOD, amplitude=0.002)],
        seed=404,
    )


@pytest.fixture(scope="module")
def small_visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("small_pipeline_visit"),
        visits=[datasets.VisitSpec(n_frames=1200, n_segments=2)], seed=405)


@pytest.fixture(scope="module")
def event_product(tmp_path_factory):
    """A pipeline product with events (a tilt, an HGA move), saved and opened again."""
    folder = tmp_path_factory.mktemp("event_product")
    visit = datasets.make_guidestar_files(
        folder, visits=[datasets.VisitSpec(n_frames=2000, n_segments=1)],
        signals=[datasets.PsfWidthStep(time=60.0, factor=1.05),
                 datasets.HgaMove(start=80.0, stop=90.0)], seed=2)
    model = GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    model.save(folder / "product_gspipe.fits")
    return model, open_guidestar(folder / "product_gspipe.fits")


def top_peak(model, series):
    peaks = model.table("periodogram_peaks")
    row = peaks[(peaks["series"] == series) & (peaks["rank"] == 1)]
    assert len(row) == 1, series
    return row[0]


def test_pipeline_recovers_injected_periods(signal_visit):
    model = GuideStarPipeline.call(signal_visit.files, steps={"fit": {"ncpus": 2}})
    assert isinstance(model, GuideStarModel)
    assert np.mean(np.asarray(model.gauss_fit["flags"]) == 0) > 0.99

    wobble = top_peak(model, "x_mean")
    assert wobble["period"].unit == u.s
    assert abs(wobble["period"].to_value(u.s) / WOBBLE_PERIOD - 1) < 1e-3
    assert wobble["false_alarm_probability"] < 1e-3
    flux = top_peak(model, "flux")
    assert abs(flux["period"].to_value(u.s) / FLUX_PERIOD - 1) < 1e-3
    assert flux["false_alarm_probability"] < 1e-3

    # The optimised aperture beats the full-frame sum on binned scatter.
    bin_size = model.meta.spelunker.photometry_bin_size
    seconds = model.frame_seconds()
    optimised = binned_scatter(np.asarray(model.lightcurve["flux"]), seconds, bin_size=bin_size)
    full, _ = full_frame_flux(np.asarray(model.data), np.asarray(model.err))
    assert optimised < binned_scatter(full, seconds, bin_size=bin_size)
    assert model.aperture_mask.sum() < 64


def test_pipeline_call_with_step_overrides_leaves_input_alone(small_visit):
    source = open_guidestar(small_visit.files)
    before = source.data.copy()
    model = GuideStarPipeline.call(
        source, steps={"fit": {"method": "quick"}, "photometry": {"bin_size": 5.0},
                       "periodogram": {"n_peaks": 2}})
    assert model is not source
    assert_array_equal(source.data, before)
    for name in ("quick_fit", "gauss_fit", "lightcurve", "periodogram"):
        assert not source.hasattr(name), name
    assert model.hasattr("quick_fit") and not model.hasattr("gauss_fit")
    assert model.meta.spelunker.photometry_bin_size == 5.0
    assert model.meta.spelunker.periodogram_source == "quick_fit"
    assert set(model.table("periodogram_peaks")["rank"]) == {1, 2}


def test_strun_alias_saves_the_pipeline_and_intermediate_products(small_visit, tmp_path):
    from jwst import datamodels

    result = run_cli(tmp_path, STRUN, "spelunker_pipeline", *small_visit.files,
                     "--steps.fit.method=quick", "--steps.fit.save_results=true")
    assert result.returncode == 0, result.stderr[-3000:]
    stem = small_visit.files[0].name.replace("-seg001_cal.fits", "")
    assert sorted(p.name for p in tmp_path.glob("*.fits")) == [f"{stem}_gsfit.fits",
                                                              f"{stem}_gspipe.fits"]
    with datamodels.open(tmp_path / f"{stem}_gspipe.fits") as model:
        assert isinstance(model, GuideStarModel)
        assert len(model.lightcurve) == len(model.quick_fit) == 1200
        assert len(model.periodogram_peaks) > 0
    assert "fit (quick): " in result.stderr and "periodogram x_mean" in result.stderr


def test_strun_shipped_parameter_file_and_save_parameters_round_trip(small_visit, tmp_path):
    saved = tmp_path / "mine.asdf"
    result = run_cli(tmp_path, STRUN, parameter_file("quicklook"), *small_visit.files,
                     "--steps.photometry.bin_size=7.5", f"--save-parameters={saved}")
    assert result.returncode == 0, result.stderr[-3000:]
    stem = small_visit.files[0].name.replace("-seg001_cal.fits", "")
    assert (tmp_path / f"{stem}_gspipe.fits").exists()

    pipeline = GuideStarPipeline.from_config_file(str(saved))
    assert pipeline.fit.method == "quick"
    assert pipeline.photometry.bin_size == 7.5

    rerun = tmp_path / "rerun"
    rerun.mkdir()
    result = run_cli(rerun, STRUN, saved, *small_visit.files)
    assert result.returncode == 0, result.stderr[-3000:]
    with GuideStarModel(rerun / f"{stem}_gspipe.fits") as model:
        assert model.meta.spelunker.photometry_bin_size == 7.5
        assert model.hasattr("quick_fit")


# Shipped parameter file -> suffix of its product and the tables it must add.
PRODUCTS = {
    "fit": ("gsfit", ["gauss_fit"]),
    "photometry": ("gsphot", ["lightcurve", "aperture_search"]),
    "periodogram": ("gspgram", ["quick_fit", "periodogram", "periodogram_peaks"]),
    "events": ("gsevents", ["quick_fit", "events"]),
    "variability": ("gsvar", ["lightcurve", "quick_fit", "events", "flares", "dips",
                              "variability"]),
    "pipeline": ("gspipe", ["gauss_fit", "lightcurve", "periodogram", "periodogram_peaks",
                            "events", "flares", "dips", "variability"]),
}


@pytest.mark.parametrize("profile", sorted(PRODUCTS))
def test_strun_runs_each_shipped_parameter_file(small_visit, tmp_path, profile):
    suffix, tables = PRODUCTS[profile]
    result = run_cli(tmp_path, STRUN, parameter_file(profile), *small_visit.files)
    assert result.returncode == 0, result.stderr[-3000:]
    stem = small_visit.files[0].name.replace("-seg001_cal.fits", "")
    assert sorted(p.name for p in tmp_path.glob("*.fits")) == [f"{stem}_{suffix}.fits"]
    with GuideStarModel(tmp_path / f"{stem}_{suffix}.fits") as model:
        assert len(model.frames) == 1200
        # The pipeline's product leaves the frames in the input files; a step's keeps them.
        assert model.hasattr("data") == (suffix != "gspipe")
        for name in tables:
            assert model.hasattr(name), (profile, name)


@pytest.mark.parametrize("profile", sorted(PARAMETER_FILES))
def test_shipped_parameter_files_match_the_step_defaults(profile):
    classes = {"fit": GuideStarFitStep, "photometry": PhotometryOptimizeStep,
               "periodogram": PeriodogramStep, "events": GuideStarEventStep,
               "variability": GuideStarVariabilityStep}
    with asdf.open(parameter_file(profile)) as shipped:
        tree = shipped.tree
        expected_class = GuideStarPipeline if profile in ("pipeline", "quicklook") else classes[
            profile]
        assert tree["class"] == f"spelunker.stpipe.{expected_class.__name__}"
        step = expected_class.from_config_file(parameter_file(profile))
        entries = [(step, tree["parameters"])]
        for sub in tree.get("steps", []):
            entries.append((getattr(step, sub["name"]), sub["parameters"]))
        for instance, parameters in entries:
            defaults = type(instance)().get_pars()
            for name, value in parameters.items():
                if profile == "quicklook" and name == "method":
                    assert value == "quick"
                    continue
                assert defaults[name] == value, (profile, name)


def test_summary_says_how_the_aperture_was_chosen(small_visit, tmp_path):
    source = open_guidestar(small_visit.files)
    mask = np.zeros((8, 8), np.uint8)
    mask[3:5, 2:6] = 1
    np.save(tmp_path / "mask.npy", mask)
    user = PhotometryOptimizeStep.call(source, aperture_mask=str(tmp_path / "mask.npy"),
                                       bin_size=5.0)
    lines = [line for line in summarize(user).splitlines() if line.startswith("aperture: ")]
    assert len(lines) == 1
    assert lines[0].startswith("aperture: user aperture of 8 pixels, binned relative scatter")
    assert "brightest" not in lines[0]
    optimized = PhotometryOptimizeStep.call(source, bin_size=5.0)
    lines = [line for line in summarize(optimized).splitlines()
             if line.startswith("aperture: ")]
    n_pixels = int(optimized.aperture_mask.sum())
    assert len(lines) == 1
    assert lines[0].startswith(f"aperture: {n_pixels} brightest pixels, binned relative scatter")


def test_pipeline_report_option_writes_the_visit_report(small_visit, tmp_path):
    GuideStarPipeline.call(small_visit.files, steps={"fit": {"method": "quick"}}, report=True,
                           report_dir=str(tmp_path))
    pages = sorted(tmp_path.glob("*_report.html"))
    assert [p.name for p in pages] == ["jw01534001001_report.html"]
    html = pages[0].read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert len(list(tmp_path.glob("*.png"))) >= 4


def _time_view(stored, added=()):
    """The columns of a result table's function, by the rule of GuideStarModel.table."""
    names = [name[:-len("_mjd")] if name.endswith("_mjd") else name for name in stored.colnames]
    return [*names, *added]


@pytest.mark.parametrize("saved", [False, True], ids=["in memory", "saved"])
def test_model_tables_and_their_functions_agree(event_product, saved):
    """model.table(name) is the stored table; each function differs only as documented."""
    model = event_product[1] if saved else event_product[0]
    views = {
        "quick_fit": (lambda m: fit_table(m, "quick"), ["time"], []),
        "lightcurve": (lightcurve_table, ["time"], ["guidestar_index"]),
        "periodogram": (periodogram_table, [], []),
        "periodogram_peaks": (periodogram_peaks_table, [], []),
        "events": (events_table, [], []),
        "flares": (flares_table, [], []),
        "dips": (dips_table, [], []),
        "variability": (variability_table, [], []),
    }
    for name, (function, before, after) in views.items():
        stored, view = model.table(name), function(model)
        expected = [*before, *_time_view(stored, after)]
        if name == "events":
            expected.insert(expected.index("parameters"), "duration")
        assert view.colnames == expected, name
        assert len(view) == len(stored), name
        for column in stored.colnames:
            if column.endswith("_mjd"):
                assert isinstance(view[column[:-4]], Time), (name, column)
                assert view[column[:-4]].scale == "utc", (name, column)
                assert_array_equal(view[column[:-4]].mjd, np.asarray(stored[column]))
            else:
                assert_array_equal(np.asarray(view[column]), np.asarray(stored[column]))
    events = model.table("events")
    assert {"tilt", "hga_move"} <= set(events["kind"])
    assert "start_mjd" in events.colnames and "start" not in events.colnames
    assert events_table(model).colnames == find_events(event_product[0]).colnames
