"""Hand-made flares, dips and variability tables with the columns of spelunker.variability.

For the tests of what shows them (report, session) without running the
analysis: tables with every column of the issue-21 contract, stored with
`spelunker.variability.store_variability`.
"""

import numpy as np
from astropy import units as u
from astropy.table import QTable

from spelunker.names import visit_id
from spelunker.variability import VariabilityResult, store_variability

#: Period (s) and error of every hand-made variability row.
PERIOD, PERIOD_ERROR = 6.0, 0.004


def _event_table(model, rows, centre):
    """Flares (``centre='peak'``) or dips (``'mid'``) at frames ``(visit, star, first,
    centre, last, size, origin)``."""
    times = model.frame_times
    table = QTable()
    table["visit_index"] = np.array([row[0] for row in rows], dtype=np.int16)
    table["guidestar_index"] = np.array([row[1] for row in rows], dtype=np.int16)
    for name, k in (("start", 2), (centre, 3), ("stop", 4)):
        table[name] = times[[row[k] for row in rows]] if rows else times[:0]
    for name, k in (("frame_start", 2), (f"frame_{centre}", 3), ("frame_stop", 4)):
        table[name] = np.array([row[k] for row in rows], dtype=np.int64)
    table["duration"] = np.array([(times[row[4]] - times[row[2]]).to_value(u.s)
                                  for row in rows]) * u.s
    size = "amplitude" if centre == "peak" else "depth"
    table[size] = [row[5] for row in rows]
    table[f"{size}_error"] = [row[5] / 20 for row in rows]
    if centre == "peak":
        table["equivalent_duration"] = [0.18] * len(rows) * u.s
        table["equivalent_duration_error"] = [0.02] * len(rows) * u.s
    table["significance"] = [12.5] * len(rows)
    table["origin"] = [row[6] for row in rows]
    table["technical_event"] = ["tilt" if row[6] == "technical" else "" for row in rows]
    table["psf_change"] = [0.3] * len(rows)
    table["centroid_change"] = [0.2] * len(rows)
    return table


def variability_result(model, *, classes="flaring,dipping"):
    """One astrophysical flare, one astrophysical and one technical dip per visit and star.

    Rows of ``model``'s frames: the flare peaks at 40 % of each visit and
    star's frames, the dips are at 60 % (astrophysical) and 80 %
    (technical); each variability row has period `PERIOD`.
    """
    visits = model.frame_visits()
    stars = np.asarray(model.frames["guidestar_index"])
    keys, names = model.visits(), [str(v) for v in model.table("guidestars")["gs_id"]]
    flares, dips, rows = [], [], []
    for visit in np.unique(visits):
        for star in np.unique(stars[visits == visit]):
            frames = np.flatnonzero((visits == visit) & (stars == star))
            at = [frames[int(fraction * (frames.size - 1))]
                  for fraction in (0.38, 0.4, 0.45, 0.58, 0.6, 0.62, 0.78, 0.8, 0.82)]
            flares.append((visit, star, at[0], at[1], at[2], 0.021, "astrophysical"))
            dips.append((visit, star, at[3], at[4], at[5], 0.010, "astrophysical"))
            dips.append((visit, star, at[6], at[7], at[8], 0.004, "technical"))
            hours = float((model.frame_times[frames[-1]] - model.frame_times[frames[0]])
                          .to_value(u.h))
            rows.append({
                "visit_index": np.int16(visit), "guidestar_index": np.int16(star),
                "visit_id": visit_id(*keys[visit]), "guidestar_id": names[star],
                "n_frames": frames.size, "n_used": frames.size - 2, "hours": hours,
                "white_noise": 1.1e-3, "rms_1min": np.nan, "rms_10min": np.nan,
                "rms_1h": np.nan, "beta_1min": np.nan, "beta_10min": np.nan,
                "beta_1h": np.nan, "n_flares": 1, "flare_rate": 1 / hours, "n_dips": 1,
                "period": PERIOD, "period_error": PERIOD_ERROR, "period_amplitude": 0.01,
                "period_fap": 1e-9, "bls_period": np.nan, "bls_depth": np.nan,
                "bls_snr": np.nan, "classes": classes})
    variability = QTable(rows=rows)
    for name in ("period", "period_error", "bls_period"):
        variability[name] = np.asarray(variability[name], dtype=float) * u.s
    variability["hours"] = np.asarray(variability["hours"], dtype=float) * u.h
    variability["flare_rate"] = np.asarray(variability["flare_rate"], dtype=float) / u.h
    return VariabilityResult(flares=_event_table(model, flares, "peak"),
                             dips=_event_table(model, dips, "mid"), variability=variability)


def with_variability(model, **options):
    """A copy of ``model`` holding the hand-made tables of `variability_result`."""
    copy = model.copy()
    store_variability(copy, variability_result(copy, **options))
    return copy
