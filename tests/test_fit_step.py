"""GuideStarFitStep: inputs, results against truth, parameters, and the caller's model."""

import copy
import json
import logging
import re
import shutil
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from numpy.testing import assert_allclose, assert_array_equal
from stdatamodels.jwst.datamodels import dqflags
from stpipe.exceptions import ValidationError

from spelunker import GuideStarFitStep, GuideStarModel, datasets
from spelunker._validate import available_cpus
from spelunker.fitting import FitFlag, fit_moments_frames
from spelunker.io import open_guidestar
from spelunker._validate import parse_dq_bits
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.fitting import fit_table, store_fit

FIT_COLUMNS = (
    "amplitude", "x_mean", "y_mean", "x_stddev", "y_stddev", "theta", "offset",
    "amplitude_err", "x_mean_err", "y_mean_err", "x_stddev_err", "y_stddev_err", "theta_err",
    "offset_err", "chi2", "dof", "iterations", "flags",
)


pytestmark = pytest.mark.usefixtures("no_network_no_crds")


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    """600 frames in 2 segments with 2 all-NaN frames and an edge star (read-only)."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("fit_visit"),
        visits=[datasets.VisitSpec(n_frames=600, n_segments=2)],
        signals=[datasets.NanFrames(indices=[10, 400]),
                 datasets.EdgeStar(indices=[200, 201], x_mean=8.6)],
        seed=31,
    )


@pytest.fixture(scope="module")
def frames(visit):
    """The visit read once (read-only: tests copy it through the step)."""
    return open_guidestar(visit.files, progress=False)


def truth_of(visit, name):
    """A truth column as plain numbers (pix, rad, DN/s)."""
    return np.asarray(visit.truth[name].value)


def snapshot(model):
    """Everything a step could change on a GuideStarModel."""
    state = {"meta": copy.deepcopy(model.meta.instance)}
    for name in ("data", "err", "dq"):
        state[name] = np.array(getattr(model, name)) if model.hasattr(name) else None
    for name in ("frames", "files", "guidestars", "pointing_table", "centroid_table",
                 "gauss_fit", "quick_fit"):
        state[name] = table_copy(getattr(model, name)) if model.hasattr(name) else None
    return state


def table_copy(table):
    """Columns of a structured array or FITS_rec, read through field access.

    ``numpy.asarray`` of a FITS_rec that has been written returns its raw
    storage, where uint32 columns carry the FITS TZERO offset of 2**31.
    """
    return {column: np.array(table[column]) for column in table.dtype.names}


def assert_tables_equal(actual, desired, name="table"):
    """Tables equal column by column (NaN equals NaN); dicts from `table_copy` or arrays."""
    if not isinstance(actual, dict):
        actual = table_copy(actual)
    if not isinstance(desired, dict):
        desired = table_copy(desired)
    assert list(actual) == list(desired), name
    for column in desired:
        assert_array_equal(actual[column], desired[column], err_msg=f"{name}.{column}")


def assert_same(before, after):
    assert before.keys() == after.keys()
    assert before["meta"] == after["meta"]
    for name in before:
        if name == "meta":
            continue
        if before[name] is None:
            assert after[name] is None, name
        elif isinstance(before[name], dict):
            assert_tables_equal(after[name], before[name], name)
        else:
            assert_array_equal(after[name], before[name], err_msg=name)


# --------------------------------------------------------------------------
# Inputs and results


def test_quick_fit_of_a_model_leaves_the_model_unmodified(frames, visit):
    before = snapshot(frames)
    result = GuideStarFitStep.call(frames, method="quick")
    assert_same(before, snapshot(frames))
    assert result is not frames
    assert not np.shares_memory(result.data, frames.data)
    assert isinstance(result, GuideStarModel)
    assert result.hasattr("quick_fit") and not result.hasattr("gauss_fit")
    table = result.table("quick_fit")
    assert table["x_mean"].unit == u.pix and table["amplitude"].unit == u.DN / u.s
    assert table["theta_err"].unit == u.rad
    assert table.colnames == list(FIT_COLUMNS)
    assert len(table) == 600
    clean = table["flags"] == 0
    assert clean.sum() >= 590
    assert_allclose(table["x_mean"][clean].to_value(u.pix), truth_of(visit, "x_mean")[clean],
                    atol=0.1)
    assert result.meta.spelunker.fit_method == "quick"
    assert result.meta.spelunker.fit_status == "COMPLETE"
    assert result.meta.spelunker.fit_n_flagged == int((~clean).sum())


def test_gauss_fit_of_files_matches_truth_and_flags_bad_frames(visit):
    result = GuideStarFitStep.call(visit.files)
    table = result.table("gauss_fit")
    assert len(table) == 600
    assert result.meta.spelunker.fit_method == "gauss"
    assert result.meta.spelunker.fit_ncpus == available_cpus()   # the default: every CPU
    flags = np.asarray(table["flags"])
    for index in (10, 400, 200, 201):
        assert flags[index] != 0, index
    assert flags[10] & FitFlag.TOO_FEW_PIXELS
    assert flags[200] & FitFlag.EDGE
    clean = flags == 0
    assert clean.sum() >= 590
    assert_allclose(table["x_mean"][clean].to_value(u.pix), truth_of(visit, "x_mean")[clean],
                    atol=0.02)
    assert_allclose(table["y_mean"][clean].to_value(u.pix), truth_of(visit, "y_mean")[clean],
                    atol=0.02)
    assert_allclose(table["x_stddev"][clean].to_value(u.pix),
                    truth_of(visit, "x_stddev")[clean], rtol=0.05)
    assert np.all(np.isfinite(table["x_mean_err"][clean]))
    assert result.meta.spelunker.fit_n_flagged == int((~clean).sum())


def test_gauss_fit_of_an_association_file(visit, tmp_path):
    """A guider association JSON (members relative to it) gives the visit's fit."""
    directory = tmp_path / "visit"
    directory.mkdir()
    for path in visit.files:
        shutil.copy(path, directory / Path(path).name)
    asn = {"asn_type": "guider", "asn_id": "a3001", "products": [
        {"name": "visit", "members": [{"expname": Path(path).name, "exptype": "science"}
                                      for path in visit.files]}]}
    asn_path = directory / "visit_asn.json"
    asn_path.write_text(json.dumps(asn))
    from_asn = GuideStarFitStep.call(str(asn_path))
    from_files = GuideStarFitStep.call(visit.files)
    assert isinstance(from_asn, GuideStarModel)
    assert len(from_asn.gauss_fit) == 600
    assert_tables_equal(from_asn.gauss_fit, from_files.gauss_fit)
    assert_array_equal(from_asn.frames["mid_time_mjd"], from_files.frames["mid_time_mjd"])
    assert from_asn.meta.spelunker.fit_method == "gauss"
    flags = np.asarray(from_asn.gauss_fit["flags"])
    assert flags[10] & FitFlag.TOO_FEW_PIXELS and flags[200] & FitFlag.EDGE
    clean = flags == 0
    assert_allclose(np.asarray(from_asn.gauss_fit["x_mean"])[clean],
                    truth_of(visit, "x_mean")[clean], atol=0.02)


