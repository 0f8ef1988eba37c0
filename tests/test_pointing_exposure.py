"""Pointing stability per science exposure: the jitter file, the command and the session.

A synthetic guide-star visit guides a synthetic NIRSpec ``rateints`` product
(`spelunker.datasets.make_science_product`, whose INT_TIMES and frames per
integration are its truth); `exposure_stability` must give back its
integrations and the frames inside each, and `write_jitter_file` a file
that plain astropy reads without spelunker.  ``spelunker-jitter`` and
``spk.pointing_stability`` write the same file; the command's help and its
argument errors load nothing heavy.
"""

import dataclasses
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_helpers import run_cli
from numpy.testing import assert_allclose, assert_array_equal

import spelunker
from spelunker import datasets
from spelunker.atomic import TEMPORARY_PREFIX
from spelunker.errors import GuideStarInputError, ParameterError, ScienceInputError
from spelunker.fitting import ensure_fit_table
from spelunker.io import open_guidestar
from spelunker.names import jitter_file_name
from spelunker.pointing.core import STABILITY_COLUMNS
from spelunker.pointing.exposure import (HEADER_KEYWORDS, ExposureStability, exposure_stability,
                                         jitter_path, write_jitter_file)

REPO = Path(__file__).resolve().parents[1]

N_INTEGRATIONS = 12


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("guider"),
        visits=[datasets.VisitSpec(observation=3, visit=1, n_frames=1600, n_segments=1)],
        seed=21)


@pytest.fixture(scope="module")
def science(visit, tmp_path_factory):
    return datasets.make_science_product(tmp_path_factory.mktemp("science"), visit,
                                         integration_time=5.0, n_integrations=N_INTEGRATIONS,
                                         start_offset=7.0, seed=3)


@pytest.fixture(scope="module")
def model(visit):
    model = open_guidestar(visit.files)
    ensure_fit_table(model, "quick")
    return model


@pytest.fixture(scope="module")
def result(model, science):
    return exposure_stability(model, science.path)


@pytest.fixture(scope="module")
def jitter_file(result, tmp_path_factory):
    path = tmp_path_factory.mktemp("jitter") / jitter_file_name(result.science_name)
    return write_jitter_file(result, path)


def test_the_integrations_are_those_of_int_times(model, science, result):
    table = result.integrations
    truth = science.int_times
    assert len(table) == N_INTEGRATIONS == len(truth)
    assert_array_equal(table["integration_number"], truth["integration_number"])
    for edge in ("start", "mid", "end"):
        assert_allclose(table[f"int_{edge}_mjd_utc"], truth[edge].utc.mjd, rtol=0, atol=1e-11)
    # The frames inside each integration: the product's truth, and a plain count.
    assert_array_equal(table["n_frames"], science.frames_per_integration)
    mjd = np.asarray(model.frames["mid_time_mjd"], dtype=float)
    counted = [np.count_nonzero((mjd >= row["int_start_mjd_utc"]) & (mjd < row["int_end_mjd_utc"]))
               for row in table]
    assert_array_equal(table["n_frames"], counted)
    assert np.all(table["n_good"] <= table["n_frames"])
    assert np.all(table["n_good"] > 0)
    assert result.science_name == science.path.name
    assert result.summary["int_start_mjd"] == pytest.approx(truth["start"][0].utc.mjd, abs=1e-11)
    assert result.summary["int_end_mjd"] == pytest.approx(truth["end"][-1].utc.mjd, abs=1e-11)


