"""Write one synthetic guider product: its frames, on-board tables and header.

`write_guider_file` turns the frames and truth of one planned file
(`spelunker.datasets.plan.FilePlan`) into a MAST-like calibrated
(`~stdatamodels.jwst.datamodels.GuiderCalModel`) or uncalibrated
(`~stdatamodels.jwst.datamodels.GuiderRawModel`) product: the POINTING
table (`POINTING_CADENCE`), the FGS CENTROID PACKET table (one row per
frame, or the on-board cadence `PACKET_CADENCE`; positions in the on-board
ideal frame through the SIAF, `spelunker.pointing.sky`), and the header keywords
that the reader and the archive use.  It writes where it is told;
`spelunker.datasets.guidestar_files` makes the write atomic.

Timing follows the archive: in a file of ``n`` frames, frame ``i`` is centred
at ``DATASTRT + (i + 0.5) * (DATAEND - DATASTRT) / n`` (MJD, UTC) and
``DATAEND - DATASTRT = n * frame_time``.
"""

import math

import numpy as np
from astropy.io import fits
from stdatamodels.jwst.datamodels import GuiderCalModel, GuiderRawModel

from spelunker._validate import check_path
from spelunker.datasets._common import iso_time, set_identity
from spelunker.datasets.plan import check_plan
from spelunker.datasets.signals import HgaMove
from spelunker.datasets.simulator import GAIN, READ_NOISE_DN
from spelunker.instrument import PIXEL_SCALE
from spelunker.pointing.sky import telescope_to_ideal, window_to_sky

__all__ = [
    "FINEGUIDE_NGROUPS",
    "PACKET_CADENCE",
    "PACKET_LATENCY",
    "PACKET_MARGIN",
    "POINTING_CADENCE",
    "RAW_BIAS_DN",
    "write_guider_file",
]

#: Groups per integration of fine-guide data (NGROUPS of the real products).
FINEGUIDE_NGROUPS = 8

#: Cadence (seconds) of the synthetic POINTING table.
POINTING_CADENCE = 1.0

#: Cadence (seconds) of the on-board centroid packets for ``centroid_rows='packet'``.
PACKET_CADENCE = 0.064

#: The packet table runs this many seconds beyond each end of a file's data.
PACKET_MARGIN = 0.5

#: Illustrative delay (seconds) of a packet's observatory time after its centroid time.
PACKET_LATENCY = 0.032

#: Bias level (DN) of synthetic uncalibrated ramps.
RAW_BIAS_DN = 12000.0


