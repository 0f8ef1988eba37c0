"""The visit is the unit: reading by visit, cutting models, per-visit products and periodograms."""

import os
import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u
from cli_helpers import STRUN, run_cli
from numpy.testing import assert_allclose, assert_array_equal
from variability_helpers import variability_result

from spelunker import (
    GuideStarFitStep,
    GuideStarModel,
    GuideStarPipeline,
    ParameterError,
    PeriodogramStep,
    datasets,
    read_guidestar,
)
from spelunker.errors import GuideStarInputError
from spelunker.io import open_guidestar, open_visits, read_visits
from spelunker.periodogram import periodogram_groups, periodogram_peaks_table, periodogram_table
from spelunker.stpipe import parameter_file
from spelunker.variability import dips_table, flares_table, store_variability, variability_table
from spelunker.visits import split_visits

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

#: The program: three visits on three guide stars of other brightness and place.
SPECS = (
    dict(observation=1, visit=1, n_frames=1500, n_segments=2, fgs_mag=13.0),
    dict(observation=1, visit=2, n_frames=1200, n_segments=1, fgs_mag=15.5, x_mean=2.7,
         y_mean=4.6),
    dict(observation=2, visit=1, n_frames=1000, n_segments=2, fgs_mag=12.0, x_mean=4.4,
         y_mean=3.0, detector="GUIDER2"),
)
KEYS = [(1534, spec["observation"], spec["visit"]) for spec in SPECS]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("program"),
        visits=[datasets.VisitSpec(**spec) for spec in SPECS],
        signals=[datasets.CentroidWobble(period=2.5, amplitude=0.04, axis="x")],
        seed=1111)


@pytest.fixture(scope="module")
def whole(program):
    return read_guidestar(program.files)


