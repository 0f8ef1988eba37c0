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

from spelunker._lazy import lazy_exports

#: Public name -> the submodule that owns it, imported on first use: the pipeline's
#: log summary needs `summarize` alone, not the figures' modules (issue 23).
_OWNERS = {
    "timeseries_binned_plot": "spelunker.plotting.timeseries",
    "timeseries_list_plot": "spelunker.plotting.timeseries",
    "periodogram_plot": "spelunker.plotting.periodograms",
    "frame_plot": "spelunker.plotting.frames",
    "position_plot": "spelunker.plotting.frames",
    "flux_spatial_timelapse_animation": "spelunker.plotting.animation",
    "write_visit_report": "spelunker.plotting.report",
    "summarize": "spelunker.plotting.summary",
    "write_report_index": "spelunker.plotting.report",
    "science_regressors_plot": "spelunker.plotting.science",
    "plot_mnemonic": "spelunker.plotting.telemetry",
    "plot_local_events": "spelunker.plotting.telemetry",
    "plot_events": "spelunker.plotting.telemetry",
    "plot_intervals": "spelunker.plotting.telemetry",
    "plot_event_table": "spelunker.plotting.telemetry",
    "relative_flux": "spelunker.plotting.timeseries",
    "TimeAxis": "spelunker.plotting.timeaxis",
    "time_axis": "spelunker.plotting.timeaxis",
    "set_time_axis": "spelunker.plotting.timeaxis",
    "to_axis_time": "spelunker.plotting.timeaxis",
    "variability_lightcurve_plot": "spelunker.plotting.variability",
    "rms_binning_plot": "spelunker.plotting.variability",
    "folded_lightcurve_plot": "spelunker.plotting.variability",
    "VARIABILITY_STYLES": "spelunker.plotting.variability",
    "display_bin_size": "spelunker.plotting.variability",
    "time_domain_figure": "spelunker.plotting.timedomain",
    "jitter_plot": "spelunker.plotting.pointing",
    "pointing_figure": "spelunker.plotting.pointing",
    "guidestar_plot": "spelunker.plotting.sky",
}

__all__ = list(_OWNERS)

__getattr__, __dir__ = lazy_exports(__name__, _OWNERS, __all__)
