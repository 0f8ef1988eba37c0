"""Quick-look figures, animations and reports of guide-star data.

- `timeseries_binned_plot`, `timeseries_list_plot` (`~spelunker.plotting.timeseries`),
  `periodogram_plot` (`~spelunker.plotting.periodograms`), `frame_plot`,
  `position_plot` (`~spelunker.plotting.frames`): plain functions on a
  `~spelunker.GuideStarModel` that take ``ax``/``fig`` and return it.
- `flux_spatial_timelapse_animation`: frames next to the light curve, as a
  GIF (Pillow) or MP4 (ffmpeg).
- `write_visit_report`: the standard figures as PNG and one self-contained
  HTML page per visit.

`science_regressors_plot` draws a science light curve against the
guide-star series binned onto its integrations (`spelunker.science`).

Telemetry and event overlays (`~spelunker.plotting.telemetry`:
`plot_event_table` for the events of `spelunker.events.find_events`,
`plot_mnemonic` for `spelunker.archive.engdb.mnemonics`,
`plot_local_events` for `spelunker.events.local_events`) draw on the Axes
these functions return, at the right times (`TimeAxis`,
`~spelunker.plotting.timeaxis`), in the styles of
`~spelunker.plotting.styles`.  The plots bin with
`spelunker.binning.bin_series`.

Time-domain figures (`~spelunker.plotting.variability`, on the tables of
`spelunker.variability`): `variability_lightcurve_plot` (the light curve
with its flares and dips), `rms_binning_plot` (rms against bin size beside
white noise), `folded_lightcurve_plot` (folded at a period);
`time_domain_figure` draws the three for one visit and guide star of a
model with variability tables (`~spelunker.plotting.timedomain`, also the
report's time-domain section).

Pointing figures: `jitter_plot` (`~spelunker.plotting.pointing`: the V2/V3
offsets in mas with the 15 s rms band, their spectrum with its lines, the
excursion histogram; also the report's pointing section) and
`guidestar_plot` (`~spelunker.plotting.sky`: the guide star, the FGS
aperture and the 8x8 window on a hips2fits sky image).
"""

from spelunker.plotting.animation import flux_spatial_timelapse_animation
from spelunker.plotting.frames import frame_plot, position_plot
from spelunker.plotting.periodograms import periodogram_plot
from spelunker.plotting.pointing import jitter_plot, pointing_figure
from spelunker.plotting.report import write_report_index, write_visit_report
from spelunker.plotting.science import science_regressors_plot
from spelunker.plotting.sky import guidestar_plot
from spelunker.plotting.summary import summarize
from spelunker.plotting.telemetry import (
    plot_event_table,
    plot_events,
    plot_intervals,
    plot_local_events,
    plot_mnemonic,
)
from spelunker.plotting.timedomain import time_domain_figure
from spelunker.plotting.timeaxis import TimeAxis, set_time_axis, time_axis, to_axis_time
from spelunker.plotting.timeseries import (
    relative_flux,
    timeseries_binned_plot,
    timeseries_list_plot,
)
from spelunker.plotting.variability import (
    VARIABILITY_STYLES,
    display_bin_size,
    folded_lightcurve_plot,
    rms_binning_plot,
    variability_lightcurve_plot,
)

__all__ = [
    "timeseries_binned_plot", "timeseries_list_plot", "periodogram_plot", "frame_plot",
    "position_plot", "flux_spatial_timelapse_animation", "write_visit_report", "summarize",
    "write_report_index", "science_regressors_plot", "plot_mnemonic", "plot_local_events",
    "plot_events", "plot_intervals", "plot_event_table", "relative_flux", "TimeAxis",
    "time_axis", "set_time_axis", "to_axis_time", "variability_lightcurve_plot",
    "rms_binning_plot", "folded_lightcurve_plot", "VARIABILITY_STYLES", "display_bin_size",
    "time_domain_figure", "jitter_plot", "pointing_figure", "guidestar_plot",
]