@pytest.fixture(scope="module")
def strun_products(program, tmp_path_factory):
    """strun with the quick-look parameter file on the folder of the program."""
    output = tmp_path_factory.mktemp("program_products")
    result = run_cli(output, STRUN, parameter_file("quicklook"), str(program.files[0].parent),
                     f"--output_dir={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result


def _frames_of(whole, key):
    return np.flatnonzero(whole.frame_visits() == whole.visits().index(key))


# --------------------------------------------------------------------------
# Reading by visit


def test_read_visits_gives_one_model_per_visit_in_time_order(program, whole):
    models = read_visits(program.files)
    assert [model.visits() for model in models] == [[key] for key in KEYS]
    for model, key in zip(models, KEYS, strict=True):
        frames = _frames_of(whole, key)
        assert_array_equal(model.data, np.asarray(whole.data)[frames])
        assert_array_equal(model.frames["mid_time_mjd"], whole.frames["mid_time_mjd"][frames])
        assert len(model.guidestars) == 1 and model.meta.spelunker.n_guidestars == 1
    assert [len(model.files) for model in models] == [2, 1, 2]


def test_open_visits_reads_nothing_until_asked(program):
    visits = open_visits(program.files)
    assert [v.key for v in visits] == KEYS
    assert [v.n_frames for v in visits] == [spec["n_frames"] for spec in SPECS]
    assert visits[0].name.startswith("jw01534001001_gs-fg_") and "-seg" not in visits[0].name
    assert len(visits[1].read().data) == 1200


def test_read_guidestar_one_visit_or_a_clear_error(program, whole):
    model = read_guidestar(program.files, visit=(1534, 1, 2))
    assert model.visits() == [(1534, 1, 2)]
    assert_array_equal(model.data, np.asarray(whole.data)[_frames_of(whole, (1534, 1, 2))])
    assert len(read_guidestar(program.files, visit=("1534", "2", "1")).data) == 1000
    with pytest.raises(ParameterError, match=r"no product of program 1534, observation 3.*"
                                             r"\(1534, 1, 1\), \(1534, 1, 2\), \(1534, 2, 1\)"):
        read_guidestar(program.files, visit=(1534, 3, 1))
    with pytest.raises(ParameterError, match="must be \\(program, observation, visit\\)"):
        read_guidestar(program.files, visit=(1, 2))


def test_open_visits_of_a_model_cuts_it_without_modifying_it(whole):
    visits = open_visits(whole)
    assert [v.key for v in visits] == KEYS
    part = visits[2].read()
    assert part.visits() == [KEYS[2]] and len(part.data) == 1000
    assert len(whole.data) == 3700 and whole.visits() == KEYS


# --------------------------------------------------------------------------
# Cutting a model


def test_select_renumbers_files_and_guide_stars(whole):
    fitted = GuideStarFitStep.call(whole, method="quick")
    frames = np.arange(1400, 2000)  # end of visit 1 and start of visit 2
    part = fitted.select(frames, keep_results=True)
    assert len(part.data) == 600 and part.visits() == KEYS[:2]
    files = part.table("files")
    assert list(files["first_frame"]) == [0, 100]
    assert set(part.frames["file_index"]) == {0, 1}
    assert list(part.table("guidestars")["n_frames"]) == [100, 500]
    assert set(part.pointing_table["file_index"]) == {0, 1}
    assert_array_equal(part.quick_fit["x_mean"], fitted.quick_fit["x_mean"][frames])
    bare = fitted.select(frames)
    assert not bare.hasattr("quick_fit") and bare.meta.spelunker.fit_method is None
    with pytest.raises(ParameterError, match="selects no frame"):
        whole.select(slice(5, 5))
    with pytest.raises(ParameterError, match="is not a selection"):
        whole.select("a")


def test_select_visit_and_its_error(whole):
    part = whole.select_visit(1534, 2, 1)
    assert part.visits() == [(1534, 2, 1)] and part.meta.instrument.detector in (None, "GUIDER2")
    with pytest.raises(ParameterError, match=r"holds no visit program 1534, observation 9"):
        whole.select_visit(1534, 9, 1)


# --------------------------------------------------------------------------
# Periodograms never span visits


def test_periodogram_groups_and_grids_are_per_visit(whole):
    model = PeriodogramStep.call(whole)
    groups = periodogram_groups(model)
    assert [(v, g, len(f)) for v, g, f in groups] == [(0, 0, 1500), (1, 1, 1200), (2, 2, 1000)]
    table = periodogram_table(model)
    seconds = model.frame_seconds()
    for visit_index, _, frames in groups:
        rows = table[table["visit_index"] == visit_index]
        span = seconds[frames].max() - seconds[frames].min()
        # The grid starts at 1 / (that visit's span): bounded by the visit, not the program.
        assert_allclose(rows["frequency"][0].to_value(u.Hz), 1 / span, rtol=1e-6)
    peaks = periodogram_peaks_table(model)
    assert set(peaks["visit_index"]) == {0, 1, 2}
    for visit_index in range(3):
        best = peaks[(peaks["visit_index"] == visit_index) & (peaks["series"] == "x_mean")
                     & (peaks["rank"] == 1)]
        assert abs(best["period"][0].to_value(u.s) - 2.5) < 0.05


# --------------------------------------------------------------------------
# strun on a program: one product per visit


def test_strun_writes_one_product_per_visit(program, strun_products):
    output, result = strun_products
    products = sorted(output.glob("*_gspipe.fits"))
    assert [p.name[:13] for p in products] == ["jw01534001001", "jw01534001002",
                                               "jw01534002001"]
    assert all("-seg" not in p.name and "_gs-fg_" in p.name for p in products)
    assert "3 visits: one product each" in result.stderr
    for path, key, spec in zip(products, KEYS, SPECS, strict=True):
        with GuideStarModel(str(path)) as model:
            assert model.visits() == [key]
            assert len(model.frames) == spec["n_frames"]
            assert set(np.asarray(model.periodogram["visit_index"])) == {0}
            assert not model.hasattr("data")  # the frames stay in the input files
    inputs = sum(os.path.getsize(f) for f in program.files)
    assert sum(p.stat().st_size for p in products) <= inputs


def test_each_visit_gets_the_aperture_of_its_single_visit_run(program, strun_products):
    output, _ = strun_products
    products = sorted(output.glob("*_gspipe.fits"))
    alone = GuideStarPipeline.call(
        [f for f in program.files if "jw01534001002" in f.name],
        config_file=parameter_file("quicklook"))
    with GuideStarModel(str(products[1])) as model:
        assert_array_equal(model.aperture_mask, alone.aperture_mask)
        chosen = np.asarray(model.aperture_search)[np.asarray(model.aperture_search["selected"])
                                                   == 1]
        reference = np.asarray(alone.aperture_search)[
            np.asarray(alone.aperture_search["selected"]) == 1]
        assert_allclose(chosen["binned_scatter"], reference["binned_scatter"], rtol=1e-12)


def test_several_visits_refuse_one_output_file(program, tmp_path):
    with pytest.raises(ParameterError, match="names one product, but the input holds 3 visits"):
        GuideStarPipeline.call(program.files, output_file=str(tmp_path / "one.fits"),
                               steps={"fit": {"method": "quick"}})


def test_python_call_on_a_program_returns_one_model_per_visit(program):
    models = GuideStarPipeline.call(program.files, steps={"fit": {"method": "quick"}})
    assert [m.visits() for m in models] == [[key] for key in KEYS]
    assert all(m.hasattr("data") and m.hasattr("periodogram") for m in models)


# --------------------------------------------------------------------------
# Products a third party reads


def test_astropy_reads_units_and_times_without_spelunker(strun_products):
    output, _ = strun_products
    product = sorted(output.glob("*_gspipe.fits"))[0]
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"
        "from astropy.table import Table\n"
        "path = sys.argv[1]\n"
        "frames = Table.read(path, hdu='FRAMES', astropy_native=True)\n"
        "fit = Table.read(path, hdu='QUICK_FIT')\n"
        "curve = Table.read(path, hdu='LIGHTCURVE')\n"
        "pgram = Table.read(path, hdu='PERIODOGRAM')\n"
        "t = frames['mid_time_mjd']\n"
        "print(type(t).__name__, t.scale, t[0].isot, fit['x_mean'].unit, "
        "curve['flux'].unit, pgram['frequency'].unit, 'spelunker' in sys.modules, sep='|')\n")
    result = subprocess.run([sys.executable, "-c", code, str(product)], capture_output=True,
                            text=True, check=True)
    kind, scale, first, pix, flux, hz, imported = result.stdout.strip().split("|")
    with GuideStarModel(str(product)) as model:
        assert first == model.frame_times[0].isot
    assert (kind, scale, pix, flux, hz, imported) == ("Time", "utc", "pix", "adu / s", "Hz",
                                                      "False")


