"""The variability step on frames: a flare and a dip astrophysical, a tilt and HGA move not.

One short synthetic visit through the fit, photometry, events and variability
steps (as ``benchmarks/variability_frames.py`` does over many hours), and
that script on a tiny size.
"""

import runpy
from pathlib import Path

import numpy as np
import pytest

from spelunker import (
    GuideStarEventStep,
    GuideStarFitStep,
    GuideStarVariabilityStep,
    PhotometryOptimizeStep,
    datasets,
    read_guidestar,
)
from spelunker.events import events_table
from spelunker.variability import dips_table, flares_table

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

CADENCE = 0.0538
TILT = 50.0  # s: the PSF 5 % wider from then on
FLARE = 100.0  # s: peak of a 5 % flare of FWHM 5 s
HGA = (200.0, 212.0)
DIP = 300.0  # s: mid-time of a 20 s, 3 % box transit
NEAR = 10.0  # s


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """A 7-minute visit with a tilt, a flare, an HGA move and a dip, through four steps."""
    visit = datasets.make_guidestar_files(
        tmp_path_factory.mktemp("variability_frames"),
        visits=[datasets.VisitSpec(n_frames=8000, n_segments=1, fgs_mag=14.0)],
        signals=[datasets.PsfWidthStep(time=TILT, factor=1.05),
                 datasets.Flare(peak_time=FLARE, fwhm=5.0, amplitude=0.05),
                 datasets.HgaMove(start=HGA[0], stop=HGA[1]),
                 datasets.Transit(mid_time=DIP, duration=20.0, depth=0.03)],
        jitter=0.012, seed=11)
    model = GuideStarFitStep.call(read_guidestar(visit.files), method="gauss")
    model = PhotometryOptimizeStep.call(model)
    return GuideStarVariabilityStep.call(GuideStarEventStep.call(model))


def _seconds(model, times):
    """Seconds since the start of the visit's data (the signals' time axis)."""
    return (times - model.frame_times[0]).to_value("s") + 0.5 * CADENCE


def _rows(model):
    """(kind, start, at, stop, origin) of every flare and dip, times in seconds."""
    rows = []
    for kind, table, at in (("flare", flares_table(model), "peak"),
                            ("dip", dips_table(model), "mid")):
        for row in table:
            rows.append((kind, *(float(_seconds(model, row[c])) for c in ("start", at, "stop")),
                         str(row["origin"])))
    return rows


def test_technical_signals_found_as_events(result):
    events = events_table(result)
    starts = _seconds(result, events["start"])
    tilts = starts[events["kind"] == "tilt"]
    moves = starts[events["kind"] == "hga_move"]
    assert np.any(np.abs(tilts - TILT) <= 2.0), events
    assert np.any(np.abs(moves - HGA[0]) <= 1.0), events


def test_flare_and_dip_astrophysical_at_their_times(result):
    rows = _rows(result)
    flares = [r for r in rows if r[0] == "flare" and r[1] <= FLARE <= r[3]]
    dips = [r for r in rows if r[0] == "dip" and r[1] <= DIP <= r[3]]
    assert len(flares) == 1 and flares[0][4] == "astrophysical", rows
    # the acceptance's tolerance: 1 s or 5 % of the duration (Flare.truth()), the larger
    truth = datasets.Flare(peak_time=FLARE, fwhm=5.0, amplitude=0.05).truth()
    assert abs(flares[0][2] - FLARE) <= max(1.0, 0.05 * truth["duration"]), rows
    assert len(dips) == 1 and dips[0][4] == "astrophysical", rows
    assert abs(dips[0][2] - DIP) <= 1.0, rows


def test_nothing_astrophysical_at_the_tilt_or_hga_move(result):
    for kind, start, _, stop, origin in _rows(result):
        for a, b in ((TILT, TILT), HGA):
            if start - NEAR <= b and stop + NEAR >= a:
                assert origin == "technical", (kind, start, stop, origin)
    astrophysical = [r for r in _rows(result) if r[4] == "astrophysical"]
    assert len(astrophysical) == 2, astrophysical


@pytest.mark.benchmark
def test_variability_frames_benchmark_runs(capsys, monkeypatch):
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))  # it imports variability_recovery beside it
    module = runpy.run_path(str(benchmarks / "variability_frames.py"))
    module["main"](["--quick", "--scale", "0.02", "--seed", "3", "--magnitudes", "14",
                    "--no-compare"])
    out = capsys.readouterr().out
    for label in ("[1] false events", "worst magnitude per 10 h per star", "[2] technical",
                  "at an injected technical signal", "[3] astrophysical", "=== flares",
                  "0 visit(s) failed"):
        assert label in out, label
