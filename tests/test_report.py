"""The HTML visit report: self-contained, every figure embedded, the numbers right."""

import base64
import html
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image
from variability_helpers import PERIOD, PERIOD_ERROR, with_variability

from spelunker import (
    GuideStarFitStep,
    GuideStarModel,
    GuideStarPipeline,
    PeriodogramStep,
    PhotometryOptimizeStep,
    datasets,
    read_guidestar,
)
from spelunker.errors import GuideStarInputError, ParameterError
from spelunker.names import visit_id
from spelunker.plotting import report as report_module
from spelunker.plotting import summarize, write_report_index, write_visit_report
from spelunker.plotting.report import REPORT_FIGURES, ReportEntry, _render, report_entry
from spelunker.plotting.timedomain import time_domain_figure, time_domain_tables
from spelunker.variability import flares_table
from spelunker.visits import split_visits

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


def _figures(model):
    """The figures of a visit page of ``model``: the time-domain one with variability tables,
    the pointing one (jitter) with a fit."""
    fitted = model.hasattr("gauss_fit") or model.hasattr("quick_fit")
    return [*REPORT_FIGURES, *(["timedomain"] if model.hasattr("variability") else []),
            *(["jitter"] if fitted else [])]


def test_report_files(report, model):
    assert report.name == f"{STEM}_report.html"
    assert sorted(p.name for p in report.parent.glob("*.png")) == sorted(
        f"{STEM}_{name}.png" for name in _figures(model))
    for name in _figures(model):
        with Image.open(report.parent / f"{STEM}_{name}.png") as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_report_is_self_contained_and_embeds_every_figure(report, model):
    page = _parse(report)
    links = [(tag, key, value) for tag, attrs in page.tags for key, value in attrs.items()
             if key in ("src", "href", "srcset", "data", "action", "poster")]
    assert all(key == "src" and value.startswith("data:image/png;base64,")
               for _, key, value in links), links
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object")]
    assert "url(" not in report.read_text(encoding="utf-8")
    images = {attrs["alt"].split()[0]: attrs["src"] for tag, attrs in page.tags if tag == "img"}
    assert sorted(images) == sorted(_figures(model))
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
    assert "No variability tables (run GuideStarVariabilityStep" in text


# --------------------------------------------------------------------------
# The time-domain section (hand-made variability tables, stored as the step stores them)


def test_report_time_domain_section(model, tmp_path):
    shown = with_variability(model)
    page = write_visit_report(shown, tmp_path)
    embedded = _embedded(page)
    assert sorted(embedded) == sorted([*REPORT_FIGURES, "timedomain", "jitter"])
    assert embedded["timedomain"] == (tmp_path / f"{STEM}_timedomain.png").read_bytes()
    with Image.open(tmp_path / f"{STEM}_timedomain.png") as image:
        assert min(image.size) > 300
    parsed = _parse(page)
    text = " ".join(parsed.text)
    gs_id = str(model.table("guidestars")["gs_id"][0])
    assert "Time domain: flares, dips and variability" in text
    assert f"{STEM}, guide star {gs_id}" in text
    assert "flaring,dipping" in text
    assert f"{PERIOD:g} ± {PERIOD_ERROR:.2g} s (periodogram)" in text
    assert "1 flare(s):" in text and "2 dip(s):" in text
    assert "technical (tilt)" in text and "2.1 ± 0.1" in text  # amplitude in %
    assert flares_table(shown)["peak"][0].isot in text


def test_time_domain_figure_draws_the_tables_of_a_visit_and_star(model):
    from matplotlib.figure import Figure

    shown = with_variability(model)
    figure = time_domain_figure(shown, fig=Figure(layout="constrained"))
    light, rms, folded = figure.axes
    gids = [patch.get_gid() for patch in light.patches]
    assert gids == ["flare", "dip", "dip_technical"]
    assert light.get_title().startswith(f"{STEM}, guide star ")
    assert light.get_title().endswith("1 flare, 2 dips; classes flaring,dipping")
    assert rms.get_xscale() == "log" and rms.get_yscale() == "log"
    assert folded.get_title() == f"folded at P = {PERIOD:g} ± {PERIOD_ERROR:.2g} s (periodogram)"
    with pytest.raises(ParameterError, match="no variability row of visit_index=3"):
        time_domain_figure(shown, visit_index=3, fig=Figure())
    with pytest.raises(GuideStarInputError, match="no variability tables"):
        time_domain_figure(GuideStarModel(), fig=Figure())