def test_a_product_without_frames_reopens_for_what_needs_no_pixels(strun_products):
    output, _ = strun_products
    product = str(sorted(output.glob("*_gspipe.fits"))[0])
    model = open_guidestar(product)
    assert not model.hasattr("data") and len(model.frames) == 1500
    again = PeriodogramStep.call(product, n_peaks=2)
    assert set(periodogram_peaks_table(again)["rank"]) == {1, 2}
    with pytest.raises(GuideStarInputError, match="fitting needs the frames"):
        GuideStarFitStep.call(product)


def test_save_frames_keeps_them(program, tmp_path):
    files = [f for f in program.files if "jw01534002001" in f.name]
    GuideStarPipeline.call(files, steps={"fit": {"method": "quick"}}, save_frames=True,
                           save_results=True, output_dir=str(tmp_path))
    (product,) = tmp_path.glob("*_gspipe.fits")
    with GuideStarModel(str(product)) as model:
        assert model.data.shape == (1000, 8, 8)


def test_save_checks_the_path_first_and_leaves_no_partial_file(whole, tmp_path):
    with pytest.raises(ParameterError, match="saved as .fits or .asdf, not '.txt'"):
        whole.save(str(tmp_path / "model.txt"))
    with pytest.raises(ParameterError, match="does not exist or is not writable"):
        whole.save(str(tmp_path / "missing" / "model.fits"))
    (tmp_path / "folder.fits").mkdir()
    with pytest.raises(ParameterError, match="is a folder"):
        whole.save(str(tmp_path / "folder.fits"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.fits"]


def test_strun_on_a_folder_named_relative_to_the_current_directory(program, tmp_path):
    folder = program.files[0].parent
    result = run_cli(folder.parent, STRUN, "spelunker_fit", folder.name, "--method=quick",
                     f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(tmp_path.glob("*_gsfit.fits"))) == 1


def test_split_visits_carries_flares_dips_and_variability_rows(whole):
    model = whole.copy()
    store_variability(model, variability_result(model))
    flares, dips = flares_table(model), dips_table(model)
    for position, part in enumerate(split_visits(model)):
        first = int(_frames_of(model, KEYS[position])[0])
        mine = flares[flares["visit_index"] == position]
        theirs = flares_table(part)
        assert len(theirs) == len(mine) == 1
        assert set(theirs["visit_index"]) == {0}
        # The frame rows count from the visit's first frame and still point at the same time.
        assert theirs["frame_peak"][0] == mine["frame_peak"][0] - first
        assert part.frame_times[theirs["frame_peak"][0]] == theirs["peak"][0]
        assert len(dips_table(part)) == np.count_nonzero(dips["visit_index"] == position) == 2
        rows = variability_table(part)
        assert len(rows) == 1 and rows["guidestar_index"][0] == 0
        assert rows["visit_id"][0] == "jw{:05d}{:03d}{:03d}".format(*KEYS[position])
