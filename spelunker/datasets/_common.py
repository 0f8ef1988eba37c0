"""The archive's conventions that every synthetic product follows when it is written.

The guider files (`spelunker.datasets.writers`) and the science product
(`spelunker.datasets.science_product`) both write times as the archive does
(ISO strings from MJD, UTC, rounded; the ``yyyydddhhmmss`` stamp of a file
name) and the same program, observation, visit and date keywords (numbers
padded by `spelunker.names`); this module writes them once.

Examples
--------
>>> from spelunker.datasets._common import iso_time
>>> str(iso_time(59917.06638888889))
'2022-12-04T01:35:36.000'
"""

import datetime

import numpy as np

from spelunker.names import padded_id, visit_id

__all__ = ["ORIGIN", "file_stamp", "iso_time", "set_identity"]

#: ORIGIN keyword of every synthetic product.
ORIGIN = "spelunker.datasets"


def _mjd_to_datetime64(mjd):
    """MJD (UTC) to numpy datetime64[us], to the microsecond."""
    mjd = np.asarray(mjd, dtype=float)
    day = np.floor(mjd)
    micro = np.round((mjd - day) * 86400e6).astype(np.int64)
    epoch = np.datetime64("1858-11-17T00:00:00", "us")
    return epoch + (day.astype(np.int64) * 86_400_000_000 + micro).astype("timedelta64[us]")


def iso_time(mjd, *, sep="T", digits=3):
    """MJD (UTC) to ``'YYYY-MM-DD<sep>HH:MM:SS.sss'`` strings, rounded to ``digits``.

    Parameters
    ----------
    mjd : float or array_like
        Times, MJD (UTC).
    sep : str, optional
        Between the date and the time (``' '`` in the centroid packets).
    digits : {0, 3, 6}, optional
        Decimals of the seconds.

    Returns
    -------
    numpy.ndarray
        Strings (0-d for a scalar ``mjd``).

    Examples
    --------
    >>> from spelunker.datasets._common import iso_time
    >>> str(iso_time(59917.5, sep=" ", digits=0))
    '2022-12-04 12:00:00'
    """
    unit = {0: "s", 3: "ms", 6: "us"}[digits]
    stamp = _mjd_to_datetime64(mjd)
    scale = {"s": 1_000_000, "ms": 1000, "us": 1}[unit]
    rounded = ((stamp.astype(np.int64) + scale // 2) // scale).astype(f"datetime64[{unit}]")
    text = np.datetime_as_string(rounded, unit=unit)
    if sep != "T":
        text = np.char.replace(text, "T", sep)
    return text


def file_stamp(end_mjd):
    """``yyyydddhhmmss`` of a file's data end (UTC, truncated to the second).

    Examples
    --------
    >>> from spelunker.datasets._common import file_stamp
    >>> file_stamp(59917.5)
    '2022338120000'
    """
    moment = _mjd_to_datetime64(end_mjd).astype("datetime64[s]").astype(datetime.datetime)
    return moment.strftime("%Y%j%H%M%S")


def set_identity(meta, *, filename, title, program, observation, visit, start_mjd, end_mjd):
    """Write a synthetic product's name, origin, visit and dates into ``meta``.

    Parameters
    ----------
    meta : stdatamodels.properties.ObjectNode
        The ``meta`` of the datamodel being written.
    filename, title : str
        FILENAME and the program title.
    program, observation, visit : int
        The visit's numbers (PROGRAM, OBSERVTN, VISIT and VISIT_ID).
    start_mjd, end_mjd : float
        Start and end of the data (MJD, UTC): DATE-OBS, TIME-OBS, DATE-BEG
        and DATE-END.
    """
    meta.filename = filename
    meta.origin = ORIGIN
    meta.telescope = "JWST"
    meta.time_sys = "UTC"
    meta.program.title = title
    observation_meta = meta.observation
    observation_meta.program_number = padded_id(program, "program")
    observation_meta.observation_number = padded_id(observation, "observation")
    observation_meta.visit_number = padded_id(visit, "visit")
    # VISIT_ID is the visit id without its 'jw'.
    observation_meta.visit_id = visit_id(program, observation, visit).removeprefix("jw")
    start_iso = str(iso_time(start_mjd))
    observation_meta.date = start_iso[:10]
    observation_meta.time = start_iso[11:]
    observation_meta.date_beg = start_iso
    observation_meta.date_end = str(iso_time(end_mjd))