def test_noise_of_the_figure_leaves_flares_and_dips_out(model):
    from spelunker.plotting.timedomain import curve_noise_model, group_light_curve
    from spelunker.variability import noise_model

    shown = with_variability(model)
    tables = time_domain_tables(shown)
    curve = group_light_curve(shown)
    quiet = curve.mask.copy()
    for table in (tables.flares, tables.dips):
        for row in table:
            quiet[(curve.frames >= row["frame_start"]) & (curve.frames <= row["frame_stop"])] = True
    assert np.count_nonzero(quiet) > np.count_nonzero(curve.mask)
    ours = curve_noise_model(curve, events=(tables.flares, tables.dips))
    expected = noise_model(curve.times, curve.flux, mask=quiet)
    assert_allclose(ours.rms, expected.rms, equal_nan=True)
    assert ours.white_noise == expected.white_noise
    with pytest.raises(ParameterError, match="must be a VisitLightCurve"):
        curve_noise_model(tables.flares)


def test_time_domain_figure_without_a_period_says_so(model):
    from matplotlib.figure import Figure

    shown = with_variability(model, classes="constant")
    tables = time_domain_tables(shown)
    tables.variability["period"][:] = np.nan
    figure = time_domain_figure(shown, fig=Figure(), tables=tables)
    assert [text.get_text() for text in figure.axes[2].texts] == ["no significant period"]


# --------------------------------------------------------------------------
# Several visits: one page per visit


@pytest.fixture(scope="module")
def two_visits(tmp_path_factory):
    """Two visits of two guide stars at different places on the detector."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("report_two_visits"),
        visits=[datasets.VisitSpec(visit=1, n_frames=900, n_segments=2),
                datasets.VisitSpec(visit=2, n_frames=800, n_segments=1, x_mean=3.0, y_mean=4.2)],
        signals=[datasets.HgaMove(start=20.0, stop=31.0),
                 datasets.CentroidWobble(period=3.0, amplitude=0.05, axis="x")],
        seed=23,
    )


@pytest.fixture(scope="module")
def two_visit_model(two_visits):
    """A model of two visits with every result (the steps run on the whole program)."""
    model = GuideStarFitStep.call(read_guidestar(two_visits.files), method="quick")
    return PeriodogramStep.call(PhotometryOptimizeStep.call(model))


@pytest.fixture(scope="module")
def two_visit_report(two_visit_model, tmp_path_factory):
    return write_visit_report(two_visit_model, tmp_path_factory.mktemp("two_visit_report"))


def _embedded(page):
    return {attrs["alt"].split()[0]: base64.b64decode(attrs["src"].split(",", 1)[1])
            for tag, attrs in _parse(page).tags if tag == "img"}


def test_two_visits_give_one_page_per_visit_and_an_index(two_visit_report, two_visit_model):
    directory = two_visit_report.parent
    stems = ["jw01534001001", "jw01534001002"]
    assert two_visit_report.name == "jw01534_report.html"
    assert sorted(p.name for p in directory.glob("*.html")) == sorted(
        [two_visit_report.name, *(f"{stem}_report.html" for stem in stems)])
    assert sorted(p.name for p in directory.glob("*.png")) == sorted(
        f"{stem}_{name}.png" for stem in stems for name in _figures(two_visit_model))
    index = _parse(two_visit_report)
    assert [attrs["href"] for tag, attrs in index.tags if tag == "a"] == [
        f"{stem}_report.html" for stem in stems]
    assert not [tag for tag, _ in index.tags if tag in ("img", "script", "link")]

    files = two_visit_model.table("files")
    stars = two_visit_model.table("guidestars")
    for number, stem in enumerate(stems, start=1):
        page = directory / f"{stem}_report.html"
        embedded = _embedded(page)  # every figure, each the visit's own PNG
        assert sorted(embedded) == sorted(_figures(two_visit_model))
        for name, png in embedded.items():
            assert png == (directory / f"{stem}_{name}.png").read_bytes()
        parsed = _parse(page)
        assert not [attrs for tag, attrs in parsed.tags if "href" in attrs]
        text = " ".join(parsed.text)
        mine = files["visit"] == number
        for name in files["file_name"]:
            assert (name in text) == bool(mine[list(files["file_name"]).index(name)])
        assert stars["gs_id"][number - 1] in text
        assert stars["gs_id"][2 - number] not in text
        assert "One guide star throughout" in text
        assert f"{int(files['n_frames'][mine].sum())} frames over" in text
    # Only the first visit holds the HGA move (the POINTING rows of its files).
    assert "High-gain-antenna moves" in " ".join(_parse(directory / "jw01534001001_report.html")
                                                  .text)
    assert "No high-gain-antenna move" in " ".join(
        _parse(directory / "jw01534001002_report.html").text)


def test_visit_pages_show_the_visits_own_data(two_visit_report, two_visit_model, two_visits):
    """The figures of a visit page are drawn from that visit's frames and results alone."""
    model = two_visit_model
    visits = model.visits()
    assert visits == [(1534, 1, 1), (1534, 1, 2)]
    frames = np.asarray(model.frames)
    parts = split_visits(model)
    for key, part, first in zip(visits, parts, (0, 900), strict=True):
        rows = np.flatnonzero(np.asarray(model.files["visit"]) == key[2])
        n = len(part.data)
        chosen = slice(first, first + n)
        assert n == (900, 800)[key[2] - 1]
        assert_array_equal(part.data, np.asarray(model.data)[chosen])
        assert_array_equal(part.frames["mid_time_mjd"], frames["mid_time_mjd"][chosen])
        assert set(part.frames["guidestar_index"]) == {0} and len(part.guidestars) == 1
        assert part.table("guidestars")["gs_id"][0] == model.table("guidestars")["gs_id"][
            key[2] - 1]
        assert list(part.table("files")["first_frame"]) == list(
            np.asarray(model.files["first_frame"])[rows] - first)
        assert set(part.pointing_table["file_index"]) == set(range(len(rows)))
        for column in ("x_mean", "flags"):
            assert_array_equal(part.quick_fit[column], model.quick_fit[column][chosen])
        assert_array_equal(part.lightcurve["flux"], model.lightcurve["flux"][chosen])
        # The cheap figures equal those of the page, byte for byte.
        stem = visit_id(*key)
        for name in ("frame", "position"):
            assert _render(name, part, bin_size=10.0, dpi=100) == (
                two_visit_report.parent / f"{stem}_{name}.png").read_bytes()
    assert len(model.data) == 1700  # the input is not modified
    # The periodogram of a visit page is that of the visit's frames alone: the same as the
    # pipeline run on the second visit's file only (same fit, same frequency grid).
    part = parts[1]
    alone = GuideStarPipeline.call(two_visits.files[2:], steps={"fit": {"method": "quick"}})
    assert_allclose(part.periodogram["frequency"], alone.periodogram["frequency"], rtol=1e-12)
    for name in ("x_mean", "amplitude", "y_stddev"):
        assert_allclose(part.periodogram[name], alone.periodogram[name], rtol=0, atol=1e-6)
    best = part.table("periodogram_peaks")
    best = best[(best["series"] == "x_mean") & (best["rank"] == 1)]
    assert abs(best["period"][0].value - 3.0) < 0.05  # the injected wobble


