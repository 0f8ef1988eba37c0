"""Styles shared by the figures: one colour, label and line style per event kind.

Every figure that draws technical events (the time-series plots, the
telemetry overlays, the science-regressor figure, the report) takes the
style of a kind from `EVENT_STYLES`, so an event looks the same everywhere;
the events read from a model's own tables (`spelunker.events.local_events`)
take theirs from `LOCAL_EVENT_STYLES`, which borrows the colours of the
same events in `EVENT_STYLES`.

Examples
--------
>>> from spelunker.plotting.styles import EVENT_STYLES, LOCAL_EVENT_STYLES
>>> EVENT_STYLES["tilt"]["label"]
'tilt event'
>>> LOCAL_EVENT_STYLES["HGA"]["color"] == EVENT_STYLES["hga_move"]["color"]
True
"""

__all__ = ["EVENT_STYLES", "LOCAL_EVENT_STYLES"]

#: Event kind -> ``label`` (legend), ``color``, ``gid`` (the artist's id, for tests
#: and SVG) and, for kinds drawn as lines, ``linestyle``.
EVENT_STYLES = {
    "tilt": {"label": "tilt event", "color": "C6", "gid": "tilt", "linestyle": "-"},
    "centroid_jump": {"label": "centroid jump", "color": "C9", "gid": "centroid_jump",
                      "linestyle": "-."},
    "flux_excursion": {"label": "flux excursion", "color": "C2", "gid": "flux_excursion"},
    "hga_move": {"label": "HGA move", "color": "C1", "gid": "hga_move"},
    "guide_star_change": {"label": "guide-star change", "color": "C3",
                          "gid": "guide_star_change", "linestyle": "--"},
    "gap": {"label": "gap", "color": "0.6", "gid": "gap"},
}

#: Kind of `spelunker.events.local_events` -> ``label``, ``color``, ``gid`` and, for the
#: kinds drawn as lines, ``linestyle`` (drawn by `spelunker.plotting.telemetry.plot_local_events`).
LOCAL_EVENT_STYLES = {
    "GUIDESTAR": {**EVENT_STYLES["guide_star_change"], "gid": "GUIDESTAR"},
    "FILENAME": {"label": "file start", "color": "0.4", "gid": "FILENAME", "linestyle": ":"},
    "HGA": {"label": "HGA moving (POINTING)", "color": EVENT_STYLES["hga_move"]["color"],
            "gid": "HGA"},
}
