"""spelunker.datasets: synthetic fine-guide products agree with their truth table."""

import re
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from numpy.testing import assert_allclose, assert_array_equal
from stdatamodels.jwst.datamodels import GuiderCalModel, GuiderRawModel, dqflags

from spelunker import datasets
from spelunker.datasets import (
    CentroidWobble,
    CosmicRays,
    EdgeStar,
    FluxModulation,
    HgaMove,
    NanFrames,
    PsfWidthStep,
    Transit,
    VisitSpec,
)
from spelunker.datasets import guidestar_files, plan, writers
from spelunker.datasets._common import file_stamp, set_identity
from spelunker.errors import ParameterError
from spelunker.instrument import pixel_scales
from spelunker.names import guider_product_name
from spelunker.pointing import telescope_to_ideal, window_to_sky

NAME = re.compile(
    r"^jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})_gs-fg_(?P<stamp>\d{13})"
    r"(?:-seg(?P<segment>\d{3}))?_(?P<product>cal|uncal)\.fits$"
)
GS_ID = re.compile(r"^[NS][0-9][A-Z][A-Z0-9][0-9]{6}$")
FRAME_TIME = 0.0538
N_FRAMES = 900
TRANSIT = Transit(mid_time=20.0, duration=10.0, depth=0.05)
SIGNALS = (
    TRANSIT,
    NanFrames(indices=[3, 450]),
    CosmicRays(indices=[100, 650], amplitude=1e5),
    EdgeStar(indices=[200, 201], x_mean=7.8),
    HgaMove(start=5.0, stop=10.0),
)


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    """900 frames in 3 segments with every index and time signal."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("visit"), visits=[VisitSpec(n_frames=N_FRAMES, n_segments=3)],
        signals=SIGNALS, seed=7, bad_pixels=[(0, 0), (7, 2)])


@pytest.fixture(scope="module")
def wobbling(tmp_path_factory):
    """A star that moves over several pixels, one centroid row per frame."""
    return datasets.make_guidestar_files(
        tmp_path_factory.mktemp("wobbling"), visits=[VisitSpec(n_frames=600, n_segments=2)],
        signals=[CentroidWobble(period=5.0, amplitude=1.6, axis="both")],
        centroid_rows="per_frame", seed=8)


def frames(visit):
    """SCI and ERR of all files, concatenated in time order."""
    sci, err = [], []
    for path in visit.files:
        with fits.open(path) as hdul:
            sci.append(hdul["SCI"].data.copy())
            err.append(hdul["ERR"].data.copy())
    return np.concatenate(sci), np.concatenate(err)


def headers(visit):
    return [fits.getheader(path) for path in visit.files]


# --- names and headers ------------------------------------------------------


def test_file_names_are_mast_names_stamped_with_data_end(visit):
    assert [p.parent for p in visit.files] == [visit.files[0].parent] * 3
    for segment, (path, header) in enumerate(zip(visit.files, headers(visit)), start=1):
        match = NAME.match(path.name)
        assert match, path.name
        assert match["program"] == "01534" and match["observation"] == "001"
        assert match["visit"] == "001" and match["product"] == "cal"
        assert int(match["segment"]) == segment == header["EXSEGNUM"]
        end = Time(header["DATAEND"], format="mjd", scale="utc")
        assert match["stamp"] == end.strftime("%Y%j%H%M%S")
        assert header["FILENAME"] == path.name
    # Nothing but the products is left in the folder (no temporary files).
    assert sorted(visit.files[0].parent.iterdir()) == sorted(visit.files)


def test_single_segment_has_no_seg_suffix(tmp_path):
    result = datasets.make_guidestar_files(tmp_path, visits=[VisitSpec(n_frames=40, n_segments=1)])
    (path,) = result.files
    assert NAME.match(path.name)["segment"] is None
    assert fits.getval(path, "EXSEGTOT") == 1


def test_file_names_are_the_names_modules_guider_product_names():
    """The plan names files through names.guider_product_name; no unchecked name builder."""
    visits = plan.resolve_visits([VisitSpec(n_frames=90, n_segments=3),
                                  VisitSpec(observation=2, visit=7, n_frames=10, n_segments=1)],
                                 seed=0)
    for product in ("cal", "uncal"):
        for file_plan in plan.plan_files(visits, program=42, product=product, seed=0):
            spec, segment = file_plan.spec, file_plan.segment
            assert file_plan.name == guider_product_name(
                42, spec.observation, spec.visit, stamp=file_stamp(file_plan.end_mjd),
                segment=segment if spec.n_segments > 1 else None, suffix=product)
    # file_name was public and took anything (AttributeError on a wrong argument).
    assert "file_name" not in plan.__all__ and not hasattr(plan, "file_name")


def test_the_planning_stages_check_their_arguments(tmp_path):
    """plan_files, random_stream, simulate_file and write_guider_file refuse wrong arguments."""
    visits = plan.resolve_visits([VisitSpec(n_frames=20, n_segments=1)], seed=0)
    (file_plan,) = plan.plan_files(visits, program=1534, product="cal", seed=0)
    assert int(plan.random_stream(1, 0, use="GS").integers(100)) == 97
    for value in (None, "x", -5, object()):
        with pytest.raises(ParameterError, match="plan_files: visits=.* must be VisitSpecs"):
            plan.plan_files(value, program=1534, product="cal", seed=0)
        with pytest.raises(ParameterError, match="random_stream: seed="):
            plan.random_stream(value, use="gs")
        with pytest.raises(ParameterError, match="random_stream: use="):
            plan.random_stream(1, use=value)
        with pytest.raises(ParameterError, match=r"random_stream: keys\[1\]="):
            plan.random_stream(1, 0, value, use="file")
        with pytest.raises(ParameterError, match="simulate_file: plan=.* must be a FilePlan"):
            guidestar_files.simulate_file(value, (), background=0.0, jitter=0.0, seed=0)
        with pytest.raises(ParameterError, match="write_guider_file: plan=.* must be a FilePlan"):
            writers.write_guider_file(tmp_path / "f.fits", value, None, None, None, None, (),
                                      program=1534, product="cal", centroid_rows="packet",
                                      aux=None)
    with pytest.raises(ParameterError, match="plan_files: visits=.* resolved by resolve_visits"):
        plan.plan_files([VisitSpec()], program=1534, product="cal", seed=0)
    for options, text in (({"program": "x"}, "program="), ({"product": "rate"}, "product="),
                          ({"seed": 1.5}, "seed=")):
        with pytest.raises(ParameterError, match=f"plan_files: {text}"):
            plan.plan_files(visits, **{"program": 1534, "product": "cal", "seed": 0, **options})
    with pytest.raises(ParameterError, match="write_guider_file: path=None must be a file path"):
        writers.write_guider_file(None, file_plan, None, None, None, None, (), program=1534,
                                  product="cal", centroid_rows="packet", aux=None)
    assert list(tmp_path.iterdir()) == []


def test_identity_keywords_are_padded_by_names():
    """PROGRAM/OBSERVTN/VISIT are names.padded_id's (any form id_number reads, '7' included)."""
    with GuiderCalModel() as model:
        set_identity(model.meta, filename="f.fits", title="t", program="1534", observation=" 2",
                     visit=np.int64(7), start_mjd=59917.5, end_mjd=59917.6)
        observation = model.meta.observation
        assert (observation.program_number, observation.observation_number,
                observation.visit_number, observation.visit_id) == ("01534", "002", "007",
                                                                     "01534002007")