def test_integration_offsets_are_means_of_the_frames_inside(model, result):
    # The mean offsets of the integrations, weighted by their good frames, are those of
    # the exposure's good frames inside integrations: about zero (the exposure's mean).
    table = result.integrations
    weights = np.asarray(table["n_good"], dtype=float)
    for axis in ("v2", "v3"):
        mean = np.sum(weights * np.asarray(table[f"d{axis}_mas"])) / weights.sum()
        assert abs(mean) < 0.05 * float(np.nanmax(table[f"rms_{axis}_mas"])) + 1e-9
        assert np.all(np.asarray(table[f"rms_{axis}_mas"]) >= 0)
    assert str(table["dv2_mas"].unit) == "mas"
    assert set(result.summary) == {name for name, _, _ in STABILITY_COLUMNS} | {
        "int_start_mjd", "int_end_mjd"}
    assert result.meta["visit_id"] == "jw01534003001"
    assert result.meta["time_source"] == "INT_TIMES"


def test_the_jitter_file_opens_with_plain_astropy_without_spelunker(jitter_file, science, result):
    script = textwrap.dedent(f"""
        import json, sys
        from astropy.io import fits
        from astropy.table import Table
        path = {str(jitter_file)!r}
        with fits.open(path) as hdulist:
            names = [hdu.name for hdu in hdulist]
            header = hdulist[0].header
            cards = {{card.keyword: [card.value if isinstance(card.value, (int, float, str))
                                     else None, card.comment] for card in header.cards
                     if card.keyword not in ("COMMENT", "")}}
            jif = hdulist["JIF"].data
            jif_header = dict(hdulist["JIF"].header)
        integrations = Table.read(path, hdu="INTEGRATIONS")
        averages = Table.read(path, hdu="JIT")
        print(json.dumps({{
            "spelunker": "spelunker" in sys.modules, "names": names, "cards": cards,
            "jif_shape": list(jif.shape), "jif_sum": int(jif.sum()),
            "jif_axes": [jif_header[k] for k in ("CTYPE1", "CUNIT1", "CTYPE2", "CUNIT2")],
            "numbers": integrations["integration_number"].tolist(),
            "n_frames": integrations["n_frames"].tolist(),
            "start": integrations["int_start_mjd_utc"].tolist(),
            "end": integrations["int_end_mjd_utc"].tolist(),
            "units": {{name: str(integrations[name].unit) for name in integrations.colnames}},
            "jit_columns": averages.colnames,
            "jit_units": {{name: str(averages[name].unit) for name in averages.colnames}},
        }}))
    """)
    # -I: isolated (no PYTHONPATH, no current folder): a plain astropy user.
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    assert read["spelunker"] is False
    assert read["names"] == ["PRIMARY", "JIT", "INTEGRATIONS", "JIF"]
    assert read["numbers"] == science.int_times["integration_number"].tolist()
    assert read["n_frames"] == science.frames_per_integration.tolist()
    assert_allclose(read["start"], science.int_times["start"].utc.mjd, rtol=0, atol=1e-11)
    assert_allclose(read["end"], science.int_times["end"].utc.mjd, rtol=0, atol=1e-11)
    assert read["units"]["dv2_mas"] == "mas" and read["units"]["int_mid_mjd_utc"] == "d"
    assert {"start_s", "mid_s", "stop_s", "n_frames", "dv2_mas", "dv3_mas", "rms_v2_mas",
            "rms_v3_mas", "mid_mjd_utc"} <= set(read["jit_columns"])
    assert read["jit_units"]["dv2_mas"] == "mas" and read["jit_units"]["mid_s"] == "s"
    assert read["jif_axes"] == ["DV2", "mas", "DV3", "mas"]
    # The metrics in the header, with their units in the comments.
    cards = read["cards"]
    assert cards["NINTS"][0] == N_INTEGRATIONS
    assert cards["SCIENCE"][0] == science.path.name
    units = {name: unit for name, unit, _ in STABILITY_COLUMNS}
    for name, keyword in HEADER_KEYWORDS.items():
        assert len(keyword) <= 8
        assert keyword in cards, keyword
        value = result.summary[name]
        if np.isfinite(value):
            assert cards[keyword][0] == pytest.approx(value, rel=1e-12), keyword
        else:
            assert cards[keyword][0] is None, keyword  # FITS has no NaN: undefined
        if units.get(name) in ("mas", "s", "Hz"):
            assert cards[keyword][1].startswith(f"[{units[name]}]"), (keyword, cards[keyword])
    assert cards["STAB"][0] == pytest.approx(result.summary["stability_mas"])
    assert cards["NEA_V2"][1].startswith("[mas]")