def test_gauss_fit_table_has_times_and_units(frames, visit):
    result = GuideStarFitStep.call(frames, method="gauss")
    table = fit_table(result, "gauss")
    assert table.colnames == ["time", *FIT_COLUMNS]
    assert isinstance(table["time"], Time) and table["time"].scale == "utc"
    assert_allclose((table["time"] - visit.truth["time"]).to_value(u.s), 0.0, atol=1e-3)
    assert np.all(np.diff(table["time"].mjd) > 0)
    units = {"amplitude": u.DN / u.s, "offset": u.DN / u.s, "x_mean": u.pix,
             "y_mean": u.pix, "x_stddev": u.pix, "y_stddev": u.pix, "theta": u.rad}
    for name, unit in units.items():
        assert table[name].unit == unit, name
        assert table[name + "_err"].unit == unit, name
    for name in ("chi2", "dof", "iterations", "flags"):
        assert getattr(table[name], "unit", None) is None, name
    assert_array_equal(table["x_mean"].to_value(u.pix), result.gauss_fit["x_mean"])
    assert_array_equal(table["flags"], result.gauss_fit["flags"])
    clean = np.asarray(table["flags"]) == 0
    assert_allclose(table["x_mean"][clean].to_value(u.pix), truth_of(visit, "x_mean")[clean],
                    atol=0.02)
    with pytest.raises(GuideStarInputError, match="no quick_fit table"):
        fit_table(result, "quick")