def test_headers_carry_the_guider_keywords(visit):
    spec = visit.visits[0]
    for path, header in zip(visit.files, headers(visit)):
        n = fits.getheader(path, "SCI")["NAXIS3"]
        expected = {
            "TELESCOP": "JWST", "INSTRUME": "FGS", "DETECTOR": "GUIDER1",
            "EXP_TYPE": "FGS_FINEGUIDE", "PCS_MODE": "FINEGUIDE", "DATAMODL": "GuiderCalModel",
            "PROGRAM": "01534", "OBSERVTN": "001", "VISIT": "001", "VISIT_ID": "01534001001",
            "GDSTARID": spec.gs_id, "GS_MAG": 13.3, "GS_ORDER": 1, "NINTS": n, "NGROUPS": 8,
            "EXSEGTOT": 3, "SUBARRAY": "8X8", "SUBSIZE1": 8, "SUBSIZE2": 8,
            "TIMESYS": "UTC",
        }
        for keyword, value in expected.items():
            assert header[keyword] == value, keyword
        assert GS_ID.match(header["GDSTARID"])
        assert -90 <= header["GS_DEC"] <= 90 and 0 <= header["GS_RA"] < 360
        assert fits.getval(path, "BUNIT", "SCI") == "DN/s"
        assert fits.getval(path, "BUNIT", "ERR") == "DN/s"
        start = Time(header["DATASTRT"], format="mjd", scale="utc")
        end = Time(header["DATAEND"], format="mjd", scale="utc")
        assert abs((Time(header["DATE-BEG"], scale="utc") - start).to_value(u.s)) < 1e-3
        assert abs((Time(header["DATE-END"], scale="utc") - end).to_value(u.s)) < 1e-3
        assert_allclose((end - start).to_value(u.s), n * FRAME_TIME, atol=1e-5)
        assert_allclose(header["DURATION"], n * FRAME_TIME)


