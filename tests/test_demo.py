"""`make demo`'s job: the pipeline through strun on the sample visit, offline."""

import re
from pathlib import Path

import pytest

from spelunker import GuideStarModel, datasets, demo, read_guidestar
from spelunker.variability import dips_table, flares_table
from variability_helpers import with_variability

pytestmark = pytest.mark.usefixtures("no_network_no_crds")

# The Makefile's demo target runs `python -m spelunker.demo --output demo_output`:
# the default profile (the shipped spelunker_pipeline.asdf, 2-D Gaussian fit).
PROFILES = {
    "make_demo": ([], "gauss", "gauss_fit"),
    "quicklook": (["--profile", "quicklook"], "quick", "quick_fit"),
}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_demo_runs_the_pipeline_and_writes_products(tmp_path, capsys, profile):
    options, method, fit_table = PROFILES[profile]
    output = tmp_path / "demo_output"
    assert demo.main(["--output", str(output), *options]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    products = sorted(output.glob("*_gspipe.fits"))
    assert len(products) == 1
    with GuideStarModel(products[0]) as model:
        assert len(model.frames) == 6000 and not model.hasattr("data")  # frames stay in the inputs
        assert len(getattr(model, fit_table)) == 6000 and len(model.lightcurve) == 6000

    assert any(line.startswith("frames: 6000 from 3 file(s), 1 guide star(s), ")
               for line in lines)
    fit = [m for m in map(re.compile(rf"fit \({method}\): (\d+) of 6000 frames clean "
                                     r"\(\d+\.\d\d%\)$").match, lines) if m]
    assert len(fit) == 1 and int(fit[0].group(1)) >= 5940
    aperture = [line for line in lines if line.startswith("aperture: ")]
    assert len(aperture) == 1
    assert re.match(r"aperture: \d+ brightest pixels, binned relative scatter ", aperture[0])
    peaks = [line for line in lines if line.startswith("periodogram ")]
    assert len(peaks) == 8  # the seven fit parameters and the light curve
    assert any(line.startswith("periodogram x_mean: 2.999 s (FAP ") for line in peaks)
    assert any(line.startswith("periodogram flux: ") and "47.46 s" in line for line in peaks)
    written = [line.removeprefix("products written: ") for line in lines
               if line.startswith("products written: ")]
    assert len(written) == 1
    assert Path(written[0]).is_file() and Path(written[0]).resolve() == products[0].resolve()

    assert sorted(output.glob("*_report.html"))
    assert (output / "light_curve.png").stat().st_size > 10_000

    # The time domain (the variability step of the pipeline): the sample visit's flare and
    # its transit are found and said, and the report shows them.
    found = [line for line in lines if line.startswith("variability")]
    assert len(found) == 1, found
    assert re.match(r"variability: [1-9]\d* flares? \(peak 20\d\d-\d\d-\d\dT[\d:.]+, "
                    r"amplitude [\d.]+ %, ED [\d.e+-]+ s[;)].*, [1-9]\d* dips? \(mid "
                    r"20\d\d-\d\d-\d\dT[\d:.]+, depth [\d.e+-]+ %, [\d.e+-]+ s[;)]",
                    found[0]), found
    classes = found[0].rsplit("classes ", 1)[1].split(",")
    assert "flaring" in classes and "dipping" in classes
    with GuideStarModel(products[0]) as model:
        assert model.hasattr("variability") and len(model.variability) == 1
    page = sorted(output.glob("*_report.html"))[0].read_text(encoding="utf-8")
    assert "Time domain: flares, dips and variability" in page
    assert 'id="timedomain"' in page and "No variability tables" not in page

    # The science part: the sample science product shares the guide star's x_mean wobble.
    correlations = [line.removeprefix("correlation with the science light curve: ").split()
                    for line in lines if line.startswith("correlation with the science")]
    assert [name for name, _ in correlations][0] == "x_mean"
    assert abs(float(correlations[0][1])) > 0.5 > max(abs(float(v)) for _, v in correlations[1:])
    assert any(re.match(r"science product: jw\S+_rateints\.fits, 312 integrations, times from "
                        r"INT_TIMES", line) for line in lines)
    assert (output / "science_regressors.png").stat().st_size > 10_000


def test_variability_lines_say_what_was_found(tmp_path):
    visit = datasets.make_guidestar_files(
        tmp_path, visits=[datasets.VisitSpec(n_frames=600, n_segments=1)], seed=5)
    model = with_variability(read_guidestar(visit.files))
    flare, dips = flares_table(model)[0], dips_table(model)
    assert demo.variability_lines(model) == [
        f"variability: 1 flare (peak {flare['peak'].isot}, amplitude 2.1 %, ED 0.18 s), "
        f"1 dip (mid {dips['mid'][0].isot}, depth 1 %, {dips['duration'][0].value:.3g} s), "
        "1 technical dip, classes flaring,dipping"]
    assert demo.variability_lines(read_guidestar(visit.files)) == [
        "variability: not computed (the run has no GuideStarVariabilityStep)"]