def _pointing_table(plan, truth, signals, dtype, aux):
    """POINTING rows every `POINTING_CADENCE` s from DATASTRT to at least DATAEND."""
    spec, n = plan.spec, plan.n_frames
    duration = n * spec.frame_time
    n_rows = int(math.ceil(duration / POINTING_CADENCE)) + 1
    offset_s = np.arange(n_rows) * POINTING_CADENCE
    table = np.zeros(n_rows, dtype=dtype)
    table["time"] = plan.start_mjd + offset_s / 86400.0
    # Pointing errors (mas) from the true star offsets binned per row.
    bins = np.minimum((truth["time_s"] - plan.start_s) // POINTING_CADENCE, n_rows - 1).astype(int)
    count = np.maximum(np.bincount(bins, minlength=n_rows), 1)
    dx = (truth["x_mean"] - spec.x_mean) * PIXEL_SCALE * 1e3
    dy = (truth["y_mean"] - spec.y_mean) * PIXEL_SCALE * 1e3
    mean_x = np.bincount(bins, dx, minlength=n_rows) / count
    mean_y = np.bincount(bins, dy, minlength=n_rows) / count
    rms = np.sqrt(np.bincount(bins, dx**2 + dy**2, minlength=n_rows) / count)
    empty = np.bincount(bins, minlength=n_rows) == 0
    if np.any(empty):  # the last row(s) past the data repeat the row before
        last = np.maximum.accumulate(np.where(~empty, np.arange(n_rows), 0))
        mean_x, mean_y, rms = mean_x[last], mean_y[last], rms[last]
    table["jitter"] = rms
    table["delta_ddc_ra"] = mean_x
    table["delta_ddc_dec"] = mean_y
    table["delta_v1_ra"] = mean_x + aux.normal(0.0, 0.05, n_rows)
    table["delta_v1_dec"] = mean_y + aux.normal(0.0, 0.05, n_rows)
    table["delta_j1_ra"] = mean_x + aux.normal(0.0, 0.05, n_rows)
    table["delta_j1_dec"] = mean_y + aux.normal(0.0, 0.05, n_rows)
    table["delta_aperture_pa"] = aux.normal(0.0, 0.1, n_rows)
    table["delta_v3_pa"] = aux.normal(0.0, 0.1, n_rows)
    table["delta_j3_pa"] = aux.normal(0.0, 0.1, n_rows)
    moving = np.zeros(n_rows, bool)
    row_s = plan.start_s + offset_s
    for signal in signals:
        if isinstance(signal, HgaMove):
            moving |= signal.moving(row_s)
    table["HGA_motion"] = np.where(moving, b"0", b"1")
    return table


def _centroid_table(plan, truth, dtype, aux, centroid_rows):
    """FGS CENTROID PACKET rows, one per frame or on the on-board 64 ms cadence."""
    spec, n = plan.spec, plan.n_frames
    frame_days = spec.frame_time / 86400.0
    if centroid_rows == "per_frame":
        frame = np.arange(n)
        mjd = plan.start_mjd + (frame + 0.5) * (plan.end_mjd - plan.start_mjd) / n
    else:
        span = n * spec.frame_time + 2 * PACKET_MARGIN
        n_rows = int(span // PACKET_CADENCE) + 1
        if n_rows == n:  # never let the packet count pass for one time per frame
            n_rows += 1
        offset = -PACKET_MARGIN + np.arange(n_rows) * PACKET_CADENCE
        mjd = plan.start_mjd + offset / 86400.0
        frame = np.clip(np.floor((mjd - plan.start_mjd) / frame_days), 0, n - 1).astype(int)
    table = np.zeros(len(mjd), dtype=dtype)
    table["centroid_time"] = iso_time(mjd, sep=" ").astype("S23")
    table["observatory_time"] = iso_time(mjd + PACKET_LATENCY / 86400.0, sep=" ").astype("S23")
    corner_x, corner_y = plan.subarray_start
    noise = 0.002  # arcsec, on-board centroid noise
    # The true centre through the SIAF (window -> science frame -> V2/V3) into the
    # on-board ideal frame of the packets (FGSn_FULL_OSS), as the real packets are.
    sky = window_to_sky(truth["x_mean"][frame], truth["y_mean"][frame], detector=spec.detector,
                        xstart=corner_x, ystart=corner_y)
    idl_x, idl_y = telescope_to_ideal(sky.v2, sky.v3, detector=spec.detector, frame="onboard")
    table["guide_star_position_x"] = idl_x + aux.normal(0, noise, len(frame))
    table["guide_star_position_y"] = idl_y + aux.normal(0, noise, len(frame))
    gain = GAIN[spec.detector]
    electrons = truth["flux"][frame] * spec.frame_time * gain
    sky = 64 * (truth["offset"][frame] * spec.frame_time * gain + (READ_NOISE_DN * gain) ** 2)
    snr = electrons / np.sqrt(electrons + sky)
    table["guide_star_instrument_counts_per_sec"] = truth["flux"][frame] * (
        1.0 + aux.normal(0.0, 1.0, len(frame)) / snr)
    table["signal_to_noise_current_frame"] = snr
    table["data_quality"] = 0
    table["bad_pixel_flag"] = b"NONE"
    table["bad_centroid_dq_flag"] = b"NONE"
    table["cosmic_ray_hit_flag"] = np.where(truth["cosmic_ray"][frame], b"TRUE", b"FALSE")
    table["sw_subwindow_loc_change_flag"] = b"FALSE"
    table["guide_star_at_detector_subwindow_boundary_flag"] = np.where(
        truth["edge_star"][frame], b"TRUE", b"FALSE")
    table["subwindow_out_of_FOV_flag"] = b"FALSE"
    return table


def _fill_meta(model, plan, *, program, product, signals, pointing):
    spec = plan.spec
    meta = model.meta
    set_identity(meta, filename=plan.name,
                 title="Synthetic fine-guide data (spelunker.datasets)", program=program,
                 observation=spec.observation, visit=spec.visit, start_mjd=plan.start_mjd,
                 end_mjd=plan.end_mjd)
    meta.instrument.name = "FGS"
    meta.instrument.detector = spec.detector
    # OBS_ID as in real guider headers: 'V' + VISIT_ID + 'P' + 13 digits ending in
    # visit group 01, parallel sequence 1, activity 02 (PID 1029: V01029001001P0000000001102).
    meta.observation.obs_id = f"V{meta.observation.visit_id}P0000000001102"
    meta.exposure.type = "FGS_FINEGUIDE"
    meta.exposure.readpatt = "FINEGUIDE"
    meta.exposure.nints = plan.n_frames
    meta.exposure.ngroups = FINEGUIDE_NGROUPS
    meta.exposure.segment_number = plan.segment
    meta.exposure.segment_total = spec.n_segments
    meta.exposure.duration = plan.n_frames * spec.frame_time
    meta.subarray.name = "8X8"
    meta.subarray.xstart, meta.subarray.ystart = plan.subarray_start
    meta.subarray.xsize = 8
    meta.subarray.ysize = 8
    # FASTAXIS / SLOWAXIS as in the real guider 1 and guider 2 headers.
    axes = (-2, -1) if spec.detector == "GUIDER1" else (2, -1)
    meta.subarray.fastaxis, meta.subarray.slowaxis = axes
    meta.aperture.name = "FGS1_FULL" if spec.detector == "GUIDER1" else "FGS2_FULL"
    meta.guidestar.gs_id = spec.gs_id
    meta.guidestar.gs_ra = float(spec.gs_ra)
    meta.guidestar.gs_dec = float(spec.gs_dec)
    meta.guidestar.gs_mag = float(spec.fgs_mag)
    meta.guidestar.gs_order = int(spec.gs_order)
    meta.guidestar.gs_v3_pa_science = float(spec.gs_v3_pa)
    meta.guidestar.gs_pcs_mode = "FINEGUIDE"
    meta.guidestar.data_start = float(plan.start_mjd)
    meta.guidestar.data_end = float(plan.end_mjd)
    meta.bunit_data = "DN/s" if product == "cal" else "DN"
    if product == "cal":
        meta.bunit_err = "DN/s"
    meta.jitter_average = float(np.mean(pointing["jitter"]))
    meta.jitter_max = float(np.max(pointing["jitter"]))
    meta.jitter_min = float(np.min(pointing["jitter"]))
    end_s = plan.start_s + plan.n_frames * spec.frame_time
    moves = [s for s in signals
             if isinstance(s, HgaMove) and s.start <= end_s and s.stop >= plan.start_s]
    meta.hga_move = bool(moves)
    if moves:
        first_mjd = plan.start_mjd - plan.start_s / 86400.0
        move_start = first_mjd + min(m.start for m in moves) / 86400.0
        move_stop = first_mjd + max(m.stop for m in moves) / 86400.0
        meta.hga_start_time = str(iso_time(move_start, sep=" ", digits=0))
        meta.hga_stop_time = str(iso_time(move_stop, sep=" ", digits=0))


def _raw_ramps(data, frame_time, aux):
    """uint16 (n, groups, rows, cols) up-the-ramp DN from count rates (NaN frames as 0)."""
    rate = np.nan_to_num(data, nan=0.0).astype(np.float32)
    step = np.float32(frame_time / FINEGUIDE_NGROUPS)
    groups = np.arange(1, FINEGUIDE_NGROUPS + 1, dtype=np.float32)[None, :, None, None]
    bias = aux.normal(RAW_BIAS_DN, 5.0, (data.shape[0], 1) + data.shape[1:]).astype(np.float32)
    ramps = bias + rate[:, None] * step * groups
    return np.clip(np.round(ramps), 0, 65535).astype(np.uint16)


def write_guider_file(path, plan, data, err, dq, truth, signals, *, program, product,
                      centroid_rows, aux):
    """Write one synthetic guider product to ``path`` (whose name is ``plan.name``).

    Parameters
    ----------
    path : pathlib.Path
        Where to write; the product records its name as FILENAME.
    plan : spelunker.datasets.plan.FilePlan
        The file's visit, segment, frames and times.
    data, err : numpy.ndarray
        float32 (n, 8, 8) count rates and their errors (DN/s).
    dq : numpy.ndarray
        uint32 (8, 8) pixel DQ of a calibrated product.
    truth : dict of numpy.ndarray
        The file's frames' truth (`spelunker.datasets.guidestar_files`):
        the PSF parameters, ``time_s`` and the ``cosmic_ray`` and
        ``edge_star`` flags.
    signals : tuple
        The visit's signals (`~spelunker.datasets.HgaMove` sets the
        POINTING table's ``HGA_motion`` and the HGA keywords).
    program : int
        Program number.
    product : {'cal', 'uncal'}
        Calibrated count rates, or uncalibrated uint16 ramps made from them.
    centroid_rows : {'packet', 'per_frame'}
        The centroid packet table's rows.
    aux : numpy.random.Generator
        The file's auxiliary stream (table noise, ramp bias).

    Raises
    ------
    spelunker.errors.ParameterError
        ``path`` is not a path or ``plan`` not a
        `~spelunker.datasets.plan.FilePlan`.
    """
    path = check_path(path, "path", where="write_guider_file")
    check_plan(plan, where="write_guider_file")
    model_class = GuiderCalModel if product == "cal" else GuiderRawModel
    # Validating every assignment re-reads schemas (about 0.15 s per file);
    # the whole model is validated once before saving instead.
    with model_class(validate_on_assignment=False) as model:
        pointing = _pointing_table(plan, truth, signals, model.get_dtype("pointing_table"), aux)
        centroid = _centroid_table(plan, truth, model.get_dtype("centroid_table"), aux,
                                   centroid_rows)
        if product == "cal":
            model.data = data
            model.err = err
            model.dq = dq
            ramps = None
        else:
            ramps = _raw_ramps(data, plan.spec.frame_time, aux)
            model.data = np.zeros((1,) + ramps.shape[1:], np.float32)  # placeholder, see below
        model.pointing_table = pointing
        model.centroid_table = centroid
        _fill_meta(model, plan, program=program, product=product, signals=signals,
                   pointing=pointing)
        model.validate()
        model.save(path)
    if ramps is not None:
        # GuiderRawModel's schema casts SCI to float32; the archive's uncal
        # products hold uint16, so put the real type on disk.
        with fits.open(path, mode="update") as hdul:
            hdul["SCI"].data = ramps
