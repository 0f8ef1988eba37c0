"""The fast paths of the pipeline (issue 23) give the results of the plain ones."""

import numpy as np
from numpy.testing import assert_array_equal

from spelunker.binning import time_bin_index
from spelunker.changepoints import _bin_counts, _bin_medians, _strongest
from spelunker.datamodels.rows import run_slice


def _medians_by_one_sort(index, values, counts):
    """The bin medians by one sort of all the values (any fill of the bins): the reference."""
    order = np.lexsort((values, index))
    ordered = values[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    low = np.minimum(starts + (counts - 1) // 2, max(ordered.size - 1, 0))
    high = np.minimum(starts + counts // 2, max(ordered.size - 1, 0))
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, 0.5 * (ordered[low] + ordered[high]), np.nan)


def test_bin_medians_table_equals_one_sort():
    # Bin medians from each bin's own run are those of one sort of all
    # values: regular frames with gaps and ties, uneven bins, empty input.
    rng = np.random.default_rng(3)
    times = np.arange(20_000) * 0.0538
    times = times[rng.random(times.size) > 0.05]
    values = rng.normal(size=times.size)
    values[rng.random(times.size) < 0.1] = 0.0
    cases = [(times, values)]
    uneven = np.sort(np.concatenate([rng.uniform(0, 100, 50), rng.uniform(3, 3.5, 500)]))
    cases.append((uneven, rng.normal(size=uneven.size)))
    for t, v in cases:
        index = time_bin_index(t, 1.0)
        counts = np.bincount(index, minlength=index[-1] + 1)
        fast = _bin_medians(v, counts)
        assert np.array_equal(fast, _medians_by_one_sort(index, v, counts), equal_nan=True)
        for k in np.flatnonzero(counts)[:50]:
            assert fast[k] == np.median(v[index == k])
    empty = np.zeros(0, dtype=np.int64)
    assert _bin_medians(np.zeros(0), empty).size == 0


def test_step_run_freezes_imported_objects_for_stpipe_gc(tmp_path, monkeypatch):
    # stpipe calls gc.collect() at the start of every step: the objects that
    # exist when a top-level run starts are frozen for the run (not walked
    # again at every step), and unfrozen after it.
    import gc

    from spelunker import datasets
    from spelunker.stpipe import GuideStarFitStep

    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=200, n_segments=1)], seed=1)
    seen = []
    process = GuideStarFitStep.process

    def recording(self, input_data):
        seen.append(gc.get_freeze_count())
        return process(self, input_data)

    monkeypatch.setattr(GuideStarFitStep, "process", recording)
    before = gc.get_freeze_count()
    result = GuideStarFitStep.call(visit.files, method="quick")
    assert len(result.quick_fit) == 200
    assert seen and seen[0] > before
    assert gc.get_freeze_count() == before


def test_pipeline_steps_freeze_what_the_steps_before_them_loaded(tmp_path, monkeypatch):
    # Inside a pipeline's run each step freezes again before stpipe's gc.collect():
    # what the steps before it made (numba's objects, loaded on the fit's first call)
    # is not walked again; the run ends with the process unfrozen as it was.
    import gc

    from spelunker import GuideStarPipeline, datasets
    from spelunker.stpipe import GuideStarEventStep, PhotometryOptimizeStep

    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=600, n_segments=1)], seed=1)
    seen = {}
    for step in (PhotometryOptimizeStep, GuideStarEventStep):
        def recording(self, input_data, _process=step.process, _name=step.__name__):
            seen[_name] = gc.get_freeze_count(), len(gc.get_objects())
            return _process(self, input_data)

        monkeypatch.setattr(step, "process", recording)
    made = []
    pipeline_process = GuideStarPipeline._run_visit

    def after_fit(self, model):
        made.append([[] for _ in range(5000)])  # tracked objects alive while the pipeline runs
        return pipeline_process(self, model)

    monkeypatch.setattr(GuideStarPipeline, "_run_visit", after_fit)
    before = gc.get_freeze_count()
    GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})
    photometry, events = seen["PhotometryOptimizeStep"], seen["GuideStarEventStep"]
    assert photometry[0] > before and events[0] >= photometry[0]
    # each step's collector walks only what was made since the step before it started
    assert photometry[1] < 5000 and events[1] < 5000
    assert gc.get_freeze_count() == before