def test_every_metric_has_a_header_keyword():
    names = [name for name, _, _ in STABILITY_COLUMNS]
    assert set(names) <= set(HEADER_KEYWORDS)
    assert len(set(HEADER_KEYWORDS.values())) == len(HEADER_KEYWORDS)
    assert all(len(keyword) <= 8 and keyword.isupper() for keyword in HEADER_KEYWORDS.values())


def test_the_histogram_axes_give_back_the_edges(jitter_file, result):
    counts, v2_edges, v3_edges = (np.asarray(part) for part in result.histogram)
    with fits.open(jitter_file) as hdulist:
        image = hdulist["JIF"].data
        header = hdulist["JIF"].header
    assert_array_equal(image, counts)  # rows V3, columns (FITS axis 1) V2
    for axis, edges in ((1, v2_edges), (2, v3_edges)):
        n = header[f"NAXIS{axis}"]
        centres = header[f"CRVAL{axis}"] + (np.arange(n) + 1 - header[f"CRPIX{axis}"]) \
            * header[f"CDELT{axis}"]
        assert_allclose(centres, 0.5 * (edges[:-1] + edges[1:]), atol=1e-9)


def test_write_refuses_an_existing_file_and_leaves_nothing_on_failure(result, tmp_path,
                                                                       monkeypatch):
    path = tmp_path / "exposure_gsjit.fits"
    write_jitter_file(result, path)
    before = path.read_bytes()
    with pytest.raises(ParameterError, match="exists; pass overwrite=True"):
        write_jitter_file(result, path)
    with pytest.raises(ParameterError, match="must end in one of"):
        write_jitter_file(result, tmp_path / "exposure_gsjit.ecsv")
    with pytest.raises(ParameterError, match="is not an ExposureStability"):
        write_jitter_file({"summary": {}}, tmp_path / "other_gsjit.fits")
    counts, v2_edges, v3_edges = result.histogram
    uneven = dataclasses.replace(result, histogram=(counts, v2_edges ** 3, v3_edges))
    with pytest.raises(ParameterError, match="result.histogram: the V2 bin edges"):
        write_jitter_file(uneven, tmp_path / "other_gsjit.fits")

    def dies_halfway(self, target, **options):  # as a full disk would
        Path(target).write_bytes(b"SIMPLE  =                    T")
        raise OSError("No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", dies_halfway)
    with pytest.raises(OSError, match="No space"):
        write_jitter_file(result, path, overwrite=True)
    with pytest.raises(OSError, match="No space"):
        write_jitter_file(result, tmp_path / "new_gsjit.fits")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exposure_gsjit.fits"]
    assert not any(p.name.startswith(TEMPORARY_PREFIX) for p in tmp_path.iterdir())


def test_jitter_names_and_paths(science, tmp_path):
    assert jitter_file_name(science.path) == science.path.name.replace("_rateints.fits",
                                                                       "_gsjit.fits")
    with pytest.raises(ParameterError, match="no file name"):
        jitter_file_name(Table({"a": [1]}))
    assert jitter_path(science.path).parent == science.path.parent
    out = tmp_path / "new" / "folder"
    assert jitter_path(science.path, output_dir=out).parent == out
    (out / jitter_file_name(science.path)).write_text("x")
    with pytest.raises(ParameterError, match="exists; pass overwrite=True"):
        jitter_path(science.path, output_dir=out)


