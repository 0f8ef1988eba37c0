"""The survey's guide-star catalogue: one row per guide star over all its visits.

`visit_guidestars` gives, for one visit's pipeline product, one entry per
guide star (its id, Gaia DR3 id where the local Guide Star Catalog cache
has it, FGS magnitude, frames, data span and the values of its
``variability`` row); a survey row carries them under the key
``'_guidestars'``.  `guidestar_catalogue` combines the entries of all the
``ok`` rows of a survey into the catalogue written as ``guidestars.ecsv``
and ``guidestars.parquet`` (`CATALOGUE_COLUMNS`); `catalogue_arrow` is its
Arrow table.  A row without entries (hand-made, or written by an older
spelunker) counts as one entry of its own columns (``gs_id``, ``gs_mag``,
the variability columns).

How visits combine (also in ``docs/survey.rst``)
    ``n_visits``: distinct visits; ``hours``: the sum of the visits' light
    curve durations (``hours``; the star's data span for a visit without
    variability values); noise (``white_noise``, ``rms_*``, ``beta_*``): the
    median over the analysed visits (those with variability values); flares
    and dips: total counts, and rates per hour of the analysed visits'
    hours; the period: the one of the smallest false-alarm probability
    (ties: the smallest error), with its visit; periodic dips: the visit of
    the highest BLS signal-to-noise; ``classes``: the union over the
    analysed visits of the classes of events and periods (``periodic``,
    ``flaring``, ``dipping``: one flaring visit makes a flaring star), in
    order of first appearance; ``stochastic``, a property of the star's
    noise that a short visit of white noise shows by chance, only when at
    least half of the classified visits have it; ``constant`` only when no
    other class is left.

Examples
--------
>>> from spelunker.survey.guidestars import guidestar_catalogue
>>> rows = [{"visit_id": f"jw01534001{v:03d}", "status": "ok", "gs_id": "S1", "gs_mag": 13.0,
...          "hours": 2.0, "n_flares": n, "n_dips": 0, "classes": c}
...         for v, n, c in ((1, 0, "constant"), (2, 3, "flaring"))]
>>> table = guidestar_catalogue(rows)
>>> row = table[0]
>>> print(row["guidestar_id"], row["n_visits"], row["hours"], row["n_flares"], row["flare_rate"])
S1 2 4.0 h 3 0.75 1 / h
>>> print(row["classes"])
flaring
"""

import logging
import math
from collections.abc import Mapping

import astropy.units as u
import numpy as np
from astropy.table import Column, MaskedColumn, QTable, Table
from astropy.time import Time

from spelunker.archive.catalog import guide_star_properties
from spelunker.datamodels import check_model
from spelunker.errors import ParameterError
from spelunker.survey.summary import VARIABILITY_COLUMNS, arrow_table, check_rows, variability_rows

__all__ = ["CATALOGUE_COLUMNS", "catalogue_arrow", "guidestar_catalogue", "visit_guidestars"]

log = logging.getLogger(__name__)

# Classes of a star's noise, not of events: kept when at least half of the visits have them
# (a 30-minute visit of white noise is 'stochastic' 2 % of the time, see
# spelunker.variability.classes).
_PERSISTENT = ("stochastic",)

_NOISE = ("white_noise", "rms_1min", "rms_10min", "rms_1h", "beta_1min", "beta_10min", "beta_1h")