def test_header_keywords_exist_in_real_fine_guide_header(visit, reference_dir):
    real = fits.getheader(Path(reference_dir) / "fgs_headers" / "fgs_fineguide_guider1.fits")
    ours = headers(visit)[0]
    for keyword in ("TELESCOP", "INSTRUME", "DETECTOR", "EXP_TYPE", "PROGRAM", "OBSERVTN",
                    "VISIT", "VISIT_ID", "GDSTARID", "GS_RA", "GS_DEC", "GS_MAG", "GS_ORDER",
                    "PCS_MODE", "DATASTRT", "DATAEND", "NINTS", "NGROUPS", "DATE-BEG",
                    "DATE-END", "SUBARRAY", "SUBSIZE1", "SUBSIZE2", "READPATT", "APERNAME"):
        assert keyword in ours and keyword in real, keyword
        assert type(ours[keyword]) is type(real[keyword]), keyword
    for keyword in ("TELESCOP", "INSTRUME", "EXP_TYPE", "PCS_MODE", "NGROUPS", "SUBARRAY",
                    "SUBSIZE1", "SUBSIZE2", "READPATT"):
        assert ours[keyword] == real[keyword], keyword
    assert len(ours["GDSTARID"]) == len(real["GDSTARID"])
    assert len(ours["VISIT_ID"]) == len(real["VISIT_ID"])
    assert len(ours["DATE-BEG"]) == len(real["DATE-BEG"])


def test_files_open_as_guider_cal_models(visit):
    from jwst import datamodels

    spec = visit.visits[0]
    for path in visit.files:
        with GuiderCalModel(path) as model:
            assert model.data.dtype.kind == "f" and model.data.dtype.itemsize == 4
            assert model.data.shape[1:] == (8, 8)
            assert model.err.shape == model.data.shape
            assert model.dq.shape == (8, 8) and model.dq.dtype == np.uint32
            assert model.meta.guidestar.gs_id == spec.gs_id
            assert model.meta.exposure.type == "FGS_FINEGUIDE"
            assert len(model.pointing_table) > 0 and len(model.centroid_table) > 0
        with datamodels.open(path) as model:
            assert type(model) is GuiderCalModel


def test_bad_pixels_are_flagged(visit):
    flags = dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["HOT"]
    for path in visit.files:
        dq = fits.getdata(path, "DQ")
        assert dq[0, 0] == flags and dq[7, 2] == flags
        assert np.count_nonzero(dq) == 2


# --- timing ---------------------------------------------------------------------


def test_segments_are_contiguous_and_even(visit):
    starts = [h["DATASTRT"] for h in headers(visit)]
    ends = [h["DATAEND"] for h in headers(visit)]
    assert starts[1:] == ends[:-1]
    assert list(np.bincount(visit.truth["file_index"])) == [300, 300, 300]
    assert VisitSpec(n_frames=10, n_segments=3).segment_sizes() == [4, 3, 3]


def test_truth_times_are_mid_frame_times(visit):
    truth = visit.truth
    assert truth["time"].scale == "utc"
    for index, header in enumerate(headers(visit)):
        mine = truth[truth["file_index"] == index]
        n = len(mine)
        assert_array_equal(mine["frame_in_file"], np.arange(n))
        step = (header["DATAEND"] - header["DATASTRT"]) / n
        expected = header["DATASTRT"] + (np.arange(n) + 0.5) * step
        assert np.max(np.abs(mine["time"].mjd - expected)) * 86400 < 1e-5
        assert set(mine["file_name"]) == {visit.files[index].name}
    assert_allclose(np.diff(truth["time"].mjd) * 86400, FRAME_TIME, atol=1e-5)


def test_frame_time_is_not_assumed(tmp_path):
    result = datasets.make_guidestar_files(
        tmp_path, visits=[VisitSpec(n_frames=100, n_segments=2, frame_time=0.0617)], seed=1)
    for path in result.files:
        header = fits.getheader(path)
        assert_allclose((header["DATAEND"] - header["DATASTRT"]) * 86400, 50 * 0.0617, atol=1e-5)


def test_truth_table_columns_and_units(visit):
    truth = visit.truth
    assert len(truth) == N_FRAMES
    units = {"amplitude": u.DN / u.s, "x_mean": u.pix, "y_mean": u.pix, "x_stddev": u.pix,
             "y_stddev": u.pix, "theta": u.rad, "offset": u.DN / u.s, "flux": u.DN / u.s}
    for name, unit in units.items():
        assert truth[name].unit == unit, name
    for name in ("nan_frame", "cosmic_ray", "edge_star"):
        assert truth[name].dtype == bool
    assert isinstance(truth["time"], Time)
    # amplitude is the peak of a Gaussian of the given total flux.
    expected = truth["flux"] / (2 * np.pi * truth["x_stddev"] * truth["y_stddev"]) / u.pix**2
    assert_allclose(truth["amplitude"].value, expected.value, rtol=1e-12)
    assert_allclose(np.median(truth["flux"].value), datasets.countrate_from_magnitude(13.3),
                    rtol=1e-9)
    assert_array_equal(truth["gs_id"], visit.visits[0].gs_id)