def test_call_avoids_crds_without_the_environment_switch(frames, monkeypatch):
    """The base step itself skips CRDS: STPIPE_DISABLE_CRDS_STEPPARS is not needed."""
    from stpipe import crds_client

    monkeypatch.delenv("STPIPE_DISABLE_CRDS_STEPPARS", raising=False)
    queried = []

    def refuse(name):
        def crds_call(*args, **kwargs):
            queried.append(name)
            msg = f"crds_client.{name} called"
            raise RuntimeError(msg)
        return crds_call

    for name in ("get_reference_file", "get_multiple_reference_paths", "get_context_used",
                 "get_svn_version", "check_reference_open", "get_override_name",
                 "reference_uri_to_cache_path"):
        monkeypatch.setattr(crds_client, name, refuse(name))
    result = GuideStarFitStep.call(frames, method="quick")
    assert queried == []
    assert len(result.quick_fit) == 600
    assert result.meta.spelunker.fit_status == "COMPLETE"


def test_results_of_files_model_and_saved_model_agree(visit, frames, tmp_path):
    saved = tmp_path / "visit_guidestar.fits"
    frames.save(saved)
    tables = [GuideStarFitStep.call(source, method="quick").quick_fit
              for source in (visit.files, frames, str(saved), saved)]
    for table in tables[1:]:
        assert_tables_equal(table, tables[0])


def test_output_reopens_with_its_fit_table(frames, tmp_path):
    from jwst import datamodels

    result = GuideStarFitStep.call(frames, method="quick", save_results=True,
                                   output_dir=str(tmp_path / "out"), output_file="fit")
    path = tmp_path / "out" / "fit_gsfit.fits"
    assert path.exists(), sorted(p.name for p in tmp_path.iterdir())
    with datamodels.open(path) as reopened:
        assert isinstance(reopened, GuideStarModel)
        assert_tables_equal(reopened.quick_fit, result.quick_fit)
        assert reopened.meta.spelunker.fit_method == "quick"
        assert reopened.meta.spelunker.fit_status == "COMPLETE"


def test_fit_table_has_units_and_times_also_after_saving(frames, tmp_path):

    result = GuideStarFitStep.call(frames, method="quick")
    result.quick_fit["flags"][:3] = [0, 1, 8]
    result.save(tmp_path / "saved.fits")  # turns the table into a FITS_rec
    table = fit_table(result, "quick")
    assert table.colnames[0] == "time"
    assert table["time"].scale == "utc"
    assert_array_equal(table["time"].mjd, frames.frames["mid_time_mjd"])
    assert table["x_mean"].unit == u.pix
    assert table["amplitude_err"].unit == u.DN / u.s
    assert table["theta"].unit == u.rad
    assert list(table["flags"][:3]) == [0, 1, 8]
    with pytest.raises(GuideStarInputError, match="no gauss_fit table"):
        fit_table(result, "gauss")
    assert "time" not in fit_table(result, "quick", time=False).colnames


def test_step_adds_a_second_table_and_keeps_the_first(frames):
    quick = GuideStarFitStep.call(frames, method="quick")
    before = snapshot(quick)
    both = GuideStarFitStep.call(quick, method="gauss")
    assert_same(before, snapshot(quick))
    assert_tables_equal(both.quick_fit, quick.quick_fit)
    assert len(both.gauss_fit) == 600
    assert both.meta.spelunker.fit_method == "gauss"


def test_config_file_sets_parameters(frames, tmp_path):
    config = tmp_path / "fit.asdf"
    GuideStarFitStep(method="quick").export_config(config)
    result = GuideStarFitStep.call(frames, config_file=str(config))
    assert result.hasattr("quick_fit") and not result.hasattr("gauss_fit")
    # keyword arguments override the file
    result = GuideStarFitStep.call(frames, config_file=str(config), method="gauss")
    assert result.hasattr("gauss_fit")