#: Columns of the guide-star catalogue: (name, type, unit, description).
CATALOGUE_COLUMNS = (
    ("guidestar_id", "str", None, "guide-star id (GDSTARID)"),
    ("gaia_dr3_id", "int", None,
     "Gaia DR3 source_id (from the local Guide Star Catalog cache; empty when unknown)"),
    ("fgs_mag", "float", "mag", "FGS magnitude (GS_MAG; median over visits)"),
    ("n_visits", "int", None, "visits guided on the star"),
    ("n_visits_analysed", "int", None, "of them, visits with variability values"),
    ("visits", "str", None, "their visit ids, comma-separated"),
    ("n_frames", "int", None, "frames on the star over all visits"),
    ("hours", "float", "h",
     "hours observed: light-curve durations (data spans for visits not analysed), summed"),
    *((name, "float", None, f"median {name} over the analysed visits") for name in _NOISE),
    ("n_flares", "int", None, "astrophysical flares over the analysed visits"),
    ("flare_rate", "float", "1 / h", "n_flares / hours of the analysed visits"),
    ("n_dips", "int", None, "astrophysical dips over the analysed visits"),
    ("dip_rate", "float", "1 / h", "n_dips / hours of the analysed visits"),
    ("period", "float", "s",
     "best period: the visits' period of smallest false-alarm probability"),
    ("period_error", "float", "s", "its 1-sigma error"),
    ("period_amplitude", "float", None, "its relative amplitude"),
    ("period_fap", "float", None, "its false-alarm probability"),
    ("period_visit", "str", None, "the visit it comes from"),
    ("bls_period", "float", "s", "period of periodic dips of the visit of highest bls_snr"),
    ("bls_depth", "float", None, "their relative depth"),
    ("bls_snr", "float", None, "their signal-to-noise ratio"),
    ("classes", "str", None,
     "the visits' classes combined (periodic, flaring, dipping: any visit; stochastic: half "
     "of them; constant: no other)"),
)

# The values an entry carries, from the variability row (n_frames is the star's frames).
_ENTRY_VALUES = tuple(name for name, *_ in VARIABILITY_COLUMNS[1:-1])