def test_each_visit_page_shows_its_own_time_domain(two_visit_model, tmp_path):
    shown = with_variability(two_visit_model)
    index = write_visit_report(shown, tmp_path)
    stems = ["jw01534001001", "jw01534001002"]
    assert index.name == "jw01534_report.html"
    stars = shown.table("guidestars")["gs_id"]
    for number, stem in enumerate(stems):
        page = tmp_path / f"{stem}_report.html"
        assert "timedomain" in _embedded(page)
        time_domain = page.read_text(encoding="utf-8").split('<h2 id="pointing"')[0]
        headings = re.findall(r"<h3>(.*?)</h3>", time_domain)
        assert headings == [f"{stem}, guide star {stars[number]}"]
        pointing = re.findall(r"<h3>(.*?)</h3>", page.read_text(encoding="utf-8"))[1:]
        assert pointing == [f"{stem}, guide star {stars[number]}: pointing"]
        assert (tmp_path / f"{stem}_timedomain.png").stat().st_size > 10_000


def test_tables_of_a_visit_cut_from_several(two_visit_model):
    shown = with_variability(two_visit_model)
    whole = time_domain_tables(shown)
    for position, part in enumerate(split_visits(shown)):
        mine = time_domain_tables(part)  # split_visits carries each visit's rows
        assert mine.variability["guidestar_index"].tolist() == [0]
        assert mine.variability["visit_id"][0] == whole.variability["visit_id"][position]
        assert len(mine.flares) == 1 and len(mine.dips) == 2
        for table, centre in ((mine.flares, "peak"), (mine.dips, "mid")):
            rows = np.asarray(table[f"frame_{centre}"], dtype=int)
            assert_allclose(part.frame_times[rows].mjd, table[centre].mjd, rtol=0, atol=1e-9)


def test_one_visit_keeps_one_page(report):
    assert [p.name for p in report.parent.glob("*.html")] == [f"{STEM}_report.html"]


