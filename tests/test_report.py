"""The HTML visit report: self-contained, every figure embedded, the numbers right."""

import base64
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from spelunker import GuideStarPipeline, datasets, read_guidestar
from spelunker.plotting import write_visit_report
from spelunker.plotting.report import REPORT_FIGURES

STEM = "jw01534001001"


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("report_visit"),
        visits=[datasets.VisitSpec(n_frames=1500, n_segments=3)],
        signals=[datasets.HgaMove(start=30.0, stop=41.0), datasets.NanFrames(indices=[7, 8]),
                 datasets.FluxModulation(period=6.0, amplitude=0.01)],
        seed=17,
    )


@pytest.fixture(scope="module")
def model(visit):
    return GuideStarPipeline.call(visit.files, steps={"fit": {"method": "quick"}})


@pytest.fixture(scope="module")
def report(model, tmp_path_factory):
    return write_visit_report(model, tmp_path_factory.mktemp("report") / "out")


class _Collector(HTMLParser):
    """Every tag with its attributes, and the page text."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(path):
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def test_report_files(report):
    assert report.name == f"{STEM}_report.html"
    assert sorted(p.name for p in report.parent.glob("*.png")) == sorted(
        f"{STEM}_{name}.png" for name in REPORT_FIGURES)
    for name in REPORT_FIGURES:
        with Image.open(report.parent / f"{STEM}_{name}.png") as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_report_is_self_contained_and_embeds_every_figure(report):
    page = _parse(report)
    links = [(tag, key, value) for tag, attrs in page.tags for key, value in attrs.items()
             if key in ("src", "href", "srcset", "data", "action", "poster")]
    assert all(key == "src" and value.startswith("data:image/png;base64,")
               for _, key, value in links), links
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object")]
    assert "url(" not in report.read_text(encoding="utf-8")
    images = {attrs["alt"].split()[0]: attrs["src"] for tag, attrs in page.tags if tag == "img"}
    assert sorted(images) == sorted(REPORT_FIGURES)
    for name, source in images.items():
        embedded = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert embedded == (report.parent / f"{STEM}_{name}.png").read_bytes()


def test_report_content(report, model):
    text = " ".join(_parse(report).text)
    files = model.table("files")
    for name in files["file_name"]:
        assert name in text
    gs_id = model.table("guidestars")["gs_id"][0]
    assert gs_id in text
    flags = np.asarray(model.quick_fit["flags"])
    clean = int(np.count_nonzero(flags == 0))
    assert clean < len(flags)  # the NaN frames are flagged
    assert f"{100.0 * clean / len(flags):.2f}%" in text
    assert int(np.asarray(model.aperture_mask).sum()) > 0
    assert f"{int(np.asarray(model.aperture_mask).sum())}" in text
    peaks = np.asarray(model.periodogram_peaks)
    best_flux = peaks[(peaks["series"] == b"flux") & (peaks["rank"] == 1)]
    assert f"{best_flux['period'][0]:.5g}" in text
    assert abs(best_flux["period"][0] - 6.0) < 0.1  # the injected modulation
    assert "High-gain-antenna moves" in text and "One guide star throughout" in text


def test_report_does_not_modify_the_model(model, tmp_path):
    before = {name: np.array(getattr(model, name)) for name in ("lightcurve", "quick_fit")}
    write_visit_report(model, tmp_path, title="Visit <1>")
    for name, values in before.items():
        after = np.array(getattr(model, name))
        for column in values.dtype.names:
            assert np.array_equal(after[column], values[column],
                                  equal_nan=values[column].dtype.kind == "f")
    assert "<title>Visit &lt;1&gt;</title>" in (tmp_path / f"{STEM}_report.html").read_text()


def test_report_without_fit_leaves_figures_out(visit, tmp_path):
    page = write_visit_report(read_guidestar(visit.files), tmp_path)
    parsed = _parse(page)
    images = [attrs["alt"].split()[0] for tag, attrs in parsed.tags if tag == "img"]
    assert images == ["lightcurve", "frame"]
    text = " ".join(parsed.text)
    assert "parameters figure left out" in text and "No fit table" in text


#: The documented command (docs/quicklook.rst) that checks the report in a browser.
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run"]


def _has_colour(pixels, rgb, tolerance=3):
    return bool(np.any(np.all(np.abs(pixels[..., :3].astype(int) - rgb) <= tolerance, axis=-1)))


def test_report_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    screenshot = tmp_path / "report.png"
    command = [browser, *CHROMIUM[1:], f"--user-data-dir={tmp_path / 'profile'}",
               f"--screenshot={screenshot}", "--window-size=1400,4000", report.as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    with Image.open(screenshot) as image:
        assert image.size == (1400, 4000)
        pixels = np.asarray(image.convert("RGB"))
    # The page ends inside the window (so every figure is on the screenshot) ...
    assert (pixels[-300:] == 255).all()
    # ... and the figures were rendered: the viridis top of the frame colour bar and the
    # blue (C0) of the time series are on it.
    assert _has_colour(pixels, (253, 231, 37))
    assert _has_colour(pixels, (31, 119, 180))