# --- frames against the truth ----------------------------------------------------


def test_brightest_pixel_and_centroid_follow_the_truth(wobbling):
    sci, _ = frames(wobbling)
    truth = wobbling.truth
    x, y = truth["x_mean"].value, truth["y_mean"].value
    assert np.ptp(x) > 3 and np.ptp(y) > 3  # the star really moves over pixels
    peak = sci.reshape(len(sci), -1).argmax(axis=1)
    assert np.mean(peak % 8 == np.round(x)) > 0.9
    assert np.mean(peak // 8 == np.round(y)) > 0.9
    # Flux-weighted centroids (background removed) follow the truth closely.
    signal = np.clip(sci - truth["offset"].value[:, None, None], 0, None)
    rows, cols = np.mgrid[0:8, 0:8]
    total = signal.sum(axis=(1, 2))
    cx = (signal * cols).sum(axis=(1, 2)) / total
    cy = (signal * rows).sum(axis=(1, 2)) / total
    inside = (np.abs(x - 3.5) < 2) & (np.abs(y - 3.5) < 2)
    assert np.median(np.abs(cx - x)[inside]) < 0.05
    assert np.median(np.abs(cy - y)[inside]) < 0.05


def test_err_matches_the_scatter(tmp_path):
    result = datasets.make_guidestar_files(
        tmp_path, visits=[VisitSpec(n_frames=2000, n_segments=1)], jitter=0.0, seed=4)
    sci, err = frames(result)
    pull = (sci - sci.mean(axis=0)) / err
    assert_allclose(pull.std(axis=0), 1.0, atol=0.1)


def test_nan_frames_are_all_nan(visit):
    sci, err = frames(visit)
    nan = np.asarray(visit.truth["nan_frame"])
    assert list(np.flatnonzero(nan)) == [3, 450]
    assert np.all(np.isnan(sci[nan])) and np.all(np.isnan(err[nan]))
    assert np.all(np.isfinite(sci[~nan])) and np.all(np.isfinite(err[~nan]))


def test_transit_frames_are_fainter_by_the_depth(visit):
    sci, _ = frames(visit)
    truth = visit.truth
    good = ~np.asarray(truth["nan_frame"] | truth["cosmic_ray"] | truth["edge_star"])
    flux = sci.sum(axis=(1, 2)) - 64 * truth["offset"].value
    elapsed = (truth["time"] - truth["time"][0]).to_value(u.s) + FRAME_TIME / 2
    inside = good & (np.abs(elapsed - TRANSIT.mid_time) < TRANSIT.duration / 2 - 0.1)
    outside = good & (np.abs(elapsed - TRANSIT.mid_time) > TRANSIT.duration / 2 + 0.1)
    assert inside.sum() > 150 and outside.sum() > 500
    ratio = np.mean(flux[inside]) / np.mean(flux[outside])
    assert_allclose(ratio, 1 - TRANSIT.depth, atol=0.003)
    assert_allclose(truth["flux"].value[inside] / truth["flux"].value[outside][0],
                    1 - TRANSIT.depth)


def test_cosmic_rays_add_one_hot_pixel(visit):
    sci, err = frames(visit)
    truth = visit.truth
    hits = np.flatnonzero(truth["cosmic_ray"])
    assert list(hits) == [100, 650]
    for index in hits:
        excess = sci[index].sum() - 64 * truth["offset"][index].value - truth["flux"][index].value
        sigma = np.sqrt(np.sum(err[index] ** 2))
        assert abs(excess - 1e5) < 5 * sigma
        # Exactly one pixel stands out from its model-based error.
        model = sci[index - 1]  # the neighbouring frame as a noisy reference
        outliers = np.abs(sci[index] - model) > 1e5 / 2
        assert outliers.sum() == 1


def test_edge_star_frames(visit):
    sci, _ = frames(visit)
    truth = visit.truth
    edge = np.flatnonzero(truth["edge_star"])
    assert list(edge) == [200, 201]
    assert_allclose(truth["x_mean"].value[edge], 7.8, atol=0.1)
    assert np.all(sci[edge].reshape(2, -1).argmax(axis=1) % 8 == 7)
    centred = np.abs(truth["x_mean"].value[~np.asarray(truth["edge_star"])] - 3.5)
    assert centred.max() < 0.2


def test_psf_width_step_and_modulations(tmp_path):
    signals = [PsfWidthStep(time=10.0, factor=1.3), FluxModulation(period=7.0, amplitude=0.02),
               CentroidWobble(period=3.0, amplitude=0.2, axis="y")]
    result = datasets.make_guidestar_files(
        tmp_path, visits=[VisitSpec(n_frames=400, n_segments=1)], signals=signals, jitter=0.0,
        seed=5)
    truth = result.truth
    t = (truth["time"] - truth["time"][0]).to_value(u.s) + FRAME_TIME / 2
    after = t >= 10.0
    assert_allclose(truth["x_stddev"].value, np.where(after, 0.7 * 1.3, 0.7))
    assert_allclose(truth["y_stddev"].value, np.where(after, 0.62 * 1.3, 0.62))
    expected_flux = (datasets.countrate_from_magnitude(13.3)
                     * (1 + 0.02 * np.sin(2 * np.pi * t / 7.0)))
    assert_allclose(truth["flux"].value, expected_flux, rtol=1e-9)
    assert_allclose(truth["y_mean"].value, 3.5 + 0.2 * np.sin(2 * np.pi * t / 3.0), atol=1e-9)
    assert_allclose(truth["x_mean"].value, 3.5)
    # Wider PSF: the peak pixel holds less of the light.
    sci, _ = frames(result)
    peak_fraction = sci.max(axis=(1, 2)) / sci.sum(axis=(1, 2))
    assert np.median(peak_fraction[after]) < 0.75 * np.median(peak_fraction[~after])


# --- tables -----------------------------------------------------------------------


def test_pointing_table_and_hga_move(visit):
    t0 = visit.truth["time"][0].mjd - FRAME_TIME / 2 / 86400
    for index, (path, header) in enumerate(zip(visit.files, headers(visit))):
        table = fits.getdata(path, "POINTING")
        seconds = (table["time"] - t0) * 86400
        assert table["time"][0] <= header["DATASTRT"] and table["time"][-1] >= header["DATAEND"]
        assert_allclose(np.diff(seconds), 1.0, atol=1e-4)
        moving = (seconds >= 5.0 - 1e-6) & (seconds <= 10.0 + 1e-6)
        assert_array_equal(table["HGA_motion"], np.where(moving, "0", "1"))
        assert header["HGA_MOVE"] is (index == 0)
        assert np.all(np.isfinite(table["jitter"])) and np.all(table["jitter"] >= 0)


def test_packet_centroid_rows_differ_from_nints(visit):
    for path, header in zip(visit.files, headers(visit)):
        table = fits.getdata(path, "FGS CENTROID PACKET")
        assert len(table) != header["NINTS"]
        times = Time(np.char.replace(table["centroid_time"], " ", "T"), scale="utc")
        assert all(len(value) == 23 for value in table["centroid_time"])
        assert all(len(value) == 23 for value in table["observatory_time"])
        assert times[0].mjd < header["DATASTRT"] and times[-1].mjd > header["DATAEND"]
        assert np.all(table["data_quality"] == 0)
    with fits.open(visit.files[0]) as hdul:  # a cosmic ray (frame 100) is flagged
        assert "TRUE" in set(hdul["FGS CENTROID PACKET"].data["cosmic_ray_hit_flag"])


def test_per_frame_centroid_rows_give_each_frame_time(wobbling):
    truth = wobbling.truth
    for index, (path, header) in enumerate(zip(wobbling.files, headers(wobbling))):
        table = fits.getdata(path, "FGS CENTROID PACKET")
        mine = truth[truth["file_index"] == index]
        assert len(table) == header["NINTS"] == len(mine)
        times = Time(np.char.replace(table["centroid_time"], " ", "T"), scale="utc")
        assert np.max(np.abs((times - mine["time"]).to_value(u.s))) <= 0.5e-3 + 1e-6
        # On-board positions (arcsec) follow the star through the SIAF into the on-board
        # ideal frame (FGSn_FULL_OSS: x against the window's x, about 0.068"/pixel,
        # y along it, about 0.070"/pixel; the distortion changes the scales by up to
        # 4 % across the detector), with 2 mas of noise.
        slope_x = np.polyfit(mine["x_mean"].value, table["guide_star_position_x"], 1)[0]
        slope_y = np.polyfit(mine["y_mean"].value, table["guide_star_position_y"], 1)[0]
        scale_x, scale_y = pixel_scales(header["DETECTOR"])
        assert_allclose([slope_x, slope_y], [-scale_x, scale_y], rtol=0.05)
        sky = window_to_sky(mine["x_mean"].value, mine["y_mean"].value,
                            detector=header["DETECTOR"], xstart=header["SUBSTRT1"],
                            ystart=header["SUBSTRT2"])
        expected = telescope_to_ideal(sky.v2, sky.v3, detector=header["DETECTOR"])
        for axis, column in enumerate(("guide_star_position_x", "guide_star_position_y")):
            assert np.std(table[column] - expected[axis]) * 1000 == pytest.approx(2.0, rel=0.15)
            assert abs(np.mean(table[column] - expected[axis])) * 1000 < 0.5


# --- seeds, visits, products --------------------------------------------------------


def test_same_seed_same_files_other_seed_other_data(tmp_path):
    def make(name, seed):
        return datasets.make_guidestar_files(
            tmp_path / name, visits=[VisitSpec(n_frames=120, n_segments=2)],
            signals=[CosmicRays(indices=[5, 70])], seed=seed)

    first, again, other = make("a", 3), make("b", 3), make("c", 4)
    assert [p.name for p in first.files] == [p.name for p in again.files]
    for path_a, path_b in zip(first.files, again.files):
        with fits.open(path_a) as a, fits.open(path_b) as b:
            assert [h.name for h in a] == [h.name for h in b]
            for hdu_a, hdu_b in zip(a, b):
                header_a, header_b = dict(hdu_a.header), dict(hdu_b.header)
                # DATE is when the file was written (set by stdatamodels on save).
                header_a.pop("DATE", None)
                header_b.pop("DATE", None)
                assert header_a == header_b
                if hdu_a.name not in ("PRIMARY", "ASDF"):
                    assert_array_equal(hdu_a.data, hdu_b.data)
    for name in first.truth.colnames:
        if name == "time":
            assert_array_equal(first.truth["time"].mjd, again.truth["time"].mjd)
        else:
            assert_array_equal(first.truth[name], again.truth[name])
    assert not np.array_equal(frames(first)[0], frames(other)[0])
    assert first.visits[0].gs_id != other.visits[0].gs_id


def test_several_visits_and_guide_stars(tmp_path):
    visits = [
        VisitSpec(observation=1, visit=1, n_frames=200, n_segments=2),
        VisitSpec(observation=2, visit=1, n_frames=150, n_segments=1, fgs_mag=15.0,
                  detector="GUIDER2", frame_time=0.0617),
        VisitSpec(observation=3, visit=1, n_frames=100, n_segments=1, gs_id="N4E8000459",
                  gs_ra=10.0, gs_dec=20.0),
    ]
    result = datasets.make_guidestar_files(tmp_path, visits=visits, seed=9)
    truth = result.truth
    assert len(result.files) == 4 and len(truth) == 450
    gs_ids = list(dict.fromkeys(truth["gs_id"]))
    assert len(set(gs_ids)) == 3 and gs_ids[2] == "N4E8000459"
    assert all(GS_ID.match(gs_id) for gs_id in gs_ids)
    head = headers(result)
    assert [h["OBSERVTN"] for h in head] == ["001", "001", "002", "003"]
    assert [h["DETECTOR"] for h in head] == ["GUIDER1", "GUIDER1", "GUIDER2", "GUIDER1"]
    assert [h["GDSTARID"] for h in head] == [gs_ids[0], gs_ids[0], gs_ids[1], gs_ids[2]]
    assert head[3]["GS_DEC"] == 20.0
    assert np.all(np.diff(truth["time"].mjd) > 0)
    assert_array_equal(truth["file_index"], np.repeat(np.arange(4), [100, 100, 150, 100]))
    # Later visits start some minutes after the previous one ends.
    gap = (head[2]["DATASTRT"] - head[1]["DATAEND"]) * 86400
    assert 60 <= gap <= 3600
    # Count rates follow the magnitudes.
    flux = [np.median(truth["flux"].value[truth["gs_id"] == g]) for g in gs_ids[:2]]
    assert_allclose(flux[1] / flux[0], 10 ** (-0.4 * (15.0 - 13.3)), rtol=1e-9)


def test_visits_in_any_order_come_back_in_time_order(tmp_path):
    visits = [VisitSpec(observation=2, n_frames=50, n_segments=1, start="2023-01-02T00:00:00"),
              VisitSpec(observation=1, n_frames=50, n_segments=1, start="2023-01-01T00:00:00")]
    result = datasets.make_guidestar_files(tmp_path, visits=visits, seed=1)
    assert [fits.getval(p, "OBSERVTN") for p in result.files] == ["001", "002"]
    assert result.truth["time"][0].isot.startswith("2023-01-01T00:00:00")


def test_uncal_product_is_a_guider_raw_model(tmp_path):
    from jwst import datamodels

    result = datasets.make_guidestar_files(
        tmp_path, visits=[VisitSpec(n_frames=30, n_segments=1)], product="uncal", seed=2)
    (path,) = result.files
    assert NAME.match(path.name)["product"] == "uncal"
    with fits.open(path) as hdul:
        assert hdul[0].header["DATAMODL"] == "GuiderRawModel"
        assert hdul[0].header["EXP_TYPE"] == "FGS_FINEGUIDE"
        sci = hdul["SCI"].data
        assert sci.dtype == np.uint16 and sci.shape == (30, 8, 8, 8)
        assert np.all(np.diff(sci.astype(int).sum(axis=(2, 3)), axis=1) > 0)  # ramps go up
    with GuiderRawModel(path) as model:
        assert model.data.shape == (30, 8, 8, 8)
    with datamodels.open(path) as model:
        assert type(model) is GuiderRawModel


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"signals": [NanFrames(indices=[500])]}, ValueError, "beyond the last frame"),
        ({"signals": ["transit"]}, ParameterError, "unknown signal"),
        ({"product": "rate"}, ValueError, "product"),
        ({"centroid_rows": "some"}, ValueError, "centroid_rows"),
        ({"visits": [VisitSpec(n_frames=100, start="2023-01-01T00:00:00"),
                     VisitSpec(n_frames=100, observation=2, start="2023-01-01T00:00:03")]},
         ValueError, "before the visit"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, error, match):
    arguments = {"visits": [VisitSpec(n_frames=100, n_segments=1)]} | kwargs
    with pytest.raises(error, match=match):
        datasets.make_guidestar_files(tmp_path, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_bad_signals_and_visits_are_refused():
    with pytest.raises(ValueError, match="depth"):
        Transit(mid_time=1.0, duration=1.0, depth=1.0)
    with pytest.raises(ValueError, match="axis"):
        CentroidWobble(period=1.0, amplitude=0.1, axis="z")
    with pytest.raises(ValueError, match="indices"):
        NanFrames(indices=[-1])
    with pytest.raises(ValueError, match="detector"):
        VisitSpec(detector="NRCA1")
    with pytest.raises(ValueError, match="n_segments"):
        VisitSpec(n_frames=2, n_segments=3)


# Every wrong type or value given to the public API is a ParameterError (a ValueError),
# raised before anything is written.
WRONG_CALLS = {
    "n_frames text": lambda d: datasets.simulate_frames("10"),
    "no frame": lambda d: datasets.simulate_frames(0),
    "unknown guider": lambda d: datasets.simulate_frames(5, detector="GUIDER3"),
    "array of the wrong length": lambda d: datasets.simulate_frames(5, x_mean=[1.0, 2.0]),
    "seed text": lambda d: datasets.simulate_frames(5, seed="a"),
    "shape scalar": lambda d: datasets.simulate_frames(5, shape=8),
    "negative jitter": lambda d: datasets.simulate_frames(5, jitter=-1.0),
    "zero integration time": lambda d: datasets.simulate_frames(5, integration_time=0),
    "magnitude text": lambda d: datasets.countrate_from_magnitude("bright"),
    "transit time text": lambda d: Transit(mid_time="noon", duration=1.0, depth=0.1),
    "negative duration": lambda d: Transit(mid_time=0.0, duration=-1.0, depth=0.1),
    "long ingress": lambda d: Transit(mid_time=0.0, duration=1.0, depth=0.1, ingress=0.6),
    "modulation of 1": lambda d: FluxModulation(period=1.0, amplitude=1.0),
    "wobble amplitude text": lambda d: CentroidWobble(period=1.0, amplitude="x"),
    "zero width factor": lambda d: PsfWidthStep(time=0.0, factor=0.0),
    "fraction above 1": lambda d: datasets.LowPixels(fraction=2.0),
    "positive lowest": lambda d: datasets.LowPixels(lowest=1.0),
    "ragged indices": lambda d: NanFrames(indices=[[1], [2, 3]]),
    "text indices": lambda d: NanFrames(indices=["a"]),
    "negative hit": lambda d: CosmicRays(indices=[1], amplitude=-1.0),
    "edge text": lambda d: EdgeStar(indices=[1], x_mean="left"),
    "HGA backwards": lambda d: HgaMove(start=5.0, stop=1.0),
    "observation 1000": lambda d: VisitSpec(observation=1000),
    "visit 1.5": lambda d: VisitSpec(visit=1.5),
    "no frames": lambda d: VisitSpec(n_frames=0),
    "1000 segments": lambda d: VisitSpec(n_frames=5000, n_segments=1000),
    "zero frame time": lambda d: VisitSpec(frame_time=0.0),
    "no magnitude": lambda d: VisitSpec(fgs_mag=None),
    "gs_id number": lambda d: VisitSpec(gs_id=5),
    "start number": lambda d: VisitSpec(start=5),
    "zero width": lambda d: VisitSpec(x_stddev=0.0),
    "program 0": lambda d: datasets.make_guidestar_files(d, program=0),
    "negative seed": lambda d: datasets.make_guidestar_files(d, seed=-1),
    "float seed": lambda d: datasets.make_guidestar_files(d, seed=1.5),
    "no visit": lambda d: datasets.make_guidestar_files(d, visits=[]),
    "visit text": lambda d: datasets.make_guidestar_files(d, visits=["visit"]),
    "visits number": lambda d: datasets.make_guidestar_files(d, visits=5),
    "signals number": lambda d: datasets.make_guidestar_files(d, signals=5),
    "start not a time": lambda d: datasets.make_guidestar_files(
        d, visits=[VisitSpec(start="not a time")]),
    "same names": lambda d: datasets.make_guidestar_files(
        d, visits=[VisitSpec(n_frames=10, n_segments=1, start="2023-01-01T00:00:00"),
                   VisitSpec(n_frames=2, n_segments=1, start="2023-01-01T00:00:00.6")]),
    "pixel off the frame": lambda d: datasets.make_guidestar_files(d, bad_pixels=[(8, 0)]),
    "pixel not a pair": lambda d: datasets.make_guidestar_files(d, bad_pixels=[(1,)]),
    "background text": lambda d: datasets.make_guidestar_files(d, background="dark"),
    "negative jitter (files)": lambda d: datasets.make_guidestar_files(d, jitter=-0.1),
    "sample folder number": lambda d: datasets.sample_visit(5),
    "science folder boolean": lambda d: datasets.sample_science(True),
}


@pytest.mark.parametrize("name", WRONG_CALLS)
def test_wrong_types_and_values_are_parameter_errors(tmp_path, name):
    with pytest.raises(ParameterError):
        WRONG_CALLS[name](tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from spelunker.datasets import guidestar_files

    write = guidestar_files.write_guider_file

    def fail_on_second_segment(path, plan, *args, **kwargs):
        write(path, plan, *args, **kwargs)
        if plan.segment == 2:
            raise OSError("disk full")

    monkeypatch.setattr(guidestar_files, "write_guider_file", fail_on_second_segment)
    with pytest.raises(OSError, match="disk full"):
        datasets.make_guidestar_files(tmp_path, visits=[VisitSpec(n_frames=40, n_segments=2)])
    # The first segment is whole; of the second neither the file nor a temporary is left.
    assert [p.name for p in tmp_path.iterdir()] == [
        "jw01534001001_gs-fg_2022338013537-seg001_cal.fits"]


def test_trapezoid_transit():
    transit = Transit(mid_time=0.0, duration=10.0, depth=0.1, ingress=2.0)
    assert_allclose(transit.flux_factor([-6.0, -5.0, -4.0, -3.0, 0.0, 4.0]),
                    [1.0, 1.0, 0.95, 0.9, 0.9, 0.95])


# --- the sample visit ----------------------------------------------------------------


def test_sample_visit_is_cached_and_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("SPELUNKER_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = datasets.sample_visit()
    assert first.files[0].parent == tmp_path / "cache" / "sample_visit"
    assert len(first.files) == 3 and len(first.truth) == 6000
    assert len({fits.getval(p, "GDSTARID") for p in first.files}) == 1
    kinds = {type(s) for s in first.signals}
    assert {Transit, CentroidWobble, FluxModulation} <= kinds
    wobble = next(s for s in first.signals if isinstance(s, CentroidWobble))
    assert 1.0 <= wobble.period <= 10.0
    stamps = [p.stat().st_mtime_ns for p in first.files]

    second = datasets.sample_visit()  # reused, not rewritten
    assert [p.stat().st_mtime_ns for p in second.files] == stamps
    assert_array_equal(second.truth["x_mean"], first.truth["x_mean"])

    first.files[1].write_bytes(first.files[1].read_bytes()[:2880])  # a damaged file
    third = datasets.sample_visit()
    assert third.files[1].stat().st_size == second.files[0].stat().st_size
    with GuiderCalModel(third.files[1]) as model:
        assert model.data.shape == (2000, 8, 8)


def test_sample_visit_in_a_given_directory(tmp_path):
    result = datasets.sample_visit(tmp_path)
    assert all(p.parent == tmp_path for p in result.files)
    sci, _ = frames(result)
    flux = sci.sum(axis=(1, 2))
    transit = next(s for s in result.signals if isinstance(s, Transit))
    elapsed = (result.truth["time"] - result.truth["time"][0]).to_value(u.s)
    inside = np.abs(elapsed - transit.mid_time) < transit.duration / 2 - transit.ingress
    outside = np.abs(elapsed - transit.mid_time) > transit.duration / 2 + 1
    assert_allclose(flux[inside].mean() / flux[outside].mean(), 1 - transit.depth, atol=0.002)
