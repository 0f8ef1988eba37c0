"""The error policy: wrong arguments to the public API raise only SpelunkerErrors.

Every case is one real call with a wrong type or value (None, text for a
number, a negative size, a boolean, a list for a path, a path that does not
exist, a model without the table a function needs...) and must raise a
`spelunker.errors.SpelunkerError`; a plain ValueError or TypeError from deep
inside numpy or astropy is a failure.  A second test walks every public
callable of every public module with wrong values.

Tiny synthetic inputs, no network (every service call fails on its
arguments before a request), no Dask cluster.
"""

import dataclasses
import enum
import importlib
import inspect
import pkgutil
from collections.abc import Callable

import numpy as np
import pytest
from astropy.table import QTable, Table

import spelunker
from spelunker import (
    GuideStarEventStep,
    GuideStarFitStep,
    GuideStarModel,
    GuideStarPipeline,
    PeriodogramStep,
    PhotometryOptimizeStep,
    barycentric,
    binning,
    changepoints,
    datasets,
    events,
    filetable,
    fitting,
    io,
    names,
    periodogram,
    photometry,
    plotting,
    science,
    survey,
    times,
    visits,
)
from spelunker.archive import catalog, download, engdb, mast, tokens
from spelunker.errors import SpelunkerError
from spelunker.stpipe import parameter_file
from tests.guards import deadline

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

MISSING = "/nonexistent/spelunker/nowhere"


@dataclasses.dataclass
class Inputs:
    """What the cases call with."""

    folder: object  # a writable pathlib.Path
    files: list  # the synthetic visit's products
    model: GuideStarModel  # read, no results
    fitted: GuideStarModel  # with a quick_fit table
    empty: GuideStarModel  # no frames, no tables
    session: object  # spelunker.load() holding ``model``'s visit


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("error_policy")
    visit = datasets.make_guidestar_files(
        folder / "visit", visits=[datasets.VisitSpec(n_frames=60, n_segments=1)], seed=7)
    model = spelunker.read_guidestar(visit.files, progress=False)
    fitted = model.copy()
    fitting.store_fit(fitted, fitting.fit_moments_frames(fitted.data), "quick")
    session = spelunker.load(dir=str(folder / "session"))
    session.readfile(str(visit.files[0]))
    return Inputs(folder=folder, files=list(visit.files), model=model, fitted=fitted,
                  empty=GuideStarModel(), session=session)


@dataclasses.dataclass
class Case:
    """One wrong call: ``call(inputs)`` must raise a SpelunkerError."""

    id: str
    call: Callable


def _frames(n=4):
    return np.zeros((n, 8, 8))


