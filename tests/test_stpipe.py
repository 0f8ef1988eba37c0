"""stpipe plumbing: entry points, aliases, loggers, strun, and no CRDS or network."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import stpipe
from numpy.testing import assert_array_equal
from stpipe import entry_points, utilities

from spelunker import GuideStarModel, datasets
from spelunker.stpipe import GuideStarFitStep, SpelunkerPipeline, SpelunkerStep
from spelunker.stpipe.integration import get_steps

from cli_helpers import STPIPE, STRUN, offline_env, run_cli  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_network_no_crds")


@pytest.fixture(scope="module")
def small_visit(tmp_path_factory):
    """Two segment files of 300 frames (read-only)."""
    directory = tmp_path_factory.mktemp("small_visit")
    return datasets.make_guidestar_files(
        directory, visits=[datasets.VisitSpec(n_frames=300, n_segments=2)], seed=21)


# --------------------------------------------------------------------------
# Entry point and aliases


def test_get_steps_matches_the_classes():
    steps = get_steps()
    assert steps, "get_steps() lists no step"
    aliases = [alias for _, alias, _ in steps]
    assert len(set(aliases)) == len(aliases)
    for class_name, alias, is_pipeline in steps:
        step_class = utilities.import_class(class_name)
        assert issubclass(step_class, SpelunkerStep), class_name
        assert step_class.class_alias == alias, class_name
        assert alias.startswith("spelunker_"), alias
        assert issubclass(step_class, stpipe.Pipeline) == is_pipeline, class_name
        assert f"{step_class.__module__}.{step_class.__name__}".startswith("spelunker.")
        assert utilities.resolve_step_class_alias(alias) == class_name


def test_every_spelunker_step_class_is_registered():
    import spelunker.stpipe as package

    registered = {class_name.rsplit(".", 1)[1] for class_name, _, _ in get_steps()}
    exported = {name for name in package.__all__
                if isinstance(getattr(package, name), type)
                and issubclass(getattr(package, name), SpelunkerStep)
                and getattr(package, name).class_alias}
    assert exported == registered


def test_entry_point_is_installed_and_loads_without_warning(recwarn):
    infos = [s for s in entry_points.get_steps() if s.package_name == "spelunker"]
    assert not [w for w in recwarn if "stpipe.steps" in str(w.message)]
    assert [(s.class_name, s.class_alias, s.is_pipeline) for s in infos] == get_steps()


def test_stpipe_list_shows_the_aliases(tmp_path):
    result = run_cli(tmp_path, STPIPE, "list")
    assert result.returncode == 0, result.stderr
    for class_name, alias, _ in get_steps():
        assert f"{class_name} ({alias})" in result.stdout
    assert "failed to load" not in result.stderr


# --------------------------------------------------------------------------
# Base-class behaviour


def test_loggers_include_spelunker():
    loggers = SpelunkerStep.get_stpipe_loggers()
    assert "spelunker" in loggers
    assert "stpipe" in loggers
    assert GuideStarFitStep.get_stpipe_loggers() == loggers


def test_config_from_reference_is_empty_even_when_crds_steppars_enabled(monkeypatch,
                                                                       small_visit):
    monkeypatch.delenv("STPIPE_DISABLE_CRDS_STEPPARS", raising=False)
    config = GuideStarFitStep.get_config_from_reference(str(small_visit.files[0]))
    assert dict(config) == {}
    config = GuideStarFitStep.get_config_from_reference({"meta.instrument.name": "FGS"},
                                                        disable=False, crds_observatory="jwst")
    assert dict(config) == {}


class _FitTwicePipeline(SpelunkerPipeline):
    """Test pipeline: a quick fit and a Gaussian fit of the same frames."""

    class_alias = "spelunker_test_fit_twice"
    step_defs = {"quick": GuideStarFitStep, "gauss": GuideStarFitStep}

    def process(self, input_data):
        model = self.open_input(input_data)
        model = self.quick.run(model)
        return self.gauss.run(model)


def test_pipeline_runs_without_crds(monkeypatch, small_visit):
    monkeypatch.delenv("STPIPE_DISABLE_CRDS_STEPPARS", raising=False)
    config = _FitTwicePipeline.get_config_from_reference(small_visit.files[0])
    assert dict(config) == {"steps": {}}
    model = _FitTwicePipeline.call(
        small_visit.files, steps={"quick": {"method": "quick"}, "gauss": {"method": "gauss"}})
    assert isinstance(model, GuideStarModel)
    assert len(model.quick_fit) == len(model.gauss_fit) == 300
    assert model.meta.spelunker.fit_method == "gauss"


def test_pipeline_steps_share_one_copy_of_the_callers_model(small_visit):
    from spelunker.io import open_guidestar

    model = open_guidestar(small_visit.files, progress=False)
    result = _FitTwicePipeline.call(model, steps={"quick": {"method": "quick"}})
    assert result is not model
    assert not model.hasattr("quick_fit") and not model.hasattr("gauss_fit")
    assert result.hasattr("quick_fit") and result.hasattr("gauss_fit")


def test_datamodels_open_reads_guider_products_and_saved_models(small_visit, tmp_path):
    model = SpelunkerStep._datamodels_open(str(small_visit.files[0]), asn_n_members=1)
    assert isinstance(model, GuideStarModel)
    assert len(model.data) == 150
    path = tmp_path / "visit_guidestar.fits"
    model.save(path)
    with SpelunkerStep._datamodels_open(path) as reopened:
        assert isinstance(reopened, GuideStarModel)
        assert_array_equal(reopened.data, model.data)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("jw01534001001_gs-fg_2022338013544-seg001_cal",
         "jw01534001001_gs-fg_2022338013544-seg001"),
        ("visit_gsfit", "visit"),
        ("visit", "visit"),
        ("gsfit", "gsfit"),
    ],
)
def test_remove_suffix_knows_jwst_and_spelunker_suffixes(name, expected):
    assert GuideStarFitStep().remove_suffix(name)[0] == expected


def test_output_named_after_first_file_of_a_list_glob_or_folder(small_visit, tmp_path):
    # Several segments: the first file's name without its -segNNN.
    first = small_visit.files[0].name
    assert "-seg001_" in first
    expected = first.replace("-seg001_cal.fits", "_gsfit.fits")
    inputs = {
        "list": [Path(p) for p in small_visit.files],
        "glob": str(small_visit.files[0].parent / "*_cal.fits"),
        "folder": str(small_visit.files[0].parent),
    }
    for kind, value in inputs.items():
        step = GuideStarFitStep(output_dir=str(tmp_path / kind), method="quick",
                                save_results=True)
        step.run(value)
        assert [p.name for p in (tmp_path / kind).iterdir()] == [expected], kind
    # One segment: named after it, segment kept.
    step = GuideStarFitStep(output_dir=str(tmp_path / "one"), method="quick", save_results=True)
    step.run([small_visit.files[0]])
    assert [p.name for p in (tmp_path / "one").iterdir()] == [
        first.replace("_cal.fits", "_gsfit.fits")]


# --------------------------------------------------------------------------
# strun


def test_strun_fits_a_guider_file_offline(small_visit, tmp_path):
    from jwst import datamodels

    source = small_visit.files[0]
    result = run_cli(tmp_path, STRUN, "spelunker_fit", source)
    assert result.returncode == 0, result.stderr[-3000:]
    output = tmp_path / source.name.replace("_cal.fits", "_gsfit.fits")
    assert output.exists(), sorted(p.name for p in tmp_path.iterdir())
    with datamodels.open(output) as model:
        assert isinstance(model, GuideStarModel)
        assert len(model.gauss_fit) == len(model.data) == 150
        assert model.meta.spelunker.fit_method == "gauss"
        assert model.meta.spelunker.fit_status == "COMPLETE"
        assert np.count_nonzero(model.gauss_fit["flags"] == 0) > 140
    # module loggers of the package show under strun
    assert "spelunker.io.reader - INFO - read 150 frames" in result.stderr
    assert "spelunker.stpipe.guide_star_fit_step - INFO - gauss fit: 150 frames" in result.stderr
    assert "CRDS" not in result.stderr.replace("CRDS_", "")


def test_strun_on_a_saved_model_with_options_and_config_file(small_visit, tmp_path):
    from jwst import datamodels

    from spelunker.io import open_guidestar

    saved = tmp_path / "visit_guidestar.fits"
    open_guidestar(small_visit.files, progress=False).save(saved)
    config = tmp_path / "quick.asdf"
    GuideStarFitStep(method="quick").export_config(config)

    result = run_cli(tmp_path, STRUN, config, saved.name, "--bad_dq_bits=DO_NOT_USE+HOT",
                     "--output_dir=out")
    assert result.returncode == 0, result.stderr[-3000:]
    output = tmp_path / "out" / "visit_guidestar_gsfit.fits"
    with datamodels.open(output) as model:
        assert isinstance(model, GuideStarModel)
        assert len(model.quick_fit) == 300
        assert not model.hasattr("gauss_fit")
        assert model.meta.spelunker.fit_method == "quick"

    # Running again on the output replaces the suffix rather than adding one.
    result = run_cli(tmp_path, STRUN, "spelunker_fit", output, "--ncpus=2", "--output_dir=out",
                     steppars_disabled=True)
    assert result.returncode == 0, result.stderr[-3000:]
    with datamodels.open(output) as model:
        assert model.hasattr("quick_fit") and model.hasattr("gauss_fit")
        assert model.meta.spelunker.fit_ncpus in (1, 2)


def test_strun_help_lists_every_parameter(tmp_path):
    result = run_cli(tmp_path, STRUN, "spelunker_fit", "--help")
    assert result.returncode == 0, result.stderr
    spec = GuideStarFitStep.load_spec_file()
    for key in spec:
        assert f"--{key}" in result.stdout, key
    own = stpipe.config_parser.load_spec_file(GuideStarFitStep)
    for key in own:
        comment = own.inline_comments[key].lstrip("#").strip()
        assert comment, f"spec parameter {key} has no comment"
        first_words = " ".join(comment.split()[:3])
        assert first_words in " ".join(result.stdout.split()), key


def test_importing_the_steps_loads_neither_kernels_nor_figures_nor_run_time_libraries():
    """strun's alias lookup (``strun <alias> --help`` too) imports spelunker.stpipe.

    It must not load numba (the kernels compile on first call), matplotlib
    (the report imports it), nor the libraries that only a run uses, each
    imported in the function that needs it: nifty_ls and astropy.timeseries
    (periodograms), tqdm (progress bars).
    """
    deferred = ["numba", "matplotlib", "nifty_ls", "astropy.timeseries", "tqdm"]
    probe = ("import sys, spelunker.stpipe; "
             f"print(sorted(name for name in {deferred!r} if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_strun_reports_bad_parameters_and_inputs(small_visit, tmp_path):
    result = run_cli(tmp_path, STRUN, "spelunker_fit", small_visit.files[0], "--method=bogus")
    assert result.returncode != 0
    assert "method" in result.stdout + result.stderr
    assert "bogus" in result.stdout + result.stderr

    result = run_cli(tmp_path, STRUN, "spelunker_fit", tmp_path / "missing_cal.fits")
    assert result.returncode != 0
    assert "missing_cal.fits: no such file" in result.stdout + result.stderr


def test_strun_save_parameters_round_trip(small_visit, tmp_path):
    pars = tmp_path / "pars.asdf"
    result = run_cli(tmp_path, STRUN, "spelunker_fit", small_visit.files[0], "--method=quick",
                     "--max_iterations=7", f"--save-parameters={pars}")
    assert result.returncode == 0, result.stderr[-3000:]
    step = GuideStarFitStep.from_config_file(str(pars))
    assert isinstance(step, GuideStarFitStep)
    assert (step.method, step.max_iterations) == ("quick", 7)


def test_network_guard_catches_connections(tmp_path):
    """The subprocess guard used above really does see a connection attempt."""
    script = tmp_path / "connect.py"
    script.write_text(textwrap.dedent("""
        import socket
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        except OSError:
            pass
    """))
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=offline_env(tmp_path),
                   check=True, timeout=60)
    assert (tmp_path / "network_attempts.txt").exists()