def test_save_labels_tables_before_writing_same_file(tmp_path):
    # GuideStarModel.save streams the tables from their columns, labelled
    # before they are written; the file equals one written plainly by
    # stdatamodels and labelled afterwards (label_fits_tables, the former
    # way): the same HDUs in the same order, every header card but the
    # dates, every table's bytes.  Only the ASDF tree differs: it no longer
    # lists the tables (stdatamodels reads them from the HDUs the schema
    # names), and both files open to the same model.
    from astropy.io import fits
    from stdatamodels import fits_support

    from spelunker import GuideStarModel, datasets, read_guidestar
    from spelunker.datamodels._units import label_fits_tables
    from spelunker.fitting import run_fit, store_fit

    visit = datasets.make_guidestar_files(
        tmp_path / "in", visits=[datasets.VisitSpec(n_frames=300, n_segments=2)], seed=2)
    model = read_guidestar(visit.files)
    result, _ = run_fit(model, "quick")
    store_fit(model, result, "quick")
    new = tmp_path / "new.fits"
    model.save(str(new))
    old = tmp_path / "old.fits"
    fits_support.to_fits(model._instance, model._schema).writeto(old)
    label_fits_tables(old, model)
    with fits.open(new) as a, fits.open(old) as b:
        assert [h.name for h in a] == [h.name for h in b]
        for x, y in zip(a, b, strict=True):
            if x.name == "ASDF":
                continue
            cards = [(c.keyword, c.value) for c in x.header.cards if "DATE" not in c.keyword]
            assert cards == [(c.keyword, c.value) for c in y.header.cards
                             if "DATE" not in c.keyword], x.name
            if isinstance(x, fits.BinTableHDU):
                assert x.data.tobytes() == y.data.tobytes(), x.name
        assert any(k.startswith("TUNIT") for k in a["FRAMES"].header)
        assert a["FRAMES"].header["TIMESYS"] == "UTC"
    with GuideStarModel(str(new)) as first, GuideStarModel(str(old)) as second:
        for name in ("frames", "files", "guidestars", "quick_fit", "pointing_table",
                     "centroid_table"):
            assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name
        assert first.meta.spelunker.fit_method == second.meta.spelunker.fit_method == "quick"


def test_save_reopened_product_keeps_table_cards_in_their_tables(tmp_path):
    # A reopened product carries its tables' other header cards (extra_fits):
    # saved again, they stay in the table HDUs (no second, empty HDU of the
    # same name), and user cards survive.
    from astropy.io import fits

    from spelunker import GuideStarModel, datasets, read_guidestar

    visit = datasets.make_guidestar_files(
        tmp_path / "in", visits=[datasets.VisitSpec(n_frames=200, n_segments=1)], seed=2)
    read_guidestar(visit.files).save(str(tmp_path / "first.fits"))
    with fits.open(tmp_path / "first.fits", mode="update") as hdul:
        hdul["CENTROID"].header["OBSERVER"] = "someone"
    with GuideStarModel(str(tmp_path / "first.fits")) as model:
        model.save(str(tmp_path / "second.fits"))
    with fits.open(tmp_path / "first.fits") as a, fits.open(tmp_path / "second.fits") as b:
        assert [h.name for h in a] == [h.name for h in b]
        assert b["CENTROID"].header["OBSERVER"] == "someone"
        assert b["CENTROID"].header["TIMESYS"] == "UTC"
        assert b["FRAMES"].header["TCTYP1"] == "UTC"


def test_save_keeps_string_tables_columns_in_place(tmp_path):
    # Saving a model whose tables are FITS_rec with string columns (a
    # reopened product) writes the same file and leaves the tables' columns
    # pointing at their own table, not at copies.
    from astropy.io import fits

    from spelunker import GuideStarModel, datasets, read_guidestar

    visit = datasets.make_guidestar_files(
        tmp_path / "in", visits=[datasets.VisitSpec(n_frames=300, n_segments=2)], seed=2)
    read_guidestar(visit.files).save(str(tmp_path / "first.fits"))
    with GuideStarModel(str(tmp_path / "first.fits")) as model:
        tables = {name: getattr(model, name) for name in ("files", "centroid_table")}
        assert all(isinstance(t, fits.FITS_rec) for t in tables.values())
        model.save(str(tmp_path / "second.fits"))
        for table in tables.values():
            for column in table.columns:
                if not column.format.endswith("A"):  # strings are decoded copies
                    assert column.array.base is not None, column.name
    with fits.open(tmp_path / "first.fits") as a, fits.open(tmp_path / "second.fits") as b:
        for name in ("FILES", "CENTROID"):
            assert a[name].data.tobytes() == b[name].data.tobytes()