CASES = [
    # --- spelunker.times ---------------------------------------------------------------
    Case("times.as_utc_time-text", lambda i: times.as_utc_time("yesterday")),
    Case("times.as_utc_time-None", lambda i: times.as_utc_time(None)),
    Case("times.as_utc_time-bool", lambda i: times.as_utc_time(True)),
    Case("times.as_utc_time-ragged", lambda i: times.as_utc_time([[1.0], [1.0, 2.0]])),
    Case("barycentric.barycentric_times-target-text",
         lambda i: barycentric.barycentric_times(60000.0, "Vega", observer="geocenter")),
    Case("barycentric.barycentric_times-dec",
         lambda i: barycentric.barycentric_times(60000.0, (10.0, 95.0), observer="geocenter")),
    Case("barycentric.barycentric_times-observer",
         lambda i: barycentric.barycentric_times(60000.0, (10.0, 5.0), observer="moon")),
    Case("barycentric.barycentric_times-observer-list",
         lambda i: barycentric.barycentric_times(60000.0, (10.0, 5.0), observer=[1.0, 2.0, 3.0])),
    Case("barycentric.utc_from_barycentric-iterations",
         lambda i: barycentric.utc_from_barycentric(60000.0, (10.0, 5.0), observer="geocenter",
                                              max_iterations=0)),
    Case("barycentric.utc_from_barycentric-bjd",
         lambda i: barycentric.utc_from_barycentric("soon", (10.0, 5.0), observer="geocenter")),
    Case("barycentric.bjd_from_int_times-None",
         lambda i: barycentric.bjd_from_int_times(60000.0, None)),
    Case("barycentric.Ephemeris-vector",
         lambda i: barycentric.Ephemeris(60000.0, [1.0, 2.0], [1.0, 2.0, 3.0])),
    Case("barycentric.Ephemeris-time",
         lambda i: barycentric.Ephemeris(None, [1.0, 2.0, 3.0], [0, 0, 0])),
    Case("barycentric.Ephemeris.from_header-None",
         lambda i: barycentric.Ephemeris.from_header(None)),
    Case("barycentric.Ephemeris.from_header-missing",
         lambda i: barycentric.Ephemeris.from_header(MISSING + ".fits")),
    # --- spelunker.names ---------------------------------------------------------------
    Case("names.id_number-text", lambda i: names.id_number("1534a", "program")),
    Case("names.id_number-bool", lambda i: names.id_number(True, "visit")),
    Case("names.visit_id-zero", lambda i: names.visit_id(1534, 0, 1)),
    Case("names.parse_visit_id-None", lambda i: names.parse_visit_id(None)),
    Case("names.parse_selection-parts", lambda i: names.parse_selection("1:2:3:4", 3,
                                                                         name="visits")),
    Case("names.check_product_name-path", lambda i: names.check_product_name("../x.fits")),
    Case("names.guider_name_fields-None", lambda i: names.guider_name_fields(None)),
    Case("names.parse_product_name-None", lambda i: names.parse_product_name(None)),
    Case("names.parse_product_name-text", lambda i: names.parse_product_name("notes.fits")),
    Case("names.parse_product_name-stamp",
         lambda i: names.parse_product_name("jw01534001001_gs-fg_2022999013723_cal.fits")),
    Case("names.parse_obs_id-text", lambda i: names.parse_obs_id("V123")),
    Case("filetable.fg_table-None", lambda i: filetable.fg_table(None)),
    Case("filetable.fg_table-obs_ids", lambda i: filetable.fg_table(i.model, obs_ids=["a", "b"])),
    Case("names.strip_segment-None", lambda i: names.strip_segment(None)),
    Case("names.is_fine_guide_cal-None", lambda i: names.is_fine_guide_cal(None)),
    # --- spelunker.events, spelunker.changepoints --------------------------------------------
    Case("events.find_events-None", lambda i: events.find_events(None)),
    Case("events.find_events-gap", lambda i: events.find_events(i.model, gap=-1.0)),
    Case("events.find_events-window", lambda i: events.find_events(i.model, window=0)),
    Case("events.find_events-bin_size", lambda i: events.find_events(i.model, bin_size="1")),
    Case("events.find_events-fit_table",
         lambda i: events.find_events(i.fitted, fit_table="bogus")),
    Case("events.find_events-no-frames", lambda i: events.find_events(i.empty)),
    Case("events.store_events-None", lambda i: events.store_events(i.model.copy(), None)),
    Case("events.events_table-no-table", lambda i: events.events_table(i.model)),
    Case("events.check_kind", lambda i: events.check_kind("TILT")),
    Case("events.guidestar_changes-no-frames", lambda i: events.guidestar_changes(i.empty)),
    Case("events.file_boundaries-None", lambda i: events.file_boundaries(None)),
    Case("events.hga_moves-no-table", lambda i: events.hga_moves(i.empty)),
    Case("events.hga_intervals-None", lambda i: events.hga_intervals(None)),
    Case("events.hga_intervals-columns", lambda i: events.hga_intervals(Table({"t": [1.0]}))),
    Case("events.local_events-kind", lambda i: events.local_events(i.model, 3)),
    Case("changepoints.find_steps-text", lambda i: changepoints.find_steps("abc", [1.0])),
    Case("changepoints.find_steps-length", lambda i: changepoints.find_steps([1.0, 2.0], [1.0])),
    Case("changepoints.find_steps-window",
         lambda i: changepoints.find_steps([1.0, 2.0], [1.0, 2.0], window=-1)),
    Case("changepoints.check_step_options-threshold",
         lambda i: changepoints.check_step_options(1.0, 10, None)),
    # --- spelunker.fitting -------------------------------------------------------------
    Case("fitting.fit_gaussian_frames-None", lambda i: fitting.fit_gaussian_frames(None)),
    Case("fitting.fit_gaussian_frames-ncpus",
         lambda i: fitting.fit_gaussian_frames(_frames(), ncpus="2")),
    Case("fitting.fit_gaussian_frames-chi2_pvalue",
         lambda i: fitting.fit_gaussian_frames(_frames(), chi2_pvalue=True)),
    Case("fitting.fit_moments_frames-ragged",
         lambda i: fitting.fit_moments_frames([[1.0], [1.0, 2.0]])),
    Case("fitting.fit_moments_frames-bad_dq_bits",
         lambda i: fitting.fit_moments_frames(_frames(), bad_dq_bits=-1)),
    Case("fitting.fit_result_table-None", lambda i: fitting.fit_result_table(None)),
    Case("fitting.run_fit-method", lambda i: fitting.run_fit(i.model, "bogus")),
    Case("fitting.run_fit-ncpus", lambda i: fitting.run_fit(i.model, "quick", ncpus=0)),
    Case("fitting.run_fit-no-frames", lambda i: fitting.run_fit(i.empty, "quick")),
    Case("fitting.store_fit-None", lambda i: fitting.store_fit(i.model.copy(), None, "quick")),
    Case("fitting.store_fit-columns", lambda i: fitting.store_fit(i.model.copy(), {}, "quick")),
    Case("fitting.fit_table-method", lambda i: fitting.fit_table(i.fitted, "bogus")),
    Case("fitting.fit_table-no-table", lambda i: fitting.fit_table(i.fitted, "gauss")),
    Case("fitting.ensure_fit_table-fit", lambda i: fitting.ensure_fit_table(i.fitted, 5)),
    Case("fitting.flag_counts-text", lambda i: fitting.flag_counts("abc")),
    Case("fitting.gaussian2d-None",
         lambda i: fitting.gaussian2d(0.0, 0.0, None, 3.5, 3.5, 0.7, 0.6, 0.4, 10.0)),
    Case("fitting.canonical_shape-text", lambda i: fitting.canonical_shape("wide", 0.6, 0.4)),
    # --- spelunker.archive -------------------------------------------------------------
    Case("mast.find_guidestar_products-None", lambda i: mast.find_guidestar_products(None)),
    Case("mast.find_guidestar_products-calib_level",
         lambda i: mast.find_guidestar_products(1534, calib_level=3)),
    Case("mast.find_guidestar_products-timeout",
         lambda i: mast.find_guidestar_products(1534, timeout=-1)),
    Case("mast.find_guidestar_products-retries",
         lambda i: mast.find_guidestar_products(1534, retries="2")),
    Case("mast.find_guidestar_products-server",
         lambda i: mast.find_guidestar_products(1534, server="ftp://example.org")),
    Case("mast.find_guidestar_products-token",
         lambda i: mast.find_guidestar_products(1534, server="http://127.0.0.1:9", token=5)),
    Case("mast.mast_server-url", lambda i: mast.mast_server("mast").__enter__()),
    Case("download.download_products-name",
         lambda i: download.download_products(["../x_cal.fits"], i.folder / "downloads")),
    Case("download.download_products-directory",
         lambda i: download.download_products([i.files[0].name], i.files[0])),
    Case("download.download_products-directory-list",
         lambda i: download.download_products([i.files[0].name], [str(i.folder)])),
    Case("download.download_products-max_workers",
         lambda i: download.download_products([i.files[0].name], i.folder, max_workers=0)),
    Case("download.download_products-progress",
         lambda i: download.download_products([i.files[0].name], i.folder, progress=5)),
    Case("download.cached_products-program", lambda i: download.cached_products(i.folder, "x")),
    Case("download.cached_products-directory", lambda i: download.cached_products(None, 1534)),
    Case("catalog.query_guide_star_catalog-id",
         lambda i: catalog.query_guide_star_catalog("", cache_dir=False)),
    Case("catalog.query_guide_star_catalog-timeout",
         lambda i: catalog.query_guide_star_catalog("S1HP081234", timeout=-1, cache_dir=False)),
    Case("catalog.query_guide_star_catalog-cache_dir",
         lambda i: catalog.query_guide_star_catalog("S1HP081234", cache_dir=5)),
    Case("catalog.parse_catalog_reply-empty",
         lambda i: catalog.parse_catalog_reply("", "S1HP081234")),
    Case("catalog.guide_star_properties-None", lambda i: catalog.guide_star_properties(None)),
    Case("catalog.guide_star_properties-columns",
         lambda i: catalog.guide_star_properties(QTable({"gs_id": ["S1"]}), offline=True)),
    Case("engdb.engdb_service-token", lambda i: engdb.engdb_service(token="")),
    Case("engdb.engdb_service-url",
         lambda i: engdb.engdb_service(token="spk-policy-token", base_url="mast.stsci.edu")),
    Case("engdb.engdb_service-timeout",
         lambda i: engdb.engdb_service(token="spk-policy-token", base_url="http://127.0.0.1:9",
                                       timeout=0)),
    Case("engdb.mnemonics-mnemonic", lambda i: engdb.mnemonics(None, 60000.0, 60000.1)),
    Case("engdb.mnemonics-start", lambda i: engdb.mnemonics("SA_ZHGAUPST", "now", 60000.1)),
    Case("engdb.mnemonics-order", lambda i: engdb.mnemonics("SA_ZHGAUPST", 60000.1, 60000.0)),
    Case("tokens.resolve_token-number", lambda i: tokens.resolve_token(1234)),
    # --- spelunker.stpipe ---------------------------------------------------------------
    Case("stpipe.parameter_file-profile", lambda i: parameter_file("fast")),
    Case("GuideStarFitStep.call-method", lambda i: GuideStarFitStep.call(i.model, method="x")),
    Case("GuideStarFitStep.call-ncpus", lambda i: GuideStarFitStep.call(i.model, ncpus=-1)),
    Case("GuideStarFitStep.call-input", lambda i: GuideStarFitStep.call(MISSING + ".fits")),
    Case("PhotometryOptimizeStep.call-bin_size",
         lambda i: PhotometryOptimizeStep.call(i.fitted, bin_size=-1.0)),
    Case("PhotometryOptimizeStep.call-aperture_mask",
         lambda i: PhotometryOptimizeStep.call(i.fitted, aperture_mask=MISSING + ".npy")),
    Case("PeriodogramStep.call-samples_per_peak",
         lambda i: PeriodogramStep.call(i.fitted, samples_per_peak=0.5)),
    Case("PeriodogramStep.call-engine", lambda i: PeriodogramStep.call(i.fitted, engine="x")),
    Case("GuideStarEventStep.call-window", lambda i: GuideStarEventStep.call(i.fitted, window=0)),
    Case("GuideStarEventStep.call-gap", lambda i: GuideStarEventStep.call(i.fitted, gap=-1.0)),
    Case("GuideStarPipeline.call-steps",
         lambda i: GuideStarPipeline.call(i.model, steps={"fit": {"method": "x"}})),
    # --- spelunker top level, io, visits, binning -------------------------------------------
    Case("read_guidestar-None", lambda i: spelunker.read_guidestar(None)),
    Case("read_guidestar-number", lambda i: spelunker.read_guidestar(12)),
    Case("read_guidestar-missing", lambda i: spelunker.read_guidestar(MISSING + ".fits")),
    Case("read_guidestar-empty-list", lambda i: spelunker.read_guidestar([])),
    Case("read_guidestar-visit", lambda i: spelunker.read_guidestar(i.files, visit="x")),
    Case("GuideStarModel.fit_table_name", lambda i: i.fitted.fit_table_name("bogus")),
    Case("io.read_visits-None", lambda i: io.read_visits(None)),
    Case("io.open_guidestar-missing", lambda i: io.open_guidestar(MISSING + ".fits")),
    Case("io.frame_mid_times-frames",
         lambda i: io.frame_mid_times(60000.0, 60000.1, -5)),
    Case("io.expand_glob-None", lambda i: io.expand_glob(None)),
    Case("io.open_complete_fits-missing", lambda i: io.open_complete_fits(MISSING + ".fits")),
    Case("visits.split_visits-None", lambda i: visits.split_visits(None)),
    Case("binning.time_bin_index-size", lambda i: binning.time_bin_index([0.0, 1.0], -1.0)),
    Case("binning.bin_series-text", lambda i: binning.bin_series("abc", [1.0], 1.0)),
    # --- spelunker.photometry ------------------------------------------------------------
    Case("photometry.optimize_aperture-None",
         lambda i: photometry.optimize_aperture(None, times=[0.0])),
    Case("photometry.optimize_aperture-bin_size",
         lambda i: photometry.optimize_aperture(_frames(), times=np.arange(4.0), bin_size=-1)),
    Case("photometry.aperture_flux-mask",
         lambda i: photometry.aperture_flux(_frames(), mask="all")),
    Case("photometry.full_frame_flux-text", lambda i: photometry.full_frame_flux("abc")),
    Case("photometry.usable_pixels-shape", lambda i: photometry.usable_pixels(None)),
    Case("photometry.binned_scatter-bin_size",
         lambda i: photometry.binned_scatter(np.ones(4), np.arange(4.0), bin_size=0)),
    Case("photometry.run_photometry-None", lambda i: photometry.run_photometry(None)),
    Case("photometry.read_aperture_mask-missing",
         lambda i: photometry.read_aperture_mask(MISSING + ".npy")),
    Case("photometry.read_aperture_mask-list", lambda i: photometry.read_aperture_mask(["m"])),
    Case("photometry.store_photometry-None",
         lambda i: photometry.store_photometry(i.model.copy(), None)),
    Case("photometry.lightcurve_table-no-table", lambda i: photometry.lightcurve_table(i.model)),
    # --- spelunker.periodogram -------------------------------------------------------------
    Case("periodogram.frequency_grid-samples",
         lambda i: periodogram.frequency_grid(np.arange(10.0), samples_per_peak=-1)),
    Case("periodogram.frequency_grid-text", lambda i: periodogram.frequency_grid("abc")),
    Case("periodogram.lomb_scargle-n_peaks",
         lambda i: periodogram.lomb_scargle(np.arange(10.0), np.ones(10), n_peaks=-1)),
    Case("periodogram.lomb_scargle-engine",
         lambda i: periodogram.lomb_scargle(np.arange(10.0), np.ones(10), engine="x")),
    Case("periodogram.find_peaks-text", lambda i: periodogram.find_peaks("abc")),
    Case("periodogram.series_from_model-None", lambda i: periodogram.series_from_model(None)),
    Case("periodogram.periodogram_table-no-table",
         lambda i: periodogram.periodogram_table(i.model)),
    Case("periodogram.periodogram_peaks_table-no-table",
         lambda i: periodogram.periodogram_peaks_table(i.model)),
    Case("periodogram.run_periodogram-samples",
         lambda i: periodogram.run_periodogram(i.fitted, samples_per_peak="many")),
    Case("periodogram.periodogram_groups-None", lambda i: periodogram.periodogram_groups(None)),
    # --- spelunker.science -------------------------------------------------------------
    Case("science.integration_times-None", lambda i: science.integration_times(None)),
    Case("science.integration_times-missing",
         lambda i: science.integration_times(MISSING + ".fits")),
    Case("science.bin_to_integrations-None", lambda i: science.bin_to_integrations(i.model, None)),
    Case("science.design_matrix-None", lambda i: science.design_matrix(None)),
    Case("science.frame_times_bjd-None", lambda i: science.frame_times_bjd(None)),
    Case("science.guidestar_series-None", lambda i: science.guidestar_series(None)),
    Case("science.science_light_curve-missing",
         lambda i: science.science_light_curve(MISSING + ".fits")),
    Case("science.to_timeseries-None", lambda i: science.to_timeseries(None)),
    Case("science.write_table-None", lambda i: science.write_table(None, i.folder / "t.ecsv")),
    # --- spelunker.datasets --------------------------------------------------------------
    Case("datasets.simulate_frames-negative", lambda i: datasets.simulate_frames(-1)),
    Case("datasets.simulate_frames-text", lambda i: datasets.simulate_frames("ten")),
    Case("datasets.countrate_from_magnitude-text",
         lambda i: datasets.countrate_from_magnitude("bright")),
    Case("datasets.make_guidestar_files-directory",
         lambda i: datasets.make_guidestar_files(None)),
    Case("datasets.make_guidestar_files-seed",
         lambda i: datasets.make_guidestar_files(i.folder / "x", seed="seven")),
    Case("datasets.VisitSpec-frames", lambda i: datasets.VisitSpec(n_frames=-5)),
    Case("datasets.make_science_product-visit",
         lambda i: datasets.make_science_product(i.folder / "s", None)),
    # --- spelunker.plotting --------------------------------------------------------------
    Case("plotting.timeseries_binned_plot-None", lambda i: plotting.timeseries_binned_plot(None)),
    Case("plotting.timeseries_binned_plot-bin_size",
         lambda i: plotting.timeseries_binned_plot(i.fitted, bin_size=-1)),
    Case("plotting.timeseries_list_plot-fit",
         lambda i: plotting.timeseries_list_plot(i.fitted, fit="bogus")),
    Case("plotting.periodogram_plot-no-table", lambda i: plotting.periodogram_plot(i.model)),
    Case("plotting.frame_plot-index", lambda i: plotting.frame_plot(i.model, index=10**6)),
    Case("plotting.position_plot-no-fit", lambda i: plotting.position_plot(i.model)),
    Case("plotting.flux_spatial_timelapse_animation-filename",
         lambda i: plotting.flux_spatial_timelapse_animation(i.model, 0, 5,
                                                             MISSING + "/movie.gif")),
    Case("plotting.write_visit_report-None",
         lambda i: plotting.write_visit_report(None, i.folder / "report")),
    Case("plotting.summarize-None", lambda i: plotting.summarize(None)),
    Case("plotting.write_report_index-entries",
         lambda i: plotting.write_report_index(None, i.folder / "index")),
    Case("plotting.plot_mnemonic-table", lambda i: plotting.plot_mnemonic(None, None)),
    # --- spelunker.survey ------------------------------------------------------------------
    Case("survey.plan_survey-programs", lambda i: survey.plan_survey(programs=["x"])),
    Case("survey.plan_survey-input_dir", lambda i: survey.plan_survey(input_dir=MISSING)),
    Case("survey.plan_survey-nothing", lambda i: survey.plan_survey()),
    Case("survey.run_survey-output",
         lambda i: survey.run_survey(i.files[0], input_dir=i.folder / "visit")),
    Case("survey.visit_summary-None", lambda i: survey.visit_summary(None)),
    # --- the notebook session ------------------------------------------------------------
    Case("load-pid", lambda i: spelunker.load(dir=str(i.folder / "s2"), pid="abc")),
    Case("load-calib_level", lambda i: spelunker.load(dir=str(i.folder / "s3"), pid=1534,
                                                      calib_level=3)),
    Case("Spelunker.find_events-gap", lambda i: i.session.find_events(gap=-1.0)),
    Case("Spelunker.select-start", lambda i: i.session.select(start="yesterday")),
    Case("Spelunker.quick_fit-ncpus", lambda i: i.session.quick_fit(ncpus=0)),
    Case("Spelunker.periodogram-samples",
         lambda i: i.session.periodogram(samples_per_peak=-1, plot=False)),
    Case("Spelunker.mnemonics-mnemonic", lambda i: i.session.mnemonics("", 0, 1, plot=False)),
    Case("Spelunker.mnemonics_local-kind", lambda i: i.session.mnemonics_local("X", plot=False)),
    Case("Spelunker.readfile-missing", lambda i: i.session.readfile(MISSING + ".fits")),
    Case("Spelunker.select_visit-number", lambda i: i.session.select_visit("one", 1)),
]