# --------------------------------------------------------------------------
# Parameters


def test_bad_dq_bits_leave_pixels_out(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=50, n_segments=1)],
        bad_pixels=[(0, 0), (7, 7)], seed=4)
    default = GuideStarFitStep.call(visit.files, method="gauss")
    assert set(default.gauss_fit["dof"]) == {64 - 2 - 7}
    all_pixels = GuideStarFitStep.call(visit.files, method="gauss", bad_dq_bits="0")
    assert set(all_pixels.gauss_fit["dof"]) == {64 - 7}
    hot_only = GuideStarFitStep.call(visit.files, method="gauss",
                                     bad_dq_bits=dqflags.pixel["HOT"])
    assert set(hot_only.gauss_fit["dof"]) == {64 - 2 - 7}


def test_ncpus_capped_and_results_identical(frames, caplog):
    one = GuideStarFitStep.call(frames, ncpus=1)
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        many = GuideStarFitStep.call(frames, ncpus=4096)
    assert "ncpus=4096 but only" in caplog.text
    assert_tables_equal(many.gauss_fit, one.gauss_fit)
    assert 1 <= many.meta.spelunker.fit_ncpus < 4096


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"method": "bogus"}, ["method", "bogus"]),
        ({"ncpus": 0}, ["ncpus", "too small"]),
        ({"max_iterations": 0}, ["max_iterations", "too small"]),
        ({"ncpus": "many"}, ["ncpus"]),
    ],
)
def test_invalid_parameters_raise_clear_errors(frames, parameters, words):
    with pytest.raises(ValidationError) as info:
        GuideStarFitStep.call(frames, **parameters)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("attribute", "value", "error", "words"),
    [
        # stpipe validates the spec again when the step runs
        ("method", "bogus", ValidationError, ["method", "bogus"]),
        ("ncpus", 0, ValidationError, ["ncpus", "too small"]),
        ("max_iterations", -3, ValidationError, ["max_iterations", "too small"]),
        # bad_dq_bits accepts integers and names, so the step checks it
        ("bad_dq_bits", "NOT_A_FLAG", ValueError, ["bad_dq_bits='NOT_A_FLAG'", "DQ flag names"]),
        ("bad_dq_bits", True, ValueError, ["bad_dq_bits=True"]),
        ("bad_dq_bits", [1, 2], ValueError, ["bad_dq_bits=[1, 2]"]),
    ],
)
def test_parameters_set_on_an_instance_are_checked(frames, attribute, value, error, words):
    step = GuideStarFitStep()
    setattr(step, attribute, value)
    before = snapshot(frames)
    with pytest.raises(error) as info:
        step.run(frames)
    for word in words:
        assert word in str(info.value)
    assert_same(before, snapshot(frames))


def test_step_checks_parameters_it_is_not_validated_for(frames):
    """Inside a pipeline stpipe does not re-validate; the step's own checks apply."""
    cases = (("method", "bogus", "method='bogus'"),
             ("ncpus", 0, "ncpus=0 must be an integer >= 1"),
             ("max_iterations", 2.5, "max_iterations=2.5 must be an integer"))
    for attribute, value, words in cases:
        step = GuideStarFitStep()
        setattr(step, attribute, value)
        with pytest.raises(ParameterError, match=re.escape(words)):
            step.process(frames)


def test_unusable_input_raises_a_spelunker_error(tmp_path):
    from spelunker.errors import SpelunkerError

    with pytest.raises(SpelunkerError, match="no such file"):
        GuideStarFitStep.call(str(tmp_path / "missing_cal.fits"))


@pytest.mark.parametrize(
    ("value", "mask"),
    [
        ("DO_NOT_USE", 1),
        ("DO_NOT_USE+SATURATED", 3),
        ("DO_NOT_USE,HOT", 1 | dqflags.pixel["HOT"]),
        ("5", 5),
        (5, 5),
        (np.uint32(4), 4),
        ("0", 0),
        (None, 0),
        ("", 0),
        ("~DO_NOT_USE", 0xFFFFFFFE),
    ],
)
def test_parse_dq_bits(value, mask):
    assert parse_dq_bits(value) == mask