def _float(value):
    """``value`` as a float, NaN when missing or not a number."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _hours_between(start, end):
    """Hours from ISO time ``start`` to ``end``, NaN when either is missing."""
    if not start or not end:
        return math.nan
    return float((Time(end, scale="utc") - Time(start, scale="utc")).to_value(u.h))


def _gaia_ids(model):
    """gs_id -> Gaia DR3 id from the local Guide Star Catalog cache (no network)."""
    properties = guide_star_properties(model, offline=True)
    ids = {}
    for gs_id, gaia in zip(properties["gs_id"], properties["gaia_dr3_id"], strict=True):
        if not np.ma.is_masked(gaia):
            ids[str(gs_id)] = int(gaia)
    return ids


def visit_guidestars(model):
    """One entry per guide star of a visit's pipeline product, for the catalogue.

    Parameters
    ----------
    model : GuideStarModel
        A visit after `~spelunker.GuideStarPipeline` (any model with a
        guide-star table).

    Returns
    -------
    list of dict
        Per row of the guide-star table: ``guidestar_id``, ``gaia_dr3_id``
        (int, or None when the local Guide Star Catalog cache does not have
        the star: `spelunker.archive.guide_star_properties` with
        ``offline=True``, no network), ``gs_mag``, ``n_frames``,
        ``data_hours`` (its data span) and the star's values of
        `~spelunker.survey.summary.VARIABILITY_COLUMNS` (missing when the
        pipeline did not run the variability step).

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets, read_guidestar
    >>> from spelunker.survey.guidestars import visit_guidestars
    >>> visit = datasets.make_guidestar_files(tempfile.mkdtemp(), visits=[datasets.VisitSpec(
    ...     n_frames=200, n_segments=1, frame_time=1.0, gs_id="S1HP081234")], seed=1)
    >>> (entry,) = visit_guidestars(read_guidestar(visit.files))
    >>> entry["guidestar_id"], entry["n_frames"], round(entry["data_hours"] * 3600)
    ('S1HP081234', 200, 200)
    """
    stars = check_model(model, where="visit_guidestars").table("guidestars")
    rows, _ = variability_rows(model)
    gaia = _gaia_ids(model)
    magnitudes = np.asarray(getattr(stars["gs_mag"], "value", stars["gs_mag"]), dtype=float)
    entries = []
    for index in range(len(stars)):
        gs_id = str(stars["gs_id"][index]).strip()
        span = (float(stars["stop_mjd"][index]) - float(stars["start_mjd"][index])) * 24.0
        entry = {"guidestar_id": gs_id, "gaia_dr3_id": gaia.get(gs_id),
                 "gs_mag": float(magnitudes[index]), "n_frames": int(stars["n_frames"][index]),
                 "data_hours": span}
        found = rows.get(index, {})
        entry.update({name: found.get(name) for name in _ENTRY_VALUES})
        entries.append(entry)
    return entries


def _entries(row):
    """The guide-star entries of one ok survey row (its own columns for a row without them)."""
    entries = row.get("_guidestars")
    if isinstance(entries, list):
        return [entry for entry in entries if isinstance(entry, Mapping)]
    return [{"guidestar_id": row.get("guidestar_id") or row.get("gs_id"),
             "gaia_dr3_id": row.get("gaia_dr3_id"), "gs_mag": row.get("gs_mag"),
             "n_frames": row.get("n_frames"),
             "data_hours": _hours_between(row.get("start"), row.get("end")),
             **{name: row.get(name) for name in _ENTRY_VALUES}}]


def _median(entries, name):
    values = np.array([_float(entry.get(name)) for entry in entries])
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


def _sum_counts(entries, name):
    counts = [entry.get(name) for entry in entries if entry.get(name) is not None]
    return int(sum(int(c) for c in counts)) if counts else None


def _rate(count, hours):
    return count / hours if count is not None and hours > 0 else math.nan


def _best(entries, rank, names):
    """Values ``names`` of the entry of smallest ``rank`` (tuple of floats), missing when none.

    Only entries whose ``names[0]`` and first rank are finite compete; NaN in
    the later ranks (tie-breakers) counts as infinite.
    """
    ranked = []
    for index, entry in enumerate(entries):
        first, *rest = rank(entry)
        if math.isfinite(first) and math.isfinite(_float(entry.get(names[0]))):
            ranked.append((first, *(r if math.isfinite(r) else math.inf for r in rest), index))
    if not ranked:
        return {name: math.nan for name in names}, ""
    best = entries[min(ranked)[-1]]
    return {name: _float(best.get(name)) for name in names}, best["_visit"]


def _classes(entries):
    """The star's classes from its visits' (see the module for the rule)."""
    visits = [{c.strip() for c in str(entry.get("classes") or "").split(",") if c.strip()}
              for entry in entries]
    order = list(dict.fromkeys(c for entry in entries
                               for c in str(entry.get("classes") or "").split(",") if c.strip()))
    classified = [found for found in visits if found]
    kept = []
    for name in order:
        if name == "constant":
            continue
        if name in _PERSISTENT:
            if 2 * sum(name in found for found in classified) < len(classified):
                continue
        kept.append(name)
    return ",".join(kept) if kept else ("constant" if classified else "")


def _star_row(gs_id, entries):
    """The catalogue row of one guide star from its entries (each with its ``_visit``)."""
    done = [math.isfinite(_float(e.get("hours"))) for e in entries]
    analysed = [e for e, ok in zip(entries, done, strict=True) if ok]
    hours_analysed = sum(_float(e["hours"]) for e in analysed)
    spans = [_float(e.get("data_hours")) for e, ok in zip(entries, done, strict=True) if not ok]
    gaia = [e["gaia_dr3_id"] for e in entries if e.get("gaia_dr3_id") is not None]
    frames = [int(e["n_frames"]) for e in entries if e.get("n_frames") is not None]
    visits = list(dict.fromkeys(e["_visit"] for e in entries))
    n_flares, n_dips = _sum_counts(analysed, "n_flares"), _sum_counts(analysed, "n_dips")
    period, period_visit = _best(
        analysed, lambda e: (_float(e.get("period_fap")), _float(e.get("period_error"))),
        ("period", "period_error", "period_amplitude", "period_fap"))
    bls, _ = _best(analysed, lambda e: (-_float(e.get("bls_snr")),),
                   ("bls_period", "bls_depth", "bls_snr"))
    return {
        "guidestar_id": gs_id,
        "gaia_dr3_id": int(gaia[0]) if gaia else None,
        "fgs_mag": _median(entries, "gs_mag"),
        "n_visits": len(visits),
        "n_visits_analysed": len({e["_visit"] for e in analysed}),
        "visits": ",".join(visits),
        "n_frames": sum(frames) if frames else None,
        "hours": hours_analysed + sum(s for s in spans if math.isfinite(s)),
        **{name: _median(analysed, name) for name in _NOISE},
        "n_flares": n_flares,
        "flare_rate": _rate(n_flares, hours_analysed),
        "n_dips": n_dips,
        "dip_rate": _rate(n_dips, hours_analysed),
        **period,
        "period_visit": period_visit,
        **bls,
        "classes": _classes(analysed),
    }


def _catalogue_rows(rows):
    """The catalogue's rows (dicts), sorted by guide-star id."""
    stars = {}
    for row in check_rows(rows, "guidestar_catalogue"):
        if row.get("status") != "ok":
            continue
        visit = str(row.get("visit_id") or "")
        for entry in _entries(row):
            gs_id = str(entry.get("guidestar_id") or "").strip()
            if gs_id:
                stars.setdefault(gs_id, []).append({**entry, "_visit": visit})
    return [_star_row(gs_id, stars[gs_id]) for gs_id in sorted(stars)]