@pytest.mark.parametrize(("options", "message"), [
    ({"bin_size": 0}, "bin_size=0"), ({"bin_size": "10"}, "bin_size='10'"),
    ({"n_peaks": 0}, "n_peaks=0"), ({"n_peaks": 2.0}, "n_peaks=2.0"),
    ({"dpi": -1}, "dpi=-1"), ({"dpi": None}, "dpi=None"),
    ({"dpi": 2}, "dpi=2 must be at least 10 dots per inch"),
    ({"title": 5}, "title=5 must be a string"), ({"title": ["a"]}, "title=['a']"),
])
def test_report_refuses_bad_options_before_writing(model, tmp_path, options, message):
    folder = tmp_path / "out"
    with pytest.raises(ParameterError, match=f"write_visit_report: {re.escape(message)}"):
        write_visit_report(model, folder, **options)
    assert not folder.exists()


@pytest.mark.parametrize(("stems", "index"), [
    (["jw01534001001", "jw01534002001"], "jw01534_report.html"),
    (["jw01534001001", "jw01535001001"], "spelunker_report.html"),
    (["jw01534001001", "jw01534"], "jw01534_report.html"),  # a page of several visits
    (["spelunker", "spelunker"], "spelunker_report.html"),  # pages of models without files
])
def test_index_is_named_after_the_program_of_its_pages(tmp_path, stems, index):
    entries = [ReportEntry(stem, tmp_path / f"{stem}_report.html", 10, "", "", "")
               for stem in stems]
    assert write_report_index(entries, tmp_path).name == index


def test_index_names_a_program_with_names_program_stem(tmp_path, monkeypatch):
    """The report does not format program numbers itself: `spelunker.names` does."""
    monkeypatch.setattr(report_module, "program_stem", lambda program: f"P{program}")
    entries = [ReportEntry(stem, tmp_path / f"{stem}_report.html", 10, "", "", "")
               for stem in ("jw01534001001", "jw01534002001")]
    assert write_report_index(entries, tmp_path).name == "P1534_report.html"


def test_a_list_of_visit_models_gives_the_pages_of_the_model_of_both(two_visit_model,
                                                                     two_visit_report, tmp_path):
    index = write_visit_report(split_visits(two_visit_model), tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in two_visit_report.parent.iterdir())
    for name in written:  # the same pages and figures, byte for byte
        assert (tmp_path / name).read_bytes() == (two_visit_report.parent / name).read_bytes()
    assert index.name == two_visit_report.name


@pytest.mark.parametrize(("models", "message"), [
    ([None], "model\\[0\\]=None must be a GuideStarModel"),
    (["visit.fits"], "model\\[0\\]='visit.fits' must be a GuideStarModel"),
    ([], "model=\\[\\] holds no GuideStarModel"),
])
def test_report_refuses_a_list_of_what_is_not_models(tmp_path, models, message):
    folder = tmp_path / "out"
    with pytest.raises(ParameterError, match=f"write_visit_report: {message}"):
        write_visit_report(models, folder)
    assert not folder.exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"directory": 5}, "directory=5 must be a folder path"),
    ({"directory": "missing"}, "directory=.*missing.: the folder does not exist"),
    ({"title": 5}, "title=5 must be a string"),
])
def test_index_refuses_bad_options(tmp_path, options, message):
    entries = [ReportEntry("jw01534001001", tmp_path / "jw01534001001_report.html", 10, "", "",
                           "")]
    options = {"directory": tmp_path, **options}
    if options["directory"] == "missing":
        options["directory"] = tmp_path / "missing"
    with pytest.raises(ParameterError, match=f"write_report_index: {message}"):
        write_report_index(entries, **options)
    assert not list(tmp_path.iterdir())


def test_report_entry_of_a_visit(model, tmp_path):
    entry = report_entry(model, tmp_path / f"{STEM}_report.html")
    assert (entry.stem, entry.page, entry.n_frames) == (STEM, tmp_path / f"{STEM}_report.html",
                                                       1500)
    with pytest.raises(ParameterError, match="report_entry: page=None must be a file path"):
        report_entry(model, None)
    with pytest.raises(ParameterError, match="report_entry: model=None must be a GuideStarModel"):
        report_entry(None, tmp_path / "p.html")
    with pytest.raises(GuideStarInputError, match="no frames table"):
        report_entry(GuideStarModel(), tmp_path / "p.html")


def test_summary_lists_the_peaks_of_each_visit_and_guide_star(two_visit_model):
    lines = summarize(two_visit_model, n_peaks=1).splitlines()
    peaks = two_visit_model.table("periodogram_peaks")
    for visit_index, star in ((0, 0), (1, 1)):
        best = peaks[(peaks["visit_index"] == visit_index) & (peaks["guidestar_index"] == star)
                     & (peaks["series"] == "x_mean") & (peaks["rank"] == 1)]
        line, = [line for line in lines if line.startswith(
            f"periodogram x_mean (visit {visit_index}, guide star {star}):")]
        assert f"{best['period'][0].value:.4g} s" in line
    with pytest.raises(ParameterError, match="summarize: n_peaks=0"):
        summarize(two_visit_model, n_peaks=0)