# --------------------------------------------------------------------------
# store_fit and the log


def test_store_fit_converts_a_fit_result(frames):
    model = frames.copy()
    result = fit_moments_frames(model.data, model.err, dq=model.dq)
    table = store_fit(model, result, "quick", ncpus=3)
    assert table.dtype == model.table_dtype("quick_fit")
    assert_array_equal(model.quick_fit["x_mean"], result["x_mean"])
    assert_array_equal(model.quick_fit["flags"], result["flags"])
    assert model.meta.spelunker.fit_ncpus == 3


@pytest.mark.parametrize("method", ["gauss", "quick"])
def test_run_fit_table_is_stored_as_it_is_with_the_same_values(frames, method):
    from spelunker.fitting import run_fit

    model = frames.copy()
    result, _ = run_fit(model, method, ncpus=2)
    table, _ = run_fit(model, method, ncpus=2, table=True)
    name = f"{method}_fit"
    assert table.dtype == model.table_dtype(name)
    stored = store_fit(model, table, method)
    assert stored is table and np.shares_memory(np.asarray(getattr(model, name)), table)
    other = frames.copy()
    store_fit(other, result, method)
    assert np.asarray(getattr(other, name)).tobytes() == table.tobytes()


def test_run_fit_iteration_limit_is_what_the_fit_table_holds(frames):
    """The Gaussian fit's iterations go to an int16 column: a larger limit is refused before
    any fit; the moments fit does not iterate, so its limit is only checked positive."""
    from spelunker.fitting import run_fit

    model = frames.copy()
    most = np.iinfo(model.table_dtype("gauss_fit")["iterations"]).max
    assert most == 32767
    message = "max_iterations=32768 is more than the fit table's iterations column holds"
    with pytest.raises(ParameterError, match=rf"{message} \({most}, int16\)"):
        run_fit(model, "gauss", max_iterations=most + 1)
    result, _ = run_fit(model, "quick", max_iterations=most + 1)
    assert len(result["x_mean"]) == len(model.data)
    with pytest.raises(ParameterError, match="max_iterations=0 must be an integer >= 1"):
        run_fit(model, "quick", max_iterations=0)


def test_store_fit_rejects_bad_results(frames):
    model = frames.copy()
    result = dict(fit_moments_frames(model.data[:5]))
    with pytest.raises(ParameterError, match="method='bogus'"):
        store_fit(model, result, "bogus")
    with pytest.raises(ParameterError, match="shape \\(5,\\); the model has 600 frames"):
        store_fit(model, result, "quick")
    result = dict(fit_moments_frames(model.data))
    del result["chi2"]
    with pytest.raises(ParameterError, match="no column 'chi2'"):
        store_fit(model, result, "gauss")
    result = dict(fit_moments_frames(model.data))
    result["dof"] = np.full(600, 0.5)
    with pytest.raises(ParameterError, match="'dof' holds non-integer"):
        store_fit(model, result, "gauss")
    assert not model.hasattr("gauss_fit") and not model.hasattr("quick_fit")


def test_model_without_err_is_fitted_unweighted(caplog):
    data, _, _ = datasets.simulate_frames(20, seed=8)
    model = GuideStarModel(data=data)
    with caplog.at_level(logging.WARNING, logger="spelunker"):
        result = GuideStarFitStep.call(model, method="quick")
    assert "no ERR array" in caplog.text or "ERR has no positive" in caplog.text
    assert len(result.quick_fit) == 20


def test_summary_is_logged_by_the_spelunker_logger(frames, caplog):
    with caplog.at_level(logging.INFO, logger="spelunker"):
        GuideStarFitStep.call(frames, method="gauss")
    records = [r for r in caplog.records
               if r.name == "spelunker.stpipe.guide_star_fit_step"]
    summary = [r.getMessage() for r in records if "frames/s" in r.getMessage()]
    assert len(summary) == 1
    assert summary[0].startswith("gauss fit: 600 frames in ")
    assert "flagged (0.67%)" in summary[0]
    assert any("TOO_FEW_PIXELS: 2 frame(s)" in r.getMessage() for r in records)