def guidestar_catalogue(rows):
    """The guide-star catalogue of a survey's rows: one row per guide star.

    Parameters
    ----------
    rows : list of dict
        Survey rows (`spelunker.survey.COLUMNS`, and the ``'_guidestars'``
        entries of `visit_guidestars` that `~spelunker.survey.run_visit`
        adds).  Only rows of ``status`` ``'ok'`` count; a row without
        entries counts as one entry of its own columns.

    Returns
    -------
    astropy.table.QTable
        `CATALOGUE_COLUMNS` (floats with their units, NaN when missing;
        integers masked when missing), one row per guide star, sorted by
        ``guidestar_id``.  How visits combine: see the module.

    Raises
    ------
    spelunker.errors.ParameterError
        ``rows`` is not a sequence of dicts.

    Examples
    --------
    >>> from spelunker.survey.guidestars import guidestar_catalogue
    >>> len(guidestar_catalogue([{"visit_id": "jw01534001001", "status": "error"}]))
    0
    """
    records = _catalogue_rows(rows)
    table = QTable()
    for name, kind, unit, description in CATALOGUE_COLUMNS:
        values = [record[name] for record in records]
        if kind == "str":
            column = Column(np.array(values, dtype=str), name=name)
        elif kind == "int":
            column = MaskedColumn([0 if v is None else v for v in values], name=name,
                                  dtype=np.int64, mask=[v is None for v in values])
        else:
            column = Column(np.array(values, dtype=float), name=name)
        if unit is not None:
            column = u.Quantity(column, unit)
        column.info.description = description
        table[name] = column
    return table


def catalogue_arrow(table):
    """The Arrow table of a `guidestar_catalogue` (missing integers null).

    Parameters
    ----------
    table : astropy.table.QTable
        A `guidestar_catalogue`.

    Returns
    -------
    pyarrow.Table
        `CATALOGUE_COLUMNS`, units and descriptions in the fields' metadata.

    Raises
    ------
    spelunker.errors.ParameterError
        ``table`` is not a table with the catalogue's columns.

    Examples
    --------
    >>> from spelunker.survey.guidestars import catalogue_arrow, guidestar_catalogue
    >>> catalogue_arrow(guidestar_catalogue([])).column_names[:3]
    ['guidestar_id', 'gaia_dr3_id', 'fgs_mag']
    """
    names = [name for name, *_ in CATALOGUE_COLUMNS]
    if not isinstance(table, Table) or table.colnames != names:
        got = (f"a table of columns {', '.join(table.colnames)}"[:80]
               if isinstance(table, Table) else repr(table)[:60])
        msg = (f"catalogue_arrow: table must be a guide-star catalogue (guidestar_catalogue "
               f"makes it), got {got}")
        raise ParameterError(msg)
    records = []
    for index in range(len(table)):
        record = {}
        for name, kind, _, _ in CATALOGUE_COLUMNS:
            value = table[name][index]
            if kind == "int":
                record[name] = None if np.ma.is_masked(value) else int(value)
            elif kind == "float":
                record[name] = float(getattr(value, "value", value))
            else:
                record[name] = str(value)
        records.append(record)
    return arrow_table(records, columns=CATALOGUE_COLUMNS)