def test_nifty_one_series_per_transform_equals_batches(monkeypatch):
    # One series per nifty-ls transform (a quarter of the memory) gives the
    # power of batched transforms to float32 rounding, and the same peaks.
    from spelunker.periodogram import engines

    rng = np.random.default_rng(1)
    n = 5000
    times = np.arange(n) * 0.0538 + rng.normal(0, 1e-4, n)
    series = {f"s{k}": 0.02 * np.sin(2 * np.pi * times / (3.0 + k)) + rng.normal(0, 1, n)
              for k in range(5)}
    errors = {f"s{k}": np.abs(rng.normal(1, 0.1, n)) for k in range(5)}
    assert engines._MAX_BATCH == 1
    single = engines.lomb_scargle(times, series, errors=errors)
    monkeypatch.setattr(engines, "_MAX_BATCH", 4)
    batched = engines.lomb_scargle(times, series, errors=errors)
    for name in series:
        np.testing.assert_allclose(single.power[name], batched.power[name], rtol=1e-6, atol=0)
    assert list(single.peaks["frequency"].value) == list(batched.peaks["frequency"].value)


def test_fit_inputs_without_full_size_temporaries():
    # The DQ mask of uint32 flags is taken in their own dtype (the uint64
    # path for other integers), and usable ERR is looked for a chunk at a
    # time: the same answers as the whole-array expressions.
    from spelunker.fitting._common import bad_pixel_mask
    from spelunker.fitting.store import _any_usable

    rng = np.random.default_rng(0)
    dq = np.zeros((500, 8, 8), np.uint32)
    dq[rng.integers(0, 500, 50), 3, 4] = 1 | 4
    for bits in (1, 4, 2**40):
        expected = (dq.astype(np.uint64) & np.uint64(bits)) != 0
        assert np.array_equal(bad_pixel_mask(dq, bits, 0, 500, (8, 8)), expected)
    signed = dq.astype(np.int32)
    signed[0, 0, 0] = -1
    assert bad_pixel_mask(signed, 2**31, 0, 500, (8, 8))[0, 0, 0]
    nan = np.full((10, 8, 8), np.nan, np.float32)
    assert not _any_usable(nan) and not _any_usable(np.zeros((3, 8, 8)))
    assert _any_usable(np.concatenate([nan, np.ones((1, 8, 8), np.float32)]), chunk=7)


def test_centroid_flags_compared_as_written_first():
    # TRUE/FALSE compared as written; other spellings stripped and
    # upper-cased; anything else 255, as before.
    from spelunker.io.reader import _flag_values

    assert _flag_values(np.array(["TRUE", "FALSE", " true ", "False", "T", ""])).tolist() == [
        1, 0, 1, 0, 255, 255]
    assert _flag_values(np.array([b"TRUE", b" false", b"x"])).tolist() == [1, 0, 255]
    assert _flag_values(np.array([1, 0])).tolist() == [255, 255]


def test_bench_stage_seconds_from_the_log():
    # benchmarks/bench_pipeline.py reads each stage's seconds from stpipe's log.
    import datetime
    import runpy
    from pathlib import Path

    bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks"
                               / "bench_pipeline.py"))
    lines = [f"2026-12-07 04:00:{s} - {name} - INFO - {text}" for s, name, text in (
        ("02,000", "stpipe.step", "Step GuideStarPipeline running with args ('v',)."),
        ("04,000", "stpipe.step", "Step fit running with args (m,)."),
        ("06,500", "spelunker.stpipe.guide_star_fit_step",
         "gauss fit: 1000 frames in 2.00 s (500 frames/s); 0 flagged (0.00%)"),
        ("07,000", "stpipe.step", "Step fit done"),
        ("07,250", "stpipe.step", "Step events running with args (m,)."),
        ("08,000", "stpipe.step", "Step events done"),
        ("09,000", "stpipe.step", "Saved model in out/x_gspipe.fits"))]
    t0 = datetime.datetime(2026, 12, 7, 4, 0, 1).timestamp()
    seconds = bench["stage_seconds"](t0, 10.0, lines)
    expected = {"start": 1.0, "read": 2.0, "fit": 3.0, "events": 0.75, "between": 0.25,
                "write": 1.0, "exit": 2.0, "total": 10.0, "fit_kernel": 2.0, "frames": 1000}
    assert {key: round(value, 6) for key, value in seconds.items()} == expected


def test_objects_are_frozen_at_exit_after_a_run(tmp_path):
    # After a top-level step run the interpreter's exit starts by freezing
    # every object, so the shutdown's collections do not walk the imported
    # packages again (about 1 s after a pipeline run); the other exit
    # handlers still run.
    import subprocess
    import sys

    script = (
        "import atexit, gc\n"
        # registered first, so it runs last, after spelunker's handler
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from spelunker import datasets\n"
        "from spelunker.stpipe import GuideStarFitStep\n"
        f"visit = datasets.make_guidestar_files({str(tmp_path)!r}, seed=1,\n"
        "    visits=[datasets.VisitSpec(n_frames=50, n_segments=1)])\n"
        "print('frozen before the run:', gc.get_freeze_count() > 0)\n"
        "GuideStarFitStep.call(visit.files, method='quick')\n"
        "print('frozen after the run:', gc.get_freeze_count() > 0)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.splitlines()[-3:] == [
        "frozen before the run: False", "frozen after the run: False", "frozen at exit: True"]