def test_exposures_the_visit_does_not_cover_are_refused(model, science):
    late = Table({"integration_number": np.asarray(science.int_times["integration_number"])})
    start = np.asarray(science.int_times["start"].utc.mjd) + 10.0
    end = np.asarray(science.int_times["end"].utc.mjd) + 10.0
    late["int_start_MJD_UTC"], late["int_mid_MJD_UTC"], late["int_end_MJD_UTC"] = (
        start, 0.5 * (start + end), end)
    for edge, values in (("start", start), ("mid", 0.5 * (start + end)), ("end", end)):
        late[f"int_{edge}_BJD_TDB"] = values + 100.0 / 86400.0
    with pytest.raises(ScienceInputError, match="no guide-star frame falls in the exposure"):
        exposure_stability(model, late)
    with pytest.raises(ParameterError):
        exposure_stability("visit.fits", science.path)
    with pytest.raises(GuideStarInputError):
        exposure_stability(spelunker.GuideStarModel(), science.path)


def test_the_session_and_the_command_write_the_same_file(visit, science, result, tmp_path):
    session_dir = tmp_path / "session"
    session_dir.mkdir()
    spk = spelunker.load(session_dir)
    spk.readfile(visit.files)
    got = spk.pointing_stability(science.path)
    assert isinstance(got, ExposureStability)
    assert got.path == session_dir / jitter_file_name(science.path)
    assert_array_equal(got.integrations["n_frames"], result.integrations["n_frames"])
    again = spk.pointing_stability(science.path)  # a notebook cell run twice: replaced
    assert again.path == got.path
    per_visit = spk.pointing_stability()
    assert len(per_visit) == 1 and "stability_mas" in per_visit.colnames

    out = tmp_path / "command"
    done = run_cli(tmp_path, sys.executable, "-m", "spelunker.jitter",
                   Path(visit.files[0]).parent, science.path, "--output-dir", out)
    assert done.returncode == 0, done.stderr
    written = out / jitter_file_name(science.path)
    assert f"{written}: {N_INTEGRATIONS} integrations" in done.stdout
    assert written.read_bytes() == got.path.read_bytes()


_LIGHT_CHECK = """
import json, sys
from spelunker.jitter import main
codes = []
for argv in {argvs!r}:
    try:
        codes.append(main(argv))
    except SystemExit as exc:
        codes.append(exc.code)
heavy = [name for name in ("jwst", "dask", "distributed", "numba", "matplotlib", "pysiaf")
         if name in sys.modules]
print(json.dumps({{"codes": codes, "heavy": heavy}}))
"""


