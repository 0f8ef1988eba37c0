"""Quick-look figures, animations and reports of guide-star data.

- `timeseries_binned_plot`, `timeseries_list_plot`, `periodogram_plot`,
  `frame_plot`, `position_plot`: plain functions on a
  `~spelunker.GuideStarModel` that take ``ax``/``fig`` and return it.
- `flux_spatial_timelapse_animation`: frames next to the light curve, as a
  GIF (Pillow) or MP4 (ffmpeg).
- `write_visit_report`: the standard figures as PNG and one self-contained
  HTML page per visit.

`science_regressors_plot` draws a science light curve against the
guide-star series binned onto its integrations (`spelunker.science`).

Telemetry and event overlays (`plot_mnemonic` for
`spelunker.archive.engdb.mnemonics`, `plot_local_events` for
`spelunker.events.local_events`) draw on the Axes these
functions return, at the right times (`TimeAxis`).
"""

from spelunker.plotting.animation import flux_spatial_timelapse_animation
from spelunker.plotting.figures import (
    DEFAULT_BIN_SIZE,
    BinnedSeries,
    TimeAxis,
    as_time,
    bin_series,
    frame_plot,
    periodogram_plot,
    plot_event_table,
    plot_events,
    plot_intervals,
    position_plot,
    relative_flux,
    set_time_axis,
    time_axis,
    timeseries_binned_plot,
    timeseries_list_plot,
    to_axis_time,
)
from spelunker.plotting.science import science_regressors_plot
from spelunker.plotting.report import summarize, write_report_index, write_visit_report
from spelunker.plotting.telemetry import plot_local_events, plot_mnemonic

__all__ = [
    "timeseries_binned_plot",
    "timeseries_list_plot",
    "periodogram_plot",
    "frame_plot",
    "position_plot",
    "flux_spatial_timelapse_animation",
    "write_visit_report",
    "summarize",
    "write_report_index",
    "science_regressors_plot",
    "plot_mnemonic",
    "plot_local_events",
    "plot_events",
    "plot_intervals",
    "plot_event_table",
    "bin_series",
    "BinnedSeries",
    "relative_flux",
    "TimeAxis",
    "time_axis",
    "set_time_axis",
    "to_axis_time",
    "as_time",
    "DEFAULT_BIN_SIZE",
]