def test_bin_medians_read_the_usable_values_in_place():
    # Medians and counts of the usable values read where they are equal those
    # of the usable values copied out first (the copies the step search made).
    rng = np.random.default_rng(5)
    times = np.arange(30_000) * 0.0538
    values = rng.normal(size=times.size)
    values[rng.random(times.size) < 0.02] = np.nan
    values[1000:1040] = np.nan  # a bin with no usable value
    usable = np.isfinite(values)
    index = time_bin_index(times, 1.0)
    n_bins = int(index[-1]) + 1
    counts = _bin_counts(index, usable, n_bins)
    assert np.array_equal(counts, np.bincount(index[usable], minlength=n_bins))
    assert counts.dtype == np.int64 and 0 in counts
    medians = _bin_medians(values, counts, usable)
    assert np.array_equal(medians, _bin_medians(values[usable], counts), equal_nan=True)
    assert np.isnan(medians[counts == 0]).all() and np.isfinite(medians[counts > 0]).all()
    every = np.bincount(index, minlength=n_bins)
    assert np.array_equal(_bin_counts(index, None, n_bins), every)


def test_strongest_boundaries_are_the_start_of_a_full_sort():
    # Sorting only the boundaries that reach the threshold gives the full
    # stable sort up to the first one below it; ties keep their order, and a
    # NaN is reached only when no value is below the threshold.
    rng = np.random.default_rng(6)
    z = np.round(rng.normal(0, 3, 5000), 1)  # many ties
    z[[10, 20]] = np.nan
    cases = [(z, 5.5), (z, 0.0), (np.array([6.0, np.nan, -6.0, 7.0]), 5.5),
             (np.array([6.0, np.nan, 1.0]), 5.5), (np.zeros(0), 5.5)]
    for values, threshold in cases:
        full = np.argsort(-np.abs(values), kind="stable")
        stop = next((i for i, k in enumerate(full) if abs(values[k]) < threshold), full.size)
        assert _strongest(values, threshold).tolist() == full[:stop].tolist()
    assert _strongest(np.array([6.0, np.nan, -6.0, 7.0]), 5.5).tolist() == [3, 0, 2, 1]


def test_a_run_of_rows_is_read_as_a_slice():
    # One run of consecutive rows becomes a slice (read in place); rows with
    # a gap stay an index array; both read the same values.
    assert run_slice(np.arange(5, 9)) == slice(5, 9)
    gapped = np.array([0, 1, 3])
    assert run_slice(gapped) is gapped
    assert run_slice(np.zeros(0, dtype=np.intp)).size == 0
    values = np.arange(10.0) * 2
    for rows in (np.arange(2, 7), np.array([1, 4, 5])):
        assert values[run_slice(rows)].tolist() == values[rows].tolist()


def test_valid_points_of_a_series_in_one_pass():
    # The mask, count and extremes of a series' valid points read in one pass
    # (any stride, float32 errors, usable flags) are those of numpy's expressions.
    from spelunker.periodogram.engines import _valid_points

    rng = np.random.default_rng(11)
    rows = np.zeros(5000, dtype=[("v", "f8"), ("e", "f4"), ("flags", "i2")])
    rows["v"] = rng.normal(size=rows.size)
    rows["e"] = rng.uniform(0.5, 2.0, rows.size)
    rows["v"][rng.random(rows.size) < 0.02] = np.nan
    rows["v"][:3] = [np.inf, -np.inf, 50.0]
    rows["e"][rng.random(rows.size) < 0.02] = rng.choice([0.0, -1.0, np.nan, np.inf], 1)[0]
    usable = rng.random(rows.size) > 0.05
    usable[2] = False  # the outlier is not usable: it is not the highest
    values, errors = rows["v"], rows["e"]
    for dy, flags in ((None, None), (errors, None), (errors, usable), (None, usable)):
        expected = np.isfinite(values)
        if flags is not None:
            expected &= flags
        if dy is not None:
            expected &= np.isfinite(dy) & (dy > 0)
        mask, count, lowest, highest = _valid_points(values, dy, flags)
        assert_array_equal(mask, expected)
        assert count == int(expected.sum())
        assert lowest == values[expected].min() and highest == values[expected].max()
    assert _valid_points(values, None, None)[3] == 50.0
    assert _valid_points(np.zeros(0), None, None)[1:] == (0, np.inf, -np.inf)
