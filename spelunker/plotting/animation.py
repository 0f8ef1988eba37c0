"""Animations of fine-guide frames next to the light curve."""

import logging
import operator
import os
from pathlib import Path

import numpy as np
from astropy.time import Time

from spelunker._validate import check_finite_float, check_output_file, check_positive_float
from spelunker.datamodels import check_model
from spelunker.errors import ParameterError
from spelunker.plotting._canvas import check_dpi
from spelunker.plotting._model import (
    aperture_of,
    frames_by_guidestar,
    guidestar_names,
    guidestar_of_frames,
)
from spelunker.plotting.frames import aperture_outline
from spelunker.plotting.timeseries import relative_flux

__all__ = ["flux_spatial_timelapse_animation", "ANIMATION_FORMATS"]

log = logging.getLogger(__name__)

#: File name endings the animation can be written to, and the writer of each.
ANIMATION_FORMATS = {".gif": "pillow", ".mp4": "ffmpeg"}


def _frame_number(value, name):
    if isinstance(value, (bool, np.bool_)):
        msg = f"{name}={value!r} must be an integer frame number"
        raise ParameterError(msg)
    try:
        return operator.index(value)
    except TypeError:
        msg = f"{name}={value!r} must be an integer frame number"
        raise ParameterError(msg) from None


def _check_range(start, stop, step, n_frames):
    start = _frame_number(start, "start")
    stop = _frame_number(stop, "stop")
    step = _frame_number(step, "step")
    if step < 1:
        msg = f"step={step} must be >= 1"
        raise ParameterError(msg)
    if not 0 <= start < stop <= n_frames:
        msg = (f"frames start={start} to stop={stop} are not a non-empty range within the "
               f"{n_frames} frames of the model (0 <= start < stop <= {n_frames})")
        raise ParameterError(msg)
    return range(start, stop, step)


def _writer(path, fps):
    from matplotlib import animation  # matplotlib loads only when an animation is made

    suffix = path.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        msg = (f"filename {str(path)!r}: an animation is written as .gif (Pillow) or .mp4 "
               "(ffmpeg); choose one of these endings")
        raise ParameterError(msg)
    if suffix == ".mp4":
        if not animation.writers.is_available("ffmpeg"):
            msg = (f"filename {str(path)!r}: MP4 needs ffmpeg, which is not installed (not "
                   "on PATH or at matplotlib's rcParams['animation.ffmpeg_path']); install "
                   "ffmpeg or write a GIF instead (filename ending in .gif)")
            raise ParameterError(msg)
        return animation.FFMpegWriter(fps=fps)
    return animation.PillowWriter(fps=fps)


def flux_spatial_timelapse_animation(model, start, stop, filename="movie.gif", *, step=1,
                                     fps=10, dpi=80, vmin=None, vmax=None):
    """Animate frames ``start:stop:step`` next to the light curve, with a moving marker.

    Left: the frame (DN/s, one colour scale for the whole animation) with
    the aperture of that frame's own guide star outlined; right: the
    relative flux of every frame from ``start`` to ``stop``
    (`~spelunker.plotting.relative_flux` of those frames only: each guide
    star divided by the median of its frames in the clip) against time since
    frame ``start``, with a marker and a line at the frame shown.  Only the
    frames of the clip are read and summed, so a short clip of a long visit
    is quick.  The figure is a `matplotlib.figure.Figure` made without
    pyplot, as in the visit report.

    Parameters
    ----------
    model : GuideStarModel
        A read model.
    start, stop : int
        First frame and the frame after the last (Python range semantics;
        ``0 <= start < stop <= n_frames``).
    filename : str or os.PathLike, optional
        Output file: ``.gif`` (written with Pillow) or ``.mp4`` (needs
        ffmpeg).
    step : int, optional
        Show every ``step``-th frame; the animation has exactly
        ``len(range(start, stop, step))`` frames.
    fps : float, optional
        Frames per second of the animation (real time is about 18.6 frames
        per second for 53.8 ms frames).
    dpi : float, optional
        Resolution of the written frames (at least 10 dots per inch).
    vmin, vmax : float, optional
        Colour scale (DN/s); default the 0.5 and 99.9 percentiles of the
        frames shown.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    spelunker.errors.ParameterError
        (a `ValueError`) for a ``model`` that is not a GuideStarModel, a bad
        frame range, step, ``fps``, ``dpi``, ``vmin`` or ``vmax``, a file
        name that is neither .gif nor .mp4, an .mp4 file when ffmpeg is not
        installed (the message suggests a .gif), a folder, or a file in a
        missing or read-only folder; raised before anything is drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.plotting import flux_spatial_timelapse_animation
    >>> directory = tempfile.mkdtemp()
    >>> visit = datasets.make_guidestar_files(
    ...     directory, visits=[datasets.VisitSpec(n_frames=200, n_segments=1)], seed=3)
    >>> model = read_guidestar(visit.files)
    >>> path = flux_spatial_timelapse_animation(
    ...     model, 10, 40, os.path.join(directory, "movie.gif"), step=3)
    >>> Image.open(path).n_frames
    10
    """
    from matplotlib import animation  # matplotlib loads only when an animation is made

    where = "flux_spatial_timelapse_animation"
    check_model(model, where=where)
    if not model.hasattr("data") or np.ndim(model.data) != 3:
        msg = "the model has no (n_frames, rows, columns) data to animate"
        raise ParameterError(msg)
    frames = _check_range(start, stop, step, len(model.data))
    fps = check_positive_float(fps, "fps")
    dpi = check_dpi(dpi)
    vmin, vmax = (None if value is None else check_finite_float(value, name, where=where)
                  for value, name in ((vmin, "vmin"), (vmax, "vmax")))
    if not isinstance(filename, (str, os.PathLike)):
        msg = f"filename={filename!r} must be a file path ending in .gif or .mp4"
        raise ParameterError(msg)
    writer = _writer(Path(filename), fps)  # the ending (and ffmpeg) first
    path = check_output_file(filename, "filename")

    scene = _Scene(model, frames, vmin=vmin, vmax=vmax)
    movie = animation.FuncAnimation(scene.figure, scene.draw, frames=len(frames),
                                    init_func=lambda: (), blit=False, repeat=False,
                                    cache_frame_data=False)
    movie.save(path, writer=writer, dpi=dpi)
    log.info("wrote %s: frames %d to %d, every %d (%d frames at %g fps)", path, frames.start,
             frames.stop, frames.step, len(frames), fps)
    return path


