"""Animations of fine-guide frames next to the light curve."""

import logging
import operator
from pathlib import Path

import numpy as np

__all__ = ["flux_spatial_timelapse_animation", "ANIMATION_FORMATS"]

log = logging.getLogger(__name__)

#: File name endings the animation can be written to, and the writer of each.
ANIMATION_FORMATS = {".gif": "pillow", ".mp4": "ffmpeg"}


def _frame_number(value, name):
    if isinstance(value, (bool, np.bool_)):
        msg = f"{name}={value!r} must be an integer frame number"
        raise ValueError(msg)
    try:
        return operator.index(value)
    except TypeError:
        msg = f"{name}={value!r} must be an integer frame number"
        raise ValueError(msg) from None


def _check_range(start, stop, step, n_frames):
    start = _frame_number(start, "start")
    stop = _frame_number(stop, "stop")
    step = _frame_number(step, "step")
    if step < 1:
        msg = f"step={step} must be >= 1"
        raise ValueError(msg)
    if not 0 <= start < stop <= n_frames:
        msg = (f"frames start={start} to stop={stop} are not a non-empty range within the "
               f"{n_frames} frames of the model (0 <= start < stop <= {n_frames})")
        raise ValueError(msg)
    return range(start, stop, step)


def _writer(path, fps):
    from matplotlib import animation

    suffix = path.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        msg = (f"filename {str(path)!r}: an animation is written as .gif (Pillow) or .mp4 "
               "(ffmpeg); choose one of these endings")
        raise ValueError(msg)
    if suffix == ".mp4":
        if not animation.writers.is_available("ffmpeg"):
            msg = (f"cannot write {str(path)!r}: MP4 needs ffmpeg, which is not installed (not "
                   "on PATH or at matplotlib's rcParams['animation.ffmpeg_path']); install "
                   "ffmpeg or write a GIF instead (filename ending in .gif)")
            raise RuntimeError(msg)
        return animation.FFMpegWriter(fps=fps)
    return animation.PillowWriter(fps=fps)


def flux_spatial_timelapse_animation(model, start, stop, filename="movie.gif", *, step=1,
                                     fps=10, dpi=80, vmin=None, vmax=None):
    """Animate frames ``start:stop:step`` next to the light curve, with a moving marker.

    Left: the frame (DN/s, one colour scale for the whole animation, the
    aperture outlined); right: the relative flux of every frame from
    ``start`` to ``stop`` (`~spelunker.plotting.relative_flux`) against time
    since frame ``start``, with a marker and a line at the frame shown.

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
        Resolution of the written frames.
    vmin, vmax : float, optional
        Colour scale (DN/s); default the 0.5 and 99.9 percentiles of the
        frames shown.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        For a bad frame range or step, or a file name that is neither .gif
        nor .mp4.
    RuntimeError
        For an .mp4 file when ffmpeg is not installed (the message suggests
        a .gif); raised before anything is drawn.

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
    import matplotlib.pyplot as plt
    from matplotlib import animation
    from matplotlib.collections import LineCollection

    from spelunker.photometry import frame_seconds
    from spelunker.plotting.figures import _frame_image, aperture_outline, relative_flux

    if not model.hasattr("data") or np.ndim(model.data) != 3:
        msg = "the model has no (n_frames, rows, columns) data to animate"
        raise ValueError(msg)
    frames = _check_range(start, stop, step, len(model.data))
    path = Path(filename)
    writer = _writer(path, fps)

    data = np.asarray(model.data[frames.start:frames.stop])
    shown = data[::frames.step]
    finite = shown[np.isfinite(shown)]
    if vmin is None:
        vmin = float(np.percentile(finite, 0.5)) if finite.size else 0.0
    if vmax is None:
        vmax = float(np.percentile(finite, 99.9)) if finite.size else 1.0
    if not vmax > vmin:
        vmax = vmin + 1.0
    relative, _, source = relative_flux(model)
    seconds = frame_seconds(model)
    elapsed = seconds[frames.start:frames.stop] - seconds[frames.start]
    curve = relative[frames.start:frames.stop]
    _, mask, _, _ = _frame_image(model, frames.start, None)

    figure, (ax_image, ax_curve) = plt.subplots(
        1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.8]})
    try:
        image = ax_image.imshow(data[0], origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                                interpolation="nearest")
        figure.colorbar(image, ax=ax_image, label="DN/s")
        if mask is not None:
            ax_image.add_collection(LineCollection(aperture_outline(mask), colors="white",
                                                   linewidths=1.2))
        ax_image.set_xlabel("x (column, pix)")
        ax_image.set_ylabel("y (row, pix)")
        title = ax_image.set_title("", fontsize="small")
        ax_curve.plot(elapsed, curve, "-", color="0.5", linewidth=0.7)
        marker, = ax_curve.plot([], [], "o", color="C3", markersize=6)
        cursor = ax_curve.axvline(0.0, color="C3", linewidth=0.8)
        ax_curve.set_xlabel(f"time since frame {frames.start} (s)")
        ax_curve.set_ylabel(f"relative flux ({source})")
        times = model.frame_times[frames.start:frames.stop] if model.hasattr("frames") else None

        def draw(k):
            index = frames[k]
            local = index - frames.start
            image.set_data(data[local])
            marker.set_data([elapsed[local]], [curve[local]])
            cursor.set_xdata([elapsed[local], elapsed[local]])
            when = f"\n{times[local].isot} UTC" if times is not None else ""
            title.set_text(f"frame {index}{when}")
            return image, marker, cursor, title

        movie = animation.FuncAnimation(figure, draw, frames=len(frames), init_func=lambda: (),
                                        blit=False, repeat=False, cache_frame_data=False)
        movie.save(path, writer=writer, dpi=dpi)
    finally:
        plt.close(figure)
    log.info("wrote %s: frames %d to %d, every %d (%d frames at %g fps)", path, frames.start,
             frames.stop, frames.step, len(frames), fps)
    return path