# --------------------------------------------------------------------------
# In a browser


#: The documented command (docs/quicklook.rst) that checks the report in a browser.
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WINDOW = (1400, 7000)  # the page with its time-domain and pointing sections (the pipeline's
#                         variability step and the fit's jitter figure)

#: Added to a copy of the page for ``--dump-dom``: after loading, the box of every image
#: (page coordinates, CSS pixels) and the page size, written into the DOM.
_MEASURE = """<script>
window.addEventListener("load", function () {
  var boxes = Array.prototype.map.call(document.images, function (img) {
    var r = img.getBoundingClientRect();
    return {alt: img.alt, left: r.left + window.scrollX, top: r.top + window.scrollY,
            width: r.width, height: r.height, complete: img.complete,
            natural: [img.naturalWidth, img.naturalHeight]};
  });
  var out = document.createElement("pre");
  out.id = "spelunker-boxes";
  out.textContent = JSON.stringify({boxes: boxes, ratio: window.devicePixelRatio,
    height: document.documentElement.scrollHeight, viewport: window.innerHeight});
  document.body.appendChild(out);
});
</script>"""


def _chromium(browser, tmp_path, name, *arguments):
    command = [browser, *CHROMIUM[1:], f"--user-data-dir={tmp_path / ('profile-' + name)}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", *arguments]
    return subprocess.run(command, check=True, capture_output=True, timeout=120)


def _layout(browser, page, tmp_path):
    """Boxes of the page's images as Chromium lays the page out in the window."""
    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"),
                        encoding="utf-8")
    dom = _chromium(browser, tmp_path, "layout", "--dump-dom", measured.as_uri()).stdout
    found = re.search(r'<pre id="spelunker-boxes">(.*?)</pre>', dom.decode("utf-8"), re.S)
    assert found, "the measuring script did not run"
    return json.loads(html.unescape(found[1]))


def _blocks(pixels, size=8):
    """Mean of size x size blocks: compares images resampled by different filters."""
    rows, columns = pixels.shape[0] // size * size, pixels.shape[1] // size * size
    return pixels[:rows, :columns].reshape(rows // size, size, columns // size, size,
                                           -1).mean(axis=(1, 3))


def test_report_in_headless_chromium_shows_every_figure(report, model, tmp_path):
    """Screenshot of the page: every figure is drawn, whole, where the browser laid it out."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    layout = _layout(browser, report, tmp_path)
    screenshot = tmp_path / "report.png"
    _chromium(browser, tmp_path, "screenshot", f"--screenshot={screenshot}", report.as_uri())
    with Image.open(screenshot) as image:
        assert image.size == WINDOW
        pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert layout["ratio"] == 1
    # The page ends inside the window, so every figure is on the screenshot ...
    assert layout["height"] <= min(layout["viewport"], WINDOW[1])
    assert (pixels[layout["height"] + 5:] == 255).all()
    # ... and each image region shows its figure: not blank, and the embedded PNG scaled to
    # the box (compared on 8 x 8 blocks, as the browser's scaling filter is not PIL's).
    boxes = {box["alt"].split()[0]: box for box in layout["boxes"]}
    embedded = _embedded(report)
    assert sorted(boxes) == sorted(embedded) == sorted(_figures(model))
    for name, box in boxes.items():
        with Image.open(io.BytesIO(embedded[name])) as figure:
            assert box["complete"] and box["natural"] == list(figure.size), name
            left, top = int(np.ceil(box["left"])) + 1, int(np.ceil(box["top"])) + 1
            right = int(np.floor(box["left"] + box["width"])) - 1
            bottom = int(np.floor(box["top"] + box["height"])) - 1
            assert right - left > 200 and bottom - top > 200 and bottom <= WINDOW[1], name
            shown = pixels[top:bottom, left:right]
            expected = np.asarray(figure.convert("RGB").resize((right - left, bottom - top),
                                                               Image.BOX), dtype=float)
        assert shown.std() > 5, f"{name}: blank region"
        a, b = _blocks(shown).ravel(), _blocks(expected).ravel()
        assert np.abs(a - b).mean() < 6, f"{name}: the screenshot does not show the figure"
        assert np.corrcoef(a, b)[0, 1] > 0.8, f"{name}: the screenshot does not show the figure"