def test_help_and_bad_arguments_load_nothing_heavy(science, tmp_path):
    existing = tmp_path / jitter_file_name(science.path)
    existing.write_text("an earlier jitter file")
    folder = str(science.path.parent)
    argvs = [
        ["--help"],
        ["--bogus", folder, str(science.path)],
        [str(tmp_path / "no_such_visit"), str(science.path)],
        [folder, str(tmp_path / "missing_rateints.fits")],
        [folder, str(science.path), "--output-dir", str(tmp_path)],
        [folder, str(science.path), str(science.path)],
        [str(tmp_path / "*_nothing_cal.fits"), str(science.path)],
        [folder, str(science.path), "--output-dir", str(existing)],
    ]
    done = subprocess.run([sys.executable, "-c", _LIGHT_CHECK.format(argvs=argvs)],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["codes"] == [0, 2, 1, 1, 1, 1, 1, 1]
    assert "exit codes:" in done.stdout and "GUIDER_INPUT" in done.stdout
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert errors[0].endswith("unrecognized arguments: --bogus")
    assert errors[1:] == [
        f"spelunker-jitter: error: GUIDER_INPUT={str(tmp_path / 'no_such_visit')!r}: no such "
        "file or folder",
        f"spelunker-jitter: error: SCIENCE={str(tmp_path / 'missing_rateints.fits')!r}: no "
        "such file",
        f"spelunker-jitter: error: SCIENCE={str(science.path)!r}: the jitter file "
        f"{str(existing)!r} exists; pass --overwrite to replace it",
        f"spelunker-jitter: error: SCIENCE={str(science.path)!r} and {str(science.path)!r} "
        f"would both write {str(science.path.parent / existing.name)!r} (the same exposure "
        "twice?); give one of them",
        f"spelunker-jitter: error: GUIDER_INPUT={str(tmp_path / '*_nothing_cal.fits')!r}: the "
        "pattern matches no file",
        f"spelunker-jitter: error: --output-dir={str(existing)!r}: is a file, not a folder",
    ]


def test_the_console_script_is_declared():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["spelunker-jitter"] == "spelunker.jitter:main"


def test_the_command_on_a_fitted_product_and_a_failing_exposure(model, science, result, tmp_path,
                                                                capsys):
    from spelunker.jitter import main

    product = tmp_path / "visit_gspipe.fits"
    model.save(product)  # a spelunker product with its quick fit
    late = tmp_path / science.path.name.replace("00001-seg001", "00002-seg001")
    with fits.open(science.path) as hdulist:  # the same exposure ten days later: not guided
        for column in hdulist["INT_TIMES"].columns.names[1:]:
            hdulist["INT_TIMES"].data[column] += 10.0
        hdulist.writeto(late)
    out = tmp_path / "out"
    assert main([str(product), str(science.path), str(late), "--output-dir", str(out)]) == 3
    err = capsys.readouterr().err
    assert f"spelunker-jitter: error: {late.name}: no guide-star frame falls in the exposure" in err
    written = out / jitter_file_name(science.path)
    assert sorted(p.name for p in out.iterdir()) == [written.name]  # nothing of the failure
    expected = tmp_path / "expected_gsjit.fits"
    write_jitter_file(exposure_stability(model, science.path, fit_table="quick_fit"), expected)
    assert written.read_bytes() == expected.read_bytes()
    assert main([str(product), str(late), "--output-dir", str(out)]) == 1


def test_integrations_without_frames_and_science_models(visit, model, science, tmp_path):
    from stdatamodels.jwst.datamodels import CubeModel

    # The last integrations run past the end of the guide-star data: no frames, NaN rows.
    end_of_data = float(np.nanmax(np.asarray(model.frames["mid_time_mjd"], dtype=float)))
    start = end_of_data - 4.5 * 5.0 / 86400.0 + np.arange(8) * 5.0 / 86400.0
    end = start + 5.0 / 86400.0
    table = Table({"integration_number": np.arange(1, 9)})
    for edge, values in (("start", start), ("mid", 0.5 * (start + end)), ("end", end)):
        table[f"int_{edge}_MJD_UTC"] = values
        table[f"int_{edge}_BJD_TDB"] = values + 100.0 / 86400.0
    result = exposure_stability(model, table)
    n_frames = np.asarray(result.integrations["n_frames"])
    assert n_frames[0] > 0 and np.all(n_frames[5:] == 0)
    assert np.all(np.isnan(result.integrations["dv2_mas"][5:]))
    assert np.all(np.isfinite(result.integrations["dv2_mas"][:4]))
    path = write_jitter_file(result, tmp_path / "partial_gsjit.fits")
    read = Table.read(path, hdu="INTEGRATIONS")
    assert_array_equal(read["n_frames"], n_frames)
    assert np.all(read["rms_v3_mas"].mask[5:])  # NaN in the file; Table.read masks NaN
    with fits.open(path) as hdulist:
        assert np.all(np.isnan(hdulist["INTEGRATIONS"].data["rms_v3_mas"][5:]))

    # A table has no name to give the jitter file: refused before any work by the session.
    spk = spelunker.load(tmp_path)
    spk.readfile(visit.files)
    with pytest.raises(ParameterError, match="no file name"):
        spk.pointing_stability(table)
    assert spk.pointing_stability(table, write=False).path is None
    # An open science model: named after its meta.filename, written in output_dir.
    with CubeModel(science.path) as cube:
        got = spk.pointing_stability(cube, output_dir=tmp_path / "jitter")
    assert got.path == tmp_path / "jitter" / jitter_file_name(science.path)
    assert got.science_name == science.path.name
    assert_array_equal(got.integrations["n_frames"], science.frames_per_integration)
