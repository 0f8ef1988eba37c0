"""The fast paths of the pipeline (issue 23) give the results of the plain ones."""

import numpy as np

from spelunker.binning import time_bin_index
from spelunker.changepoints import _bin_medians, _bin_medians_sorted


def test_bin_medians_table_equals_one_sort():
    # Bin medians from the padded per-bin table are those of one sort of all
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
        fast = _bin_medians(index, v, counts)
        assert np.array_equal(fast, _bin_medians_sorted(index, v, counts), equal_nan=True)
        for k in np.flatnonzero(counts)[:50]:
            assert fast[k] == np.median(v[index == k])
    empty = np.zeros(0, dtype=np.int64)
    assert _bin_medians(empty, np.zeros(0), np.zeros(0, dtype=np.int64)).size == 0


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