@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_wrong_arguments_raise_spelunker_errors(inputs, case):
    with pytest.raises(SpelunkerError):
        case.call(inputs)


def test_cases_are_named_once():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


# --- every public callable, wrong values in every required argument ------------------------

#: Entry points that read sys.argv or start a whole run (covered by their own tests).
_NOT_WALKED = {"spelunker.survey.cli.main", "spelunker.demo.main", "spelunker.jitter.main"}

#: Wrong values given to every required positional argument at once.
_WRONG_VALUES = [None, "x", -5, object()]


def _public_callables():
    """(qualified name, callable) of every public module's ``__all__``, each once."""
    found = {}
    for info in pkgutil.walk_packages(spelunker.__path__, "spelunker."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if not callable(obj) or (isinstance(obj, type) and issubclass(
                    obj, (BaseException, enum.Enum))):
                continue
            qualified = f"{obj.__module__}.{obj.__qualname__}"
            if qualified.startswith("spelunker.") and qualified not in _NOT_WALKED:
                found.setdefault(qualified, obj)
    return sorted(found.items())


_PUBLIC = _public_callables()


def _positional(obj):
    """(required positional, optional positional, required keyword-only names), or None."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in signature.parameters.values() if p.kind in kinds]
    required = sum(1 for p in positional if p.default is p.empty)
    keywords = [p.name for p in signature.parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty]
    return required, len(positional) - required, keywords


#: What the offline fixture raises when a call reaches for the network: a value that
#: looked usable (e.g. a guide-star id) went on to the service, as it should.
_NETWORK = "network access or CRDS query attempted"


def _walkable(obj):
    """Whether `obj` takes an argument to walk (a positional or a required keyword)."""
    counts = _positional(obj)
    return counts is not None and (counts[:2] != (0, 0) or bool(counts[2]))


#: The public callables with an argument to walk; the others (no argument at all, or no
#: readable signature) are left out at collection instead of skipped one by one.
_WALKED = [(name, obj) for name, obj in _PUBLIC if _walkable(obj)]


def test_callables_left_out_of_the_walk_take_no_argument():
    left_out = [name for name, obj in _PUBLIC if (name, obj) not in _WALKED]
    assert len(_WALKED) > 100 and len(left_out) < len(_PUBLIC) // 5
    for name, obj in _PUBLIC:
        if name in left_out:
            counts = _positional(obj)
            assert counts is None or (counts[:2] == (0, 0) and not counts[2]), name


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("name", "obj"), _WALKED, ids=[name for name, _ in _WALKED])
def test_every_public_callable_refuses_wrong_values_with_spelunker_errors(name, obj):
    """Each wrong value in every required argument (or, for a function without one, in
    its first optional one, None excepted: it means the default) gives a SpelunkerError
    or a result, never another exception."""
    required, _, keywords = _positional(obj)
    n_args = required or (0 if keywords else 1)
    values = _WRONG_VALUES if required or keywords else _WRONG_VALUES[1:]
    escaped = []
    for value in values:
        try:
            with deadline(30):
                obj(*[value] * n_args, **dict.fromkeys(keywords, value))
        except SpelunkerError:
            continue
        except AssertionError as exc:
            if _NETWORK not in str(exc):
                raise
        except Exception as exc:  # noqa: BLE001 - the test is that nothing else escapes
            escaped.append(f"{value!r:.20}: {type(exc).__name__}: {str(exc)[:120]}")
    assert not escaped, f"{name} let non-spelunker errors through:\n" + "\n".join(escaped)