class _Scene:
    """The figure of the animation and the function that shows its k-th frame.

    Reads only frames ``frames.start:frames.stop`` of the model.
    """

    def __init__(self, model, frames, *, vmin=None, vmax=None):
        # matplotlib loads only when an animation is made.
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure

        self.frames = frames
        clip = slice(frames.start, frames.stop)
        self.data = np.asarray(model.data[clip])
        shown = self.data[::frames.step]
        finite = shown[np.isfinite(shown)]
        if vmin is None:
            vmin = float(np.percentile(finite, 0.5)) if finite.size else 0.0
        if vmax is None:
            vmax = float(np.percentile(finite, 99.9)) if finite.size else 1.0
        if not vmax > vmin:
            vmax = vmin + 1.0
        self.curve, _, source = relative_flux(model, frames=clip)
        if model.hasattr("frames") and len(model.frames) == len(model.data):
            mjd = np.asarray(model.frames["mid_time_mjd"][clip], dtype=float)
            self.times = Time(mjd, format="mjd", scale="utc")
            self.elapsed = (self.times - self.times[0]).to_value("s")
        else:
            self.times = None
            self.elapsed = np.arange(len(self.data), dtype=float)
        self.groups = guidestar_of_frames(model, len(model.data))[clip]
        self.names = dict(enumerate(guidestar_names(model)))
        self.outlines = {}
        for star, _ in frames_by_guidestar(model, len(model.data)):
            mask = aperture_of(model, star)
            self.outlines[star] = [] if mask is None else aperture_outline(mask)

        figure = Figure(figsize=(10, 4))
        ax_image, ax_curve = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.8]})
        self.figure, self.ax_image, self.ax_curve = figure, ax_image, ax_curve
        self.image = ax_image.imshow(self.data[0], origin="lower", cmap="viridis", vmin=vmin,
                                     vmax=vmax, interpolation="nearest")
        figure.colorbar(self.image, ax=ax_image, label="DN/s")
        self.aperture = LineCollection(self.outlines[int(self.groups[0])], colors="white",
                                       linewidths=1.2, gid="aperture")
        ax_image.add_collection(self.aperture)
        ax_image.set_xlabel("x (column, pix)")
        ax_image.set_ylabel("y (row, pix)")
        self.title = ax_image.set_title("", fontsize="small")
        ax_curve.plot(self.elapsed, self.curve, "-", color="0.5", linewidth=0.7, gid="curve")
        self.marker, = ax_curve.plot([], [], "o", color="C3", markersize=6, gid="marker")
        self.cursor = ax_curve.axvline(0.0, color="C3", linewidth=0.8)
        unit = "s" if self.times is not None else "frames"
        ax_curve.set_xlabel(f"time since frame {frames.start} ({unit})")
        ax_curve.set_ylabel(f"relative flux ({source}, / median of the clip)")

    def draw(self, k):
        """Show the k-th frame of the animation (frame ``frames[k]`` of the model)."""
        index = self.frames[k]
        local = index - self.frames.start
        group = int(self.groups[local])
        self.image.set_data(self.data[local])
        self.aperture.set_segments(self.outlines[group])
        self.marker.set_data([self.elapsed[local]], [self.curve[local]])
        self.cursor.set_xdata([self.elapsed[local], self.elapsed[local]])
        when = f"\n{self.times[local].isot} UTC" if self.times is not None else ""
        star = f" (guide star {self.names[group]})" if group in self.names else ""
        self.title.set_text(f"frame {index}{star}{when}")
        return self.image, self.aperture, self.marker, self.cursor, self.title
