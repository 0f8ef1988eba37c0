"""`make demo`'s job: the pipeline through strun on the sample visit, offline."""

import pytest

from spelunker import GuideStarModel, demo

pytestmark = pytest.mark.usefixtures("no_network_no_crds")


def test_demo_runs_the_pipeline_and_writes_products(tmp_path, capsys):
    output = tmp_path / "demo_output"
    assert demo.main(["--output", str(output), "--profile", "quicklook"]) == 0
    printed = capsys.readouterr().out
    products = sorted(output.glob("*_gspipe.fits"))
    assert len(products) == 1
    with GuideStarModel(products[0]) as model:
        assert len(model.data) == 6000
        assert len(model.quick_fit) == 6000 and len(model.lightcurve) == 6000
    assert "fit (quick): 6000 of 6000 frames clean" in printed
    assert "periodogram x_mean: 2.999 s" in printed  # the sample's 3 s wobble
    assert sorted(output.glob("*_report.html"))
    assert (output / "light_curve.png").stat().st_size > 10_000
